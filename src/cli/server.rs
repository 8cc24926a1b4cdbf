//! The HTTP server behind `-http`: hyper 1.x on a current-thread tokio runtime, serving the
//! library's [`respond`]. It protects itself and the target: a bound on open connections (503
//! beyond it, answered without reading the request), a timeout on reading a request's headers
//! (hyper's, armed by installing its timer) and a cap on their size (431), a timeout on each
//! write and on idle connections, an optional bearer token, and a graceful shutdown on SIGTERM
//! or SIGINT. A slow client holds one connection slot and a bounded buffer, nothing more: the
//! analysis runs on blocking threads and is shared (`SharedReport`), so it never waits for one.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_io_timeout::TimeoutStream;

use memanalyzer::serve::{needs_analysis, respond, ReportSource, Response};

/// The bounds the server keeps to, whatever its clients do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; one more is answered 503 and closed.
    pub max_connections: usize,
    /// From a connection's first byte (or the end of its last response) to the end of the
    /// request's headers.
    pub header_read_timeout: Duration,
    /// The request line and headers together; more is answered 431.
    pub max_header_bytes: usize,
    /// A write the client does not take (it stopped reading) ends the connection.
    pub write_timeout: Duration,
    /// A kept-alive connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// After SIGTERM, how long requests under way may take to finish.
    pub shutdown_grace: Duration,
    /// Threads that render responses and run (or wait for) the shared smaps read. Few: each
    /// thread's malloc arena keeps the memory of the reports it built, so the server's memory
    /// grows with their number, not with the load.
    pub worker_threads: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_connections: 256,
            header_read_timeout: Duration::from_secs(5),
            // hyper's smallest read buffer is 8 KiB; headers are small GET requests.
            max_header_bytes: 16 * 1024,
            write_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            shutdown_grace: Duration::from_secs(5),
            worker_threads: 2,
        }
    }
}

/// Sent, without reading the request, to a connection beyond `max_connections`.
const BUSY: &[u8] =
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
Content-Length: 59\r\nConnection: close\r\nRetry-After: 1\r\n\r\n\
memanalyzer: too many open connections; try again shortly.\n";

/// What every connection's requests share.
struct Shared {
    source: Arc<dyn ReportSource + Send + Sync>,
    /// The value an `Authorization` header must have, when a token is required.
    authorization: Option<Vec<u8>>,
}

/// Serves `source` on `listener` until SIGTERM or SIGINT, then lets the requests under way
/// finish (for at most `limits.shutdown_grace`).
pub fn serve(
    listener: std::net::TcpListener,
    source: Arc<dyn ReportSource + Send + Sync>,
    token: Option<String>,
    limits: Limits,
) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(limits.worker_threads)
        .build()
        .context("cannot start the HTTP server's runtime")?;
    let shared = Arc::new(Shared {
        source,
        authorization: token.map(|token| format!("Bearer {token}").into_bytes()),
    });
    runtime.block_on(accept_until_shutdown(listener, shared, limits))
}

async fn accept_until_shutdown(
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    limits: Limits,
) -> anyhow::Result<()> {
    listener
        .set_nonblocking(true)
        .context("cannot configure the listening socket")?;
    let listener = TcpListener::from_std(listener).context("cannot listen")?;
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown_signal());
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .keep_alive(true);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(_) => {
                    // Out of file descriptors, or the peer gave up before the accept: back off
                    // briefly rather than spin.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            signal = &mut shutdown => {
                signal?;
                break;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // The socket's send buffer takes these few bytes at once; a client that is not
            // reading is not waited for.
            let _ = stream.try_write(BUSY);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let mut stream = TimeoutStream::new(stream);
        stream.set_write_timeout(Some(limits.write_timeout));
        stream.set_read_timeout(Some(limits.idle_timeout));
        let shared = Arc::clone(&shared);
        let service = service_fn(move |request| answer(request, Arc::clone(&shared)));
        let connection = builder.serve_connection(TokioIo::new(Box::pin(stream)), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A failed connection (timeout, reset, malformed request) concerns that client only.
            let _ = connection.await;
            drop(slot);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(limits.shutdown_grace) => {}
    }
    Ok(())
}

/// Resolves at the first SIGTERM or SIGINT (Ctrl-C).
async fn shutdown_signal() -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut terminate = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut interrupt = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        tokio::select! {
            _ = terminate.recv() => {}
            _ = interrupt.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c()
            .await
            .context("cannot listen for Ctrl-C")
    }
}

async fn answer(
    request: Request<Incoming>,
    shared: Arc<Shared>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let target = request
        .uri()
        .path_and_query()
        .map_or("/", |target| target.as_str())
        .to_string();
    let method = request.method().as_str().to_string();
    if !authorized(&request, &shared, &target) {
        let mut response = Response {
            status: 401,
            content_type: "text/plain; charset=utf-8",
            headers: vec![("WWW-Authenticate", "Bearer".to_string())],
            body:
                b"unauthorized: send the token from -token-file as 'Authorization: Bearer TOKEN'\n"
                    .to_vec(),
        };
        response
            .headers
            .push(("Cache-Control", "no-store".to_string()));
        return Ok(to_hyper(response));
    }
    if !needs_analysis(&target) {
        // Never blocks: /healthz is answered even while a read of a stalled target takes long.
        return Ok(to_hyper(respond(&method, &target, &*shared.source)));
    }
    // The analysis blocks (a smaps read, or waiting for the one under way): never on the thread
    // that drives every connection.
    let response =
        tokio::task::spawn_blocking(move || respond(&method, &target, &*shared.source)).await;
    Ok(to_hyper(response.unwrap_or_else(|_| Response {
        status: 500,
        content_type: "text/plain; charset=utf-8",
        headers: Vec::new(),
        body: b"internal error: the request's handler failed\n".to_vec(),
    })))
}

/// Whether the request may be answered: no token is required, it carries the token, or it asks
/// for `/healthz` (probes carry no token).
fn authorized(request: &Request<Incoming>, shared: &Shared, target: &str) -> bool {
    let Some(expected) = &shared.authorization else {
        return true;
    };
    if target == "/healthz" || target.starts_with("/healthz?") {
        return true;
    }
    request
        .headers()
        .get(AUTHORIZATION)
        .is_some_and(|given| same_bytes(given.as_bytes(), expected))
}

/// Compares in a time that does not depend on where the bytes differ.
fn same_bytes(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

fn to_hyper(response: Response) -> hyper::Response<Full<Bytes>> {
    let mut built = hyper::Response::new(Full::new(Bytes::from(response.body)));
    *built.status_mut() =
        StatusCode::from_u16(response.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = built.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(response.content_type),
    );
    for (name, value) in response.headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    built
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same_bytes(b"Bearer abc", b"Bearer abc"));
        assert!(!same_bytes(b"Bearer abd", b"Bearer abc"));
        assert!(!same_bytes(b"Bearer ab", b"Bearer abc"));
    }

    #[test]
    fn the_busy_answer_has_the_length_it_declares() {
        let text = std::str::from_utf8(BUSY).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
    }
}
