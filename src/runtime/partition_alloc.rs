//! Chromium's PartitionAlloc, which names its memory `[anon:partition_alloc]` when built to.

use super::{not_in_executable, Role, RuntimeDef};
use crate::classify::generic::C_HEAP;
use crate::classify::{rule, NameMatch::*, PermMatch, Rule, Signal, Stage};
use crate::report::RuntimeId;

pub(crate) const PARTITION_ALLOC: RuntimeId = RuntimeId::new("partition_alloc");

static RULES: &[Rule] = &[rule(
    Stage::RuntimeName,
    AnonExact("partition_alloc"),
    PermMatch::Any,
    &C_HEAP,
)
.signals(&[Signal::Runtime(PARTITION_ALLOC)])];

pub(crate) static RUNTIME: RuntimeDef = RuntimeDef {
    id: PARTITION_ALLOC,
    name: "PartitionAlloc",
    role: Role::Allocator,
    section_title: "",
    categories: &[],
    rules: RULES,
    relabel: &[],
    executable: not_in_executable,
    next_step: None,
    arenas: None,
};
