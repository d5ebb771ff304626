#!/bin/bash
# Start path: `nook run` vs `crun run` of `true` on the same busybox bundle,
# rootless, in the same hyperfine run, for each cgroup manager both have.
# Prints the means and the ratio crun/nook (above 2 meets the target of
# "at most half of crun's time").
#
#   bench/start.sh [RUNS]     (as root: runs as the test user in the world)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
runs=${1:-200}

if [ "$(id -u)" = 0 ] && [ -z "${NOOK_BENCH_INNER:-}" ]; then
  ninja -C "$src/build" >/dev/null
  "$src/tests/harness/share-with-user" "$src" >/dev/null 2>&1 || chmod -R a+rX "$src"
  exec "$src/tests/harness/world" -- env NOOK_BENCH_INNER=1 "$src/bench/start.sh" "$runs"
fi

command -v hyperfine >/dev/null || { echo "bench: hyperfine is not installed" >&2; exit 1; }
command -v crun >/dev/null || { echo "bench: crun is not installed" >&2; exit 1; }
nook=$src/build/nook
work=$(mktemp -d /tmp/nook-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$src/tests/harness/make-busybox-rootfs" "$work/rootfs" >/dev/null
"$nook" spec --rootless --bundle "$work"
# crun 1.8 knows runtime-spec versions up to 1.0.x; the config is the same.
jq '.ociVersion = "1.0.2" | .process.terminal = false | .process.args = ["true"]' \
  "$work/config.json" >"$work/c" && mv "$work/c" "$work/config.json"

export_json=$work/results.json
for manager in disabled cgroupfs systemd; do
  hyperfine -N --warmup 20 --runs "$runs" --export-json "$export_json.$manager" \
    -n "nook ($manager)" "$nook --cgroup-manager=$manager run -b $work bench-nook" \
    -n "crun ($manager)" "crun --cgroup-manager=$manager run -b $work bench-crun" >/dev/null 2>&1 ||
    { echo "$manager: a run failed; skipping this manager"; continue; }
  # The medians too: on a shared machine a burst of load in one of the two
  # blocks of runs moves a mean more than a median.
  jq -r --arg m "$manager" '
    (.results[0].mean * 1000) as $n | (.results[1].mean * 1000) as $c |
    (.results[0].median * 1000) as $nm | (.results[1].median * 1000) as $cm |
    "\($m): nook \($n*100|round/100) ms, crun \($c*100|round/100) ms, crun/nook = \($c/$n*100|round/100)x (medians \($nm*100|round/100) / \($cm*100|round/100) ms = \($cm/$nm*100|round/100)x)"' \
    "$export_json.$manager"
done
