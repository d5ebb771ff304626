# Forwarded ports show the container's servers the client's own address:
# UDP, and IPv6 clients (TCP and UDP) when the container has IPv6. Real
# clients on the host's addresses, real servers in the container.
TEST_TIMEOUT=120

source "$NOOK_SRC/tests/net/net-lib.sh"

host_ipv4() { ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1; }
host_ipv6() { ip -6 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1; }

# udp_ask BIND DEST PORT: sends "ping" from BIND (port 0) to DEST:PORT and
# prints the reply and the address:port it came from ("-" when none came).
udp_ask() {
  python3 - "$@" <<'PY'
import ipaddress, re, socket, sys
bind, dest, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in dest else socket.AF_INET, socket.SOCK_DGRAM)
s.bind((bind, 0))
s.settimeout(5)
s.sendto(b"ping\n", (dest, port))
try:
    data, src = s.recvfrom(1000)
    # socat spells IPv6 addresses out in full
    text = re.sub(r"\[([0-9a-fA-F:]+)\]",
                  lambda m: "[%s]" % ipaddress.ip_address(m.group(1)), data.decode().strip())
    print(text, "%s:%d" % (src[0], src[1]))
except socket.timeout:
    print("-")
PY
}

# udp_echo_container ID PORTS SOCAT-ADDRESS: a container forwarding PORTS
# whose network namespace runs a UDP server answering "ping from CLIENT".
udp_echo_container() {
  net_bundle b
  cfg b --arg p "$2" '.annotations["nook.ports"] = $p | .process.args = ["sleep", "100"]'
  start_detached "$1" b
  local pid
  pid=$(init_pid "$1")
  nsx "$pid" socat "$3",fork SYSTEM:'read l; echo "$l from $SOCAT_PEERADDR"' &
  wait_for "nsx $pid ss -lun | grep -q ':9999 '"
}

test_net_forwarded_udp_port_shows_the_client_address() {
  local port id hostip
  port=$(free_port udp)
  id=$(unique_id net)
  udp_echo_container "$id" "$port:9999/udp" UDP4-RECVFROM:9999
  assert_eq "ping from 127.0.0.2 127.0.0.1:$port" "$(udp_ask 127.0.0.2 127.0.0.1 "$port")" \
    "reply to a loopback client"
  hostip=$(host_ipv4)
  [ -n "$hostip" ] || skip "the host has no global IPv4 address to send from"
  assert_eq "ping from $hostip $hostip:$port" "$(udp_ask "$hostip" "$hostip" "$port")" \
    "reply to a client on the host's address"
  # every client its own flow: a second one is not shown as the first
  assert_eq "ping from 127.0.0.3 127.0.0.1:$port" "$(udp_ask 127.0.0.3 127.0.0.1 "$port")"
  # the container's own traffic still leaves through the tap
  assert_contains "$(nsx "$(init_pid "$id")" ip route get 192.0.2.1)" "dev tap0"
}

test_net_udp_reply_rule_goes_with_its_port() {
  local port id pid sock reply
  port=$(free_port udp)
  id=$(unique_id net)
  udp_echo_container "$id" "" UDP4-RECVFROM:9999
  pid=$(init_pid "$id")
  sock="$XDG_RUNTIME_DIR/nook/$id/net.sock"
  [ -S "$sock" ] || fail "no API socket for $id"
  [ -z "$(nsx "$pid" ip rule | grep 'sport 9999')" ] || fail "a rule before the port is added"
  reply=$(echo "{\"execute\":\"add_hostfwd\",\"arguments\":{\"proto\":\"udp\",\"host_addr\":\"127.0.0.1\",\"host_port\":$port,\"guest_port\":9999}}" |
    socat - UNIX-CONNECT:"$sock")
  assert_eq '{"return":{"id":1}}' "$reply" "add_hostfwd reply"
  assert_contains "$(nsx "$pid" ip rule)" "ipproto udp sport 9999 lookup 28267"
  assert_eq "ping from 127.0.0.2 127.0.0.1:$port" "$(udp_ask 127.0.0.2 127.0.0.1 "$port")"
  echo '{"execute":"remove_hostfwd","arguments":{"id":1}}' | socat - UNIX-CONNECT:"$sock" >/dev/null
  [ -z "$(nsx "$pid" ip rule | grep 'sport 9999')" ] || fail "the rule outlived its port"
}

test_net_forwarded_ipv6_tcp_port_shows_the_client_address() {
  [ -e /proc/net/if_inet6 ] || skip "no IPv6 on this host"
  local port port4 id pid host6
  port=$(free_port tcp)
  port4=$(free_port tcp)
  peer_bundle b "[::]:$port:8080,[::1]:$port4:9000"
  id=$(unique_id net)
  start_detached "$id" b
  wait_for "curl -sfg http://[::1]:$port/cgi-bin/peer >/dev/null"
  assert_eq "[::1]" "$(curl -sfg "http://[::1]:$port/cgi-bin/peer")" "an IPv6 loopback client"
  # an IPv4 client of the same dual-stack port is still itself
  assert_eq 127.0.0.2 "$(peer_seen "http://127.0.0.1:$port/cgi-bin/peer" --interface 127.0.0.2)" \
    "an IPv4 client of an IPv6 host address"
  host6=$(host_ipv6)
  if [ -n "$host6" ]; then
    assert_eq "[$host6]" "$(curl -sfg --interface "$host6" "http://[$host6]:$port/cgi-bin/peer")" \
      "an IPv6 client on the host's address"
    for i in $(seq 10); do
      curl -sfg --max-time 5 "http://[$host6]:$port/cgi-bin/peer" >/dev/null || fail "request $i"
    done
  fi
  # a server on IPv4 only: the IPv6 client comes from the container's address
  pid=$(init_pid "$id")
  nsx "$pid" socat TCP4-LISTEN:9000,reuseaddr,fork SYSTEM:'echo "$SOCAT_PEERADDR"' &
  wait_for "nsx $pid ss -ltn | grep -q ':9000 '"
  assert_eq 10.0.2.100 "$(socat -T 5 - "TCP6:[::1]:$port4" </dev/null)" \
    "an IPv6 client of a server on IPv4 only"
  [ "$("$NOOK_BUILD/nook" state "$id" | jq -r .status)" = running ] || fail "container died"
}

test_net_forwarded_ipv6_udp_port_shows_the_client_address() {
  [ -e /proc/net/if_inet6 ] || skip "no IPv6 on this host"
  local port id host6
  port=$(free_port udp)
  id=$(unique_id net)
  udp_echo_container "$id" "[::]:$port:9999/udp" UDP6-RECVFROM:9999
  assert_eq "ping from [::1] ::1:$port" "$(udp_ask ::1 ::1 "$port")" "an IPv6 loopback client"
  host6=$(host_ipv6)
  if [ -n "$host6" ]; then
    assert_eq "ping from [$host6] $host6:$port" "$(udp_ask "$host6" "$host6" "$port")" \
      "an IPv6 client on the host's address"
  fi
}

test_net_forwarded_ipv6_udp_to_an_ipv4_only_server_comes_from_the_container() {
  [ -e /proc/net/if_inet6 ] || skip "no IPv6 on this host"
  local port id
  port=$(free_port udp)
  id=$(unique_id net)
  udp_echo_container "$id" "[::1]:$port:9999/udp" UDP4-RECVFROM:9999
  # the first datagram goes over IPv6, is refused, and goes again over IPv4
  assert_eq "ping from 10.0.2.100 ::1:$port" "$(udp_ask ::1 ::1 "$port")" \
    "an IPv6 client of a server on IPv4 only"
}
