# Global options as runc's clients pass them.

test_version_lines_as_clients_parse_them() {
  out=$("$NOOK" --version)
  assert_eq "nook version" "$(sed -n 1p <<<"$out" | cut -d' ' -f1-2)"
  assert_contains "$(sed -n 2p <<<"$out")" "commit: "
  assert_eq "spec: 1.2.0" "$(sed -n 3p <<<"$out")"
  assert_contains "$(sed -n 4p <<<"$out")" "+SECCOMP"
}

test_every_command_has_help() {
  for cmd in create start run state kill delete list spec features; do
    out=$("$NOOK" "$cmd" --help)
    assert_contains "$out" "Usage: nook $cmd" "$cmd --help"
  done
}

test_json_log_carries_the_error() {
  status=0
  "$NOOK" --log "$TEST_TMP/log.json" --log-format json state no-such-one 2>/dev/null || status=$?
  assert_eq 1 "$status" "exit status"
  line=$(tail -n1 log.json)
  assert_eq error "$(jq -r .level <<<"$line")" level
  assert_eq 'container "no-such-one" does not exist' "$(jq -r .msg <<<"$line")" msg
  [ -n "$(jq -r .time <<<"$line")" ] || fail "no time in the log line"
}

test_text_log_and_debug() {
  make_bundle b
  cfg b '.process.args = ["true"]'
  "$NOOK" --debug --log "$TEST_TMP/log.txt" run -b b "$(unique_id dbg)"
  "$NOOK" --log "$TEST_TMP/log.txt" state nope 2>/dev/null || true
  assert_contains "$(cat log.txt)" 'error: container "nope" does not exist'
}

test_root_option_keeps_state_apart() {
  make_bundle b
  cfg b '.process.args = ["sleep", "100"]'
  id=$(unique_id root)
  nook_bg --root "$TEST_TMP/state" create -b b "$id"
  [ -f state/$id/state.json ] || fail "no state under --root"
  assert_fails "$NOOK" state "$id"
  assert_eq created "$("$NOOK" --root "$TEST_TMP/state" state "$id" | jq -r .status)"
  "$NOOK" --root "$TEST_TMP/state" delete -f "$id"
}

test_bad_global_options() {
  assert_fails "$NOOK" --log-format yaml list
  assert_contains "$assert_output" "--log-format"
  assert_fails "$NOOK" --cgroup-manager foo list
  assert_contains "$assert_output" "--cgroup-manager"
  assert_fails "$NOOK" --rootless maybe list
  assert_contains "$assert_output" "--rootless"
}

# `nook help` as runc and podman have it: the command list, or a command's
# options; an unknown command in one line.
test_help_command() {
  assert_eq "$("$NOOK" --help)" "$("$NOOK" help)" "nook help"
  assert_eq "$("$NOOK" stop --help)" "$("$NOOK" help stop)" "nook help stop"
  assert_fails "$NOOK" help nosuch
  assert_eq "nook: help: unknown command \`nosuch\` (see 'nook --help')" "$assert_output"
  assert_contains "$("$NOOK" __complete words -- help st)" "stop" "help completes commands"
}

# An option given last without its value is named as such, in one line,
# for every command (getopt's ':'), not called unknown; an unknown one is.
test_option_without_value_named_as_such() {
  local args
  while read -r args; do
    # shellcheck disable=SC2086
    assert_fails "$NOOK" $args
    assert_eq 1 "$(wc -l <<<"$assert_output")" "one line for nook $args"
    assert_contains "$assert_output" "option \`${args##* }\` needs a value" "nook $args"
  done <<'LIST'
--root
stop -t
containers --format
logs --since
exec -e
list -f
run -b
create --pid-file
update -r
ps -f
spec -b
events --interval
attach --detach-keys
launch --mount
LIST
  assert_fails "$NOOK" stop -x id
  assert_contains "$assert_output" "unknown option \`-x\`"
}
