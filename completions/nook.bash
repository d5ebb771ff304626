# bash completion for nook. The candidates come from nook itself
# (`nook __complete words`), so they follow the binary being completed.

_nook() {
  local -a words=()
  local i w
  # bash splits words at '=' and ':' (COMP_WORDBREAKS). Give nook whole
  # words: "--root" "=" "/x" becomes "--root" "/x", and an image name
  # "name" ":" "tag" becomes "name:tag".
  for ((i = 1; i <= COMP_CWORD; i++)); do
    w=${COMP_WORDS[i]}
    if [[ $w == "=" ]]; then
      [[ $i == "$COMP_CWORD" ]] && words+=("")
      continue
    fi
    if [[ $w == ":" || ( $i -gt 1 && ${COMP_WORDS[i - 1]} == ":" ) ]] && ((${#words[@]} > 0)); then
      words[${#words[@]} - 1]+=$w
      continue
    fi
    words+=("$w")
  done
  local cur=${words[${#words[@]} - 1]}
  unset 'words[${#words[@]}-1]'
  # what bash replaces: the part of cur after its last ':'
  local colon_prefix=
  [[ $cur == *:* && $COMP_WORDBREAKS == *:* ]] && colon_prefix=${cur%"${cur##*:}"}

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
    if [[ -n $colon_prefix ]]; then
      for i in "${!COMPREPLY[@]}"; do
        COMPREPLY[i]=${COMPREPLY[i]#"$colon_prefix"}
      done
    fi
    ;;
  esac
}

complete -F _nook nook
