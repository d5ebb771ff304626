# Detached containers (launch -d, and -it in the foreground): the monitor's
# relay holds the pty or the stdio pipes, logs them, and `nook attach` joins
# them. Terminals are script(1)'s pty.
TEST_TIMEOUT=120

source "$NOOK_SRC/tests/workflow/launch-lib.sh"

# resize_tty ROWS COLS: sets the size of the terminal on stdin (SIGWINCH to
# its foreground process group).
resize_tty() {
  python3 -c 'import fcntl, struct, sys, termios
fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", int(sys.argv[1]), int(sys.argv[2]), 0, 0))' "$@"
}
export -f resize_tty

# until_file_has FILE TEXT: waits (20 s at most) until FILE holds TEXT; the
# keys a test types wait for what the terminal shows, not for a time.
until_file_has() {
  local i
  for ((i = 0; i < 200; i++)); do
    grep -qF -- "$2" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# wait_attached PID: waits until the nook attach of PID is connected (it
# makes its signalfd once the relay said hello).
wait_attached() {
  wait_for "ls -l /proc/$1/fd 2>/dev/null | grep -q signalfd" 20
}

test_detached_terminal_logged_and_attached() {
  make_launch_image
  local id out status
  id=$("$NOOK" launch -d -t bb:1 sh)
  # the prompt, a line not ended, is logged once the terminal is quiet
  wait_for "\"$NOOK\" logs $id | grep -q '^/srv # '"
  # keys in, output out, the attaching terminal's size; ctrl-p ctrl-q detaches
  (printf 'echo typed-$((40+2)); stty size\n'; until_file_has out1 "40 100"; printf '\020\021') |
    script -qec "stty rows 40 cols 100; \"$NOOK\" attach $id" /dev/null >out1
  out=$(cat out1)
  assert_contains "$out" "typed-42" "output through attach"
  assert_contains "$out" "40 100" "the size of the attaching terminal"
  assert_eq running "$(launch_status "$id")" "after detaching"
  out=$("$NOOK" logs "$id")
  assert_contains "$out" "typed-42" "the terminal's output in the log"
  ! grep -q $'\r$' <<<"$out" || fail "lines end with the terminal's carriage return in the log"
  grep -qE '^20[0-9-]+T[0-9:.]+Z stdout .*typed-42' "${XDG_RUNTIME_DIR}/nook/.launch/$id/container.log" ||
    fail "no timestamped record in the log file"
  # a resize while attached reaches the container (SIGWINCH to attach, which
  # passes the size on); its exit ends attach with its code
  status=0
  (printf 'echo at""tached\n'; until_file_has out2 attached; touch resize
    for ((i = 0; i < 40; i++)); do
      [ ! -e resized ] || printf 'stty size\n'
      sleep 0.5
      ! grep -qF "50 120" out2 || break
    done
    printf 'exit 3\n') |
    script -qec "stty rows 40 cols 100; (until [ -e resize ]; do sleep 0.1; done; resize_tty 50 120 </dev/tty; touch resized) & \"$NOOK\" attach $id" /dev/null >out2 ||
    status=$?
  assert_contains "$(cat out2)" "50 120" "size after SIGWINCH"
  assert_eq 3 "$status" "attach exits with the container's code"
  assert_eq 3 "$("$NOOK" wait "$id")" "wait"
  "$NOOK" rm "$id" >/dev/null
  assert_nothing_left "$id"
  # with --rm: gone by itself, terminal relay and all; attach still has the
  # exit code
  id=$("$NOOK" launch -d -t --rm bb:1 sh)
  status=0
  printf 'exit 5\n' | script -qec "\"$NOOK\" attach $id" /dev/null >/dev/null || status=$?
  assert_eq 5 "$status" "attach to a --rm container"
  wait_for "[ ! -e \"\${XDG_RUNTIME_DIR}/nook/$id\" ]"
  assert_nothing_left "$id"
}

test_attach_detach_keys_and_errors() {
  make_launch_image
  local id plain fg status
  id=$("$NOOK" launch -d -t bb:1 sh)
  plain=$("$NOOK" launch -d bb:1 sleep 30)
  status=0
  (sleep 0.5; printf 'x\030') | script -qec "\"$NOOK\" attach --detach-keys ctrl-x $id" /dev/null >/dev/null ||
    status=$?
  assert_eq 0 "$status" "detached with ctrl-x"
  assert_eq running "$(launch_status "$id")"
  if [[ $("$NOOK" __complete commands 2>/dev/null) == *attach* ]]; then
    assert_contains "$("$NOOK" __complete commands)" "port" "port is a command"
    assert_contains "$("$NOOK" __complete words -- attach --det)" "--detach-keys" "attach's flags"
    assert_contains "$("$NOOK" __complete words -- attach '')" "$id" "running containers for attach"
    assert_contains "$("$NOOK" __complete words -- port '')" "$plain" "running containers for port"
    assert_contains "$("$NOOK" __complete words -- launch --publish-a)" "--publish-all" "-P"
    assert_eq --detach-keys "$(bash --norc --noprofile -c 'source "$NOOK_SRC/completions/nook.bash"
      COMP_WORDS=("$1" attach --det); COMP_CWORD=2; _nook; printf "%s\n" "${COMPREPLY[@]}"' bash "$NOOK")" \
      "bash: nook attach --det"
    if command -v fish >/dev/null; then
      mkdir -p bin
      ln -sf "$NOOK" bin/nook
      assert_eq "$(printf 'attach\n')" "$(HOME=$TEST_TMP PATH=$TEST_TMP/bin:$PATH fish --no-config -c \
        "source '$NOOK_SRC/completions/nook.fish'; complete -C 'nook att'")" "fish: nook att"
      assert_contains "$(HOME=$TEST_TMP PATH=$TEST_TMP/bin:$PATH fish --no-config -c \
        "source '$NOOK_SRC/completions/nook.fish'; complete -C 'nook port '")" "$plain" "fish: nook port"
    fi
  fi
  assert_fails "$NOOK" attach --detach-keys ctrl-1 "$id"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one error line"
  assert_contains "$assert_output" "--detach-keys: \`ctrl-1\` is not a key list"
  assert_fails "$NOOK" launch --rm -it --detach-keys ctrl-1 bb:1 true
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one error line"
  assert_contains "$assert_output" "--detach-keys: \`ctrl-1\` is not a key list"
  assert_fails "$NOOK" attach --sig-proxy=maybe "$id"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one error line"
  assert_fails "$NOOK" attach no-such-container
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one error line"
  assert_contains "$assert_output" "does not exist"
  assert_fails "$NOOK" attach
  assert_fails "$NOOK" attach -x "$id"
  assert_contains "$assert_output" "unknown option \`-x\`"
  assert_fails "$NOOK" attach --detach-keys
  assert_contains "$assert_output" "option \`--detach-keys\` needs a value"
  # an empty key in the list is a mistake, not a key
  local keys
  for keys in ctrl-p, ,ctrl-p ctrl-p,,ctrl-q; do
    assert_fails "$NOOK" attach --detach-keys "$keys" no-such-container
    assert_contains "$assert_output" "--detach-keys: \`$keys\`"
  done
  "$NOOK" stop -t 1 "$plain" >/dev/null
  assert_fails "$NOOK" attach "$plain"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one error line"
  assert_contains "$assert_output" "is stopped"
  # a launch in the foreground (no terminal: no monitor) holds its stdio
  fg=$(unique_id fg)
  "$NOOK" launch --rm --name "$fg" bb:1 sleep 30 </dev/null >/dev/null 2>&1 &
  wait_for "[ \"\$(launch_status $fg 2>/dev/null)\" = running ]"
  assert_fails "$NOOK" attach "$fg"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one error line"
  assert_contains "$assert_output" "runs in the foreground of the nook launch"
  # the OCI lifecycle (nook create/start) has no monitor
  make_bundle oci
  cfg oci '.process.args = ["sleep", "30"] | .process.terminal = false'
  local oci_id
  oci_id=$(unique_id oci)
  "$NOOK" create --bundle oci "$oci_id" </dev/null >/dev/null 2>&1
  "$NOOK" start "$oci_id"
  assert_fails "$NOOK" attach "$oci_id"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "one error line"
  assert_contains "$assert_output" "was made with nook create or run"
  "$NOOK" delete -f "$oci_id"
  "$NOOK" rm -f "$id" "$plain" "$fg" >/dev/null
  wait
  assert_nothing_left "$id"
}

# -d -i without a terminal: stdin is a pipe the relay writes; attach sends
# what it reads there, gives back stdout and stderr apart, and its EOF
# closes the container's stdin.
test_attach_stdin_pipe_streams_and_eof() {
  make_launch_image
  local id status
  id=$("$NOOK" launch -d -i bb:1 sh -c 'while read -r l; do echo "out:$l"; echo "err:$l" >&2; done; echo "stdin-closed"; exit 4')
  sleep 0.3
  assert_eq running "$(launch_status "$id")" "a -d -i container waits for its stdin"
  status=0
  printf 'one\ntwo\n' | "$NOOK" attach "$id" >out 2>err || status=$?
  assert_eq 4 "$status" "attach ends with the container's code once its stdin closed"
  assert_eq "$(printf 'out:one\nout:two\nstdin-closed')" "$(cat out)" "stdout through attach"
  assert_eq "$(printf 'err:one\nerr:two')" "$(cat err)" "stderr through attach, apart"
  assert_eq 4 "$("$NOOK" wait "$id")" "wait"
  local logs
  logs=$("$NOOK" logs "$id" 2>&1)
  assert_contains "$logs" "out:two" "stdout still in the log"
  assert_contains "$logs" "err:two" "stderr still in the log"
  grep -qE '^20[0-9-]+T[0-9:.]+Z stderr err:one$' "${XDG_RUNTIME_DIR}/nook/.launch/$id/container.log" ||
    fail "no timestamped stderr record in the log file"
  "$NOOK" rm "$id" >/dev/null
  assert_nothing_left "$id"
  # more than a pipe holds, to a reader slower than attach: all of it, in
  # order
  id=$("$NOOK" launch -d -i bb:1 sh -c 'sleep 1; md5sum')
  head -c 3000000 /dev/urandom >big
  status=0
  "$NOOK" attach "$id" <big >out || status=$?
  assert_eq 0 "$status" "attach of a big input"
  assert_eq "$(md5sum <big)" "$(cat out)" "what the container read"
  "$NOOK" rm "$id" >/dev/null
}

# cat echoes what is typed on a terminal; ctrl-p ctrl-q detaches and a
# second attach finds it still there; a watcher with --no-stdin sees the
# output, sends nothing and does not close stdin; EOF (ctrl-d) ends cat.
test_attach_cat_through_a_pty() {
  make_launch_image
  local id status
  id=$("$NOOK" launch -d -i bb:1 cat)
  "$NOOK" attach --no-stdin "$id" >watch 2>&1 &
  local watcher=$!
  wait_attached "$watcher"
  # the keys are seen as typed, not at the line's end (script(1) types a
  # ctrl-d at its input's end, which would end the line too)
  (printf 'typed-%s\n' one; until_file_has out1 "typed-one"; sleep 0.3; printf '\020\021'
    ! until_file_has out1 "attach-ended" || touch detached-by-keys) |
    script -qec "\"$NOOK\" attach $id; echo attach-ended-\$?" /dev/null >out1
  [ -e detached-by-keys ] || fail "ctrl-p ctrl-q did not detach as typed"
  assert_contains "$(cat out1)" "attach-ended-0" "detached with ctrl-p ctrl-q"
  assert_eq running "$(launch_status "$id")" "after detaching"
  wait_for "grep -q typed-one watch" 10
  # ctrl-c without --sig-proxy detaches too
  status=0
  (until_file_has out2 x; sleep 0.3; printf 'again\n'; until_file_has out2 "again"; sleep 0.3; printf '\003') |
    script -qec "echo x; \"$NOOK\" attach --sig-proxy=false $id" /dev/null >out2 || status=$?
  assert_eq 0 "$status" "detached with ctrl-c and --sig-proxy=false"
  assert_eq running "$(launch_status "$id")" "after ctrl-c"
  # ctrl-d: cat's stdin ends, so does cat, and both attach clients with it
  status=0
  (printf 'last\n'; until_file_has out3 last; sleep 0.3; printf '\004') |
    script -qec "\"$NOOK\" attach $id" /dev/null >out3 || status=$?
  assert_eq 0 "$status" "cat's exit code"
  wait_for "[ \"\$(launch_status $id)\" = stopped ]"
  status=0
  wait "$watcher" || status=$?
  assert_eq 0 "$status" "the watcher ends with the container"
  assert_eq "$(printf 'typed-one\nagain\nlast')" "$(cat watch)" "what the watcher saw"
  assert_eq "$(printf 'typed-one\nagain\nlast')" "$("$NOOK" logs "$id")" "cat's output in the log"
  "$NOOK" rm "$id" >/dev/null
  assert_nothing_left "$id"
}

# Output only: a -d container without -i, attached by two clients at once.
test_attach_output_only() {
  make_launch_image
  local id s1=0 s2=0
  id=$("$NOOK" launch -d bb:1 sh -c 'until [ -e /tmp/go ]; do sleep 0.1; done; echo late-out; echo late-err >&2; exit 6')
  "$NOOK" attach "$id" >o1 2>e1 </dev/null &
  local a1=$!
  "$NOOK" attach "$id" >o2 2>e2 </dev/null &
  local a2=$!
  wait_attached "$a1"
  wait_attached "$a2"
  "$NOOK" exec "$id" touch /tmp/go
  wait "$a1" || s1=$?
  wait "$a2" || s2=$?
  assert_eq 6 "$s1" "first client's status"
  assert_eq 6 "$s2" "second client's status"
  assert_eq late-out "$(cat o1)" "first client's stdout"
  assert_eq late-err "$(cat e1)" "first client's stderr"
  assert_eq late-out "$(cat o2)" "second client's stdout"
  assert_eq late-err "$(cat e2)" "second client's stderr"
  "$NOOK" rm "$id" >/dev/null
}

# launch -it from a terminal: the detach keys leave it running, and nook
# attach joins it later.
test_launch_it_detaches() {
  make_launch_image
  local name status
  name=$(unique_id fg)
  status=0
  (printf 'echo fg-$((40+2))\n'; until_file_has out1 fg-42; printf '\020\021') |
    script -qec "stty rows 30 cols 90; \"$NOOK\" launch -it --name $name bb:1 sh -c 'stty size; exec sh'" \
      /dev/null >out1 || status=$?
  assert_eq 0 "$status" "launch -it detached"
  assert_contains "$(cat out1)" "30 90" "the terminal's size from the start"
  assert_eq running "$(launch_status "$name")" "after detaching"
  assert_contains "$("$NOOK" logs "$name")" "fg-42" "the terminal's output in the log"
  status=0
  (printf 'stty size; exit 6\n') | script -qec "stty rows 30 cols 90; \"$NOOK\" attach $name" /dev/null >out2 || status=$?
  assert_contains "$(cat out2)" "30 90" "the size of the attaching terminal"
  assert_eq 6 "$status" "attach ends with the container's code"
  "$NOOK" rm "$name" >/dev/null
  # --detach-keys, with --rm: still there until it ends
  status=0
  (sleep 0.5; printf '\030') |
    script -qec "\"$NOOK\" launch --rm -it --detach-keys ctrl-x --name $name bb:1 sh" /dev/null >/dev/null ||
    status=$?
  assert_eq 0 "$status" "launch -it detached with ctrl-x"
  assert_eq running "$(launch_status "$name")" "after ctrl-x"
  printf 'exit 0\n' | script -qec "\"$NOOK\" attach $name" /dev/null >/dev/null
  wait_for "[ ! -e \"\${XDG_RUNTIME_DIR}/nook/$name\" ]"
  assert_nothing_left "$name"
}

# term_attached OUT ARGS...: runs nook attach ARGS (output to OUT), sends
# it SIGTERM once connected; its exit status in $status.
term_attached() {
  local out=$1 pid
  shift
  "$NOOK" attach "$@" >"$out" </dev/null &
  pid=$!
  wait_attached "$pid"
  kill -TERM "$pid"
  status=0
  wait "$pid" || status=$?
}

# Without a terminal, signals to attach go to the container (--sig-proxy,
# the default), or detach (--sig-proxy=false).
test_attach_sig_proxy() {
  make_launch_image
  local id status
  id=$("$NOOK" launch -d bb:1 sh -c 'trap "echo got-term; exit 7" TERM; while :; do sleep 0.1; done')
  term_attached out1 --sig-proxy=false "$id"
  assert_eq 0 "$status" "detached by SIGTERM with --sig-proxy=false"
  assert_eq running "$(launch_status "$id")" "after detaching"
  term_attached out2 "$id"
  assert_eq 7 "$status" "the container's code after its SIGTERM handler"
  assert_eq got-term "$(cat out2)" "the container's handler ran"
  assert_eq "" "$(cat out1)" "the first client left before"
  "$NOOK" rm "$id" >/dev/null
}

# -it without a terminal on stdin runs in the foreground, not under a
# monitor; as podman does, it says that a pipe's end will not end the
# container (its terminal waits for keys), once, on stderr.
test_launch_it_without_a_terminal_warns() {
  make_launch_image
  local s=0
  echo ignored | "$NOOK" launch -it --rm bb:1 echo hi >out 2>err || s=$?
  assert_eq 0 "$s" "status"
  assert_contains "$(cat out)" hi "the output through the terminal"
  assert_eq 1 "$(grep -c 'stdin is not a terminal' err)" "one warning: $(cat err)"
  "$NOOK" launch -i --rm bb:1 cat </dev/null >out 2>err
  assert_eq "" "$(cat err)" "-i alone: no warning"
}
