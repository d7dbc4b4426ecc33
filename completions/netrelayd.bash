# bash completion for netrelayd (hand-written: netrelayd parses its command line by hand,
# Sources/netrelayd/CommandLineOptions.swift; keep the two in step)
_netrelayd() {
    local cur prev words cword
    if declare -F _init_completion >/dev/null; then
        _init_completion || return
    else
        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]} words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
    fi
    case $prev in
        -c|--config)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -X '!*.json' -- "$cur") $(compgen -d -- "$cur"))
            return ;;
        --log-level)
            COMPREPLY=($(compgen -W 'trace debug info notice warning error critical' -- "$cur"))
            return ;;
    esac
    local sub="" i
    for ((i = 1; i < cword; i++)); do
        case ${words[i]} in run|check-config|help) sub=${words[i]}; break ;; esac
    done
    case $sub in
        check-config)
            compopt -o filenames 2>/dev/null
            COMPREPLY=($(compgen -f -X '!*.json' -- "$cur") $(compgen -d -- "$cur"))
            return ;;
        help)
            COMPREPLY=($(compgen -W 'run check-config' -- "$cur"))
            return ;;
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '-c --config --log-level -V --version -h --help' -- "$cur"))
    elif [ -z "$sub" ]; then
        COMPREPLY=($(compgen -W 'run check-config help --config --log-level --version --help' -- "$cur"))
    fi
}
complete -F _netrelayd netrelayd
