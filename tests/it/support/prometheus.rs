//! The Prometheus text exposition format: a parser strict enough for memanalyzer's output
//! (families announced before their samples, no series twice, exact whole-number values), and
//! `promtool check metrics`, the reference.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use super::system::find_in_path;

/// `promtool check metrics` over every exposition a test produces. Without promtool (package
/// `prometheus`) the parser here checks them alone, and [`Promtool::finish`] says so.
#[derive(Default)]
pub struct Promtool {
    missing: Vec<String>,
}

impl Promtool {
    pub fn new() -> Promtool {
        Promtool::default()
    }

    fn path() -> Option<PathBuf> {
        find_in_path("promtool")
            .or_else(|| Some(PathBuf::from("/usr/bin/promtool")).filter(|path| path.is_file()))
    }

    /// Asserts that promtool accepts `text` (no errors, no lint problems); `what` names it.
    pub fn check(&mut self, text: &str, what: &str) {
        let Some(promtool) = Promtool::path() else {
            self.missing.push(what.to_string());
            return;
        };
        let mut child = Command::new(promtool)
            .args(["check", "metrics"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run promtool");
        let mut stdin = child.stdin.take().unwrap();
        let input = text.to_string();
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let output = child.wait_with_output().expect("wait for promtool");
        writer.join().unwrap().expect("write to promtool");
        assert!(
            output.status.success(),
            "promtool check metrics rejects {what} ({}):\nstdout: {}\nstderr: {}\ninput:\n{text}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// `Err` (for [`or_skip!`]) when promtool was missing for some of the checks.
    pub fn finish(self) -> Result<(), String> {
        if self.missing.is_empty() {
            return Ok(());
        }
        Err(format!(
            "promtool is not installed (package prometheus), so {} exposition(s) were checked \
             by the parser only",
            self.missing.len()
        ))
    }
}

#[derive(Debug, Clone)]
pub struct Sample {
    pub name: String,
    /// Label values unescaped, in the order written.
    pub labels: Vec<(String, String)>,
    pub value_text: String,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(label, _)| label == name)
            .map(|(_, value)| value.as_str())
    }

    /// The value as an exact whole number (byte counts are never written as floats).
    pub fn whole(&self) -> u64 {
        self.value_text
            .parse()
            .unwrap_or_else(|_| panic!("{} is not a whole number in {self:?}", self.value_text))
    }
}

#[derive(Debug, Default)]
pub struct Family {
    pub help: Option<String>,
    pub kind: Option<String>,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Default)]
pub struct Exposition {
    /// Families in the order they appear.
    pub order: Vec<String>,
    pub families: BTreeMap<String, Family>,
}

impl Exposition {
    pub fn family(&self, name: &str) -> &Family {
        self.families
            .get(name)
            .unwrap_or_else(|| panic!("no metric family {name}; have {:?}", self.order))
    }

    pub fn samples(&self, name: &str) -> &[Sample] {
        &self.family(name).samples
    }

    /// The one sample of a family without per-category labels.
    pub fn single(&self, name: &str) -> &Sample {
        let samples = self.samples(name);
        assert_eq!(samples.len(), 1, "{name}: {samples:?}");
        assert_eq!(samples[0].name, name);
        &samples[0]
    }
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses `{name="value",…}` at the start of `text`; returns the labels and the rest.
fn parse_labels(text: &str, line: &str) -> (Vec<(String, String)>, String) {
    let mut chars = text.chars().peekable();
    assert_eq!(chars.next(), Some('{'), "{line:?}");
    let mut labels: Vec<(String, String)> = Vec::new();
    if chars.peek() == Some(&'}') {
        chars.next();
        return (labels, chars.collect());
    }
    loop {
        let name: String = std::iter::from_fn(|| chars.next_if(|c| *c != '=')).collect();
        assert!(is_label_name(&name), "label name {name:?} in {line:?}");
        assert!(
            labels.iter().all(|(seen, _)| *seen != name),
            "label {name} twice in {line:?}"
        );
        assert_eq!(chars.next(), Some('='), "{line:?}");
        assert_eq!(chars.next(), Some('"'), "{line:?}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("invalid escape \\{other:?} in {line:?}"),
                },
                Some(c) => value.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        }
        labels.push((name, value));
        match chars.next() {
            Some(',') => continue,
            Some('}') => break,
            other => panic!("{other:?} after a label value in {line:?}"),
        }
    }
    (labels, chars.collect())
}

/// Parses the text exposition format strictly enough for our output: every family announced
/// by `# HELP` and `# TYPE … gauge` before its samples, samples `name{labels} value` grouped
/// by family, no series twice.
pub fn parse_exposition(text: &str) -> Exposition {
    assert!(text.ends_with('\n'), "the exposition ends with a newline");
    let mut exposition = Exposition::default();
    let mut current: Option<String> = None;
    let mut series = BTreeSet::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix("# ") {
            let mut parts = comment.splitn(3, ' ');
            let keyword = parts.next().unwrap();
            if keyword != "HELP" && keyword != "TYPE" {
                continue; // a plain comment
            }
            let name = parts.next().expect("a metric name").to_string();
            let rest = parts.next().unwrap_or_default().to_string();
            assert!(is_metric_name(&name), "{line:?}");
            if current.as_deref() != Some(&name) {
                assert!(
                    !exposition.families.contains_key(&name),
                    "family {name} announced again after other families: {line:?}"
                );
                exposition.order.push(name.clone());
                current = Some(name.clone());
            }
            let family = exposition.families.entry(name.clone()).or_default();
            assert!(
                family.samples.is_empty(),
                "{keyword} of {name} after its samples"
            );
            if keyword == "HELP" {
                assert!(family.help.is_none(), "two HELP lines for {name}");
                assert!(!rest.trim().is_empty(), "empty HELP for {name}");
                family.help = Some(rest);
            } else {
                assert!(family.kind.is_none(), "two TYPE lines for {name}");
                assert_eq!(rest, "gauge", "{line:?}");
                family.kind = Some(rest);
            }
            continue;
        }
        assert!(!line.starts_with('#'), "odd comment {line:?}");
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        assert!(is_metric_name(name), "metric name {name:?} in {line:?}");
        let (labels, rest) = if line[name_end..].starts_with('{') {
            parse_labels(&line[name_end..], line)
        } else {
            (Vec::new(), line[name_end..].to_string())
        };
        let value_text = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no single space before the value in {line:?}"));
        assert!(
            !value_text.contains(' '),
            "more than a value (a timestamp?) in {line:?}"
        );
        let value: f64 = value_text
            .parse()
            .unwrap_or_else(|_| panic!("value {value_text:?} in {line:?}"));
        assert!(value.is_finite(), "{line:?}");
        assert_eq!(
            current.as_deref(),
            Some(name),
            "sample {line:?} outside its family's HELP/TYPE block"
        );
        let family = exposition.families.get_mut(name).unwrap();
        assert!(
            family.help.is_some() && family.kind.is_some(),
            "{name}: a sample before its HELP and TYPE"
        );
        let mut key: Vec<(String, String)> = labels.clone();
        key.sort();
        assert!(
            series.insert((name.to_string(), key)),
            "the same series twice: {line:?}"
        );
        family.samples.push(Sample {
            name: name.to_string(),
            labels,
            value_text: value_text.to_string(),
            value,
        });
    }
    for (name, family) in &exposition.families {
        assert!(
            family.help.is_some() && family.kind.is_some(),
            "{name} lacks HELP or TYPE"
        );
    }
    exposition
}

/// The scrape duration: one unlabelled sample, a number of seconds ≥ 0.
pub fn assert_scrape_duration(exposition: &Exposition) {
    let duration = exposition.single("memanalyzer_scrape_duration_seconds");
    assert!(duration.labels.is_empty(), "{duration:?}");
    assert!(duration.value >= 0.0, "{duration:?}");
}

/// Checks the exposition of `-ps -format prometheus`: promtool accepts it, each process has
/// `pid`, `comm` and `user` labels and whole-number values.
pub fn assert_process_list_exposition(promtool: &mut Promtool, text: &str) -> Exposition {
    promtool.check(text, "-ps -format prometheus");
    let exposition = parse_exposition(text);
    for family in [
        "memanalyzer_process_rss_bytes",
        "memanalyzer_process_pss_bytes",
        "memanalyzer_process_uss_bytes",
        "memanalyzer_process_swap_bytes",
    ] {
        let samples = exposition.samples(family);
        assert!(!samples.is_empty(), "{family}: no process at all");
        for sample in samples {
            let names: Vec<&str> = sample.labels.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["pid", "comm", "user"], "{sample:?}");
            let pid = sample.label("pid").unwrap();
            assert!(pid.parse::<u32>().is_ok_and(|pid| pid > 0), "{sample:?}");
            sample.whole();
        }
    }
    let unreadable = exposition.single("memanalyzer_processes_unreadable");
    assert!(unreadable.labels.is_empty());
    unreadable.whole();
    assert_scrape_duration(&exposition);
    exposition
}

/// A real Prometheus server (Debian's `prometheus`) scraping one target every second, with its
/// configuration and storage in a temporary directory and its web API on a loopback port.
pub struct PrometheusServer {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT` of its web API.
    pub base: String,
    _dir: tempfile::TempDir,
}

impl PrometheusServer {
    /// Starts Prometheus scraping `target` (`127.0.0.1:PORT`) at `/metrics`; `Err` (for
    /// `or_skip!`) when the `prometheus` package is not installed.
    pub fn start(target: &str) -> Result<PrometheusServer, String> {
        let program = super::system::require_program("prometheus", "prometheus")?;
        let dir = tempfile::tempdir().expect("temporary directory");
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
                 scrape_configs:\n  - job_name: memanalyzer\n    static_configs:\n      \
                 - targets: ['{target}']\n"
            ),
        )
        .expect("write prometheus.yml");
        // A port the system had free a moment ago.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(program)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot start prometheus: {error}"))?;
        Ok(PrometheusServer {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        })
    }

    /// The value of the instant query `expr`, once Prometheus has one (`None` until then).
    pub fn query(&self, expr: &str) -> Option<f64> {
        let output = Command::new("curl")
            .args(["-sS", "--max-time", "5", "--get", "--data-urlencode"])
            .arg(format!("query={expr}"))
            .arg(format!("{}/api/v1/query", self.base))
            .output()
            .ok()?;
        let answer: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
        answer["data"]["result"][0]["value"][1]
            .as_str()?
            .parse()
            .ok()
    }
}

impl Drop for PrometheusServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
