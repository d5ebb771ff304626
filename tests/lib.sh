# Functions every test file gets (sourced by tests/run before the file).
# Each test_* function runs in its own bash process with `set -euo pipefail`,
# cwd $TEST_TMP. See README.md, "Tests".

# Ends the test as failed, saying why.
fail() {
  echo "FAIL: $*" >&2
  exit 1
}

# Ends the test as skipped: for a test that cannot run here (never for one
# that ran and found something wrong). The reason is printed by the runner.
skip() {
  printf '%s\n' "$*" >"${TEST_SKIP_FILE:-/dev/null}"
  echo "SKIP: $*" >&2
  exit 77
}

# assert_eq WANT GOT [WHAT]
assert_eq() {
  [ "$1" == "$2" ] && return 0
  fail "${3:-value}: want '$1', got '$2'"
}

# assert_contains HAYSTACK NEEDLE [WHAT]
assert_contains() {
  case "$1" in
    *"$2"*) return 0 ;;
  esac
  fail "${3:-output}: want it to contain '$2', got '$1'"
}

# assert_fails CMD [ARGS...]: CMD must exit non-zero, but not by a signal
# (a crash is not the failure a test asks for). Its output (stdout and stderr
# together) is printed to the log and left in $assert_output.
assert_fails() {
  local status=0
  assert_output=$("$@" 2>&1) || status=$?
  printf '%s\n' "$assert_output"
  if [ $status = 0 ]; then
    fail "expected to fail, but it succeeded: $*"
  fi
  if [ $status -gt 128 ]; then
    fail "expected a clean failure, but it died by signal $((status - 128)): $*"
  fi
  return 0
}

# wait_for 'SHELL CONDITION' [SECONDS]: polls until the condition holds;
# fails after SECONDS (default 10, fractions allowed).
wait_for() {
  local cond=$1 seconds=${2:-10}
  local limit start now
  limit=$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 1000000 }')
  start=${EPOCHREALTIME//[.,]/}
  while ! eval "$cond"; do
    now=${EPOCHREALTIME//[.,]/}
    if ((now - start >= limit)); then
      fail "timed out after ${seconds}s waiting for: $cond"
    fi
    sleep 0.05
  done
}

# unique_id PREFIX: a container id no other test of this run (or of another
# run) uses. The runner deletes containers with these ids after the file.
unique_id() {
  local id
  id="${1:-t}-$(printf '%x%04x' "$BASHPID" "$RANDOM")"
  [ -n "${TEST_IDS_FILE:-}" ] && echo "$id" >>"$TEST_IDS_FILE"
  echo "$id"
}

# cfg DIR [JQ OPTIONS...] FILTER: edits DIR/config.json in place with jq.
cfg() {
  local dir=$1
  shift
  local tmp="$dir/config.json.cfg.$$"
  jq "$@" "$dir/config.json" >"$tmp" || {
    rm -f "$tmp"
    fail "cfg: jq $* failed on $dir/config.json"
  }
  mv "$tmp" "$dir/config.json"
}

# A rootless config for when `nook spec` cannot write one (yet): the same
# shape as `runc spec --rootless`, with the current user mapped to root.
_default_rootless_config() {
  local uid gid
  uid=$(id -u)
  gid=$(id -g)
  cat <<EOF
{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
      "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "nook",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
     "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
     "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "none", "source": "/sys",
     "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}
  ],
  "linux": {
    "uidMappings": [{"containerID": 0, "hostID": $uid, "size": 1}],
    "gidMappings": [{"containerID": 0, "hostID": $gid, "size": 1}],
    "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
                   {"type": "user"}, {"type": "cgroup"}],
    "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                    "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
    "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
  }
}
EOF
}

# make_bundle DIR: DIR/rootfs (a copy of the busybox rootfs) and
# DIR/config.json (nook's rootless default) running `sh` without a terminal.
make_bundle() {
  local dir=$1
  mkdir -p "$dir"
  cp -a "$BUSYBOX_ROOTFS" "$dir/rootfs"
  # The source is read-only; the copy is the test's to change.
  chmod -R u+w "$dir/rootfs"
  rm -f "$dir/config.json"
  if ! "$NOOK" spec --rootless --bundle "$dir" >/dev/null 2>&1 ||
    ! jq -e '.ociVersion' "$dir/config.json" >/dev/null 2>&1; then
    _default_rootless_config >"$dir/config.json"
  fi
  cfg "$dir" '.process.args = ["sh"] | .process.terminal = false'
}

# nook_bg ARGS...: runs a nook command that leaves a container running
# (create, run -d). The container inherits nook's stdio as with runc, so here
# it gets a file instead of the test's pipes, which it would hold open; nook's
# own error still reaches the test's log. The container's output is in
# $TEST_TMP/container.out.
nook_bg() {
  local status=0
  "$NOOK" "$@" </dev/null >>"$TEST_TMP/container.out" 2>&1 || status=$?
  [ $status = 0 ] || cat "$TEST_TMP/container.out" >&2
  return $status
}

# start_sleeper ID: a detached container running sleep, made from the bundle
# bundle-ID; its stdio must not hold the test's output open.
start_sleeper() {
  make_bundle "bundle-$1"
  cfg "bundle-$1" '.process.args = ["sleep", "1000"]'
  "$NOOK" run -d --bundle "bundle-$1" "$1" </dev/null >/dev/null 2>&1
}

# process_gone PID: true when PID has finished running (gone, or a zombie
# waiting for its reaper).
process_gone() {
  local state
  state=$(sed -n 's/^State:[[:space:]]*\(.\).*/\1/p' "/proc/$1/status" 2>/dev/null) || return 0
  [ -z "$state" ] || [ "$state" = Z ] || [ "$state" = X ]
}

# free_port [tcp|udp]: a loopback port nothing listens on now.
free_port() {
  python3 -c 'import socket,sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM if sys.argv[1] == "udp" else socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' "${1:-tcp}"
}

# start_registry [CERT KEY]: starts docker-registry on a free port, over
# HTTPS with CERT and KEY when given; sets $REGISTRY (host:port).
start_registry() {
  local port scheme=http
  port=$(free_port)
  cat >registry.yml <<EOF2
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $TEST_TMP/registry
http:
  addr: 127.0.0.1:$port
EOF2
  if [ $# = 2 ]; then
    printf '  tls:\n    certificate: %s\n    key: %s\n' "$1" "$2" >>registry.yml
    scheme=https
  fi
  docker-registry serve registry.yml >registry.log 2>&1 &
  echo $! >registry.pid
  REGISTRY=127.0.0.1:$port
  wait_for "curl -skf $scheme://$REGISTRY/v2/ >/dev/null" 20
}

stop_registry() {
  kill "$(cat registry.pid)" 2>/dev/null || true
}
