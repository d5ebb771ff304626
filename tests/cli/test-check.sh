# nook check: one line per host item, JSON, and the exit status rule, in the
# good world and in environments broken for real (an empty subuid file, a
# /dev/null bound over /dev/fuse in a user namespace, no user bus, no more
# user namespaces, a runtime dir that is not ours).

check_items=(newuidmap newgidmap subuid subgid "user namespaces" "id mapping" "user bus"
  "systemd user manager" "cgroup v2" "cgroup controllers" "cgroup delegation" /dev/fuse
  /dev/net/tun fusermount3 "native overlay" XDG_RUNTIME_DIR nook-net nook-fuse-overlayfs
  nook-image)

# The line of ITEM in check.out, failing when there is not exactly one.
line_of() { # ITEM
  local lines
  lines=$(grep -E "^(ok|warning|missing) +$1: " check.out || true)
  [ -n "$lines" ] || fail "no line for '$1' in: $(cat check.out)"
  [ "$(printf '%s\n' "$lines" | wc -l)" = 1 ] || fail "more than one line for '$1': $lines"
  printf '%s\n' "$lines"
}

# Runs nook check with output in check.out and its status in $status.
run_check() {
  status=0
  "$@" "$NOOK" check >check.out 2>check.err || status=$?
  cat check.out check.err
}

test_check_good_world() {
  # The probes work on the image store's filesystem when there is a store.
  mkdir store
  run_check env NOOK_STORAGE="$PWD/store"
  assert_eq 0 "$status" "exit status"
  local item
  for item in "${check_items[@]}"; do
    line_of "$item" >/dev/null
  done
  # What the world gives must be found usable.
  for item in newuidmap newgidmap subuid subgid "user namespaces" "id mapping" "user bus" \
    "systemd user manager" "cgroup v2" "cgroup delegation" /dev/fuse /dev/net/tun \
    "native overlay" XDG_RUNTIME_DIR nook-fuse-overlayfs nook-image; do
    assert_contains "$(line_of "$item")" "ok " "$item"
  done
  assert_contains "$(line_of subuid)" "(65536 ids)"
  assert_contains "$(line_of "id mapping")" "65537 uids mapped through newuidmap/newgidmap"
  assert_contains "$(line_of "native overlay")" "tried in $PWD/store/.nook-check-"
  assert_eq "" "$(ls -A store)" "probe directories left behind"
  assert_contains "$(tail -n1 check.out)" "nook can run containers here"
  # Colour only on a terminal.
  if grep -q $'\033' check.out; then fail "escape codes in output to a file"; fi
}

test_check_json() {
  "$NOOK" check --format json >check.json
  jq -e 'type == "array"' check.json >/dev/null || fail "not a JSON array"
  assert_eq "${#check_items[@]}" "$(jq length check.json)" "item count"
  assert_eq true "$(jq 'all(.[]; (keys == ["detail", "fix", "item", "status"])
    and (.status | IN("ok", "warning", "missing"))
    and ((.status == "ok") == (.fix == null)))' check.json)" "item shape"
  local item
  for item in "${check_items[@]}"; do
    assert_eq 1 "$(jq --arg i "$item" '[.[] | select(.item == $i)] | length' check.json)" "$item"
  done
  assert_eq ok "$(jq -r '.[] | select(.item == "user namespaces") | .status' check.json)"
}

test_check_usage() {
  "$NOOK" check --help >help.out
  assert_contains "$(cat help.out)" "Usage: nook check [--format text|json]"
  assert_fails "$NOOK" check --format yaml
  assert_contains "$assert_output" "unknown --format \`yaml\`"
  assert_fails "$NOOK" check extra
  assert_contains "$assert_output" "unexpected argument"
}

test_check_without_subuid_range() {
  : >empty
  run_check env NOOK_SUBUID_FILE="$PWD/empty" NOOK_SUBGID_FILE="$PWD/empty"
  # The single-id fallback still runs containers.
  assert_eq 0 "$status" "exit status"
  local user
  user=$(id -un)
  assert_contains "$(line_of subuid)" "missing subuid: no range for $user in $PWD/empty"
  assert_contains "$(line_of subuid)" \
    "fix: as root: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $user"
  assert_contains "$(line_of subgid)" "missing subgid: no range for $user in $PWD/empty"
  assert_contains "$(line_of "id mapping")" "warning id mapping: a single-id map (1 uid)"
  assert_contains "$(line_of "id mapping")" "fix: as root: usermod --add-subuids"
}

test_check_small_subuid_range() {
  echo "$(id -un):100000:1000" >small
  run_check env NOOK_SUBUID_FILE="$PWD/small"
  assert_eq 0 "$status" "exit status"
  assert_contains "$(line_of subuid)" "warning subuid: 100000-100999 in $PWD/small: 1000 ids"
  assert_contains "$(line_of subuid)" "fix: as root: usermod --add-subuids 100000-165535"
}

# /dev/null bound over /dev/fuse in a mount namespace of our own: a user
# namespace made with unshare -Urm, and in it one more that maps our own uid
# back, so nook runs as us. newuidmap cannot be setuid in there (root is not
# mapped), so the id map is the single-id fallback.
test_check_without_fuse_access() {
  : >empty
  run_check unshare -Urm sh -c 'mount --bind /dev/null /dev/fuse && exec "$@"' sh \
    unshare -U --map-user="$(id -u)" --map-group="$(id -g)" \
    env NOOK_SUBUID_FILE="$PWD/empty" NOOK_SUBGID_FILE="$PWD/empty"
  assert_eq 0 "$status" "exit status"
  assert_contains "$(line_of /dev/fuse)" \
    "missing /dev/fuse: not the device (char 1:3, want char 10:229)"
  assert_contains "$(line_of /dev/fuse)" "fix: as root: modprobe fuse && chmod 0666 /dev/fuse"
  assert_contains "$(line_of newuidmap)" "missing newuidmap: /usr/bin/newuidmap is neither setuid"
  assert_contains "$(line_of "native overlay")" "ok "
}

test_check_without_user_bus() {
  mkdir -m 0700 run
  run_check env -u DBUS_SESSION_BUS_ADDRESS XDG_RUNTIME_DIR="$PWD/run"
  assert_eq 0 "$status" "exit status"
  assert_contains "$(line_of "user bus")" "missing user bus: connect to \`$PWD/run/bus\`"
  assert_contains "$(line_of "user bus")" "fix: as root: loginctl enable-linger $(id -un)"
  assert_contains "$(line_of "systemd user manager")" "missing systemd user manager: "
  assert_contains "$(line_of "XDG_RUNTIME_DIR")" "ok      XDG_RUNTIME_DIR: $PWD/run, yours"
}

# The limit on user namespaces set to the one the outer unshare itself takes
# (the limit holds for every namespace below too): nook's probe gets ENOSPC.
test_check_without_user_namespaces() {
  run_check unshare -Ur sh -c 'echo 1 >/proc/sys/user/max_user_namespaces && exec "$@"' sh \
    unshare -U --map-user="$(id -u)" --map-group="$(id -g)"
  assert_eq 1 "$status" "exit status"
  assert_contains "$(line_of "user namespaces")" \
    "missing user namespaces: unshare(CLONE_NEWUSER|CLONE_NEWNS): No space left on device"
  assert_contains "$(line_of "user namespaces")" "sysctl -w user.max_user_namespaces="
  assert_contains "$(line_of "native overlay")" "missing native overlay: not tried"
  assert_contains "$(tail -n1 check.out)" "nook cannot run containers here"
}

test_check_runtime_dir_not_ours() {
  run_check env XDG_RUNTIME_DIR=/
  assert_eq 1 "$status" "exit status"
  assert_contains "$(line_of XDG_RUNTIME_DIR)" \
    "missing XDG_RUNTIME_DIR: / is a directory owned by uid 0, not by you"
  assert_contains "$(line_of XDG_RUNTIME_DIR)" "fix: export XDG_RUNTIME_DIR=/run/user/$(id -u)"
  mkdir -m 0755 open
  run_check env XDG_RUNTIME_DIR="$PWD/open"
  assert_eq 0 "$status" "exit status"
  assert_contains "$(line_of XDG_RUNTIME_DIR)" "warning XDG_RUNTIME_DIR: $PWD/open has mode 0755"
}

# In a user namespace where real root is not mapped, newuidmap's setuid bit
# does nothing: with subordinate ranges to map, ids cannot be mapped.
test_check_map_helpers_not_setuid() {
  run_check unshare -Ur unshare -U --map-user="$(id -u)" --map-group="$(id -g)"
  assert_eq 1 "$status" "exit status"
  assert_contains "$(line_of newgidmap)" "missing newgidmap: /usr/bin/newgidmap is neither setuid"
  assert_contains "$(line_of newgidmap)" "fix: as root: setcap cap_setgid+ep /usr/bin/newgidmap"
  assert_contains "$(line_of "id mapping")" "missing id mapping: newuidmap for pid"
  assert_contains "$(tail -n1 check.out)" "nook cannot run containers here"
}
