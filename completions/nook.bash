# bash completion for nook. The candidates come from nook itself
# (`nook __complete words`), so they follow the binary being completed.

_nook() {
  local -a words=()
  local i w join=0
  # bash splits words at '=' and ':' (COMP_WORDBREAKS). Give nook whole
  # words, as zsh and fish do: "--root" "=" "/x" becomes "--root=/x",
  # "name" ":" "tag" becomes "name:tag", and the value "type" "=" "bind" of
  # --mount (or of -l, -e) one word, so that the words after it are still
  # seen for what they are.
  for ((i = 1; i <= COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ $w == "=" || $w == ":" ]] && ((${#words[@]} > 0)); then
      words[${#words[@]} - 1]+=$w
      join=1
      continue
    fi
    if ((join)); then
      words[${#words[@]} - 1]+=$w
      join=0
      continue
    fi
    words+=("$w")
  done
  local cur=${words[${#words[@]} - 1]}
  unset 'words[${#words[@]}-1]'
  # what bash replaces: the part of cur after its last '=' or ':'
  local break_prefix=
  if [[ $cur == *[=:]* ]]; then
    break_prefix=${cur%"${cur##*[=:]}"}
    # only as far as those are word breaks
    [[ $COMP_WORDBREAKS == *"${break_prefix: -1}"* ]] || break_prefix=
  fi
  local word=${cur#"$break_prefix"}

  local nook=${COMP_WORDS[0]}
  [[ $nook == "~"/* ]] && nook=$HOME/${nook#"~"/}

  local IFS=$'\n'
  local -a out
  out=($("$nook" __complete words -- "${words[@]}" "$cur" 2>/dev/null))
  case ${out[0]-} in
  :files)
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$word"))
    ;;
  :dirs)
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -d -- "$word"))
    ;;
  *)
    COMPREPLY=($(compgen -W "${out[*]}" -- "$cur"))
    if [[ -n $break_prefix ]]; then
      for i in "${!COMPREPLY[@]}"; do
        COMPREPLY[i]=${COMPREPLY[i]#"$break_prefix"}
        # "nofile=" offered for "nofile=": nothing to add
        [[ -n ${COMPREPLY[i]} ]] || unset 'COMPREPLY[i]'
      done
      COMPREPLY=("${COMPREPLY[@]}")
    fi
    # "nofile=" of --ulimit, "type=bind" of --mount: more is typed after it
    if [[ ${#COMPREPLY[@]} == 1 && ${COMPREPLY[0]} == *= ]]; then
      compopt -o nospace 2>/dev/null
    fi
    ;;
  esac
}

complete -F _nook nook
