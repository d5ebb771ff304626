# The `nook launch` flags people bring from podman and docker: each run in a
# real container and checked from inside (or its refusal: one line naming
# the flag, status 125, nothing made).
TEST_TIMEOUT=180

source "$NOOK_SRC/tests/workflow/launch-lib.sh"

# refused ARGS...: `nook launch --rm ARGS bb:1 true` fails with 125 in one
# line that contains $want (default: the first argument, the flag).
refused() {
  local s=0 want=${want:-$1}
  "$NOOK" launch --rm "$@" bb:1 true 2>err || s=$?
  assert_eq 125 "$s" "status for $*"
  assert_eq 1 "$(wc -l <err)" "one line for $*: $(cat err)"
  assert_contains "$(cat err)" "$want" "the message for $*"
  assert_eq "" "$(ls "$NOOK_STORAGE/containers")" "rootfs dirs after $*"
}

# free_ports N: the first of N consecutive free TCP and UDP ports.
free_ports() {
  python3 - "$1" <<'PY'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randrange(20000, 60000 - n)
    socks = []
    try:
        for p in range(base, base + n):
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        for s in socks:
            s.close()
    print(base)
    sys.exit(0)
sys.exit(1)
PY
}

fetch() { # PORT: the page httpd serves there
  python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('http://127.0.0.1:$1/', timeout=2).read().decode())"
}

test_network_is_net() {
  make_launch_image
  local out
  out=$("$NOOK" launch --rm --network none bb:1 sh -c "awk 'NR>2{print \$1}' /proc/net/dev")
  assert_eq "lo:" "$out" "--network none: loopback only"
  out=$("$NOOK" launch --rm --network=host bb:1 sh -c "awk 'NR>2{print \$1}' /proc/net/dev | sort")
  assert_eq "$(awk 'NR>2{print $1}' /proc/net/dev | sort)" "$out" "--network=host: the host's interfaces"
  want=--network refused --network=bridge0
  assert_contains "$(cat err)" "is not one of slirp, none, host"
}

test_port_ranges() {
  make_launch_image
  net_available
  local base id out p
  base=$(free_ports 3)
  id=$("$NOOK" launch -d -p "127.0.0.1:$base-$((base + 2)):8080-8082" bb:1 sh -c \
    'for p in 8080 8081 8082; do mkdir /w$p; echo page-$p >/w$p/index.html; httpd -p $p -h /w$p; done; sleep 60')
  for i in 0 1 2; do
    wait_for "fetch $((base + i)) 2>/dev/null | grep -q page-$((8080 + i))" 15
  done
  out=$("$NOOK" port "$id")
  assert_contains "$out" "8082/tcp -> 127.0.0.1:$((base + 2))" "nook port"
  assert_contains "$("$NOOK" containers)" "127.0.0.1:$base-$((base + 2))->8080-8082/tcp" "one range in the table"
  assert_eq "$base 8080 3" "$("$NOOK" containers --format json | jq -r --arg id "$id" \
    '.[] | select(.Id == $id) | .Ports[] | "\(.host_port) \(.container_port) \(.range)"')" \
    "one range in the JSON list"
  "$NOOK" rm -f "$id" >/dev/null
  # udp with an address, and container ports on free host ports
  base=$(free_ports 2)
  id=$("$NOOK" launch -d -p "127.0.0.1:$base-$((base + 1)):80-81/udp" -p 8090-8092 bb:1 sleep 60)
  out=$("$NOOK" port "$id")
  assert_contains "$out" "80/udp -> 127.0.0.1:$base"
  assert_contains "$out" "81/udp -> 127.0.0.1:$((base + 1))"
  assert_eq 3 "$(grep -c '^809[012]/tcp -> 0.0.0.0:' <<<"$out")" "three free host ports: $out"
  assert_eq 3 "$(grep '^809' <<<"$out" | sed 's/.*://' | sort -u | wc -l)" "distinct host ports"
  "$NOOK" rm -f "$id" >/dev/null
  id=$("$NOOK" launch -d -p 8080-8081 bb:1 sh -c 'mkdir /w; echo free-range >/w/index.html; httpd -f -p 8081 -h /w')
  p=$("$NOOK" port "$id" 8081/tcp | sed 's/.*://')
  wait_for "fetch $p 2>/dev/null | grep -q free-range" 15
  "$NOOK" rm -f "$id" >/dev/null
  assert_nothing_left "$id"
  # the most nook forwards, and one more
  base=$(free_ports 256)
  id=$("$NOOK" launch -d -p "127.0.0.1:$base-$((base + 255)):1000-1255" bb:1 sh -c \
    'mkdir /w; echo last-port >/w/index.html; httpd -f -p 1255 -h /w')
  wait_for "fetch $((base + 255)) 2>/dev/null | grep -q last-port" 15
  assert_eq 256 "$("$NOOK" port "$id" | wc -l)" "256 ports forwarded"
  "$NOOK" rm -f "$id" >/dev/null
  refused -p "1000-1255" -p 80
  assert_contains "$(cat err)" "257 ports to publish"
  refused -p 8000-8002:80-81
  assert_contains "$(cat err)" "give ranges of the same length"
  refused -p 8000-7999:80
  refused -p 1000-1300:1000-1300
  assert_contains "$(cat err)" "301 ports to publish, more than the 256"
  refused -p 1-200 -p 2000-2100
}

test_add_host_and_dns() {
  make_launch_image
  local out
  out=$("$NOOK" launch --rm --add-host db.local:10.1.2.3 --add-host gw:host-gateway \
    --add-host v6:fd00::1 bb:1 cat /etc/hosts)
  assert_contains "$out" "10.1.2.3	db.local"
  assert_contains "$out" "10.0.2.2	gw" "host-gateway with slirp"
  assert_contains "$out" "fd00::1	v6"
  assert_contains "$out" "127.0.0.1	localhost" "the defaults stay"
  out=$("$NOOK" launch --rm bb:1 cat /etc/resolv.conf)
  assert_eq "nameserver 10.0.2.3" "$out" "slirp's resolver by default"
  out=$("$NOOK" launch --rm --dns 9.9.9.9 --dns 2620:fe::fe --dns-search example.com \
    --dns-search corp.example --dns-option ndots:2 --dns-option edns0 bb:1 cat /etc/resolv.conf)
  assert_eq "nameserver 9.9.9.9
nameserver 2620:fe::fe
search example.com corp.example
options ndots:2 edns0" "$out" "resolv.conf from the flags"
  # without slirp: the host's file, with what a flag sets replaced
  out=$("$NOOK" launch --rm --net none --dns-search only.example bb:1 cat /etc/resolv.conf)
  assert_contains "$out" "search only.example"
  [[ $out != *10.0.2.3* ]] || fail "slirp's resolver without slirp: $out"
  if grep -q '^nameserver' /etc/resolv.conf; then
    assert_contains "$out" "$(grep -m1 '^nameserver' /etc/resolv.conf)" "the host's nameserver"
  fi
  assert_eq 1 "$(grep -c '^search' <<<"$out")" "one search line: $out"
  refused --add-host db
  refused --add-host db:1.2.3
  refused --add-host "bad name:1.2.3.4"
  want=--add-host refused --net none --add-host gw:host-gateway
  refused --dns 1.2.3.999
  refused --dns-search "a b"
  want=--dns-option refused --dns-option ""
}

test_mount_bind_tmpfs_volume() {
  make_launch_image
  mkdir data ro
  echo from-host >ro/f
  local out
  "$NOOK" launch --rm --mount type=bind,source="$PWD/data",target=/data bb:1 sh -c 'echo inside >/data/f'
  assert_eq inside "$(cat data/f)" "written through a bind mount"
  out=$("$NOOK" launch --rm --mount type=bind,src="$PWD/ro",dst=/ro,readonly bb:1 \
    sh -c 'cat /ro/f; touch /ro/x 2>&1 || true')
  assert_contains "$out" from-host
  assert_contains "$out" "Read-only file system"
  out=$("$NOOK" launch --rm --mount type=bind,source="$PWD/data",target=/data,bind-propagation=rshared \
    bb:1 grep " /data " /proc/self/mountinfo)
  assert_contains "$out" "shared:" "rshared propagation"
  out=$("$NOOK" launch --rm --mount type=bind,source="$PWD/data",target=/data,bind-propagation=private \
    bb:1 grep " /data " /proc/self/mountinfo)
  [[ $out != *shared:* && $out != *master:* ]] || fail "private propagation: $out"
  out=$("$NOOK" launch --rm --mount type=tmpfs,target=/scratch,tmpfs-size=1m,tmpfs-mode=700 bb:1 \
    grep " /scratch " /proc/self/mounts)
  local opt
  for opt in tmpfs size=1024k mode=700; do
    assert_contains "$out" "$opt" "the tmpfs"
  done
  # a volume without a source is an anonymous one, as podman makes it
  local id
  id=$(unique_id vol)
  out=$("$NOOK" launch --name "$id" --mount type=volume,target=/srv bb:1 \
    sh -c 'cat /srv/index.html; echo new >/srv/new; grep -c " /srv " /proc/self/mounts')
  assert_eq "hello-web 1" "$(echo $out)" "seeded from the image and mounted"
  [ -n "$(find "$NOOK_STORAGE/containers/$id/volumes" -name new)" ] || fail "not in a volume"
  "$NOOK" rm "$id" >/dev/null
  assert_nothing_left "$id"
  out=$("$NOOK" launch --rm --mount type=volume,target=/v,readonly bb:1 sh -c 'touch /v/x 2>&1 || true')
  assert_contains "$out" "Read-only file system"
  refused --mount type=volume,source=named,target=/v
  assert_contains "$(cat err)" "named volumes are not supported"
  refused --mount target=/x
  assert_contains "$(cat err)" "give its type"
  refused --mount type=nfs,target=/x
  refused --mount type=bind,source="$PWD/data"
  refused --mount type=bind,target=/x
  refused --mount type=bind,source="$PWD/missing",target=/x
  refused --mount type=tmpfs,target=/x,tmpfs-size=lots
  refused --mount type=tmpfs,target=/x,tmpfs-mode=999
  refused --mount type=bind,source="$PWD/data",target=/x,bind-propagation=sideways
  refused --mount type=tmpfs,target=/x,colour=blue
  assert_contains "$(cat err)" "\`colour\` is not an option of type=tmpfs"
}

test_ulimit_and_shm_size() {
  make_launch_image
  local out hard
  out=$("$NOOK" launch --rm --ulimit nofile=1024:2048 --ulimit core=0 --ulimit nproc=500:600 bb:1 \
    cat /proc/self/limits)
  assert_contains "$out" "Max open files            1024                 2048" "nofile"
  assert_contains "$out" "Max core file size        0                    0 " "core"
  assert_contains "$out" "Max processes             500                  600 " "nproc"
  out=$("$NOOK" launch --rm --shm-size 16m bb:1 grep " /dev/shm " /proc/self/mounts)
  assert_contains "$out" "size=16384k" "--shm-size"
  out=$("$NOOK" launch --rm bb:1 grep " /dev/shm " /proc/self/mounts)
  assert_contains "$out" "size=65536k" "podman's default /dev/shm"
  refused --ulimit nofile=abc
  refused --ulimit files=10
  refused --ulimit nofile=10:5
  refused --ulimit nofile=-1:10
  assert_contains "$(cat err)" "soft limit is above the hard"
  hard=$(ulimit -Hn)
  if [ "$hard" != unlimited ]; then
    refused --ulimit "nofile=$((hard + 1))"
    assert_contains "$(cat err)" "which a rootless container cannot raise"
  fi
  refused --shm-size big
}

test_group_add() {
  make_launch_image
  local out id
  out=$("$NOOK" launch --rm --group-add app --group-add 1234 -u 1000:1000 bb:1 grep ^Groups: /proc/self/status)
  assert_eq "Groups:	1000 1234 " "$out" "additional gids, a name from the image's /etc/group"
  out=$("$NOOK" launch --rm --group-add 5 bb:1 grep ^Groups: /proc/self/status)
  assert_eq "Groups:	5 " "$out" "a numeric gid for root"
  out=$("$NOOK" launch --rm --group-add 1000 --group-add app --group-add 5 --group-add 1000 bb:1 \
    grep ^Groups: /proc/self/status)
  assert_eq "Groups:	5 1000 " "$out" "a group named twice (by gid and by name) is there once"
  id=$(unique_id grp)
  want="unable to find group nosuch" refused --name "$id" --group-add nosuch
  assert_nothing_left "$id"
  refused --group-add a:b
  want="--group-add \`4000000\`: gid 4000000 is not mapped" refused --group-add 4000000
}

test_stop_signal_and_timeout() {
  make_launch_image
  local id t0 status
  id=$("$NOOK" launch -d --stop-signal USR1 bb:1 sh -c 'trap "exit 7" USR1; trap "" TERM; while :; do sleep 0.1; done')
  sleep 0.5
  "$NOOK" stop "$id" >/dev/null
  assert_eq 7 "$("$NOOK" wait "$id")" "stopped by USR1"
  "$NOOK" rm "$id" >/dev/null
  # a container that ignores the stop signal: killed after --stop-timeout
  id=$("$NOOK" launch -d --stop-timeout 1 bb:1 sh -c 'trap "" TERM; while :; do sleep 0.1; done')
  sleep 0.5
  t0=$SECONDS
  "$NOOK" stop "$id" >/dev/null
  status=$("$NOOK" wait "$id")
  assert_eq 137 "$status" "SIGKILL after the timeout"
  [ $((SECONDS - t0)) -lt 6 ] || fail "stop took $((SECONDS - t0)) s with --stop-timeout 1"
  assert_eq 1 "$("$NOOK" state "$id" | jq -r '.annotations["nook.launch.stop-timeout"]')" "recorded"
  "$NOOK" rm "$id" >/dev/null
  refused --stop-signal NOPE
  refused --stop-timeout -1
}

test_labels_in_the_list() {
  make_launch_image
  local a b json
  a=$(unique_id lab)
  b=$(unique_id nolab)
  "$NOOK" launch --name "$a" -l app=web --label tier=front=end -l flag bb:1 true
  "$NOOK" launch --name "$b" bb:1 true
  json=$("$NOOK" containers -a --format json)
  assert_eq '{"app":"web","tier":"front=end","flag":""}' \
    "$(jq -c --arg id "$a" '.[] | select(.Id == $id) | .Labels' <<<"$json")" "labels"
  assert_eq null "$(jq -c --arg id "$b" '.[] | select(.Id == $id) | .Labels' <<<"$json")" "none"
  "$NOOK" rm "$a" "$b" >/dev/null
  refused -l =x
}

test_pull_policy() {
  make_launch_image
  refused --pull never localhost:1/absent:1
  assert_contains "$(cat err)" "--pull never"
  refused --pull sometimes
  assert_eq present "$("$NOOK" launch --rm --pull never bb:1 echo present)" "never, image present"
  # a pull that fails: its error as launch's one line, after the progress
  local s=0
  "$NOOK" launch --rm --pull always localhost:1/absent:1 true 2>err || s=$?
  assert_eq 125 "$s" "status of a failed pull"
  assert_eq "Pulling localhost:1/absent:1" "$(head -1 err)" "the progress line"
  assert_eq 1 "$(grep -c '^nook: ' err)" "one error line: $(cat err)"
  assert_contains "$(tail -1 err)" "cannot reach https://localhost:1/v2/" "the pull's own error"
  command -v docker-registry >/dev/null || skip "docker-registry is not installed"
  start_registry
  trap stop_registry EXIT
  skopeo copy -q --dest-tls-verify=false oci:oci:bb "docker://$REGISTRY/app:1"
  "$NOOK" launch --rm --tls-verify=false "$REGISTRY/app:1" true 2>/dev/null
  # a new image under the same name in the registry
  layer_with_files marker.tar /marker:0:0:second
  umoci tag --image oci:bb v2 >/dev/null
  umoci raw add-layer --image oci:v2 marker.tar >/dev/null
  skopeo copy -q --dest-tls-verify=false oci:oci:v2 "docker://$REGISTRY/app:1"
  local out
  out=$("$NOOK" launch --rm "$REGISTRY/app:1" sh -c 'cat /marker 2>/dev/null || echo stored' 2>err)
  assert_eq stored "$out" "missing (the default) does not pull a stored image"
  out=$("$NOOK" launch --rm --pull always --tls-verify=false "$REGISTRY/app:1" cat /marker 2>err)
  assert_eq second "$out" "always pulls"
  assert_contains "$(cat err)" "Pulling $REGISTRY/app:1"
}

test_device() {
  make_launch_image
  local out
  out=$("$NOOK" launch --rm --device /dev/fuse bb:1 sh -c 'stat -c "%F %t:%T" /dev/fuse; exec 3<>/dev/fuse && echo opened')
  assert_eq "character special file a:e5 opened" "$(echo $out)" "the host's /dev/fuse"
  out=$("$NOOK" launch --rm --device /dev/net/tun:/dev/mytun:r bb:1 sh -c \
    'stat -c "%F %t:%T" /dev/mytun; grep " /dev/mytun " /proc/self/mounts')
  assert_contains "$out" "character special file a:c8"
  assert_contains "$out" " ro," "read-only without w"
  refused --device /etc/passwd
  assert_contains "$(cat err)" "is not a device node"
  refused --device /dev/absent
  refused --device /dev/fuse:rwx
  refused --device dev/fuse
}

test_new_flags_completed() {
  make_launch_image
  [[ $("$NOOK" __complete commands 2>/dev/null) == *launch* ]] ||
    skip "no completion engine (nook __complete) in this build"
  local out flag
  out=$("$NOOK" __complete words -- launch --)
  for flag in --network --mount --device --add-host --dns --dns-search --dns-option --ulimit \
    --shm-size --group-add --stop-signal --stop-timeout --label -l --pull; do
    grep -qx -- "$flag" <<<"$out" || fail "$flag is not completed"
  done
  assert_eq "always missing never" "$(echo $("$NOOK" __complete words -- launch --pull ''))" "--pull"
  assert_eq "type=bind type=tmpfs type=volume" \
    "$(echo $("$NOOK" __complete words -- launch --mount ''))" "--mount"
  assert_contains "$("$NOOK" __complete words -- launch --stop-signal '')" "TERM"
  assert_eq ":files" "$("$NOOK" __complete words -- launch --device '')" "--device"
  assert_eq "slirp none host" "$(echo $("$NOOK" __complete words -- launch --network ''))"
}

# A flag given last without its value is named as such (not as an unknown
# option), whichever flag it is.
test_flag_without_value() {
  local flag s
  for flag in --network -p --add-host --dns --dns-search --dns-option --mount --device --ulimit \
    --shm-size --group-add --stop-signal --stop-timeout -l --label --pull --detach-keys --name \
    --tmpfs --env-file --entrypoint; do
    s=0
    "$NOOK" launch "$flag" 2>err || s=$?
    assert_eq 125 "$s" "status for $flag"
    assert_eq "nook: launch: option \`$flag\` needs a value" "$(cat err)" "$flag without its value"
  done
  s=0
  "$NOOK" launch --no-such-flag bb:1 2>err || s=$?
  assert_eq 125 "$s" "status for an unknown flag"
  assert_contains "$(cat err)" "unknown option \`--no-such-flag\`"
}

# Two mounts on one path (-v, --tmpfs, --mount, however the path is
# written) are refused as docker and podman refuse them, not stacked with
# the first hidden.
test_two_mounts_on_one_target() {
  make_launch_image
  mkdir h
  want="--mount \`type=tmpfs,dst=/x/\`: /x is already the target of -v \`$TEST_TMP/h:/x\`" \
    refused -v "$TEST_TMP/h:/x" --mount type=tmpfs,dst=/x/
  want="-v \`$TEST_TMP/h://x:ro\`: /x is already the target of --tmpfs" refused --tmpfs /x:size=1m -v "$TEST_TMP/h://x:ro"
  want="is already the target of --mount \`type=volume,target=/a\`" \
    refused --mount type=volume,target=/a --mount "type=bind,src=$TEST_TMP/h,target=/a"
  # different paths, and a mount inside another, are fine
  assert_eq "ok" "$("$NOOK" launch --rm -v "$TEST_TMP/h:/x" --tmpfs /x/y --mount type=tmpfs,dst=/xy bb:1 echo ok)"
}
