# nook image tag, save, import from stdin, list's filters, rm of an image
# a container uses, prune: as a user types them, with what podman and
# skopeo read back.
TEST_TIMEOUT=180

source "$NOOK_SRC/tests/storage/image-lib.sh"

image_id() { "$NOOK" image inspect "$1" | jq -r '.[0].Id'; }

# The diff ids of the config of image $1.
diff_ids() { "$NOOK" image inspect "$1" | jq -c '.[0].Config.rootfs.diff_ids'; }

test_tag_gives_another_name() {
  make_image
  use_store
  "$NOOK" image import oci:t t:1 >/dev/null 2>&1
  local id
  id=$(image_id t:1)
  assert_eq "" "$("$NOOK" image tag t:1 u:2 example.com/team/app)" "tag prints nothing"
  assert_eq "example.com/team/app:latest,t:1,u:2" \
    "$("$NOOK" image list --format json | jq -r '.[0].Names | sort | join(",")')" "names"
  assert_eq "$id" "$(image_id u:2)" "the new name is the same image"
  assert_eq "$id" "$(image_id example.com/team/app)" "a name without a tag is :latest"
  # tag by id, and a name already there changes nothing
  "$NOOK" image tag "${id:0:12}" t:1
  assert_eq 3 "$("$NOOK" image list --format json | jq '.[0].Names | length')" "names after a repeat"
  # rm of one name keeps the image for the others
  assert_eq "Untagged: t:1" "$("$NOOK" image rm t:1)"
  check_layers u:2
  # a name moves from the image that had it
  python3 "$here/mktar.py" extra.tar f:extra:1
  umoci raw add-layer --image oci:t extra.tar
  "$NOOK" image import oci:t other:1 >/dev/null 2>&1
  "$NOOK" image tag other:1 u:2
  assert_eq "$(image_id other:1)" "$(image_id u:2)" "u:2 moved to the other image"
  assert_eq "example.com/team/app:latest" \
    "$("$NOOK" image list --format json | jq -r --arg id "$id" '.[] | select(.Id == $id) | .Names | join(",")')" \
    "names left on the first image"
}

test_tag_bad_input() {
  make_image
  use_store
  "$NOOK" image import oci:t t:1 >/dev/null 2>&1
  local name
  for name in "Bad Name!" "UPPER:1" "x:" "/x" "x@sha256:12"; do
    assert_fails "$NOOK" image tag t:1 "$name"
    assert_eq "nook: image tag: \`$name\` is not an image name: write [HOST/]NAME[:TAG], NAME in lowercase letters, digits and . _ - /" \
      "$assert_output" "tag to $name"
  done
  assert_fails "$NOOK" image tag t:1
  assert_contains "$assert_output" "expected an image and a new name"
  assert_fails "$NOOK" image tag nosuch:1 x:1
  assert_contains "$assert_output" "image \`nosuch:1\` not found"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one line"
  # a bad name among good ones: none is given
  assert_fails "$NOOK" image tag t:1 good:1 "Bad!"
  assert_eq "t:1" "$("$NOOK" image list --format json | jq -r '.[0].Names | join(",")')" "names"
}

# save in both formats: skopeo reads each, nook imports each back into an
# empty store as the same image with the same layers and name.
test_save_round_trip() {
  make_image
  use_store
  "$NOOK" image import oci:t test:1 >/dev/null 2>&1
  local id diffs
  id=$(image_id test:1)
  diffs=$(diff_ids test:1)
  "$NOOK" image save -o d.tar test:1
  "$NOOK" image save --format oci-archive -o o.tar test:1
  "$NOOK" image save --format=docker-archive -o d2.tar test:1
  cmp d.tar d2.tar || fail "docker-archive is the default format, and saves are reproducible"
  local f
  for f in docker-archive:d.tar oci-archive:o.tar; do
    skopeo inspect "$f" >inspect.json || fail "skopeo inspect $f"
    assert_eq 3 "$(jq '.Layers | length' inspect.json)" "layers skopeo sees in $f"
    skopeo inspect --config "$f" | jq -c .rootfs.diff_ids >cfg.json
    assert_eq "$diffs" "$(cat cfg.json)" "diff ids skopeo sees in $f"
  done
  assert_eq '["test:1"]' "$(tar -xOf d.tar manifest.json | jq -c '.[0].RepoTags')" "RepoTags"
  # the docker-archive's layers are the uncompressed tars of the diff ids
  local l want
  for l in $(tar -xOf d.tar manifest.json | jq -r '.[0].Layers[]'); do
    want=${l%/layer.tar}
    assert_eq "$want" "$(tar -xOf d.tar "$l" | sha256sum | cut -d' ' -f1)" "layer $l"
  done
  for f in d.tar o.tar; do
    NOOK_STORAGE=$TEST_TMP/store-$f "$NOOK" image import "$f" >"$f.id" 2>/dev/null
    assert_eq "$id" "$(cat "$f.id")" "id imported back from $f"
    NOOK_STORAGE=$TEST_TMP/store-$f check_layers test:1
  done
  # by id, an image with two names: the docker-archive names both, the
  # oci-archive one (skopeo takes a layout that lists its image once)
  "$NOOK" image tag test:1 second:2
  "$NOOK" image save -o byid.tar "${id:0:12}"
  assert_eq '["second:2","test:1"]' "$(tar -xOf byid.tar manifest.json | jq -c '.[0].RepoTags | sort')" "RepoTags by id"
  "$NOOK" image save --format oci-archive -o byid-oci.tar "$id"
  skopeo inspect oci-archive:byid-oci.tar >/dev/null || fail "skopeo inspect of the oci-archive saved by id"
  # through a pipe: save to stdout, import from stdin
  "$NOOK" image save test:1 | NOOK_STORAGE=$TEST_TMP/store-pipe "$NOOK" image import - piped:1 >pipe.id 2>/dev/null
  assert_eq "$id" "$(cat pipe.id)" "id through a pipe"
  NOOK_STORAGE=$TEST_TMP/store-pipe check_layers piped:1
}

test_save_podman_loads_it() {
  make_image
  use_store
  command -v podman >/dev/null || skip "podman is not installed"
  local p=(podman --root "$TEST_TMP/podman" --runroot "$TEST_TMP/podman-run" --storage-driver vfs)
  "${p[@]}" info >/dev/null 2>podman.err || skip "podman does not run here: $(tail -1 podman.err)"
  "$NOOK" image import oci:t test:1 >/dev/null 2>&1
  local diffs
  diffs=$(diff_ids test:1)
  "$NOOK" image save -o d.tar test:1
  "$NOOK" image save --format oci-archive -o o.tar test:1
  "${p[@]}" load -q -i d.tar >load.out 2>&1 || { cat load.out; fail "podman load of the docker-archive"; }
  assert_contains "$(cat load.out)" "localhost/test:1"
  assert_eq "$diffs" "$("${p[@]}" image inspect localhost/test:1 | jq -c '.[0].RootFS.Layers')" "layers podman loaded"
  "${p[@]}" rmi -a >/dev/null 2>&1
  "${p[@]}" load -q -i o.tar >load.out 2>&1 || { cat load.out; fail "podman load of the oci-archive"; }
  assert_eq "$diffs" "$("${p[@]}" image inspect localhost/test:1 | jq -c '.[0].RootFS.Layers')" "layers podman loaded"
}

# The target's directory holds nothing but what was there before.
assert_no_temp_files() {
  assert_eq "" "$(find . -maxdepth 1 -name '.*.nook-*')" "temp files left"
}

test_save_bad_input() {
  make_image
  use_store
  "$NOOK" image import oci:t test:1 >/dev/null 2>&1
  assert_fails "$NOOK" image save -o x.tar
  assert_contains "$assert_output" "expected one image"
  assert_fails "$NOOK" image save -o x.tar nosuch:1
  assert_contains "$assert_output" "image \`nosuch:1\` not found"
  assert_fails "$NOOK" image save --format tgz -o x.tar test:1
  assert_eq "nook: image save: --format: \`tgz\` is not oci-archive or docker-archive" "$assert_output"
  assert_fails "$NOOK" image save test:1 -o
  assert_contains "$assert_output" "expected one image"
  assert_fails "$NOOK" image save -o
  assert_eq "nook: image save: \`-o\` needs a value" "$assert_output"
  mkdir dir
  assert_fails "$NOOK" image save -o dir test:1
  assert_contains "$assert_output" "is a directory"
  assert_fails "$NOOK" image save -o nodir/x.tar test:1
  assert_contains "$assert_output" "nodir"
  [ ! -e x.tar ] || fail "a failed save left x.tar"
  # a terminal gets no archive, and gives none
  if command -v script >/dev/null; then
    script -qec "$NOOK image save test:1; echo status=\$?" /dev/null </dev/null >tty.out
    assert_contains "$(cat tty.out)" "nook: image save: stdout is a terminal: give -o FILE, or pipe the archive on"
    assert_contains "$(cat tty.out)" "status=1"
    script -qec "$NOOK image import -; echo status=\$?" /dev/null </dev/null >tty.out
    assert_contains "$(cat tty.out)" "nook: image import -: stdin is a terminal: pipe an archive in"
    assert_contains "$(cat tty.out)" "status=1"
  fi
  # an existing file is replaced whole
  echo old >x.tar
  "$NOOK" image save -o x.tar test:1
  skopeo inspect docker-archive:x.tar >/dev/null || fail "the replaced file is not the archive"
  assert_no_temp_files
}

# A blob that does not match its digest in the store: the save fails, and
# no file (neither the target nor a temp file) is left.
test_save_corrupt_blob_writes_nothing() {
  make_image
  use_store
  "$NOOK" image import oci:t test:1 >/dev/null 2>&1
  local blob # the middle layer's
  blob=$(jq -r '.blobs[-2]' "$NOOK_STORAGE/images/$(image_id test:1).json")
  chmod u+w "$NOOK_STORAGE/blobs/sha256/${blob#sha256:}"
  printf 'x' | dd of="$NOOK_STORAGE/blobs/sha256/${blob#sha256:}" bs=1 seek=100 conv=notrunc 2>/dev/null
  local fmt
  for fmt in docker-archive oci-archive; do
    assert_fails "$NOOK" image save --format $fmt -o out.tar test:1
    assert_eq 1 "$(wc -l <<<"$assert_output")" "one line for $fmt"
    assert_contains "$assert_output" "blob $blob in the image store is corrupt"
    [ ! -e out.tar ] || fail "$fmt: a failed save left out.tar"
    assert_no_temp_files
  done
}

# A full disk: nothing is left on it.
test_save_disk_full() {
  python3 "$here/mktar.py" big.tar f:small:1 z:big:3000000
  python3 "$here/mklayout.py" --gzip img big.tar >/dev/null
  use_store
  "$NOOK" image import img big:1 >/dev/null 2>&1
  cat >full.sh <<'EOF2'
set -u
mkdir -p full && mount -t tmpfs -o size=1m tmpfs full || exit 99
"$NOOK" image save -o full/big.tar big:1 >out 2>err
echo $? >status
ls -A full >left
EOF2
  NOOK=$NOOK unshare -Urm bash full.sh || { [ $? = 99 ] && skip "cannot mount a tmpfs in a user namespace"; }
  assert_eq 1 "$(cat status)" "exit status"
  assert_eq "nook: disk full while writing \`full/big.tar\`: free some space (nothing was written)" "$(cat err)"
  assert_eq "" "$(cat left)" "files left on the full disk"
}

# An image big enough that saving takes a while: 120 MB of random data in
# an uncompressed layer.
big_image() {
  python3 - <<'EOF2'
import io, os, tarfile
with tarfile.open("big.tar", "w") as t:
    ti = tarfile.TarInfo("big"); ti.size = 120 << 20
    t.addfile(ti, io.BytesIO(os.urandom(ti.size)))
EOF2
  python3 "$here/mklayout.py" img big.tar >/dev/null
  rm big.tar
  "$NOOK" image import img big:1 >/dev/null 2>&1
  rm -rf img
}

# ctrl-c in the middle of a save: neither the target nor a temp file stays.
test_save_interrupted() {
  use_store
  big_image
  mkdir out
  # a shell's background job ignores SIGINT: this one takes it as ctrl-c
  python3 -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
    "$NOOK" image save -o out/big.tar big:1 &
  local pid=$! st=0
  wait_for "[ -n \"\$(ls -A out)\" ]" 20
  kill -INT $pid
  wait $pid || st=$?
  [ $st != 0 ] || fail "the save finished before it was interrupted (make the image bigger)"
  assert_eq 130 $st "status of a save killed by SIGINT"
  assert_eq "" "$(ls -A out)" "files left after the interrupt"
  # and SIGTERM the same
  "$NOOK" image save --format oci-archive -o out/big.tar big:1 &
  pid=$! st=0
  wait_for "[ -n \"\$(ls -A out)\" ]" 20
  kill -TERM $pid
  wait $pid || st=$?
  assert_eq 143 $st "status of a save killed by SIGTERM"
  assert_eq "" "$(ls -A out)" "files left after SIGTERM"
}

# On a terminal a big save draws its progress; in a pipe it says nothing.
test_save_progress_on_a_terminal() {
  command -v script >/dev/null || skip "script (bsdutils) is not installed"
  use_store
  big_image
  script -qec "$NOOK image save -o tty.tar big:1" /dev/null >tty.out </dev/null
  grep -aEq 'Saving big:1: +[0-9]+%.*Saving big:1: 100%, 125\.[0-9] MB written' tty.out ||
    fail "no progress on the terminal: $(cat -v tty.out)"
  "$NOOK" image save -o pipe.tar big:1 2>pipe.err
  assert_eq "" "$(cat pipe.err)" "stderr when not a terminal"
  cmp tty.tar pipe.tar || fail "the two saves differ"
}

# docker save | nook image import -: both archive kinds from stdin; bad
# input on stdin is one line and stores nothing.
test_import_from_stdin() {
  make_image
  use_store
  skopeo copy -q oci:oci:t docker-archive:t.docker.tar:example/da:3
  skopeo copy -q oci:oci:t oci-archive:t.oci.tar:example/oa:2
  local a b
  a=$("$NOOK" image import - <t.docker.tar 2>/dev/null)
  b=$(cat t.oci.tar | "$NOOK" image import - named:1 2>/dev/null)
  assert_eq "$a" "$b" "the same image from both archives"
  assert_eq "docker.io/example/da:3,named:1" \
    "$("$NOOK" image list --format json | jq -r '.[0].Names | sort | join(",")')" "names"
  check_layers named:1
  "$NOOK" image rm docker.io/example/da:3 named:1 >/dev/null
  echo "not an archive" | { assert_fails "$NOOK" image import -; echo "$assert_output" >out; }
  assert_eq "nook: \`stdin\`: not an image archive (Unrecognized archive format)" "$(cat out)"
  head -c 5000 t.docker.tar | { assert_fails "$NOOK" image import -; echo "$assert_output" >out; }
  assert_eq 1 "$(grep -c '^nook: ' out)" "one line for a truncated archive"
  assert_store_empty
}

test_list_quiet_and_filter() {
  make_image
  use_store
  "$NOOK" image import oci:t test:1 >/dev/null 2>&1
  "$NOOK" image tag test:1 example.com/team/app:2
  python3 "$here/mktar.py" extra.tar f:extra:1
  umoci raw add-layer --image oci:t extra.tar
  "$NOOK" image import oci:t other:1 >/dev/null 2>&1
  local a b
  a=$(image_id test:1)
  b=$(image_id other:1)
  assert_eq "$(printf '%s\n' "${a:0:12}" "${b:0:12}" | sort)" "$("$NOOK" image list -q | sort)" "-q"
  assert_eq "${b:0:12}" "$("$NOOK" image list -q other)" "-q NAME"
  names_listed() { "$NOOK" image list "$@" | awk 'NR > 1 { print $1 }' | sort | paste -sd,; }
  assert_eq "test:1" "$(names_listed test:1)" "exact name"
  assert_eq "other:1" "$(names_listed other)" "repository without its tag"
  assert_eq "example.com/team/app:2" "$(names_listed app:2)" "short name"
  assert_eq "example.com/team/app:2" "$(names_listed example.com/team/app)" "repository"
  assert_eq "other:1,test:1" "$(names_listed '*:1')" "glob"
  assert_eq "example.com/team/app:2,test:1" "$(names_listed "${a:0:8}")" "id prefix"
  assert_eq "" "$(names_listed nosuch)" "no match: the header alone"
  assert_eq '["test:1","example.com/team/app:2"]' "$("$NOOK" image list --format json test | jq -c '.[].Names')" "json"
  assert_fails "$NOOK" image list a b
  assert_contains "$assert_output" "unexpected argument \`b\`"
}

# rm of an image a container uses: refused with the container's name;
# -f removes the container and the image, as podman rmi -f does.
test_rm_image_in_use() {
  make_image
  use_store
  "$NOOK" image import oci:t test:1 >/dev/null 2>&1
  "$NOOK" image tag test:1 keep:1
  local id image
  id=$(unique_id inuse)
  image=$(image_id test:1)
  "$NOOK" launch --name "$id" test:1 true >/dev/null 2>launch.err || { cat launch.err; fail "launch"; }
  # one name of two goes alone, in use or not
  assert_eq "Untagged: keep:1" "$("$NOOK" image rm keep:1)"
  assert_fails "$NOOK" image rm test:1
  assert_eq "nook: image $(image_id test:1 | cut -c1-12) is used by container \`$id\`: remove the container first (nook rm $id), or use nook image rm -f to remove it with the image" \
    "$assert_output"
  check_layers test:1
  "$NOOK" image rm -f test:1 >out 2>err || { cat err; fail "rm -f"; }
  assert_eq "$image" "$(cat out)" "the removed image's id"
  assert_contains "$(cat err)" "Removed container $id"
  assert_eq "[]" "$("$NOOK" image list --format json | jq -c .)" "images"
  assert_eq "" "$(ls "$NOOK_STORAGE/layers")" "layers"
  assert_fails "$NOOK" state "$id"
  [ ! -e "$NOOK_STORAGE/containers/$id" ] || fail "the container's storage is left"
}

# prune takes the images without a name that no container uses, then what
# no image uses, and says what it freed; -a takes every unused image.
test_prune_says_what_it_freed() {
  make_image
  use_store
  "$NOOK" image import oci:t >dangling.id 2>/dev/null
  assert_eq "<none>" "$("$NOOK" image list | awk 'NR == 2 { print $1 }')" "an image without a name"
  "$NOOK" image prune >out 2>err
  assert_eq "$(cat dangling.id)" "$(cat out)" "the pruned image's id"
  assert_contains "$(cat err)" "Removed 1 image, 3 layers and 5 blobs: "
  grep -Eq 'blobs: [0-9.]+ (kB|MB) freed$' err || fail "no size freed in: $(cat err)"
  assert_eq "" "$(ls "$NOOK_STORAGE/layers")" "layers"
  "$NOOK" image prune >out 2>err
  assert_eq "" "$(cat out)" "a second prune removes nothing"
  assert_contains "$(cat err)" "Nothing to prune"
  # -a: named images too, but not one a container uses
  "$NOOK" image import oci:t named:1 >/dev/null 2>&1
  python3 "$here/mktar.py" extra.tar f:extra:1
  umoci raw add-layer --image oci:t extra.tar
  "$NOOK" image import oci:t used:1 >/dev/null 2>&1
  local id
  id=$(unique_id prune)
  "$NOOK" launch --name "$id" used:1 true >/dev/null 2>&1
  "$NOOK" image prune >out 2>err
  assert_contains "$(cat err)" "Nothing to prune"
  "$NOOK" image prune -a >out 2>err
  assert_contains "$(cat err)" "Removed 1 image, 0 layers and 2 blobs"
  assert_contains "$(cat err)" "Kept 1 image used by containers"
  assert_eq "used:1" "$("$NOOK" image list --format json | jq -r '.[].Names[]')" "images left"
  "$NOOK" rm "$id" >/dev/null
}

# rm by id of an image with several names: refused without -f (as podman
# does), since the names would go with it; with -f all go. Options may
# follow the names.
test_rm_by_id_with_several_names() {
  make_image
  use_store
  "$NOOK" image import oci:t a:1 >/dev/null 2>&1
  "$NOOK" image tag a:1 b:1
  local id
  id=$(image_id a:1)
  assert_fails "$NOOK" image rm "${id:0:12}"
  assert_eq "nook: image ${id:0:12} has several names (a:1, b:1): remove them by name, or use nook image rm -f ${id:0:12} to remove the image with all of them" \
    "$assert_output"
  check_layers a:1
  assert_eq "$id" "$("$NOOK" image rm "${id:0:12}" -f)" "rm ID -f"
  assert_eq "[]" "$("$NOOK" image list --format json | jq -c .)" "images"
  assert_fails "$NOOK" image list --format
  assert_eq "nook: image list: \`--format\` needs a value (json or table)" "$assert_output"
  assert_fails "$NOOK" image save -o
  assert_eq "nook: image save: \`-o\` needs a value" "$assert_output"
}
