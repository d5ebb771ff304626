# Bad input: one clear line, a non-zero exit, and no state left behind.

assert_no_state() {
  [ ! -e "$XDG_RUNTIME_DIR/nook/$1" ] || fail "state of $1 left behind"
}

assert_one_line() {
  assert_eq 1 "$(printf '%s\n' "$assert_output" | wc -l)" "lines of the error: $assert_output"
  assert_contains "$assert_output" "nook: "
}

# assert_refused_at_create BUNDLE ID: create fails in one line (left in
# $assert_output) and run with status 1, neither leaving a state.
assert_refused_at_create() {
  assert_fails "$NOOK" create -b "$1" "$2"
  assert_one_line
  assert_no_state "$2"
  local s=0
  "$NOOK" run -b "$1" "$2" 2>/dev/null || s=$?
  assert_eq 1 "$s" "status of run"
  assert_no_state "$2"
}

test_missing_config() {
  mkdir b
  id=$(unique_id nocfg)
  assert_fails "$NOOK" create -b b "$id"
  assert_one_line
  assert_contains "$assert_output" "no config.json"
  assert_no_state "$id"
}

test_malformed_config() {
  make_bundle b
  echo '{"ociVersion": "1.2.0", "process": {' > b/config.json
  id=$(unique_id badjson)
  assert_fails "$NOOK" create -b b "$id"
  assert_one_line
  assert_contains "$assert_output" "config.json: invalid JSON"
  assert_no_state "$id"
}

test_field_of_the_wrong_type() {
  make_bundle b
  cfg b '.process.args = "sh"'
  id=$(unique_id badtype)
  assert_fails "$NOOK" create -b b "$id"
  assert_one_line
  assert_contains "$assert_output" "process.args"
  assert_no_state "$id"
}

# An unknown capability name fails create (as with runc and crun), not the
# start of the process with the status of a command that was not found.
test_unknown_capability_fails_create() {
  make_bundle b
  cfg b '.process.args = ["true"] | .process.capabilities.bounding += ["CAP_BOGUS"]'
  id=$(unique_id badcap)
  assert_refused_at_create b "$id"
  assert_eq "nook: config.json: process.capabilities.bounding: unknown capability \`CAP_BOGUS\` (names such as CAP_CHOWN)" "$assert_output"
}

# The rootless spec maps one id, written without newgidmap: setgroups is
# denied, so additionalGids fail create itself (not the start, with 127).
test_additional_gids_with_a_single_id_map_fail_create() {
  make_bundle b
  cfg b '.process.args = ["true"] | .process.user.additionalGids = [5]'
  id=$(unique_id gids)
  assert_refused_at_create b "$id"
  assert_contains "$assert_output" "process.user.additionalGids: setgroups is denied"
}

test_rootfs_that_does_not_exist() {
  make_bundle b
  cfg b '.root.path = "nowhere"'
  id=$(unique_id noroot)
  assert_fails "$NOOK" create -b b "$id"
  assert_one_line
  assert_contains "$assert_output" "nowhere"
  assert_no_state "$id"
}

test_command_not_found_fails_create() {
  make_bundle b
  cfg b '.process.args = ["no-such-command"]'
  id=$(unique_id nocmd)
  assert_fails "$NOOK" create -b b "$id"
  assert_one_line
  assert_contains "$assert_output" 'exec: "no-such-command": executable file not found in $PATH'
  assert_no_state "$id"
}

test_duplicate_and_unknown_ids() {
  make_bundle b
  cfg b '.process.args = ["sleep", "100"]'
  id=$(unique_id dup)
  nook_bg create -b b "$id"
  assert_fails "$NOOK" create -b b "$id"
  assert_one_line
  assert_eq "nook: container \"$id\" already exists" "$assert_output"
  assert_eq created "$("$NOOK" state "$id" | jq -r .status)" "the first container is untouched"
  "$NOOK" delete -f "$id"
  for cmd in state start delete kill; do
    assert_fails "$NOOK" $cmd nosuch-container
    assert_eq 'nook: container "nosuch-container" does not exist' "$assert_output" "$cmd"
  done
  # as runc and crun answer the clean-up podman and containerd do after a
  # failed create
  assert_eq "" "$("$NOOK" delete --force nosuch-container 2>&1)" "delete --force of nothing"
}

test_invalid_ids() {
  make_bundle b
  for bad in "a/b" ".." "." "" "with space" ".seccomp-cache"; do
    assert_fails "$NOOK" create -b b "$bad"
    assert_one_line
    assert_contains "$assert_output" "invalid container id"
  done
}

test_bad_signal() {
  make_bundle b
  cfg b '.process.args = ["sleep", "100"]'
  id=$(unique_id badsig)
  nook_bg create -b b "$id"
  for bad in NOPE -1 99999 SIG; do
    assert_fails "$NOOK" kill "$id" "$bad"
    assert_one_line
    assert_contains "$assert_output" "invalid signal"
  done
  assert_eq created "$("$NOOK" state "$id" | jq -r .status)"
  "$NOOK" delete -f "$id"
}

test_unknown_command_and_option() {
  assert_fails "$NOOK" frobnicate
  assert_one_line
  assert_contains "$assert_output" "unknown command \`frobnicate\`"
  assert_fails "$NOOK" create --bogus x
  assert_one_line
  assert_contains "$assert_output" "unknown option"
}

test_terminal_without_console_socket() {
  make_bundle b
  cfg b '.process.terminal = true'
  id=$(unique_id tty)
  assert_fails "$NOOK" create -b b "$id"
  assert_one_line
  assert_contains "$assert_output" "--console-socket"
  assert_no_state "$id"
}

test_uid_map_outside_the_subordinate_range() {
  make_bundle b
  cfg b --argjson uid "$(id -u)" '.linux.uidMappings = [{"containerID": 0, "hostID": $uid, "size": 1}, {"containerID": 1, "hostID": 3000000, "size": 10}]'
  id=$(unique_id badmap)
  assert_fails "$NOOK" create -b b "$id"
  assert_one_line
  assert_contains "$assert_output" "3000000-3000009"
  assert_contains "$assert_output" "/etc/subuid"
  assert_no_state "$id"
}

test_state_root_writable_by_others_is_refused() {
  mkdir -p rt/nook
  chmod 0777 rt/nook
  status=0
  out=$(XDG_RUNTIME_DIR=$TEST_TMP/rt "$NOOK" list 2>&1) || status=$?
  assert_eq 1 "$status" "exit status"
  assert_contains "$out" "is writable by others"
}

# A state.json that no longer parses: delete names it; delete --force
# removes it and says that its processes were not stopped (nook cannot find
# them without the state).
test_corrupt_state() {
  make_bundle b
  cfg b '.process.args = ["sleep", "100"]'
  id=$(unique_id corrupt)
  "$NOOK" run -d -b b "$id" </dev/null >/dev/null 2>&1
  local pid
  pid=$("$NOOK" state "$id" | jq -r .pid)
  echo '{bad' >"$XDG_RUNTIME_DIR/nook/$id/state.json"
  assert_fails "$NOOK" delete "$id"
  assert_one_line
  assert_contains "$assert_output" "state of container \"$id\" is corrupt"
  [ -e "$XDG_RUNTIME_DIR/nook/$id" ] || fail "delete without --force removed the state"
  local out
  out=$("$NOOK" delete --force "$id" 2>&1)
  assert_contains "$out" "removed without stopping its processes"
  assert_no_state "$id"
  kill -9 "$pid"
}
