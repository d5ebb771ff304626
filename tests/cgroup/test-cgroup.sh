# Cgroups: a systemd scope per container with the limits asked for, the
# cgroupfs and disabled fallbacks, freeze, kill, stats, update, removal.
#
# This machine's cgroup2 has no memory/pids/cpu controllers: here the tests
# check what nook asked systemd for (the scope's properties) and that it
# says which limits did not take effect; tests/cgroup/test-vm.sh checks the
# limits themselves in a VM with every controller.

DRIVER="$NOOK_BUILD/tests/cgroup-driver"

need_user_manager() {
  local s
  s=$(systemctl --user is-system-running 2>/dev/null) || true
  case "$s" in
    running | degraded) ;;
    *) skip "no systemd user manager on the user bus (is-system-running: ${s:-no answer})" ;;
  esac
}

cgroup_of() { sed -n 's/^0:://p' "/proc/$1/cgroup"; }
# The commands on top of the module (pause, resume, update, events, ps) once
# they exist; the module through the driver until then.
has_command() { "$NOOK" "$1" --help >/dev/null 2>&1; }
init_pid() { "$NOOK" state "$1" | jq -r .pid; }
unit_prop() { systemctl --user show -P "$2" "$1"; }

# A bundle whose process appends a line to /out/n (a host directory) forever:
# the line count is its progress.
counter_bundle() {
  make_bundle b
  mkdir -p out
  cfg b --arg out "$PWD/out" '.process.args = ["sh", "-c", "i=0; while :; do i=$((i+1)); echo $i >> /out/n; sleep 0.02; done"]
    | .mounts += [{"destination": "/out", "type": "bind", "source": $out, "options": ["rbind", "rw"]}]'
}

test_systemd_scope_carries_the_limits() {
  need_user_manager
  local id pid
  id=$(unique_id cg)
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"]
    | .linux.resources = {"memory": {"limit": 52428800, "reservation": 10485760},
                          "pids": {"limit": 20},
                          "cpu": {"shares": 512, "quota": 50000, "period": 100000},
                          "blockIO": {"weight": 500}}'
  "$NOOK" run -d -b b "$id" 2>err || fail "run: $(cat err)"
  pid=$(init_pid "$id")
  local unit="nook-$id.scope"
  assert_eq active "$(unit_prop "$unit" ActiveState)" "$unit ActiveState"
  assert_eq 52428800 "$(unit_prop "$unit" MemoryMax)" MemoryMax
  assert_eq 10485760 "$(unit_prop "$unit" MemoryLow)" MemoryLow
  assert_eq 20 "$(unit_prop "$unit" TasksMax)" TasksMax
  assert_eq 59 "$(unit_prop "$unit" CPUWeight)" "CPUWeight (crun's mapping of 512 shares)"
  assert_eq 500ms "$(unit_prop "$unit" CPUQuotaPerSecUSec)" CPUQuotaPerSecUSec
  assert_eq 100ms "$(unit_prop "$unit" CPUQuotaPeriodUSec)" CPUQuotaPeriodUSec
  assert_eq 4950 "$(unit_prop "$unit" IOWeight)" IOWeight
  assert_eq yes "$(unit_prop "$unit" Delegate)" Delegate
  local cg
  cg=$(unit_prop "$unit" ControlGroup)
  assert_eq "$cg" "$(cgroup_of "$pid")" "/proc/$pid/cgroup"
  case "$cg" in */user.slice/"$unit") ;; *) fail "scope cgroup $cg is not in user.slice" ;; esac
  # Where a controller is missing nook says so, in one line naming the limits.
  if ! grep -qw memory "/sys/fs/cgroup$cg/cgroup.controllers"; then
    assert_eq 1 "$(grep -c 'limits not applied' err)" "warning lines"
    assert_contains "$(cat err)" "memory.limit"
    assert_contains "$(cat err)" "pids.limit"
  fi
  "$NOOK" delete -f "$id"
  wait_for "[ \"\$(unit_prop $unit LoadState)\" = not-found ]" 5
  [ ! -d "/sys/fs/cgroup$cg" ] || fail "cgroup $cg is still there after delete"
  # A killed process may stay a zombie for a moment, until its parent reaps it.
  wait_for "! grep -qs '^State:.*[RSD]' /proc/$pid/status" 5
}

test_cgroups_path_names_slice_and_scope() {
  need_user_manager
  local id pid
  id=$(unique_id cg)
  make_bundle b
  cfg b --arg p "nooktests.slice:nt:$id" '.process.args = ["sleep", "1000"] | .linux.cgroupsPath = $p'
  "$NOOK" run -d -b b "$id"
  pid=$(init_pid "$id")
  assert_eq active "$(unit_prop "nt-$id.scope" ActiveState)" "nt-$id.scope"
  case "$(cgroup_of "$pid")" in
    */nooktests.slice/nt-"$id".scope) ;;
    *) fail "container cgroup is $(cgroup_of "$pid"), want .../nooktests.slice/nt-$id.scope" ;;
  esac
  "$NOOK" delete -f "$id"
  wait_for "[ \"\$(unit_prop nt-$id.scope LoadState)\" = not-found ]" 5
}

test_systemd_property_annotations_reach_the_scope() {
  need_user_manager
  local id
  id=$(unique_id cg)
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"]
    | .annotations["org.systemd.property.TimeoutStopUSec"] = "uint64 123000000"
    | .annotations["org.systemd.property.CollectMode"] = "'"'inactive'"'"'
  "$NOOK" run -d -b b "$id"
  assert_eq "2min 3s" "$(unit_prop "nook-$id.scope" TimeoutStopUSec)" TimeoutStopUSec
  assert_eq inactive "$(unit_prop "nook-$id.scope" CollectMode)" CollectMode
  "$NOOK" delete -f "$id"
  # A value that is not GVariant text is refused, naming the annotation.
  id=$(unique_id cg)
  cfg b '.annotations = {"org.systemd.property.TimeoutStopUSec": "soon"}'
  assert_fails "$NOOK" run -b b "$id"
  assert_contains "$assert_output" "org.systemd.property.TimeoutStopUSec"
}

test_bad_cgroups_path_is_refused() {
  need_user_manager
  local id
  id=$(unique_id cg)
  make_bundle b
  cfg b '.linux.cgroupsPath = "a:b"'
  assert_fails "$NOOK" --cgroup-manager systemd run -b b "$id"
  assert_contains "$assert_output" "slice:prefix:name"
}

test_container_sees_its_cgroup_as_root() {
  need_user_manager
  local id out
  id=$(unique_id cg)
  make_bundle b
  cfg b '.process.args = ["grep", "^0::", "/proc/self/cgroup"]'
  out=$("$NOOK" run -b b "$id")
  assert_eq "0::/" "$out" "/proc/self/cgroup in the container"
  # An emptied scope is stopped by systemd itself, at once or just after.
  wait_for "[ \"\$(unit_prop nook-$id.scope LoadState)\" = not-found ]" 5
}

# The init waits for its scope only before what depends on it: hooks run
# with the init in the scope, and inside its cgroup namespace.
test_hooks_see_the_init_in_its_scope() {
  need_user_manager
  local id
  id=$(unique_id cg)
  make_bundle b
  # createContainer runs in the container's namespaces (before pivot_root):
  # the init's own view of its cgroup.
  cat >hook.sh <<EOS
#!/bin/sh
pid=\$(sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
[ "\$1" = createContainer ] && pid=self
sed -n 's/^0:://p' /proc/\$pid/cgroup > $TEST_TMP/\$1
EOS
  chmod +x hook.sh
  cfg b --arg h "$TEST_TMP/hook.sh" '.process.args = ["true"]
    | .hooks = {"prestart": [{"path": $h, "args": ["hook", "prestart"]}],
                "createRuntime": [{"path": $h, "args": ["hook", "createRuntime"]}],
                "createContainer": [{"path": $h, "args": ["hook", "createContainer"]}]}'
  "$NOOK" --cgroup-manager systemd run -b b "$id"
  assert_eq / "$(cat createContainer)" "createContainer hook's cgroup"
  for hook in prestart createRuntime; do
    case "$(cat "$hook")" in
      */nook-"$id".scope) ;;
      *) fail "$hook hook saw the init in $(cat "$hook"), not in nook-$id.scope" ;;
    esac
  done
}

# The cgroup mount is made last (the init waits for its cgroup only then),
# still cgroup2 and read-only, and namespaced: the rootless spec has no
# network namespace, so /sys is the host's, bound with its cgroup2 mount,
# and the container's own view must cover it (the root of the mount is the
# container's cgroup, holding only its own process).
test_container_cgroup_mount_is_read_only_cgroup2() {
  local manager out
  make_bundle b
  cfg b '.process.args = ["sh", "-c", "grep \" /sys/fs/cgroup \" /proc/self/mountinfo | tail -n 1; grep -qx 1 /sys/fs/cgroup/cgroup.procs && echo init-at-the-root; mkdir /sys/fs/cgroup/x && echo writable"]'
  for manager in systemd cgroupfs; do
    [ $manager = cgroupfs ] || need_user_manager
    out=$("$NOOK" --cgroup-manager $manager run -b b "$(unique_id cg)" 2>&1) || true
    assert_contains "$out" " - cgroup2 " "$manager: the mount at /sys/fs/cgroup"
    assert_contains "$(head -n 1 <<<"$out" | cut -d' ' -f6)" "ro" "$manager: its options"
    assert_eq / "$(head -n 1 <<<"$out" | cut -d' ' -f4)" "$manager: the root of the cgroup2 mount"
    assert_contains "$out" "init-at-the-root" "$manager: the init in the root cgroup.procs of its /sys/fs/cgroup"
    case "$out" in *writable*) fail "$manager: /sys/fs/cgroup is writable in the container" ;; esac
  done
}

# A masked /sys/fs/cgroup stays masked: the cgroup mount keeps its place
# before the masks then.
test_masked_cgroup_mount_stays_masked() {
  make_bundle b
  cfg b '.process.args = ["sh", "-c", "ls /sys/fs/cgroup | wc -l"] | .linux.maskedPaths += ["/sys/fs/cgroup"]'
  assert_eq 0 "$("$NOOK" --cgroup-manager cgroupfs run -b b "$(unique_id cg)" | tr -d ' ')" \
    "entries in the masked /sys/fs/cgroup"
}

test_no_limits_asked_no_warning() {
  local id
  id=$(unique_id cg)
  make_bundle b
  cfg b '.process.args = ["true"] | del(.linux.resources)'
  "$NOOK" run -b b "$id" 2>err || fail "run: $(cat err)"
  assert_eq "" "$(cat err)" "stderr of a run without limits"
}

test_freeze_stops_progress_and_thaw_resumes() {
  need_user_manager
  local id pid cg a b
  id=$(unique_id cg)
  counter_bundle
  "$NOOK" run -d -b b "$id"
  pid=$(init_pid "$id")
  wait_for '[ -s out/n ]'
  cg=$(cgroup_of "$pid")
  if has_command pause; then
    "$NOOK" pause "$id"
  else
    "$DRIVER" freeze --path "$cg" --unit "nook-$id.scope"
  fi
  assert_eq true "$("$DRIVER" frozen --path "$cg")" frozen
  assert_eq paused "$("$NOOK" state "$id" | jq -r .status)" "state of a frozen container"
  a=$(wc -l <out/n)
  sleep 0.5
  b=$(wc -l <out/n)
  assert_eq "$a" "$b" "counter while frozen"
  if has_command resume; then
    "$NOOK" resume "$id"
  else
    "$DRIVER" thaw --path "$cg" --unit "nook-$id.scope"
  fi
  assert_eq false "$("$DRIVER" frozen --path "$cg")" frozen
  wait_for '[ "$(wc -l <out/n)" -gt "$b" ]' 5
  "$NOOK" delete -f "$id"
}

test_kill_all_leaves_no_process() {
  need_user_manager
  local id pid cg
  id=$(unique_id cg)
  make_bundle b
  cfg b '.process.args = ["sh", "-c", "sleep 1000 & sleep 1000 & sh -c \"sleep 1000\" & wait"]'
  "$NOOK" run -d -b b "$id"
  pid=$(init_pid "$id")
  cg=$(cgroup_of "$pid")
  wait_for '[ "$(wc -l < /sys/fs/cgroup$cg/cgroup.procs)" -ge 4 ]'
  "$NOOK" kill --all "$id" KILL
  wait_for '[ -z "$(cat /sys/fs/cgroup$cg/cgroup.procs 2>/dev/null)" ]'
  "$NOOK" delete -f "$id"
  [ ! -d "/sys/fs/cgroup$cg" ] || fail "cgroup $cg left after delete"
}

test_delete_after_the_container_died_removes_the_scope() {
  need_user_manager
  local id cg
  id=$(unique_id cg)
  make_bundle b
  mkdir out
  # It ends on its own once told to, after its cgroup was looked at.
  cfg b --arg out "$PWD/out" '.process.args = ["sh", "-c", "while [ ! -e /out/go ]; do sleep 0.05; done"]
    | .mounts += [{"destination": "/out", "type": "bind", "source": $out, "options": ["rbind", "rw"]}]'
  "$NOOK" run -d -b b "$id"
  cg=$(cgroup_of "$(init_pid "$id")")
  touch out/go
  wait_for '[ "$("$NOOK" state "$id" | jq -r .status)" = stopped ]'
  "$NOOK" delete "$id"
  [ ! -d "/sys/fs/cgroup$cg" ] || fail "cgroup $cg left after delete"
  wait_for "[ \"\$(unit_prop nook-$id.scope LoadState)\" = not-found ]" 5
}

test_stats_and_pids_read_the_cgroup() {
  need_user_manager
  local id pid cg stats
  id=$(unique_id cg)
  make_bundle b
  cfg b '.process.args = ["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 1000 & wait"]'
  "$NOOK" run -d -b b "$id"
  pid=$(init_pid "$id")
  cg=$(cgroup_of "$pid")
  wait_for '[ "$(wc -l < /sys/fs/cgroup$cg/cgroup.procs)" -ge 2 ]'
  if has_command events; then
    stats=$("$NOOK" events --stats "$id" | jq -c .data)
  else
    stats=$("$DRIVER" stats --path "$cg" --unit "nook-$id.scope")
  fi
  jq -e '.cpu.usage.total > 0' <<<"$stats" >/dev/null || fail "no cpu usage in $stats"
  assert_eq 2 "$(jq .pids.current <<<"$stats")" pids.current
  if has_command ps; then
    assert_eq "$("$NOOK" ps --format json "$id" | jq -c 'sort')" \
      "$(sort -n "/sys/fs/cgroup$cg/cgroup.procs" | jq -sc .)" "ps --format json"
  else
    assert_eq "$("$DRIVER" pids --path "$cg" | sort -n | head -1)" "$pid" "first pid"
  fi
  "$NOOK" delete -f "$id"
}

test_update_changes_the_scope() {
  need_user_manager
  local id cg
  id=$(unique_id cg)
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"] | .linux.resources = {"pids": {"limit": 20}}'
  "$NOOK" run -d -b b "$id" 2>/dev/null
  cg=$(cgroup_of "$(init_pid "$id")")
  echo '{"pids": {"limit": 30}}' >r.json
  update() {
    if has_command update; then
      "$NOOK" update --resources r.json "$id"
    else
      "$DRIVER" update --path "$cg" --unit "nook-$id.scope" r.json
    fi
  }
  if grep -qw pids "/sys/fs/cgroup$cg/cgroup.controllers"; then
    update
    assert_eq 30 "$(unit_prop "nook-$id.scope" TasksMax)" TasksMax
    assert_eq 30 "$(cat "/sys/fs/cgroup$cg/pids.max")" pids.max
  else
    # Without the controller an update must fail, saying why.
    assert_fails update
    assert_contains "$assert_output" "pids.limit"
    assert_contains "$assert_output" "controllers not available"
  fi
  "$NOOK" delete -f "$id"
}

test_explicit_manager_refuses_limits_it_cannot_apply() {
  need_user_manager
  local id manager
  id=$(unique_id cg)
  make_bundle b
  # swappiness has no cgroup v2 equivalent anywhere; the memory limit has none
  # where the memory controller is not delegated.
  cfg b '.process.args = ["true"] | .linux.resources = {"memory": {"limit": 52428800, "swappiness": 10}}'
  assert_fails "$NOOK" --cgroup-manager systemd run -b b "$id"
  assert_contains "$assert_output" "memory.swappiness"
  manager=$(sed -n 's#^\(.*/user@[0-9]*\.service\)/.*#\1#p' <<<"$(cgroup_of $$)")
  if ! grep -qw memory "/sys/fs/cgroup$manager/cgroup.controllers"; then
    assert_contains "$assert_output" "memory.limit"
  fi
  wait_for "[ \"\$(unit_prop nook-$id.scope LoadState)\" = not-found ]" 5
  "$NOOK" state "$id" >/dev/null 2>&1 && fail "a refused create left state behind"
  true
}

# Without a user bus nook makes the cgroup itself in the delegated subtree.
test_no_user_bus_falls_back_to_cgroupfs() {
  local id pid own cg
  id=$(unique_id cg)
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"] | .linux.resources = {"pids": {"limit": 20}}'
  mkdir -p rt root
  own=$(cgroup_of $$)
  env -u DBUS_SESSION_BUS_ADDRESS XDG_RUNTIME_DIR="$PWD/rt" \
    "$NOOK" --root "$PWD/root" run -d -b b "$id" 2>err || fail "run: $(cat err)"
  pid=$("$NOOK" --root "$PWD/root" state "$id" | jq -r .pid)
  cg=$(cgroup_of "$pid")
  assert_eq "${own%/*}/nook-$id" "$cg" "cgroup of a container without a user bus"
  if ! grep -qw pids "/sys/fs/cgroup$cg/cgroup.controllers"; then
    assert_eq 1 "$(wc -l <err)" "stderr lines"
    assert_contains "$(cat err)" "limits not applied: pids.limit"
  fi
  "$NOOK" --root "$PWD/root" delete -f "$id"
  [ ! -d "/sys/fs/cgroup$cg" ] || fail "cgroup $cg left after delete"
}

# No user bus and no delegated subtree: no cgroup, and one line saying why.
test_nothing_delegated_runs_without_cgroup() {
  local id own box out
  id=$(unique_id cg)
  make_bundle b
  cfg b '.process.args = ["grep", "^0::", "/proc/self/cgroup"] | .linux.resources = {"pids": {"limit": 20}}'
  mkdir -p rt root
  own=$(cgroup_of $$)
  box="/sys/fs/cgroup$own/nook-test-$id"
  mkdir -p "$box/leaf"
  # The run's own cgroup is box/leaf; its parent box is made read-only.
  chmod 0555 "$box"
  out=$(
    echo $BASHPID >"$box/leaf/cgroup.procs"
    exec env -u DBUS_SESSION_BUS_ADDRESS XDG_RUNTIME_DIR="$PWD/rt" \
      "$NOOK" --root "$PWD/root" run -b b "$id" 2>err
  ) || {
    chmod 0755 "$box"
    fail "run: $(cat err)"
  }
  chmod 0755 "$box"
  rmdir "$box/leaf" "$box" 2>/dev/null || true
  cat err
  assert_eq 1 "$(wc -l <err)" "stderr lines"
  assert_contains "$(cat err)" "without a cgroup"
  assert_contains "$(cat err)" "not delegated"
  assert_contains "$(cat err)" "limits not applied: pids.limit"
  assert_eq "0::/" "$out" "the container's cgroup"
}

# On a hybrid (v1) hierarchy there is no cgroup2 at /sys/fs/cgroup: nook says so.
test_no_cgroup2_says_why() {
  local out
  echo '{"memory": {"limit": 52428800}}' >r.json
  out=$(unshare -Urm sh -c 'mount -t tmpfs none /sys/fs/cgroup &&
    exec env -u DBUS_SESSION_BUS_ADDRESS "$0" enter --rootless --resources r.json cg-v1 -- true' \
    "$DRIVER" 2>&1) || fail "enter: $out"
  echo "$out"
  assert_contains "$out" "without a cgroup"
  assert_contains "$out" "/sys/fs/cgroup is not cgroup v2"
  assert_contains "$out" "limits not applied: memory.limit"
  assert_contains "$out" '"manager":"disabled"'
}
