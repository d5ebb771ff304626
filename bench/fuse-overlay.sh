#!/bin/bash
# FUSE overlay benchmark: nook-fuse-overlayfs against fuse-overlayfs and the
# kernel's overlay (userxattr, in a user namespace), same run, same layers.
#
#   bench/fuse-overlay.sh [BUILD_DIR]    (as an unprivileged user; BUILD_DIR
#                                         defaults to ./build)
# Env: BENCH_DIR (scratch: default /dev/shm, a tmpfs, so that the disk and
#      other users of it do not drown the filesystems' own cost), BIG_MB (512), TREE_FILES (20000),
#      FIO_SECONDS (10), REPEAT (3), METRICS (some of "create stat seqread
#      copyup fio", default all), CONTENDERS ("nook fuse-overlayfs native";
#      also "nook-st": nook with threaded=0, one thread as fuse-overlayfs runs;
#      "nook-poll": nook with poll_us=50), NOOK_BASE (another build's
#      nook-fuse-overlayfs, measured in the same run as "nook-base": a
#      change against its base).
#
# Workloads: create 2000 small files; stat a 20k-file tree (cold: first walk
# after mounting; warm: second walk); sequential read of a 512 MiB lower
# file; 4k random read and write (fio, psync; fio drops the cache before
# each pass over the file, so every read reaches the filesystem); copy-up
# of the 512 MiB file.
# Times are the best of REPEAT runs, each on a fresh mount; the ratio column
# says how many times faster than fuse-overlayfs (higher is better). The
# *_cpu_ms rows are the CPU time of the daemon and the workload together,
# which a busy machine disturbs less than the wall time.
#
# What bounds the ratios (kernel 6.18, libfuse 3.14, rootless): a create
# costs five synchronous round trips for any FUSE overlay (GETATTR of the
# parent, which default_permissions asks for after every change of the
# directory; LOOKUP; CREATE; GETXATTR security.capability before the first
# write; WRITE when the writeback cache is flushed at close), so both daemons
# differ only in what they spend per request. A sequential read goes through
# the FUSE page cache in 128 KiB readahead requests (the kernel's cap), one
# copy in the daemon and one in the reader for both; passthrough would
# avoid that but needs CAP_SYS_ADMIN in the initial namespace.
set -euo pipefail

build=$(cd "${1:-build}" && pwd)
nook_fuse=$build/nook-fuse-overlayfs
[ -x "$nook_fuse" ] || { echo "no $nook_fuse: build nook first" >&2; exit 1; }
command -v fuse-overlayfs >/dev/null || { echo "fuse-overlayfs is not installed" >&2; exit 1; }
command -v fio >/dev/null || { echo "fio is not installed" >&2; exit 1; }
big_mb=${BIG_MB:-512}
tree_files=${TREE_FILES:-20000}
fio_seconds=${FIO_SECONDS:-10}
repeat=${REPEAT:-3}
contenders=${CONTENDERS:-nook fuse-overlayfs native${NOOK_BASE:+ nook-base}}
if [ -n "${NOOK_BASE:-}" ]; then
  [ -x "$NOOK_BASE" ] || { echo "NOOK_BASE=$NOOK_BASE is not an executable" >&2; exit 1; }
  NOOK_BASE=$(realpath "$NOOK_BASE")
fi

bench_dir=${BENCH_DIR:-/dev/shm}
[ -w "$bench_dir" ] || bench_dir=/tmp
work=$(mktemp -d "$bench_dir/nook-fuse-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
lower=$work/lower
echo "preparing layers in $work ..." >&2
mkdir -p "$lower/tree"
dd if=/dev/urandom of="$lower/big" bs=1M count="$big_mb" status=none
python3 - "$lower/tree" "$tree_files" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
per = 1000
for i in range(n):
    d = os.path.join(root, "d%03d" % (i // per))
    if i % per == 0:
        os.mkdir(d)
    with open(os.path.join(d, "f%05d" % i), "w") as f:
        f.write("x" * (i % 200))
PY

# One measurement: mount the contender, run one workload, print
# "contender metric value".
measure() {
  local who=$1 metric=$2 run=$3
  local d=$work/$who.$metric.$run
  mkdir -p "$d"/{upper,work,mnt}
  unshare -Urm bash -euo pipefail -c '
    who=$1 metric=$2 d=$3 lower=$4 nook_fuse=$5 fio_seconds=$6 nook_base=$7
    opts="lowerdir=$lower,upperdir=$d/upper,workdir=$d/work"
    case $who in
      nook) "$nook_fuse" -o "$opts" "$d/mnt" ;;
      nook-st) "$nook_fuse" -o "$opts,threaded=0" "$d/mnt" ;;
      nook-poll) "$nook_fuse" -o "$opts,poll_us=50" "$d/mnt" ;;
      nook-base) "$nook_base" -o "$opts" "$d/mnt" ;;
      fuse-overlayfs) fuse-overlayfs -o "$opts" "$d/mnt" ;;
      native) mount -t overlay overlay -o "$opts,userxattr" "$d/mnt" ;;
    esac
    cd "$d/mnt"
    # CPU time of the filesystem daemon and of the workload (in 10 ms
    # ticks): on a busy machine wall time says more about the neighbours.
    dpid=$(pgrep -n -f -- "$d/mnt" || true)
    [ "$who" = native ] && dpid=
    ticks() {
      local t=0
      [ -n "$dpid" ] && t=$(awk "{print \$14 + \$15}" /proc/$dpid/stat)
      echo $((t + $(awk "{print \$16 + \$17}" /proc/$$/stat)))
    }
    now() { date +%s%N; }
    ms() { local t=$(( ($2 - $1) / 100000 )); echo "$((t / 10)).$((t % 10))"; }
    case $metric in
      create)
        # One process creates them all (open, write, close each), timed
        # inside it: the filesystem is measured, not a loop of the shell.
        mkdir c; c0=$(ticks)
        python3 -c "
import os, time
t = time.perf_counter()
for i in range(2000):
    fd = os.open(\"c/f%d\" % i, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b\"x\\n\")
    os.close(fd)
print(\"$who create_2000_ms %.1f\" % ((time.perf_counter() - t) * 1000))"
        c1=$(ticks)
        echo "$who create_2000_cpu_ms $(((c1 - c0) * 10))" ;;
      stat)
        c0=$(ticks); s=$(now); find tree -printf "%s %m\n" > /dev/null; e=$(now); c1=$(ticks)
        echo "$who stat_tree_cold_ms $(ms $s $e)"
        echo "$who stat_tree_cold_cpu_ms $(((c1 - c0) * 10))"
        s=$(now); find tree -printf "%s %m\n" > /dev/null; e=$(now)
        echo "$who stat_tree_warm_ms $(ms $s $e)" ;;
      seqread)
        # Cold for every contender: the backing file leaves the page cache
        # first (a fresh mount starts with an empty cache of its own).
        python3 -c "import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)" "$lower/big"
        c0=$(ticks); s=$(now); dd if=big of=/dev/null bs=1M status=none; e=$(now); c1=$(ticks)
        echo "$who seq_read_ms $(ms $s $e)"
        echo "$who seq_read_cpu_ms $(((c1 - c0) * 10))" ;;
      copyup)
        s=$(now); echo >> big; sync big 2>/dev/null || true; e=$(now)
        echo "$who copy_up_ms $(ms $s $e)" ;;
      fio)
        fio --name=layout --filename=fiofile --size=256M --rw=write --bs=1M \
          --ioengine=psync --output=/dev/null
        for rw in randread randwrite; do
          iops=$(fio --name=$rw --filename=fiofile --size=256M --rw=$rw --bs=4k \
            --ioengine=psync --runtime=$fio_seconds --time_based --output-format=json |
            python3 -c "import json,sys; j=json.load(sys.stdin)[\"jobs\"][0]; print(int(j[\"read\" if \"read\" in sys.argv[1] else \"write\"][\"iops\"]))" $rw)
          echo "$who ${rw}_4k_iops $iops"
        done ;;
    esac
    cd /
    umount "$d/mnt"
  ' measure "$who" "$metric" "$d" "$lower" "$nook_fuse" "$fio_seconds" "${NOOK_BASE:-}"
  rm -rf "$d"
}

results=$work/results
: > "$results"
for metric in ${METRICS:-create stat seqread copyup fio}; do
  [ "$metric" = fio ] && continue
  for run in $(seq "$repeat"); do
    for who in $contenders; do
      echo "  $who $metric run $run" >&2
      measure "$who" "$metric" "$run" >> "$results"
    done
  done
done
case " ${METRICS:-fio} " in
  *" fio "*)
    for who in $contenders; do
      echo "  $who fio" >&2
      measure "$who" fio 1 >> "$results"
    done ;;
esac

python3 - "$results" $contenders <<'PY'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
who_list = sys.argv[2:]
best = {}
for who, metric, value in rows:
    v = float(value)
    higher_better = metric.endswith("iops")
    k = (who, metric)
    if k not in best or (v > best[k] if higher_better else v < best[k]):
        best[k] = v
metrics = []
for _, m, _ in rows:
    if m not in metrics:
        metrics.append(m)
print("%-22s" % "metric" + "".join("%16s" % w for w in who_list) + "   ratio vs fuse-overlayfs")
for m in metrics:
    line = "%-22s" % m + "".join("%16s" % ("%.1f" % best[(w, m)] if (w, m) in best else "-") for w in who_list)
    ref = best.get(("fuse-overlayfs", m))
    ratios = []
    for w in who_list:
        if w == "fuse-overlayfs" or (w, m) not in best or not ref:
            continue
        v = best[(w, m)]
        r = v / ref if m.endswith("iops") else ref / v
        ratios.append("%s %.2fx" % (w, r))
    print(line + "   " + ", ".join(ratios))
print("(times in ms, best of the runs; iops higher is better; ratio > 1: faster than fuse-overlayfs)")
PY
