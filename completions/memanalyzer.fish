# Added by memanalyzer --generate (bash scripts/generate.sh): each -l NAME also has -o NAME,
# the original Go tool's single-dash spelling, and -pid/--pid complete PIDs.
complete -c memanalyzer -l pid -o pid -f -a '(__fish_complete_pids)' -d 'Process to analyze [default: memanalyzer\'s own process]' -r
complete -c memanalyzer -l top -o top -d 'How many of the largest regions to list (0 lists none)' -r
complete -c memanalyzer -l file -o file -d 'Analyze a saved smaps file instead of a live process (\'-\' reads standard input)' -r -F
complete -c memanalyzer -l jemalloc-stats -o jemalloc-stats -d 'Reconcile the jemalloc heap with jemalloc\'s own statistics in FILE (\'-\' reads standard input): malloc_stats_print JSON (MALLOC_CONF=stats_print:true,stats_print_opts:J) or lines NAME=BYTES for allocated, active, metadata, resident, mapped, retained' -r -F
complete -c memanalyzer -l pprof -o pprof -d 'Reconcile RSS with a Go heap profile: /debug/pprof/heap, or /debug/pprof/heap?debug=1 for the full split with MemStats (\'-\' reads standard input; a loopback http:// URL is fetched)' -r -F
complete -c memanalyzer -l format -o format -d 'Output format' -r -f -a "text\t'Breakdown and region table for people and grep/awk'
json\t'One JSON object with exact byte counts'
prometheus\t'Prometheus text exposition format (gauges per category and totals)'
pprof\t'A pprof profile of all the process\'s memory (gzip\'d protobuf) for `go tool pprof`'"
complete -c memanalyzer -l unit -o unit -d 'Unit for sizes in text output (JSON and Prometheus always use bytes)' -r -f -a "B\t'Bytes'
kB\t'KiB, written kB as the kernel does'
MB\t'MiB, written MB as the original tool did (whole numbers)'
GB\t'GiB, written GB, with two decimals'
auto\t'Whatever reads best for each number (KiB, MiB, GiB, ...)'"
complete -c memanalyzer -l color -o color -d 'When to colour text output [auto: only for a terminal; honours NO_COLOR and CLICOLOR_FORCE]' -r -f -a "auto\t''
always\t''
never\t''"
complete -c memanalyzer -l output -o output -d 'Write the output to FILE, atomically (a temporary file renamed into place); a device or FIFO is written directly' -r -F
complete -c memanalyzer -l http -o http -d 'Serve the analysis over HTTP at ADDR instead of printing it: /debug/memory, /metrics, /healthz. \':8080\' listens on 127.0.0.1 only; another host (0.0.0.0:8080) is an explicit choice' -r
complete -c memanalyzer -l name -o name -d 'Process to analyze by name (its comm or executable file name): the first started when several match; with -http, found again when it restarts' -r
complete -c memanalyzer -l min-interval -o min-interval -d 'With -http: read smaps at most once per DURATION (e.g. 5s, 500ms, 1m); requests in between share the last read' -r
complete -c memanalyzer -l token-file -o token-file -d 'With -http: require \'Authorization: Bearer TOKEN\' (except on /healthz), TOKEN being the first line of FILE' -r -F
complete -c memanalyzer -l diff -o diff -d 'Compare now (-pid or -file) with a baseline: a saved smaps file or a JSON report (-format json)' -r -F
complete -c memanalyzer -l watch -o watch -d 'Sample the process every INTERVAL (500ms, 10s, 1m) until Ctrl-C or -count samples' -r
complete -c memanalyzer -l count -o count -d 'With -watch: stop after N samples' -r
complete -c memanalyzer -l full-every -o full-every -d 'With -watch: read the full smaps every K samples (and whenever the totals moved by 5%); smaps_rollup otherwise' -r
complete -c memanalyzer -l record -o record -d 'With -watch: append every sample to FILE as NDJSON (replay it with -file FILE)' -r -F
complete -c memanalyzer -l limit -o limit -d 'Memory limit for the time-until-reached estimate [default: the cgroup\'s memory.max]' -r
complete -c memanalyzer -l max-rss -o max-rss -d 'Exit with status 3 if RSS exceeds SIZE (10MB, 2GB)' -r
complete -c memanalyzer -l max-growth -o max-growth -d 'Exit with status 3 if RSS grew by more than SIZE since -diff\'s baseline or the watch\'s first sample' -r
complete -c memanalyzer -l plot -o plot -d 'With -watch or a recording: draw the categories over time as a stacked-area chart (SVG)' -r -F
complete -c memanalyzer -l max-rate -o max-rate -d 'With -watch or a recording: exit with status 3 if RSS grows significantly faster than RATE (5MB/h)' -r
complete -c memanalyzer -l all -o all -d 'List every region, largest first, instead of the top N'
complete -c memanalyzer -l ps -o ps -d 'List the processes this user can see, by PSS (from smaps_rollup), instead of one process'
complete -c memanalyzer -l no-memory-reads -o no-memory-reads -d 'Never read the process\'s memory. By default, in a CPython process, memanalyzer reads /proc/PID/pagemap and, with process_vm_readv, one 48-byte pool header per resident 16 KiB page of its unnamed read-write mappings (never a page that is not in RAM), and malloc\'s 16-byte header where a block may begin: pymalloc\'s own headers show its arenas where the kernel merged them with other memory. With this flag the arenas are placed by their layout alone (marked *)'
complete -c memanalyzer -l cgroup -o cgroup -d 'Add the container view: the process\'s cgroup (limit, usage by kind, working set, OOM); with -ps, group the processes by cgroup'
complete -c memanalyzer -s h -l help -o help -d 'Print help (see more with \'--help\')'
complete -c memanalyzer -s V -l version -o version -d 'Print version'
