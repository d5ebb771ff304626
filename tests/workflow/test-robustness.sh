# nook loses nothing and leaves no half state when something breaks: a
# launch killed at any moment, parallel launches of one name, rm racing stop.

TEST_TIMEOUT=120
source "$NOOK_SRC/tests/workflow/launch-lib.sh"

# run_killed_at STAGE SIGNAL NOOK-ARGS...: runs `nook --debug NOOK-ARGS` and
# sends it SIGNAL as soon as it prints "stage STAGE" (nook goes on for a few
# microseconds more: the tests hold for wherever the signal lands). Its
# stderr is in stages.log; whatever else holds that stream keeps a reader.
run_killed_at() {
  local stage=$1 sig=$2 line hit=0
  shift 2
  rm -f stages
  mkfifo stages
  "$NOOK" --debug "$@" </dev/null >>container.out 2>stages &
  local pid=$!
  exec {fifo}<stages
  while IFS= read -r line <&$fifo; do
    echo "$line" >>stages.log
    if [[ $line == *"stage $stage "* ]]; then
      kill -"$sig" "$pid"
      hit=1
      break
    fi
  done
  # a container (or its monitor) that lives on may still write to it
  cat <&$fifo >>stages.log &
  exec {fifo}<&-
  [ $hit = 1 ] || fail "nook never printed stage '$stage'"
  killed_pid=$pid
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
  "$NOOK" rm -f "$id" >/dev/null || fail "rm -f $id failed after the kill"
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
  if [ "$sig" != KILL ]; then
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
  local stage
  for stage in "rootfs prepared" "bundle written" "state dir ready" clone3 "id maps" \
    "cgroup joined" "init ready" released; do
    echo "--- SIGKILL at $stage"
    kill_launch_at "$stage" KILL
  done
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
    assert_recovers "$id" "$secs"
  done
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
