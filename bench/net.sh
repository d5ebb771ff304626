#!/bin/bash
# Network throughput, side by side in one run (iperf3, TCP):
#   container -> host  (through the gateway 10.0.2.2 to host loopback):
#       nook-net vs slirp4netns, at MTU 65520 and 1500
#   host -> container  (through a forwarded port, added on the API socket):
#       nook-net vs slirp4netns's hostfwd vs pasta, and the other way
#       (iperf3 -R: the container's server sends, as a web server does)
# A "container" is a network namespace made with `unshare -Urn` holding sleep.
# Beside Gbit/s it prints the helper's CPU seconds per GB moved (user +
# system of the helper process): the machine's other load moves it less.
#
#   bench/net.sh [SECONDS [ROUNDS]]   (default 5 s, 3 rounds; as root it enters
#                                      tests/harness/world)
# Environment: NOOK_BUILD (default build/, must hold nook-net).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=${NOOK_BUILD:-$src/build}
secs=${1:-5}
rounds=${2:-3}
# Ports of our own: other users of this machine may hold the usual ones.
c2h_port=$((20000 + RANDOM % 10000))
fwd_port=$((30000 + RANDOM % 10000))
if [ "$(id -u)" = 0 ]; then
  exec "$src/tests/harness/world" --no-systemd -- env NOOK_BUILD="$build" "$0" "$@"
fi
for tool in iperf3 slirp4netns pasta jq socat; do
  command -v $tool >/dev/null || { echo "bench/net.sh: $tool is not installed" >&2; exit 1; }
done
[ -x "$build/nook-net" ] || { echo "bench/net.sh: no $build/nook-net (build first)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

nsx() { local p=$1; shift; nsenter --preserve-credentials -U -n -t "$p" "$@"; }
new_ns() {
  unshare -Urn sleep 3600 &
  ns=$!
  pids+=($ns)
  # $! exists before unshare(2) has run (a loaded machine takes a while)
  while [ "$(readlink /proc/$ns/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.01; done
}
wait_route() {
  for _ in $(seq 100); do
    nsx "$ns" ip route 2>/dev/null | grep -q default && return 0
    sleep 0.05
  done
  echo "bench/net.sh: the network never came up" >&2; exit 1
}
# The helper's CPU time (user + system, clock ticks) so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# iperf3's JSON on stdin, the helper's ticks before and after: "Gbit/s CPU-s/GB".
result() {
  jq -r --argjson t "$(($2 - $1))" --argjson hz "$(getconf CLK_TCK)" \
    '.end.sum_received | "\(.bits_per_second / 1e9 * 100 | round / 100) \($t / $hz / (.bytes / 1e9) * 100 | round / 100)"'
}

start_net() { # TOOL MTU [API]
  local tool=$1 mtu=$2 api=${3:-}
  case $tool in
    nook) "$build/nook-net" -c --mtu "$mtu" ${api:+--api-socket "$api"} "$ns" tap0 & ;;
    slirp4netns) slirp4netns -c --mtu "$mtu" ${api:+--api-socket "$api"} "$ns" tap0 >/dev/null 2>&1 & ;;
    pasta) pasta -f -q --config-net -t $fwd_port:5201 -u none -T none -U none "$ns" & ;;
  esac
  net=$!; pids+=($net)
  wait_route
}
# Each measurement runs in a $(...) subshell: it ends what it started itself.
srv=
stop() {
  kill $net $ns $srv 2>/dev/null || true
  wait $net $ns $srv 2>/dev/null || true
}

# container -> host
iperf3 -s -B 127.0.0.1 -p "$c2h_port" >/dev/null 2>&1 & pids+=($!)
sleep 0.3
c2h() { # TOOL MTU
  new_ns; start_net "$1" "$2"
  local t0 out
  t0=$(cpu_ticks $net)
  out=$(nsx "$ns" iperf3 -c 10.0.2.2 -p "$c2h_port" -t "$secs" -J)
  result "$t0" "$(cpu_ticks $net)" <<<"$out"
  stop
}
# host -> container
h2c() { # TOOL [-R]
  new_ns
  nsx "$ns" iperf3 -s -p 5201 >/dev/null 2>&1 &
  srv=$!
  local api=$work/api.sock
  rm -f "$api"
  start_net "$1" 65520 "$([ "$1" = pasta ] || echo "$api")"
  if [ "$1" != pasta ]; then
    echo '{"execute":"add_hostfwd","arguments":{"proto":"tcp","host_addr":"127.0.0.1","host_port":'$fwd_port',"guest_port":5201}}' |
      socat - UNIX-CONNECT:"$api" | grep -q return
  fi
  sleep 0.2
  local t0 out
  t0=$(cpu_ticks $net)
  out=$(iperf3 -c 127.0.0.1 -p $fwd_port -t "$secs" -J ${2:-})
  result "$t0" "$(cpu_ticks $net)" <<<"$out"
  stop
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2fx", a / b; else print "n/a" }'; }

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# Alternating rounds, the median of each: the machine's other load moves
# every number, and alternating spreads it over the contenders.
declare -A got cpu
add() { # KEY "GBPS CPU"
  got[$1]+=" ${2% *}"
  cpu[$1]+=" ${2#* }"
}
for ((round = 1; round <= rounds; round++)); do
  for mtu in 65520 1500; do
    for tool in nook slirp4netns; do add c2h-$tool-$mtu "$(c2h $tool $mtu)"; done
  done
  for tool in nook slirp4netns pasta; do add h2c-$tool "$(h2c $tool)"; done
  for tool in nook slirp4netns pasta; do add c2h-fwd-$tool "$(h2c $tool -R)"; done
done
m() { echo "${got[$1]}" | median; }
c() { echo "${cpu[$1]}" | median; }

echo "iperf3 TCP, ${secs}s each, median of $rounds rounds: Gbit/s, and in () the helper's CPU seconds per GB"
for mtu in 65520 1500; do
  n=$(m c2h-nook-$mtu); s=$(m c2h-slirp4netns-$mtu)
  printf 'container->host MTU %-5s  nook %6s (%s)  slirp4netns %6s (%s)  ratio %s\n' $mtu \
    "$n" "$(c c2h-nook-$mtu)" "$s" "$(c c2h-slirp4netns-$mtu)" "$(ratio "$n" "$s")"
done
for dir in h2c c2h-fwd; do
  n=$(m $dir-nook); s=$(m $dir-slirp4netns); p=$(m $dir-pasta)
  printf '%-26s nook %6s (%s)  slirp4netns %6s (%s)  pasta %6s (%s)  ratio vs slirp4netns %s, vs pasta %s\n' \
    "$([ $dir = h2c ] && echo 'host->container fwd port' || echo 'container->host fwd port')" \
    "$n" "$(c $dir-nook)" "$s" "$(c $dir-slirp4netns)" "$p" "$(c $dir-pasta)" "$(ratio "$n" "$s")" "$(ratio "$n" "$p")"
done
