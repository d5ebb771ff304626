# The container process's last steps before exec: seccomp, capabilities,
# user and groups, rlimits, no_new_privs, checked from inside a container.

# run_in BUNDLE SCRIPT: runs `sh -c SCRIPT` in a new container, prints its output.
run_in() {
  local id
  id=$(unique_id sec)
  cfg "$1" --arg s "$2" '.process.args = ["sh", "-c", $s]'
  "$NOOK" run --bundle "$1" "$id"
}

test_seccomp_profile_blocks_a_syscall() {
  make_bundle b
  cfg b '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW", architectures: ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
    syscalls: [{names: ["mkdir", "mkdirat", "no_such_syscall"], action: "SCMP_ACT_ERRNO", errnoRet: 1}]}'
  local out
  out=$(run_in b 'mkdir /tmp/x 2>&1 || echo blocked; touch /dev/shm/y && echo touched')
  assert_contains "$out" "Operation not permitted"
  assert_contains "$out" "blocked"
  assert_contains "$out" "touched"
}

# Without noNewPrivileges the filter needs CAP_SYS_ADMIN, which the
# container's capabilities do not keep: nook loads it before dropping them.
test_seccomp_without_no_new_privileges() {
  make_bundle b
  cfg b '.process.noNewPrivileges = false |
    .linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{names: ["mkdirat", "mkdir"], action: "SCMP_ACT_ERRNO"}]}'
  local out
  out=$(run_in b 'grep NoNewPrivs /proc/self/status; grep CapEff /proc/self/status; mkdir /tmp/x || echo blocked')
  assert_contains "$out" "blocked"
  assert_contains "$out" "NoNewPrivs:	0"
  # the default set: CAP_AUDIT_WRITE, CAP_KILL, CAP_NET_BIND_SERVICE
  assert_contains "$out" "CapEff:	0000000020000420"
}

test_seccomp_bad_profile_fails_create_cleanly() {
  make_bundle b
  cfg b '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{names: ["mkdir"], action: "SCMP_ACT_FROB"}]}'
  local id
  id=$(unique_id sec)
  assert_fails "$NOOK" create --bundle b "$id"
  assert_contains "$assert_output" "SCMP_ACT_FROB"
  assert_eq 1 "$(printf '%s\n' "$assert_output" | wc -l)" "lines of error"
  assert_fails "$NOOK" state "$id"
}

test_seccomp_kill_process_ends_the_container() {
  make_bundle b
  cfg b '.linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
    syscalls: [{names: ["mkdir", "mkdirat"], action: "SCMP_ACT_KILL_PROCESS"}]}'
  local status=0
  run_in b 'mkdir /tmp/x' || status=$?
  # 128 + SIGSYS (31)
  assert_eq 159 "$status" "exit status"
}

test_capabilities_are_exactly_the_spec() {
  make_bundle b
  cfg b '.process.capabilities = {bounding: ["CAP_KILL", "CAP_CHOWN", "CAP_NET_BIND_SERVICE"],
    effective: ["CAP_KILL", "CHOWN"], permitted: ["CAP_KILL", "CAP_CHOWN"],
    inheritable: [], ambient: []}'
  local out
  out=$(run_in b 'grep ^Cap /proc/self/status')
  assert_contains "$out" "CapBnd:	0000000000000421"
  # noNewPrivileges (the default here) keeps exec from raising permitted to
  # the bounding set, as it would for root
  assert_contains "$out" "CapEff:	0000000000000021"
  assert_contains "$out" "CapInh:	0000000000000000"
}

test_unknown_capability_is_named() {
  make_bundle b
  cfg b '.process.capabilities.bounding += ["CAP_TELEPORT"]'
  local id
  id=$(unique_id sec)
  assert_fails "$NOOK" run --bundle b "$id"
  assert_contains "$assert_output" "CAP_TELEPORT"
}

test_rlimits_and_umask() {
  make_bundle b
  cfg b '.process.rlimits = [{type: "RLIMIT_NOFILE", soft: 100, hard: 200}] |
    .process.user.umask = 23'
  local out
  out=$(run_in b 'echo soft=$(ulimit -n) hard=$(ulimit -Hn) umask=$(umask)')
  assert_contains "$out" "soft=100 hard=200 umask=0027"
}

test_unknown_rlimit_is_named() {
  make_bundle b
  cfg b '.process.rlimits = [{type: "RLIMIT_WARP", soft: 1, hard: 1}]'
  local id
  id=$(unique_id sec)
  assert_fails "$NOOK" run --bundle b "$id"
  assert_contains "$assert_output" "RLIMIT_WARP"
}

test_no_new_privileges() {
  make_bundle b
  cfg b '.process.noNewPrivileges = true'
  assert_contains "$(run_in b 'grep NoNewPrivs /proc/self/status')" "NoNewPrivs:	1"
}

# podman's default profile (resolved as podman does for x86_64): a shell
# works under it, and the compiled filter lands in the cache, where the next
# start finds it.
test_podman_default_profile() {
  local src=/usr/share/containers/seccomp.json
  [ -r "$src" ] || skip "$src is missing (containers-common)"
  [ "$(uname -m)" = x86_64 ] || skip "the resolved profile is x86_64's"
  make_bundle b
  jq -f "$NOOK_SRC/bench/podman-default-seccomp.jq" "$src" >profile.json
  cfg b --slurpfile p profile.json '.linux.seccomp = $p[0] |
    .process.args = ["sh", "-c", "grep ^Seccomp: /proc/self/status; mkdir /dev/shm/d && ls /dev/shm"]'
  local out
  out=$("$NOOK" --root "$PWD/root" run --bundle b "$(unique_id pod)")
  assert_contains "$out" "Seccomp:	2"
  assert_contains "$out" "d"
  assert_eq 1 "$(ls root/.seccomp-cache | wc -l)" "cached filters"
  local cached
  cached=$(stat -c '%n %y' root/.seccomp-cache/*)
  "$NOOK" --root "$PWD/root" run --bundle b "$(unique_id pod)" >/dev/null
  # A hit reads the entry and writes nothing.
  assert_eq "$cached" "$(stat -c '%n %y' root/.seccomp-cache/*)" "cache entry after a second start"
}

# exec applies the container's profile, compiled once at create (a hit then).
test_exec_gets_the_container_profile() {
  "$NOOK" exec --help >/dev/null 2>&1 || skip "exec is not there yet"
  make_bundle b
  cfg b '.process.args = ["sleep", "1000"] |
    .linux.seccomp = {defaultAction: "SCMP_ACT_ALLOW",
      syscalls: [{names: ["mkdir", "mkdirat"], action: "SCMP_ACT_ERRNO", errnoRet: 1}]}'
  local id
  id=$(unique_id exe)
  "$NOOK" --root "$PWD/root" create --bundle b "$id"
  "$NOOK" --root "$PWD/root" start "$id"
  local cached
  cached=$(stat -c '%n %y' root/.seccomp-cache/*)
  assert_fails "$NOOK" --root "$PWD/root" exec "$id" mkdir /dev/shm/x
  assert_contains "$assert_output" "Operation not permitted"
  assert_eq "ok" "$("$NOOK" --root "$PWD/root" exec "$id" sh -c 'touch /dev/shm/y && echo ok')"
  assert_eq "$cached" "$(stat -c '%n %y' root/.seccomp-cache/*)" "cache after exec"
  "$NOOK" --root "$PWD/root" delete --force "$id"
}
