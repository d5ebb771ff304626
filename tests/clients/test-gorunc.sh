# containerd's go-runc library (Debian's golang-github-containerd-go-runc-dev)
# driving nook as its runc binary, rootless, built offline with Debian's Go.
TEST_TIMEOUT=300

# The program: meson's build of it, else built here from tests/clients/gorunc against /usr/share/gocode (GOPATH mode: Go
# 1.19 with GO111MODULE=off resolves the imports there, no proxy, no
# network) and prints the binary's path.
build_gorunc() {
  # meson builds it beside the tests when Go is there (and the VM has no Go)
  if [ -x "$NOOK_BUILD/tests/gorunc" ]; then
    echo "$NOOK_BUILD/tests/gorunc"
    return
  fi
  command -v go >/dev/null || skip "go is not installed (scripts/install-deps: golang-go)"
  [ -d /usr/share/gocode/src/github.com/containerd/go-runc ] ||
    skip "go-runc is not installed (scripts/install-deps: golang-github-containerd-go-runc-dev)"
  local out=$TEST_TMP/gorunc
  (cd "$NOOK_SRC/tests/clients/gorunc" &&
    GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off GOFLAGS= \
      GOCACHE=${GOCACHE:-$HOME/.cache/go-build} go build -o "$out" .) >&2
  echo "$out"
}

# Why `update` cannot take effect here (empty when it can): a limit needs
# its controller in the user's delegated cgroup.
update_unsupported() {
  local cg
  cg=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
  while [ "$cg" != /sys/fs/cgroup ] && [ ! -w "$cg" ]; do cg=$(dirname "$cg"); done
  grep -qw pids "$cg/cgroup.controllers" 2>/dev/null || echo "no pids controller in $cg"
}

# gorunc_run [EXTRA FLAGS]: runs the program on a fresh sleeping container
# and fails the test on any "not ok" line.
gorunc_run() {
  local gorunc
  gorunc=$(build_gorunc)
  make_bundle bundle
  cfg bundle '.process.args = ["sleep", "1000"]'
  local id
  id=$(unique_id gorunc)
  local out status=0
  out=$(XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-$TEST_TMP} \
    "$gorunc" -nook "$NOOK" -root "$TEST_TMP/state" -bundle "$TEST_TMP/bundle" -id "$id" "$@") || status=$?
  printf '%s\n' "$out"
  if grep -q '^not ok' <<<"$out" || [ $status != 0 ]; then
    fail "go-runc checks failed: $(grep '^not ok' <<<"$out" | tr '\n' ';')"
  fi
  # Every call was made and checked.
  local name
  for name in version create start state list exec "exec exit status" "exec detached" ps stats \
    "events stream" pause resume kill delete "state after delete"; do
    grep -qx "ok $name" <<<"$out" || fail "no 'ok $name' line"
  done
}

test_gorunc_full_lifecycle() {
  local why
  why=$(update_unsupported)
  # update has its own test below, which says when it cannot run
  gorunc_run -skip-update "${why:-checked by test_gorunc_update}"
}

test_gorunc_update() {
  local why
  why=$(update_unsupported)
  [ -z "$why" ] || skip "update cannot apply a limit here: $why"
  gorunc_run
}

test_state_of_missing_container_says_does_not_exist() {
  # hcsshim and containerd match this wording.
  assert_fails "$NOOK" --root "$TEST_TMP/state" state no-such-container
  assert_contains "$assert_output" 'does not exist'
  assert_contains "$assert_output" 'no-such-container'
}
