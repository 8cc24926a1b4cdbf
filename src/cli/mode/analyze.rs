//! The default mode: analyze one process or capture and print its report.

use std::io::{Read, Write};
use std::path::Path;

use anyhow::Context;

use memanalyzer::render::{escape, Renderer};
use memanalyzer::{HeapProfile, Input, Options};

use super::emit;
use crate::cli::config::Config;

pub(super) fn run(
    config: &Config,
    renderer: &Renderer,
    input: &Input,
    options: &Options,
    out: &mut dyn Write,
    warn: &mut dyn Write,
) -> anyhow::Result<()> {
    // The runtime's own figures first: a bad file is refused before the (longer) analysis.
    let jemalloc_stats = match &config.jemalloc_stats {
        Some(path) => Some((path, read_jemalloc_stats(path, input)?)),
        None => None,
    };
    let profile = config
        .pprof
        .as_deref()
        .map(|path| read_heap_profile(path, input))
        .transpose()?;
    let mut report = memanalyzer::analyze(input, options)?;
    if let Some((path, stats)) = jemalloc_stats {
        let source = path.as_os_str().as_encoded_bytes().to_vec();
        report
            .accounting
            .push(memanalyzer::reconcile_jemalloc(&stats, source, &report));
    }
    if let Some((path, profile)) = profile {
        let source = path.as_os_str().as_encoded_bytes().to_vec();
        memanalyzer::reconcile_go(&mut report, source, &profile).map_err(|why| {
            anyhow::anyhow!(
                "-pprof {}: {why}",
                escape::for_terminal(path.as_os_str().as_encoded_bytes())
            )
        })?;
    }
    let path = escape::for_terminal(report.source.path.as_os_str().as_encoded_bytes());
    for warning in &report.warnings {
        // A failed warning must not hide the report itself.
        let _ = writeln!(warn, "memanalyzer: warning: {path}: {warning}");
    }
    emit(config, out, |destination| {
        renderer.report(&report, destination)
    })
}

/// `-pprof FILE` (`-`: standard input, unless the smaps come from there; `http://` a loopback
/// URL) read and parsed.
fn read_heap_profile<'a>(path: &'a Path, input: &Input) -> anyhow::Result<(&'a Path, HeapProfile)> {
    let shown = escape::for_terminal(path.as_os_str().as_encoded_bytes());
    let url = path.to_str().filter(|text| text.starts_with("http://"));
    let bytes = if let Some(url) = url {
        fetch_loopback(url).map_err(|why| anyhow::anyhow!("-pprof {shown}: {why}"))?
    } else if path.as_os_str() == "-" {
        if *input == Input::Stdin {
            anyhow::bail!(
                "-pprof - and -file - both read standard input: save one of them to a file"
            );
        }
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|error| anyhow::anyhow!("-pprof -: cannot read standard input: {error}"))?;
        bytes
    } else {
        std::fs::read(path).map_err(|error| anyhow::anyhow!("-pprof {shown}: {error}"))?
    };
    let profile = memanalyzer::parse_heap_profile(&bytes)
        .map_err(|error| anyhow::anyhow!("-pprof {shown}: {error}"))?;
    Ok((path, profile))
}

/// At most this much of a response is read: a heap profile is kilobytes to a few megabytes.
const MAX_RESPONSE_BYTES: u64 = 256 << 20;

/// `GET` of a loopback `http://HOST:PORT/PATH` (HOST `localhost`, `127.x.x.x` or `[::1]`), as
/// HTTP/1.0 so the body comes whole, without chunks. Only loopback: memanalyzer fetches from
/// the machine it runs on, never from the network.
fn fetch_loopback(url: &str) -> Result<Vec<u8>, String> {
    use std::net::{TcpStream, ToSocketAddrs};
    use std::time::Duration;
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let (authority, target) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, "/"),
    };
    let addresses: Vec<_> = authority
        .to_socket_addrs()
        .map_err(|error| format!("not a HOST:PORT ({error})"))?
        .collect();
    if addresses.is_empty() || !addresses.iter().all(|address| address.ip().is_loopback()) {
        return Err(
            "only a loopback URL (localhost, 127.0.0.1, [::1]) is fetched; fetch others with \
             curl and pipe them in (-pprof -)"
                .to_string(),
        );
    }
    let mut stream = TcpStream::connect_timeout(&addresses[0], Duration::from_secs(5))
        .map_err(|error| format!("cannot connect: {error}"))?;
    let timeout = Some(Duration::from_secs(60));
    stream
        .set_read_timeout(timeout)
        .and_then(|()| stream.set_write_timeout(timeout))
        .map_err(|error| error.to_string())?;
    write!(
        stream,
        "GET {target} HTTP/1.0\r\nHost: {authority}\r\nAccept-Encoding: identity\r\n\r\n"
    )
    .map_err(|error| format!("cannot send the request: {error}"))?;
    let mut response = Vec::new();
    stream
        .take(MAX_RESPONSE_BYTES)
        .read_to_end(&mut response)
        .map_err(|error| format!("cannot read the response: {error}"))?;
    let split =
        memchr::memmem::find(&response, b"\r\n\r\n").ok_or("the response ends in its headers")?;
    let status_line = response[..split]
        .split(|&byte| byte == b'\n')
        .next()
        .map(|line| String::from_utf8_lossy(line).trim_end().to_string())
        .unwrap_or_default();
    if status_line.split_whitespace().nth(1) != Some("200") {
        return Err(format!("the server answered {status_line:?}"));
    }
    Ok(response.split_off(split + 4))
}

/// `-jemalloc-stats FILE`: read and parsed, or an error naming the file and what is wrong.
fn read_jemalloc_stats(path: &Path, input: &Input) -> anyhow::Result<memanalyzer::JemallocStats> {
    let shown = escape::for_terminal(path.as_os_str().as_encoded_bytes());
    let bytes = if path.as_os_str() == "-" {
        if *input == Input::Stdin {
            anyhow::bail!(
                "-jemalloc-stats - and -file - cannot both read standard input: save one to a file"
            );
        }
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .context("cannot read jemalloc's statistics from standard input")?;
        bytes
    } else {
        std::fs::read(path).with_context(|| format!("cannot read jemalloc's statistics {shown}"))?
    };
    memanalyzer::parse_jemalloc_stats(&bytes)
        .with_context(|| format!("{shown} is not jemalloc's statistics"))
}
