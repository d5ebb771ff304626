# nook features: the OCI features document (runtime-spec features.md).

test_features_is_json_with_the_spec_shape() {
  "$NOOK" features >features.json
  jq -e . features.json >/dev/null || fail "not JSON"
  assert_eq "1.0.0" "$(jq -r .ociVersionMin features.json)" ociVersionMin
  assert_eq "1.2.0" "$(jq -r .ociVersionMax features.json)" ociVersionMax
  assert_eq "prestart,createRuntime,createContainer,startContainer,poststart,poststop" \
    "$(jq -r '.hooks | join(",")' features.json)" hooks
  assert_eq "true" "$(jq '.mountOptions | index("rbind") != null and index("tmpcopyup") != null' \
    features.json)" "mountOptions has rbind and tmpcopyup"
  assert_eq "true" "$(jq '.linux.cgroup.v2 and (.linux.cgroup.v1 | not)' features.json)" cgroup
  assert_eq "false" "$(jq '.linux.apparmor.enabled or .linux.selinux.enabled' features.json)" \
    "apparmor/selinux"
  assert_eq "$("$NOOK" --version | sed -n 's/^nook version //p')" \
    "$(jq -r '.annotations["io.github.nook.version"]' features.json)" version annotation
}

test_features_lists_seccomp_names_and_namespaces() {
  "$NOOK" features >features.json
  assert_eq "true" "$(jq .linux.seccomp.enabled features.json)" seccomp.enabled
  local actions
  actions=$(jq -r '.linux.seccomp.actions | join(" ")' features.json)
  for a in SCMP_ACT_ALLOW SCMP_ACT_ERRNO SCMP_ACT_KILL SCMP_ACT_KILL_PROCESS \
    SCMP_ACT_KILL_THREAD SCMP_ACT_LOG SCMP_ACT_TRACE SCMP_ACT_TRAP; do
    assert_contains " $actions " " $a " "seccomp actions"
  done
  assert_eq "SCMP_CMP_EQ SCMP_CMP_GE SCMP_CMP_GT SCMP_CMP_LE SCMP_CMP_LT SCMP_CMP_MASKED_EQ SCMP_CMP_NE" \
    "$(jq -r '.linux.seccomp.operators | join(" ")' features.json)" operators
  assert_contains "$(jq -r '.linux.seccomp.archs | join(" ")' features.json)" \
    "SCMP_ARCH_X86_64" archs
  # What is supported must be known.
  assert_eq "[]" "$(jq -c '.linux.seccomp.supportedFlags - .linux.seccomp.knownFlags' \
    features.json)" "supportedFlags outside knownFlags"
  local ns
  ns=$(jq -r '.linux.namespaces | join(" ")' features.json)
  for n in cgroup ipc mount network pid user uts; do
    assert_contains " $ns " " $n " namespaces
  done
  assert_eq "true" "$(jq '.linux.capabilities | index("CAP_SYS_ADMIN") != null and
    index("CAP_CHOWN") == 0' features.json)" "capabilities"
}

test_features_rejects_arguments() {
  assert_fails "$NOOK" features extra
  assert_contains "$assert_output" "extra"
  assert_fails "$NOOK" features --frob
  assert_contains "$assert_output" "--frob"
}

# Every mount option listed is one the mount code interprets: a guard
# against the two lists drifting apart.
test_features_mount_options_are_known_to_the_mount_code() {
  local o missing=""
  for o in $("$NOOK" features | jq -r '.mountOptions[]'); do
    grep -q "\"$o\"" "$NOOK_SRC"/src/runtime/mounts*.c || missing="$missing $o"
  done
  assert_eq "" "$missing" "options src/runtime/mounts*.c does not interpret"
}
