#!/bin/bash
# Start cost of each cgroup driver: `nook run` of `true` with
# --cgroup-manager systemd, cgroupfs and disabled, against crun with the same
# driver, in one hyperfine run. Prints median times and nook/crun ratios.
# The systemd driver should cost no more than crun's.
#
#   bench/cgroup.sh [NOOK]     as a user in a session, or as root (runs as the
#                              test user in tests/harness/world)
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
nook=${1:-${NOOK:-$src/build/nook}}
if [ "$(id -u)" = 0 ] && [ -z "${NOOK_BENCH_INNER:-}" ]; then
  "$src/tests/harness/share-with-user" "$src" >/dev/null 2>&1 || chmod -R a+rX "$src"
  exec "$src/tests/harness/world" -- env NOOK_BENCH_INNER=1 RUNS="${RUNS:-30}" "$src/bench/cgroup.sh" "$nook"
fi
for tool in hyperfine jq crun; do
  command -v $tool >/dev/null || { echo "bench/cgroup: $tool is missing" >&2; exit 1; }
done
[ "$(stat -f -c %T /sys/fs/cgroup)" = cgroup2fs ] ||
  { echo "bench/cgroup: /sys/fs/cgroup is not cgroup v2 (run it in tests/harness/world)" >&2; exit 1; }

work=$(mktemp -d /tmp/bench-cgroup.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

mkdir -p rootfs/bin
cp /bin/busybox rootfs/bin/busybox
ln -s busybox rootfs/bin/true
"$nook" spec --rootless >/dev/null
mkdir b
# crun 1.8 refuses ociVersion 1.2.0.
jq '.ociVersion = "1.0.2" | .process.args = ["/bin/true"] | .process.terminal = false |
  .root.path = "../rootfs"' config.json >b/config.json

nroot=$work/nook-root
croot=$work/crun-root
drivers=(systemd cgroupfs disabled)
args=()
for d in "${drivers[@]}"; do
  # Each must work before it is timed, and must use the driver asked for.
  "$nook" --root "$nroot" --cgroup-manager "$d" run --bundle b "check-$d" ||
    { echo "bench/cgroup: nook with $d failed" >&2; exit 1; }
  crun --root "$croot" --cgroup-manager "$d" run --bundle b "check-$d" ||
    { echo "bench/cgroup: crun with $d failed" >&2; exit 1; }
  args+=(-n "nook $d" "$nook --root $nroot --cgroup-manager $d run --bundle b n-$d")
  args+=(-n "crun $d" "crun --root $croot --cgroup-manager $d run --bundle b c-$d")
done

hyperfine -N --warmup 3 --runs "${RUNS:-30}" --export-json results.json "${args[@]}" >/dev/null 2>&1

# The median: on a shared machine the mean follows the neighbours' load.
jq -r '[.results[] | {key: .command, value: .median}] | from_entries as $m |
  def ms: . * 100000 | round / 100 | tostring + " ms";
  ($m | to_entries[] | "\(.key | . + " " * (20 - length))\(.value | ms)"),
  (["systemd", "cgroupfs", "disabled"][] as $d |
    "nook/crun \($d): \(($m["nook " + $d] / $m["crun " + $d]) * 100 | round / 100)x")' \
  results.json
