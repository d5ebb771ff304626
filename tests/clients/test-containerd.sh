# containerd and ctr with nook as the runc binary of the runc v2 shim
# (`ctr run --runc-binary $NOOK`): nook as real root, not rootless.
TEST_AS_ROOT=1
TEST_TIMEOUT=300

containerd_test_file=${BASH_SOURCE[0]}

# Runs a function in a private mount namespace where /sys/fs/cgroup is the
# unified hierarchy (this machine's host has hybrid cgroups; only this
# namespace sees the change), so containerd, its shim and nook see the same
# cgroup2 that machines with systemd have.
in_cgroup2() {
  if [ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ]; then
    "$@"
    return
  fi
  unshare -m --propagation private -- bash -c '
    set -euo pipefail
    umount -R /sys/fs/cgroup 2>/dev/null || umount -l /sys/fs/cgroup
    mount -t cgroup2 none /sys/fs/cgroup
    source "${NOOK_LIB:-$NOOK_SRC/tests/lib.sh}"; source "$1"; shift; "$@"' bash "$containerd_test_file" "$@"
}

CTR=()
# Starts containerd with its own root, state and sockets under $TEST_TMP,
# and imports a busybox image built from $BUSYBOX_ROOTFS.
start_containerd() {
  [ "$(id -u)" = 0 ] || skip "containerd tests run as root (TEST_AS_ROOT); the runner ran this as $(id -un)"
  command -v containerd >/dev/null && command -v ctr >/dev/null ||
    skip "containerd is not installed (scripts/install-deps)"
  command -v umoci >/dev/null && command -v skopeo >/dev/null ||
    skip "umoci and skopeo build the test image (scripts/install-deps)"
  local d=$TEST_TMP/ctrd
  mkdir -p "$d"
  cat >"$d/config.toml" <<CONF
version = 2
root = "$d/root"
state = "$d/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$d/containerd.sock"
[ttrpc]
  address = "$d/containerd.sock.ttrpc"
[debug]
  address = "$d/debug.sock"
  level = "info"
CONF
  containerd --config "$d/config.toml" >"$d/containerd.log" 2>&1 &
  echo $! >"$d/pid"
  trap 'stop_containerd' EXIT
  CTR=(ctr --address "$d/containerd.sock" --namespace nooktest)
  wait_for "\"\${CTR[@]}\" version >/dev/null 2>&1" 30

  # A one-layer image of the busybox rootfs.
  umoci init --layout "$TEST_TMP/oci" >/dev/null
  umoci new --image "$TEST_TMP/oci:bb" >/dev/null
  umoci unpack --image "$TEST_TMP/oci:bb" "$TEST_TMP/unpacked" >/dev/null
  cp -a "$BUSYBOX_ROOTFS/." "$TEST_TMP/unpacked/rootfs/"
  umoci repack --image "$TEST_TMP/oci:bb" "$TEST_TMP/unpacked" >/dev/null
  umoci config --image "$TEST_TMP/oci:bb" --config.cmd sh \
    --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin >/dev/null
  skopeo --insecure-policy copy --quiet "oci:$TEST_TMP/oci:bb" \
    "docker-archive:$TEST_TMP/bb.tar:docker.io/library/nook-busybox:latest" >/dev/null
  "${CTR[@]}" image import "$TEST_TMP/bb.tar" >/dev/null
  IMAGE=docker.io/library/nook-busybox:latest
}

stop_containerd() {
  local d=$TEST_TMP/ctrd
  if [ ${#CTR[@]} -gt 0 ]; then
    local c
    for c in $("${CTR[@]}" task ls -q 2>/dev/null); do
      "${CTR[@]}" task kill -s KILL "$c" >/dev/null 2>&1 || true
      "${CTR[@]}" task delete -f "$c" >/dev/null 2>&1 || true
    done
    for c in $("${CTR[@]}" container ls -q 2>/dev/null); do
      "${CTR[@]}" container delete "$c" >/dev/null 2>&1 || true
    done
  fi
  [ -f "$d/pid" ] && kill "$(cat "$d/pid")" 2>/dev/null || true
  umount -R "$d/root" 2>/dev/null || true
  echo "---- containerd log"; tail -n 20 "$d/containerd.log" 2>/dev/null || true
}

task_status() { # ID
  "${CTR[@]}" task ls 2>/dev/null | awk -v id="$1" '$1 == id { print $3 }'
}

ctr_run_rm_body() {
  start_containerd
  local out
  out=$("${CTR[@]}" run --rm --runc-binary "$NOOK" "$IMAGE" nook-run-rm \
    sh -c 'echo hello as $(id -u)')
  assert_eq "hello as 0" "$(tr -d '\r' <<<"$out")" "output of ctr run"
  assert_eq "" "$("${CTR[@]}" container ls -q)" "containers left after --rm"
  local status=0
  "${CTR[@]}" run --rm --runc-binary "$NOOK" "$IMAGE" nook-run-exit sh -c 'exit 5' || status=$?
  assert_eq 5 "$status" "exit status of ctr run"
}
test_ctr_run_rm() { in_cgroup2 ctr_run_rm_body; }

ctr_exec_kill_delete_body() {
  start_containerd
  "${CTR[@]}" run -d --runc-binary "$NOOK" "$IMAGE" nook-svc sleep 1000 >/dev/null
  wait_for '[ "$(task_status nook-svc)" = RUNNING ]' 20
  # the shim drives nook: the container is in nook's state under the shim's root
  assert_eq running "$("$NOOK" --root /run/containerd/runc/nooktest state nook-svc | jq -r .status)" \
    "nook's view of the task"
  local out
  out=$("${CTR[@]}" task exec --exec-id e1 nook-svc sh -c 'echo exec-ok; cat /proc/1/cmdline | tr "\0" " "')
  assert_contains "$out" "exec-ok"
  assert_contains "$out" "sleep 1000"
  local status=0
  "${CTR[@]}" task exec --exec-id e2 nook-svc sh -c 'exit 4' || status=$?
  assert_eq 4 "$status" "exit status of ctr task exec"
  # ps goes through `nook ps --format json`
  assert_contains "$("${CTR[@]}" task ps nook-svc)" "$("${CTR[@]}" task ls | awk '$1 == "nook-svc" { print $2 }')"
  "${CTR[@]}" task kill -s KILL nook-svc
  wait_for '[ "$(task_status nook-svc)" = STOPPED ]' 20
  "${CTR[@]}" task delete nook-svc >/dev/null
  "${CTR[@]}" container delete nook-svc
  assert_eq "" "$("${CTR[@]}" container ls -q)" "containers left after delete"
}
test_ctr_exec_kill_delete() { in_cgroup2 ctr_exec_kill_delete_body; }

ctr_pause_resume_body() {
  start_containerd
  "${CTR[@]}" run -d --runc-binary "$NOOK" "$IMAGE" nook-pause sleep 1000 >/dev/null
  wait_for '[ "$(task_status nook-pause)" = RUNNING ]' 20
  "${CTR[@]}" task pause nook-pause
  assert_eq PAUSED "$(task_status nook-pause)" "status after pause"
  "${CTR[@]}" task resume nook-pause
  assert_eq RUNNING "$(task_status nook-pause)" "status after resume"
  "${CTR[@]}" task kill -s KILL nook-pause
  wait_for '[ "$(task_status nook-pause)" = STOPPED ]' 20
  "${CTR[@]}" task delete nook-pause >/dev/null
}
test_ctr_pause_resume() { in_cgroup2 ctr_pause_resume_body; }
