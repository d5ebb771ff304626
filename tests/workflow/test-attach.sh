# Detached containers with a terminal (launch -d -t): the monitor holds the
# pty, logs it, and `nook attach` joins it. Driven through script(1)'s pty.
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
  local id plain status
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
  assert_fails "$NOOK" attach "$plain"
  assert_contains "$assert_output" "has no terminal to attach to"
  assert_fails "$NOOK" attach no-such-container
  assert_contains "$assert_output" "does not exist"
  assert_fails "$NOOK" attach
  "$NOOK" stop -t 1 "$plain" >/dev/null
  assert_fails "$NOOK" attach "$plain"
  assert_contains "$assert_output" "is stopped"
  "$NOOK" rm -f "$id" "$plain" >/dev/null
  assert_nothing_left "$id"
}
