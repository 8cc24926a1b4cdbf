//! Microsoft's mimalloc, which names the memory it maps `[anon:mimalloc]` on kernels that allow
//! it, and its detection from `libmimalloc.so`. Without names its memory is not told apart.

use super::{named_allocator_rules, not_in_executable, Role, RuntimeDef};
use crate::classify::{CategoryDef, NameMatch::AnonExact, Rule, Signal};
use crate::report::{RuntimeId, SectionId};

pub(crate) const MIMALLOC: RuntimeId = RuntimeId::new("mimalloc");

pub(crate) static HEAP: CategoryDef = CategoryDef::new(
    "mimalloc.heap",
    "Heap (mimalloc)",
    SectionId::Runtime,
    "mimalloc's segments and arenas, named [anon:mimalloc]",
);

static RULES: [Rule; 2] = named_allocator_rules(
    AnonExact("mimalloc"),
    "libmimalloc",
    &HEAP,
    &[Signal::Runtime(MIMALLOC)],
);

pub(crate) static RUNTIME: RuntimeDef = RuntimeDef {
    id: MIMALLOC,
    name: "mimalloc",
    role: Role::Allocator,
    section_title: "",
    categories: &[&HEAP],
    rules: &RULES,
    relabel: &[],
    executable: not_in_executable,
    next_step: Some("run the program with MIMALLOC_SHOW_STATS=1 to have mimalloc print its own statistics at exit"),
    arenas: None,
};
