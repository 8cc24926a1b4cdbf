//! Reading `-ps -unit B` text back: the header, one row per process (memory in bytes, or `?`
//! and the reason it could not be read), the TOTAL line and what follows it.

#[derive(Debug)]
pub struct PsRow {
    pub pid: i32,
    pub user: String,
    pub command: String,
    /// RSS, PSS, USS, SWAP in bytes (`-unit B`), or `None` for `?`.
    pub memory: Option<[u64; 4]>,
    pub status: String,
    pub line: String,
}

#[derive(Debug)]
pub struct PsText {
    pub rows: Vec<PsRow>,
    pub total_count: usize,
    /// RSS, PSS, USS, SWAP of the TOTAL line.
    pub total: [u64; 4],
    pub trailer: Vec<String>,
}

fn parse_ps_row(line: &str) -> PsRow {
    let (columns, status) = match line.find("cannot read: ") {
        Some(index) => (&line[..index], line[index..].trim_end()),
        None => (line, ""),
    };
    let tokens: Vec<&str> = columns.split_whitespace().collect();
    let pid = tokens[0]
        .parse()
        .unwrap_or_else(|_| panic!("no PID in {line:?}"));
    let (memory, command_end) = if status.is_empty() {
        assert!(tokens.len() >= 10, "{line:?}");
        let tail = &tokens[tokens.len() - 8..];
        for unit in tail.iter().skip(1).step_by(2) {
            assert_eq!(*unit, "B", "not in bytes: {line:?}");
        }
        let number = |index: usize| -> u64 {
            tail[index]
                .parse()
                .unwrap_or_else(|_| panic!("{:?} in {line:?}", tail[index]))
        };
        (
            Some([number(0), number(2), number(4), number(6)]),
            tokens.len() - 8,
        )
    } else {
        assert!(tokens.len() >= 6, "{line:?}");
        assert_eq!(
            tokens[tokens.len() - 4..],
            ["?", "?", "?", "?"],
            "an unreadable process shows ? for its memory: {line:?}"
        );
        (None, tokens.len() - 4)
    };
    PsRow {
        pid,
        user: tokens[1].to_string(),
        command: tokens[2..command_end].join(" "),
        memory,
        status: status.to_string(),
        line: line.to_string(),
    }
}

impl PsText {
    /// The row of process `pid`; panics if it is not listed.
    pub fn row(&self, pid: i32) -> &PsRow {
        self.rows
            .iter()
            .find(|row| row.pid == pid)
            .unwrap_or_else(|| panic!("process {pid} is not listed: {:#?}", self.rows))
    }
}

/// Parses `-ps -unit B` text output.
pub fn parse_ps_text(text: &str) -> PsText {
    let mut lines = text.lines();
    let header = lines.next().expect("a header");
    assert_eq!(
        header.split_whitespace().collect::<Vec<_>>(),
        ["PID", "USER", "COMMAND", "RSS", "PSS", "USS", "SWAP", "STATUS"],
        "{text}"
    );
    let rule = lines.next().expect("a rule under the header");
    assert!(
        rule.len() >= header.trim_end().len() && rule.chars().all(|c| c == '-'),
        "{rule:?}"
    );
    let mut rows = Vec::new();
    for line in lines.by_ref() {
        if let Some(total) = line.strip_prefix("TOTAL (") {
            let (count, rest) = total.split_once(' ').expect("TOTAL (N processes)");
            let rest = rest
                .split_once("): ")
                .unwrap_or_else(|| panic!("{line:?}"))
                .1;
            let tokens: Vec<&str> = rest.split_whitespace().collect();
            assert_eq!(tokens.len(), 12, "{line:?}");
            for (index, label) in ["RSS", "PSS", "USS", "SWAP"].iter().enumerate() {
                assert_eq!(tokens[index * 3], *label, "{line:?}");
                assert_eq!(tokens[index * 3 + 2], "B", "{line:?}");
            }
            let number = |index: usize| tokens[index * 3 + 1].parse::<u64>().unwrap();
            return PsText {
                rows,
                total_count: count.parse().unwrap(),
                total: [number(0), number(1), number(2), number(3)],
                trailer: lines.map(str::to_string).collect(),
            };
        }
        rows.push(parse_ps_row(line));
    }
    panic!("no TOTAL line in:\n{text}")
}
