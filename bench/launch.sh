#!/bin/bash
# The image workflow against podman, rootless, on the same busybox image (one
# OCI archive, imported into nook's store and `podman load`ed into a fresh
# podman storage under the bench's tmp dir):
#   1. `nook launch --rm IMG true` (slirp + overlay rootfs) vs
#      `podman run --rm IMG true` (slirp4netns), in one hyperfine run; and
#      the same with --net none / --network none.
#   2. 20 detached containers started in parallel, listed, removed in
#      parallel, timed for both.
# Prints the means and podman/nook ratios (the target is 10x).
#
#   bench/launch.sh [RUNS] [CGROUP_MANAGER]   (as root: runs as the test user in the world)
#
# CGROUP_MANAGER (systemd or cgroupfs) is passed to both as
# --cgroup-manager; by default each uses its own default (systemd here).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-30}
cgroup_manager=${2:-}

if [ "$(id -u)" = 0 ] && [ -z "${NOOK_BENCH_INNER:-}" ]; then
  ninja -C "$src/build" >/dev/null
  "$src/tests/harness/share-with-user" "$src" >/dev/null 2>&1 || chmod -R a+rX "$src"
  exec "$src/tests/harness/world" -- env NOOK_BENCH_INNER=1 "$src/bench/launch.sh" "$runs" \
    "$cgroup_manager"
fi

for tool in hyperfine podman umoci; do
  command -v $tool >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
done
nook=$src/build/nook
work=$(mktemp -d /tmp/nook-bench-launch.XXXXXX)
export NOOK_STORAGE=$work/nook-storage
podman_args=(--root "$work/podman/root" --runroot "$work/podman/run" --storage-driver overlay)
nook_opts=()
if [ -n "$cgroup_manager" ]; then
  podman_args+=(--cgroup-manager "$cgroup_manager")
  nook_opts+=(--cgroup-manager "$cgroup_manager")
fi
cleanup() {
  podman "${podman_args[@]}" rm -af >/dev/null 2>&1 || true
  podman "${podman_args[@]}" unshare rm -rf "$work/podman" 2>/dev/null || true
  for id in $("$nook" containers -a --format json 2>/dev/null | jq -r '.[].Id'); do
    "$nook" rm -f "$id" >/dev/null 2>&1 || true
  done
  "$nook" image rm bench:1 >/dev/null 2>&1 || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT

cd "$work"
"$src/tests/harness/make-busybox-rootfs" "$work/rootfs" >/dev/null
umoci init --layout oci >/dev/null
umoci new --image oci:bench >/dev/null
umoci unpack --rootless --image oci:bench ub >/dev/null
cp -a rootfs/. ub/rootfs/
umoci repack --image oci:bench ub >/dev/null
umoci config --image oci:bench --config.cmd sh >/dev/null
rm -rf ub
tar -C oci -cf bench.tar .
"$nook" image import "oci-archive:$work/bench.tar" bench:1 >/dev/null 2>&1 ||
  "$nook" image import oci:bench bench:1 >/dev/null
podman "${podman_args[@]}" load -q -i "oci-archive:$work/bench.tar" >/dev/null 2>&1 ||
  podman "${podman_args[@]}" load -q -i "$work/bench.tar" >/dev/null
pimg=$(podman "${podman_args[@]}" images -q | head -1)
podman "${podman_args[@]}" tag "$pimg" localhost/bench:1

# warm both (seccomp caches, overlay probe, podman's first-run setup)
"$nook" "${nook_opts[@]}" launch --rm bench:1 true
podman "${podman_args[@]}" run --rm localhost/bench:1 true

for net in slirp none; do
  pnet=$([ $net = slirp ] && echo slirp4netns || echo none)
  hyperfine -N --warmup 3 --runs "$runs" --export-json "$work/h-$net.json" \
    -n "nook launch ($net)" "$nook ${nook_opts[*]} launch --rm --net $net bench:1 true" \
    -n "podman run ($pnet)" "podman ${podman_args[*]} run --rm --network $pnet localhost/bench:1 true" \
    >/dev/null
  jq -r --arg net "$net" '
    (.results[0].mean * 1000) as $n | (.results[1].mean * 1000) as $p |
    "run --rm true (\($net)): nook \($n*10|round/10) ms, podman \($p*10|round/10) ms, podman/nook = \($p/$n*100|round/100)x"' \
    "$work/h-$net.json"
done

ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
parallel20() { # start|rm TOOL
  local t0 pids=() i
  t0=$(date +%s%N)
  for i in $(seq 1 20); do
    case $1-$2 in
    start-nook) "$nook" "${nook_opts[@]}" launch -d --name "bn$i" bench:1 sleep 300 >/dev/null & ;;
    start-podman) podman "${podman_args[@]}" run -d --name "bp$i" localhost/bench:1 sleep 300 >/dev/null & ;;
    rm-nook) "$nook" rm -f "bn$i" >/dev/null & ;;
    rm-podman) podman "${podman_args[@]}" rm -f -t 0 "bp$i" >/dev/null & ;;
    esac
    pids+=($!)
  done
  local failed=0
  for p in "${pids[@]}"; do wait "$p" || failed=$((failed + 1)); done
  echo "$(ms "$t0") $failed"
}
for tool in nook podman; do
  read -r start_ms start_failed < <(parallel20 start $tool)
  t0=$(date +%s%N)
  if [ $tool = nook ]; then
    n=$("$nook" containers | tail -n +2 | grep -c ' Up ' || true)
  else
    n=$(podman "${podman_args[@]}" ps --format '{{.ID}}' | wc -l)
  fi
  list_ms=$(ms "$t0")
  read -r rm_ms rm_failed < <(parallel20 rm $tool)
  echo "20 detached ($tool): start $start_ms ms ($start_failed failed), list $list_ms ms ($n running), rm $rm_ms ms ($rm_failed failed)"
  eval "${tool}_total=$((start_ms + list_ms + rm_ms))"
done
echo "20 detached total: nook ${nook_total} ms, podman ${podman_total} ms, podman/nook = $(echo "scale=2; $podman_total / $nook_total" | bc 2>/dev/null || python3 -c "print(round($podman_total/$nook_total,2))")x"
