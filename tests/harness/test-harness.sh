# Self-tests of the test world and the runner: the world is what the tests
# assume (an unprivileged user with the session a desktop user has), and the
# runner counts what it claims to count.

test_runs_as_unprivileged_user() {
  [ "$(id -u)" != 0 ] || fail "the suite runs as root"
  # In the initial user namespace: the whole id range maps to itself.
  assert_eq "0 0 4294967295" "$(awk '{ print $1, $2, $3 }' /proc/self/uid_map)" "/proc/self/uid_map"
}

test_runtime_dir_is_private() {
  [ -n "${XDG_RUNTIME_DIR:-}" ] || fail "XDG_RUNTIME_DIR is not set"
  assert_eq "$(id -u) 700" "$(stat -c '%u %a' "$XDG_RUNTIME_DIR")" "owner and mode of $XDG_RUNTIME_DIR"
  touch "$XDG_RUNTIME_DIR/.nook-test-$$" && rm "$XDG_RUNTIME_DIR/.nook-test-$$"
}

test_cgroup2_with_delegated_subtree() {
  assert_eq cgroup2fs "$(stat -f -c %T /sys/fs/cgroup)" "filesystem at /sys/fs/cgroup"
  local cg
  cg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
  [ -w "$cg/cgroup.procs" ] || fail "this process's cgroup $cg is not writable: no delegation"
  mkdir "$cg/../nook-harness-$$"
  rmdir "$cg/../nook-harness-$$"
}

test_systemd_user_manager_runs() {
  [ -n "${DBUS_SESSION_BUS_ADDRESS:-}" ] || fail "DBUS_SESSION_BUS_ADDRESS is not set"
  assert_eq running "$(systemctl --user is-system-running)" "systemctl --user is-system-running"
  # A transient delegated scope, as the systemd cgroup driver makes one.
  local out
  out=$(systemd-run --user --scope --quiet -p Delegate=yes cat /proc/self/cgroup)
  assert_contains "$out" "/app.slice/run-" "cgroup of a systemd-run --user --scope"
}

test_subordinate_ids() {
  grep -q "^$(id -un):" /etc/subuid || fail "no /etc/subuid entry for $(id -un)"
  grep -q "^$(id -un):" /etc/subgid || fail "no /etc/subgid entry for $(id -un)"
  # newuidmap/newgidmap map the whole range into a new user namespace.
  local map
  map=$(unshare --map-root-user --map-auto cat /proc/self/uid_map | awk '{ print $1, $2, $3 }')
  assert_contains "$map" "0 $(id -u) 1" "uid_map of a user namespace"
  assert_contains "$map" "1 $(awk -F: -v u="$(id -un)" '$1 == u { print $2; exit }' /etc/subuid) " "uid_map of a user namespace"
}

test_fuse_and_tun_are_openable() {
  exec 3<>/dev/fuse || fail "cannot open /dev/fuse"
  exec 3>&-
  exec 4<>/dev/net/tun || fail "cannot open /dev/net/tun"
  exec 4>&-
}

test_busybox_rootfs_is_ready() {
  [ -x "$BUSYBOX_ROOTFS/bin/busybox" ] || fail "no busybox in $BUSYBOX_ROOTFS"
  assert_eq /bin/busybox "$(readlink "$BUSYBOX_ROOTFS/bin/sh")" "/bin/sh link"
  assert_contains "$(cat "$BUSYBOX_ROOTFS/etc/passwd")" "root:x:0:0:" "/etc/passwd"
  assert_contains "$(cat "$BUSYBOX_ROOTFS/etc/group")" "nobody:x:65534:" "/etc/group"
  [ ! -w "$BUSYBOX_ROOTFS" ] || fail "$BUSYBOX_ROOTFS is writable: tests must copy it"
}

test_make_bundle_makes_a_runnable_bundle() {
  make_bundle b
  [ -x b/rootfs/bin/busybox ] || fail "no rootfs in the bundle"
  assert_eq '["sh"]' "$(jq -c .process.args b/config.json)" "process.args"
  assert_eq false "$(jq -c .process.terminal b/config.json)" "process.terminal"
  cfg b --arg h harness '.process.args = ["sh", "-c", "id -u; hostname"] | .hostname = $h'
  assert_eq harness "$(jq -r .hostname b/config.json)" "hostname set by cfg"
  local msg
  msg=$( (cfg b '.[') 2>&1) && fail "cfg with a bad filter passed"
  assert_contains "$msg" "cfg: jq .[ failed on b/config.json" "cfg's failure"
  jq -e . b/config.json >/dev/null || fail "a failed cfg broke config.json"
  if ! command -v crun >/dev/null; then
    skip "crun is not installed: cannot check the bundle with a peer runtime"
  fi
  # The peer runtime runs it: the bundle and the world are sound. (crun 1.8
  # knows spec versions up to 1.1.)
  cfg b '.ociVersion = "1.0.2"'
  local out
  out=$(crun --root "$TEST_TMP/crun" run --bundle b "$(unique_id harness)")
  assert_eq "0
harness" "$out" "output of the container"
}

test_assertions() {
  assert_eq a a
  assert_contains "hello world" "o w"
  assert_fails false
  local msg
  msg=$( (assert_eq a b "the thing") 2>&1) && fail "assert_eq a b passed"
  assert_eq "FAIL: the thing: want 'a', got 'b'" "$msg" "assert_eq's failure"
  msg=$( (assert_contains abc x) 2>&1) && fail "assert_contains abc x passed"
  assert_contains "$msg" "want it to contain 'x', got 'abc'" "assert_contains's failure"
  msg=$( (assert_fails true) 2>&1) && fail "assert_fails true passed"
  assert_contains "$msg" "expected to fail, but it succeeded: true" "assert_fails's failure"
  msg=$( (assert_fails sh -c 'kill -SEGV $$') 2>&1) && fail "assert_fails passed on a crash"
  assert_contains "$msg" "died by signal 11" "assert_fails on a crash"
  assert_fails sh -c 'echo to-stderr >&2; exit 3' >/dev/null
  assert_eq to-stderr "$assert_output" "assert_output"
  local out
  out=$( (wait_for false 0.2) 2>&1) && fail "wait_for false passed"
  assert_contains "$out" "timed out after 0.2s waiting for: false" "wait_for's failure"
  wait_for true 1
  rm -f later
  (sleep 0.3; touch later) &
  wait_for '[ -e later ]' 5
  local a b
  a=$(unique_id x)
  b=$(unique_id x)
  [ "$a" != "$b" ] || fail "unique_id gave $a twice"
}

test_runner_counts_and_reports() {
  local out status=0
  out=$(NOOK_TEST_DIR="$NOOK_SRC/tests/harness/fixtures" \
    "$NOOK_SRC/tests/run" --in-world "$TEST_TMP/run" --no-build -j 2 2>&1) || status=$?
  printf '%s\n' "$out"
  assert_eq 1 "$status" "exit status of a run with failures"
  assert_eq "4 passed, 3 failed, 2 skipped" "$(printf '%s\n' "$out" | tail -n 1)" "last line"
  assert_contains "$out" "SKIP demo/test-demo.sh:test_skipped: not here" "skip line"
  assert_contains "$out" "FAIL demo/test-demo.sh:test_fails (exit 1" "fail line"
  assert_contains "$out" "the end of the failing test" "failure log"
  assert_contains "$out" "FAIL demo/test-slow.sh:test_hangs (timed out after 2s)" "timeout line"
  assert_contains "$out" "PASS demo/test-slow.sh:test_after_the_hang" "test after a timeout"
  # The process a test left behind was killed.
  sleep 0.2
  ! pgrep -u "$(id -u)" -f "sleep 4242" >/dev/null || fail "a leftover process survived its test"
  ! pgrep -u "$(id -u)" -f "sleep 4343" >/dev/null || fail "a leftover process in a session of its own survived its test"
  # A passing test's directory is removed, also files of subordinate ids.
  assert_contains "$out" "PASS demo/test-demo.sh:test_leaves_files_of_a_subordinate_id" "subordinate id test"
  local tmp
  tmp=$(sed -n 's/^# .*test_leaves_files_of_a_subordinate_id in TEST_TMP=//p' "$TEST_TMP"/run/work/files/demo-test-demo/test_leaves_files_of_a_subordinate_id.log)
  [ -n "$tmp" ] || fail "no TEST_TMP named in the log"
  [ ! -e "$tmp" ] || fail "$tmp is left after its test passed"
}

test_sanitizer_reports_fail_tests() {
  command -v gcc >/dev/null || skip "gcc is not installed"
  cat >faulty.c <<'C'
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
  char *p = malloc(8);
  if (strcmp(argv[1], "overflow") == 0)
    p[8 + argc] = 1;
  if (strcmp(argv[1], "leak") == 0)
    p = NULL;
  else
    free(p);
  return 1;
}
C
  gcc -g -fsanitize=address,undefined -o faulty faulty.c
  local out status=0
  out=$(FAULTY=$TEST_TMP/faulty NOOK_SANITIZE=1 NOOK_TEST_DIR="$NOOK_SRC/tests/harness/fixtures-sanitizer" \
    "$NOOK_SRC/tests/run" --in-world "$TEST_TMP/run" --no-build 2>&1) || status=$?
  printf '%s\n' "$out"
  assert_eq "1 passed, 2 failed, 0 skipped" "$(printf '%s\n' "$out" | tail -n 1)" "last line"
  assert_contains "$out" "FAIL demo/test-sanitizer.sh:test_overflow_in_an_expected_failure (sanitizer report" "overflow"
  assert_contains "$(cat "$TEST_TMP"/run/work/files/demo-test-sanitizer/test_overflow_in_an_expected_failure.log)" \
    "ERROR: AddressSanitizer: heap-buffer-overflow" "log of the overflowing test"
  assert_contains "$out" "FAIL demo/test-sanitizer.sh:test_leak_in_an_expected_failure (sanitizer report" "leak"
  assert_contains "$out" "PASS demo/test-sanitizer.sh:test_clean_failure" "clean failure"
}
