# Where runc's clients (containerd, podman, go-runc) rely on runc's exact
# answers: flags, forms of arguments, wording they match, exit statuses.

# stop_it ID: kills the container and waits until it is stopped.
stop_it() {
  local stop_id=$1
  "$NOOK" kill "$stop_id" KILL
  wait_for '[ "$("$NOOK" state "$stop_id" | jq -r .status)" = stopped ]'
}

test_kill_signal_zero_probes_without_signalling() {
  local id
  id=$(unique_id probe)
  start_sleeper "$id"
  "$NOOK" kill "$id" 0
  "$NOOK" kill --all "$id" 0
  assert_eq running "$("$NOOK" state "$id" | jq -r .status)"
  stop_it "$id"
  assert_fails "$NOOK" kill "$id" 0
  assert_contains "$assert_output" "container not running"
  "$NOOK" delete "$id"
}

test_kill_of_stopped_container_has_containerds_words() {
  # containerd's shim takes "container not running" as an exited task and
  # "does not exist" as a missing one (checkKillError)
  local id
  id=$(unique_id stopped)
  start_sleeper "$id"
  stop_it "$id"
  assert_fails "$NOOK" kill "$id" TERM
  assert_contains "$assert_output" "container not running"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "lines of the error"
  "$NOOK" delete "$id"
  assert_fails "$NOOK" kill "$id" TERM
  assert_contains "$assert_output" "does not exist"
}

test_kill_all_reaches_what_a_stopped_init_left() {
  # Without a pid namespace the init's children outlive it in the cgroup;
  # containerd's shim then runs kill --all KILL on the stopped container.
  local id orphan
  id=$(unique_id orphans)
  make_bundle b
  cfg b '.process.args = ["sh", "-c", "sleep 1000 & echo $! > /tmp/orphan"]
         | .root.readonly = false
         | .linux.namespaces |= map(select(.type != "pid"))
         | .mounts |= map(select(.destination != "/proc"))'
  "$NOOK" run -d -b b "$id" </dev/null >/dev/null 2>&1
  wait_for '[ -s b/rootfs/tmp/orphan ] && [ "$("$NOOK" state "$id" | jq -r .status)" = stopped ]'
  orphan=$(cat b/rootfs/tmp/orphan)
  [ -d "/proc/$orphan" ] || fail "the orphan $orphan is already gone"
  if [ "$("$NOOK" ps --format json "$id")" != "[$orphan]" ]; then
    kill -9 "$orphan"
    "$NOOK" delete -f "$id"
    skip "the container has no cgroup of its own here to find the orphan in"
  fi
  "$NOOK" kill --all "$id" KILL
  wait_for 'process_gone "$orphan"'
  # the cgroup went with its last process: nothing to signal, no error
  "$NOOK" kill --all "$id" KILL
  "$NOOK" delete "$id"
}

test_ps_of_stopped_container_lists_nothing() {
  # runc answers an empty list (containerd asks for an exited task's pids)
  local id
  id=$(unique_id psstop)
  start_sleeper "$id"
  stop_it "$id"
  assert_eq "[]" "$("$NOOK" ps --format json "$id")"
  local out
  out=$("$NOOK" ps "$id")
  assert_eq 1 "$(wc -l <<<"$out")" "lines of the table: $out"
  assert_contains "$out" "PID"
  "$NOOK" delete "$id"
  assert_fails "$NOOK" ps "$id"
  assert_contains "$assert_output" "does not exist"
}

test_exec_ignore_paused_starts_the_process_on_resume() {
  local id
  id=$(unique_id ignpause)
  start_sleeper "$id"
  if ! "$NOOK" pause "$id" 2>err.txt; then
    "$NOOK" delete -f "$id"
    skip "no cgroup to freeze here: $(cat err.txt)"
  fi
  assert_fails "$NOOK" exec "$id" true
  assert_contains "$assert_output" "--ignore-paused"
  "$NOOK" exec --ignore-paused "$id" sh -c 'echo ran; exit 3' >out.txt 2>&1 &
  local exec_pid=$!
  sleep 0.5
  [ ! -s out.txt ] || fail "the process ran in a paused container: $(cat out.txt)"
  "$NOOK" resume "$id"
  local status=0
  wait "$exec_pid" || status=$?
  assert_eq 3 "$status" "exit status of the exec"
  assert_eq ran "$(cat out.txt)"
  "$NOOK" delete -f "$id"
}

test_exec_security_labels_are_accepted_with_a_warning() {
  local id
  id=$(unique_id lsm)
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"] | .process.apparmorProfile = "own-profile"'
  "$NOOK" run -d -b b "$id" </dev/null >/dev/null 2>create.err
  assert_contains "$(cat create.err)" "apparmorProfile \`own-profile\` is not applied"
  # the container's own profile was warned about once, at create
  "$NOOK" exec "$id" true 2>err.txt
  assert_eq "" "$(cat err.txt)" "stderr of a plain exec"
  "$NOOK" exec --apparmor other --process-label system_u:system_r:c:s0 "$id" true 2>err.txt
  assert_contains "$(cat err.txt)" "apparmorProfile \`other\` is not applied"
  assert_contains "$(cat err.txt)" "selinuxLabel \`system_u:system_r:c:s0\` is not applied"
  jq -n '{args: ["true"], cwd: "/", apparmorProfile: "from-file"}' >proc.json
  "$NOOK" exec --process proc.json "$id" 2>err.txt
  assert_contains "$(cat err.txt)" "apparmorProfile \`from-file\` is not applied"
  "$NOOK" delete -f "$id"
}

test_exec_cgroup_takes_runcs_controller_prefix() {
  local id
  id=$(unique_id subcg)
  start_sleeper "$id"
  local pid cg
  pid=$("$NOOK" state "$id" | jq .pid)
  cg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
  if [ -z "$cg" ] || ! mkdir "/sys/fs/cgroup$cg/sub" 2>/dev/null; then
    "$NOOK" delete -f "$id"
    skip "cannot make a sub-cgroup of the container's cgroup $cg here"
  fi
  local out status=0
  out=$("$NOOK" exec --cgroup pids,memory:sub "$id" cat /proc/self/cgroup 2>&1) || status=$?
  assert_eq 0 "$status" "exec --cgroup pids,memory:sub: $out"
  assert_contains "$out" "/sub"
  out=$("$NOOK" exec --cgroup cpu:sub --cgroup pids:sub "$id" cat /proc/self/cgroup)
  assert_contains "$out" "/sub"
  assert_fails "$NOOK" exec --cgroup cpu:sub --cgroup pids:other "$id" true
  assert_contains "$assert_output" "same path"
  assert_fails "$NOOK" exec --cgroup pids: "$id" true
  assert_contains "$assert_output" "--cgroup"
  assert_fails "$NOOK" exec --cgroup pids:missing "$id" true
  assert_eq 1 "$(wc -l <<<"$assert_output")" "lines of the error"
  assert_contains "$assert_output" "no such sub-cgroup (/sys/fs/cgroup$cg/missing does not exist"
  rmdir "/sys/fs/cgroup$cg/sub"
  "$NOOK" delete -f "$id"
}

test_update_refuses_intel_rdt_options_by_name() {
  local id
  id=$(unique_id rdt)
  start_sleeper "$id"
  local opt
  for opt in --l3-cache-schema --mem-bw-schema; do
    assert_fails "$NOOK" update "$opt" "L3:0=f" "$id"
    assert_eq 1 "$(wc -l <<<"$assert_output")" "lines of the error"
    assert_contains "$assert_output" "${opt#--}: nook does not support Intel RDT"
  done
  "$NOOK" delete -f "$id"
}

test_ps_table_options_and_their_errors_in_one_line() {
  local id out
  id=$(unique_id psopt)
  start_sleeper "$id"
  out=$("$NOOK" ps "$id" -o pid,comm)
  assert_contains "$out" "sleep"
  # runc's usage puts ps options after the id; "--" before them is no ps option
  out=$("$NOOK" ps "$id" -- -o pid,comm)
  assert_contains "$(tail -n1 <<<"$out")" "sleep"
  out=$("$NOOK" ps -- "$id" -o pid,args)
  assert_contains "$out" "sleep 1000"
  # ps's own multi-line usage is folded into nook's one line
  assert_fails "$NOOK" ps "$id" --no-such-ps-option
  assert_eq 1 "$(wc -l <<<"$assert_output")" "lines of the error"
  assert_contains "$assert_output" "ps --no-such-ps-option failed (exit 1): "
  assert_fails "$NOOK" ps "$id" -o comm
  assert_eq 1 "$(wc -l <<<"$assert_output")" "lines of the error"
  assert_contains "$assert_output" "no PID column"
  "$NOOK" delete -f "$id"
}

test_list_quiet_wins_over_json_as_in_runc() {
  local id
  id=$(unique_id listq)
  start_sleeper "$id"
  assert_eq "$id" "$("$NOOK" list -q --format json | grep -x "$id")"
  "$NOOK" list --format json -q | grep -qv '^\[' || fail "list --format json -q printed JSON"
  "$NOOK" delete -f "$id"
}

test_exec_options_apply_to_a_process_file_too() {
  # runc drops them silently; nook applies them, as it already did --tty and --cwd
  local id out
  id=$(unique_id procopts)
  start_sleeper "$id"
  jq -n '{args: ["sh", "-c", "echo $A $B; pwd; grep NoNewPrivs /proc/self/status; grep CapEff /proc/self/status"],
          cwd: "/", env: ["PATH=/bin", "A=file"], user: {uid: 0, gid: 0},
          capabilities: {bounding: [], effective: [], permitted: []}}' >proc.json
  out=$("$NOOK" exec --process proc.json "$id")
  assert_contains "$out" "CapEff:	0000000000000000"
  out=$("$NOOK" exec --process proc.json -e A=cli --env B=2 --cwd /tmp --no-new-privs --cap CAP_KILL "$id")
  assert_contains "$out" "cli 2"
  assert_contains "$out" "/tmp"
  assert_contains "$out" "NoNewPrivs:	1"
  assert_contains "$out" "CapEff:	0000000000000020"
  "$NOOK" delete -f "$id"
}

test_events_stats_cpu_throttling_has_runcs_keys() {
  # go-runc decodes periods, throttledPeriods, throttledTime (runc's
  # types.Throttling); cpu.stat has the counters once the cpu controller is on
  local id pid cg out
  id=$(unique_id throttle)
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"] | .linux.resources.cpu = {quota: 50000, period: 100000}'
  "$NOOK" run -d -b b "$id" </dev/null >/dev/null 2>&1
  pid=$("$NOOK" state "$id" | jq .pid)
  cg=$(sed -n 's/^0:://p' "/proc/$pid/cgroup")
  if ! grep -q '^nr_throttled ' "/sys/fs/cgroup$cg/cpu.stat" 2>/dev/null; then
    "$NOOK" delete -f "$id"
    skip "no cpu controller on the container's cgroup here (the VM stage has it: tests/vm/run cli/test-runc-compat)"
  fi
  out=$("$NOOK" events --stats "$id")
  assert_eq '["periods","throttledPeriods","throttledTime"]' \
    "$(jq -c '.data.cpu.throttling | keys' <<<"$out")" "throttling keys in $out"
  "$NOOK" delete -f "$id"
}

test_options_after_the_container_id() {
  # runc and podman take `delete ID --force`; kill keeps "+": its signal
  # may be written -9 and must not be taken for an option
  local id
  id=$(unique_id after)
  start_sleeper "$id"
  "$NOOK" state "$id" --help | grep -q Usage || fail "state ID --help"
  "$NOOK" pause "$id" --help >/dev/null
  "$NOOK" delete "$id" --force
  assert_fails "$NOOK" state "$id"
  assert_contains "$assert_output" "does not exist"
  # an unknown option after the id is named, not taken for a second id
  start_sleeper "$id"
  assert_fails "$NOOK" delete "$id" --no-such-option
  assert_contains "$assert_output" "--no-such-option"
  "$NOOK" delete -f "$id"
}
