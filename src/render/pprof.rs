//! `-format pprof`: the whole process's memory as a pprof profile (gzip'd profile.proto), so that
//! `go tool pprof -top` and `go tool pprof -http` show all of it beside a heap profile. Sample
//! types `memory_space` (RSS) and `pss_space` (PSS), in bytes; each sample's stack is, from the
//! root, the section, the category, and the region (a listed region by its name and address, or
//! the category's other regions together), so the samples add up exactly to the totals.

use std::collections::HashMap;
use std::io::{self, Write};

use flate2::write::GzEncoder;
use prost::Message;

use super::escape::for_terminal;
use super::Render;
use crate::input::ps::ProcessList;
use crate::profile_proto::{Function, Line, Location, Profile, Sample, ValueType};
use crate::report::{Amounts, Report};

pub(crate) struct PprofRenderer;

impl Render for PprofRenderer {
    fn report(&self, report: &Report, out: &mut dyn Write) -> io::Result<()> {
        let profile = profile(report);
        let mut gzip = GzEncoder::new(out, flate2::Compression::default());
        gzip.write_all(&profile.encode_to_vec())?;
        gzip.finish()?;
        Ok(())
    }

    fn processes(&self, _: &ProcessList, _: &mut dyn Write) -> io::Result<()> {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "-format pprof describes one process: use -format json or prometheus with -ps",
        ))
    }
}

/// Strings, functions and locations, each made once.
#[derive(Default)]
struct Tables {
    strings: Vec<String>,
    string_index: HashMap<String, i64>,
    functions: Vec<Function>,
    locations: Vec<Location>,
    location_of: HashMap<String, u64>,
}

impl Tables {
    fn string(&mut self, text: &str) -> i64 {
        if self.strings.is_empty() {
            self.strings.push(String::new()); // profile.proto: string_table[0] is ""
        }
        if let Some(&index) = self.string_index.get(text) {
            return index;
        }
        self.strings.push(text.to_string());
        let index = self.strings.len() as i64 - 1;
        self.string_index.insert(text.to_string(), index);
        index
    }

    /// The location of a frame named `name` (one function, one line).
    fn location(&mut self, name: &str) -> u64 {
        if let Some(&id) = self.location_of.get(name) {
            return id;
        }
        let id = self.locations.len() as u64 + 1;
        let name_index = self.string(name);
        self.functions.push(Function {
            id,
            name: name_index,
            system_name: name_index,
            filename: 0,
        });
        self.locations.push(Location {
            id,
            line: vec![Line {
                function_id: id,
                line: 0,
            }],
        });
        self.location_of.insert(name.to_string(), id);
        id
    }
}

fn value(amounts: &Amounts) -> Vec<i64> {
    let bytes = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    vec![bytes(amounts.rss), bytes(amounts.pss)]
}

/// The report as a profile: per category, one sample per listed region and one for the rest.
fn profile(report: &Report) -> Profile {
    let mut tables = Tables::default();
    let sample_type = vec![
        ValueType {
            r#type: tables.string("memory_space"),
            unit: tables.string("bytes"),
        },
        ValueType {
            r#type: tables.string("pss_space"),
            unit: tables.string("bytes"),
        },
    ];
    let mut samples = Vec::new();
    for section in &report.sections {
        let section_frame = tables.location(section.title);
        for category in &section.categories {
            let category_frame = tables.location(&format!(
                "{} / {}",
                section.title,
                for_terminal(&category.title())
            ));
            let mut listed = Amounts::default();
            for region in report
                .regions
                .refs()
                .filter(|region| *region.category == category.id)
            {
                let name = if region.name.is_empty() {
                    "[anonymous]".to_string()
                } else {
                    for_terminal(region.name)
                };
                let frame = tables.location(&format!("{:x} {} {name}", region.start, region.perms));
                samples.push(Sample {
                    location_id: vec![frame, category_frame, section_frame],
                    value: value(&region.amounts),
                });
                listed += region.amounts;
            }
            let rest = category.amounts - listed;
            if rest.rss > 0 || rest.pss > 0 || listed == Amounts::default() {
                let frame = tables.location(&format!(
                    "{} / {} (other regions)",
                    section.title,
                    for_terminal(&category.title())
                ));
                samples.push(Sample {
                    location_id: vec![frame, category_frame, section_frame],
                    value: value(&rest),
                });
            }
        }
    }
    let default_sample_type = tables.string("memory_space");
    Profile {
        sample_type,
        default_sample_type,
        sample: samples,
        location: tables.locations,
        function: tables.functions,
        string_table: tables.strings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_add_up_to_the_totals_and_decode() {
        let text =
            "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0 [stack]\nRss: 12 kB\nPss: 12 kB\n\
                    7ffd00000000-7ffd00400000 rw-p 00000000 00:00 0 \nRss: 1024 kB\nPss: 512 kB\n";
        let report =
            crate::analyze_reader(text.as_bytes(), &crate::Options::default().top(1)).unwrap();
        let mut out = Vec::new();
        PprofRenderer.report(&report, &mut out).unwrap();
        let mut inflated = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&out[..]), &mut inflated)
            .unwrap();
        let decoded = Profile::decode(&inflated[..]).unwrap();
        let rss: i64 = decoded.sample.iter().map(|sample| sample.value[0]).sum();
        let pss: i64 = decoded.sample.iter().map(|sample| sample.value[1]).sum();
        assert_eq!(rss as u64, report.totals.rss);
        assert_eq!(pss as u64, report.totals.pss);
        assert_eq!(decoded.string_table[0], "");
        assert!(decoded
            .sample
            .iter()
            .all(|sample| sample.location_id.len() == 3));
    }
}
