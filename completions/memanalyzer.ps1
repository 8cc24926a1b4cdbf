
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'memanalyzer' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    # Added by memanalyzer --generate (bash scripts/generate.sh): clap's script completes only
    # option names. Values are completed here: PIDs after -pid/--pid, and the fixed values of
    # the options that have them, in either spelling (-format or --format).
    $values = @{
        'format' = @('text', 'json', 'prometheus', 'pprof')
        'unit' = @('B', 'kB', 'MB', 'GB', 'auto')
        'color' = @('auto', 'always', 'never')
    }
    $previous = $commandAst.CommandElements |
        Where-Object { $_.Extent.EndOffset -lt $cursorPosition } |
        Select-Object -Last 1
    if ($previous -and $previous.Extent.Text -match '^--?([a-z]+)$') {
        $option = $Matches[1]
        if ($option -ceq 'pid') {
            Get-Process |
                Where-Object { "$($_.Id)" -like "$wordToComplete*" } |
                Sort-Object -Property Id |
                ForEach-Object {
                    $label = "$($_.Id) $($_.ProcessName)"
                    [CompletionResult]::new("$($_.Id)", $label,
                        [CompletionResultType]::ParameterValue, $label)
                }
            return
        }
        if ($values.ContainsKey($option)) {
            $values[$option] |
                Where-Object { $_ -like "$wordToComplete*" } |
                ForEach-Object {
                    [CompletionResult]::new($_, $_, [CompletionResultType]::ParameterValue, $_)
                }
            return
        }
    }

    $commandElements = $commandAst.CommandElements
    $command = @(
        'memanalyzer'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'memanalyzer' {
            [CompletionResult]::new('--pid', '--pid', [CompletionResultType]::ParameterName, 'Process to analyze [default: memanalyzer''s own process]')
            [CompletionResult]::new('-pid', '-pid', [CompletionResultType]::ParameterName, 'Process to analyze [default: memanalyzer''s own process]')
            [CompletionResult]::new('--top', '--top', [CompletionResultType]::ParameterName, 'How many of the largest regions to list (0 lists none)')
            [CompletionResult]::new('-top', '-top', [CompletionResultType]::ParameterName, 'How many of the largest regions to list (0 lists none)')
            [CompletionResult]::new('--file', '--file', [CompletionResultType]::ParameterName, 'Analyze a saved smaps file instead of a live process (''-'' reads standard input)')
            [CompletionResult]::new('-file', '-file', [CompletionResultType]::ParameterName, 'Analyze a saved smaps file instead of a live process (''-'' reads standard input)')
            [CompletionResult]::new('--jemalloc-stats', '--jemalloc-stats', [CompletionResultType]::ParameterName, 'Reconcile the jemalloc heap with jemalloc''s own statistics in FILE (''-'' reads standard input): malloc_stats_print JSON (MALLOC_CONF=stats_print:true,stats_print_opts:J) or lines NAME=BYTES for allocated, active, metadata, resident, mapped, retained')
            [CompletionResult]::new('-jemalloc-stats', '-jemalloc-stats', [CompletionResultType]::ParameterName, 'Reconcile the jemalloc heap with jemalloc''s own statistics in FILE (''-'' reads standard input): malloc_stats_print JSON (MALLOC_CONF=stats_print:true,stats_print_opts:J) or lines NAME=BYTES for allocated, active, metadata, resident, mapped, retained')
            [CompletionResult]::new('--pprof', '--pprof', [CompletionResultType]::ParameterName, 'Reconcile RSS with a Go heap profile: /debug/pprof/heap, or /debug/pprof/heap?debug=1 for the full split with MemStats (''-'' reads standard input; a loopback http:// URL is fetched)')
            [CompletionResult]::new('-pprof', '-pprof', [CompletionResultType]::ParameterName, 'Reconcile RSS with a Go heap profile: /debug/pprof/heap, or /debug/pprof/heap?debug=1 for the full split with MemStats (''-'' reads standard input; a loopback http:// URL is fetched)')
            [CompletionResult]::new('--format', '--format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('-format', '-format', [CompletionResultType]::ParameterName, 'Output format')
            [CompletionResult]::new('--unit', '--unit', [CompletionResultType]::ParameterName, 'Unit for sizes in text output (JSON and Prometheus always use bytes)')
            [CompletionResult]::new('-unit', '-unit', [CompletionResultType]::ParameterName, 'Unit for sizes in text output (JSON and Prometheus always use bytes)')
            [CompletionResult]::new('--color', '--color', [CompletionResultType]::ParameterName, 'When to colour text output [auto: only for a terminal; honours NO_COLOR and CLICOLOR_FORCE]')
            [CompletionResult]::new('-color', '-color', [CompletionResultType]::ParameterName, 'When to colour text output [auto: only for a terminal; honours NO_COLOR and CLICOLOR_FORCE]')
            [CompletionResult]::new('--output', '--output', [CompletionResultType]::ParameterName, 'Write the output to FILE, atomically (a temporary file renamed into place); a device or FIFO is written directly')
            [CompletionResult]::new('-output', '-output', [CompletionResultType]::ParameterName, 'Write the output to FILE, atomically (a temporary file renamed into place); a device or FIFO is written directly')
            [CompletionResult]::new('--http', '--http', [CompletionResultType]::ParameterName, 'Serve the analysis over HTTP at ADDR instead of printing it: /debug/memory, /metrics, /healthz. '':8080'' listens on 127.0.0.1 only; another host (0.0.0.0:8080) is an explicit choice')
            [CompletionResult]::new('-http', '-http', [CompletionResultType]::ParameterName, 'Serve the analysis over HTTP at ADDR instead of printing it: /debug/memory, /metrics, /healthz. '':8080'' listens on 127.0.0.1 only; another host (0.0.0.0:8080) is an explicit choice')
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'Process to analyze by name (its comm or executable file name): the first started when several match; with -http, found again when it restarts')
            [CompletionResult]::new('-name', '-name', [CompletionResultType]::ParameterName, 'Process to analyze by name (its comm or executable file name): the first started when several match; with -http, found again when it restarts')
            [CompletionResult]::new('--min-interval', '--min-interval', [CompletionResultType]::ParameterName, 'With -http: read smaps at most once per DURATION (e.g. 5s, 500ms, 1m); requests in between share the last read')
            [CompletionResult]::new('-min-interval', '-min-interval', [CompletionResultType]::ParameterName, 'With -http: read smaps at most once per DURATION (e.g. 5s, 500ms, 1m); requests in between share the last read')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'With -http: require ''Authorization: Bearer TOKEN'' (except on /healthz), TOKEN being the first line of FILE')
            [CompletionResult]::new('-token-file', '-token-file', [CompletionResultType]::ParameterName, 'With -http: require ''Authorization: Bearer TOKEN'' (except on /healthz), TOKEN being the first line of FILE')
            [CompletionResult]::new('--diff', '--diff', [CompletionResultType]::ParameterName, 'Compare now (-pid or -file) with a baseline: a saved smaps file or a JSON report (-format json)')
            [CompletionResult]::new('-diff', '-diff', [CompletionResultType]::ParameterName, 'Compare now (-pid or -file) with a baseline: a saved smaps file or a JSON report (-format json)')
            [CompletionResult]::new('--watch', '--watch', [CompletionResultType]::ParameterName, 'Sample the process every INTERVAL (500ms, 10s, 1m) until Ctrl-C or -count samples')
            [CompletionResult]::new('-watch', '-watch', [CompletionResultType]::ParameterName, 'Sample the process every INTERVAL (500ms, 10s, 1m) until Ctrl-C or -count samples')
            [CompletionResult]::new('--count', '--count', [CompletionResultType]::ParameterName, 'With -watch: stop after N samples')
            [CompletionResult]::new('-count', '-count', [CompletionResultType]::ParameterName, 'With -watch: stop after N samples')
            [CompletionResult]::new('--full-every', '--full-every', [CompletionResultType]::ParameterName, 'With -watch: read the full smaps every K samples (and whenever the totals moved by 5%); smaps_rollup otherwise')
            [CompletionResult]::new('-full-every', '-full-every', [CompletionResultType]::ParameterName, 'With -watch: read the full smaps every K samples (and whenever the totals moved by 5%); smaps_rollup otherwise')
            [CompletionResult]::new('--record', '--record', [CompletionResultType]::ParameterName, 'With -watch: append every sample to FILE as NDJSON (replay it with -file FILE)')
            [CompletionResult]::new('-record', '-record', [CompletionResultType]::ParameterName, 'With -watch: append every sample to FILE as NDJSON (replay it with -file FILE)')
            [CompletionResult]::new('--limit', '--limit', [CompletionResultType]::ParameterName, 'Memory limit for the time-until-reached estimate [default: the cgroup''s memory.max]')
            [CompletionResult]::new('-limit', '-limit', [CompletionResultType]::ParameterName, 'Memory limit for the time-until-reached estimate [default: the cgroup''s memory.max]')
            [CompletionResult]::new('--max-rss', '--max-rss', [CompletionResultType]::ParameterName, 'Exit with status 3 if RSS exceeds SIZE (10MB, 2GB)')
            [CompletionResult]::new('-max-rss', '-max-rss', [CompletionResultType]::ParameterName, 'Exit with status 3 if RSS exceeds SIZE (10MB, 2GB)')
            [CompletionResult]::new('--max-growth', '--max-growth', [CompletionResultType]::ParameterName, 'Exit with status 3 if RSS grew by more than SIZE since -diff''s baseline or the watch''s first sample')
            [CompletionResult]::new('-max-growth', '-max-growth', [CompletionResultType]::ParameterName, 'Exit with status 3 if RSS grew by more than SIZE since -diff''s baseline or the watch''s first sample')
            [CompletionResult]::new('--plot', '--plot', [CompletionResultType]::ParameterName, 'With -watch or a recording: draw the categories over time as a stacked-area chart (SVG)')
            [CompletionResult]::new('-plot', '-plot', [CompletionResultType]::ParameterName, 'With -watch or a recording: draw the categories over time as a stacked-area chart (SVG)')
            [CompletionResult]::new('--max-rate', '--max-rate', [CompletionResultType]::ParameterName, 'With -watch or a recording: exit with status 3 if RSS grows significantly faster than RATE (5MB/h)')
            [CompletionResult]::new('-max-rate', '-max-rate', [CompletionResultType]::ParameterName, 'With -watch or a recording: exit with status 3 if RSS grows significantly faster than RATE (5MB/h)')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'List every region, largest first, instead of the top N')
            [CompletionResult]::new('-all', '-all', [CompletionResultType]::ParameterName, 'List every region, largest first, instead of the top N')
            [CompletionResult]::new('--ps', '--ps', [CompletionResultType]::ParameterName, 'List the processes this user can see, by PSS (from smaps_rollup), instead of one process')
            [CompletionResult]::new('-ps', '-ps', [CompletionResultType]::ParameterName, 'List the processes this user can see, by PSS (from smaps_rollup), instead of one process')
            [CompletionResult]::new('--no-memory-reads', '--no-memory-reads', [CompletionResultType]::ParameterName, 'Never read the process''s memory. By default, in a CPython process, memanalyzer reads /proc/PID/pagemap and, with process_vm_readv, one 48-byte pool header per resident 16 KiB page of its unnamed read-write mappings (never a page that is not in RAM), and malloc''s 16-byte header where a block may begin: pymalloc''s own headers show its arenas where the kernel merged them with other memory. With this flag the arenas are placed by their layout alone (marked *)')
            [CompletionResult]::new('-no-memory-reads', '-no-memory-reads', [CompletionResultType]::ParameterName, 'Never read the process''s memory. By default, in a CPython process, memanalyzer reads /proc/PID/pagemap and, with process_vm_readv, one 48-byte pool header per resident 16 KiB page of its unnamed read-write mappings (never a page that is not in RAM), and malloc''s 16-byte header where a block may begin: pymalloc''s own headers show its arenas where the kernel merged them with other memory. With this flag the arenas are placed by their layout alone (marked *)')
            [CompletionResult]::new('--cgroup', '--cgroup', [CompletionResultType]::ParameterName, 'Add the container view: the process''s cgroup (limit, usage by kind, working set, OOM); with -ps, group the processes by cgroup')
            [CompletionResult]::new('-cgroup', '-cgroup', [CompletionResultType]::ParameterName, 'Add the container view: the process''s cgroup (limit, usage by kind, working set, OOM); with -ps, group the processes by cgroup')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-help', '-help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('-version', '-version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
