//! The `/proc/<pid>/smaps` format, parsed without I/O of its own and without allocating per line
//! or per region: [`parse_bytes`] for text in memory, [`parse_reader`] for any reader through one
//! bounded buffer, [`parse_chunks`] for input handed over in pieces (parsed where they lie),
//! [`parse_rollup`] for `smaps_rollup`. Names are borrowed bytes, exactly as the
//! kernel printed them.
//!
//! ```
//! let text = b"7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [stack]\nRss: 12 kB\n";
//! let mut rss_kb = 0;
//! memanalyzer::smaps::parse_bytes(text, |region| rss_kb += region.fields.rss)?;
//! assert_eq!(rss_kb, 12);
//! # Ok::<(), memanalyzer::smaps::ParseError>(())
//! ```

mod buffer;
mod error;
mod fields;
mod header;
mod parser;
mod rollup;

pub use buffer::Chunks;
pub(crate) use buffer::ReadChunks;
pub use error::{Excerpt, ParseError, ParseErrorKind, StreamError, Warning};
pub use fields::{FieldKey, Fields};
pub use header::{parse_header, Header, Perms};
pub use parser::{parse_bytes, parse_chunks, parse_reader, ParseSummary, Region, MAX_LINE_BYTES};
pub use rollup::parse_rollup;
