# exec, ps, pause/resume, events, update, checkpoint: the runc commands a
# running container answers, driven as a user would.

test_exec_runs_in_the_container() {
  local id
  id=$(unique_id exec)
  start_sleeper "$id"
  local out
  out=$("$NOOK" exec "$id" sh -c 'echo pid=$$; cat /proc/1/cmdline | tr "\0" " "; hostname')
  # pid namespace joined: the shell is not pid 1, and pid 1 is the container's sleep
  assert_contains "$out" "sleep 1000"
  [[ "$out" != *"pid=1"$'\n'* ]] || fail "exec'd shell is pid 1: $out"
  # mount namespace and root joined: the rootfs is the bundle's
  touch "bundle-$id/rootfs/tmp/marker-$id"
  "$NOOK" exec "$id" test -e "/tmp/marker-$id" || fail "the bundle's rootfs is not the exec's root"
  # same namespaces as the init
  local ns
  for ns in mnt pid uts ipc user; do
    assert_eq "$("$NOOK" exec "$id" readlink /proc/1/ns/$ns)" "$("$NOOK" exec "$id" readlink /proc/self/ns/$ns)" "$ns namespace"
  done
  "$NOOK" delete -f "$id"
}

test_exec_env_cwd_and_exit_status() {
  local id
  id=$(unique_id exec)
  start_sleeper "$id"
  assert_eq "bar /tmp" "$("$NOOK" exec -e FOO=bar --cwd /tmp "$id" sh -c 'echo $FOO $(pwd)')"
  local status=0
  "$NOOK" exec "$id" sh -c 'exit 3' || status=$?
  assert_eq 3 "$status" "exit status"
  status=0
  "$NOOK" exec "$id" sh -c 'kill -TERM $$' || status=$?
  assert_eq $((128 + 15)) "$status" "status of a process killed by SIGTERM"
  assert_fails "$NOOK" exec "$id" no-such-command
  assert_contains "$assert_output" 'executable file not found'
  "$NOOK" delete -f "$id"
}

test_exec_process_json_detach_and_pid_file() {
  local id
  id=$(unique_id exec)
  start_sleeper "$id"
  cat >proc.json <<'JSON'
{"args": ["sleep", "1001"], "env": ["X=42", "PATH=/bin"],
 "cwd": "/tmp", "user": {"uid": 0, "gid": 0}}
JSON
  "$NOOK" exec --detach --pid-file exec.pid --process proc.json "$id" </dev/null >/dev/null 2>&1
  local pid
  pid=$(cat exec.pid)
  [ -d "/proc/$pid" ] || fail "pid $pid of the pid file is not running"
  # the process of the JSON, its environment and cwd
  assert_eq "sleep 1001" "$(tr '\0' ' ' <"/proc/$pid/cmdline" | sed 's/ $//')" "cmdline"
  assert_contains "$(tr '\0' '\n' <"/proc/$pid/environ")" "X=42"
  assert_eq /tmp "$(readlink "/proc/$pid/cwd" | sed 's|.*/rootfs||')" "cwd"
  # ps sees both processes
  local pids
  pids=$("$NOOK" ps --format json "$id")
  assert_contains "$pids" "$pid"
  assert_contains "$pids" "$("$NOOK" state "$id" | jq .pid)"
  jq -e 'type == "array" and length == 2' <<<"$pids" >/dev/null || fail "ps json: $pids"
  assert_contains "$("$NOOK" ps "$id")" "PID"
  assert_contains "$("$NOOK" ps "$id" -o pid,args)" "sleep 1001"
  "$NOOK" delete -f "$id"
}

test_exec_tty_through_a_pty() {
  command -v script >/dev/null || skip "script (util-linux) is not installed"
  local id
  id=$(unique_id exec)
  start_sleeper "$id"
  local out
  out=$(script -qec "'$NOOK' exec -t $id sh -c 'tty; echo tty-ok'" /dev/null </dev/null | tr -d '\r')
  assert_contains "$out" "/dev/pts/"
  assert_contains "$out" "tty-ok"
  assert_fails "$NOOK" exec -t -d "$id" true
  assert_contains "$assert_output" "--console-socket"
  "$NOOK" delete -f "$id"
}

test_exec_refuses_bad_input() {
  assert_fails "$NOOK" exec no-such-container true
  assert_contains "$assert_output" 'container "no-such-container" does not exist'
  local id
  id=$(unique_id exec)
  start_sleeper "$id"
  assert_fails "$NOOK" exec "$id"
  assert_contains "$assert_output" "missing the command"
  assert_fails "$NOOK" exec --user nobody "$id" true
  assert_contains "$assert_output" "--user"
  assert_fails "$NOOK" exec --env NOEQUALS "$id" true
  assert_contains "$assert_output" "KEY=VALUE"
  "$NOOK" delete -f "$id"
}

test_pause_resume() {
  local id
  id=$(unique_id pause)
  start_sleeper "$id"
  if ! "$NOOK" pause "$id" 2>err.txt; then
    assert_contains "$(cat err.txt)" "cgroup"
    "$NOOK" delete -f "$id"
    skip "no cgroup for the container here: $(cat err.txt)"
  fi
  assert_eq paused "$("$NOOK" state "$id" | jq -r .status)"
  # frozen for real: the state of the init is stopped in the freezer
  local pid
  pid=$("$NOOK" state "$id" | jq .pid)
  assert_fails "$NOOK" exec "$id" true
  assert_contains "$assert_output" "paused"
  assert_fails "$NOOK" pause "$id"
  "$NOOK" resume "$id"
  assert_eq running "$("$NOOK" state "$id" | jq -r .status)"
  [ -d /proc/$pid ] || fail "init died across pause/resume"
  assert_fails "$NOOK" resume "$id"
  assert_contains "$assert_output" "running"
  "$NOOK" delete -f "$id"
}

test_pause_without_cgroup_says_why() {
  local id
  id=$(unique_id nocg)
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"]'
  "$NOOK" --cgroup-manager disabled run -d --bundle b "$id" </dev/null >/dev/null 2>&1
  assert_fails "$NOOK" pause "$id"
  assert_contains "$assert_output" "no cgroup"
  # ps still finds the processes, through the pid namespace
  assert_contains "$("$NOOK" ps --format json "$id")" "$("$NOOK" state "$id" | jq .pid)"
  "$NOOK" delete -f "$id"
}

test_events_stats_in_runc_shape() {
  local id
  id=$(unique_id events)
  start_sleeper "$id"
  local out
  if ! out=$("$NOOK" events --stats "$id" 2>err.txt); then
    "$NOOK" delete -f "$id"
    skip "no statistics without a cgroup: $(cat err.txt)"
  fi
  jq -e --arg id "$id" '.type == "stats" and .id == $id and (.data | has("cpu") and has("pids"))' \
    <<<"$out" >/dev/null || fail "events --stats: $out"
  [ "$(jq '.data.pids.current' <<<"$out")" -ge 1 ] || fail "no pids counted: $out"
  # --interval prints one object a line until stopped
  out=$(timeout 1.5 "$NOOK" events --interval 200ms "$id" || true)
  [ "$(wc -l <<<"$out")" -ge 3 ] || fail "expected several events in 1.5s: $out"
  assert_fails "$NOOK" events --interval soon "$id"
  "$NOOK" delete -f "$id"
}

test_update_parses_and_names_what_it_cannot_do() {
  local id
  id=$(unique_id update)
  make_bundle "bundle-$id"
  # a limit from the start gives the cgroup its pids controller
  cfg "bundle-$id" '.process.args = ["sleep", "1000"] | .linux.resources.pids.limit = 100'
  "$NOOK" run -d --bundle "bundle-$id" "$id" </dev/null >/dev/null 2>&1
  assert_fails "$NOOK" update "$id"
  assert_contains "$assert_output" "nothing to update"
  assert_fails "$NOOK" update --memory lots "$id"
  assert_contains "$assert_output" "--memory"
  echo 'not json' >bad.json
  assert_fails "$NOOK" update --resources bad.json "$id"
  assert_contains "$assert_output" "--resources bad.json: invalid JSON at line 1"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one line for bad JSON"
  echo '[1]' >array.json
  assert_fails "$NOOK" update --resources array.json "$id"
  assert_eq "nook: --resources array.json: not a JSON object" "$assert_output"
  local cg
  # the init's cgroup, as the host sees it
  cg=/sys/fs/cgroup$(sed -n 's/^0:://p' "/proc/$("$NOOK" state "$id" | jq .pid)/cgroup")
  local own base
  own=$(sed -n 's/^0:://p' /proc/$$/cgroup)
  base=$(sed -n 's#^\(.*/user@[0-9]*\.service\)/.*#\1#p' <<<"$own")
  [ -n "$base" ] || base=${own%/*}
  if grep -qw pids "/sys/fs/cgroup$base/cgroup.controllers" 2>/dev/null; then
    # systemd enables the controller for the scope shortly after it starts
    wait_for "[ -f $cg/pids.max ]" 10
    echo '{"pids": {"limit": 77}}' | "$NOOK" update --resources - "$id"
    assert_eq 77 "$(cat "$cg/pids.max")" "pids.max after update"
    "$NOOK" update --pids-limit 88 "$id"
    assert_eq 88 "$(cat "$cg/pids.max")" "pids.max after --pids-limit"
  else
    # without the controller the error names the limit and the controller
    assert_fails "$NOOK" update --pids-limit 88 "$id"
    assert_contains "$assert_output" "pids"
  fi
  "$NOOK" delete -f "$id"
}

test_checkpoint_and_restore_say_not_supported() {
  assert_fails "$NOOK" checkpoint some-id
  assert_contains "$assert_output" "not supported"
  assert_fails "$NOOK" restore --bundle . some-id
  assert_contains "$assert_output" "not supported"
}

test_man_pages_are_built_and_installed() {
  command -v man >/dev/null || skip "man is not installed"
  [ -f "$NOOK_BUILD/docs/nook-exec.1" ] || skip "scdoc was missing at build time: no man pages"
  # meson installs each page to mandir/man1
  meson introspect --installed "$NOOK_BUILD" | jq -e 'to_entries | map(.value) |
      any(endswith("/man1/nook-exec.1")) and any(endswith("/man1/nook.1"))' >/dev/null ||
    fail "meson does not install the man pages"
  mkdir -p man/man1
  cp "$NOOK_BUILD"/docs/*.1 man/man1/
  local page
  page=$(MANPATH=$TEST_TMP/man man -P cat nook-exec 2>/dev/null)
  assert_contains "$page" "nook-exec - run a new process inside a container"
  assert_contains "$page" "--process"
  assert_contains "$page" "EXAMPLES"
  # every command has a page
  local cmd
  for cmd in $("$NOOK" __complete commands); do
    [ -f "man/man1/nook-$cmd.1" ] || fail "no man page for $cmd"
  done
}

test_exec_preserve_fds() {
  local id
  id=$(unique_id fds)
  start_sleeper "$id"
  "$NOOK" exec --preserve-fds 1 "$id" sh -c 'echo through-fd-3 >&3' 3>fd3.out
  assert_eq "through-fd-3" "$(cat fd3.out)" "fd 3 passed with --preserve-fds 1"
  # without it, fd 3 does not cross
  local status=0
  "$NOOK" exec "$id" sh -c 'echo x >&3' 3>fd3.none 2>/dev/null || status=$?
  [ $status != 0 ] || fail "fd 3 crossed without --preserve-fds"
  "$NOOK" delete -f "$id"
}

# The terminal's master goes to a console socket (SCM_RIGHTS), as containerd's
# shim and conmon receive it.
test_exec_console_socket() {
  command -v python3 >/dev/null || skip "python3 is not installed"
  local id
  id=$(unique_id console)
  start_sleeper "$id"
  cat >receive.py <<'PY'
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
open(sys.argv[1] + ".ready", "w").close()
c, _ = s.accept()
msg, fds, _, _ = socket.recv_fds(c, 1024, 1)
out = b""
while True:
    try:
        b = os.read(fds[0], 4096)
    except OSError:
        break
    if not b:
        break
    out += b
sys.stdout.write(out.decode(errors="replace"))
PY
  python3 receive.py "$TEST_TMP/console.sock" >console.out &
  local receiver=$!
  wait_for "[ -e '$TEST_TMP/console.sock.ready' ]"
  "$NOOK" exec --detach --tty --console-socket "$TEST_TMP/console.sock" "$id" \
    sh -c 'tty; echo console-ok' </dev/null >/dev/null 2>&1
  wait $receiver
  local out
  out=$(tr -d '\r' <console.out)
  assert_contains "$out" "/dev/pts/"
  assert_contains "$out" "console-ok"
  assert_fails "$NOOK" exec --console-socket "$TEST_TMP/console.sock" "$id" true
  assert_contains "$assert_output" "--tty"
  "$NOOK" delete -f "$id"
}
