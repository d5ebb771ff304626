# nook-fuse-overlayfs: differential tests against the kernel's overlay (the
# same operations on both, then the merged trees and the upper layers
# compared), layers written by one read by the other, the OCI whiteout form,
# the entry points, bad input, and podman using it as its mount_program.

. "$NOOK_SRC/tests/storage/fuse-overlay-lib.sh"

# The operations both overlays go through, run in the merged directory.
ops_script() {
  cat <<'OPS'
set -euo pipefail
setxattr() { python3 -c 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode())' "$@"; }
rmxattr() { python3 -c 'import os,sys; os.removexattr(sys.argv[1], sys.argv[2])' "$@"; }
echo new > newfile                  # create
echo more >> a                      # copy-up and append
truncate -s 4 b                     # copy-up and truncate
: > d/x                             # open with O_TRUNC
printf 'write in the middle' | dd of=only1 bs=1 seek=2 conv=notrunc status=none
rm d/y                              # whiteout over a lower file
rm -r e                             # a lower directory and its content
mkdir e && echo eg > e/g            # recreated: opaque
rm -r rmd
mv b b2                             # rename a lower file
mv d/sub d/sub2                     # rename a lower directory
mv newfile d/newfile                # rename an upper file across dirs
mkdir -p n1/n2/n3 && echo deep > n1/n2/n3/f
mv n1 n1b                           # rename an upper directory
echo r > r1 && mv r1 c              # replace a lower file
mv only1 d/only1_moved              # rename over nothing from the top lower
ln a a_link                         # hard link of a lower file
ln d/newfile newfile_link           # hard link of an upper file
ln -s target sym2                   # symlinks
ln -s ../a d/rel_link
rm s
chmod 600 c                         # chmod after copy-up
chmod 700 keep                      # chmod of a lower directory
mkfifo fifo
echo over > od/p3                   # inside an opaque lower dir
echo back > gone                    # create over a lower whiteout
rmdir emptydir                      # remove a lower empty dir
mkdir emptydir2 && mv -T emptydir2 emptylower   # rename over an empty lower dir
setxattr a user.added yes           # xattrs
setxattr xa user.test changed
rmxattr xa user.other
setxattr d user.dirattr 1
echo tail >> big                    # copy-up of a bigger file
rm abs_link
mkdir -p wd/sub && echo 1 > wd/sub/f && rm -r wd   # made and removed in upper
# Set-id bits: a write, truncate or O_TRUNC by a process without CAP_FSETID
# clears them (in a user namespace nobody has it for this); the mode the
# kernel then shows (stat of the mode alone, from its cache) is listed too.
nofsetid() { setpriv --bounding-set -fsetid -- "$@"; }
echo s > suid_w && chmod 6755 suid_w && nofsetid sh -c 'echo more >> suid_w'
echo s > suid_t && chmod 6745 suid_t && nofsetid truncate -s 1 suid_t
echo s > suid_o && chmod 4755 suid_o && nofsetid sh -c ': > suid_o'
echo s > suid_k && chmod 4755 suid_k && echo keep >> suid_k
nofsetid sh -c 'echo more >> suid_lower'   # copy-up, then the write
stat -c '%a %n' suid_w suid_t suid_o suid_k suid_lower > modes
# File capabilities on a file made here: shown once set, gone after a write.
python3 - > fcaps <<'PY'
import os, struct
def caps(p):
    try:
        return os.getxattr(p, "security.capability").hex()
    except OSError as e:
        return e.strerror
open("capf", "w").write("a")
print("new", caps("capf"))
os.setxattr("capf", "security.capability", struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0))
print("set", caps("capf"))
open("capf", "a").write("b")
print("written", caps("capf"))
PY
OPS
}

# run_ops KIND DIR [OPTS]: mounts KIND (fuse or native) over DIR/upper with
# the lowers of $TEST_TMP/layers in a user namespace (fuse with the mount
# options OPTS), runs the operations and lists the merged tree (DIR/merged)
# and the upper (DIR/upper.list).
run_ops() {
  local kind=$1 dir=$2 opts=${3:-}
  local lowers=$TEST_TMP/layers/l1:$TEST_TMP/layers/l2
  mkdir -p "$dir"/{upper,work,mnt}
  ops_script > "$dir/ops.sh"
  unshare -Urm bash -euo pipefail -c '
    . "$NOOK_SRC/tests/storage/fuse-overlay-lib.sh"
    kind=$1 dir=$2 lowers=$3 opts=$4
    if [ "$kind" = native ]; then
      mount -t overlay overlay -o "lowerdir=$lowers,upperdir=$dir/upper,workdir=$dir/work,userxattr" "$dir/mnt"
    else
      fuse_mount "$lowers" "$dir/upper" "$dir/work" "$dir/mnt" "$opts"
    fi
    (cd "$dir/mnt" && bash "$dir/ops.sh") > "$dir/ops.out" 2>&1 || { cat "$dir/ops.out"; exit 1; }
    list_tree "$dir/mnt" > "$dir/merged"
    umount "$dir/mnt"
  ' run_ops "$kind" "$dir" "$lowers" "$opts"
  list_tree "$dir/upper" "$lowers" > "$dir/upper.list"
}

# list_readonly KIND LOWERS OUT: the merged tree of a read-only overlay.
list_readonly() {
  local kind=$1 lowers=$2 out=$3
  local mnt; mnt=$(mktemp -d "$TEST_TMP/ro.XXXX")
  unshare -Urm bash -euo pipefail -c '
    . "$NOOK_SRC/tests/storage/fuse-overlay-lib.sh"
    if [ "$1" = native ]; then
      mount -t overlay overlay -o "lowerdir=$2,userxattr" "$3"
    else
      "$(fuse_bin)" -o "lowerdir=$2" "$3"
    fi
    list_tree "$3" > "$4"
    umount "$3"
  ' list_readonly "$kind" "$lowers" "$mnt" "$out"
}

assert_same_file() {
  diff -u "$1" "$2" > "$TEST_TMP/diff.out" || { cat "$TEST_TMP/diff.out" >&2; fail "$3"; }
}

test_differential_against_kernel_overlay() {
  native_overlay_works || skip "this kernel does not mount overlay in a user namespace"
  make_lowers "$TEST_TMP/layers"
  local before; before=$(list_tree "$TEST_TMP/layers")
  run_ops native "$TEST_TMP/native"
  run_ops fuse "$TEST_TMP/fuse"
  assert_same_file "$TEST_TMP/native/merged" "$TEST_TMP/fuse/merged" "merged trees differ (- kernel, + nook)"
  assert_same_file "$TEST_TMP/native/upper.list" "$TEST_TMP/fuse/upper.list" "upper layers differ (- kernel, + nook)"
  assert_eq "$before" "$(list_tree "$TEST_TMP/layers")" "lower layers untouched"
  # The merged view is what the operations should give, not just the same.
  grep -q '^a -rw-r--r-- nlink=2 size=19 .* user.added=yes$' "$TEST_TMP/fuse/merged" || fail "a after append and link"
  grep -q '^d/sub2/deeper/w ' "$TEST_TMP/fuse/merged" || fail "renamed lower directory lost its content"
  ! grep -qE '^(d/y|e/f|rmd|rmd/q|emptydir|s|abs_link|b|wd) ' "$TEST_TMP/fuse/merged" || fail "a removed entry is still there"
}

test_polling_loop_and_one_thread_give_the_same_trees() {
  native_overlay_works || skip "this kernel does not mount overlay in a user namespace"
  make_lowers "$TEST_TMP/layers"
  run_ops native "$TEST_TMP/native"
  run_ops fuse "$TEST_TMP/polling" poll_us=200
  run_ops fuse "$TEST_TMP/single" threaded=0
  for v in polling single; do
    assert_same_file "$TEST_TMP/native/merged" "$TEST_TMP/$v/merged" "$v: merged trees differ (- kernel, + nook)"
    assert_same_file "$TEST_TMP/native/upper.list" "$TEST_TMP/$v/upper.list" "$v: upper layers differ (- kernel, + nook)"
  done
}

test_layers_written_by_one_read_by_the_other() {
  native_overlay_works || skip "this kernel does not mount overlay in a user namespace"
  make_lowers "$TEST_TMP/layers"
  run_ops native "$TEST_TMP/native"
  run_ops fuse "$TEST_TMP/fuse"
  local l=$TEST_TMP/layers/l1:$TEST_TMP/layers/l2
  list_readonly native "$TEST_TMP/fuse/upper:$l" "$TEST_TMP/native-reads-fuse"
  assert_same_file "$TEST_TMP/fuse/merged" "$TEST_TMP/native-reads-fuse" "kernel overlay reads nook's upper differently"
  list_readonly fuse "$TEST_TMP/native/upper:$l" "$TEST_TMP/fuse-reads-native"
  assert_same_file "$TEST_TMP/native/merged" "$TEST_TMP/fuse-reads-native" "nook reads the kernel's upper differently"
}

test_remount_keeps_the_changes() {
  make_lowers "$TEST_TMP/layers"
  run_ops fuse "$TEST_TMP/fuse"
  list_readonly fuse "$TEST_TMP/fuse/upper:$TEST_TMP/layers/l1:$TEST_TMP/layers/l2" "$TEST_TMP/again"
  assert_same_file "$TEST_TMP/fuse/merged" "$TEST_TMP/again" "a second mount shows something else"
}

test_oci_whiteout_form_is_read() {
  local l=$TEST_TMP/layers
  mkdir -p "$l"/top/od "$l"/bottom/od "$l"/bottom/d u w m
  echo keep > "$l/bottom/keep"; echo gone > "$l/bottom/gone"
  echo hidden > "$l/bottom/od/hidden"; echo shown > "$l/top/od/shown"
  echo dd > "$l/bottom/d/f"
  : > "$l/top/.wh.gone"; : > "$l/top/od/.wh..wh..opq"; : > "$l/top/.wh.d"
  fuse_mount "$l/top:$l/bottom" u w m
  trap 'fusermount3 -u "$TEST_TMP/m" 2>/dev/null || true' EXIT
  assert_eq "keep od" "$(cd m && echo *)" "whiteouts in the .wh. form"
  assert_eq "shown" "$(cd m/od && echo *)" "opaque directory in the .wh..wh..opq form"
  assert_fails test -e m/.wh.gone
  # Removing and recreating through the mount works over that form too.
  rm m/keep; echo again > m/gone; mkdir m/d; ls m/d > "$TEST_TMP/d.list"
  assert_eq "" "$(cat "$TEST_TMP/d.list")" "a directory made over a whiteout is opaque"
  assert_eq "d gone od" "$(cd m && echo *)"
  fusermount3 -u m
  "$(fuse_bin)" -o "lowerdir=$TEST_TMP/u:$l/top:$l/bottom" m
  assert_eq "again" "$(cat m/gone)" "after a remount"
  assert_eq "d gone od" "$(cd m && echo *)" "after a remount"
  fusermount3 -u m
}

test_copy_up_keeps_data_and_metadata() {
  local l=$TEST_TMP/lower
  mkdir -p "$l/dir" u w m
  head -c 5000000 /dev/urandom > "$l/dir/big"
  chmod 750 "$l/dir/big"; touch -d '2001-02-03 04:05:06' "$l/dir/big" "$l/dir"
  setxattr "$l/dir/big" user.k v
  local sum; sum=$(sha256sum < "$l/dir/big")
  fuse_mount "$l" u w m
  trap 'fusermount3 -u "$TEST_TMP/m" 2>/dev/null || true' EXIT
  touch -a m/dir/big  # metadata change: copy-up
  assert_eq "$sum" "$(sha256sum < u/dir/big)" "copied-up data"
  assert_eq "750 2001-02-03" "$(stat -c %a u/dir/big) $(date -r u/dir/big +%F)" "copied-up mode and mtime"
  assert_eq "750 2001-02-03" "$(stat -c %a m/dir/big) $(date -r m/dir/big +%F)" "mode and mtime in the mount"
  assert_eq "v" "$(python3 -c 'import os; print(os.getxattr("u/dir/big", "user.k").decode())')" "copied-up xattr"
  assert_eq "2001-02-03" "$(date -r u/dir +%F)" "copied-up parent keeps its mtime"
  local ino; ino=$(stat -c %i m/dir/big)
  echo more >> m/dir/big
  assert_eq "$ino" "$(stat -c %i m/dir/big)" "inode number stable across copy-up"
  python3 -c 'import os; fd = os.open("m/dir/big", os.O_RDWR); os.write(fd, b"x"); os.fsync(fd); os.close(fd)'
  # statfs is the upper's
  assert_eq "$(stat -f -c %b u)" "$(stat -f -c %b m)" "statfs of the upper layer"
  fusermount3 -u m
}

test_hard_links_stay_linked_after_copy_up() {
  local l=$TEST_TMP/lower
  mkdir -p "$l" u w m
  echo one > "$l/h1"; ln "$l/h1" "$l/h2"
  fuse_mount "$l" u w m
  trap 'fusermount3 -u "$TEST_TMP/m" 2>/dev/null || true' EXIT
  echo two >> m/h1
  chmod 600 m/h2   # the second name joins the first one's copy
  assert_eq "$(stat -c %i u/h1)" "$(stat -c %i u/h2)" "one upper inode for both names"
  assert_eq "one
two" "$(cat m/h2)" "h2 shows the write through h1"
  assert_eq "2 2" "$(stat -c %h m/h1) $(stat -c %h m/h2)"
  fusermount3 -u m
}

test_entry_points_and_argument_forms() {
  local l=$TEST_TMP/lower
  mkdir -p "$l" u w m
  echo hi > "$l/f"
  # nook fuse-overlayfs, mount.fuse3 form (SOURCE MOUNTPOINT -o OPTIONS)
  "$NOOK" fuse-overlayfs overlay m -o "lowerdir=$l,upperdir=u,workdir=w,noacl,context=x,fsync=0"
  assert_eq "hi" "$(cat m/f)" "nook fuse-overlayfs, mount.fuse3 form"
  grep " $TEST_TMP/m " /proc/self/mounts | grep -q "^overlay .* fuse.nook-overlayfs " || fail "source and type in /proc/mounts"
  fusermount3 -u m
  # nook run under the name nook-fuse-overlayfs
  ln -s "$NOOK" "$TEST_TMP/nook-fuse-overlayfs"
  "$TEST_TMP/nook-fuse-overlayfs" -o "lowerdir=$l" -o "upperdir=u,workdir=w" m
  assert_eq "hi" "$(cat m/f)" "nook as nook-fuse-overlayfs"
  fusermount3 -u m
  "$NOOK" fuse-overlayfs --help | grep -q "lowerdir="
}

test_sigterm_unmounts_and_exits_zero() {
  mkdir -p l u w m
  echo hi > l/f
  local opts
  for opts in "" ",poll_us=100"; do
    unshare -Urm bash -euo pipefail -c '
      "$1" -f -o "lowerdir=$PWD/l,upperdir=$PWD/u,workdir=$PWD/w$2" "$PWD/m" &
      pid=$!
      for _ in $(seq 50); do [ -e m/f ] && break; sleep 0.1; done
      [ "$(cat m/f)" = hi ]
      kill -TERM $pid
      status=0; wait $pid || status=$?
      [ $status = 0 ] || { echo "exit status $status after SIGTERM (options: $2)"; exit 1; }
      ! grep -q " $PWD/m " /proc/self/mounts || { echo "still mounted after SIGTERM"; exit 1; }
    ' sigterm "$(fuse_bin)" "$opts" || fail "SIGTERM with options '$opts'"
  done
}

test_bad_input_is_one_clear_line() {
  mkdir -p l u w m
  local out
  out=$("$(fuse_bin)" -o upperdir=u,workdir=w m 2>&1) && fail "mounted without lowerdir"
  assert_eq 1 "$(echo "$out" | wc -l)"; assert_contains "$out" "lowerdir"
  out=$("$(fuse_bin)" -o lowerdir=nope,upperdir=u,workdir=w m 2>&1) && fail "mounted a missing layer"
  assert_contains "$out" "lowerdir \`nope\`: No such file or directory"
  out=$("$(fuse_bin)" -o lowerdir=l,upperdir=u,workdir=w,bogus=1 m 2>&1) && fail "took an unknown option"
  assert_contains "$out" "unknown option \`bogus=1\`"
  out=$("$(fuse_bin)" -o lowerdir=l,upperdir=u m 2>&1) && fail "mounted without workdir"
  assert_contains "$out" "workdir"
  out=$("$(fuse_bin)" -o lowerdir=l,upperdir=u,workdir=w nowhere 2>&1) && fail "mounted on nothing"
  assert_eq "nook-fuse-overlayfs: mount point \`nowhere\`: No such file or directory" "$out"
  out=$("$(fuse_bin)" -o lowerdir=l,uidmapping=0:1 m 2>&1) && fail "took a bad mapping"
  assert_contains "$out" "uidmapping"
  if [ -d /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$(stat -c %d .)" ]; then
    local wd; wd=$(mktemp -d /dev/shm/nookwd.XXXX)
    out=$("$(fuse_bin)" -o "lowerdir=l,upperdir=u,workdir=$wd" m 2>&1) && fail "workdir on another fs"
    rmdir "$wd"
    assert_contains "$out" "not on the filesystem of upperdir"
  fi
  assert_fails mountpoint -q m
}

test_uid_mapping_and_squash() {
  mkdir -p l u w m
  echo x > l/f
  local me; me=$(id -u)
  "$(fuse_bin)" -o "lowerdir=l,upperdir=u,workdir=w,uidmapping=$me:4000:1,gidmapping=$(id -g):4000:1" m
  assert_eq "4000:4000" "$(stat -c %u:%g m/f)" "ids mapped from disk to the mount"
  fusermount3 -u m
  "$(fuse_bin)" -o "lowerdir=l,upperdir=u,workdir=w,squash_to_root" m
  assert_eq "0:0" "$(stat -c %u:%g m/f)" "squash_to_root"
  fusermount3 -u m
}

test_podman_uses_it_as_mount_program() {
  command -v podman >/dev/null || skip "podman is not installed"
  [ -n "${BUSYBOX_ROOTFS:-}" ] || skip "no BUSYBOX_ROOTFS"
  export XDG_CONFIG_HOME=$TEST_TMP/config
  mkdir -p "$XDG_CONFIG_HOME/containers"
  cat > "$XDG_CONFIG_HOME/containers/storage.conf" <<CONF
[storage]
driver = "overlay"
graphroot = "$TEST_TMP/graph"
runroot = "$TEST_TMP/run"
[storage.options.overlay]
mount_program = "$NOOK_BUILD/nook-fuse-overlayfs"
CONF
  trap 'podman unshare rm -rf "$TEST_TMP/graph" "$TEST_TMP/run" 2>/dev/null || true' EXIT
  tar -C "$BUSYBOX_ROOTFS" -cf busybox.tar .
  podman import -q busybox.tar localhost/nook-fuse-test:1 > /dev/null
  local out
  out=$(podman run --rm --net=none --cgroup-manager=cgroupfs --events-backend=file \
    localhost/nook-fuse-test:1 sh -c 'cat /etc/passwd; echo written > /etc/new; cat /etc/new; grep " / / " /proc/self/mountinfo')
  assert_contains "$out" "root:"
  assert_contains "$out" "written"
  assert_contains "$out" "fuse.nook-overlayfs"
}

test_rename_exchange_and_noreplace() {
  mkdir -p l/dir u w m
  echo lower-a > l/a; echo lower-b > l/dir/b; echo in-dir > l/dir/c
  fuse_mount "$PWD/l" u w m
  trap 'fusermount3 -u "$TEST_TMP/m" 2>/dev/null || true' EXIT
  renameat2() {
    python3 - "$@" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
flags = {"exchange": 2, "noreplace": 1}[sys.argv[3]]
r = libc.syscall(316, -100, sys.argv[1].encode(), -100, sys.argv[2].encode(), flags)
if r != 0:
    e = ctypes.get_errno()
    print(os.strerror(e)); sys.exit(1)
PY
  }
  renameat2 m/a m/dir/b exchange
  assert_eq "lower-b lower-a" "$(cat m/a) $(cat m/dir/b)" "RENAME_EXCHANGE of two lower files"
  assert_eq "File exists" "$(renameat2 m/a m/dir/c noreplace || true)" "RENAME_NOREPLACE over an entry"
  renameat2 m/a m/new noreplace
  assert_eq "lower-b" "$(cat m/new)"
  assert_fails test -e m/a
  fusermount3 -u m
  "$(fuse_bin)" -o "lowerdir=$TEST_TMP/u:$TEST_TMP/l" m
  assert_eq "lower-a lower-b" "$(cat m/dir/b) $(cat m/new)" "after a remount"
  assert_fails test -e m/a
  fusermount3 -u m
}

test_unlinked_open_file_and_new_files_stay_apart() {
  mkdir -p l u w m
  fuse_mount "$PWD/l" u w m
  trap 'exec 3<&-; fusermount3 -u "$TEST_TMP/m" 2>/dev/null || true' EXIT
  for i in $(seq 20); do
    echo "old $i" > m/f$i
    exec 3< m/f$i
    local old_ino; old_ino=$(stat -c %i m/f$i)
    rm m/f$i
    echo "new $i" > m/g$i   # the upper filesystem may reuse the inode number
    assert_eq "new $i" "$(cat m/g$i)" "a new file after a deleted one"
    assert_eq "old $i" "$(cat <&3)" "the deleted file, still open"
    [ "$(stat -c %i m/g$i)" != "$old_ino" ] || fail "g$i got the inode number of the deleted f$i"
    exec 3<&-
  done
}

# Four writers at once (appends, renames of files and directories, links,
# removals, chmod, truncate); afterwards the kernel's overlay must read the
# upper layer exactly as the mount showed it.
test_concurrent_changes_leave_a_consistent_upper() {
  native_overlay_works || skip "this kernel does not mount overlay in a user namespace"
  mkdir -p l u w m ro
  mkdir -p l/dir{1..5}
  for i in $(seq 200); do echo "lower $i" > "l/dir$((i % 5 + 1))/f$i"; done
  unshare -Urm bash -euo pipefail -c '
    . "$NOOK_SRC/tests/storage/fuse-overlay-lib.sh"
    fuse_mount "$PWD/l" "$PWD/u" "$PWD/w" "$PWD/m"
    worker() {
      RANDOM=$1
      local i r f g w=$1
      for i in $(seq 250); do
        r=$((RANDOM % 9)); f=dir$((RANDOM % 5 + 1))/f$((RANDOM % 200)); g=dir$((RANDOM % 5 + 1))/g$w.$((RANDOM % 50))
        case $r in
          0) echo "w$w $i" >> $f ;;
          1) cat $f > /dev/null ;;
          2) mv $f $g ;;
          3) rm -f $g ;;
          4) ln $f $g.l ;;
          5) mkdir -p dir$((RANDOM % 5 + 1))/sub$w/x; rm -rf dir$((RANDOM % 5 + 1))/sub$w ;;
          6) mv dir$((RANDOM % 5 + 1)) dirtmp$w && { mv dirtmp$w dir$((RANDOM % 5 + 1)) || mv dirtmp$w dir$w; } ;;
          7) chmod 600 $f ;;
          8) truncate -s 3 $f ;;
        esac 2>/dev/null || true
      done
    }
    (cd m && for w in 1 2 3 4; do worker $w & done; wait)
    list_tree m > fuse.list
    umount m
    mount -t overlay overlay -o "lowerdir=$PWD/u:$PWD/l,userxattr" ro
    list_tree ro > native.list
    umount ro
  '
  [ "$(wc -l < fuse.list)" -gt 100 ] || fail "the workers left almost nothing: $(wc -l < fuse.list) entries"
  assert_same_file fuse.list native.list "the kernel reads the upper layer differently (- nook, + kernel)"
}
