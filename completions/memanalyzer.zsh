#compdef memanalyzer

autoload -U is-at-least

# Added by memanalyzer --generate (bash scripts/generate.sh): each --NAME option also has
# the original Go tool's single-dash spelling -NAME, and -pid/--pid complete PIDs.
_memanalyzer() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'(--file -file --ps -ps -pid --pid)--pid=[Process to analyze \[default\: memanalyzer'\''s own process\]]:PID:_pids' \
'(--file -file --ps -ps -pid --pid)-pid=[Process to analyze \[default\: memanalyzer'\''s own process\]]:PID:_pids' \
'(-top --top)--top=[How many of the largest regions to list (0 lists none)]:N:_default' \
'(-top --top)-top=[How many of the largest regions to list (0 lists none)]:N:_default' \
'(--ps -ps -file --file)--file=[Analyze a saved smaps file instead of a live process ('\''-'\'' reads standard input)]:PATH:_files' \
'(--ps -ps -file --file)-file=[Analyze a saved smaps file instead of a live process ('\''-'\'' reads standard input)]:PATH:_files' \
'(--ps -ps --http -http --diff -diff --watch -watch -jemalloc-stats --jemalloc-stats)--jemalloc-stats=[Reconcile the jemalloc heap with jemalloc'\''s own statistics in FILE ('\''-'\'' reads standard input)\: malloc_stats_print JSON (MALLOC_CONF=stats_print\:true,stats_print_opts\:J) or lines NAME=BYTES for allocated, active, metadata, resident, mapped, retained]:FILE:_files' \
'(--ps -ps --http -http --diff -diff --watch -watch -jemalloc-stats --jemalloc-stats)-jemalloc-stats=[Reconcile the jemalloc heap with jemalloc'\''s own statistics in FILE ('\''-'\'' reads standard input)\: malloc_stats_print JSON (MALLOC_CONF=stats_print\:true,stats_print_opts\:J) or lines NAME=BYTES for allocated, active, metadata, resident, mapped, retained]:FILE:_files' \
'(--ps -ps --watch -watch --http -http --diff -diff -pprof --pprof)--pprof=[Reconcile RSS with a Go heap profile\: /debug/pprof/heap, or /debug/pprof/heap?debug=1 for the full split with MemStats ('\''-'\'' reads standard input; a loopback http\:// URL is fetched)]:FILE:_files' \
'(--ps -ps --watch -watch --http -http --diff -diff -pprof --pprof)-pprof=[Reconcile RSS with a Go heap profile\: /debug/pprof/heap, or /debug/pprof/heap?debug=1 for the full split with MemStats ('\''-'\'' reads standard input; a loopback http\:// URL is fetched)]:FILE:_files' \
'(-format --format)--format=[Output format]:FORMAT:((text\:"Breakdown and region table for people and grep/awk"
json\:"One JSON object with exact byte counts"
prometheus\:"Prometheus text exposition format (gauges per category and totals)"
pprof\:"A pprof profile of all the process'\''s memory (gzip'\''d protobuf) for \`go tool pprof\`"))' \
'(-format --format)-format=[Output format]:FORMAT:((text\:"Breakdown and region table for people and grep/awk"
json\:"One JSON object with exact byte counts"
prometheus\:"Prometheus text exposition format (gauges per category and totals)"
pprof\:"A pprof profile of all the process'\''s memory (gzip'\''d protobuf) for \`go tool pprof\`"))' \
'(-unit --unit)--unit=[Unit for sizes in text output (JSON and Prometheus always use bytes)]:UNIT:((B\:"Bytes"
kB\:"KiB, written kB as the kernel does"
MB\:"MiB, written MB as the original tool did (whole numbers)"
GB\:"GiB, written GB, with two decimals"
auto\:"Whatever reads best for each number (KiB, MiB, GiB, ...)"))' \
'(-unit --unit)-unit=[Unit for sizes in text output (JSON and Prometheus always use bytes)]:UNIT:((B\:"Bytes"
kB\:"KiB, written kB as the kernel does"
MB\:"MiB, written MB as the original tool did (whole numbers)"
GB\:"GiB, written GB, with two decimals"
auto\:"Whatever reads best for each number (KiB, MiB, GiB, ...)"))' \
'(-color --color)--color=[When to colour text output \[auto\: only for a terminal; honours NO_COLOR and CLICOLOR_FORCE\]]:WHEN:(auto always never)' \
'(-color --color)-color=[When to colour text output \[auto\: only for a terminal; honours NO_COLOR and CLICOLOR_FORCE\]]:WHEN:(auto always never)' \
'(-output --output)--output=[Write the output to FILE, atomically (a temporary file renamed into place); a device or FIFO is written directly]:FILE:_files' \
'(-output --output)-output=[Write the output to FILE, atomically (a temporary file renamed into place); a device or FIFO is written directly]:FILE:_files' \
'(--file -file --ps -ps --output -output -http --http)--http=[Serve the analysis over HTTP at ADDR instead of printing it\: /debug/memory, /metrics, /healthz. '\''\:8080'\'' listens on 127.0.0.1 only; another host (0.0.0.0\:8080) is an explicit choice]:ADDR:_default' \
'(--file -file --ps -ps --output -output -http --http)-http=[Serve the analysis over HTTP at ADDR instead of printing it\: /debug/memory, /metrics, /healthz. '\''\:8080'\'' listens on 127.0.0.1 only; another host (0.0.0.0\:8080) is an explicit choice]:ADDR:_default' \
'(--pid -pid --file -file --ps -ps -name --name)--name=[Process to analyze by name (its comm or executable file name)\: the first started when several match; with -http, found again when it restarts]:NAME:_default' \
'(--pid -pid --file -file --ps -ps -name --name)-name=[Process to analyze by name (its comm or executable file name)\: the first started when several match; with -http, found again when it restarts]:NAME:_default' \
'(-min-interval --min-interval)--min-interval=[With -http\: read smaps at most once per DURATION (e.g. 5s, 500ms, 1m); requests in between share the last read]:DURATION:_default' \
'(-min-interval --min-interval)-min-interval=[With -http\: read smaps at most once per DURATION (e.g. 5s, 500ms, 1m); requests in between share the last read]:DURATION:_default' \
'(-token-file --token-file)--token-file=[With -http\: require '\''Authorization\: Bearer TOKEN'\'' (except on /healthz), TOKEN being the first line of FILE]:FILE:_files' \
'(-token-file --token-file)-token-file=[With -http\: require '\''Authorization\: Bearer TOKEN'\'' (except on /healthz), TOKEN being the first line of FILE]:FILE:_files' \
'(--ps -ps --watch -watch -diff --diff)--diff=[Compare now (-pid or -file) with a baseline\: a saved smaps file or a JSON report (-format json)]:BASE:_files' \
'(--ps -ps --watch -watch -diff --diff)-diff=[Compare now (-pid or -file) with a baseline\: a saved smaps file or a JSON report (-format json)]:BASE:_files' \
'(--file -file --ps -ps -watch --watch)--watch=[Sample the process every INTERVAL (500ms, 10s, 1m) until Ctrl-C or -count samples]:INTERVAL:_default' \
'(--file -file --ps -ps -watch --watch)-watch=[Sample the process every INTERVAL (500ms, 10s, 1m) until Ctrl-C or -count samples]:INTERVAL:_default' \
'(-count --count)--count=[With -watch\: stop after N samples]:N:_default' \
'(-count --count)-count=[With -watch\: stop after N samples]:N:_default' \
'(-full-every --full-every)--full-every=[With -watch\: read the full smaps every K samples (and whenever the totals moved by 5%); smaps_rollup otherwise]:K:_default' \
'(-full-every --full-every)-full-every=[With -watch\: read the full smaps every K samples (and whenever the totals moved by 5%); smaps_rollup otherwise]:K:_default' \
'(-record --record)--record=[With -watch\: append every sample to FILE as NDJSON (replay it with -file FILE)]:FILE:_files' \
'(-record --record)-record=[With -watch\: append every sample to FILE as NDJSON (replay it with -file FILE)]:FILE:_files' \
'(-limit --limit)--limit=[Memory limit for the time-until-reached estimate \[default\: the cgroup'\''s memory.max\]]:SIZE:_default' \
'(-limit --limit)-limit=[Memory limit for the time-until-reached estimate \[default\: the cgroup'\''s memory.max\]]:SIZE:_default' \
'(-max-rss --max-rss)--max-rss=[Exit with status 3 if RSS exceeds SIZE (10MB, 2GB)]:SIZE:_default' \
'(-max-rss --max-rss)-max-rss=[Exit with status 3 if RSS exceeds SIZE (10MB, 2GB)]:SIZE:_default' \
'(-max-growth --max-growth)--max-growth=[Exit with status 3 if RSS grew by more than SIZE since -diff'\''s baseline or the watch'\''s first sample]:SIZE:_default' \
'(-max-growth --max-growth)-max-growth=[Exit with status 3 if RSS grew by more than SIZE since -diff'\''s baseline or the watch'\''s first sample]:SIZE:_default' \
'(-plot --plot)--plot=[With -watch or a recording\: draw the categories over time as a stacked-area chart (SVG)]:FILE.svg:_files' \
'(-plot --plot)-plot=[With -watch or a recording\: draw the categories over time as a stacked-area chart (SVG)]:FILE.svg:_files' \
'(-max-rate --max-rate)--max-rate=[With -watch or a recording\: exit with status 3 if RSS grows significantly faster than RATE (5MB/h)]:RATE:_default' \
'(-max-rate --max-rate)-max-rate=[With -watch or a recording\: exit with status 3 if RSS grows significantly faster than RATE (5MB/h)]:RATE:_default' \
'(--top -top -all --all)--all[List every region, largest first, instead of the top N]' \
'(--top -top -all --all)-all[List every region, largest first, instead of the top N]' \
'(-ps --ps)--ps[List the processes this user can see, by PSS (from smaps_rollup), instead of one process]' \
'(-ps --ps)-ps[List the processes this user can see, by PSS (from smaps_rollup), instead of one process]' \
'(--file -file --ps -ps -no-memory-reads --no-memory-reads)--no-memory-reads[Never read the process'\''s memory. By default, in a CPython process, memanalyzer reads /proc/PID/pagemap and, with process_vm_readv, one 48-byte pool header per resident 16 KiB page of its unnamed read-write mappings (never a page that is not in RAM), and malloc'\''s 16-byte header where a block may begin\: pymalloc'\''s own headers show its arenas where the kernel merged them with other memory. With this flag the arenas are placed by their layout alone (marked *)]' \
'(--file -file --ps -ps -no-memory-reads --no-memory-reads)-no-memory-reads[Never read the process'\''s memory. By default, in a CPython process, memanalyzer reads /proc/PID/pagemap and, with process_vm_readv, one 48-byte pool header per resident 16 KiB page of its unnamed read-write mappings (never a page that is not in RAM), and malloc'\''s 16-byte header where a block may begin\: pymalloc'\''s own headers show its arenas where the kernel merged them with other memory. With this flag the arenas are placed by their layout alone (marked *)]' \
'(--file -file -cgroup --cgroup)--cgroup[Add the container view\: the process'\''s cgroup (limit, usage by kind, working set, OOM); with -ps, group the processes by cgroup]' \
'(--file -file -cgroup --cgroup)-cgroup[Add the container view\: the process'\''s cgroup (limit, usage by kind, working set, OOM); with -ps, group the processes by cgroup]' \
'-h[Print help (see more with '\''--help'\'')]' \
'(-help --help)--help[Print help (see more with '\''--help'\'')]' \
'(-help --help)-help[Print help (see more with '\''--help'\'')]' \
'-V[Print version]' \
'(-version --version)--version[Print version]' \
'(-version --version)-version[Print version]' \
&& ret=0
}

(( $+functions[_memanalyzer_commands] )) ||
_memanalyzer_commands() {
    local commands; commands=()
    _describe -t commands 'memanalyzer commands' commands "$@"
}

if [ "$funcstack[1]" = "_memanalyzer" ]; then
    _memanalyzer "$@"
else
    compdef _memanalyzer memanalyzer
fi
