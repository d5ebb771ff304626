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
chmod 604 hl1                       # copy-up of one hard link
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
OPS
}

# run_ops KIND DIR: mounts KIND (fuse or native) over DIR/upper with the
# lowers of $TEST_TMP/layers in a user namespace, runs the operations and
# lists the merged tree (DIR/merged) and the upper (DIR/upper.list).
run_ops() {
  local kind=$1 dir=$2
  local lowers=$TEST_TMP/layers/l1:$TEST_TMP/layers/l2
  mkdir -p "$dir"/{upper,work,mnt}
  ops_script > "$dir/ops.sh"
  unshare -Urm bash -euo pipefail -c '
    . "$NOOK_SRC/tests/storage/fuse-overlay-lib.sh"
    kind=$1 dir=$2 lowers=$3
    if [ "$kind" = native ]; then
      mount -t overlay overlay -o "lowerdir=$lowers,upperdir=$dir/upper,workdir=$dir/work,userxattr" "$dir/mnt"
    else
      fuse_mount "$lowers" "$dir/upper" "$dir/work" "$dir/mnt"
    fi
    (cd "$dir/mnt" && bash "$dir/ops.sh") > "$dir/ops.out" 2>&1 || { cat "$dir/ops.out"; exit 1; }
    list_tree "$dir/mnt" > "$dir/merged"
    umount "$dir/mnt"
  ' run_ops "$kind" "$dir" "$lowers"
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
