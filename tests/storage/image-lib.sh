# Helpers of the image store tests: a test image, the store, the layers.

here=$NOOK_SRC/tests/storage

# A three-layer image in the OCI layout ./oci, tag t: the busybox rootfs
# (umoci repack), then a layer with a file owned by 1000, a setuid file, a
# device node and a hard link, then one with a whiteout and an opaque dir.
make_image() {
  umoci init --layout oci
  umoci new --image oci:t
  umoci unpack --rootless --image oci:t bundle >/dev/null
  cp -a "$BUSYBOX_ROOTFS/." bundle/rootfs/
  umoci repack --image oci:t bundle
  rm -rf bundle
  python3 "$here/mktar.py" l2.tar d:data f:data/a:a f:data/b:b d:opt/old f:opt/old/f:old \
    d:home/user@1000:1000 f:home/user/file:mine@1000:1000 f:bin/su:x%4755 c:dev/null \
    h:data/hl:data/b
  python3 "$here/mktar.py" l3.tar f:data/.wh.a: f:opt/.wh..wh..opq: d:opt f:opt/n:new
  umoci raw add-layer --image oci:t l2.tar
  umoci raw add-layer --image oci:t l3.tar
  umoci config --image oci:t --config.cmd /bin/sh --config.env FOO=bar --config.workingdir /data \
    --config.exposedports 80/tcp
  rm -f l2.tar l3.tar
}

use_store() {
  export NOOK_STORAGE=$TEST_TMP/store
}

subuid_base() {
  awk -F: -v u="$(id -un)" -v i="$(id -u)" '($1 == u || $1 == i) { print $2; exit }' /etc/subuid
}

# The diff dir of layer N (1 = bottom) of image $1.
layer_dir() {
  "$NOOK" image inspect "$1" | jq -r ".[0].LayerDirs[$(($2 - 1))]"
}

# No image, no layer, no blob, no scratch file: what a failed import leaves.
assert_store_empty() {
  assert_eq "[]" "$("$NOOK" image list --format json | jq -c .)" "images after a failed import"
  assert_eq "" "$(ls "$NOOK_STORAGE/layers")" "layers after a failed import"
  assert_eq "" "$(ls -A "$NOOK_STORAGE/tmp" | grep -v '\.lock$' || true)" "scratch after a failed import"
}

# The output of the failed command has exactly one error line (progress
# lines such as "Unpacking layer" and warnings aside).
assert_one_error() {
  assert_eq 1 "$(grep '^nook: ' <<<"$assert_output" | grep -vc '^nook: warning')" "error lines"
}

check_layers() { # IMAGE
  local l1 l2 l3 base
  l1=$(layer_dir "$1" 1)
  l2=$(layer_dir "$1" 2)
  l3=$(layer_dir "$1" 3)
  [ -x "$l1/bin/busybox" ] || fail "no busybox in the bottom layer"
  assert_eq "mine" "$(cat "$l2/home/user/file")" "file content"
  base=$(subuid_base)
  if [ -n "$base" ]; then
    assert_eq "$((base + 999)):$((base + 999))" "$(stat -c %u:%g "$l2/home/user/file")" \
      "owner of a file owned by 1000 in the image"
  fi
  assert_eq "$(id -u)" "$(stat -c %u "$l2/data/b")" "owner of a file owned by root in the image"
  assert_eq "4755" "$(stat -c %a "$l2/bin/su")" "setuid bit"
  [ ! -e "$l2/dev/null" ] || fail "a device node was unpacked"
  assert_eq "$(stat -c %i "$l2/data/b")" "$(stat -c %i "$l2/data/hl")" "hard link"
  assert_eq "character special file 0:0" "$(stat -c '%F %t:%T' "$l3/data/a")" "whiteout"
  assert_eq "y" "$(python3 -c 'import os,sys; print(os.getxattr(sys.argv[1], "user.overlay.opaque").decode())' "$l3/opt")" "opaque xattr"
}
