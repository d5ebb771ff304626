# nook spec: writes runc's default config.json, its rootless variant, and
# never replaces a config that is already there.

test_spec_writes_default_config() {
  "$NOOK" spec
  assert_eq "1.2.0" "$(jq -r .ociVersion config.json)" ociVersion
  assert_eq "nook" "$(jq -r .hostname config.json)" hostname
  assert_eq '["sh"]' "$(jq -c .process.args config.json)" process.args
  assert_eq "true" "$(jq -r .process.terminal config.json)" process.terminal
  assert_eq "rootfs" "$(jq -r .root.path config.json)" root.path
  assert_eq "pid,network,ipc,uts,mount,cgroup" \
    "$(jq -r '[.linux.namespaces[].type] | join(",")' config.json)" namespaces
  assert_eq "sysfs" "$(jq -r '.mounts[] | select(.destination == "/sys") | .type' config.json)" \
    "/sys mount type"
  assert_eq "null" "$(jq -c .linux.uidMappings config.json)" uidMappings
}

test_spec_rootless_maps_the_user_to_root() {
  "$NOOK" spec --rootless
  assert_eq "pid,ipc,uts,mount,cgroup,user" \
    "$(jq -r '[.linux.namespaces[].type] | join(",")' config.json)" namespaces
  assert_eq "[{\"containerID\":0,\"hostID\":$(id -u),\"size\":1}]" \
    "$(jq -c .linux.uidMappings config.json)" uidMappings
  assert_eq "[{\"containerID\":0,\"hostID\":$(id -g),\"size\":1}]" \
    "$(jq -c .linux.gidMappings config.json)" gidMappings
  assert_eq '{"destination":"/sys","type":"none","source":"/sys","options":["rbind","nosuid","noexec","nodev","ro"]}' \
    "$(jq -c '.mounts[] | select(.destination == "/sys")' config.json)" "/sys mount"
  assert_eq "false" \
    "$(jq '.mounts[] | select(.destination == "/dev/pts") | .options | any(startswith("gid="))' config.json)" \
    "devpts gid= option"
  assert_eq "null" "$(jq -c .linux.resources config.json)" linux.resources
}

test_spec_bundle_option_writes_there() {
  mkdir b
  "$NOOK" spec --rootless --bundle b
  jq -e . b/config.json >/dev/null || fail "b/config.json is not JSON"
  [ ! -e config.json ] || fail "spec --bundle b also wrote ./config.json"
  "$NOOK" spec -b "$PWD/b/.." # the short option, an absolute path
  [ -f config.json ] || fail "spec -b DIR did not write DIR/config.json"
}

test_spec_refuses_to_overwrite() {
  echo '{"mine": true}' >config.json
  assert_fails "$NOOK" spec
  assert_eq "nook: File config.json exists. Remove it first" "$assert_output"
  assert_eq '{"mine": true}' "$(cat config.json)" "config.json after the refusal"

  mkdir b
  "$NOOK" spec --bundle b
  assert_fails "$NOOK" spec --rootless --bundle b
  assert_eq "nook: File b/config.json exists. Remove it first" "$assert_output"
  assert_eq "network" "$(jq -r '.linux.namespaces[1].type' b/config.json)" "b/config.json kept"
}

test_spec_missing_bundle_is_one_clear_line() {
  assert_fails "$NOOK" spec --bundle no-such-dir
  assert_eq 1 "$(printf '%s\n' "$assert_output" | wc -l)" "lines of output"
  assert_contains "$assert_output" "no-such-dir"
  assert_contains "$assert_output" "No such file or directory"
  [ ! -e no-such-dir ] || fail "spec created the missing bundle directory"
}

test_spec_rejects_unknown_option_and_arguments() {
  assert_fails "$NOOK" spec --bogus
  assert_contains "$assert_output" "nook spec --help"
  assert_fails "$NOOK" spec extra
  assert_contains "$assert_output" "unexpected argument \`extra\`"
  [ ! -e config.json ] || fail "a rejected command wrote config.json"
}

test_spec_help() {
  out=$("$NOOK" spec --help)
  assert_contains "$out" "--rootless"
  assert_contains "$out" "--bundle"
}
