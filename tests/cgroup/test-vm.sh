# The VM stage: the cgroup tests (tests/vm/test-limits.sh and
# tests/cgroup/test-cgroup.sh) in a Debian guest under qemu where every
# controller exists, so that limits are checked for their effect. The guest
# image is built once, as root, by tests/vm/build-image (tests/vm/run does it
# when run as root) and cached; a run boots it in about 30 s, the tests take
# a few minutes under software emulation.

TEST_TIMEOUT=600

test_cgroup_limits_in_a_vm() {
  [ "${NOOK_SANITIZE:-0}" = 0 ] || skip "the VM stage runs the plain build (the guest has no sanitizer runtimes)"
  command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 is not installed (scripts/install-deps)"
  local err
  if ! err=$("$NOOK_SRC/tests/vm/build-image" 2>&1 >/dev/null); then
    skip "${err##*build-image: }"
  fi
  local status=0
  # Runs of the suite from other trees on this machine take turns with the
  # VM; when one is booted for longer than this test can wait, it skips.
  NOOK_BUILD_DIR=$NOOK_BUILD NOOK_VM_TIMEOUT=480 NOOK_VM_LOCK_WAIT=60 \
    "$NOOK_SRC/tests/vm/run" >out 2>&1 || status=$?
  cat out
  [ $status != 75 ] || skip "another VM is running on this machine (tests/vm/run lets one run at a time)"
  [ $status = 0 ] || fail "the VM stage failed (lines above)"
  grep -q ' passed, 0 failed' out || fail "no test summary from the guest"
}
