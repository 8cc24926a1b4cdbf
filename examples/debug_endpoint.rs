//! A service that serves its own memory breakdown, as the original Go package's handler did
//! beside `/debug/pprof`: `/debug/memory` (`?top=50`, `?all=1`, `?format=json`, `?unit=kB`),
//! `/metrics`, `/healthz` and `/`, from [`memanalyzer::serve::respond`].
//!
//! The server here is the smallest one that std allows, to show that the handler needs no
//! framework: a real service mounts `respond` in its own router (axum, actix, hyper), as the
//! README shows. Smaps is read at most once every five seconds however often it is asked.
//!
//! ```text
//! cargo run --example debug_endpoint -- 127.0.0.1:6060
//! curl 'http://127.0.0.1:6060/debug/memory?top=5'
//! ```

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use memanalyzer::serve::{respond, SharedReport};
use memanalyzer::Options;

/// Request line and headers together are read up to this size.
const MAX_HEADER_BYTES: u64 = 16 * 1024;

fn main() -> io::Result<()> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:6060".to_string());
    let listener = TcpListener::bind(&address)?;
    println!(
        "serving this process's memory at http://{}/",
        listener.local_addr()?
    );
    io::stdout().flush()?;
    let own_memory = Arc::new(SharedReport::new(Duration::from_secs(5), || {
        memanalyzer::analyze_self(&Options::default().all())
    }));
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let own_memory = Arc::clone(&own_memory);
        std::thread::spawn(move || {
            // A client that disconnects or times out concerns that client only.
            let _ = answer(stream, &own_memory);
        });
    }
    Ok(())
}

/// Reads one request and answers it, then closes the connection.
fn answer(mut stream: TcpStream, own_memory: &SharedReport) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let mut head = BufReader::new(stream.try_clone()?.take(MAX_HEADER_BYTES));
    let mut request_line = String::new();
    head.read_line(&mut request_line)?;
    loop {
        let mut header = String::new();
        if head.read_line(&mut header)? == 0 || header.trim_end().is_empty() {
            break;
        }
    }
    let mut words = request_line.split_whitespace();
    let (method, target) = (words.next().unwrap_or(""), words.next().unwrap_or("/"));
    let response = respond(method, target, own_memory);
    write!(
        stream,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len()
    )?;
    for (name, value) in &response.headers {
        write!(stream, "{name}: {value}\r\n")?;
    }
    stream.write_all(b"\r\n")?;
    if method != "HEAD" {
        stream.write_all(&response.body)?;
    }
    stream.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        _ => "Error",
    }
}
