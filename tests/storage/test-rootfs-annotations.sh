# An overlay rootfs asked for by annotations, mounted by the container's init
# inside its user namespace: writes land in the upper dir, layers stay intact.

annotated_bundle() {
  local driver=$1
  make_bundle b
  mkdir -p layer1 layer2 upper work
  cp -a "$BUSYBOX_ROOTFS/." layer1/
  echo from-layer2 > layer2/marker
  rm -rf b/rootfs && mkdir b/rootfs
  cfg b --arg l "$TEST_TMP/layer2:$TEST_TMP/layer1" --arg u "$TEST_TMP/upper" --arg w "$TEST_TMP/work" --arg d "$driver" \
    '.root.readonly = false | .annotations = {"nook.rootfs.lowerdirs": $l, "nook.rootfs.upper": $u, "nook.rootfs.work": $w, "nook.rootfs.driver": $d}'
}

check_overlay() {
  cfg b '.process.args = ["sh", "-c", "cat /marker; echo new > /etc/written; rm /bin/vi; ls /bin/vi 2>/dev/null || echo vi-gone"]'
  out=$("$NOOK" run -b b "$(unique_id ovl)")
  assert_eq "from-layer2|vi-gone" "$(paste -sd'|' <<<"$out")"
  assert_eq new "$(cat upper/etc/written)" "the write is in the upper dir"
  [ ! -e layer1/etc/written ] || fail "the write reached a lower layer"
  [ -e layer1/bin/vi ] || fail "the delete reached a lower layer"
  [ -z "$(ls b/rootfs)" ] || fail "the overlay is visible on the host's root.path"
}

test_native_overlay_from_annotations() {
  annotated_bundle native
  check_overlay
}

test_fuse_overlay_from_annotations() {
  annotated_bundle fuse
  check_overlay
}

test_bad_rootfs_annotations() {
  make_bundle b
  cfg b '.annotations = {"nook.rootfs.lowerdirs": "/nonexistent"}'
  assert_fails "$NOOK" run -b b "$(unique_id badovl)"
  assert_contains "$assert_output" "needs nook.rootfs.upper and nook.rootfs.work"
  cfg b '.annotations += {"nook.rootfs.upper": "/tmp", "nook.rootfs.work": "/tmp", "nook.rootfs.driver": "zfs"}'
  assert_fails "$NOOK" run -b b "$(unique_id badovl)"
  assert_contains "$assert_output" "nook.rootfs.driver is \`zfs\`"
}
