# nook launch and its companions (logs, wait, stop, rm, containers): an image
# imported from an OCI layout made here, run as a developer or a CI job would.
TEST_TIMEOUT=120

source "$NOOK_SRC/tests/workflow/launch-lib.sh"

test_run_imported_image() {
  make_launch_image
  assert_eq hi "$("$NOOK" launch --rm --name "$(unique_id run)" bb:1 echo hi)" "output"
  local id
  id=$(unique_id run2)
  assert_eq from-image-cmd "$("$NOOK" launch --rm --name "$id" bb:1)" "the image's command"
  assert_nothing_left "$id"
  # without --rm the stopped container stays, with its exit code
  "$NOOK" launch --name "$id" bb:1 sh -c 'exit 4' || true
  assert_eq stopped "$(launch_status "$id")"
  assert_eq 4 "$("$NOOK" state "$id" | jq -r .exitStatus)" "exit status in the state"
  "$NOOK" rm "$id" >/dev/null
  assert_nothing_left "$id"
}

test_image_config_and_flags() {
  make_launch_image
  local out
  out=$("$NOOK" launch --rm bb:1 sh -c 'echo $FOO $PWD $(id -u):$(id -g) $HOME')
  assert_eq "from-image /srv 0:0 /root" "$out" "env, workdir, user from the image"
  out=$("$NOOK" launch --rm -u app -e FOO=flag -e NEW=1 -w /tmp bb:1 sh -c 'echo $FOO $NEW $PWD $(id -u):$(id -g) $HOME')
  assert_eq "flag 1 /tmp 1000:1000 /home/app" "$out" "flags over the image"
  printf 'A=from-file\n# comment\n\nB=2\n' >envs
  out=$("$NOOK" launch --rm --env-file envs -u 1000:0 bb:1 sh -c 'echo $A $B $(id -u):$(id -g)')
  assert_eq "from-file 2 1000:0" "$out" "env file and numeric user"
  out=$("$NOOK" launch --rm --entrypoint echo bb:1 a b)
  assert_eq "a b" "$out" "entrypoint"
  out=$("$NOOK" launch --rm --hostname box --net none bb:1 sh -c 'hostname; cat /etc/hostname; grep -c box /etc/hosts')
  assert_eq "box box 1" "$(echo $out)" "hostname and /etc files"
  out=$("$NOOK" launch --rm bb:1 cat /etc/resolv.conf)
  assert_contains "$out" "nameserver 10.0.2.3" "resolv.conf with slirp"
  out=$("$NOOK" launch --rm --userns keep-id --net none bb:1 id -u)
  assert_eq "$(id -u)" "$out" "keep-id"
  assert_fails "$NOOK" launch --rm -u nobody-here bb:1 true
  assert_contains "$assert_output" "unable to find user nobody-here"
}

test_default_security() {
  make_launch_image
  local out
  out=$("$NOOK" launch --rm bb:1 sh -c 'grep -E "^(Seccomp|CapEff):" /proc/self/status')
  # podman's eleven capabilities
  assert_contains "$out" "CapEff:	00000000800405fb" "default capabilities"
  if [ -r /usr/share/containers/seccomp.json ]; then
    assert_contains "$out" "Seccomp:	2" "default seccomp profile"
  fi
  out=$("$NOOK" launch --rm --security-opt seccomp=unconfined --cap-drop ALL --cap-add NET_RAW bb:1 \
    grep -E "^(Seccomp|CapEff):" /proc/self/status)
  assert_contains "$out" "Seccomp:	0" "unconfined"
  assert_contains "$out" "CapEff:	0000000000002000" "only NET_RAW"
  "$NOOK" launch --rm --read-only bb:1 sh -c 'touch /x' 2>err && fail "wrote to a read-only rootfs"
  assert_contains "$(cat err)" "Read-only file system"
}

test_init_reaps_zombies() {
  make_launch_image
  [ -x /usr/bin/catatonit ] || skip "catatonit is not installed (scripts/install-deps)"
  local out
  out=$("$NOOK" launch --rm --init bb:1 sh -c 'cat /proc/1/cmdline | tr "\0" " "; echo; (sleep 0 &); sleep 0.3; ps -o stat | grep -c Z || true')
  assert_contains "$out" "/run/nook-init -- sh -c" "pid 1 is the init"
  assert_eq 0 "$(echo "$out" | tail -1)" "zombies left"
}

test_tty_session_through_a_pty() {
  make_launch_image
  local out
  out=$(printf 'echo typed-$((40+2))\nexit 5\n' |
    script -qec "\"$NOOK\" launch --rm -it bb:1 sh -c 'tty; stty size; exec sh'" /dev/null) || true
  assert_contains "$out" "/dev/pts/0" "a terminal inside"
  assert_contains "$out" "typed-42" "input relayed"
  local status=0
  script -qec "\"$NOOK\" launch --rm -t bb:1 sh -c 'exit 3'" /dev/null </dev/null >/dev/null || status=$?
  assert_eq 3 "$status" "exit status through the pty"
}

test_exit_codes() {
  make_launch_image
  local s
  s=0; "$NOOK" launch --rm no-such-image true 2>err || s=$?
  assert_eq 125 "$s" "unknown image"
  assert_eq 1 "$(wc -l <err)" "one error line"
  assert_contains "$(cat err)" "nook image import"
  s=0; "$NOOK" launch --no-such-flag bb:1 true 2>err || s=$?
  assert_eq 125 "$s" "bad flag"
  s=0; "$NOOK" launch -p nonsense bb:1 true 2>err || s=$?
  assert_eq 125 "$s" "bad port"
  s=0; "$NOOK" launch --rm bb:1 /srv/noexec 2>err || s=$?
  assert_eq 126 "$s" "not executable"
  s=0; "$NOOK" launch --rm bb:1 no-such-command 2>err || s=$?
  assert_eq 127 "$s" "not found"
  assert_contains "$(cat err)" 'exec: "no-such-command": executable file not found in $PATH'
  s=0; "$NOOK" launch --rm bb:1 sh -c 'exit 42' || s=$?
  assert_eq 42 "$s" "the command's own"
  # the same through a terminal: the init's error comes before the pty is used
  s=0; script -qec "\"$NOOK\" launch --rm -it bb:1 no-such-command" /dev/null >out </dev/null || s=$?
  assert_eq 127 "$s" "not found, -it"
  assert_contains "$(cat out)" 'executable file not found in $PATH'
  s=0; "$NOOK" launch --rm -t bb:1 /srv/noexec >out 2>&1 </dev/null || s=$?
  assert_eq 126 "$s" "not executable, -t"
  s=0; "$NOOK" launch --rm -t bb:1 no-such-command >out 2>&1 </dev/null || s=$?
  assert_eq 127 "$s" "not found, -t"
  assert_eq 'nook: exec: "no-such-command": executable file not found in $PATH' "$(cat out)"
  # An init that fails with the runtime's "cgroup ready" unread leaves
  # ECONNRESET before its error; a few rounds catch that race often.
  local i
  for i in 1 2 3 4 5 6 7 8; do
    s=0; "$NOOK" launch --rm -t bb:1 /srv/noexec >out 2>&1 </dev/null || s=$?
    assert_eq 126 "$s" "not executable, -t, round $i: $(cat out)"
  done
  local id
  id=$(unique_id dup)
  "$NOOK" launch -d --name "$id" bb:1 sleep 30 >/dev/null
  s=0; "$NOOK" launch --name "$id" bb:1 true 2>err || s=$?
  assert_eq 125 "$s" "name in use"
  assert_contains "$(cat err)" "already in use"
  "$NOOK" rm -f "$id" >/dev/null
  assert_nothing_left "$id"
  # failures leave nothing
  assert_eq "" "$(ls "$NOOK_STORAGE/containers")" "rootfs dirs after failures"
}

test_volume_written_inside_read_outside() {
  make_launch_image
  mkdir vol
  echo from-host >vol/in
  "$NOOK" launch --rm -v "$TEST_TMP/vol:/data" bb:1 sh -c 'cat /data/in; echo from-ctr >/data/out; stat -c %u /data/in'
  assert_eq from-ctr "$(cat vol/out)" "file written inside"
  assert_eq "$(id -u)" "$(stat -c %u vol/out)" "owned by the user on the host"
  assert_eq 0 "$("$NOOK" launch --rm -v "$TEST_TMP/vol:/data" bb:1 stat -c %u /data/in)" "owned by root inside"
  assert_fails "$NOOK" launch --rm -v "$TEST_TMP/vol:/data:ro" bb:1 touch /data/new
  "$NOOK" launch --rm --tmpfs /scratch:size=1m bb:1 sh -c 'grep " /scratch " /proc/mounts' >m
  assert_contains "$(cat m)" "tmpfs" "tmpfs"
}

test_detached_logs_wait_stop_rm() {
  make_launch_image
  local id out
  id=$("$NOOK" launch -d bb:1 sh -c 'echo out1; echo err1 >&2; sleep 1; echo out2; exit 7')
  [[ $id =~ ^[0-9a-f]{12}$ ]] || fail "generated id '$id' is not 12 hex digits"
  assert_eq 7 "$("$NOOK" wait "$id")" "wait"
  assert_eq "out1 out2" "$(echo $("$NOOK" logs "$id" 2>/dev/null))" "stdout in the log"
  assert_eq "err1" "$("$NOOK" logs "$id" 2>&1 >/dev/null)" "stderr in the log"
  assert_eq "" "$("$NOOK" logs --since 2030-01-01T00:00:00Z "$id" 2>&1)" "--since a later time"
  assert_eq 3 "$("$NOOK" logs --since 1h "$id" 2>&1 | wc -l)" "--since an hour"
  assert_eq 3 "$("$NOOK" logs "$id" --since 1h 2>&1 | wc -l)" "--since after the id"
  # stdout and stderr into one pipe keep the log's order
  local mixed
  mixed=$("$NOOK" launch -d bb:1 sh -c 'echo o1; sleep 0.2; echo e1 >&2; sleep 0.2; echo o2
    sleep 0.2; echo e2 >&2')
  "$NOOK" wait "$mixed" >/dev/null
  assert_eq "o1 e1 o2 e2" "$(echo $("$NOOK" logs "$mixed" 2>&1 | cat))" "logs 2>&1 in order"
  "$NOOK" rm "$mixed" >/dev/null
  out=$("$NOOK" state "$id")
  assert_eq 7 "$(jq -r .exitStatus <<<"$out")" "exit status in state"
  jq -e '.finished | test("^20")' <<<"$out" >/dev/null || fail "no finish time in state: $out"
  "$NOOK" rm "$id" >/dev/null
  assert_nothing_left "$id"

  # follow a running one; stop it (TERM ignored by a pid 1 shell: KILL)
  id=$("$NOOK" launch -d bb:1 sh -c 'i=0; while true; do echo tick$i; i=$((i+1)); sleep 0.2; done')
  "$NOOK" logs "$id" -f >follow.out &
  local follower=$!
  wait_for 'grep -q tick2 follow.out'
  assert_fails "$NOOK" rm "$id"
  assert_contains "$assert_output" "is running"
  local t0=$SECONDS
  "$NOOK" stop "$id" -t 1 >/dev/null
  [ $((SECONDS - t0)) -lt 5 ] || fail "stop ID -t 1 took $((SECONDS - t0)) s"
  wait "$follower" || fail "logs -f did not end with the container"
  assert_eq 137 "$("$NOOK" wait "$id")" "killed"
  # with --init, SIGTERM ends it at once
  local id2
  id2=$("$NOOK" launch -d --init bb:1 sleep 100)
  t0=$SECONDS
  "$NOOK" stop "$id2" >/dev/null
  [ $((SECONDS - t0)) -lt 5 ] || fail "stop of an init took $((SECONDS - t0)) s"
  "$NOOK" rm "$id" "$id2" >/dev/null
  assert_nothing_left "$id"
  assert_nothing_left "$id2"
  # --rm with -d: gone by itself
  id=$("$NOOK" launch -d --rm bb:1 true)
  wait_for "[ ! -e \"\${XDG_RUNTIME_DIR}/nook/$id\" ]"
  assert_nothing_left "$id"
}

test_container_survives_its_creators_shell() {
  make_launch_image
  local id pid
  id=$(unique_id surv)
  setsid bash -c "\"$NOOK\" launch -d --name $id bb:1 sleep 60 >/dev/null; sleep 60" &
  local shell=$!
  wait_for "\"$NOOK\" state $id 2>/dev/null | grep -q running"
  kill -KILL -- -"$shell" 2>/dev/null || kill -KILL "$shell"
  sleep 0.5
  assert_eq running "$(launch_status "$id")" "after its shell was killed"
  pid=$("$NOOK" state "$id" | jq -r .pid)
  "$NOOK" rm -f "$id" >/dev/null
  process_gone "$pid" || fail "the init $pid is alive after rm -f"
  assert_nothing_left "$id"
}

test_limits_reach_the_scope() {
  make_launch_image
  systemctl --user is-system-running >/dev/null 2>&1 ||
    [ "$(systemctl --user is-system-running 2>/dev/null)" = degraded ] ||
    skip "no systemd user manager"
  local id
  id=$(unique_id lim)
  "$NOOK" launch -d --name "$id" --memory 64m --pids-limit 40 --cpus 0.5 bb:1 sleep 30 >/dev/null
  local props
  props=$(systemctl --user show "nook-$id.scope" -p MemoryMax -p TasksMax -p CPUQuotaPerSecUSec)
  "$NOOK" rm -f "$id" >/dev/null
  assert_contains "$props" "MemoryMax=67108864" "memory"
  assert_contains "$props" "TasksMax=40" "pids"
  assert_contains "$props" "CPUQuotaPerSecUSec=500ms" "cpus"
}

test_containers_list() {
  make_launch_image
  local a b
  a=$(unique_id lista)
  b=$(unique_id listb)
  "$NOOK" launch -d --name "$a" bb:1 sleep 30 >/dev/null
  "$NOOK" launch --name "$b" bb:1 sh -c 'exit 2' || true
  local table
  table=$("$NOOK" containers)
  assert_contains "$(head -1 <<<"$table")" "ID"
  for col in IMAGE COMMAND STATUS CREATED PORTS; do
    assert_contains "$(head -1 <<<"$table")" "$col"
  done
  assert_contains "$table" "$a"
  assert_contains "$table" '"sleep 30"'
  assert_contains "$table" "Up "
  [[ $table != *"$b"* ]] || fail "a stopped container in the list without -a"
  table=$("$NOOK" containers -a)
  assert_contains "$(grep "$b" <<<"$table")" "Exited (2)"
  local json
  json=$("$NOOK" containers -a --format json)
  assert_eq "bb:1" "$(jq -r --arg id "$a" '.[] | select(.Id == $id) | .Image' <<<"$json")" "image"
  assert_eq "running" "$(jq -r --arg id "$a" '.[] | select(.Id == $id) | .State' <<<"$json")" "state"
  assert_eq 2 "$(jq -r --arg id "$b" '.[] | select(.Id == $id) | .ExitCode' <<<"$json")" "exit code"
  "$NOOK" rm -f "$a" "$b" >/dev/null
}

test_detached_web_server_on_a_published_port() {
  make_launch_image
  net_available
  local port id
  port=$(free_port)
  id=$("$NOOK" launch -d -p "127.0.0.1:$port:8080" bb:1 httpd -f -p 8080 -h /srv)
  wait_for "python3 -c 'import urllib.request,sys; sys.exit(0 if b\"hello-web\" in urllib.request.urlopen(\"http://127.0.0.1:$port/\", timeout=2).read() else 1)' 2>/dev/null" 15
  assert_contains "$("$NOOK" containers)" "127.0.0.1:$port->8080/tcp" "ports column"
  assert_eq "127.0.0.1 $port 8080 tcp" \
    "$("$NOOK" containers --format json | jq -r --arg id "$id" \
      '.[] | select(.Id == $id) | .Ports[] | "\(.host_ip) \(.host_port) \(.container_port) \(.protocol)"')" \
    "ports in the JSON list, as podman's objects"
  "$NOOK" stop -t 1 "$id" >/dev/null
  "$NOOK" rm "$id" >/dev/null
  assert_nothing_left "$id"
  # the network helper went with it
  ! python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null ||
    fail "port $port still open after rm"
}

# keep-id runs the init as a subordinate id until it execs: the network
# helper gets the init's namespace from nook instead of /proc/PID/ns.
test_keep_id_with_slirp() {
  make_launch_image
  net_available
  local out port id
  out=$("$NOOK" launch --rm --userns keep-id bb:1 sh -c 'id -u; id -g; ip -o -4 addr show tap0')
  assert_eq "$(id -u)" "$(sed -n 1p <<<"$out")" "uid inside"
  assert_eq "$(id -g)" "$(sed -n 2p <<<"$out")" "gid inside"
  assert_contains "$(sed -n 3p <<<"$out")" "10.0.2.100/24" "tap0 configured"
  mkdir www
  echo hello-keep-id >www/index.html
  port=$(free_port)
  id=$("$NOOK" launch -d --userns keep-id -p "127.0.0.1:$port:8080" -v "$PWD/www:/srv:ro" bb:1 \
    httpd -f -p 8080 -h /srv)
  wait_for "python3 -c 'import urllib.request,sys; sys.exit(0 if b\"hello-keep-id\" in urllib.request.urlopen(\"http://127.0.0.1:$port/\", timeout=2).read() else 1)' 2>/dev/null" 15
  assert_eq "$(id -u)" "$("$NOOK" exec "$id" stat -c %u /proc/1)" "the server runs as the user"
  "$NOOK" rm -f "$id" >/dev/null
  assert_nothing_left "$id"
  ! python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null ||
    fail "port $port still open after rm"
}

test_completion_of_flags_and_images() {
  make_launch_image
  [[ $("$NOOK" __complete commands 2>/dev/null) == *launch* ]] ||
    skip "no completion engine (nook __complete) in this build"
  local out
  out=$("$NOOK" __complete words -- launch --re)
  assert_contains "$out" "--read-only" "flag completion"
  out=$("$NOOK" __complete words -- launch --rm b)
  assert_contains "$out" "bb:1" "image completion"
}

test_run_pulled_from_a_local_registry() {
  make_launch_image
  command -v docker-registry >/dev/null || skip "docker-registry is not installed"
  start_registry
  trap stop_registry EXIT
  skopeo copy -q --dest-tls-verify=false oci:oci:bb "docker://$REGISTRY/app:2"
  local out
  out=$("$NOOK" launch --rm --tls-verify=false "$REGISTRY/app:2" echo pulled-and-ran 2>err)
  assert_eq pulled-and-ran "$out" "output"
  assert_contains "$(cat err)" "Pulling $REGISTRY/app:2" "progress on stderr"
  # the second time it is in the store: no pull
  "$NOOK" launch --rm "$REGISTRY/app:2" true 2>err
  [[ $(cat err) != *Pulling* ]] || fail "pulled again"
}

# A SIGTERM that reaches the container's pid 1 before it has a handler is
# dropped by the kernel; stop sends it again once the handler is there
# rather than waiting out its timeout for SIGKILL (a stop right after
# `launch -d --init` hit this).
test_stop_before_the_init_handles_sigterm() {
  make_launch_image
  local id status t0
  id=$("$NOOK" launch -d bb:1 sh -c 'sleep 1; trap "exit 3" TERM; while :; do sleep 0.1; done')
  t0=$SECONDS
  "$NOOK" stop -t 30 "$id" >/dev/null
  status=$("$NOOK" wait "$id")
  assert_eq 3 "$status" "exit status: the trap ran, not a SIGKILL"
  [ $((SECONDS - t0)) -lt 15 ] || fail "stop took $((SECONDS - t0)) s"
  "$NOOK" rm "$id" >/dev/null
  assert_nothing_left "$id"
}

# The runtime dir cleared (a reboot, the end of a CI session) takes the
# states and leaves the rootfs in the store: a new container of the same
# name starts from the image, and `nook rm` removes what is left, after
# which the image can go.
test_rootfs_left_without_state() {
  make_launch_image
  local id out
  id=$(unique_id lost)
  "$NOOK" --root "$TEST_TMP/run1" launch --name "$id" bb:1 sh -c 'echo old >/marker'
  rm -rf "$TEST_TMP/run1"
  out=$("$NOOK" --root "$TEST_TMP/run2" launch --rm --name "$id" bb:1 sh -c 'cat /marker 2>/dev/null || echo fresh')
  assert_eq fresh "$out" "a new container over an old one's rootfs"
  "$NOOK" --root "$TEST_TMP/run3" launch --name "$id" bb:1 true
  rm -rf "$TEST_TMP/run3"
  assert_fails "$NOOK" image rm bb:1
  assert_contains "$assert_output" "nook rm $id"
  assert_eq "$id" "$("$NOOK" --root "$TEST_TMP/run4" rm "$id")" "rm of what is left"
  [ ! -e "$NOOK_STORAGE/containers/$id" ] || fail "the rootfs of $id is left"
  assert_fails "$NOOK" --root "$TEST_TMP/run4" rm "$id"
  assert_contains "$assert_output" "does not exist"
  "$NOOK" image rm bb:1 >/dev/null
}

# The table's columns line up whatever their contents (a long status, a long
# name), and an id is never cut: it is what the other commands take.
test_containers_table_columns() {
  make_launch_image
  local id table row col
  id=$(unique_id a-rather-long-container-name)
  "$NOOK" launch --name "$id" bb:1 sh -c 'exit 137' || true
  table=$("$NOOK" containers -a)
  row=$(grep -- "$id " <<<"$table") || fail "the whole id is not in the table: $table"
  for name in STATUS CREATED; do
    col=$(head -1 <<<"$table" | grep -bo "$name" | cut -d: -f1)
    [[ ${row:col-1:1} == " " && ${row:col:1} != " " ]] ||
      fail "the $name column does not line up: $table"
  done
  "$NOOK" rm "$id" >/dev/null
}

# Bad values of launch's flags: one line naming the flag, status 125,
# nothing made.
test_bad_flag_values_one_line() {
  make_launch_image
  echo '{bad' >bad.json
  echo '[1]' >array.json
  local s args want
  for args in "-p 1.2.3.4.5:80:80" "-p 127.0.0.1:8080:80:90" "-p foo:80:80" \
    "--tmpfs /x:size=abc" "--tmpfs /x:mode=999" "--tmpfs /x:bogus" \
    "--security-opt seccomp=bad.json" "--security-opt seccomp=array.json"; do
    s=0
    # shellcheck disable=SC2086
    "$NOOK" launch --rm $args bb:1 true 2>err || s=$?
    assert_eq 125 "$s" "status for $args"
    assert_eq 1 "$(wc -l <err)" "one line for $args: $(cat err)"
    want=${args%% *}
    [[ $args != --security-opt* ]] || want="seccomp profile \`${args#*=}\`"
    assert_contains "$(cat err)" "$want" "what was wrong"
  done
  assert_contains "$(cat err)" "seccomp profile \`array.json\` is not a JSON object"
  [[ $(cat err) != *"(null)"* ]] || fail "(null) in the message: $(cat err)"
  local line
  line=$("$NOOK" launch --rm --tmpfs /x:size=1m,mode=700,noexec bb:1 grep " /x " /proc/self/mounts)
  for want in noexec size=1024k mode=700; do
    assert_contains "$line" "$want" "a tmpfs with good options"
  done
  if [ -x "$NOOK_BUILD/nook-net" ]; then
    "$NOOK" launch --rm -p "[::1]:$(free_port):80" bb:1 true ||
      fail "a bracketed IPv6 host address is refused"
  fi
  assert_eq "" "$(ls "$NOOK_STORAGE/containers")" "rootfs dirs after failures"
}

# --since takes a duration or a time: a sign, inf, nan, hex or a number too
# large for the clock is refused in one line (not a log of the future, not
# an overflow).
test_logs_since_bad_values() {
  make_launch_image
  local id v
  id=$(unique_id since)
  "$NOOK" launch -d --name "$id" bb:1 sh -c 'echo hi; sleep 30' >/dev/null
  for v in -5m inf nan 1e300h 0x10s; do
    assert_fails "$NOOK" logs --since "$v" "$id"
    assert_contains "$assert_output" "--since \`$v\`"
    assert_eq 1 "$(wc -l <<<"$assert_output")" "one line for $v"
  done
  wait_for "\"$NOOK\" logs --since 1h30m \"$id\" | grep -q hi" 10
  "$NOOK" rm -f "$id" >/dev/null
}

# nook's own warnings while a detached container is made (here: a limit the
# cgroup cannot apply) are the launching user's, on launch's stderr, not
# lines of the container's output in its log.
test_detached_warnings_go_to_launch() {
  make_launch_image
  local id
  id=$("$NOOK" launch -d --memory 64m bb:1 sh -c 'echo from-the-container' 2>launch.err)
  "$NOOK" wait "$id" >/dev/null
  "$NOOK" logs "$id" >logs.out 2>&1
  "$NOOK" rm "$id" >/dev/null
  if ! grep -q "limits not applied" launch.err logs.out; then
    skip "the memory controller is there: nook has no warning to give"
  fi
  assert_contains "$(cat launch.err)" "warning: container \`$id\`: limits not applied" "launch's stderr"
  assert_eq "from-the-container" "$(cat logs.out)" "the container's log holds its output alone"
}
