# Shell completion: bash driven for real through COMP_WORDS/COMP_CWORD, zsh
# and fish loaded and asked; the candidates come from `nook __complete`.

# Prints what bash completion offers for the words given (the last one is
# the word being completed), one candidate a line, sorted.
bash_complete() {
  bash --norc --noprofile -c '
    source "$NOOK_SRC/completions/nook.bash"
    COMP_WORDS=("$@")
    COMP_CWORD=$(( $# - 1 ))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    _nook
    printf "%s\n" "${COMPREPLY[@]}"' bash "$NOOK" "$@" | sed '/^$/d' | sort
}

# bash_complete_line LINE: bash_complete of LINE split into words as bash
# splits a command line for completion: at spaces, and around each '=' and
# ':' (COMP_WORDBREAKS), which become words of their own.
bash_complete_line() {
  local -a words=()
  local w
  for w in $1; do
    while [[ $w =~ ^([^=:]*)([=:])(.*)$ ]]; do
      [ -z "${BASH_REMATCH[1]}" ] || words+=("${BASH_REMATCH[1]}")
      words+=("${BASH_REMATCH[2]}")
      w=${BASH_REMATCH[3]}
    done
    [ -z "$w" ] || words+=("$w")
  done
  [[ $1 != *" " ]] || words+=("")
  bash_complete "${words[@]}"
}

test_bash_registers_the_function() {
  local out
  out=$(bash --norc --noprofile -c 'source "$NOOK_SRC/completions/nook.bash"; complete -p nook')
  assert_eq "complete -F _nook nook" "$out" "complete -p nook"
}

test_bash_offers_commands() {
  local out
  out=$(bash_complete '')
  assert_contains "$out" "exec"
  assert_contains "$out" "delete"
  assert_contains "$out" "features"
  if grep -qx '__complete' <<<"$out"; then fail "the hidden command is offered"; fi
  assert_eq "$(printf 'start\nstate\nstop')" "$(bash_complete st)" "commands starting with st"
}

test_bash_commands_follow_the_binary() {
  # Whatever `nook --help` lists is what completion offers: no stale copy.
  local want
  want=$("$NOOK" --help | sed -n '/^Commands:/,/^$/p' | awk 'NF>1 {print $1}' | sort)
  assert_eq "$want" "$(bash_complete '')" "commands of --help and completion"
}

test_bash_global_flags_and_values() {
  assert_contains "$(bash_complete --ro)" "--root"
  assert_contains "$(bash_complete --ro)" "--rootless"
  assert_eq "$(printf 'json\ntext')" "$(bash_complete --log-format '')" "--log-format values"
  assert_eq "$(printf 'cgroupfs\ndisabled\nsystemd')" "$(bash_complete --cgroup-manager '')"
  mkdir -p dir-a/sub; touch file-b
  assert_eq "dir-a" "$(bash_complete --root d)" "--root completes directories"
  # bash splits --root=VALUE at '='.
  assert_eq "dir-a" "$(bash_complete --root = d)" "--root=VALUE completes directories"
}

test_bash_signals_for_kill() {
  local out
  out=$(bash_complete kill some-id '')
  assert_contains "$out" "KILL"
  assert_contains "$out" "TERM"
  assert_contains "$out" "USR1"
  assert_eq "$(printf 'USR1\nUSR2')" "$(bash_complete kill some-id US)"
}

test_bash_command_flags() {
  local out
  out=$("$NOOK" exec --help) || skip "exec --help is not there yet"
  out=$(bash_complete exec --)
  assert_contains "$out" "--process"
  assert_contains "$out" "--tty"
  assert_contains "$out" "--pid-file"
  mkdir -p bundle-dir; touch proc.json
  assert_eq "proc.json" "$(bash_complete exec --process pr)" "--process completes files"
  assert_eq "bundle-dir" "$(bash_complete run --bundle bu)" "--bundle completes directories"
  assert_eq "bundle-dir" "$(bash_complete run -b bu)" "-b completes directories"
  assert_eq "$(printf 'json\ntable')" "$(bash_complete list --format '')" "list --format values"
}

# Option values written with literal parts (SRC:DST[:ro]) or as one
# lower-case choice (keep-id) are values, not the image that follows.
test_bash_launch_option_values() {
  mkdir -p src-dir
  assert_eq "src-dir" "$(bash_complete launch -v sr)" "-v completes paths"
  assert_eq "src-dir" "$(bash_complete launch --rm --volume sr)" "--volume completes paths"
  assert_eq "keep-id" "$(bash_complete launch --userns '')" "--userns value"
  assert_eq "" "$(bash_complete launch -p '')" "-p offers no image"
  assert_eq "" "$(bash_complete launch --tmpfs '')" "--tmpfs offers no image"
}

# Containers in three states, each command offers those it can act on.
test_bash_container_ids_by_state() {
  local root=$TEST_TMP/state
  local created=$(unique_id created) running=$(unique_id running) paused=$(unique_id paused)
  make_bundle b1; cfg b1 '.process.args = ["sleep", "100"]'
  make_bundle b2; cfg b2 '.process.args = ["sleep", "100"]'
  # the containers' stdio must not hold the test's output open
  "$NOOK" --root "$root" create --bundle b1 "$created" </dev/null >/dev/null 2>&1
  "$NOOK" --root "$root" run -d --bundle b2 "$running" </dev/null >/dev/null 2>&1
  local have_paused=0
  make_bundle b3; cfg b3 '.process.args = ["sleep", "100"]'
  "$NOOK" --root "$root" run -d --bundle b3 "$paused" </dev/null >/dev/null 2>&1
  if "$NOOK" --root "$root" pause "$paused" 2>/dev/null; then have_paused=1; fi
  trap "for c in $created $running $paused; do '$NOOK' --root '$root' delete -f \$c 2>/dev/null; done; true" EXIT

  assert_eq "$created" "$(bash_complete --root "$root" start '')" "start offers created"
  assert_eq "$running" "$(bash_complete --root "$root" exec '')" "exec offers running"
  assert_eq "$running" "$(bash_complete --root "$root" pause '')" "pause offers running"
  assert_eq "$(printf '%s\n' "$created" "$running" "$paused" | sort)" \
    "$(bash_complete --root "$root" delete '')" "delete offers all"
  assert_eq "$(printf '%s\n' "$created" "$running" "$paused" | sort)" \
    "$(bash_complete --root "$root" state '')" "state offers all"
  # nothing to offer for a new container's name
  assert_eq "" "$(bash_complete --root "$root" run '')" "run offers no id"
  # the hidden command itself, as the brief documents it
  assert_eq "$created" "$("$NOOK" --root "$root" __complete containers created)"
  if [ $have_paused = 1 ]; then
    assert_eq "$paused" "$(bash_complete --root "$root" resume '')" "resume offers paused"
    assert_eq "$running" "$(bash_complete --root "$root" kill '')" "kill offers running"
  else
    skip "pause does not work here; resume's choice untested"
  fi
}

test_bash_image_subcommands_and_names() {
  command -v umoci >/dev/null || skip "umoci builds the test image (scripts/install-deps)"
  local out
  out=$(bash_complete image '')
  assert_contains "$out" "import"
  assert_contains "$out" "rm"
  assert_contains "$out" "inspect"
  touch image.tar
  assert_eq "image.tar" "$(bash_complete image import ima)" "import completes files"
  # a stored image is offered to rm and inspect
  umoci init --layout oci >/dev/null
  umoci new --image oci:bb >/dev/null
  "$NOOK" image --storage-root "$TEST_TMP/store" import oci:bb localhost/nook-compl:1 >/dev/null
  assert_eq "localhost/nook-compl:1" \
    "$(bash_complete image --storage-root "$TEST_TMP/store" rm '')" "rm offers the image"
  assert_eq "localhost/nook-compl:1" \
    "$(bash_complete image --storage-root "$TEST_TMP/store" inspect loc)" "inspect offers the image"
  # save: the image, a file after -o, the formats after --format; tag: the
  # image, then no name to offer for the new one
  assert_eq "localhost/nook-compl:1" \
    "$(bash_complete image --storage-root "$TEST_TMP/store" save -o x.tar '')" "save offers the image"
  assert_eq "image.tar" "$(bash_complete image save -o ima)" "save -o completes files"
  assert_eq "$(printf 'docker-archive\noci-archive')" "$(bash_complete image save --format '')" "save --format"
  assert_eq "localhost/nook-compl:1" \
    "$(bash_complete image --storage-root "$TEST_TMP/store" tag '')" "tag offers the image"
  assert_eq "" "$(bash_complete image --storage-root "$TEST_TMP/store" tag localhost/nook-compl:1 '')" \
    "tag offers no new name"
  out=$(bash_complete image '')
  assert_contains "$out" "tag"
  assert_contains "$out" "save"
  # bash splits at ':' and replaces only the part after it
  assert_eq "1" "$(bash_complete image --storage-root "$TEST_TMP/store" rm localhost/nook-compl : '')" \
    "the tag after name:"
}

test_zsh_loads_and_offers() {
  command -v zsh >/dev/null || skip "zsh is not installed (scripts/install-deps)"
  local out
  out=$(zsh -f -c 'fpath=("$NOOK_SRC/completions" $fpath); autoload -Uz compinit; compinit -u -D
                   autoload -Uz _nook; (( $+functions[_nook] )) && echo loaded
                   print -r -- "${_comps[nook]}"')
  assert_eq "$(printf 'loaded\n_nook')" "$out" "zsh autoload and compdef"
  # the file must parse
  zsh -n "$NOOK_SRC/completions/_nook"
}

test_fish_loads_and_offers() {
  command -v fish >/dev/null || skip "fish is not installed (scripts/install-deps)"
  fish -n "$NOOK_SRC/completions/nook.fish"
  local bindir=$TEST_TMP/bin
  mkdir -p "$bindir"; ln -s "$NOOK" "$bindir/nook"
  local out
  out=$(HOME=$TEST_TMP PATH=$bindir:$PATH fish --no-config -c "source '$NOOK_SRC/completions/nook.fish'; complete -C 'nook st'")
  assert_eq "$(printf 'start\nstate\nstop')" "$(sort <<<"$out")" "fish: nook st"
  out=$(HOME=$TEST_TMP PATH=$bindir:$PATH fish --no-config -c "source '$NOOK_SRC/completions/nook.fish'; complete -C 'nook kill x KI'")
  assert_contains "$out" "KILL"
}

# Values with '=' (--mount type=bind, -l k=v, -e K=V) and --flag=VALUE, as
# bash really splits them: a value is completed after its '=', and the words
# after one are still seen for what they are. zsh and fish give such a word
# whole: its values come back whole.
test_bash_values_with_equals() {
  assert_eq "bind" "$(bash_complete_line 'launch --mount type=b')" "--mount type=b"
  assert_eq "$(printf 'bind\ntmpfs\nvolume')" "$(bash_complete_line 'launch --mount type=')" "--mount type="
  assert_eq "never" "$(bash_complete_line 'launch -l a=b --pull n')" "a flag after -l a=b"
  assert_eq "host" "$(bash_complete_line 'launch -e A=1 --label=x=y --net=h')" "after -e A=1 --label=x=y"
  assert_eq "$(printf 'host\nnone\nslirp')" "$(bash_complete_line 'launch --network=')" "--network="
  assert_eq "unconfined" "$(bash_complete_line 'launch --security-opt seccomp=u')" "seccomp=u"
  assert_eq "seccomp=unconfined" "$(bash_complete launch --security-opt '')" \
    "--security-opt: FILE is what to write, not a value"
  assert_eq "nofile=" "$(bash_complete_line 'launch --ulimit nof')" "--ulimit names"
  assert_eq "" "$(bash_complete_line 'launch --ulimit nofile=')" "nothing after --ulimit nofile="
  assert_contains "$(bash_complete_line 'launch --stop-signal=T')" "TERM" "--stop-signal="
  assert_eq "$(printf -- '--network=host\n--network=none\n--network=slirp')" \
    "$("$NOOK" __complete words -- launch --network= | sort)" "a --flag= word given whole"
  assert_contains "$("$NOOK" __complete words -- launch -l a=b --pull=n)" "--pull=never" "--pull=n whole"
  if command -v fish >/dev/null; then
    mkdir -p bin
    ln -sf "$NOOK" bin/nook
    assert_eq "--network=slirp" "$(HOME=$TEST_TMP PATH=$TEST_TMP/bin:$PATH fish --no-config -c \
      "source '$NOOK_SRC/completions/nook.fish'; complete -C 'nook launch --network=s'")" "fish: --network=s"
  fi
}

# What --help lists (and so what completion offers) is in the man page:
# every option of every command, `nook image`'s subcommands' too.
test_every_completed_flag_is_documented() {
  local cmd flag sub missing=
  for cmd in $("$NOOK" __complete commands); do
    [ -f "$NOOK_SRC/docs/nook-$cmd.1.scd" ] || { missing+=" $cmd(no man page)"; continue; }
    for flag in $("$NOOK" __complete flags "$cmd" | sed 's/[ [].*//'); do
      grep -qE -- "\*${flag}([^a-zA-Z0-9-]|$)" "$NOOK_SRC/docs/nook-$cmd.1.scd" ||
        missing+=" $cmd:$flag"
    done
  done
  for sub in $("$NOOK" __complete words -- image ''); do
    for flag in $("$NOOK" __complete words -- image "$sub" -); do
      grep -qE -- "\*${flag}([^a-zA-Z0-9-]|$)" "$NOOK_SRC/docs/nook-image.1.scd" ||
        missing+=" image-$sub:$flag"
    done
  done
  assert_eq "" "$missing" "options --help shows that the man page does not"
  "$NOOK" image --help | awk 'length > 79 { print "too long: " $0; bad = 1 } END { exit bad }'
}

# nook image SUB: its options and their values, from the image help.
test_bash_image_subcommand_options() {
  assert_eq "$(printf -- '--format\n--output\n--quiet\n-o\n-q')" "$(bash_complete image save -)" "save's options"
  assert_eq "$(printf 'docker-archive\noci-archive')" "$(bash_complete image save -q --format '')" \
    "save --format"
  touch out.tar
  assert_eq "out.tar" "$(bash_complete image save --output ou)" "save --output: files"
  assert_eq "$(printf 'json\ntable')" "$(bash_complete_line 'image list --format=')" "list --format="
  assert_eq "$(printf -- '--force\n-f')" "$(bash_complete image rm -)" "rm's options"
  assert_eq "$(printf -- '--all\n-a')" "$(bash_complete image prune -)" "prune's options"
  assert_eq "--tls-verify" "$(bash_complete image pull --tl)" "pull's options"
  assert_eq "--storage-root" "$(bash_complete image -)" "image's own options (no -f of a description)"
}

# Boolean values (--sig-proxy[=BOOL], --tls-verify=BOOL) and containers'
# --format are offered; an optional value does not swallow the next word.
test_bash_bool_and_format_values() {
  assert_eq "$(printf 'false\ntrue')" "$(bash_complete_line 'attach --sig-proxy=')" "attach --sig-proxy="
  assert_eq "$(printf 'false\ntrue')" "$(bash_complete_line 'launch --tls-verify=')" "launch --tls-verify="
  assert_eq "--sig-proxy[=BOOL]" "$("$NOOK" __complete flags attach | grep sig-proxy)" "flags attach"
  assert_eq "$(printf 'json\ntable')" "$(bash_complete containers --format '')" "containers --format"
  local id=nook-compl-$$
  make_bundle b
  cfg b '.process.args = ["sleep", "30"]'
  "$NOOK" create --bundle b "$id" </dev/null >/dev/null 2>&1
  "$NOOK" start "$id"
  assert_contains "$(bash_complete attach --sig-proxy '')" "$id" "the id after a --sig-proxy without value"
  "$NOOK" delete -f "$id"
}
