# nook image: import (OCI layout, oci-archive, docker-archive), pull from a
# real registry (docker-registry on 127.0.0.1), the layers on disk (owners
# as subordinate ids, whiteouts, opaque dirs), rm/prune, and bad input.
TEST_TIMEOUT=180

source "$NOOK_SRC/tests/storage/image-lib.sh"

test_import_oci_layout() {
  make_image
  use_store
  local out
  out=$("$NOOK" image import oci test:1 2>err)
  cat err
  assert_contains "$(cat err)" "skipped 1 device node" "device warning"
  [ "${#out}" = 64 ] || fail "import printed '$out', want an image id"
  assert_contains "$("$NOOK" image list)" "test:1"
  check_layers test:1
  local cfg
  cfg=$("$NOOK" image inspect test:1)
  assert_eq '["/bin/sh"]' "$(jq -c '.[0].Config.config.Cmd' <<<"$cfg")" "Cmd"
  assert_eq "/data" "$(jq -r '.[0].Config.config.WorkingDir' <<<"$cfg")" "WorkingDir"
  assert_eq "$out" "$(jq -r '.[0].Id' <<<"$cfg")" "id"
  # importing again changes nothing
  assert_eq "$out" "$("$NOOK" image import oci test:1 2>/dev/null)" "second import"
  assert_eq 3 "$(ls "$NOOK_STORAGE/layers" | wc -l)" "layer dirs"
  # DIR:REF picks an image of a layout with several
  umoci new --image oci:empty
  local empty
  empty=$("$NOOK" image import oci:empty empty:1 2>/dev/null)
  [ "$empty" != "$out" ] || fail "oci:empty imported the image tagged t"
  assert_eq "$out" "$("$NOOK" image import oci:t 2>/dev/null)" "oci:t"
  assert_fails "$NOOK" image import oci:nosuch
  assert_contains "$assert_output" "no image named \`nosuch\`"
}

test_import_oci_archive_and_docker_archive() {
  make_image
  use_store
  skopeo copy -q oci:oci:t oci-archive:t.oci.tar:example/oa:2
  skopeo copy -q oci:oci:t docker-archive:t.docker.tar:example/da:3
  local a b
  a=$("$NOOK" image import t.oci.tar)
  b=$("$NOOK" image import t.docker.tar)
  assert_eq "$a" "$b" "the same config gives the same image id"
  local names
  names=$("$NOOK" image list --format json | jq -r '.[0].Names | sort | join(",")')
  assert_eq "docker.io/example/da:3,example/oa:2" "$names" "names from the archives"
  check_layers example/oa:2
  check_layers example/da:3
  assert_eq 3 "$(ls "$NOOK_STORAGE/layers" | wc -l)" "layers shared between both imports"
}

# The docker save form of Docker 25 and later: an OCI layout plus a
# manifest.json, in one tar.
test_import_docker_oci_in_tar() {
  make_image
  use_store
  skopeo copy -q oci:oci:t oci:flat:t
  local m c layers
  m=$(jq -r '.manifests[0].digest' flat/index.json)
  c=$(jq -r '.config.digest' "flat/blobs/sha256/${m#sha256:}")
  layers=$(jq -c '[.layers[].digest | "blobs/sha256/" + ltrimstr("sha256:")]' "flat/blobs/sha256/${m#sha256:}")
  jq -n --arg c "blobs/sha256/${c#sha256:}" --argjson l "$layers" \
    '[{Config: $c, RepoTags: ["example/dockeroci:1"], Layers: $l}]' >flat/manifest.json
  jq '.manifests[0].annotations = {"io.containerd.image.name": "docker.io/example/dockeroci:1"}' \
    flat/index.json >flat/index.new && mv flat/index.new flat/index.json
  tar -C flat -cf new-docker.tar .
  "$NOOK" image import new-docker.tar >/dev/null
  check_layers docker.io/example/dockeroci:1
  # Short names find it too.
  "$NOOK" image inspect example/dockeroci:1 >/dev/null
}

# Layers compressed with zstd, gzip, or not at all.
test_import_compressions() {
  use_store
  command -v zstd >/dev/null || skip "zstd is not installed"
  python3 "$here/mktar.py" z.tar d:zdir f:zdir/file:zstd-content@1000:1000
  python3 "$here/mktar.py" g.tar f:gfile:gzip-content
  python3 "$here/mktar.py" p.tar f:pfile:plain-content
  mkdir z g p
  python3 "$here/mklayout.py" --zstd z z.tar >/dev/null
  python3 "$here/mklayout.py" --gzip g g.tar >/dev/null
  python3 "$here/mklayout.py" p p.tar >/dev/null
  local kind
  for kind in z g p; do
    "$NOOK" image import $kind "$kind:1" >/dev/null 2>&1 || fail "import of the $kind layer"
  done
  assert_eq zstd-content "$(cat "$(layer_dir z:1 1)/zdir/file")" "zstd layer"
  assert_eq gzip-content "$(cat "$(layer_dir g:1 1)/gfile")" "gzip layer"
  assert_eq plain-content "$(cat "$(layer_dir p:1 1)/pfile")" "plain layer"
  local base
  base=$(subuid_base)
  [ -z "$base" ] || assert_eq $((base + 999)) "$(stat -c %u "$(layer_dir z:1 1)/zdir/file")" "owner"
}

# A layer cannot set overlay attributes itself (only whiteout entries make
# them); its other xattrs stay.
test_layer_overlay_xattrs_stripped() {
  use_store
  python3 "$here/mktar.py" l1.tar d:x f:x/a:lower
  python3 "$here/mktar.py" l2.tar "d:x#user.overlay.opaque=y,user.note=kept" "f:y:1#trusted.overlay.redirect=/x"
  python3 "$here/mklayout.py" img l1.tar l2.tar >/dev/null
  "$NOOK" image import img x:1 >/dev/null 2>&1
  local top
  top=$(layer_dir x:1 2)
  python3 - "$top/x" <<'EOF2' || fail "overlay xattrs were not stripped"
import os, sys
names = os.listxattr(sys.argv[1])
assert "user.overlay.opaque" not in names, names
assert os.getxattr(sys.argv[1], "user.note") == b"kept", names
EOF2
}

# The classic docker save form links a layer file named twice to its first
# copy; links out of the archive are refused.
test_import_docker_legacy_links() {
  use_store
  python3 "$here/mktar.py" l.tar f:x:1
  local diff
  diff=sha256:$(sha256sum l.tar | cut -d' ' -f1)
  mkdir -p d/a d/b d/c
  cp l.tar d/a/layer.tar
  ln -s ../a/layer.tar d/b/layer.tar
  ln -s /etc/passwd d/c/layer.tar
  jq -n --arg d "$diff" '{architecture: "amd64", os: "linux", config: {},
    rootfs: {type: "layers", diff_ids: [$d, $d]}}' >config.json
  local c
  c=$(sha256sum config.json | cut -d' ' -f1)
  cp config.json "d/$c.json"
  jq -n --arg c "$c.json" '[{Config: $c, RepoTags: ["legacy:1"], Layers: ["a/layer.tar", "b/layer.tar"]}]' >d/manifest.json
  tar -C d -cf legacy.tar .
  "$NOOK" image import legacy.tar >/dev/null 2>err || { cat err; fail "import"; }
  assert_eq 2 "$("$NOOK" image inspect legacy:1 | jq '.[0].Layers | length')" "layers of the image"
  assert_eq 1 "$(ls "$NOOK_STORAGE/layers" | wc -l)" "layer dirs"
  "$NOOK" image rm legacy:1 >/dev/null
  for bad in c/layer.tar ../../../etc/passwd; do
    jq -n --arg c "$c.json" --arg l "$bad" '[{Config: $c, RepoTags: ["legacy:1"], Layers: [$l, $l]}]' >d/manifest.json
    tar -C d -cf legacy.tar .
    assert_fails "$NOOK" image import legacy.tar
    assert_one_error
    assert_contains "$assert_output" "not a file in the archive"
  done
  assert_store_empty
}

# Layers written by nook-image read the same through the kernel's overlay
# and the FUSE overlay.
test_layers_mount_with_both_overlays() {
  make_image
  use_store
  "$NOOK" image import oci test:1 2>/dev/null >/dev/null
  local lower
  lower=$(layer_dir test:1 3):$(layer_dir test:1 2):$(layer_dir test:1 1)
  local fuse=$NOOK_BUILD/nook-fuse-overlayfs
  [ -x "$fuse" ] || fuse=$(command -v fuse-overlayfs || true)
  for driver in native fuse; do
    mkdir -p "$driver/upper" "$driver/work" "$driver/m"
    if [ $driver = native ]; then
      mnt="mount -t overlay -o lowerdir=$lower,upperdir=$driver/upper,workdir=$driver/work,userxattr none $driver/m"
    else
      [ -n "$fuse" ] || { echo "no FUSE overlay to try"; continue; }
      mnt="$fuse -o lowerdir=$lower,upperdir=$TEST_TMP/$driver/upper,workdir=$TEST_TMP/$driver/work $TEST_TMP/$driver/m"
    fi
    unshare -Urm sh -c "$mnt && ls $driver/m/data > $driver.ls && ls $driver/m/opt >> $driver.ls && cat $driver/m/home/user/file >> $driver.ls; umount $driver/m" ||
      fail "$driver overlay mount"
    assert_eq "b hl n mine" "$(tr '\n' ' ' <$driver.ls | sed 's/ $//')" "$driver overlay view"
  done
}

# A container from an imported image, end to end: nook run with the image's
# layers as the overlay's lower dirs (annotations), the kernel's overlay and
# the FUSE one.
run_from_image() { # DRIVER
  make_image
  use_store
  "$NOOK" image import oci test:1 >/dev/null 2>&1
  make_bundle b
  rm -rf b/rootfs && mkdir b/rootfs upper work
  local lower
  lower=$("$NOOK" image inspect test:1 | jq -r '.[0].LayerDirs | reverse | join(":")')
  cfg b --arg l "$lower" --arg u "$TEST_TMP/upper" --arg w "$TEST_TMP/work" --arg d "$1" \
    '.root.readonly = false | .annotations = {"nook.rootfs.lowerdirs": $l, "nook.rootfs.upper": $u, "nook.rootfs.work": $w, "nook.rootfs.driver": $d}'
  cfg b '.process.args = ["sh", "-c", "ls /data | paste -sd,; ls /opt | paste -sd,; echo $(cat /home/user/file); stat -c %a /bin/su; echo w > /data/new"]'
  # into a file: a hung container's processes would hold a pipe open
  local id st=0
  id=$(unique_id img)
  timeout -s KILL 30 "$NOOK" run -b b "$id" >out 2>err </dev/null || st=$?
  if [ $st != 0 ]; then
    cat err
    # a hung container (its init is pid 1 of its namespace) goes with its init
    kill -9 "$("$NOOK" state "$id" 2>/dev/null | jq -r .pid)" 2>/dev/null || true
    fail "nook run of the image with the $1 overlay failed or hung (status $st)"
  fi
  assert_eq "b,hl|n|mine|4755" "$(paste -sd'|' out)" "the image seen from the container"
  assert_eq w "$(cat upper/data/new)" "a write lands in the upper dir"
}

test_run_from_image_native() {
  run_from_image native
}

# nook-fuse-overlayfs starts in the container's mount namespace before
# pivot_root, which moves the daemon's root onto its own mount: a daemon that
# still resolves absolute layer paths (lgetxattr in whiteout.c, fixed on the
# fuse branch at d0fdc7c) then looks itself up on a directory merged from two
# layers and hangs unkillably. That version is skipped, not run.
test_run_from_image_fuse() {
  [ -x "$NOOK_BUILD/nook-fuse-overlayfs" ] || skip "nook-fuse-overlayfs is not built"
  if grep -q 'lgetxattr(path, name' "$NOOK_SRC/storage/fuse/whiteout.c" 2>/dev/null &&
    [ "${NOOK_TEST_FUSE_IMAGE_RUN:-}" != 1 ]; then
    skip "this nook-fuse-overlayfs resolves absolute layer paths and deadlocks after pivot_root (merge the fuse branch's fix)"
  fi
  run_from_image fuse
}

test_pull_from_registry() {
  make_image
  use_store
  start_registry
  trap stop_registry EXIT
  skopeo copy -q --dest-tls-verify=false oci:oci:t "docker://$REGISTRY/test:1"
  assert_fails "$NOOK" image pull "$REGISTRY/test:1"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one line"
  assert_contains "$assert_output" "--tls-verify=false"
  "$NOOK" image pull --tls-verify=false "$REGISTRY/test:1" >out 2>err
  cat err
  assert_contains "$(cat err)" "Copied blob"
  check_layers "$REGISTRY/test:1"
  check_layers test:1
  assert_fails "$NOOK" image pull --tls-verify=false "$REGISTRY/nosuch:1"
  assert_contains "$assert_output" "not found"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one line"
}

# HTTPS with a certificate nook cannot verify: refused with a hint, taken
# with --tls-verify=false.
test_pull_https_self_signed() {
  make_image
  use_store
  openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
  trap stop_registry EXIT
  start_registry "$TEST_TMP/cert.pem" "$TEST_TMP/key.pem"
  skopeo copy -q --dest-tls-verify=false oci:oci:t "docker://$REGISTRY/test:1"
  assert_fails "$NOOK" image pull "$REGISTRY/test:1"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one line"
  assert_contains "$assert_output" "https://$REGISTRY"
  assert_contains "$assert_output" "--tls-verify=false"
  "$NOOK" image pull -q --tls-verify=false "$REGISTRY/test:1" >/dev/null 2>err || { cat err; fail "pull"; }
  check_layers "$REGISTRY/test:1"
}

# A registry with token authentication (docker-registry's "token" auth, a
# token server signing real JWTs): the pull gets a bearer token for
# repository:test:pull and uses it.
test_pull_with_token_auth() {
  make_image
  use_store
  openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 \
    -subj /CN=nook-test 2>/dev/null
  local tport port
  tport=$(free_port)
  python3 "$here/token-server.py" "$tport" key.pem cert.pem tokens.log 2>token.err &
  echo $! >token.pid
  port=$(free_port)
  cat >registry.yml <<EOF2
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $TEST_TMP/registry
http:
  addr: 127.0.0.1:$port
auth:
  token:
    realm: http://127.0.0.1:$tport/token
    service: nook-test
    issuer: nook-test-issuer
    rootcertbundle: $TEST_TMP/cert.pem
EOF2
  docker-registry serve registry.yml >registry.log 2>&1 &
  echo $! >registry.pid
  trap 'stop_registry; kill $(cat token.pid) 2>/dev/null || true' EXIT
  REGISTRY=127.0.0.1:$port
  wait_for "curl -s http://$REGISTRY/v2/ | grep -q UNAUTHORIZED" 20
  wait_for "curl -sf 'http://127.0.0.1:$tport/token?service=probe' >/dev/null" 20
  skopeo copy -q --dest-tls-verify=false oci:oci:t "docker://$REGISTRY/test:1"
  : >tokens.log
  "$NOOK" image pull -q --tls-verify=false "$REGISTRY/test:1" >/dev/null 2>err || { cat err; fail "pull"; }
  check_layers "$REGISTRY/test:1"
  assert_contains "$(cat tokens.log)" '"scope": ["repository:test:pull"], "service": ["nook-test"]' "token request"
  # Without the token server, one line says what failed.
  kill "$(cat token.pid)"
  wait "$(cat token.pid)" 2>/dev/null || true
  "$NOOK" image rm test:1 >/dev/null
  assert_fails "$NOOK" image pull -q --tls-verify=false "$REGISTRY/test:1"
  assert_one_error
  assert_contains "$assert_output" "token"
}

# A multi-arch index pushed with skopeo copy --all: the pull picks
# linux/amd64 (NOOK_IMAGE_ARCH picks another).
test_pull_manifest_list() {
  make_image
  use_store
  start_registry
  trap stop_registry EXIT
  umoci new --image oci:arm
  umoci unpack --rootless --image oci:arm bundle >/dev/null
  echo arm64 >bundle/rootfs/arch
  umoci repack --image oci:arm bundle
  umoci config --image oci:arm --architecture arm64
  python3 - <<'EOF2'
import hashlib, json
idx = json.load(open("oci/index.json"))
by = {m["annotations"]["org.opencontainers.image.ref.name"]: m for m in idx["manifests"]}
def plat(m, arch):
    d = {k: m[k] for k in ("mediaType", "digest", "size")}
    d["platform"] = {"os": "linux", "architecture": arch}
    return d
index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                    "manifests": [plat(by["arm"], "arm64"), plat(by["t"], "amd64")]}).encode()
d = hashlib.sha256(index).hexdigest()
open("oci/blobs/sha256/" + d, "wb").write(index)
idx["manifests"].append({"mediaType": "application/vnd.oci.image.index.v1+json",
                         "digest": "sha256:" + d, "size": len(index),
                         "annotations": {"org.opencontainers.image.ref.name": "multi"}})
json.dump(idx, open("oci/index.json", "w"))
EOF2
  skopeo copy -q --all --dest-tls-verify=false oci:oci:multi "docker://$REGISTRY/multi:1"
  "$NOOK" image pull -q --tls-verify=false "$REGISTRY/multi:1" >/dev/null
  check_layers "$REGISTRY/multi:1"
  assert_eq amd64 "$("$NOOK" image inspect multi:1 | jq -r '.[0].Config.architecture')" "arch"
  NOOK_IMAGE_ARCH=arm64 "$NOOK" image pull -q --tls-verify=false "$REGISTRY/multi:1" >/dev/null
  assert_eq arm64 "$("$NOOK" image inspect multi:1 | jq -r '.[0].Config.architecture')" "arch"
  assert_eq arm64 "$(cat "$(layer_dir multi:1 1)/arch")" "the arm64 image's file"
}

# A pull killed while a blob is on its way leaves nothing a later pull
# trusts: the next one starts clean and succeeds. A slow proxy makes sure
# the kill lands mid-transfer.
test_pull_interrupted() {
  make_image
  use_store
  start_registry
  trap 'stop_registry; kill $(cat proxy.pid) 2>/dev/null || true' EXIT
  skopeo copy -q --dest-tls-verify=false oci:oci:t "docker://$REGISTRY/test:1"
  local pport
  pport=$(free_port)
  python3 - "$pport" "${REGISTRY#*:}" >proxy.log 2>&1 <<'EOF2' &
import socket, sys, threading, time
lport, rport = int(sys.argv[1]), int(sys.argv[2])
def pipe(a, b, slow):
    try:
        while True:
            d = a.recv(16384)
            if not d:
                break
            b.sendall(d)
            if slow:
                time.sleep(0.05)
    except OSError:
        pass
    finally:
        for s in (a, b):
            try: s.shutdown(socket.SHUT_RDWR)
            except OSError: pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", lport)); srv.listen(16)
while True:
    c, _ = srv.accept()
    u = socket.create_connection(("127.0.0.1", rport))
    threading.Thread(target=pipe, args=(c, u, False), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c, True), daemon=True).start()
EOF2
  echo $! >proxy.pid
  wait_for "curl -sf http://127.0.0.1:$pport/v2/ >/dev/null" 10
  "$NOOK" image pull --tls-verify=false "127.0.0.1:$pport/test:1" >/dev/null 2>&1 &
  local pid=$!
  wait_for "ls $NOOK_STORAGE/tmp/*/blob-*.part >/dev/null 2>&1 && [ \$(stat -c %s \$(ls $NOOK_STORAGE/tmp/*/blob-*.part | head -1)) -gt 0 ]" 30
  kill -9 $pid
  wait $pid 2>/dev/null || true
  assert_eq "[]" "$("$NOOK" image list --format json | jq -c .)" "images after the kill"
  local b
  for b in "$NOOK_STORAGE"/blobs/sha256/*; do
    [ -e "$b" ] || continue
    assert_eq "$(basename "$b")" "$(sha256sum "$b" | cut -d' ' -f1)" "a stored blob's digest"
  done
  [ -z "$(ls "$NOOK_STORAGE/layers")" ] || fail "a layer was stored before its image was complete"
  [ -n "$(ls "$NOOK_STORAGE/tmp")" ] || fail "the killed pull left no scratch dir (did it finish?)"
  "$NOOK" image pull -q --tls-verify=false "$REGISTRY/test:1" >/dev/null
  check_layers "$REGISTRY/test:1"
  assert_eq "" "$(ls -A "$NOOK_STORAGE/tmp")" "scratch left after the second pull"
}

# An import killed while it unpacks leaves no layer a later import trusts.
test_import_interrupted() {
  use_store
  python3 - <<'EOF2'
import io, tarfile
with tarfile.open("many.tar", "w") as t:
    for i in range(6000):
        ti = tarfile.TarInfo("d%02d/f%05d" % (i // 500, i)); data = b"x" * (i % 300)
        ti.size = len(data); t.addfile(ti, io.BytesIO(data))
EOF2
  python3 "$here/mklayout.py" --gzip img many.tar >/dev/null
  "$NOOK" image import img many:1 >/dev/null 2>&1 &
  local pid=$!
  wait_for "ls -d $NOOK_STORAGE/tmp/*/layer-*/diff/d00 >/dev/null 2>&1" 30
  kill -9 $pid
  wait $pid 2>/dev/null || true
  assert_eq "" "$(ls "$NOOK_STORAGE/layers")" "layers after the kill"
  assert_eq "[]" "$("$NOOK" image list --format json | jq -c .)" "images after the kill"
  "$NOOK" image import img many:1 >/dev/null 2>&1
  assert_eq 6000 "$(find "$NOOK_STORAGE/layers" -type f | wc -l)" "files of the layer"
  assert_eq "" "$(ls -A "$NOOK_STORAGE/tmp")" "scratch left"
}

# Bad input: one line each, nothing stored.
bad_import() { # LAYOUT-ARGS... ; then checks the message
  python3 "$here/mklayout.py" bad "$@" >/dev/null
  assert_fails "$NOOK" image import bad
  assert_one_error
  assert_store_empty
}

test_bad_corrupt_tar() {
  use_store
  head -c 3000 /dev/urandom >garbage
  bad_import garbage
  assert_contains "$assert_output" "corrupt archive"
  # a truncated tar
  python3 "$here/mktar.py" ok.tar z:a:5000
  head -c 2000 ok.tar >truncated.tar
  rm -rf bad
  bad_import truncated.tar
  assert_contains "$assert_output" "corrupt archive"
}

test_bad_digest_mismatch() {
  use_store
  python3 "$here/mktar.py" ok.tar f:a:hello
  python3 "$here/mklayout.py" bad ok.tar >/dev/null
  local l
  l=$(ls bad/blobs/sha256 | while read -r b; do tar tf "bad/blobs/sha256/$b" >/dev/null 2>&1 && echo "$b"; done | head -1)
  python3 "$here/mktar.py" "bad/blobs/sha256/$l" f:a:HELLO
  assert_fails "$NOOK" image import bad
  assert_one_error
  assert_contains "$assert_output" "digest mismatch"
  assert_store_empty
}

test_bad_dotdot_path() {
  use_store
  python3 "$here/mktar.py" evil.tar f:ok:fine f:../../escaped:x
  bad_import evil.tar
  assert_contains "$assert_output" "\`..\` leads out of the layer"
  [ ! -e "$TEST_TMP/escaped" ] && [ ! -e "$NOOK_STORAGE/escaped" ] || fail "a file escaped"
}

test_bad_symlink_out() {
  use_store
  mkdir outside
  python3 "$here/mktar.py" evil.tar "l:evil:$TEST_TMP/outside" f:evil/pwned:x
  bad_import evil.tar
  assert_contains "$assert_output" "symlink"
  [ ! -e outside/pwned ] || fail "a file was written through the symlink"
  # an absolute symlink alone is fine: it resolves inside the container
  rm -rf bad
  python3 "$here/mktar.py" ok.tar l:etc/localtime:/usr/share/zoneinfo/UTC
  python3 "$here/mklayout.py" good ok.tar >/dev/null
  "$NOOK" image import good ok:1 >/dev/null 2>&1
}

test_bad_media_type() {
  use_store
  python3 "$here/mktar.py" ok.tar f:a:hello
  bad_import ok.tar --media-type application/vnd.example.unknown
  assert_contains "$assert_output" "unknown media type \`application/vnd.example.unknown\`"
}

test_bad_not_an_image() {
  use_store
  echo hello >not-a-tar
  assert_fails "$NOOK" image import not-a-tar
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one line"
  # an archive that cannot be read says why, not that it is no archive
  tar -cf unreadable.tar not-a-tar
  chmod 000 unreadable.tar
  assert_fails "$NOOK" image import unreadable.tar
  assert_eq "nook: import \`unreadable.tar\`: Permission denied" "$assert_output"
  mkdir emptydir
  assert_fails "$NOOK" image import emptydir
  assert_contains "$assert_output" "not an OCI image layout"
  assert_fails "$NOOK" image inspect nosuch:1
  assert_contains "$assert_output" "image \`nosuch:1\` not found"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one line"
}

# A full disk during unpack: a 1 MiB tmpfs as the store (in a user and
# mount namespace of our own, where we may mount one), and a small gzip layer
# that unpacks to 3 MB.
test_bad_disk_full() {
  python3 "$here/mktar.py" big.tar f:small:1 z:big:3000000
  python3 "$here/mklayout.py" --gzip img big.tar >/dev/null
  cat >full.sh <<'EOF2'
set -u
mkdir -p store && mount -t tmpfs -o size=1m tmpfs store || exit 99
export NOOK_STORAGE=$PWD/store/s
"$NOOK" image import img big:1 >out 2>err
echo $? >status
"$NOOK" image list --format json >list
ls store/s/layers >layers
ls -A store/s/tmp >tmp
df -k store | tail -1 | awk '{print $3}' >used
EOF2
  NOOK=$NOOK unshare -Urm bash full.sh || { [ $? = 99 ] && skip "cannot mount a tmpfs in a user namespace"; }
  cat err
  assert_eq 1 "$(cat status)" "exit status"
  assert_contains "$(grep -v 'warning' err)" "disk full while unpacking layer"
  assert_output=$(cat err)
  assert_one_error
  assert_eq "[]" "$(jq -c . list)" "images"
  assert_eq "" "$(cat layers)" "layers"
  assert_eq "" "$(grep -v '\.lock$' tmp || true)" "scratch"
  [ "$(cat used)" -lt 200 ] || fail "$(cat used) kB still used in the store after the failure"
}

test_rm_and_prune() {
  make_image
  use_store
  "$NOOK" image import oci test:1 >/dev/null 2>&1
  python3 "$here/mktar.py" extra.tar f:extra:1
  umoci raw add-layer --image oci:t extra.tar
  "$NOOK" image import oci test:2 >/dev/null 2>&1
  assert_eq 4 "$(ls "$NOOK_STORAGE/layers" | wc -l)" "layers of both"
  "$NOOK" image rm test:2 >/dev/null
  assert_eq 3 "$(ls "$NOOK_STORAGE/layers" | wc -l)" "shared layers stay after rm"
  check_layers test:1
  assert_fails "$NOOK" image rm test:2
  assert_contains "$assert_output" "not found"
  "$NOOK" image rm test:1 >/dev/null
  assert_eq "" "$(ls "$NOOK_STORAGE/layers")" "layers after removing every image"
  assert_eq "" "$(ls "$NOOK_STORAGE/blobs/sha256")" "blobs after removing every image"
  # prune collects what an image record no longer names
  "$NOOK" image import oci test:1 >/dev/null 2>&1
  rm "$NOOK_STORAGE"/images/*.json
  "$NOOK" image prune 2>/dev/null
  assert_eq "" "$(ls "$NOOK_STORAGE/layers")" "layers after prune"
}

test_parallel_imports() {
  make_image
  use_store
  skopeo copy -q oci:oci:t oci-archive:t.tar:x/y:1
  local pids=() i
  for i in 1 2 3; do
    "$NOOK" image import t.tar "par:$i" >"out$i" 2>"err$i" &
    pids+=($!)
  done
  for i in 0 1 2; do
    wait "${pids[$i]}" || { cat err*; fail "import $i failed"; }
  done
  assert_eq 1 "$("$NOOK" image list --format json | jq length)" "one image"
  assert_eq "par:1,par:2,par:3" "$("$NOOK" image list --format json | jq -r '.[0].Names | sort | join(",")')" "names"
  assert_eq 3 "$(ls "$NOOK_STORAGE/layers" | wc -l)" "layers"
  check_layers par:1
}

# A name the store could not hand back (spaces, capitals, an empty tag) is
# refused before anything is read, in one line; a good one is kept.
test_import_bad_name() {
  make_image
  use_store
  local name
  for name in "Bad Name!" "UPPER:1" "x:" "x:-1" "/x" "x//y" "host:5000/" "x@sha256:12"; do
    assert_fails "$NOOK" image import oci:t "$name"
    assert_contains "$assert_output" "is not an image name"
    assert_eq 1 "$(wc -l <<<"$assert_output")" "one line for $name"
  done
  [ -z "$("$NOOK" image list -q)" ] || fail "a refused import stored an image"
  "$NOOK" image import oci:t localhost:5000/team/app_1:V1.0 >/dev/null
  assert_contains "$("$NOOK" image list)" "localhost:5000/team/app_1:V1.0"
}

# Options the image subcommands do not have are named as options, not
# looked up as images; a bad --format value and an extra argument say so.
test_image_subcommand_bad_options() {
  use_store
  local args
  for args in "rm --bogus x" "inspect --bogus" "prune --bogus" "tag -x a b" "save --bogus x"; do
    # shellcheck disable=SC2086
    assert_fails "$NOOK" image $args
    assert_contains "$assert_output" "unknown option"
    assert_eq 1 "$(wc -l <<<"$assert_output")" "one line for $args"
  done
  assert_fails "$NOOK" image list --format yaml
  assert_eq "nook: image list: --format: \`yaml\` is not table or json" "$assert_output"
  assert_fails "$NOOK" image list one extra
  assert_contains "$assert_output" "unexpected argument \`extra\`"
}

# One image under two names: rm of one name removes that name only (as
# docker untags), the image and its layers stay for the other; rm of the
# last name removes the image.
test_rm_one_name_of_several() {
  make_image
  use_store
  "$NOOK" image import oci:t a:1 >/dev/null 2>&1
  "$NOOK" image import oci:t b:1 >/dev/null 2>&1
  assert_eq "Untagged: a:1" "$("$NOOK" image rm a:1)"
  assert_eq "b:1" "$("$NOOK" image list --format json | jq -r '.[].Names[]')" "names left"
  check_layers b:1
  assert_fails "$NOOK" image inspect a:1
  local id
  id=$("$NOOK" image inspect b:1 | jq -r '.[0].Id')
  assert_eq "$id" "$("$NOOK" image rm b:1)" "the last name removes the image"
  assert_eq "" "$(ls "$NOOK_STORAGE/layers")" "layers after the last name"
}
