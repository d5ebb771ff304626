# nook's network: nook-net (libslirp + splice port forwarding) attached to a
# container's network namespace. Real traffic only, on loopback and in
# namespaces the tests make.
TEST_TIMEOUT=180

source "$NOOK_SRC/tests/net/net-lib.sh"

test_net_container_reaches_host_tcp_and_udp_when_loopback_is_allowed() {
  local tport uport id
  tport=$(free_port tcp)
  uport=$(free_port udp)
  socat -u TCP-LISTEN:"$tport",bind=127.0.0.1 OPEN:tcp-got,creat &
  socat -u UDP-RECV:"$uport",bind=127.0.0.1 OPEN:udp-got,creat &
  net_bundle b
  cfg b '.annotations["nook.network.allow_host_loopback"] = "true" | .process.args = ["sleep", "100"]'
  id=$(unique_id net)
  start_detached "$id" b
  local pid
  pid=$(init_pid "$id")
  # TCP from the container's own busybox
  echo hello-tcp | "$NOOK" exec "$id" nc 10.0.2.2 "$tport" 2>/dev/null ||
    echo hello-tcp | nsx "$pid" socat -u - TCP:10.0.2.2:"$tport"
  wait_for '[ -s tcp-got ]'
  assert_eq hello-tcp "$(cat tcp-got)" "TCP data at the host"
  # UDP from the container's network namespace (busybox has no UDP client)
  echo hello-udp | nsx "$pid" socat -u - UDP:10.0.2.2:"$uport"
  wait_for '[ -s udp-got ]'
  assert_eq hello-udp "$(cat udp-got)" "UDP data at the host"
}

test_net_ipv6_reaches_the_host_through_fd00__2() {
  [ -e /proc/net/if_inet6 ] || skip "no IPv6 on this host"
  local tport id pid
  tport=$(free_port tcp)
  socat -u TCP6-LISTEN:"$tport",bind=[::1] OPEN:tcp6-got,creat &
  net_bundle b
  cfg b '.annotations["nook.network.allow_host_loopback"] = "true" | .process.args = ["sleep", "100"]'
  id=$(unique_id net)
  start_detached "$id" b
  pid=$(init_pid "$id")
  assert_contains "$(nsx "$pid" ip -6 addr show dev tap0)" "fd00::100/64"
  echo hello-v6 | nsx "$pid" socat -u - TCP6:[fd00::2]:"$tport"
  wait_for '[ -s tcp6-got ]'
  assert_eq hello-v6 "$(cat tcp6-got)" "IPv6 data at the host"
}

test_net_host_loopback_is_refused_by_default() {
  local tport id pid
  tport=$(free_port tcp)
  socat -u TCP-LISTEN:"$tport",bind=127.0.0.1 OPEN:tcp-got,creat &
  net_bundle b
  cfg b '.process.args = ["sleep", "100"]'
  id=$(unique_id net)
  start_detached "$id" b
  pid=$(init_pid "$id")
  assert_fails nsx "$pid" socat -u OPEN:/dev/null TCP:10.0.2.2:"$tport",connect-timeout=3
  [ ! -s tcp-got ] || fail "the host's loopback server got data"
  # the rest of the host stays reachable, at its own address
  local hostip
  hostip=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
  [ -n "$hostip" ] || return 0
  socat -u TCP-LISTEN:"$tport",bind="$hostip",reuseaddr OPEN:ext-got,creat &
  sleep 0.2
  echo via-outbound | nsx "$pid" socat -u - TCP:"$hostip":"$tport"
  wait_for '[ -s ext-got ]'
  assert_eq via-outbound "$(cat ext-got)" "data to the host's own address"
}

test_net_dns_through_10_0_2_3_reaches_the_hosts_resolver() {
  command -v dnsmasq >/dev/null || skip "dnsmasq is not installed"
  # A "host" of our own: a user, network and mount namespace where we may run
  # dnsmasq on 127.0.0.1:53 and point /etc/resolv.conf at it.
  cat >inner.sh <<'EOF'
set -euo pipefail
ip link set lo up
echo "nameserver 127.0.0.1" >resolv.conf
mount --bind "$PWD/resolv.conf" /etc/resolv.conf
dnsmasq --keep-in-foreground --port=53 --listen-address=127.0.0.1 --bind-interfaces \
  --no-resolv --no-hosts --address=/nook.test/192.0.2.7 --pid-file="$PWD/dnsmasq.pid" \
  --user=root --group= --log-facility=- 2>dnsmasq.log &
for _ in $(seq 100); do ss -lun | grep -q '127.0.0.1:53 ' && break; sleep 0.05; done
unshare -n sleep 100 &
ns=$!
# $! exists before unshare(2) has run: wait for the new namespace.
while [ "$(readlink /proc/$ns/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.01; done
mkfifo ready
"$NOOK" slirp4netns --configure --mtu 65520 --enable-sandbox --enable-seccomp --ready-fd=3 \
  "$ns" tap0 3>ready 2>net.err &
net=$!
up=
read -r -t 30 up <ready || true # "1" without a newline
[ "$up" = 1 ] || { echo "nook slirp4netns never got ready: $(cat net.err)" >lookup.out; exit 0; }
nsenter -n -t "$ns" busybox nslookup nook.test 10.0.2.3 >lookup.out 2>&1 || true
kill "$net" "$ns" %1 2>/dev/null || true
EOF
  NOOK=$NOOK unshare -Urnm bash inner.sh
  cat lookup.out
  assert_contains "$(cat lookup.out)" "192.0.2.7" "answer through 10.0.2.3"
}

test_net_forwarded_tcp_port_concurrent_connections_and_large_transfer() {
  local port id
  port=$(free_port tcp)
  net_bundle b
  mkdir b/rootfs/www
  for i in $(seq 50); do echo "file $i $RANDOM" >b/rootfs/www/s$i; done
  head -c 100M /dev/urandom >b/rootfs/www/big
  cfg b --arg p "127.0.0.1:$port:8080" '.annotations["nook.ports"] = $p |
      .process.args = ["httpd", "-f", "-p", "8080", "-h", "/www"]'
  id=$(unique_id net)
  start_detached "$id" b
  wait_for "curl -sf http://127.0.0.1:$port/s1 >/dev/null"
  seq 50 | xargs -P 50 -I{} sh -c "curl -sf http://127.0.0.1:$port/s{} >got{}"
  for i in $(seq 50); do
    cmp -s "b/rootfs/www/s$i" "got$i" || fail "connection $i got '$(cat "got$i")'"
  done
  assert_eq "$(sha256sum <b/rootfs/www/big)" \
    "$(curl -sf "http://127.0.0.1:$port/big" | sha256sum)" "sha256 of 100 MB through the port"
}

test_net_forwarded_udp_port() {
  local port id pid
  port=$(free_port udp)
  net_bundle b
  cfg b --arg p "127.0.0.1:$port:9999/udp" '.annotations["nook.ports"] = $p |
      .process.args = ["sleep", "100"]'
  id=$(unique_id net)
  start_detached "$id" b
  pid=$(init_pid "$id")
  nsx "$pid" socat UDP-RECVFROM:9999,fork SYSTEM:'read l; echo "echo:$l"' &
  sleep 0.3
  assert_eq "echo:ping" "$(echo ping | socat -t 2 - UDP:127.0.0.1:"$port")" "UDP reply"
}

test_net_forwarded_tcp_port_shows_the_loopback_client_address() {
  local port id
  port=$(free_port tcp)
  peer_bundle b "127.0.0.1:$port:8080"
  id=$(unique_id net)
  start_detached "$id" b
  wait_for "curl -sf http://127.0.0.1:$port/cgi-bin/peer >/dev/null"
  # 127.0.0.2: not the container's 127.0.0.1 by chance, nor its 10.0.2.100
  assert_eq 127.0.0.2 "$(peer_seen "http://127.0.0.1:$port/cgi-bin/peer" --interface 127.0.0.2)" \
    "client address the container's server saw"
  assert_eq 127.0.0.3 "$(peer_seen "http://127.0.0.1:$port/cgi-bin/peer" --interface 127.0.0.3)" \
    "client address the container's server saw"
}

test_net_forwarded_tcp_port_shows_a_non_loopback_client_address() {
  local port id hostip
  hostip=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
  [ -n "$hostip" ] || skip "the host has no global IPv4 address to connect from"
  port=$(free_port tcp)
  peer_bundle b "$port:8080"
  id=$(unique_id net)
  start_detached "$id" b
  wait_for "curl -sf http://$hostip:$port/cgi-bin/peer >/dev/null"
  assert_eq "$hostip" "$(peer_seen "http://$hostip:$port/cgi-bin/peer" --interface "$hostip")" \
    "client address the container's server saw"
  # the container still reaches the outside from its own address
  local pid
  pid=$(init_pid "$id")
  assert_contains "$(nsx "$pid" ip route get 192.0.2.1)" "dev tap0"
  # and many connections in a row all come back (replies find the connector)
  for i in $(seq 20); do
    curl -sf --max-time 5 "http://$hostip:$port/cgi-bin/peer" >/dev/null || fail "request $i"
  done
}

test_net_forwarded_port_without_configure_comes_from_the_containers_address() {
  # Without --configure nook-net leaves the namespace's routing alone: no
  # rule brings replies back to a client address, so a non-loopback client
  # is shown as the container's own address (and still gets its answer).
  local hostip port ns net
  hostip=$(ip -4 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -1)
  [ -n "$hostip" ] || skip "the host has no global IPv4 address to connect from"
  port=$(free_port tcp)
  unshare -Urn sleep 100 &
  ns=$!
  while [ "$(readlink /proc/$ns/ns/net)" = "$(readlink /proc/self/ns/net)" ]; do sleep 0.01; done
  "$NOOK_BUILD/nook-net" --port="$port:9000" "$ns" tap0 2>net.err &
  net=$!
  trap "kill $ns $net \$(jobs -p) 2>/dev/null || true" EXIT
  wait_for "nsx $ns ip link show tap0 >/dev/null 2>&1"
  nsx "$ns" sh -c 'ip link set lo up && ip link set tap0 up &&
    ip addr add 10.0.2.100/24 dev tap0 && ip route add default via 10.0.2.2'
  nsx "$ns" socat TCP-LISTEN:9000,reuseaddr,fork SYSTEM:'echo "$SOCAT_PEERADDR"' &
  wait_for "nsx $ns ss -ltn | grep -q ':9000 '"
  assert_eq 10.0.2.100 "$(socat -T 5 - TCP:"$hostip":"$port",bind="$hostip" </dev/null)" \
    "address a non-loopback client is shown as"
  assert_eq 127.0.0.2 "$(socat -T 5 - TCP:127.0.0.1:"$port",bind=127.0.0.2 </dev/null)" \
    "address a loopback client is shown as"
  [ -z "$(nsx "$ns" ip rule | grep -i fwmark)" ] || fail "a routing rule without --configure"
}

test_net_api_socket_changes_ports_while_running() {
  local port id pid
  port=$(free_port tcp)
  net_bundle b
  mkdir b/rootfs/www
  echo api-ok >b/rootfs/www/index.html
  cfg b '.process.args = ["httpd", "-f", "-p", "8080", "-h", "/www"]'
  id=$(unique_id net)
  start_detached "$id" b
  local sock="$XDG_RUNTIME_DIR/nook/$id/net.sock"
  [ -S "$sock" ] || sock=$(find "$XDG_RUNTIME_DIR" -path "*$id*" -name net.sock | head -1)
  [ -S "$sock" ] || fail "no API socket for $id"
  local reply
  reply=$(echo "{\"execute\":\"add_hostfwd\",\"arguments\":{\"proto\":\"tcp\",\"host_addr\":\"127.0.0.1\",\"host_port\":$port,\"guest_port\":8080}}" |
    socat - UNIX-CONNECT:"$sock")
  assert_eq '{"return":{"id":1}}' "$reply" "add_hostfwd reply"
  wait_for "curl -sf http://127.0.0.1:$port/index.html >/dev/null"
  assert_eq api-ok "$(curl -sf http://127.0.0.1:$port/index.html)"
  assert_eq "$port" "$(echo '{"execute":"list_hostfwd"}' | socat - UNIX-CONNECT:"$sock" |
    jq '.return.entries[0].host_port')" "listed port"
  echo '{"execute":"remove_hostfwd","arguments":{"id":1}}' | socat - UNIX-CONNECT:"$sock" >/dev/null
  assert_fails curl -sf "http://127.0.0.1:$port/index.html"
}

test_net_helper_exits_when_the_container_dies_and_on_delete() {
  net_bundle b
  cfg b '.process.args = ["sleep", "100"]'
  local id pid helper
  id=$(unique_id net)
  start_detached "$id" b
  pid=$(init_pid "$id")
  helper=$(helper_of "$pid")
  [ -n "$helper" ] || fail "no nook-net for the container's init $pid"
  kill -KILL "$pid"
  wait_for "all_gone $helper" 5
  "$NOOK" delete -f "$id"

  id=$(unique_id net)
  start_detached "$id" b
  pid=$(init_pid "$id")
  helper=$(helper_of "$pid")
  [ -n "$helper" ] || fail "no nook-net for the container's init $pid"
  "$NOOK" delete -f "$id"
  wait_for "all_gone $helper" 5
  [ -z "$(helper_of "$pid")" ] || fail "a nook-net is left after delete"
}

test_net_port_taken_is_one_line_and_nothing_left() {
  local port id
  port=$(free_port tcp)
  socat TCP-LISTEN:"$port",bind=127.0.0.1 - </dev/null >/dev/null &
  wait_for "ss -ltn | grep -q ':$port '"
  net_bundle b
  cfg b --arg p "127.0.0.1:$port:80" '.annotations["nook.ports"] = $p | .process.args = ["true"]'
  id=$(unique_id net)
  assert_fails "$NOOK" run --bundle b "$id"
  "$NOOK" delete -f "$id" >/dev/null 2>&1 || true
  assert_eq 1 "$(printf '%s\n' "$assert_output" | wc -l)" "lines of output"
  assert_contains "$assert_output" "already in use"
  assert_contains "$assert_output" "$port"
  [ -z "$(pgrep -u "$(id -u)" -f "nook-net .*--port=127.0.0.1:$port:80" || true)" ] ||
    fail "nook-net left running"
}

# nook starts nook-net right after clone3 and lets it attach once the ids
# are mapped: a create that fails in between (newuidmap refuses overlapping
# ranges) leaves no helper waiting.
test_net_helper_gone_when_create_fails_before_it_attached() {
  grep -q "^$(id -un):" /etc/subuid || skip "no subordinate uids for $(id -un)"
  local start port id
  start=$(grep "^$(id -un):" /etc/subuid | head -1 | cut -d: -f2)
  port=$(free_port tcp)
  net_bundle b
  cfg b --arg p "127.0.0.1:$port:80" --argjson s "$start" --argjson me "$(id -u)" '
    .annotations["nook.ports"] = $p | .process.args = ["true"] |
    .linux.uidMappings = [{"containerID": 0, "hostID": $me, "size": 1},
                          {"containerID": 1, "hostID": $s, "size": 10},
                          {"containerID": 11, "hostID": ($s + 5), "size": 10}]'
  id=$(unique_id net)
  assert_fails "$NOOK" run --bundle b "$id"
  assert_eq 1 "$(printf '%s\n' "$assert_output" | wc -l)" "lines of output"
  assert_contains "$assert_output" "newuidmap"
  [ -z "$(pgrep -u "$(id -u)" -f "nook-net .*--port=127.0.0.1:$port:80" || true)" ] ||
    fail "nook-net left running"
  assert_fails "$NOOK" state "$id"
}

test_net_privileged_port_is_one_line_naming_the_sysctl() {
  local start
  start=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start)
  [ "$start" -gt 80 ] || skip "net.ipv4.ip_unprivileged_port_start=$start allows port 80"
  net_bundle b
  cfg b '.annotations["nook.ports"] = "80:80" | .process.args = ["true"]'
  local id
  id=$(unique_id net)
  assert_fails "$NOOK" run --bundle b "$id"
  "$NOOK" delete -f "$id" >/dev/null 2>&1 || true
  assert_eq 1 "$(printf '%s\n' "$assert_output" | wc -l)" "lines of output"
  assert_contains "$assert_output" "ip_unprivileged_port_start"
}

test_net_bad_annotations_are_one_line() {
  net_bundle b
  cfg b '.annotations["nook.ports"] = "8080:http" | .process.args = ["true"]'
  local id
  id=$(unique_id net)
  assert_fails "$NOOK" run --bundle b "$id"
  "$NOOK" delete -f "$id" >/dev/null 2>&1 || true
  assert_eq 1 "$(printf '%s\n' "$assert_output" | wc -l)" "lines of output"
  assert_contains "$assert_output" "nook.ports"
}

test_net_unusable_dev_net_tun_is_one_line() {
  # A mount namespace of our own where /dev/net/tun is a file we may not
  # open (root-owned, not readable by others), then where it is missing.
  [ -e /etc/shadow ] && [ ! -r /etc/shadow ] || skip "no unreadable root-owned file to stand in"
  cat >inner.sh <<'EOF'
unshare -n sleep 100 &
ns=$!
mount --bind /etc/shadow /dev/net/tun
"$NOOK" slirp4netns --configure "$ns" tap0 >denied.out 2>&1
echo "status $?" >>denied.out
umount /dev/net/tun
mount -t tmpfs none /dev/net
"$NOOK" slirp4netns --configure "$ns" tap0 >missing.out 2>&1
echo "status $?" >>missing.out
kill "$ns"
EOF
  NOOK=$NOOK unshare -Urm bash inner.sh
  cat denied.out missing.out
  assert_eq 2 "$(wc -l <denied.out)" "lines (message + status)"
  assert_contains "$(cat denied.out)" "chmod 0666 /dev/net/tun"
  assert_contains "$(cat denied.out)" "status 1"
  assert_contains "$(cat missing.out)" "modprobe tun"
  assert_contains "$(cat missing.out)" "status 1"
}

test_net_podman_uses_nook_as_its_network_command() {
  command -v podman >/dev/null || skip "podman is not installed"
  command -v crun >/dev/null || skip "crun is not installed (podman's runtime here)"
  export XDG_CONFIG_HOME=$PWD/config
  mkdir -p "$XDG_CONFIG_HOME/containers"
  ln -s "$NOOK" nook-slirp4netns
  # The network command podman runs: records that it ran, then is nook.
  cat >net-cmd <<EOC
#!/bin/sh
echo "\$@" >>"$PWD/net-cmd.args"
exec "$PWD/nook-slirp4netns" "\$@"
EOC
  chmod +x net-cmd
  cat >"$XDG_CONFIG_HOME/containers/containers.conf" <<EOC
[engine]
network_cmd_path = "$PWD/net-cmd"
cgroup_manager = "cgroupfs"
events_logger = "file"
[containers]
cgroups = "disabled"
EOC
  cat >"$XDG_CONFIG_HOME/containers/storage.conf" <<EOC
[storage]
driver = "vfs"
graphroot = "$PWD/storage"
runroot = "$PWD/run"
EOC
  tar -C "$BUSYBOX_ROOTFS" -c . | podman import -q - localhost/nook-net-test >/dev/null
  local port
  port=$(free_port tcp)
  socat -u TCP-LISTEN:"$port",bind=127.0.0.1 OPEN:got,creat &
  trap "kill $! 2>/dev/null || true; podman rmi -f localhost/nook-net-test >/dev/null 2>&1 || true" EXIT
  podman run --rm --network slirp4netns:allow_host_loopback=true localhost/nook-net-test \
    sh -c "echo hello-podman | nc 10.0.2.2 $port"
  wait_for '[ -s got ]'
  assert_eq hello-podman "$(cat got)" "data from the podman container at the host"
  assert_contains "$(cat net-cmd.args)" "--netns-type=path" "podman's slirp4netns arguments"
}
