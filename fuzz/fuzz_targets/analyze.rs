//! Arbitrary bytes through the whole analysis: parser, classifier, aggregation and both
//! renderers (text with and without colour, JSON), for the top-N listing and `-all`.
//!
//! Beyond "never panics, always returns", it checks what must hold whenever the analysis
//! succeeds:
//! - every section's categories add up to its subtotal, and the subtotals to the totals, field by
//!   field (computed in u128, so a saturated sum cannot hide);
//! - the listing holds min(N, regions) or all regions, largest first;
//! - the JSON output parses as JSON;
//! - text output without colour holds no ESC and no other control byte (C0, DEL, C1) apart from
//!   line ends; with colour, every ESC starts an SGR sequence (`ESC [ digits/; m`);
//! - the streaming parser (`parse_reader`, fed in small pieces) and the whole-input parser
//!   (`parse_bytes`) agree on every region and on success or failure.
#![no_main]

use std::io::{self, Read};

use libfuzzer_sys::fuzz_target;
use memanalyzer::smaps::{parse_bytes, parse_reader, Fields, ParseErrorKind, Perms, StreamError};
use memanalyzer::render::Unit;

#[path = "../../tests/it/support/invariants.rs"]
mod invariants;

fuzz_target!(|data: &[u8]| {
    check_streaming_matches_whole(data);
    invariants::analyze_and_check(data, UNITS[data.len() % UNITS.len()]);
});

const UNITS: [Unit; 5] = [Unit::Mib, Unit::Auto, Unit::Kib, Unit::Bytes, Unit::Gib];

/// What the parser reports for one region, owned.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    start: u64,
    end: u64,
    perms: Perms,
    offset: u64,
    device: (u32, u32),
    inode: u64,
    name: Vec<u8>,
    fields: Fields,
    vm_flags: Vec<u8>,
    line: u64,
}

fn seen(region: &memanalyzer::smaps::Region<'_>) -> Seen {
    let header = &region.header;
    Seen {
        start: header.start,
        end: header.end,
        perms: header.perms,
        offset: header.offset,
        device: (header.dev_major, header.dev_minor),
        inode: header.inode,
        name: header.name.to_vec(),
        fields: region.fields,
        vm_flags: region.vm_flags.to_vec(),
        line: region.line,
    }
}

/// A reader that returns the input in pieces of varying small sizes, so that the streaming
/// parser's buffer boundaries fall everywhere.
struct Pieces<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Pieces<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.step = self.step % 61 + 7;
        let take = self.step.min(out.len()).min(self.data.len());
        out[..take].copy_from_slice(&self.data[..take]);
        self.data = &self.data[take..];
        Ok(take)
    }
}

fn check_streaming_matches_whole(data: &[u8]) {
    let mut whole = Vec::new();
    let whole_result = parse_bytes(data, |region| whole.push(seen(region)));
    let mut streamed = Vec::new();
    let streamed_result = parse_reader(
        Pieces {
            data,
            step: data.len(),
        },
        |region| streamed.push(seen(region)),
    );
    match (whole_result, streamed_result) {
        (Ok(whole_summary), Ok(streamed_summary)) => {
            assert_eq!(whole, streamed, "streaming and whole parses differ");
            assert_eq!(whole_summary, streamed_summary, "summaries differ");
        }
        // Only streaming bounds its buffer: a record over 1 MiB is an error there alone.
        (_, Err(StreamError::Parse(error))) if error.kind == ParseErrorKind::RecordTooLong => {}
        // A line over 64 KiB is an error for both, but streaming finds it before it has parsed
        // the lines ahead of it, which may hold an earlier error.
        (Err(whole_error), Err(StreamError::Parse(streamed_error)))
            if streamed_error.kind == ParseErrorKind::LineTooLong
                && whole_error.line <= streamed_error.line => {}
        (Err(whole_error), Err(StreamError::Parse(streamed_error))) => {
            assert_eq!(whole_error, streamed_error, "errors differ");
            // Regions before the error are reported in the same order, though streaming may
            // stop earlier (it hands over whole records only).
            assert!(whole.starts_with(&streamed) || streamed.starts_with(&whole));
        }
        (whole_result, streamed_result) => panic!(
            "streaming and whole parses disagree: whole {:?}, streamed {:?}",
            whole_result.map(|summary| summary.regions),
            streamed_result.map(|summary| summary.regions)
        ),
    }
}
