# process.terminal: the pty goes to a console socket (as runc gives it to
# containerd and podman) or is relayed by `run` in the foreground.

# Receives one fd on a unix socket and writes what the pty says to a file.
console_receiver() {
  python3 - "$1" "$2" <<'EOS' &
import os, socket, sys, time
path, out = sys.argv[1], sys.argv[2]
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(1)
conn, _ = srv.accept()
msg, fds, _, _ = socket.recv_fds(conn, 256, 1)
master = fds[0]
with open(out, "wb") as f:
    f.write(b"name=" + msg + b"\n")
    f.flush()
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            data = os.read(master, 4096)
        except OSError:
            break
        if not data:
            break
        f.write(data)
        f.flush()
EOS
}

test_console_socket_receives_the_pty() {
  make_bundle b
  cfg b '.process.terminal = true | .process.args = ["sh", "-c", "tty; echo hello-from-pty"]'
  console_receiver "$TEST_TMP/console.sock" "$TEST_TMP/console.out"
  wait_for '[ -S console.sock ]'
  id=$(unique_id cons)
  nook_bg create --console-socket "$TEST_TMP/console.sock" -b b "$id"
  "$NOOK" start "$id"
  wait_for 'grep -q hello-from-pty console.out'
  assert_contains "$(cat console.out)" "name=/dev/ptmx"
  assert_contains "$(cat console.out)" "/dev/pts/0"
  wait_for '[ "$("$NOOK" state "$id" | jq -r .status)" = stopped ]'
  "$NOOK" delete "$id"
}

test_run_relays_the_terminal() {
  make_bundle b
  cfg b '.process.terminal = true | .process.args = ["sh", "-c", "test -t 0 && echo stdin-is-a-tty; read line; echo got:$line; exit 7"]'
  id=$(unique_id relay)
  # script(1) gives nook a terminal of its own, as a person's shell would.
  status=0
  printf 'typed-line\n' | script -qec "$NOOK run -b b $id" /dev/null >out 2>&1 || status=$?
  assert_contains "$(cat out)" stdin-is-a-tty
  assert_contains "$(cat out)" got:typed-line
  assert_eq 7 "$status" "exit status through the terminal"
}
