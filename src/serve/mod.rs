//! Serving the analysis over HTTP, without tying it to a web framework: [`respond`] turns a
//! request's method and target (`/debug/memory?top=50`) into a [`Response`] (status, content
//! type, body), which any server — hyper, axum, actix, tiny_http — sends as it is. The analysis
//! comes from a [`ReportSource`]; [`SharedReport`] reads smaps at most once per interval however
//! many requests arrive, and requests that arrive during a read wait for that same read.
//!
//! A service gets the original tool's `/debug/memory` and `/metrics` for its own process:
//!
//! ```
//! # #[cfg(target_os = "linux")] {
//! use std::time::Duration;
//! use memanalyzer::serve::{respond, SharedReport};
//!
//! let own_memory = SharedReport::new(Duration::from_secs(5), || {
//!     memanalyzer::analyze_self(&memanalyzer::Options::default().all())
//! });
//! let response = respond("GET", "/debug/memory?top=5", &own_memory);
//! assert_eq!(response.status, 200);
//! assert_eq!(response.content_type, "text/plain; charset=utf-8");
//! assert!(String::from_utf8(response.body).unwrap().contains("RSS (Resident):"));
//! assert_eq!(respond("GET", "/debug/memory?top=-5", &own_memory).status, 400);
//! assert_eq!(respond("POST", "/metrics", &own_memory).status, 405);
//! # }
//! ```
//!
//! The endpoints: `/debug/memory` (the text the command line prints; `?top=N`, `?all=1`,
//! `?format=text|json|prometheus`, `?unit=B|kB|MB|GB|auto`), `/metrics` (the Prometheus
//! exposition), `/healthz` and `/` (an index). `examples/debug_endpoint.rs` mounts them in a
//! small server; `memanalyzer -http ADDR` serves another process with them.

mod handler;
mod shared;

pub use handler::{needs_analysis, respond, ReportSource, Response, Snapshot, ENDPOINTS};
pub use shared::SharedReport;
