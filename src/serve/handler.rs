//! The HTTP endpoints as one function from a request's method and target to a response, through
//! the public renderers, so `/debug/memory` is byte for byte what the command line prints. Bad
//! requests get a 4xx whose body says what was wrong and what is accepted.

use std::sync::Arc;

use crate::error::Error;
use crate::render::escape::for_terminal;
use crate::render::{Format, Renderer, TextStyle, Unit};
use crate::report::{Listing, RegionList, Report};

/// The endpoints [`respond`] serves, with what each is for (the index page lists them).
pub const ENDPOINTS: [(&str, &str); 4] = [
    (
        "/debug/memory",
        "the breakdown, as the command line prints it (?top=N, ?all=1, ?format=json|prometheus, ?unit=B|kB|MB|GB|auto)",
    ),
    ("/metrics", "Prometheus exposition"),
    ("/healthz", "liveness of this server, and how often it read smaps"),
    ("/", "this index"),
];

/// What a server sends back: status, content type, extra headers and body. For `HEAD`, the
/// response is the `GET` one; servers (hyper, axum, …) send its headers without the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// The HTTP status code.
    pub status: u16,
    /// The `Content-Type` header.
    pub content_type: &'static str,
    /// Other headers to send (e.g. `Allow` with a 405).
    pub headers: Vec<(&'static str, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    fn text(status: u16, body: impl Into<String>) -> Response {
        Response {
            status,
            content_type: Format::Text.content_type(),
            headers: Vec::new(),
            body: body.into().into_bytes(),
        }
    }
}

/// One analysis, kept to answer the requests that arrive while it is fresh. Each request cuts
/// the listing of regions to what it asks for (`?top=N`, `?all=1`) without reading smaps again.
#[derive(Clone, Debug)]
pub struct Snapshot {
    /// The report, its regions moved out to `regions`, so each request copies only what it lists.
    without_regions: Report,
    regions: RegionList,
}

impl Snapshot {
    /// Keeps `report` for the requests to come. It should list every region
    /// ([`Options::all`](crate::Options::all)): a request can list only regions the report holds.
    pub fn new(mut report: Report) -> Snapshot {
        let regions = std::mem::take(&mut report.regions);
        Snapshot {
            without_regions: report,
            regions,
        }
    }

    /// The PID of the process analyzed, for a live analysis.
    pub fn pid(&self) -> Option<i32> {
        self.without_regions.source.pid
    }

    /// The report as if analyzed with `listing`.
    pub fn report(&self, listing: Listing) -> Report {
        let listed = match listing {
            Listing::Top(count) => count.min(self.regions.len()),
            Listing::All => self.regions.len(),
        };
        let mut report = self.without_regions.clone();
        report.regions = self.regions.largest(listed);
        report.listing = listing;
        report
    }
}

/// Where [`respond`] gets the analysis it serves.
pub trait ReportSource {
    /// The analysis to serve now, or why there is none (the target has exited, …).
    fn snapshot(&self) -> Result<Arc<Snapshot>, Arc<Error>>;

    /// Lines `/healthz` adds after `ok` (e.g. how many times smaps was read); none by default.
    fn health(&self) -> String {
        String::new()
    }
}

/// Whether answering `target` may take an analysis (a smaps read, or waiting for the one under
/// way): `/debug/memory` and `/metrics` do. The others (`/healthz`, `/`, a 404) never block, so a
/// server can answer them on its event loop, and a liveness probe is answered even while a read
/// of a stalled target takes long.
pub fn needs_analysis(target: &str) -> bool {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    ANALYZED.contains(&path)
}

/// The paths whose answer is an analysis.
const ANALYZED: [&str; 2] = ["/debug/memory", "/metrics"];

/// Answers one request: `method` (`GET`, `HEAD`, …) and `target`, the path with its query as
/// the request line carries it (`/debug/memory?top=50`).
///
/// `/debug/memory` and `/metrics` take the analysis from `source`; `/healthz` and `/` never do.
/// A method other than `GET` or `HEAD` gets 405, an unknown path 404, a bad query 400, and an
/// analysis that failed (the target exited or is restarting) 503 with the reason.
pub fn respond(method: &str, target: &str, source: &dyn ReportSource) -> Response {
    if method != "GET" && method != "HEAD" {
        let mut response = Response::text(
            405,
            format!(
                "method {} is not allowed: memanalyzer's endpoints are read-only (GET and HEAD)\n",
                for_terminal(method.as_bytes())
            ),
        );
        response.headers.push(("Allow", "GET, HEAD".to_string()));
        return response;
    }
    let mut response = route(target, source).unwrap_or_else(|error| error);
    // Every answer describes this moment: caches must not keep it.
    response
        .headers
        .push(("Cache-Control", "no-store".to_string()));
    response
}

/// The response for a `GET` of `target`; `Err` holds an error response.
fn route(target: &str, source: &dyn ReportSource) -> Result<Response, Response> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/debug/memory" => Query::parse(query, &["top", "all", "format", "unit"])
            .and_then(|query| analysis(source, &query)),
        "/metrics" => Query::parse(query, &[]).and_then(|_| {
            analysis(
                source,
                &Query {
                    format: Format::Prometheus,
                    ..Query::default()
                },
            )
        }),
        "/healthz" => Query::parse(query, &[])
            .map(|_| Response::text(200, format!("ok\n{}", source.health()))),
        "/" => Query::parse(query, &[]).map(|_| index()),
        _ => Err(Response::text(
            404,
            format!(
                "not found: {}; memanalyzer serves {}\n",
                for_terminal(path.as_bytes()),
                ENDPOINTS.map(|(path, _)| path).join(", ")
            ),
        )),
    }
}

/// The analysis in the format and unit the query asks for.
fn analysis(source: &dyn ReportSource, query: &Query) -> Result<Response, Response> {
    let snapshot = source.snapshot().map_err(|error| unavailable(&error))?;
    let report = snapshot.report(query.listing);
    let style = TextStyle {
        color: false,
        unit: query.unit,
    };
    let mut body = Vec::with_capacity(16 * 1024);
    Renderer::new(query.format, style)
        .report(&report, &mut body)
        .map_err(|error| Response::text(500, format!("cannot render the report: {error}\n")))?;
    Ok(Response {
        status: 200,
        content_type: query.format.content_type(),
        headers: Vec::new(),
        body,
    })
}

/// 503: the analysis failed, with the whole reason (`error` and its causes) on one line.
fn unavailable(error: &Error) -> Response {
    let mut reason = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(next) = cause {
        reason.push_str(": ");
        reason.push_str(&next.to_string());
        cause = next.source();
    }
    let gone = matches!(
        error,
        Error::NoSuchProcess { .. }
            | Error::PidReused { .. }
            | Error::NoProcessNamed { .. }
            | Error::ExitedWhileReading { .. }
            | Error::NoUserMemory { .. }
    );
    let lead = if gone {
        "the target process is not running (it exited, or is restarting)"
    } else {
        "the target cannot be analyzed now"
    };
    Response::text(503, format!("memanalyzer: {lead}: {reason}\n"))
}

fn index() -> Response {
    let links: String = ENDPOINTS
        .iter()
        .map(|(path, about)| format!("<li><a href=\"{path}\">{path}</a> — {about}</li>\n"))
        .collect();
    Response {
        status: 200,
        content_type: "text/html; charset=utf-8",
        headers: Vec::new(),
        body: format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>memanalyzer</title></head>\n\
             <body><h1>memanalyzer</h1>\n<ul>\n{links}</ul>\n\
             <p>Examples: <a href=\"/debug/memory?top=50\">/debug/memory?top=50</a>, \
             <a href=\"/debug/memory?format=json\">/debug/memory?format=json</a></p>\n</body></html>\n"
        )
        .into_bytes(),
    }
}

/// What `/debug/memory`'s query asks for; the defaults are the command line's.
#[derive(Debug, PartialEq, Eq)]
struct Query {
    listing: Listing,
    format: Format,
    unit: Unit,
}

impl Default for Query {
    fn default() -> Query {
        Query {
            listing: Listing::default(),
            format: Format::Text,
            unit: Unit::default(),
        }
    }
}

impl Query {
    /// Parses `query` (without the `?`), taking only the parameters in `known`; the `Err` is
    /// the 400 response that says what is wrong.
    fn parse(query: &str, known: &[&str]) -> Result<Query, Response> {
        let bad = |message: String| Response::text(400, format!("bad request: {message}\n"));
        let mut parsed = Query::default();
        let (mut top, mut all) = (None, false);
        let mut seen: Vec<String> = Vec::new();
        for pair in query.split('&').filter(|pair| !pair.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let (Some(key), Some(value)) = (percent_decode(key), percent_decode(value)) else {
                return Err(bad(format!(
                    "the query {} is not valid percent-encoded UTF-8",
                    for_terminal(pair.as_bytes())
                )));
            };
            let shown = for_terminal(value.as_bytes());
            if !known.contains(&key.as_str()) {
                let accepted = if known.is_empty() {
                    "this endpoint takes no parameters".to_string()
                } else {
                    format!("this endpoint takes {}", known.join(", "))
                };
                return Err(bad(format!(
                    "unknown parameter {}; {accepted}",
                    for_terminal(key.as_bytes())
                )));
            }
            if seen.contains(&key) {
                return Err(bad(format!("{key} is given twice")));
            }
            match key.as_str() {
                "top" => {
                    let count = value
                        .parse::<usize>()
                        .ok()
                        .filter(|_| !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()));
                    let Some(count) = count else {
                        return Err(bad(format!(
                            "top={shown}: top is how many of the largest regions to list, \
                             a whole number from 0 (none) up, e.g. top=50"
                        )));
                    };
                    top = Some(count);
                }
                "all" => {
                    all = match value.as_str() {
                        "" | "1" | "true" | "yes" => true,
                        "0" | "false" | "no" => false,
                        _ => {
                            return Err(bad(format!(
                                "all={shown}: all=1 lists every region (all=0 does not)"
                            )))
                        }
                    }
                }
                "format" => {
                    parsed.format = Format::from_name(&value).ok_or_else(|| {
                        bad(format!(
                            "format={shown}: the formats are {}",
                            Format::ALL.map(Format::name).join(", ")
                        ))
                    })?;
                }
                "unit" => {
                    parsed.unit = Unit::from_name(&value).ok_or_else(|| {
                        bad(format!(
                            "unit={shown}: the units are {}",
                            Unit::ALL.map(Unit::name).join(", ")
                        ))
                    })?;
                }
                _ => unreachable!("only known parameters reach here"),
            }
            seen.push(key);
        }
        parsed.listing = match (top, all) {
            (Some(_), true) => {
                return Err(bad(
                    "top and all=1 cannot be used together: all=1 lists every region".to_string(),
                ))
            }
            (_, true) => Listing::All,
            (Some(count), false) => Listing::Top(count),
            (None, false) => Listing::default(),
        };
        Ok(parsed)
    }
}

/// Decodes `%XX` escapes and `+` (a space, in a query); `None` for a bad escape or non-UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(index + 1..index + 3)?).ok()?;
                decoded.push(u8::from_str_radix(hex, 16).ok()?);
                index += 3;
            }
            b'+' => {
                decoded.push(b' ');
                index += 1;
            }
            byte => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8(decoded).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source serving a fixed capture of three regions.
    struct Fixed(Result<Arc<Snapshot>, Arc<Error>>);

    impl ReportSource for Fixed {
        fn snapshot(&self) -> Result<Arc<Snapshot>, Arc<Error>> {
            self.0.clone()
        }
        fn health(&self) -> String {
            "smaps_reads: 1\n".to_string()
        }
    }

    const SMAPS: &[u8] = b"\
00400000-00500000 r-xp 00000000 08:01 42 /usr/bin/app\nRss: 1024 kB\n\
01000000-02000000 rw-p 00000000 00:00 0 [heap]\nRss: 8192 kB\n\
7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [stack]\nRss: 12 kB\n";

    fn report(options: &crate::Options) -> Report {
        crate::analyze_reader(SMAPS, options).unwrap()
    }

    fn fixed() -> Fixed {
        Fixed(Ok(Arc::new(Snapshot::new(report(
            &crate::Options::default().all(),
        )))))
    }

    fn body(response: &Response) -> String {
        String::from_utf8(response.body.clone()).unwrap()
    }

    fn rendered(report: &Report, format: Format, unit: Unit) -> String {
        let mut out = Vec::new();
        Renderer::new(format, TextStyle { color: false, unit })
            .report(report, &mut out)
            .unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn debug_memory_is_the_command_line_text() {
        let source = fixed();
        for (query, options) in [
            ("", crate::Options::default()),
            ("?top=1", crate::Options::default().top(1)),
            ("?top=0", crate::Options::default().top(0)),
            ("?top=100000", crate::Options::default().top(100000)),
            ("?all=1", crate::Options::default().all()),
        ] {
            let response = respond("GET", &format!("/debug/memory{query}"), &source);
            assert_eq!(response.status, 200, "{query}");
            assert_eq!(response.content_type, "text/plain; charset=utf-8");
            let mut expected = report(&options);
            expected.duration = Default::default();
            let mut served = source.0.as_ref().unwrap().report(expected.listing);
            served.duration = Default::default();
            assert_eq!(served, expected, "{query}");
            assert_eq!(
                body(&response),
                rendered(&served, Format::Text, Unit::Mib),
                "{query}"
            );
        }
    }

    #[test]
    fn formats_and_units() {
        let source = fixed();
        let json = respond("GET", "/debug/memory?format=json&top=1", &source);
        assert_eq!(json.content_type, "application/json");
        let doc: serde_json::Value = serde_json::from_slice(&json.body).unwrap();
        assert_eq!(doc["top_regions"].as_array().map(Vec::len), Some(1));
        let kb = respond("GET", "/debug/memory?unit=kb", &source);
        assert!(body(&kb).contains("8192 kB"), "{}", body(&kb));
        let metrics = respond("GET", "/metrics", &source);
        assert!(metrics
            .content_type
            .starts_with("text/plain; version=0.0.4"));
        assert!(body(&metrics).contains("memanalyzer_rss_bytes"));
        assert_eq!(
            respond("HEAD", "/metrics", &source).body,
            metrics.body,
            "HEAD is GET's response; the server drops the body"
        );
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let source = fixed();
        for (target, says) in [
            ("/debug/memory?top=-5", "top=-5: top is how many"),
            ("/debug/memory?top=abc", "top=abc"),
            ("/debug/memory?top=", "top=: top"),
            ("/debug/memory?top=99999999999999999999999", "top="),
            (
                "/debug/memory?format=xml",
                "the formats are text, json, prometheus",
            ),
            ("/debug/memory?unit=TB", "the units are B, kB, MB, GB, auto"),
            ("/debug/memory?top=5&all=1", "cannot be used together"),
            ("/debug/memory?top=5&top=6", "top is given twice"),
            ("/debug/memory?color=1", "unknown parameter color"),
            ("/debug/memory?top=%zz", "not valid percent-encoded"),
            ("/metrics?top=5", "takes no parameters"),
        ] {
            let response = respond("GET", target, &source);
            assert_eq!(response.status, 400, "{target}");
            assert!(
                body(&response).contains(says),
                "{target}: {}",
                body(&response)
            );
        }
        let post = respond("POST", "/debug/memory", &source);
        assert_eq!(post.status, 405);
        assert!(post.headers.contains(&("Allow", "GET, HEAD".to_string())));
        let missing = respond("GET", "/debug/pprof", &source);
        assert_eq!(missing.status, 404);
        assert!(body(&missing).contains("/debug/memory, /metrics, /healthz, /"));
    }

    #[test]
    fn a_failed_analysis_is_503_with_its_reason_and_health_needs_none() {
        let gone = Fixed(Err(Arc::new(Error::NoSuchProcess { pid: 4321 })));
        let response = respond("GET", "/debug/memory", &gone);
        assert_eq!(response.status, 503);
        assert!(body(&response).starts_with(
            "memanalyzer: the target process is not running (it exited, or is restarting): \
             no process with PID 4321"
        ));
        assert_eq!(respond("GET", "/metrics", &gone).status, 503);
        let health = respond("GET", "/healthz", &gone);
        assert_eq!(health.status, 200);
        assert_eq!(body(&health), "ok\nsmaps_reads: 1\n");
        let index = respond("GET", "/", &gone);
        assert_eq!(index.status, 200);
        assert!(body(&index).contains("<a href=\"/metrics\">"));
    }

    #[test]
    fn only_the_analysis_endpoints_need_an_analysis() {
        assert!(needs_analysis("/debug/memory?top=5"));
        assert!(needs_analysis("/metrics"));
        for target in ["/healthz", "/", "/debug/pprof", "/healthz?x=1"] {
            assert!(!needs_analysis(target), "{target}");
        }
        // The routes that call the source are exactly those.
        struct Counting(std::cell::Cell<usize>);
        impl ReportSource for Counting {
            fn snapshot(&self) -> Result<Arc<Snapshot>, Arc<Error>> {
                self.0.set(self.0.get() + 1);
                Err(Arc::new(Error::NoSuchProcess { pid: 1 }))
            }
        }
        for target in ["/debug/memory", "/metrics", "/healthz", "/", "/x"] {
            let counting = Counting(std::cell::Cell::new(0));
            respond("GET", target, &counting);
            assert_eq!(counting.0.get() == 1, needs_analysis(target), "{target}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("k%42").as_deref(), Some("kB"));
        assert_eq!(percent_decode("a+b").as_deref(), Some("a b"));
        assert_eq!(percent_decode("%"), None);
        assert_eq!(percent_decode("%ff"), None);
    }
}
