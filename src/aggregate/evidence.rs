//! What the regions say about the process beyond their categories: which runtimes' signals
//! were seen, whether the last region was `[vsyscall]`, and, for a saved file, which mapped
//! path is the executable.

use crate::classify::{Rule, Signal, LAYOUT_HINTS_FOR_RUNTIME};
use crate::report::{Evidence, RuntimeId};
use crate::smaps::Perms;

/// Most paths a saved file's regions are checked against before the executable is found, and
/// most bytes they may hold (paths can be 64 KiB long): the executable is mapped among the
/// first files, so this bounds memory without changing the choice on real captures.
const MAX_CANDIDATES: usize = 64;
const MAX_CANDIDATE_BYTES: usize = 256 * 1024;

/// The subkey of a region whose path is no candidate for the executable.
pub(crate) const NO_CANDIDATE: u32 = u32::MAX;

#[derive(Default)]
pub(crate) struct Signals {
    /// Each runtime signalled, with the strongest evidence seen for it.
    runtimes: Vec<(RuntimeId, Evidence)>,
    /// Regions shaped like each runtime's memory ([`Signal::LayoutHint`]).
    layout_hints: Vec<(RuntimeId, u32)>,
    pub last_was_vsyscall: bool,
}

impl Signals {
    pub(crate) fn note(&mut self, rule: &Rule) {
        for signal in rule.signals {
            match *signal {
                Signal::Runtime(id) => match self.runtimes.iter_mut().find(|(seen, _)| *seen == id)
                {
                    Some((_, evidence)) => *evidence = (*evidence).min(rule.evidence),
                    None => self.runtimes.push((id, rule.evidence)),
                },
                Signal::LayoutHint(id) => {
                    match self.layout_hints.iter_mut().find(|(seen, _)| *seen == id) {
                        Some((_, count)) => *count = count.saturating_add(1),
                        None => self.layout_hints.push((id, 1)),
                    }
                }
            }
        }
    }

    /// Whether enough regions are shaped like `id`'s memory to stand for it where nothing else
    /// can tell ([`LAYOUT_HINTS_FOR_RUNTIME`]).
    pub(crate) fn shaped_like(&self, id: RuntimeId) -> bool {
        self.layout_hints
            .iter()
            .any(|&(seen, count)| seen == id && count >= LAYOUT_HINTS_FOR_RUNTIME)
    }

    /// How the regions showed `id`, if they did.
    pub(crate) fn runtime(&self, id: RuntimeId) -> Option<Evidence> {
        self.runtimes
            .iter()
            .find(|(seen, _)| *seen == id)
            .map(|(_, evidence)| *evidence)
    }
}

/// For a saved file, where `/proc/<pid>/exe` is unknown: the paths that could be the
/// executable, in the order first seen; the first one mapped executable is taken for it.
#[derive(Default)]
pub(crate) struct Candidates {
    paths: Vec<Vec<u8>>,
    /// The bytes of `paths`.
    bytes: usize,
    chosen: Option<u32>,
}

impl Candidates {
    /// The candidate index of a region of `path`, or [`NO_CANDIDATE`].
    pub(crate) fn subkey(&mut self, path: &[u8], perms: Perms) -> u32 {
        if let Some(chosen) = self.chosen {
            // Once one is chosen, no later path can be: only the chosen one is told apart.
            return if self.paths[chosen as usize] == path {
                chosen
            } else {
                NO_CANDIDATE
            };
        }
        let index = match self.paths.iter().position(|known| known == path) {
            Some(index) => index,
            None if self.paths.len() < MAX_CANDIDATES
                && self.bytes + path.len() <= MAX_CANDIDATE_BYTES =>
            {
                self.bytes += path.len();
                self.paths.push(path.to_vec());
                self.paths.len() - 1
            }
            None => return NO_CANDIDATE,
        };
        if perms.executable() {
            self.chosen = Some(index as u32);
        }
        index as u32
    }

    pub(crate) fn chosen(&self) -> Option<(u32, &[u8])> {
        self.chosen
            .map(|index| (index, self.paths[index as usize].as_slice()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::generic::C_HEAP;
    use crate::classify::{rule, NameMatch, PermMatch, Stage};

    #[test]
    fn a_runtime_needs_enough_regions_of_its_shape() {
        const SHAPED: RuntimeId = RuntimeId::new("shaped");
        static HINT: &[Signal] = &[Signal::LayoutHint(SHAPED)];
        let shaped = rule(
            Stage::RuntimeLayout,
            NameMatch::Exact(""),
            PermMatch::Any,
            &C_HEAP,
        )
        .by_layout()
        .signals(HINT);
        let mut signals = Signals::default();
        for _ in 1..LAYOUT_HINTS_FOR_RUNTIME {
            signals.note(&shaped);
        }
        assert!(!signals.shaped_like(SHAPED));
        signals.note(&shaped);
        assert!(signals.shaped_like(SHAPED));
        assert_eq!(
            signals.runtime(SHAPED),
            None,
            "a shape is no proof of presence"
        );
        assert!(!signals.shaped_like(RuntimeId::new("other")));
    }
}
