# Namespaces: each new one really is new, `path` joins an existing one (also
# a user namespace together with others, as pods do), time offsets apply.

ns_of() { readlink "/proc/$1/ns/$2"; }

test_new_namespaces_differ_from_the_host() {
  make_bundle b
  cfg b '.process.args = ["sleep", "100"] | .linux.namespaces += [{"type": "network"}, {"type": "time"}]'
  id=$(unique_id ns)
  nook_bg create -b b "$id"
  pid=$("$NOOK" state "$id" | jq -r .pid)
  for ns in user mnt pid net uts ipc cgroup time; do
    [ "$(ns_of "$pid" $ns)" != "$(ns_of $$ $ns)" ] || fail "$ns namespace is the host's"
  done
  "$NOOK" delete -f "$id"
}

test_cgroup_namespace_shows_the_container_cgroup_as_root() {
  make_bundle b
  cfg b '.process.args = ["grep", "^0::", "/proc/self/cgroup"]'
  assert_eq "0::/" "$("$NOOK" run -b b "$(unique_id cgns)")"
}

test_join_user_net_and_ipc_namespaces_of_another_container() {
  make_bundle a
  cfg a '.process.args = ["sleep", "100"] | .linux.namespaces += [{"type": "network"}]'
  ida=$(unique_id poda)
  nook_bg create -b a "$ida"
  pida=$("$NOOK" state "$ida" | jq -r .pid)

  make_bundle b
  cfg b --arg p "$pida" '.process.args = ["sleep", "100"]
    | del(.linux.uidMappings, .linux.gidMappings)
    | .linux.namespaces = [{"type": "user", "path": "/proc/\($p)/ns/user"},
                           {"type": "network", "path": "/proc/\($p)/ns/net"},
                           {"type": "ipc", "path": "/proc/\($p)/ns/ipc"},
                           {"type": "pid"}, {"type": "mount"}, {"type": "uts"}]'
  idb=$(unique_id podb)
  nook_bg create -b b "$idb"
  pidb=$("$NOOK" state "$idb" | jq -r .pid)
  for ns in user net ipc; do
    assert_eq "$(ns_of "$pida" $ns)" "$(ns_of "$pidb" $ns)" "joined $ns namespace"
  done
  for ns in pid mnt uts; do
    [ "$(ns_of "$pida" $ns)" != "$(ns_of "$pidb" $ns)" ] || fail "$ns namespace should be new"
  done
  "$NOOK" start "$idb"
  assert_eq running "$("$NOOK" state "$idb" | jq -r .status)"
  "$NOOK" delete -f "$idb"
  "$NOOK" delete -f "$ida"
}

test_time_namespace_offsets() {
  make_bundle b
  cfg b '.linux.namespaces += [{"type": "time"}] | .linux.timeOffsets = {"boottime": {"secs": 864000, "nanosecs": 0}} | .process.args = ["cat", "/proc/uptime"]'
  up=$("$NOOK" run -b b "$(unique_id time)" | cut -d. -f1)
  [ "$up" -ge 864000 ] || fail "uptime $up does not carry the boottime offset"
}

test_joining_a_namespace_that_does_not_exist() {
  make_bundle b
  cfg b '.linux.namespaces += [{"type": "network", "path": "/proc/999999999/ns/net"}]'
  id=$(unique_id nons)
  assert_fails "$NOOK" create -b b "$id"
  assert_contains "$assert_output" "open the network namespace \`/proc/999999999/ns/net\`"
  [ ! -e "$XDG_RUNTIME_DIR/nook/$id" ] || fail "state left behind"
}
