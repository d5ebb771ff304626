# The OCI lifecycle as clients drive it: create, start, state, kill, delete,
# run, list; statuses come from the processes, not from the files.

test_create_start_state_kill_delete() {
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"]'
  id=$(unique_id life)
  nook_bg create -b b "$id"
  assert_eq created "$("$NOOK" state "$id" | jq -r .status)" "status after create"
  pid=$("$NOOK" state "$id" | jq -r .pid)
  [ "$pid" -gt 0 ] || fail "no pid after create"
  kill -0 "$pid"
  "$NOOK" start "$id"
  assert_eq running "$("$NOOK" state "$id" | jq -r .status)" "status after start"
  assert_fails "$NOOK" start "$id"
  assert_contains "$assert_output" "cannot start a container that is running"
  "$NOOK" kill "$id" KILL
  wait_for '[ "$("$NOOK" state "$id" | jq -r .status)" = stopped ]'
  assert_eq 0 "$("$NOOK" state "$id" | jq -r .pid)" "pid of a stopped container"
  "$NOOK" delete "$id"
  assert_fails "$NOOK" state "$id"
  assert_eq "nook: container \"$id\" does not exist" "$assert_output"
}

test_state_has_oci_fields_and_annotations() {
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"] | .annotations = {"org.example.k": "v1"}'
  id=$(unique_id ann)
  nook_bg create -b b "$id"
  state=$("$NOOK" state "$id")
  assert_eq "1.2.0" "$(jq -r .ociVersion <<<"$state")" ociVersion
  assert_eq "$id" "$(jq -r .id <<<"$state")" id
  assert_eq "$(cd b && pwd)" "$(jq -r .bundle <<<"$state")" bundle
  assert_eq v1 "$(jq -r '.annotations["org.example.k"]' <<<"$state")" annotation
  "$NOOK" delete "$id"
}

test_container_that_exits_is_stopped_without_anyone_calling() {
  make_bundle b
  cfg b '.process.args = ["true"]'
  id=$(unique_id exit)
  nook_bg create -b b "$id"
  "$NOOK" start "$id"
  wait_for '[ "$("$NOOK" state "$id" | jq -r .status)" = stopped ]'
  "$NOOK" delete "$id"
}

test_delete_refuses_running_and_force_kills() {
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"]'
  id=$(unique_id del)
  nook_bg run -d -b b "$id"
  pid=$("$NOOK" state "$id" | jq -r .pid)
  assert_fails "$NOOK" delete "$id"
  assert_contains "$assert_output" "not stopped: running"
  "$NOOK" delete --force "$id"
  process_gone "$pid" || fail "init $pid survived delete --force"
  [ ! -e "$XDG_RUNTIME_DIR/nook/$id" ] || fail "state directory left behind"
}

test_delete_of_created_container_kills_it() {
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"]'
  id=$(unique_id delc)
  nook_bg create -b b "$id"
  pid=$("$NOOK" state "$id" | jq -r .pid)
  "$NOOK" delete "$id"
  process_gone "$pid" || fail "init $pid survived delete"
}

test_run_exits_with_the_container_status() {
  make_bundle b
  cfg b '.process.args = ["sh", "-c", "exit 42"]'
  id=$(unique_id rc)
  status=0
  "$NOOK" run -b b "$id" || status=$?
  assert_eq 42 "$status" "exit status of run"
  assert_fails "$NOOK" state "$id"
}

test_run_killed_container_exits_128_plus_signal() {
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"]'
  id=$(unique_id sig)
  "$NOOK" run -b b "$id" </dev/null >/dev/null 2>&1 &
  runner=$!
  wait_for '[ "$("$NOOK" state "$id" 2>/dev/null | jq -r .status)" = running ]'
  "$NOOK" kill "$id" KILL
  status=0
  wait $runner || status=$?
  assert_eq 137 "$status" "exit status of a SIGKILLed container"
}

test_run_forwards_signals() {
  make_bundle b
  cfg b '.process.args = ["sh", "-c", "trap \"echo got-term; exit 3\" TERM; echo ready; while :; do sleep 0.1; done"]'
  id=$(unique_id fwd)
  "$NOOK" run -b b "$id" >out 2>&1 &
  runner=$!
  wait_for 'grep -q ready out'
  kill -TERM $runner
  status=0
  wait $runner || status=$?
  assert_eq 3 "$status" "status after TERM"
  assert_contains "$(cat out)" got-term
}

test_run_keep_leaves_a_stopped_container() {
  make_bundle b
  cfg b '.process.args = ["sh", "-c", "exit 3"]'
  id=$(unique_id keep)
  "$NOOK" run --keep -b b "$id" || true
  assert_eq stopped "$("$NOOK" state "$id" | jq -r .status)"
  assert_eq 3 "$("$NOOK" state "$id" | jq -r .exitStatus)" "exit status kept in the state"
  "$NOOK" delete "$id"
}

test_list_table_json_quiet() {
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"]'
  id1=$(unique_id lista)
  id2=$(unique_id listb)
  nook_bg create -b b "$id1"
  nook_bg run -d -b b "$id2"
  quiet=$("$NOOK" list -q)
  assert_contains "$quiet" "$id1"
  assert_contains "$quiet" "$id2"
  json=$("$NOOK" list --format json)
  assert_eq created "$(jq -r --arg i "$id1" '.[] | select(.id == $i) | .status' <<<"$json")"
  assert_eq running "$(jq -r --arg i "$id2" '.[] | select(.id == $i) | .status' <<<"$json")"
  table=$("$NOOK" list)
  assert_contains "$table" "ID"
  assert_contains "$(grep "$id2" <<<"$table")" running
  "$NOOK" delete -f "$id1"
  "$NOOK" delete -f "$id2"
}

test_kill_signal_names_and_numbers() {
  make_bundle b
  cfg b '.process.args = ["sh", "-c", "trap \"echo usr1 >> /tmp/sigs\" USR1; trap \"echo hup >> /tmp/sigs\" HUP; trap \"echo term >> /tmp/sigs\" TERM; while :; do sleep 0.05; done"] | .root.readonly = false'
  id=$(unique_id kill)
  nook_bg run -d -b b "$id"
  sleep 0.2
  "$NOOK" kill "$id" USR1
  wait_for 'grep -q usr1 b/rootfs/tmp/sigs 2>/dev/null'
  "$NOOK" kill "$id" SIGHUP
  wait_for 'grep -q hup b/rootfs/tmp/sigs'
  "$NOOK" kill "$id" 15
  wait_for 'grep -q term b/rootfs/tmp/sigs'
  "$NOOK" kill "$id"
  assert_fails "$NOOK" kill "$id" NOTASIGNAL
  assert_contains "$assert_output" "invalid signal \`NOTASIGNAL\`"
  "$NOOK" kill "$id" KILL
  wait_for '[ "$("$NOOK" state "$id" | jq -r .status)" = stopped ]'
  assert_fails "$NOOK" kill "$id" KILL
  # containerd's shim looks for these words to take the task as exited
  assert_contains "$assert_output" "container not running"
  "$NOOK" delete "$id"
}

test_pid_file() {
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"]'
  id=$(unique_id pidf)
  nook_bg create -b b --pid-file "$TEST_TMP/pid" "$id"
  assert_eq "$("$NOOK" state "$id" | jq -r .pid)" "$(cat pid)" "pid file"
  "$NOOK" delete -f "$id"
}

test_many_containers_in_parallel() {
  make_bundle b
  cfg b '.process.args = ["true"]'
  pids=()
  for i in $(seq 1 16); do
    "$NOOK" run -b b "$(unique_id par$i)" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do
    wait "$p" || fail "a parallel run failed"
  done
}

test_same_id_concurrently_only_one_wins() {
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"]'
  id=$(unique_id race)
  ok=0
  pids=()
  for i in 1 2 3 4; do
    "$NOOK" create -b b "$id" </dev/null >/dev/null 2>&1 &
    pids+=($!)
  done
  for p in "${pids[@]}"; do
    if wait "$p"; then ok=$((ok + 1)); fi
  done
  assert_eq 1 "$ok" "creates of one id that succeeded"
  assert_eq created "$("$NOOK" state "$id" | jq -r .status)"
  "$NOOK" delete -f "$id"
}

test_create_killed_midway_is_cleared_by_delete_force() {
  make_bundle b
  # A createRuntime hook that never returns holds create in the middle.
  cat >b/hang.sh <<'EOS'
#!/bin/sh
sleep 1000
EOS
  chmod +x b/hang.sh
  cfg b --arg h "$TEST_TMP/b/hang.sh" '.process.args = ["sleep", "1000"] | .hooks.createRuntime = [{"path": $h}]'
  id=$(unique_id k9)
  "$NOOK" create -b b "$id" </dev/null >/dev/null 2>&1 &
  creator=$!
  wait_for '[ -e "$XDG_RUNTIME_DIR/nook/'"$id"'/state.json" ]'
  pid=$(jq -r .pid "$XDG_RUNTIME_DIR/nook/$id/state.json")
  kill -9 $creator
  wait $creator || true
  pkill -f "$TEST_TMP/b/hang.sh" || true
  "$NOOK" delete --force "$id"
  [ ! -e "$XDG_RUNTIME_DIR/nook/$id" ] || fail "state left behind"
  process_gone "$pid" || fail "init $pid survived delete --force"
}
