# nook loses nothing and leaves no half state when something breaks: a
# launch killed at any moment, parallel launches of one name, rm racing stop.

TEST_TIMEOUT=120
source "$NOOK_SRC/tests/workflow/launch-lib.sh"

# run_killed_at STAGE SIGNAL NOOK-ARGS...: runs `nook --debug NOOK-ARGS`,
# which stops itself at "stage STAGE" (NOOK_DEBUG_STOP_AT), sends it SIGNAL
# there and lets it go on; $killed_pid is its pid. Its stderr is in
# stages.log.
run_killed_at() {
  local stage=$1 sig=$2
  shift 2
  # (as from a terminal: bash starts a background command with SIGINT ignored)
  NOOK_DEBUG_STOP_AT=$stage env --default-signal=INT "$NOOK" --debug "$@" </dev/null \
    >>container.out 2>>stages.log &
  killed_pid=$!
  wait_for "stopped_or_gone $killed_pid"
  process_gone "$killed_pid" && fail "nook ended before stage '$stage': $(tail -3 stages.log)"
  kill -"$sig" "$killed_pid"
  kill -CONT "$killed_pid" 2>/dev/null || true
}

stopped_or_gone() { # PID
  process_gone "$1" || [ "$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status")" = T ]
}

cgroup_of_id_gone() { # ID
  [ -z "$(find /sys/fs/cgroup -name "*$1*" 2>/dev/null)" ]
}

processes_of_id_gone() { # ID: no process names it (nook-net, the monitor, FUSE)
  local pid
  for pid in $(pgrep -u "$(id -u)" -f -- "$1"); do
    process_gone "$pid" || return 1
  done
}

# After an interrupted launch of ID: the list is truthful and quiet, rm -f
# clears everything, and the name works again.
assert_recovers() { # ID SLEEP-ARG
  local id=$1 out
  out=$("$NOOK" containers -a 2>&1) || fail "containers -a failed: $out"
  case "$out" in *nook:*) fail "containers -a printed an error: $out" ;; esac
  # (fails only when what was killed had removed it all already)
  "$NOOK" rm -f "$id" >/dev/null 2>rm.err ||
    assert_contains "$(cat rm.err)" "container \"$id\" does not exist" "rm -f after the kill"
  # a launch that lived on (its signal went to the container) ends with it,
  # and holds the name until then
  [ -z "${killed_pid:-}" ] || wait_for "process_gone $killed_pid"
  assert_nothing_left "$id"
  wait_for "cgroup_of_id_gone $id" 10
  wait_for "processes_of_id_gone $id" 10
  ! pgrep -u "$(id -u)" -f "sleep $2" >/dev/null || fail "the container's process is left"
  assert_eq relaunched "$("$NOOK" launch --rm --name "$id" bb:1 echo relaunched 2>&1)" \
    "a new launch of the name"
  assert_nothing_left "$id"
}

kill_launch_at() { # STAGE SIGNAL [LAUNCH-OPTIONS...]
  local stage=$1 sig=$2 id secs=$((1000 + RANDOM))
  shift 2
  id=$(unique_id kill)
  run_killed_at "$stage" "$sig" "${globals[@]}" launch --name "$id" "$@" bb:1 sleep "$secs"
  if [ "$sig" = KILL ]; then
    # (a kill is sent, not done: the dying launch holds its name a moment)
    wait_for "process_gone $killed_pid"
  else
    # The launch either stopped (undoing what it made) or passed the signal
    # on to the container's init, which as pid 1 ignores it and runs on.
    wait_for "process_gone $killed_pid || [ \"\$(launch_status $id 2>/dev/null)\" = running ]"
  fi
  assert_recovers "$id" "$secs"
  wait "$killed_pid" || true
}
globals=()

test_launch_killed_at_each_stage() {
  make_launch_image
  local stage stages=("rootfs prepared" "bundle written" "state dir ready" clone3 "id maps"
    "cgroup joined" "init ready" released)
  if systemctl --user is-system-running >/dev/null 2>&1; then
    stages+=("systemd: scope asked for" "systemd: scope job queued")
  fi
  for stage in "${stages[@]}"; do
    echo "--- SIGKILL at $stage"
    kill_launch_at "$stage" KILL
  done
}

# A launch under way is listed as created; killed while it creates the
# container, the list says it was interrupted.
test_interrupted_creation_listed() {
  make_launch_image
  local id secs=$((1000 + RANDOM)) launch
  id=$(unique_id int)
  NOOK_DEBUG_STOP_AT="state dir ready" "$NOOK" --debug launch --name "$id" bb:1 sleep "$secs" \
    </dev/null >>container.out 2>>stages.log &
  launch=$!
  wait_for "stopped_or_gone $launch"
  assert_contains "$("$NOOK" containers -a | grep "^$id ")" " Created "
  kill -KILL $launch
  wait $launch || true
  assert_contains "$("$NOOK" containers -a | grep "^$id ")" "Created (interrupted: rm -f it)"
  assert_recovers "$id" "$secs"
}

test_launch_killed_at_each_stage_cgroupfs() {
  make_launch_image
  globals=(--cgroup-manager cgroupfs)
  local stage
  for stage in "state dir ready" clone3 "cgroupfs: moved" released; do
    echo "--- SIGKILL at $stage"
    kill_launch_at "$stage" KILL
  done
}

test_launch_interrupted_by_int_and_term() {
  make_launch_image
  local sig stage
  for sig in INT TERM; do
    for stage in "state dir ready" clone3 released; do
      echo "--- SIG$sig at $stage"
      kill_launch_at "$stage" "$sig"
    done
  done
}

# Interrupted (ctrl-c, SIGTERM, SIGHUP) while it makes the rootfs and the
# bundle, a launch removes them and ends by that signal: nothing is left
# for anyone to find, with or without a name.
test_launch_interrupted_before_the_container() {
  make_launch_image
  local sig stage mode id status
  for sig in INT TERM HUP; do
    for stage in "rootfs prepared" "bundle written"; do
      for mode in "" -d; do
        echo "--- SIG$sig of launch $mode at $stage"
        id=$(unique_id intr)
        run_killed_at "$stage" "$sig" launch $mode --name "$id" bb:1 true
        status=0
        wait "$killed_pid" || status=$?
        assert_eq $((128 + $(kill -l "$sig"))) "$status" "exit status of the interrupted launch"
        assert_nothing_left "$id"
      done
    done
  done
}

# A launch that fails before it makes anything keeps nothing, not even the
# lock on its name.
test_failed_launch_leaves_nothing() {
  make_launch_image
  local id
  id=$(unique_id fail)
  assert_fails "$NOOK" launch --name "$id" --pull never nosuch:1 true
  assert_nothing_left "$id"
  assert_fails "$NOOK" launch --name "$id" bb:1 /no/such/command
  assert_nothing_left "$id"
}

# launch -d killed before its monitor runs; the monitor killed while the
# container starts and while it runs.
test_detached_launch_killed() {
  make_launch_image
  echo "--- SIGKILL of launch -d at bundle written"
  kill_launch_at "bundle written" KILL -d
  echo "--- SIGKILL of launch -d --rm at bundle written"
  kill_launch_at "bundle written" KILL -d --rm
  local id secs=$((1000 + RANDOM)) monitor rm
  for rm in "" --rm; do
    echo "--- SIGKILL of the monitor of launch -d $rm"
    id=$(unique_id mon)
    "$NOOK" launch -d $rm --name "$id" bb:1 sleep "$secs" >/dev/null
    monitor=$(pgrep -o -u "$(id -u)" -f -- "launch .*--name $id ")
    [ -n "$monitor" ] || fail "no monitor process for $id"
    kill -KILL $monitor
    wait_for "process_gone $monitor"
    killed_pid=
    assert_recovers "$id" "$secs"
  done
}

# The monitor killed and then the container ends: wait says the status is
# lost and why, rather than blaming the user.
test_monitor_killed_wait_says_why() {
  make_launch_image
  local id monitor
  id=$(unique_id mw)
  "$NOOK" launch -d --name "$id" bb:1 sh -c 'sleep 0.5; exit 3' >/dev/null
  monitor=$(pgrep -o -u "$(id -u)" -f -- "launch .*--name $id ")
  kill -KILL "$monitor"
  assert_fails "$NOOK" wait "$id"
  assert_eq "nook: container \`$id\` stopped, but its exit status was lost: the nook process that watched it (its monitor) was killed" "$assert_output"
  "$NOOK" rm "$id" >/dev/null
  assert_nothing_left "$id"
}

# Parallel launches of one name: exactly one wins, every other says the name
# is in use in one line, and the winner's container is whole.
test_parallel_launch_of_one_name() {
  make_launch_image
  local id i ok=0
  id=$(unique_id same)
  for i in $(seq 1 6); do
    "$NOOK" launch -d --name "$id" bb:1 sleep 300 >"out.$i" 2>"err.$i" </dev/null &
  done
  wait
  for i in $(seq 1 6); do
    if [ -s "out.$i" ]; then
      ok=$((ok + 1))
      assert_eq "" "$(cat "err.$i")" "stderr of the winner"
    else
      assert_eq 1 "$(wc -l <"err.$i")" "lines of a loser's error: $(cat "err.$i")"
      assert_contains "$(cat "err.$i")" "already in use"
    fi
  done
  assert_eq 1 $ok "launches that won"
  assert_eq running "$(launch_status "$id")"
  assert_eq hi "$("$NOOK" exec "$id" echo hi)" "exec in the winner"
  "$NOOK" rm -f "$id" >/dev/null
  assert_nothing_left "$id"
}

# What a CI runner does: many short containers at once, each removed after.
parallel_rm_launches() { # GLOBAL-OPTIONS...
  make_launch_image
  local i failed=0 ids=()
  for i in $(seq 1 30); do
    ids[i]=$(unique_id par)
    {
      "$NOOK" "$@" launch --rm --name "${ids[i]}" bb:1 echo "ran $i" >"out.$i" 2>"err.$i" </dev/null
      echo $? >"status.$i"
    } &
  done
  wait
  for i in $(seq 1 30); do
    [ "$(cat "status.$i")" = 0 ] || { failed=$((failed + 1)); echo "launch $i: exit $(cat "status.$i")"; }
  done
  for i in $(seq 1 30); do
    assert_eq "ran $i" "$(cat "out.$i")" "output of launch $i ($(cat "err.$i"))"
    assert_eq "" "$(cat "err.$i")" "stderr of launch $i"
    assert_nothing_left "${ids[i]}"
  done
  assert_eq 0 $failed "launches that failed"
}

test_parallel_rm_launches_cgroupfs() {
  parallel_rm_launches --cgroup-manager cgroupfs
}

test_parallel_rm_launches_systemd() {
  systemctl --user is-system-running >/dev/null 2>&1 || skip "no systemd user manager"
  parallel_rm_launches --cgroup-manager systemd
}

# rm -f and stop of one container at once: both succeed, nothing is left.
test_rm_racing_stop() {
  make_launch_image
  local i id
  for i in 1 2 3; do
    id=$(unique_id race)
    "$NOOK" launch -d --name "$id" bb:1 sleep 300 >/dev/null
    "$NOOK" stop -t 1 "$id" >stop.out 2>stop.err &
    local stop=$!
    "$NOOK" rm -f "$id" >/dev/null 2>rm.err || fail "rm -f failed: $(cat rm.err)"
    wait $stop || case "$(cat stop.err)" in
      *"does not exist"*) ;;
      *) fail "stop failed otherwise than finding it gone: $(cat stop.err)" ;;
    esac
    assert_nothing_left "$id"
    wait_for "processes_of_id_gone $id" 10
  done
}

# The list while containers come and go: never an error about one that
# just went.
test_containers_while_they_come_and_go() {
  make_launch_image
  local i lister
  (
    for i in $(seq 1 40); do
      "$NOOK" containers -a >/dev/null 2>>list.err || echo "exit $?" >>list.err
      "$NOOK" containers -a --format json >/dev/null 2>>list.err || echo "exit $?" >>list.err
    done
  ) &
  lister=$!
  for i in $(seq 1 8); do
    "$NOOK" launch --rm bb:1 true &
    "$NOOK" launch -d --rm bb:1 true >/dev/null &
  done
  wait $lister
  wait
  assert_eq "" "$(cat list.err 2>/dev/null)" "errors of containers"
}

# run_full_sh: runs ./full.sh (which mounts a small tmpfs on ./full, exiting
# 99 when it cannot) as root of a user and mount namespace of its own.
run_full_sh() {
  local status=0
  NOOK=$NOOK unshare -Urm bash full.sh || status=$?
  [ $status != 99 ] || skip "cannot mount a tmpfs in a user namespace"
  [ $status = 0 ] || fail "full.sh failed ($status)"
}

# assert_disk_full_error WHAT TEXT: the command that wrote WHAT.status and
# WHAT.err failed on the full disk in one line containing TEXT.
assert_disk_full_error() {
  [ "$(cat "$1.status")" != 0 ] || fail "$1 succeeded on a full disk"
  # (as root of the test's user namespace nook warns that it has no subordinate ids)
  assert_eq 1 "$(grep -vc 'warning: no subordinate ids' "$1.err")" \
    "lines of the $1 error: $(cat "$1.err")"
  assert_contains "$(cat "$1.err")" "$2"
}

# A full state root (XDG_RUNTIME_DIR on a small tmpfs): launch and create
# fail with one line naming where the disk is full, and leave nothing.
test_full_state_root() {
  make_launch_image
  make_bundle b
  cat >full.sh <<'EOF2'
mkdir -p full && mount -t tmpfs -o size=256k tmpfs full || exit 99
mkdir full/state
dd if=/dev/zero of=full/fill bs=4k 2>/dev/null
"$NOOK" --root full/state launch --rm --name fl bb:1 echo hi >launch.out 2>launch.err
echo $? >launch.status
"$NOOK" --root full/state create -b b cr >create.out 2>create.err
echo $? >create.status
(cd full/state && find . -mindepth 1 ! -name .launch) >left
true
EOF2
  run_full_sh
  assert_disk_full_error launch "disk full: no space left in \`$TEST_TMP/full/state/"
  assert_disk_full_error create "disk full: no space left in \`$TEST_TMP/full/state/"
  assert_eq "" "$(cat left)" "files left in the full state root"
}

# A full image store (XDG_DATA_HOME on a small tmpfs): launch and import
# fail with one line naming the full store, and leave nothing in it.
test_full_image_store() {
  make_launch_image
  mkdir state
  chmod 700 state
  head -c 2M /dev/urandom >blob
  tar -cf big.tar blob
  umoci tag --image oci:bb big >/dev/null
  umoci raw add-layer --image oci:big big.tar >/dev/null
  cat >full.sh <<'EOF2'
mkdir -p full && mount -t tmpfs -o size=16m tmpfs full || exit 99
export NOOK_STORAGE=$PWD/full/store
"$NOOK" image import oci:bb bb:1 >/dev/null 2>&1 || exit 98
blobs_before=$(find full/store/blobs -type f | sort)
dd if=/dev/zero of=full/fill bs=4k 2>/dev/null
"$NOOK" --root "$PWD/state" launch --rm --name fs bb:1 echo hi >launch.out 2>launch.err
echo $? >launch.status
"$NOOK" image import oci:big big:1 >import.out 2>import.err
echo $? >import.status
{ find full/store/containers full/store/tmp -mindepth 1
  [ "$blobs_before" = "$(find full/store/blobs -type f | sort)" ] || echo "new blobs"
  "$NOOK" image ls | grep -v -e '^NAME' -e '^bb:1 ' || true; } >left 2>&1
EOF2
  run_full_sh
  assert_disk_full_error launch "disk full: no space left in \`$TEST_TMP/full/store/"
  assert_disk_full_error import "into the image store \`$TEST_TMP/full/store\`: free some space"
  assert_eq "" "$(cat left)" "what the failures left in the store"
}

# The network helper killed under a running container: the container's log
# says so in one line, and rm -f still clears everything.
test_network_helper_killed_is_logged() {
  net_available
  make_launch_image
  local id root net
  id=$(unique_id net)
  root=${XDG_RUNTIME_DIR:-/tmp/nook-$(id -u)}/nook
  "$NOOK" launch -d --name "$id" bb:1 sleep 300 >/dev/null
  net=$(jq -r .netHelperPid "$root/$id/state.json")
  [ "$net" -gt 0 ] || fail "no network helper recorded for $id"
  kill -KILL "$net"
  wait_for "\"\$NOOK\" logs $id 2>&1 | grep -q 'nook-net'"
  local logs
  logs=$("$NOOK" logs "$id" 2>&1)
  assert_eq 1 "$(grep -c nook-net <<<"$logs")" "lines about nook-net in: $logs"
  assert_contains "$logs" "nook: nook-net (pid $net) was killed by signal 9: the container has no network any more"
  assert_eq running "$(launch_status "$id")"
  "$NOOK" rm -f "$id" >/dev/null
  assert_nothing_left "$id"
  wait_for "processes_of_id_gone $id"
}

# slow_proxy PORT TARGET-PORT: a loopback TCP proxy that passes what comes
# back at about 8 MB/s, so that a pull is surely killed mid-transfer.
slow_proxy() {
  python3 - "$1" "$2" <<'PY' &
import asyncio, sys
async def pipe(r, w, slow):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
            if slow:
                await asyncio.sleep(len(data) / 8e6)
    finally:
        w.close()
async def serve(cr, cw):
    ur, uw = await asyncio.open_connection("127.0.0.1", int(sys.argv[2]))
    await asyncio.gather(pipe(cr, uw, False), pipe(ur, cw, True), return_exceptions=True)
async def main():
    s = await asyncio.start_server(serve, "127.0.0.1", int(sys.argv[1]))
    await s.serve_forever()
asyncio.run(main())
PY
  echo $! >proxy.pid
  wait_for "curl -sf http://127.0.0.1:$1/v2/ >/dev/null"
}

# A pull killed mid-transfer: the store trusts nothing of it, prune clears
# what it wrote, and a retry gets the whole image.
test_pull_killed_midway() {
  command -v docker-registry >/dev/null || skip "docker-registry is not installed"
  make_launch_image
  head -c 24M /dev/urandom >blob
  tar -cf big.tar blob
  umoci tag --image oci:bb big >/dev/null
  umoci raw add-layer --image oci:big big.tar >/dev/null
  start_registry
  local port
  port=$(free_port)
  slow_proxy "$port" "${REGISTRY##*:}"
  trap 'stop_registry; kill $(cat proxy.pid)' EXIT
  skopeo copy -q --dest-tls-verify=false oci:oci:big "docker://$REGISTRY/big:1"
  local ref=127.0.0.1:$port/big:1
  "$NOOK" image pull --tls-verify=false "$ref" >pull.out 2>&1 &
  local pull=$!
  # killed while the big layer is on its way
  wait_for "find '$NOOK_STORAGE/tmp' -name '*.part' -size +1M 2>/dev/null | grep -q ." 20
  kill -KILL $pull
  wait $pull || true
  assert_eq "" "$("$NOOK" image ls | grep big || true)" "a half-pulled image listed"
  assert_fails "$NOOK" launch --rm --pull never "$ref" true
  "$NOOK" image prune >/dev/null
  assert_eq "" "$(ls -A "$NOOK_STORAGE/tmp")" "what the killed pull left in the store's tmp"
  "$NOOK" image pull --tls-verify=false "$ref" >/dev/null 2>&1 || fail "the retry failed"
  assert_eq "25165824 /blob" "$("$NOOK" launch --rm "$ref" wc -c /blob)"
}

# rm -f itself killed midway: another rm -f finishes the job.
test_rm_killed_midway() {
  make_launch_image
  local stage id secs
  for stage in "rm: killed" "rm: rootfs removed" "rm: bundle removed" "delete: network stopped" \
    "delete: cgroup removed"; do
    echo "--- SIGKILL of rm -f at $stage"
    id=$(unique_id rmk)
    secs=$((1000 + RANDOM))
    "$NOOK" launch -d --name "$id" bb:1 sleep "$secs" >/dev/null
    run_killed_at "$stage" KILL rm -f "$id"
    wait "$killed_pid" || true
    assert_recovers "$id" "$secs"
  done
}
