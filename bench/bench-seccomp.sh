#!/bin/bash
# Start cost of a seccomp profile: `nook run true` with podman's default
# profile (about 370 syscalls on x86_64, x86 and x32), with the compiled
# filter cached (every start after the first) and with the cache emptied
# before each run, against the same container without a profile and against
# crun with the same profile. Prints median times and ratios.
#
#   bench/bench-seccomp.sh [NOOK]            as a user with a rootless session
#   tests/harness/world -- bench/bench-seccomp.sh [NOOK]     as root
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
nook=${1:-${NOOK:-$src/build/nook}}
profile_src=/usr/share/containers/seccomp.json
for tool in hyperfine jq crun; do
  command -v $tool >/dev/null || { echo "bench-seccomp: $tool is missing" >&2; exit 1; }
done
[ -r "$profile_src" ] || { echo "bench-seccomp: $profile_src is missing (containers-common)" >&2; exit 1; }

work=$(mktemp -d /tmp/bench-seccomp.XXXXXX)
trap 'rm -rf "$work"' EXIT
cd "$work"

mkdir -p rootfs/bin
cp /bin/busybox rootfs/bin/busybox
ln -s busybox rootfs/bin/true
ln -s busybox rootfs/bin/sh

"$nook" spec --rootless >/dev/null
mkdir plain seccomp
# crun 1.8 refuses ociVersion 1.2.0.
jq '.ociVersion = "1.0.2" | .process.args = ["/bin/true"] | .process.terminal = false |
  .root.path = "../rootfs"' \
  config.json >plain/config.json
jq -f "$src/bench/podman-default-seccomp.jq" "$profile_src" >profile.json
jq --slurpfile p profile.json '.linux.seccomp = $p[0]' plain/config.json >seccomp/config.json
echo "profile: $(jq '[.syscalls[].names | length] | add' profile.json) syscall names in" \
  "$(jq '.syscalls | length' profile.json) rules, $(jq -r '.architectures | join(" ")' profile.json)"

nroot=$work/nook-root
croot=$work/crun-root
# A first run compiles and caches the filter, and checks that both work.
"$nook" --root "$nroot" run --bundle seccomp warm
crun --root "$croot" run --bundle seccomp warm

# One --prepare per command (a single one would apply to all of them).
hyperfine -N --warmup 3 --runs ${RUNS:-40} --export-json results.json \
  -n "nook, no seccomp" --prepare true "$nook --root $nroot run --bundle plain b1" \
  -n "nook, podman profile, cached" --prepare true "$nook --root $nroot run --bundle seccomp b2" \
  -n "nook, podman profile, no cache" --prepare "rm -rf $nroot/.seccomp-cache" \
  "$nook --root $nroot run --bundle seccomp b3" \
  -n "crun, no seccomp" --prepare true "crun --root $croot run --bundle plain b4" \
  -n "crun, podman profile" --prepare true "crun --root $croot run --bundle seccomp b5" \
  >/dev/null 2>&1

# The median: on a shared machine the mean follows the neighbours' load.
jq -r '[.results[] | {key: .command, value: .median}] | from_entries as $m |
  def ms: . * 100000 | round / 100 | tostring + " ms";
  def ratio(a; b): ($m[a] / $m[b]) * 100 | round / 100 | tostring + "x";
  ($m | to_entries[] | "\(.key | . + " " * (32 - length))\(.value | ms)"),
  "nook/crun with the profile, cached:   " + ratio("nook, podman profile, cached"; "crun, podman profile"),
  "nook/crun with the profile, no cache: " + ratio("nook, podman profile, no cache"; "crun, podman profile"),
  "nook/crun without a profile:          " + ratio("nook, no seccomp"; "crun, no seccomp"),
  "profile cost, nook cached:   " + ($m["nook, podman profile, cached"] - $m["nook, no seccomp"] | ms),
  "profile cost, nook no cache: " + ($m["nook, podman profile, no cache"] - $m["nook, no seccomp"] | ms),
  "profile cost, crun:          " + ($m["crun, podman profile"] - $m["crun, no seccomp"] | ms)' results.json
