# fish completion for nook. The candidates come from nook itself
# (`nook __complete words`), so they follow the binary being completed.

function __nook_complete
    set -l tokens (commandline -opc)
    set -l cur (commandline -ct)
    set -l out ($tokens[1] __complete words -- $tokens[2..-1] "$cur" 2>/dev/null)
    switch "$out[1]"
        case :files
            __fish_complete_path "$cur"
        case :dirs
            __fish_complete_directories "$cur" ""
        case '*'
            printf '%s\n' $out
    end
end

complete -c nook -f -a '(__nook_complete)'
