# bash completion for nook. The candidates come from nook itself
# (`nook __complete words`), so they follow the binary being completed.

_nook() {
  local cur=${COMP_WORDS[COMP_CWORD]}
  local -a words=()
  local i
  # bash splits "--root=/x" at '='; put the option and its value back as two
  # words, the form nook's engine reads.
  for ((i = 1; i < COMP_CWORD; i++)); do
    [[ ${COMP_WORDS[i]} == "=" ]] && continue
    words+=("${COMP_WORDS[i]}")
  done
  [[ $cur == "=" ]] && cur=

  local nook=${COMP_WORDS[0]}
  [[ $nook == "~"/* ]] && nook=$HOME/${nook#"~"/}

  local IFS=$'\n'
  local -a out
  out=($("$nook" __complete words -- "${words[@]}" "$cur" 2>/dev/null))
  case ${out[0]-} in
  :files)
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
    ;;
  :dirs)
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -d -- "$cur"))
    ;;
  *)
    COMPREPLY=($(compgen -W "${out[*]}" -- "$cur"))
    ;;
  esac
}

complete -F _nook nook
