# Limits that take effect: run where the container's cgroup has the
# controllers (the VM stage, tests/vm/run, boots a guest where it does).
# Elsewhere each test skips, saying which controller is missing.

TEST_TIMEOUT=200
DRIVER="$NOOK_BUILD/tests/cgroup-driver"

cgroup_of() { sed -n 's/^0:://p' "/proc/$1/cgroup"; }
init_pid() { "$NOOK" state "$1" | jq -r .pid; }

# need_controllers CTRL...: skips unless the cgroups nook makes here get them
# (the systemd user manager's delegated ones, or our cgroupfs subtree's).
need_controllers() {
  local own base have c
  own=$(cgroup_of $$)
  base=$(sed -n 's#^\(.*/user@[0-9]*\.service\)/.*#\1#p' <<<"$own")
  [ -n "$base" ] || base=${own%/*}
  have=$(cat "/sys/fs/cgroup$base/cgroup.controllers" 2>/dev/null || true)
  for c in "$@"; do
    case " $have " in
      *" $c "*) ;;
      *) skip "the $c controller is not available to this user's cgroups (the VM stage has it: tests/vm/run)" ;;
    esac
  done
}

# Starts a container running ARGS (JSON array) with RESOURCES; sets $id, $cg.
start_with() { # RESOURCES ARGS_JSON
  id=$(unique_id lim)
  make_bundle b
  cfg b --argjson r "$1" --argjson a "$2" '.linux.resources = $r | .process.args = $a'
  "$NOOK" run -d -b b "$id"
  cg=$(cgroup_of "$(init_pid "$id")")
}

test_memory_limit_oom_kills_an_allocation_over_it() {
  need_controllers memory
  local status
  make_bundle b
  # dd allocates (and fills) a 200 MB buffer.
  cfg b '.process.args = ["dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"]
    | .linux.resources = {"memory": {"limit": 52428800, "swap": 52428800}}'
  status=0
  "$NOOK" run -b b "$(unique_id lim)" 2>err || status=$?
  cat err
  assert_eq 137 "$status" "exit status of a 200 MB allocation under a 50M limit (SIGKILL)"
  # The control: the same allocation under a limit it fits in.
  cfg b '.linux.resources = {"memory": {"limit": 314572800}}'
  "$NOOK" run -b b "$(unique_id lim)" || fail "200 MB under a 300M limit failed"
}

test_pids_limit_stops_forks() {
  need_controllers pids
  local id cg
  # busybox sh gives up at a failed fork; the init outlives the one that does.
  start_with '{"pids": {"limit": 10}}' \
    '["sh", "-c", "sh -c \"for i in \\$(seq 1 30); do sleep 100 & done\" 2>/dev/null; exec sleep 100"]'
  local i
  for i in $(seq 1 100); do
    grep -q '^max [1-9]' "/sys/fs/cgroup$cg/pids.events" && break
    sleep 0.2
  done
  grep -q '^max [1-9]' "/sys/fs/cgroup$cg/pids.events" ||
    fail "no fork failed: pids.events $(cat "/sys/fs/cgroup$cg/pids.events"), pids.current $(cat "/sys/fs/cgroup$cg/pids.current")"
  [ "$(cat "/sys/fs/cgroup$cg/pids.current")" -le 10 ] || fail "pids.current $(cat "/sys/fs/cgroup$cg/pids.current") > 10"
  assert_eq 10 "$(cat "/sys/fs/cgroup$cg/pids.max")" pids.max
  "$NOOK" delete -f "$id"
}

test_cpu_weight_quota_and_cpuset_reach_the_files() {
  need_controllers cpu cpuset
  local id cg
  start_with '{"cpu": {"shares": 512, "quota": 20000, "period": 100000, "cpus": "0"}}' '["sleep", "100"]'
  assert_eq 59 "$(cat "/sys/fs/cgroup$cg/cpu.weight")" cpu.weight
  assert_eq "20000 100000" "$(cat "/sys/fs/cgroup$cg/cpu.max")" cpu.max
  assert_eq 0 "$(cat "/sys/fs/cgroup$cg/cpuset.cpus")" cpuset.cpus
  "$NOOK" delete -f "$id"
}

test_io_weight_reaches_the_files() {
  need_controllers io
  local id cg
  start_with '{"blockIO": {"weight": 500}}' '["sleep", "100"]'
  assert_eq "default 4950" "$(head -1 "/sys/fs/cgroup$cg/io.weight")" io.weight
  "$NOOK" delete -f "$id"
}

# update: `nook update` once it exists, the module through the driver until then.
update_resources() { # ID CGROUP FILE
  if "$NOOK" update --help >/dev/null 2>&1; then
    "$NOOK" update --resources "$3" "$1"
  else
    "$DRIVER" update --path "$2" --unit "$(basename "$2")" "$3"
  fi
}

test_update_changes_a_live_limit() {
  need_controllers memory pids
  local id cg
  start_with '{"memory": {"limit": 52428800}, "pids": {"limit": 20}}' '["sleep", "100"]'
  assert_eq 52428800 "$(cat "/sys/fs/cgroup$cg/memory.max")" "memory.max before"
  echo '{"memory": {"limit": 104857600}, "pids": {"limit": 40}}' >r.json
  update_resources "$id" "$cg" r.json
  assert_eq 104857600 "$(cat "/sys/fs/cgroup$cg/memory.max")" "memory.max after update"
  assert_eq 40 "$(cat "/sys/fs/cgroup$cg/pids.max")" "pids.max after update"
  case "$cg" in
    *.scope) assert_eq 104857600 "$(systemctl --user show -P MemoryMax "$(basename "$cg")")" \
      "the scope's MemoryMax (kept by systemd)" ;;
  esac
  "$NOOK" delete -f "$id"
}

test_stats_report_usage() {
  need_controllers memory pids cpu
  local id cg stats
  start_with '{"memory": {"limit": 104857600}}' \
    '["sh", "-c", "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; sleep 100 & wait"]'
  wait_for "[ \"\$(wc -l < /sys/fs/cgroup$cg/cgroup.procs)\" -ge 2 ]" 20
  if "$NOOK" events --help >/dev/null 2>&1; then
    stats=$("$NOOK" events --stats "$id" | jq -c .data)
  else
    stats=$("$DRIVER" stats --path "$cg")
  fi
  echo "$stats"
  jq -e '.memory.usage.usage > 0' <<<"$stats" >/dev/null || fail "no memory usage"
  assert_eq 104857600 "$(jq .memory.usage.limit <<<"$stats")" memory.usage.limit
  jq -e '.cpu.usage.total > 0' <<<"$stats" >/dev/null || fail "no cpu usage"
  assert_eq 2 "$(jq .pids.current <<<"$stats")" pids.current
  "$NOOK" delete -f "$id"
}

# What systemd has no property for is written into the delegated scope.
test_unified_burst_and_io_throttle_reach_the_scope() {
  need_controllers memory cpu io
  local id cg dev major minor
  dev=$(cat /sys/block/vda/dev 2>/dev/null || cat "$(ls -d /sys/block/*/dev | grep -v -e loop -e ram | head -1)")
  major=${dev%:*}
  minor=${dev#*:}
  start_with "{\"unified\": {\"memory.high\": \"41943040\"},
               \"cpu\": {\"quota\": 50000, \"period\": 100000, \"burst\": 10000},
               \"blockIO\": {\"throttleReadBpsDevice\": [{\"major\": $major, \"minor\": $minor, \"rate\": 1048576}]}}" \
    '["sleep", "100"]'
  assert_eq 41943040 "$(cat "/sys/fs/cgroup$cg/memory.high")" memory.high
  assert_eq 10000 "$(cat "/sys/fs/cgroup$cg/cpu.max.burst")" cpu.max.burst
  assert_eq "50000 100000" "$(cat "/sys/fs/cgroup$cg/cpu.max")" cpu.max
  assert_contains "$(cat "/sys/fs/cgroup$cg/io.max")" "$major:$minor rbps=1048576"
  case "$cg" in
    *.scope) assert_eq 41943040 "$(systemctl --user show -P MemoryHigh "$(basename "$cg")")" MemoryHigh ;;
  esac
  "$NOOK" delete -f "$id"
}
