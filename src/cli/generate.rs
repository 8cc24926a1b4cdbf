//! The man page and shell completions, generated from the one clap definition (`flags.rs`) so
//! they cannot drift from `--help`: `memanalyzer --generate man|bash|zsh|fish|powershell` (a
//! maintainers' entry, read before clap so that it appears in no generated file) prints one, and
//! `scripts/generate.sh` writes them all into `man/` and `completions/`, where they are
//! committed (`tests/it/generated.rs` fails while they are stale).
//!
//! clap_mangen and clap_complete know only clap's GNU spellings (`--pid`). memanalyzer also accepts
//! the original Go tool's single-dash long options (`-pid 1`, `-pid=1`, `-all`; see `args.rs`),
//! so the man page and every completion script are extended here to show and offer those too, and
//! the completions offer PIDs after `-pid`/`--pid` (clap has no notion of a PID value).

use std::fmt::Write as _;

use clap::{Arg, Command, CommandFactory};
use clap_complete::Shell;

use super::flags::{Cli, EXAMPLES, OUTPUT_GUIDE};

const BIN: &str = "memanalyzer";

/// The command that rewrites the generated files; named in every generated file.
const GENERATE_COMMAND: &str = "bash scripts/generate.sh";

/// Makes one generated file.
type Generator = fn() -> String;

/// What `--generate` can print.
const WHAT: [(&str, Generator); 5] = [
    ("man", man_page),
    ("bash", bash_completion),
    ("zsh", zsh_completion),
    ("fish", fish_completion),
    ("powershell", powershell_completion),
];

/// `Some` when the command line is `memanalyzer --generate WHAT`: the text to print, or why
/// there is none.
pub fn requested(args: &[std::ffi::OsString]) -> Option<Result<String, String>> {
    let [_, flag, what] = args else {
        return None;
    };
    if flag != "--generate" {
        return None;
    }
    Some(
        WHAT.iter()
            .find(|(name, _)| what == name)
            .map(|(_, generate)| generate())
            .ok_or_else(|| {
                let names: Vec<&str> = WHAT.iter().map(|(name, _)| *name).collect();
                format!("--generate takes one of: {}", names.join(", "))
            }),
    )
}

/// The clap definition, built (so that `--help`/`--version` exist, as at run time).
fn command() -> Command {
    let mut command = Cli::command();
    command.build();
    command
}

/// The arguments that have a long name, in definition order (`--help` and `--version` included).
fn long_args(command: &Command) -> Vec<&Arg> {
    // The same arguments `flags::long_flags` gives `args.rs`, so the single-dash spellings
    // offered here are exactly those it rewrites.
    command
        .get_arguments()
        .filter(|arg| arg.get_long().is_some() && !arg.is_hide_set())
        .collect()
}

fn long(arg: &Arg) -> &str {
    arg.get_long()
        .expect("only arguments with a long name are used")
}

fn takes_value(arg: &Arg) -> bool {
    arg.get_num_args().is_some_and(|range| range.takes_values())
}

fn value_name(arg: &Arg) -> String {
    arg.get_value_names()
        .and_then(|names| names.first())
        .map(|name| name.to_string())
        .unwrap_or_else(|| "VALUE".to_string())
}

fn clap_completion(shell: Shell) -> String {
    let mut command = command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut command, BIN, &mut out);
    String::from_utf8(out).expect("clap_complete writes UTF-8")
}

/// Replaces the one occurrence of `from` in `text`; panics (failing the staleness test and the
/// generator) when clap's output no longer has the shape this post-processing expects.
fn replace_once(text: &str, from: &str, to: &str, what: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{what}: expected exactly one {from:?} in clap's output; update src/cli/generate.rs"
    );
    text.replacen(from, to, 1)
}

// ------------------------------------------------------------------------------------------------
// Man page
// ------------------------------------------------------------------------------------------------

/// The man page: clap_mangen's NAME and OPTIONS (with the single-dash spellings added), and the
/// other sections written here. Sections follow the order of man-pages(7).
fn man_page() -> String {
    let command = command();
    let man = clap_mangen::Man::new(command.clone());
    let version = command.get_version().expect("Cargo.toml has a version");

    // Every `Man::render_*` call writes roff's preamble (which defines the `\*(Aq` apostrophe
    // that clap_mangen's text uses); it is written once, at the top.
    let preamble = clap_mangen::roff::Roff::new().render();
    let render =
        |section: fn(&clap_mangen::Man, &mut dyn std::io::Write) -> std::io::Result<()>| {
            let mut out = Vec::new();
            section(&man, &mut out).expect("writing to a Vec cannot fail");
            let text = String::from_utf8(out).expect("clap_mangen writes UTF-8");
            text.strip_prefix(&preamble)
                .expect("clap_mangen's sections start with roff's preamble")
                .to_string()
        };

    let mut page = preamble.clone();
    // Written by hand: clap_mangen's title line leaves the date empty without quoting it, which
    // shifts the source into the date's place. No date, so the file changes only with the CLI.
    writeln!(
        page,
        ".TH {} 1 \"\" \"{BIN} {version}\" \"User Commands\"",
        BIN.to_uppercase()
    )
    .expect("writing to a String cannot fail");
    // Ragged right, no hyphenation: the page is full of commands, paths and identifiers
    // (node_exporter, smaps_rollup) that must not be split or stretched.
    page.push_str(".ad l\n.nh\n");
    page.push_str(&render(clap_mangen::Man::render_name_section));
    page.push_str(&synopsis(&command));
    page.push_str(&description());
    page.push_str(&options(
        render(clap_mangen::Man::render_options_section),
        &command,
    ));
    page.push_str(&exit_status());
    page.push_str(&environment());
    page.push_str(&files());
    page.push_str(&examples());
    page.push_str(&see_also());
    ascii_only(&page)
}

/// Escapes text for a roff text line: backslashes, dashes (so they print as the hyphen-minus
/// that can be copied into a shell), apostrophes (through the preamble's `\*(Aq`), and a leading
/// `.` that would make the line a request.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str(r"\e"),
            '-' => out.push_str(r"\-"),
            '\'' => out.push_str(r"\*(Aq"),
            _ => out.push(c),
        }
    }
    if out.starts_with('.') {
        out.insert_str(0, r"\&");
    }
    out
}

fn bold(text: &str) -> String {
    format!(r"\fB{}\fR", escape(text))
}

fn italic(text: &str) -> String {
    format!(r"\fI{}\fR", escape(text))
}

/// Writes characters outside ASCII as groff's `\[uXXXX]`, so the page renders the same whether
/// or not the formatter is told the input is UTF-8.
fn ascii_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            write!(out, r"\[u{:04X}]", u32::from(c)).expect("writing to a String cannot fail");
        }
    }
    out
}

/// How the synopsis groups the options: `[a|b]` is optional, `a` is required, a name is a long
/// option (or a short one, for `h` and `V`). Every option must appear (checked below).
const SYNOPSIS: [&str; 7] = [
    "[pid|file] [top|all] [cgroup] [no-memory-reads] [pprof] [jemalloc-stats] [format] [unit] [color] [output]",
    "[pid|file] diff [top|all] [format] [unit] [max-rss] [max-growth] [output]",
    "pid watch [count] [full-every] [record] [plot] [format] [unit] [limit] [max-rss] [max-growth] [max-rate] [no-memory-reads]",
    "file [plot] [format] [unit] [limit] [max-rss] [max-growth] [max-rate]",
    "ps [cgroup] [format] [unit] [color] [output]",
    "http pid|name [min-interval] [token-file] [no-memory-reads]",
    "h|V",
];

/// SYNOPSIS, in the single-dash spelling that the Go tool's users know, with clap's value names.
fn synopsis(command: &Command) -> String {
    let mut covered = Vec::new();
    let mut out = String::from(".SH SYNOPSIS\n");
    for line in SYNOPSIS {
        writeln!(out, ".SY {BIN}").expect("writing to a String cannot fail");
        for group in line.split(' ') {
            let optional = group.starts_with('[');
            let names = group.trim_start_matches('[').trim_end_matches(']');
            let alternatives: Vec<String> = names
                .split('|')
                .map(|name| {
                    let arg = command
                        .get_arguments()
                        .find(|arg| {
                            arg.get_long() == Some(name)
                                || (name.len() == 1 && arg.get_short() == name.chars().next())
                        })
                        .unwrap_or_else(|| panic!("SYNOPSIS names {name}, which clap lacks"));
                    covered.push(arg.get_id().clone());
                    let mut text = bold(&format!("-{name}"));
                    if name.len() > 1 && takes_value(arg) {
                        // `\ ` keeps an option and its value on one line.
                        write!(text, r"\ {}", italic(&value_name(arg)))
                            .expect("writing to a String cannot fail");
                    }
                    text
                })
                .collect();
            let group = alternatives.join(r"\ |\ ");
            if optional {
                writeln!(out, r"[{group}]").expect("writing to a String cannot fail");
            } else {
                writeln!(out, "{group}").expect("writing to a String cannot fail");
            }
        }
        out.push_str(".YS\n");
    }
    // groff's .YS turns hyphenation back on.
    out.push_str(".nh\n");
    for arg in command.get_arguments().filter(|arg| !arg.is_hide_set()) {
        assert!(
            covered.contains(arg.get_id()),
            "--{} is missing from SYNOPSIS in src/cli/generate.rs",
            arg.get_id()
        );
    }
    out
}

fn paragraph(out: &mut String, text: &str) {
    out.push_str(".PP\n");
    for line in text.lines() {
        out.push_str(&escape(line.trim()));
        out.push('\n');
    }
}

fn description() -> String {
    let mut out = String::from(".SH DESCRIPTION\n");
    paragraph(
        &mut out,
        "memanalyzer explains where a Linux process's memory really goes. It reads
/proc/PID/smaps of a live process, or a saved copy of it (-file), and puts every memory region
into exactly one category, so that the categories add up to the totals. It prints a breakdown by
category, the totals, and a table of the largest regions. Heap profilers see only what passes
through their allocator; the resident set also holds mapped files, shared libraries, thread
stacks, runtime metadata and shared memory, and memanalyzer shows all of it.",
    );
    paragraph(
        &mut out,
        "It is read-only toward the target: it never attaches to it with ptrace, stops it or
signals it. Reading another user's process needs the same user, or root (CAP_SYS_PTRACE).
With -ps it lists the processes the user can see instead, largest PSS first.",
    );
    paragraph(
        &mut out,
        "Every long option may also be written with one dash, as the original Go tool accepted:
-pid 1, -pid=1, -all. The GNU forms --pid 1, --pid=1 and --all mean the same.",
    );
    render_help_text(&mut out, OUTPUT_GUIDE, true);
    out
}

/// clap_mangen's OPTIONS section, with each long option's single-dash spelling in front of its
/// GNU one: `-pid, --pid <PID>`.
fn options(mut section: String, command: &Command) -> String {
    for arg in long_args(command) {
        let gnu = format!(r"\fB\-\-{}\fR", escape(long(arg)));
        let both = format!(r"\fB\-{}\fR, {gnu}", escape(long(arg)));
        section = replace_once(&section, &gnu, &both, "man page OPTIONS");
    }
    section
}

fn definition_list(out: &mut String, entries: &[(&str, &str)]) {
    for (term, text) in entries {
        writeln!(out, ".TP\n{}\n{}", bold(term), escape(text))
            .expect("writing to a String cannot fail");
    }
}

fn exit_status() -> String {
    let mut out = String::from(".SH \"EXIT STATUS\"\n");
    definition_list(
        &mut out,
        &[
            (
                "0",
                "Success, also when the reader of a pipe goes away (memanalyzer -all | head -1).",
            ),
            (
                "1",
                "The analysis failed: no such process, permission denied, a zombie or kernel \
                 thread, a process that exited while being read, or a missing, unreadable or \
                 malformed file.",
            ),
            ("2", "Usage error: an unknown option or a bad value."),
            (
                "3",
                "A threshold was crossed (-max-rss, -max-growth, -max-rate); one line on \
                 standard error names it.",
            ),
            (
                "4",
                "The watched process exited during -watch; the summary of the samples until \
                 then was written.",
            ),
        ],
    );
    out
}

fn environment() -> String {
    let mut out = String::from(".SH ENVIRONMENT\n");
    definition_list(
        &mut out,
        &[
            (
                "NO_COLOR",
                "When set and not empty, -color auto (the default) never colours the output.",
            ),
            (
                "CLICOLOR_FORCE",
                "When set, not empty and not 0 (and NO_COLOR is not), -color auto colours the \
                 output even when it is not a terminal.",
            ),
        ],
    );
    out
}

fn files() -> String {
    let mut out = String::from(".SH FILES\n");
    definition_list(
        &mut out,
        &[
            (
                "/proc/PID/smaps",
                "The memory regions analyzed. The kernel lets only the process's own user, or \
                 root (CAP_SYS_PTRACE), read it.",
            ),
            (
                "/proc/PID/smaps_rollup",
                "With -ps: each process's totals (RSS, PSS, USS, swap), which the kernel sums \
                 more cheaply than smaps.",
            ),
            (
                "/proc/PID/exe",
                "The executable: its name, and whether it is a Go program (only its ELF headers \
                 and the first bytes of its .go.buildinfo section are read).",
            ),
            ("/proc/PID/comm", "The process's name."),
            (
                "/proc/PID/pagemap",
                "In a CPython process (unless -no-memory-reads): which pages of its unnamed \
                 read-write mappings are in RAM. Then, with process_vm_readv (which neither \
                 stops nor attaches), at each such page on pymalloc's 16 KiB pool grid the \
                 pool's 48-byte header, which names the pool's arena, and where a block may \
                 begin glibc's 16-byte chunk header. Pages not in RAM are never read (reading \
                 would bring them in). The reads take the right to trace the process (the same \
                 user and, under Yama's ptrace_scope 1, CAP_SYS_PTRACE); without it the arenas \
                 are placed by their layout.",
            ),
            (
                "/proc/PID/cgroup, /proc/self/mountinfo",
                "With -cgroup: the process's cgroup, and where the cgroup filesystem is mounted \
                 (in a sidecar, the target's own mounts through /proc/PID/root).",
            ),
            (
                "/sys/fs/cgroup/PATH/memory.*",
                "With -cgroup: the cgroup's memory files (v2: memory.current, memory.max, \
                 memory.high, memory.peak, memory.stat, memory.events, memory.pressure, \
                 memory.swap.*, memory.oom.group; v1: memory.usage_in_bytes, \
                 memory.limit_in_bytes, memory.stat, memory.kmem.*), cgroup.procs, and each \
                 member process's smaps_rollup, oom_score and oom_score_adj.",
            ),
            (
                "/proc/PID/stat",
                "The process's state: a zombie or a kernel thread has no memory to analyze.",
            ),
            (
                "/proc/PID/status",
                "With -ps: the process's user (its real uid).",
            ),
            (
                "/etc/passwd",
                "With -ps: user names, read directly rather than through NSS; the uid is shown \
                 when a user has no entry.",
            ),
        ],
    );
    out
}

fn examples() -> String {
    let mut out = String::from(".SH EXAMPLES\n");
    render_help_text(&mut out, EXAMPLES, false);
    out
}

fn see_also() -> String {
    let mut out = String::from(".SH \"SEE ALSO\"\n");
    let pages = ["pmap(1)", "ps(1)", "top(1)", "proc(5)", "smem(8)"];
    for (i, page) in pages.iter().enumerate() {
        let (name, section) = page.split_once('(').expect("name(section)");
        let comma = if i + 1 < pages.len() { "," } else { "" };
        writeln!(out, ".BR {name} ({section}{comma}").expect("writing to a String cannot fail");
    }
    out
}

/// One item of a list in `--help` text: `  TERM   text…` or `  - text…`, with continuation lines
/// indented further.
struct Item {
    term: Option<String>,
    text: String,
}

/// Renders `--help` text (`flags.rs`'s `EXAMPLES`, `OUTPUT_GUIDE`) as roff. The text is blocks
/// separated by blank lines; a block whose first line ends in `:` and whose other lines are
/// indented is a list (two columns, or `- ` bullets), any other block a paragraph. A list's
/// first line becomes a subsection heading when `headings` is set.
fn render_help_text(out: &mut String, text: &str, headings: bool) {
    for block in text.split("\n\n") {
        let lines: Vec<&str> = block
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect();
        let Some((first, rest)) = lines.split_first() else {
            continue;
        };
        let is_list = first.ends_with(':')
            && !rest.is_empty()
            && rest.iter().all(|line| line.starts_with("  "));
        if !is_list {
            paragraph(out, &lines.join("\n"));
            continue;
        }
        if headings {
            writeln!(out, ".SS\n{}", escape(first.trim_end_matches(':')))
                .expect("writing to a String cannot fail");
        }
        let indent = |line: &str| line.len() - line.trim_start().len();
        let item_indent = rest.iter().map(|line| indent(line)).min().unwrap_or(0);
        let mut items: Vec<Item> = Vec::new();
        for line in rest {
            let content = line.trim();
            if indent(line) > item_indent {
                let item = items.last_mut().expect("a continuation follows an item");
                if !item.text.is_empty() {
                    item.text.push(' ');
                }
                item.text.push_str(content);
            } else if let Some(bullet) = content.strip_prefix("- ") {
                items.push(Item {
                    term: None,
                    text: bullet.trim().to_string(),
                });
            } else {
                let (term, text) = content.split_once("  ").unwrap_or((content, ""));
                items.push(Item {
                    term: Some(term.to_string()),
                    text: text.trim().to_string(),
                });
            }
        }
        for item in items {
            match item.term {
                Some(term) => writeln!(out, ".TP\n{}\n{}", bold(&term), escape(&item.text)),
                None => writeln!(out, ".IP \\(bu 2\n{}", escape(&item.text)),
            }
            .expect("writing to a String cannot fail");
        }
    }
}

// ------------------------------------------------------------------------------------------------
// Completions: clap_complete's scripts, extended with the single-dash spellings and PIDs.
// ------------------------------------------------------------------------------------------------

/// The words a user may type for the options: `-pid … -version` (the Go spellings that
/// `src/args.rs` accepts) and the short `-h`, `-V`.
fn single_dash_words(command: &Command) -> Vec<String> {
    let mut words: Vec<String> = long_args(command)
        .iter()
        .map(|arg| format!("-{}", long(arg)))
        .collect();
    words.extend(
        command
            .get_arguments()
            .filter_map(|arg| arg.get_short())
            .map(|short| format!("-{short}")),
    );
    words
}

/// bash: clap's function is renamed `_memanalyzer_clap`, and a `_memanalyzer` in front of it
/// handles what clap's cannot: the single-dash words, PIDs after `-pid`/`--pid`, and a value
/// after a single-dash option (handed to clap's function as `--NAME`, so `-format <TAB>` offers
/// clap's `text json prometheus`). It also works when called without bash's arguments (from a
/// test), reading the words from COMP_WORDS.
fn bash_completion() -> String {
    let command = command();
    let clap = clap_completion(Shell::Bash);
    let clap = replace_once(
        &clap,
        "_memanalyzer() {",
        "_memanalyzer_clap() {",
        "bash completion",
    );
    let value_options: Vec<String> = long_args(&command)
        .into_iter()
        .filter(|arg| takes_value(arg) && long(arg) != "pid")
        .flat_map(|arg| [format!("-{}", long(arg)), format!("--{}", long(arg))])
        .collect();
    let wrapper = format!(
        r#"# Added by memanalyzer --generate ({GENERATE_COMMAND}): clap_complete knows only the GNU spellings
# (--pid), but memanalyzer also takes the original Go tool's single-dash long options (-pid 1,
# -pid=1, -all). This offers those and PIDs after -pid/--pid, and hands the rest to clap's
# function above, with a single-dash option spelled --NAME.
_memanalyzer() {{
    local cmd=${{1-${{COMP_WORDS[0]}}}}
    local cur=${{2-${{COMP_WORDS[COMP_CWORD]}}}}
    local prev=${{3-${{COMP_WORDS[COMP_CWORD-1]}}}}
    # "-format=js": bash splits the word at "=", so the option is one word further back.
    if [[ $cur == "=" ]]; then
        cur=""
        prev=${{COMP_WORDS[COMP_CWORD-1]}}
    elif [[ $prev == "=" ]] && ((COMP_CWORD >= 2)); then
        prev=${{COMP_WORDS[COMP_CWORD-2]}}
    fi
    case $prev in
        -pid|--pid)
            # PIDs: the numeric entries of /proc.
            local pids=(/proc/[0-9]*)
            COMPREPLY=($(compgen -W "${{pids[*]#/proc/}}" -- "$cur"))
            return 0
            ;;
        {value_options})
            _memanalyzer_clap "$cmd" "$cur" "--${{prev##*-}}"
            return
            ;;
    esac
    if [[ $cur == "" || ($cur == -* && $cur != --*) ]]; then
        COMPREPLY=($(compgen -W "{single}" -- "$cur"))
        return 0
    fi
    _memanalyzer_clap "$cmd" "$cur" "$prev"
}}

"#,
        value_options = value_options.join("|"),
        single = single_dash_words(&command).join(" "),
    );
    let anchor = "if [[ \"${BASH_VERSINFO[0]}\" -eq 4";
    replace_once(
        &clap,
        anchor,
        &format!("{wrapper}{anchor}"),
        "bash completion",
    )
}

/// zsh: every `--NAME` spec of clap's `_arguments` call gets a `-NAME` twin, and both spellings
/// exclude each other (and the twins of what clap excludes). `-pid` and `--pid` complete PIDs
/// with zsh's `_pids`.
fn zsh_completion() -> String {
    let clap = clap_completion(Shell::Zsh);
    let start_marker = "_arguments \"${_arguments_options[@]}\" : \\\n";
    let end_marker = "&& ret=0\n";
    let start = clap
        .find(start_marker)
        .expect("clap's zsh script calls _arguments")
        + start_marker.len();
    let end = start
        + clap[start..]
            .find(end_marker)
            .expect("_arguments ends with && ret=0");
    // Each spec is one single-quoted word followed by ` \` and a newline; a spec may span lines
    // (value descriptions), but only its last line ends in `' \`.
    let specs: Vec<&str> = clap[start..end]
        .split_inclusive("' \\\n")
        .map(|spec| spec.strip_suffix(" \\\n").expect("each spec ends in ` \\`"))
        .collect();
    let mut out = String::new();
    for spec in specs {
        let body = spec.strip_prefix('\'').expect("each spec is single-quoted");
        let (excluded, option) = match body.strip_prefix('(') {
            Some(rest) => {
                let (group, option) = rest.split_once(')').expect("an exclusion group closes");
                (group.split(' ').collect::<Vec<_>>(), option)
            }
            None => (Vec::new(), body),
        };
        let Some(gnu) = option.strip_prefix("--") else {
            // A short option (-h, -V): kept as clap wrote it.
            writeln!(out, "{spec} \\").expect("writing to a String cannot fail");
            continue;
        };
        let name_len = gnu
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(gnu.len());
        let (name, rest) = gnu.split_at(name_len);
        let mut rest = rest.to_string();
        if name == "pid" {
            rest = replace_once(&rest, ":_default'", ":_pids'", "zsh completion of --pid");
        }
        let mut group: Vec<String> = Vec::new();
        for excluded in &excluded {
            group.push(excluded.to_string());
            if let Some(twin) = excluded.strip_prefix("--") {
                group.push(format!("-{twin}"));
            }
        }
        for own in [format!("-{name}"), format!("--{name}")] {
            if !group.contains(&own) {
                group.push(own);
            }
        }
        let group = group.join(" ");
        writeln!(out, "'({group})--{name}{rest} \\").expect("writing to a String cannot fail");
        writeln!(out, "'({group})-{name}{rest} \\").expect("writing to a String cannot fail");
    }
    let note = format!(
        "# Added by memanalyzer --generate ({GENERATE_COMMAND}): each --NAME option also has\n\
         # the original Go tool's single-dash spelling -NAME, and -pid/--pid complete PIDs.\n"
    );
    replace_once(
        &format!("{}{out}{}", &clap[..start], &clap[end..]),
        "_memanalyzer() {\n",
        &format!("{note}_memanalyzer() {{\n"),
        "zsh completion",
    )
}

/// fish: every `complete … -l NAME` line also gets `-o NAME` (fish's "old-style" option: one
/// dash, long name), and `-pid` completes PIDs with `__fish_complete_pids`.
fn fish_completion() -> String {
    let command = command();
    let clap = clap_completion(Shell::Fish);
    let mut seen = Vec::new();
    let mut script = String::new();
    for line in clap.lines() {
        let mut line = line.to_string();
        if line.starts_with(&format!("complete -c {BIN} ")) {
            if let Some(at) = line.find(" -l ") {
                let name_start = at + " -l ".len();
                let name_end = line[name_start..]
                    .find(' ')
                    .map_or(line.len(), |end| name_start + end);
                let name = line[name_start..name_end].to_string();
                let mut twin = format!(" -o {name}");
                if name == "pid" {
                    twin.push_str(" -f -a '(__fish_complete_pids)'");
                }
                line.insert_str(name_end, &twin);
                seen.push(name);
            }
        }
        script.push_str(&line);
        script.push('\n');
    }
    for arg in long_args(&command) {
        assert!(
            seen.iter().any(|name| name == long(arg)),
            "clap's fish script has no line for --{}",
            long(arg)
        );
    }
    format!(
        "# Added by memanalyzer --generate ({GENERATE_COMMAND}): each -l NAME also has -o NAME,\n\
         # the original Go tool's single-dash spelling, and -pid/--pid complete PIDs.\n{script}"
    )
}

/// PowerShell: every `--NAME` result gets a `-NAME` twin, and a block in front of clap's code
/// completes option values, which clap's script does not: PIDs (Get-Process) after
/// `-pid`/`--pid`, and the fixed values of `-format`, `-unit` and `-color`.
fn powershell_completion() -> String {
    let command = command();
    let mut script = clap_completion(Shell::PowerShell);
    for arg in long_args(&command) {
        let name = long(arg);
        let prefix = format!("[CompletionResult]::new('--{name}', '--{name}', ");
        let line = script
            .lines()
            .find(|line| line.trim_start().starts_with(&prefix))
            .unwrap_or_else(|| panic!("clap's PowerShell script has no result for --{name}"))
            .to_string();
        let twin = line.replacen(
            &prefix,
            &format!("[CompletionResult]::new('-{name}', '-{name}', "),
            1,
        );
        script = replace_once(
            &script,
            &format!("{line}\n"),
            &format!("{line}\n{twin}\n"),
            "PowerShell completion",
        );
    }
    let mut values = String::new();
    for arg in long_args(&command) {
        let possible: Vec<String> = arg
            .get_possible_values()
            .iter()
            .map(|value| format!("'{}'", value.get_name().replace('\'', "''")))
            .collect();
        if !possible.is_empty() {
            write!(
                values,
                "\n        '{}' = @({})",
                long(arg),
                possible.join(", ")
            )
            .expect("writing to a String cannot fail");
        }
    }
    let block = format!(
        r#"
    # Added by memanalyzer --generate ({GENERATE_COMMAND}): clap's script completes only
    # option names. Values are completed here: PIDs after -pid/--pid, and the fixed values of
    # the options that have them, in either spelling (-format or --format).
    $values = @{{{values}
    }}
    $previous = $commandAst.CommandElements |
        Where-Object {{ $_.Extent.EndOffset -lt $cursorPosition }} |
        Select-Object -Last 1
    if ($previous -and $previous.Extent.Text -match '^--?([a-z]+)$') {{
        $option = $Matches[1]
        if ($option -ceq 'pid') {{
            Get-Process |
                Where-Object {{ "$($_.Id)" -like "$wordToComplete*" }} |
                Sort-Object -Property Id |
                ForEach-Object {{
                    $label = "$($_.Id) $($_.ProcessName)"
                    [CompletionResult]::new("$($_.Id)", $label,
                        [CompletionResultType]::ParameterValue, $label)
                }}
            return
        }}
        if ($values.ContainsKey($option)) {{
            $values[$option] |
                Where-Object {{ $_ -like "$wordToComplete*" }} |
                ForEach-Object {{
                    [CompletionResult]::new($_, $_, [CompletionResultType]::ParameterValue, $_)
                }}
            return
        }}
    }}
"#
    );
    let anchor = "    param($wordToComplete, $commandAst, $cursorPosition)\n";
    replace_once(
        &script,
        anchor,
        &format!("{anchor}{block}"),
        "PowerShell completion",
    )
}
