#!/bin/bash
# Image import benchmark: `nook image import` against rootless `podman load`
# of the same multi-layer docker-archive, each into fresh storage every run.
#
#   bench/image-import.sh [BUILD_DIR]   (as an unprivileged user with
#                                        subordinate ids; BUILD_DIR defaults
#                                        to ./build)
# Env: BENCH_DIR (scratch, default /tmp), LAYERS (5), FILES (2000 per layer),
#      BIG_MB (8 per layer), RUNS (7 rounds).
#
# The image: the busybox rootfs, then LAYERS-1 gzip layers of FILES small
# files and one BIG_MB file each. Storage is removed in a user namespace
# with the subordinate ids mapped (unshare --map-auto) before each run and is
# not timed. The ratio is podman's time over nook's (higher is better).
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-build}" && pwd)
nook=$build/nook
[ -x "$build/nook-image" ] || { echo "no $build/nook-image: build nook first" >&2; exit 1; }
for tool in podman skopeo hyperfine umoci jq python3; do
  command -v $tool >/dev/null || { echo "$tool is not installed (scripts/install-deps)" >&2; exit 1; }
done
layers=${LAYERS:-5}
files=${FILES:-2000}
big_mb=${BIG_MB:-8}
runs=${RUNS:-7}

work=$(mktemp -d "${BENCH_DIR:-/tmp}/nook-image-bench.XXXXXX")
cleanup() { unshare --map-root-user --map-auto rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
echo "building a $layers-layer image in $work ..." >&2
umoci init --layout oci
umoci new --image oci:bench
umoci unpack --rootless --image oci:bench bundle >/dev/null
mkdir -p bundle/rootfs/bin
cp /bin/busybox bundle/rootfs/bin/busybox
for applet in $(/bin/busybox --list); do ln -sf busybox "bundle/rootfs/bin/$applet"; done
umoci repack --image oci:bench bundle
for i in $(seq 2 "$layers"); do
  rm -rf bundle/rootfs/layer$i
  python3 - "bundle/rootfs/layer$i" "$files" "$big_mb" <<'PY'
import os, sys
root, n, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(root)
for i in range(n):
    d = os.path.join(root, "d%02d" % (i // 200))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%05d" % i), "wb") as f:
        f.write(os.urandom(64) * (1 + i % 16))
with open(os.path.join(root, "big"), "wb") as f:
    f.write(os.urandom(big << 20))
PY
  umoci repack --image oci:bench bundle
done
rm -rf bundle
skopeo copy -q oci:oci:bench docker-archive:bench.tar:localhost/bench:1
echo "archive: $(du -h bench.tar | cut -f1), $layers layers" >&2

export NOOK_STORAGE=$work/nook-store
podman_opts="--root $work/podman-root --runroot $work/podman-run --storage-driver overlay --events-backend file --cgroup-manager cgroupfs"
wipe="unshare --map-root-user --map-auto rm -rf $work/nook-store $work/podman-root $work/podman-run"
# Rounds alternate the contenders, so both meet the same state of the
# filesystem (ext4's inode allocator slows down after mass deletions, which
# every other run here makes too).
for i in $(seq 1 "$runs"); do
  hyperfine --runs 1 --prepare "$wipe" --export-json "round$i.json" --style none \
    -n nook "$nook image import bench.tar bench:1" \
    -n podman "podman $podman_opts load -q -i bench.tar" >/dev/null
  jq -r '.results[] | "\(.command) \(.mean)"' "round$i.json"
done >times.txt
awk '
  { t[$1, ++n[$1]] = $2 }
  END {
    for (k in n) {
      # median of the rounds
      m = n[k]
      for (i = 1; i <= m; i++) v[i] = t[k, i]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (v[j] < v[i]) { x = v[i]; v[i] = v[j]; v[j] = x }
      med[k] = (m % 2) ? v[(m + 1) / 2] : (v[m / 2] + v[m / 2 + 1]) / 2
      min[k] = v[1]
    }
    printf "%-8s %12s %12s   (%d rounds)\n", "", "median ms", "best ms", n["nook"]
    printf "%-8s %12.1f %12.1f\n", "nook", med["nook"] * 1000, min["nook"] * 1000
    printf "%-8s %12.1f %12.1f\n", "podman", med["podman"] * 1000, min["podman"] * 1000
    printf "ratio podman/nook (median): %.2fx, (best): %.2fx\n", med["podman"] / med["nook"], min["podman"] / min["nook"]
  }' times.txt
