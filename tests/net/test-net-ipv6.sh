# IPv6 inside a container on slirp (nook launch): its address and route,
# the host's loopback through fd00::2 when allowed, DNS through fd00::3.
TEST_TIMEOUT=120

source "$NOOK_SRC/tests/net/net-lib.sh"
source "$NOOK_SRC/tests/workflow/launch-lib.sh"

test_net_ipv6_launch_has_an_address_and_a_default_route() {
  net_available
  make_launch_image
  local out
  out=$("$NOOK" launch --rm bb:1 sh -c 'ip -6 addr show dev tap0; ip -6 route')
  assert_contains "$out" "inet6 fd00::100/64" "address by default"
  assert_contains "$out" "default via fd00::2 dev tap0" "default route"
  out=$("$NOOK" launch --rm --net slirp:enable_ipv6=true,mtu=1500 bb:1 sh -c \
    'ip -6 addr show dev tap0; ip link show tap0')
  assert_contains "$out" "inet6 fd00::100/64" "address with enable_ipv6=true"
  assert_contains "$out" "mtu 1500 " "mtu=1500"
  out=$("$NOOK" launch --rm --network=slirp4netns:enable_ipv6=false bb:1 sh -c \
    'ip -6 addr show dev tap0; ip -6 route')
  case $out in *fd00*) fail "IPv6 with enable_ipv6=false: $out" ;; esac
}

test_net_ipv6_launch_bad_slirp_options_are_one_line() {
  net_available
  make_launch_image
  local err s
  for opt in slirp:enable_ipv6=yes slirp:mtu=10 slirp:nope=1 slirp:enable_ipv6; do
    s=0
    "$NOOK" launch --rm --net "$opt" bb:1 true 2>err || s=$?
    assert_eq 125 "$s" "exit status of --net $opt"
    assert_eq 1 "$(wc -l <err)" "lines of the error of --net $opt"
    assert_contains "$(cat err)" "launch: --net:" "the error of --net $opt"
  done
  assert_contains "$(cat err)" "expected KEY=VALUE"
}

# v6_to_host_loopback NET: what a container launched with --net NET sends
# to fd00::2 reaches the host's [::1] listener (prints what arrived).
v6_to_host_loopback() {
  local port
  port=$(free_port tcp)
  rm -f got
  socat -u TCP6-LISTEN:"$port",bind=[::1] OPEN:got,creat &
  local listener=$!
  wait_for "ss -ltn | grep -q '\[::1\]:$port '"
  "$NOOK" launch --rm --net "$1" bb:1 sh -c "echo hello-v6 | nc -w 2 fd00::2 $port" || true
  sleep 0.3
  kill $listener 2>/dev/null || true
  cat got 2>/dev/null || true
}

test_net_ipv6_launch_reaches_the_hosts_loopback_only_when_allowed() {
  net_available
  [ -e /proc/net/if_inet6 ] || skip "no IPv6 on this host"
  make_launch_image
  assert_eq hello-v6 "$(v6_to_host_loopback slirp:allow_host_loopback=true)" \
    "data through fd00::2 to the host's ::1"
  assert_eq "" "$(v6_to_host_loopback slirp)" "data through fd00::2 by default"
}

# dns_through NAMESERVER SERVER: in a "host" of our own (user, network and
# mount namespaces) whose resolv.conf names NAMESERVER, where dnsmasq
# answers nook.test on 127.0.0.1 and ::1, asks slirp's resolver SERVER from
# a network made by nook slirp4netns --enable-ipv6 (prints nslookup's
# output to lookup.out).
dns_through() {
  command -v dnsmasq >/dev/null || skip "dnsmasq is not installed"
  cat >inner.sh <<'IN'
set -euo pipefail
rm -f ready lookup.out
ip link set lo up
echo "nameserver $1" >resolv.conf
mount --bind "$PWD/resolv.conf" /etc/resolv.conf
dnsmasq --keep-in-foreground --port=53 --listen-address=127.0.0.1 --listen-address=::1 \
  --bind-interfaces --no-resolv --no-hosts --address=/nook.test/192.0.2.7 \
  --pid-file="$PWD/dnsmasq.pid" --user=root --group= --log-facility=- 2>dnsmasq.log &
for _ in $(seq 100); do ss -lun | grep -q '\[::1\]:53 ' && break; sleep 0.05; done
unshare -n sleep 100 &
ns=$!
while [ "$(readlink /proc/$ns/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.01; done
mkfifo ready
"$NOOK" slirp4netns --configure --mtu 65520 --enable-ipv6 --enable-sandbox --enable-seccomp \
  --ready-fd=3 "$ns" tap0 3>ready 2>net.err &
net=$!
up=
read -r -t 30 up <ready || true
[ "$up" = 1 ] || { echo "nook slirp4netns never got ready: $(cat net.err)" >lookup.out; exit 0; }
nsenter -n -t "$ns" timeout 10 busybox nslookup nook.test "$2" >lookup.out 2>&1 || true
kill "$net" "$ns" %1 2>/dev/null || true
IN
  NOOK=$NOOK unshare -Urnm bash inner.sh "$@"
  cat lookup.out
}

test_net_ipv6_dns_through_fd00__3_reaches_an_ipv6_nameserver() {
  dns_through ::1 fd00::3
  assert_contains "$(cat lookup.out)" "192.0.2.7" "answer through fd00::3"
}

test_net_ipv6_dns_through_fd00__3_reaches_an_ipv4_nameserver() {
  # libslirp 4.7 alone would forward fd00::3 to IPv6 nameservers only: nook
  # gives it the IPv4 ones as v4-mapped addresses (docs/network.md)
  dns_through 127.0.0.1 fd00::3
  assert_contains "$(cat lookup.out)" "192.0.2.7" "answer through fd00::3"
  dns_through 127.0.0.1 10.0.2.3
  assert_contains "$(cat lookup.out)" "192.0.2.7" "answer through 10.0.2.3"
}

test_net_ipv6_launch_publish_on_an_ipv6_address_shows_the_client() {
  net_available
  [ -e /proc/net/if_inet6 ] || skip "no IPv6 on this host"
  make_launch_image
  local port id
  port=$(free_port tcp)
  id=$("$NOOK" launch -d -p "[::1]:$port:8080" bb:1 sh -c 'mkdir -p /w/cgi-bin &&
    printf "#!/bin/sh\necho\necho \$REMOTE_ADDR\n" >/w/cgi-bin/peer && chmod +x /w/cgi-bin/peer &&
    exec httpd -f -p 8080 -h /w')
  trap "\"$NOOK\" rm -f $id >/dev/null 2>&1 || true" EXIT
  wait_for "curl -sfg http://[::1]:$port/cgi-bin/peer >/dev/null"
  assert_eq "[::1]" "$(curl -sfg "http://[::1]:$port/cgi-bin/peer")" "client the server saw"
  assert_contains "$("$NOOK" port "$id")" "[::1]:$port"
}
