#!/bin/bash
# exec path: `nook exec` vs `crun exec` of `true` into a running busybox
# container of each, rootless, in the same hyperfine run. Prints the means and
# the ratio crun/nook.
#
#   bench/exec.sh [RUNS]     (as root: runs as the test user in the world)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-200}

if [ "$(id -u)" = 0 ] && [ -z "${NOOK_BENCH_INNER:-}" ]; then
  ninja -C "$src/build" >/dev/null
  "$src/tests/harness/share-with-user" "$src" >/dev/null 2>&1 || chmod -R a+rX "$src"
  exec "$src/tests/harness/world" -- env NOOK_BENCH_INNER=1 "$src/bench/exec.sh" "$runs"
fi

command -v hyperfine >/dev/null || { echo "bench: hyperfine is not installed" >&2; exit 1; }
command -v crun >/dev/null || { echo "bench: crun is not installed" >&2; exit 1; }
nook=$src/build/nook
work=$(mktemp -d /tmp/nook-bench.XXXXXX)
cleanup() {
  "$nook" --root "$work/nook-state" delete -f bench-nook >/dev/null 2>&1 || true
  crun --root "$work/crun-state" delete -f bench-crun >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
"$src/tests/harness/make-busybox-rootfs" "$work/rootfs" >/dev/null
"$nook" spec --rootless --bundle "$work"
# crun 1.8 knows runtime-spec versions up to 1.0.x; the config is the same.
jq '.ociVersion = "1.0.2" | .process.terminal = false | .process.args = ["sleep", "1000"]' \
  "$work/config.json" >"$work/c" && mv "$work/c" "$work/config.json"
manager=${NOOK_BENCH_CGROUP_MANAGER:-cgroupfs}
"$nook" --root "$work/nook-state" --cgroup-manager=$manager run -d -b "$work" bench-nook \
  </dev/null >/dev/null 2>&1
crun --root "$work/crun-state" --cgroup-manager=$manager run -d -b "$work" bench-crun \
  </dev/null >/dev/null 2>&1

hyperfine -N --warmup 20 --runs "$runs" --export-json "$work/results.json" \
  -n "nook exec" "$nook --root $work/nook-state exec bench-nook true" \
  -n "crun exec" "crun --root $work/crun-state exec bench-crun true" >/dev/null 2>&1
jq -r --arg m "$manager" '
  (.results[0].mean * 1000) as $n | (.results[1].mean * 1000) as $c |
  "exec (\($m)): nook \($n*100|round/100) ms, crun \($c*100|round/100) ms, crun/nook = \($c/$n*100|round/100)x"' \
  "$work/results.json"
