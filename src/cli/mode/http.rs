//! `-http ADDR`: serve the analysis of a live process (by PID, or by name across restarts) at
//! `/debug/memory`, `/metrics` and `/healthz`, reading its smaps at most once per
//! `-min-interval`, until SIGTERM or SIGINT.

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context};
use memanalyzer::render::escape;
use memanalyzer::serve::SharedReport;
use memanalyzer::target::{FollowedTarget, Target};

use crate::cli::config::HttpSettings;
use crate::cli::server::{self, Limits};

pub(super) fn run(settings: &HttpSettings, warn: &mut dyn Write) -> anyhow::Result<()> {
    let token = settings.token_file.as_deref().map(read_token).transpose()?;
    let listener = TcpListener::bind(settings.address).with_context(|| {
        format!(
            "cannot listen on {} (is another server using the port?)",
            settings.address
        )
    })?;
    let address = listener
        .local_addr()
        .context("cannot read the listening address")?;
    let what = match &settings.target {
        Target::Pid(pid) => format!("PID {pid}"),
        Target::Name(name) => format!("the process named {}", escape::for_terminal(name)),
    };
    if !address.ip().is_loopback() {
        writeln!(
            warn,
            "memanalyzer: warning: listening on {address}, reachable from other hosts{}",
            if token.is_some() {
                ""
            } else {
                ": anyone who can connect sees this process's memory map (see -token-file)"
            }
        )?;
    }
    writeln!(
        warn,
        "memanalyzer: serving {what} at http://{address}/ (/debug/memory, /metrics, /healthz); \
         smaps read at most once every {:?}; stop with Ctrl-C or SIGTERM",
        settings.min_interval
    )?;
    warn.flush()?;
    let mut followed = FollowedTarget::new(settings.target.clone());
    let options = settings.options.clone();
    let source = SharedReport::new(settings.min_interval, move || followed.analyze(&options));
    server::serve(listener, Arc::new(source), token, Limits::default())
}

/// The token: the file's first line, without surrounding whitespace.
fn read_token(path: &Path) -> anyhow::Result<String> {
    let shown = escape::for_terminal(path.as_os_str().as_encoded_bytes());
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {shown}"))?;
    let token = text.lines().next().unwrap_or_default().trim();
    if token.is_empty() {
        bail!("the token file {shown} is empty: put the token on its first line");
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("the token in {shown} holds characters a header cannot carry: use printable ASCII");
    }
    Ok(token.to_string())
}
