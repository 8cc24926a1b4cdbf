//! tcmalloc: Google's, which names the regions it maps `[anon:tcmalloc_region_…]` on kernels
//! that allow it; gperftools' `libtcmalloc.so`, which names nothing, is detected from its file.

use super::{named_allocator_rules, not_in_executable, Role, RuntimeDef};
use crate::classify::{CategoryDef, NameMatch::AnonPrefix, Rule, Signal};
use crate::report::{RuntimeId, SectionId};

pub(crate) const TCMALLOC: RuntimeId = RuntimeId::new("tcmalloc");

pub(crate) static HEAP: CategoryDef = CategoryDef::new(
    "tcmalloc.heap",
    "Heap (tcmalloc)",
    SectionId::Runtime,
    "tcmalloc's regions, named [anon:tcmalloc_region_…]",
);

static RULES: [Rule; 2] = named_allocator_rules(
    AnonPrefix("tcmalloc_region"),
    "libtcmalloc",
    &HEAP,
    &[Signal::Runtime(TCMALLOC)],
);

pub(crate) static RUNTIME: RuntimeDef = RuntimeDef {
    id: TCMALLOC,
    name: "tcmalloc",
    role: Role::Allocator,
    section_title: "",
    categories: &[&HEAP],
    rules: &RULES,
    relabel: &[],
    executable: not_in_executable,
    next_step: Some("ask tcmalloc for its own statistics: MallocExtension::GetStats() (Google's tcmalloc) or MALLOCSTATS=1 at exit (gperftools)"),
    arenas: None,
};
