//! Builds the report once the input has ended: decides which runtimes are present (the
//! executable file first, then the regions' signals), picks the rule of each chain that holds,
//! and lays the categories out in sections. Decides, never re-classifies.

use std::collections::HashMap;

use super::identities::Identities;
use super::tally::Count;
use super::top::Kept;
use super::{Aggregator, ProcessInfo};
use crate::classify::{
    generic, named_group_source, CategoryDef, Chain, Facts, Label, Rule, RuleTable, Target,
};
use crate::report::{
    Amounts, CategoryId, CategoryReport, DetectedRuntime, Evidence, Listing, RegionGroup,
    RegionList, Report, SectionId, SectionReport, Source, Unexplained, Warning,
};
use crate::runtime::{self, Verdict, NATIVE_TITLE, REGISTRY};

pub(super) fn report(
    aggregator: Aggregator,
    process: ProcessInfo,
    listing: Listing,
    warnings: Vec<Warning>,
) -> Report {
    let runtimes = detect_runtimes(&aggregator, &process);
    let chosen = aggregator.candidates.chosen();
    let facts = Facts {
        runtimes: runtimes.iter().map(|runtime| runtime.id).collect(),
        chosen_executable: chosen.map(|(index, _)| index),
    };
    let exe = process
        .exe
        .clone()
        .or_else(|| chosen.map(|(_, path)| path.to_vec()));
    let language = runtimes
        .iter()
        .map(|detected| runtime::def(detected.id))
        .find(|def| def.is_language());
    let labels = Labels {
        relabel: language.map_or(&[], |def| def.relabel),
        executable: exe.as_deref(),
    };
    let table = aggregator.classifier.table();

    // Each cell's count goes to the category of the rule that holds for it, with that rule's
    // evidence.
    let mut by_category: HashMap<&'static str, Placed> = HashMap::new();
    for ((chain, subkey), count) in aggregator.tally.cells() {
        let rule = facts.resolve(table, chain, *subkey);
        if let Target::Category(def) = rule.target {
            by_category
                .entry(def.key)
                .or_insert_with(|| Placed::new(def))
                .add(count, rule.evidence);
        }
    }
    let mut categories: Vec<CategoryReport> = by_category
        .into_values()
        .map(|placed| CategoryReport {
            id: CategoryId::known(placed.def),
            label: labels.of(placed.def),
            regions: placed.count.regions,
            amounts: placed.count.amounts,
            evidence: placed.evidence,
            inferred: placed.inferred,
        })
        .collect();
    categories.extend(aggregator.groups.iter().map(|group| CategoryReport {
        id: CategoryId::named(group.key.clone()),
        label: group.label().to_vec(),
        regions: group.count.regions,
        amounts: group.count.amounts,
        evidence: Evidence::Name,
        inferred: Amounts::default(),
    }));
    if let Some(other) = aggregator.groups.other() {
        categories.push(CategoryReport {
            id: CategoryId::known(&generic::OTHER_NAMES),
            label: labels.of(&generic::OTHER_NAMES),
            regions: other.regions,
            amounts: other.amounts,
            evidence: Evidence::Name,
            inferred: Amounts::default(),
        });
    }
    let title = language.map_or(NATIVE_TITLE, |def| def.section_title);
    let sections = sections(categories, title);
    let unexplained = unexplained(
        &sections,
        aggregator.totals.amounts.rss,
        &runtimes,
        process.kernel_names_mappings,
    );

    let named = &aggregator.groups;
    // A named region's group is found by its name: groups past the bound are one remainder.
    let category_of = |chain: &Chain, subkey: u32, name: &[u8]| -> (CategoryId, Evidence) {
        let rule: &Rule = facts.resolve(table, chain, subkey);
        let category = match rule.target {
            Target::Category(def) => CategoryId::known(def),
            Target::NamedGroup => named_group_source(name)
                .and_then(|name| named.group_of(name))
                .map_or_else(
                    || CategoryId::known(&generic::OTHER_NAMES),
                    |group| CategoryId::named(group.key.clone()),
                ),
        };
        (category, rule.evidence)
    };
    let groups = aggregator
        .identities
        .map(|identities| region_groups(identities, category_of));
    let regions = listed_regions(aggregator.kept, &facts, table, category_of);

    Report {
        source: Source {
            pid: process.pid,
            path: process.path,
            exe,
            comm: process.comm,
        },
        runtimes,
        totals: aggregator.totals.amounts,
        region_count: aggregator.totals.regions,
        sections,
        unexplained,
        listing,
        regions,
        warnings,
        duration: std::time::Duration::ZERO,
        container: None,
        accounting: Vec::new(),
        groups,
    }
}

/// The kept regions with their categories decided, largest first. A category is decided once
/// per classification, except for named groups, found by each region's name.
fn listed_regions(
    kept: Kept,
    facts: &Facts,
    table: &RuleTable,
    category_of: impl Fn(&Chain, u32, &[u8]) -> (CategoryId, Evidence),
) -> RegionList {
    let (mut regions, cells) = kept.into_list();
    let mut categories: Vec<(CategoryId, Evidence)> = Vec::new();
    let mut index: HashMap<(CategoryId, Evidence), u32> = HashMap::new();
    let mut intern = |decided: (CategoryId, Evidence)| -> u32 {
        *index.entry(decided.clone()).or_insert_with(|| {
            categories.push(decided);
            u32::try_from(categories.len() - 1).expect("far fewer categories than 2^32")
        })
    };
    // `None`: a named group, decided by name.
    let by_cell: Vec<Option<u32>> = cells
        .iter()
        .map(
            |(chain, subkey)| match facts.resolve(table, chain, *subkey).target {
                Target::Category(_) => Some(intern(category_of(chain, *subkey, &[]))),
                Target::NamedGroup => None,
            },
        )
        .collect();
    regions.decide_categories(|cell, name| {
        by_cell[cell as usize].unwrap_or_else(|| {
            let (chain, subkey) = &cells[cell as usize];
            intern(category_of(chain, *subkey, name))
        })
    });
    regions.finish(categories);
    regions
}

/// What the rules put in one category so far.
struct Placed {
    def: &'static CategoryDef,
    count: Count,
    /// The weakest evidence seen.
    evidence: Evidence,
    /// The amounts placed by layout.
    inferred: Amounts,
}

impl Placed {
    fn new(def: &'static CategoryDef) -> Placed {
        Placed {
            def,
            count: Count::default(),
            evidence: Evidence::Name,
            inferred: Amounts::default(),
        }
    }

    fn add(&mut self, count: &Count, evidence: Evidence) {
        self.count.merge(count);
        self.evidence = self.evidence.max(evidence);
        if evidence == Evidence::Layout {
            self.inferred += count.amounts;
        }
    }
}

/// The generic categories' sums; when large, the next step of the language runtime, else of
/// the first allocator found that has one, else the generic advice.
fn unexplained(
    sections: &[SectionReport],
    total_rss: u64,
    runtimes: &[DetectedRuntime],
    kernel_names_mappings: Option<bool>,
) -> Unexplained {
    let amounts = sections
        .iter()
        .flat_map(|section| section.categories.iter())
        .filter(|category| category.id.def().is_some_and(generic::is_unexplained))
        .map(|category| category.amounts)
        .sum::<Amounts>();
    let large = total_rss > 0
        && amounts.rss.saturating_mul(100) >= total_rss.saturating_mul(Unexplained::LARGE_PERCENT);
    let defs = || runtimes.iter().map(|detected| runtime::def(detected.id));
    let advice = defs()
        .filter(|def| def.is_language())
        .chain(defs().filter(|def| !def.is_language()))
        .find_map(|def| def.next_step.map(|step| (step, Some(def.id))))
        .unwrap_or((runtime::GENERIC_NEXT_STEP, None));
    Unexplained {
        amounts,
        large,
        next_step: large.then_some(advice.0),
        next_step_for: if large { advice.1 } else { None },
        kernel_names_mappings,
    }
}

/// The identity groups with their categories decided, largest RSS first. Regions of one identity
/// can be classified through different rule chains (a layout rule looks at neighbours) and still
/// land in one category: their groups are merged.
fn region_groups(
    identities: Identities,
    category_of: impl Fn(&Chain, u32, &[u8]) -> (CategoryId, Evidence),
) -> Vec<RegionGroup> {
    let mut merged: Vec<RegionGroup> = Vec::new();
    let mut index: HashMap<(CategoryId, Option<super::identities::Identity>), usize> =
        HashMap::new();
    for group in identities.into_groups() {
        let ((chain, subkey), count) = (group.cell, group.count);
        let name = group
            .identity
            .as_ref()
            .map_or(&[][..], |identity| &identity.name);
        let category = category_of(&chain, subkey, name).0;
        let at = *index
            .entry((category.clone(), group.identity.clone()))
            .or_insert_with(|| {
                let rest = group.identity.is_none();
                let identity = group.identity.unwrap_or_default();
                merged.push(RegionGroup {
                    category,
                    perms: identity.perms,
                    offset: identity.offset,
                    inode: identity.inode,
                    name: identity.name,
                    rest,
                    regions: 0,
                    amounts: Default::default(),
                });
                merged.len() - 1
            });
        merged[at].regions += count.regions;
        merged[at].amounts += count.amounts;
    }
    merged.sort_by(|a, b| {
        b.amounts
            .rss
            .cmp(&a.amounts.rss)
            .then(b.amounts.size.cmp(&a.amounts.size))
            .then_with(|| a.name.cmp(&b.name))
    });
    merged
}

/// The executable file decides where it can; otherwise the regions' signals do, and where the
/// executable could not be read at all (a saved file), regions shaped like a runtime's memory.
fn detect_runtimes(aggregator: &Aggregator, process: &ProcessInfo) -> Vec<DetectedRuntime> {
    let signals = &aggregator.signals;
    REGISTRY
        .iter()
        .filter_map(|def| {
            let (version, evidence) = match (def.executable)(&process.executable) {
                Verdict::Present { version } => (version, Evidence::Executable),
                Verdict::Absent => return None,
                Verdict::Unknown => match signals.runtime(def.id) {
                    Some(evidence) => (None, evidence),
                    None if process.executable.elf.is_none() && signals.shaped_like(def.id) => {
                        (None, Evidence::Layout)
                    }
                    None => return None,
                },
            };
            Some(DetectedRuntime {
                id: def.id,
                version,
                evidence,
            })
        })
        .collect()
}

/// How fixed labels read in this process.
struct Labels<'a> {
    /// The language runtime's relabelling of other categories.
    relabel: &'static [runtime::Relabel],
    executable: Option<&'a [u8]>,
}

impl Labels<'_> {
    fn of(&self, def: &'static CategoryDef) -> Vec<u8> {
        if let Some(relabel) = self.relabel.iter().find(|r| r.category.key == def.key) {
            return relabel.label.as_bytes().to_vec();
        }
        match def.label {
            Label::Fixed(text) => text.as_bytes().to_vec(),
            Label::Executable => {
                let name = self
                    .executable
                    .map_or(&b"Executable"[..], generic::file_name);
                [name, b" Binary"].concat()
            }
        }
    }
}

/// Sections in their fixed order, each with its categories: fixed ones in their declared
/// order, named groups largest first.
fn sections(
    mut categories: Vec<CategoryReport>,
    runtime_title: &'static str,
) -> Vec<SectionReport> {
    categories.sort_by(|a, b| {
        let order = |category: &CategoryReport| category.id.def().map(runtime::category_order);
        a.id.section()
            .cmp(&b.id.section())
            .then(order(a).cmp(&order(b)))
            .then(b.amounts.rss.cmp(&a.amounts.rss))
            .then(b.amounts.size.cmp(&a.amounts.size))
    });
    let mut sections: Vec<SectionReport> = Vec::new();
    for category in categories {
        let id = category.id.section();
        if sections.last().is_none_or(|section| section.id != id) {
            sections.push(SectionReport {
                id,
                title: section_title(id, runtime_title),
                subtotal: Default::default(),
                categories: Vec::new(),
            });
        }
        let section = sections.last_mut().expect("pushed above");
        section.subtotal += category.amounts;
        section.categories.push(category);
    }
    sections
}

/// The heading, as the original tool printed it (the runtime section is named after the runtime).
fn section_title(id: SectionId, runtime_title: &'static str) -> &'static str {
    match id {
        SectionId::Runtime => runtime_title,
        SectionId::Named => "Named Memory Regions (mmap)",
        SectionId::FileBacked => "File-Backed Memory",
        SectionId::SharedMemory => "Shared Memory",
        SectionId::Anonymous => "Anonymous Memory",
        SectionId::Other => "Other",
    }
}
