
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'memanalyzer' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    # Added by memanalyzer --generate (bash scripts/generate.sh): clap's script completes only
    # option names. Values are completed here: PIDs after -pid/--pid, and the fixed values of
    # the options that have them, in either spelling (-format or --format).
    $values = @{
        'format' = @('text', 'json', 'prometheus')
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
            [CompletionResult]::new('--name', '--name', [CompletionResultType]::ParameterName, 'With -http: serve the process with this name (its comm or executable file name), found again when it restarts')
            [CompletionResult]::new('-name', '-name', [CompletionResultType]::ParameterName, 'With -http: serve the process with this name (its comm or executable file name), found again when it restarts')
            [CompletionResult]::new('--min-interval', '--min-interval', [CompletionResultType]::ParameterName, 'With -http: read smaps at most once per DURATION (e.g. 5s, 500ms, 1m); requests in between share the last read')
            [CompletionResult]::new('-min-interval', '-min-interval', [CompletionResultType]::ParameterName, 'With -http: read smaps at most once per DURATION (e.g. 5s, 500ms, 1m); requests in between share the last read')
            [CompletionResult]::new('--token-file', '--token-file', [CompletionResultType]::ParameterName, 'With -http: require ''Authorization: Bearer TOKEN'' (except on /healthz), TOKEN being the first line of FILE')
            [CompletionResult]::new('-token-file', '-token-file', [CompletionResultType]::ParameterName, 'With -http: require ''Authorization: Bearer TOKEN'' (except on /healthz), TOKEN being the first line of FILE')
            [CompletionResult]::new('--all', '--all', [CompletionResultType]::ParameterName, 'List every region, largest first, instead of the top N')
            [CompletionResult]::new('-all', '-all', [CompletionResultType]::ParameterName, 'List every region, largest first, instead of the top N')
            [CompletionResult]::new('--ps', '--ps', [CompletionResultType]::ParameterName, 'List the processes this user can see, by PSS (from smaps_rollup), instead of one process')
            [CompletionResult]::new('-ps', '-ps', [CompletionResultType]::ParameterName, 'List the processes this user can see, by PSS (from smaps_rollup), instead of one process')
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
