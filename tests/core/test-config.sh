# What config.json asks for, checked from inside the container.

subid_maps='.linux.uidMappings = [{"containerID": 0, "hostID": $uid, "size": 1}, {"containerID": 1, "hostID": $sub, "size": 65536}]
  | .linux.gidMappings = [{"containerID": 0, "hostID": $gid, "size": 1}, {"containerID": 1, "hostID": $subg, "size": 65536}]'

with_subids() {
  local sub subg
  sub=$(awk -F: -v u="$(id -un)" '$1 == u {print $2; exit}' /etc/subuid)
  subg=$(awk -F: -v u="$(id -un)" '$1 == u {print $2; exit}' /etc/subgid)
  [ -n "$sub" ] || skip "no subordinate uid range for $(id -un)"
  cfg b --argjson uid "$(id -u)" --argjson gid "$(id -g)" --argjson sub "$sub" --argjson subg "$subg" "$subid_maps"
  echo "$sub"
}

test_uid_map_shows_the_subordinate_range() {
  make_bundle b
  sub=$(with_subids)
  cfg b '.process.args = ["cat", "/proc/self/uid_map"]'
  out=$("$NOOK" run -b b "$(unique_id map)")
  assert_eq "0 $(id -u) 1|1 $sub 65536" "$(echo "$out" | awk '{print $1, $2, $3}' | paste -sd'|')"
}

test_process_user_and_groups_from_subids() {
  make_bundle b
  with_subids >/dev/null
  cfg b '.process.user = {"uid": 1000, "gid": 1000, "additionalGids": [10, 20]} | .process.args = ["sh", "-c", "id -u; id -g; id -G"]'
  out=$("$NOOK" run -b b "$(unique_id user)")
  assert_eq "1000|1000|1000 10 20" "$(paste -sd'|' <<<"$out")"
}

test_capabilities_match_the_config() {
  make_bundle b
  cfg b '.process.capabilities = {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_CHOWN", "CAP_KILL"], "inheritable": []} | .process.args = ["grep", "^Cap", "/proc/self/status"]'
  out=$("$NOOK" run -b b "$(unique_id caps)")
  # For uid 0 the kernel makes the effective set the permitted one on exec.
  assert_contains "$out" "CapEff:	0000000000000021"
  assert_contains "$out" "CapPrm:	0000000000000021"
  assert_contains "$out" "CapBnd:	0000000000000021"
}

test_capabilities_of_a_non_root_user_through_ambient() {
  make_bundle b
  with_subids >/dev/null
  cfg b '.process.user = {"uid": 1000, "gid": 1000} | .process.capabilities = {"bounding": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"], "inheritable": ["CAP_KILL"], "ambient": ["CAP_KILL"]} | .process.args = ["grep", "^Cap", "/proc/self/status"]'
  out=$("$NOOK" run -b b "$(unique_id capsamb)")
  assert_contains "$out" "CapEff:	0000000000000020"
  assert_contains "$out" "CapAmb:	0000000000000020"
  assert_contains "$out" "CapBnd:	0000000000000021"
}

test_seccomp_denies_with_the_errno_asked_for() {
  make_bundle b
  cfg b '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]} | .root.readonly = false'
  cfg b '.process.args = ["sh", "-c", "mkdir /tmp/x 2>&1; echo status=$?"]'
  out=$("$NOOK" run -b b "$(unique_id sc)")
  assert_contains "$out" "Permission denied"
  assert_contains "$out" "status=1"
  cfg b '.linux.seccomp.syscalls[0].errnoRet = 28'
  out=$("$NOOK" run -b b "$(unique_id sc)")
  assert_contains "$out" "No space left on device"
}

test_masked_path_reads_empty_and_readonly_path_is_readonly() {
  make_bundle b
  cfg b '.linux.maskedPaths = ["/proc/kcore", "/proc/acpi", "/etc/secret"] | .linux.readonlyPaths = ["/proc/sys"]'
  echo topsecret > b/rootfs/etc/secret
  cfg b '.process.args = ["sh", "-c", "cat /etc/secret | wc -c; ls /proc/acpi | wc -l; echo 1 > /proc/sys/kernel/shmmax 2>/dev/null && echo writable || echo readonly"]'
  out=$("$NOOK" run -b b "$(unique_id mask)")
  assert_eq "0|0|readonly" "$(paste -sd'|' <<<"$out" | tr -d ' ')"
}

test_root_readonly() {
  make_bundle b
  cfg b '.root.readonly = true | .process.args = ["sh", "-c", "touch /x 2>&1 || echo refused"]'
  out=$("$NOOK" run -b b "$(unique_id ro)")
  assert_contains "$out" "Read-only file system"
  cfg b '.root.readonly = false | .process.args = ["sh", "-c", "touch /x && echo wrote"]'
  assert_eq wrote "$("$NOOK" run -b b "$(unique_id rw)")"
  [ -e b/rootfs/x ] || fail "the write did not reach the rootfs"
}

test_hostname_domainname_env_cwd() {
  make_bundle b
  cfg b '.hostname = "box1" | .domainname = "example.org" | .process.env += ["GREETING=hi there"] | .process.cwd = "/tmp/work"'
  cfg b '.root.readonly = false | .process.args = ["sh", "-c", "hostname; cat /proc/sys/kernel/domainname; echo $GREETING; pwd; echo $HOME"]'
  out=$("$NOOK" run -b b "$(unique_id host)")
  assert_eq "box1|example.org|hi there|/tmp/work|/root" "$(paste -sd'|' <<<"$out")"
}

test_no_nook_fd_is_open_in_the_container() {
  make_bundle b
  cfg b '.process.args = ["ls", "/proc/self/fd"]'
  # fd 7 is the caller's: without --preserve-fds it must not reach the container.
  out=$("$NOOK" run -b b "$(unique_id fd)" 7</dev/null)
  # ls itself holds one fd (3) for reading the directory.
  assert_eq "0 1 2 3" "$(echo $out)" "fds open in the container"
}

test_preserve_fds_passes_exactly_those() {
  make_bundle b
  cfg b '.process.args = ["sh", "-c", "cat <&3; ls /proc/self/fd | wc -l"]'
  echo passed-through > data
  out=$("$NOOK" run --preserve-fds 1 -b b "$(unique_id pfd)" 3<data 4</dev/null)
  assert_eq "passed-through|5" "$(paste -sd'|' <<<"$out" | tr -d ' ')"
}

test_bind_and_tmpfs_mounts_with_options() {
  make_bundle b
  mkdir -p hostdir
  echo from-host > hostdir/file
  cfg b --arg src "$TEST_TMP/hostdir" '.mounts += [{"destination": "/data", "type": "bind", "source": $src, "options": ["rbind", "ro"]}, {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1777"]}]'
  cfg b '.process.args = ["sh", "-c", "cat /data/file; touch /data/new 2>/dev/null || echo data-ro; stat -c %a /scratch; dd if=/dev/zero of=/scratch/f bs=1k count=2048 2>/dev/null || echo scratch-full"]'
  out=$("$NOOK" run -b b "$(unique_id mnt)")
  assert_eq "from-host|data-ro|1777|scratch-full" "$(paste -sd'|' <<<"$out")"
}

test_mount_target_symlink_cannot_escape_the_rootfs() {
  make_bundle b
  mkdir -p outside
  ln -s "$TEST_TMP/outside" b/rootfs/escape
  cfg b '.mounts += [{"destination": "/escape/inner", "type": "tmpfs", "source": "tmpfs"}] | .process.args = ["true"]'
  "$NOOK" run -b b "$(unique_id esc)" || true
  [ ! -e outside/inner ] || fail "a mount target was created outside the rootfs through a symlink"
}

test_rlimits_and_no_new_privileges() {
  make_bundle b
  cfg b '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}] | .process.noNewPrivileges = true'
  cfg b '.process.args = ["sh", "-c", "ulimit -n; ulimit -Hn; grep NoNewPrivs /proc/self/status"]'
  out=$("$NOOK" run -b b "$(unique_id rl)")
  assert_eq "123|456|NoNewPrivs:	1" "$(paste -sd'|' <<<"$out")"
}

test_sysctl_namespaced_applies_and_host_wide_is_refused() {
  make_bundle b
  cfg b '.linux.sysctl = {"kernel.shmmni": "1234"} | .process.args = ["cat", "/proc/sys/kernel/shmmni"]'
  assert_eq 1234 "$("$NOOK" run -b b "$(unique_id sysctl)")"
  cfg b '.linux.sysctl = {"vm.swappiness": "10"}'
  id=$(unique_id sysctlbad)
  assert_fails "$NOOK" run -b b "$id"
  assert_eq 1 "$(wc -l <<<"$assert_output")" "lines of the error"
  assert_contains "$assert_output" "sysctl \`vm.swappiness\` is not namespaced"
  [ ! -e "$XDG_RUNTIME_DIR/nook/$id" ] || fail "state left behind"
}

test_oom_score_adj() {
  make_bundle b
  cfg b '.process.oomScoreAdj = 500 | .process.args = ["cat", "/proc/self/oom_score_adj"]'
  assert_eq 500 "$("$NOOK" run -b b "$(unique_id oom)")"
}

test_hooks_run_in_order_with_state_on_stdin() {
  make_bundle b
  log=$TEST_TMP/hooks.log
  cat >hook.sh <<EOS
#!/bin/sh
read -r state
echo "\$1 \$(echo "\$state" | sed -n 's/.*"status":"\([a-z]*\)".*/\1/p')" >> $log
EOS
  chmod +x hook.sh
  # startContainer runs inside the container, after pivot_root.
  cat >b/rootfs/bin/inner-hook <<'EOS'
#!/bin/sh
echo startContainer >> /hooks.log
EOS
  chmod +x b/rootfs/bin/inner-hook
  h=$TEST_TMP/hook.sh
  cfg b --arg h "$h" '.root.readonly = false | .process.args = ["sh", "-c", "cat /hooks.log"] | .hooks = {
    "prestart": [{"path": $h, "args": ["hook", "prestart"]}],
    "createRuntime": [{"path": $h, "args": ["hook", "createRuntime"]}],
    "createContainer": [{"path": $h, "args": ["hook", "createContainer"]}],
    "startContainer": [{"path": "/bin/inner-hook"}],
    "poststart": [{"path": $h, "args": ["hook", "poststart"]}],
    "poststop": [{"path": $h, "args": ["hook", "poststop"]}]}'
  out=$("$NOOK" run -b b "$(unique_id hooks)")
  assert_eq startContainer "$out" "startContainer ran inside the container"
  assert_eq "prestart creating|createRuntime creating|createContainer creating|poststart running|poststop stopped" "$(paste -sd'|' "$log")"
}

test_failing_hook_fails_create_and_leaves_nothing() {
  make_bundle b
  cfg b '.hooks = {"createRuntime": [{"path": "/bin/false"}]} | .process.args = ["true"]'
  id=$(unique_id hookfail)
  assert_fails "$NOOK" create -b b "$id"
  assert_contains "$assert_output" "createRuntime hook \`/bin/false\` failed with exit status 1"
  [ ! -e "$XDG_RUNTIME_DIR/nook/$id" ] || fail "state left behind"
}

test_hook_timeout() {
  make_bundle b
  cfg b '.hooks = {"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]} | .process.args = ["true"]'
  assert_fails "$NOOK" run -b b "$(unique_id hookto)"
  assert_contains "$assert_output" "did not finish within its timeout of 1 s"
}

test_no_pivot() {
  make_bundle b
  cfg b '.process.args = ["sh", "-c", "ls / | wc -l"]'
  want=$(ls b/rootfs | wc -l)
  assert_eq "$want" "$("$NOOK" run --no-pivot -b b "$(unique_id np)" | tr -d ' ')"
}

test_devices_and_dev_links() {
  make_bundle b
  cfg b '.process.args = ["sh", "-c", "echo x > /dev/null && head -c 4 /dev/zero | wc -c; readlink /dev/fd; readlink /dev/ptmx; ls /dev/pts/ptmx"]'
  out=$("$NOOK" run -b b "$(unique_id dev)")
  assert_eq "4|/proc/self/fd|pts/ptmx|/dev/pts/ptmx" "$(paste -sd'|' <<<"$out" | tr -d ' ')"
}

test_apparmor_and_selinux_are_accepted_and_reported_not_applied() {
  make_bundle b
  cfg b '.process.apparmorProfile = "docker-default" | .process.selinuxLabel = "system_u:system_r:container_t:s0" | .process.args = ["echo", "ran"]'
  out=$("$NOOK" run -b b "$(unique_id lsm)" 2>&1)
  assert_contains "$out" "ran"
  assert_contains "$out" "process.apparmorProfile \`docker-default\` is not applied"
  assert_contains "$out" "process.selinuxLabel \`system_u:system_r:container_t:s0\` is not applied"
}
