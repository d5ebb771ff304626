# podman with nook as its OCI runtime (`podman --runtime $NOOK`), rootless,
# on an image imported from a busybox tarball: run, exec, stop, rm, and -t
# through a real pty.
TEST_TIMEOUT=240

# podman with storage, run state and configuration of this test's own, and
# nook as the runtime; a script, so that `script` can run it on a pty.
pm() { "$TEST_TMP/pm" "$@"; }

setup_podman() {
  command -v podman >/dev/null || skip "podman is not installed (scripts/install-deps)"
  export XDG_CONFIG_HOME=$TEST_TMP/config XDG_DATA_HOME=$TEST_TMP/data
  mkdir -p "$XDG_CONFIG_HOME/containers"
  # podman's own defaults otherwise come from the user's files; keep them
  # out, and keep the network out of these tests (the net issue tests it).
  cat >"$XDG_CONFIG_HOME/containers/containers.conf" <<CONF
[containers]
netns = "none"
# no pids controller is delegated in every session; limits have their own tests
pids_limit = 0
[engine]
runtime = "nook"
[engine.runtimes]
nook = ["$NOOK"]
CONF
  [ -n "${XDG_RUNTIME_DIR:-}" ] || export XDG_RUNTIME_DIR=$TEST_TMP/xdg
  mkdir -p "$XDG_RUNTIME_DIR"
  # The cgroup manager rootless podman uses by default where a systemd user
  # session exists.
  cat >"$TEST_TMP/pm" <<SCRIPT
#!/bin/bash
exec podman --root "$TEST_TMP/storage" --runroot "$TEST_TMP/runroot" \\
  --storage-driver vfs --runtime "$NOOK" --events-backend file \\
  --cgroup-manager "${PODMAN_CGROUP_MANAGER:-systemd}" "\$@"
SCRIPT
  chmod +x "$TEST_TMP/pm"
  # The layers hold files of the user's subordinate ids: only podman's user
  # namespace can remove them.
  trap 'pm rm -a -f -t 0 >/dev/null 2>&1; pm unshare rm -rf "$TEST_TMP/storage" "$TEST_TMP/runroot" >/dev/null 2>&1 || true' EXIT
  tar -C "$BUSYBOX_ROOTFS" -cf busybox.tar .
  pm import --quiet busybox.tar localhost/nook-busybox:latest >/dev/null
}

test_podman_run_rm() {
  setup_podman
  local out
  out=$(pm run --rm localhost/nook-busybox sh -c 'echo hello from $(hostname); id -u')
  assert_contains "$out" "hello from"
  assert_eq "0" "$(tail -n 1 <<<"$out")" "uid inside"
  # --rm removed the container
  assert_eq "" "$(pm ps -a -q)" "containers left after run --rm"
}

test_podman_run_exit_status() {
  setup_podman
  local status=0
  pm run --rm localhost/nook-busybox sh -c 'exit 7' || status=$?
  assert_eq 7 "$status" "exit status of run"
}

test_podman_exec_stop_rm() {
  setup_podman
  local name=nook-podman-$RANDOM
  pm run -d --name "$name" localhost/nook-busybox sleep 1000 >/dev/null
  wait_for "[ \"\$(pm inspect -f '{{.State.Status}}' $name)\" = running ]" 20
  assert_eq "in-container /" "$(pm exec "$name" sh -c 'echo in-container $(pwd)')" "exec output"
  assert_eq "v1" "$(pm exec -e V=v1 "$name" sh -c 'echo $V')" "exec env"
  assert_eq "/tmp" "$(pm exec -w /tmp "$name" pwd)" "exec workdir"
  local status=0
  pm exec "$name" sh -c 'exit 3' || status=$?
  assert_eq 3 "$status" "exit status of exec"
  # the exec'd process shares the container's pid namespace: pid 1 is sleep
  assert_contains "$(pm exec "$name" cat /proc/1/cmdline | tr '\0' ' ')" "sleep 1000"
  pm stop -t 2 "$name" >/dev/null
  assert_eq exited "$(pm inspect -f '{{.State.Status}}' "$name")" "status after stop"
  pm rm "$name" >/dev/null
  assert_eq "" "$(pm ps -a -q)" "containers left after rm"
}

test_podman_tty_run_and_exec() {
  setup_podman
  command -v script >/dev/null || skip "script (util-linux) is not installed"
  # script gives podman a real pty; inside, the process must see a terminal.
  local out
  out=$(script -qec "$TEST_TMP/pm run --rm -t localhost/nook-busybox sh -c 'tty; stty size; echo tty-ok'" /dev/null </dev/null | tr -d '\r')
  assert_contains "$out" "/dev/pts/"
  assert_contains "$out" "tty-ok"
  local name=nook-podman-tty-$RANDOM
  pm run -d --name "$name" localhost/nook-busybox sleep 1000 >/dev/null
  out=$(script -qec "$TEST_TMP/pm exec -t $name sh -c 'tty; echo exec-tty-ok'" /dev/null </dev/null | tr -d '\r')
  assert_contains "$out" "/dev/pts/"
  assert_contains "$out" "exec-tty-ok"
  # typed input reaches an interactive shell through the pty
  out=$( (sleep 1; printf 'echo typed-$((6*7))\nexit\n') |
    script -qec "$TEST_TMP/pm exec -it $name sh" /dev/null | tr -d '\r')
  assert_contains "$out" "typed-42"
  pm rm -f -t 0 "$name" >/dev/null
}
