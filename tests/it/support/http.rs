//! The HTTP mode as the tests drive it: `memanalyzer -http` serving a process, stopped with
//! SIGTERM when its guard is dropped, and curl, the client scripts use, to ask it.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStderr, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::run::memanalyzer_path;
use super::system::require_program;

/// A running `memanalyzer -http 127.0.0.1:0 …`, on the port the system chose.
pub struct HttpServer {
    child: Child,
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub address: String,
    _stderr: BufReader<ChildStderr>,
}

impl HttpServer {
    /// Starts `memanalyzer -http 127.0.0.1:0 ARGS…` and waits for the line that says where it
    /// serves.
    pub fn start(args: &[&str]) -> HttpServer {
        let mut child = Command::new(memanalyzer_path())
            .args(["-http", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start memanalyzer -http");
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let mut line = String::new();
        let _ = stderr.read_line(&mut line);
        let Some(address) = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .map(str::to_string)
        else {
            let _ = child.kill();
            let mut rest = String::new();
            let _ = stderr.read_to_string(&mut rest);
            panic!("memanalyzer -http {args:?} did not start serving: {line}{rest}");
        };
        HttpServer {
            child,
            base: format!("http://{address}"),
            address,
            _stderr: stderr,
        }
    }

    /// The URL of `target` (`/debug/memory?top=5`).
    pub fn url(&self, target: &str) -> String {
        format!("{}{target}", self.base)
    }

    /// `GET target` with curl.
    pub fn get(&self, target: &str) -> Fetched {
        curl(&self.url(target), &[])
    }

    /// The server's PID.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends SIGTERM and waits (at most ten seconds) for the server to exit.
    pub fn stop(mut self) -> Option<ExitStatus> {
        self.terminate()
    }

    fn terminate(&mut self) -> Option<ExitStatus> {
        // SAFETY: kill(2) has no memory-safety preconditions; the child is not yet reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
        }
    }
}

/// An HTTP response as curl received it.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Fetched {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.as_str())
    }
}

/// `Err` (for `or_skip!`) when curl is not installed.
pub fn require_curl() -> Result<(), String> {
    require_program("curl", "curl").map(drop)
}

/// `curl -i ARGS URL`: the status, headers and body of the response.
pub fn curl(url: &str, args: &[&str]) -> Fetched {
    let output = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "30"])
        .args(args)
        .arg(url)
        .output()
        .expect("run curl");
    assert!(
        output.status.success(),
        "curl {args:?} {url} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("a UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split_whitespace().nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    Fetched {
        status,
        headers,
        body: body.to_string(),
    }
}
