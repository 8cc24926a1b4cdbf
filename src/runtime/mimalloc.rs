//! Microsoft's mimalloc, which names the memory it maps `[anon:mimalloc]` on kernels that allow
//! it, and its detection from `libmimalloc.so`. Without names its memory is not told apart.

use super::{not_in_executable, Role, RuntimeDef};
use crate::classify::generic::SHARED_LIBRARIES;
use crate::classify::{rule, CategoryDef, NameMatch::*, PermMatch, Rule, Signal, Stage};
use crate::report::{RuntimeId, SectionId};

pub(crate) const MIMALLOC: RuntimeId = RuntimeId::new("mimalloc");

pub(crate) static HEAP: CategoryDef = CategoryDef::new(
    "mimalloc.heap",
    "Heap (mimalloc)",
    SectionId::Runtime,
    "mimalloc's segments and arenas, named [anon:mimalloc]",
);

#[rustfmt::skip]
static RULES: &[Rule] = &[
    rule(Stage::RuntimeName, AnonExact("mimalloc"), PermMatch::Any, &HEAP).signals(&[Signal::Runtime(MIMALLOC)]),
    rule(Stage::RuntimeFile, Library("libmimalloc"), PermMatch::Any, &SHARED_LIBRARIES)
        .signals(&[Signal::Runtime(MIMALLOC)]),
];

pub(crate) static RUNTIME: RuntimeDef = RuntimeDef {
    id: MIMALLOC,
    name: "mimalloc",
    role: Role::Allocator,
    section_title: "",
    categories: &[&HEAP],
    rules: RULES,
    relabel: &[],
    executable: not_in_executable,
    next_step: Some("run the program with MIMALLOC_SHOW_STATS=1 to have mimalloc print its own statistics at exit"),
};
