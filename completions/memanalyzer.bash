_memanalyzer_clap() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="memanalyzer"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        memanalyzer)
            opts="-h -V --pid --top --all --file --ps --no-memory-reads --cgroup --jemalloc-stats --pprof --format --unit --color --output --http --name --min-interval --token-file --diff --watch --count --full-every --record --limit --max-rss --max-growth --plot --max-rate --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --pid)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --top)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --jemalloc-stats)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pprof)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --format)
                    COMPREPLY=($(compgen -W "text json prometheus pprof" -- "${cur}"))
                    return 0
                    ;;
                --unit)
                    COMPREPLY=($(compgen -W "B kB MB GB auto" -- "${cur}"))
                    return 0
                    ;;
                --color)
                    COMPREPLY=($(compgen -W "auto always never" -- "${cur}"))
                    return 0
                    ;;
                --output)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --http)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --min-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --token-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --diff)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --watch)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --count)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --full-every)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --record)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --limit)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-rss)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-growth)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --plot)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-rate)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

# Added by memanalyzer --generate (bash scripts/generate.sh): clap_complete knows only the GNU spellings
# (--pid), but memanalyzer also takes the original Go tool's single-dash long options (-pid 1,
# -pid=1, -all). This offers those and PIDs after -pid/--pid, and hands the rest to clap's
# function above, with a single-dash option spelled --NAME.
_memanalyzer() {
    local cmd=${1-${COMP_WORDS[0]}}
    local cur=${2-${COMP_WORDS[COMP_CWORD]}}
    local prev=${3-${COMP_WORDS[COMP_CWORD-1]}}
    # "-format=js": bash splits the word at "=", so the option is one word further back.
    if [[ $cur == "=" ]]; then
        cur=""
        prev=${COMP_WORDS[COMP_CWORD-1]}
    elif [[ $prev == "=" ]] && ((COMP_CWORD >= 2)); then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi
    case $prev in
        -pid|--pid)
            # PIDs: the numeric entries of /proc.
            local pids=(/proc/[0-9]*)
            COMPREPLY=($(compgen -W "${pids[*]#/proc/}" -- "$cur"))
            return 0
            ;;
        -top|--top|-file|--file|-jemalloc-stats|--jemalloc-stats|-pprof|--pprof|-format|--format|-unit|--unit|-color|--color|-output|--output|-http|--http|-name|--name|-min-interval|--min-interval|-token-file|--token-file|-diff|--diff|-watch|--watch|-count|--count|-full-every|--full-every|-record|--record|-limit|--limit|-max-rss|--max-rss|-max-growth|--max-growth|-plot|--plot|-max-rate|--max-rate)
            _memanalyzer_clap "$cmd" "$cur" "--${prev##*-}"
            return
            ;;
    esac
    if [[ $cur == "" || ($cur == -* && $cur != --*) ]]; then
        COMPREPLY=($(compgen -W "-pid -top -all -file -ps -no-memory-reads -cgroup -jemalloc-stats -pprof -format -unit -color -output -http -name -min-interval -token-file -diff -watch -count -full-every -record -limit -max-rss -max-growth -plot -max-rate -help -version -h -V" -- "$cur"))
        return 0
    fi
    _memanalyzer_clap "$cmd" "$cur" "$prev"
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _memanalyzer -o nosort -o bashdefault -o default memanalyzer
else
    complete -F _memanalyzer -o bashdefault -o default memanalyzer
fi
