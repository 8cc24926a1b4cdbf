//! Memory over time: snapshots that can be compared (`sample.rs`), what changed between two
//! (`diff.rs`), the bounded memory of a long watch (`history.rs`), the growth verdict as pure
//! statistics (`verdict.rs`), and samples as NDJSON lines for `-record` and replay
//! (`recording.rs`), and the chart of `-plot` (`plot.rs`). Rendering for people is in
//! [`crate::render::timeline`].

pub mod diff;
pub mod history;
pub mod plot;
pub mod recording;
pub mod sample;
pub mod verdict;

pub use diff::{diff, Change, Diff};
pub use history::History;
pub use sample::{Sample, Snapshot};
pub use verdict::{Trend, Verdict};
