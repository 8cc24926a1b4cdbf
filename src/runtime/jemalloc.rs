//! jemalloc, which names its pages `[anon:jemalloc_pg]` when built with `--enable-pageid`.

use super::{not_in_executable, Role, RuntimeDef};
use crate::classify::generic::C_HEAP;
use crate::classify::{rule, NameMatch::*, PermMatch, Rule, Signal, Stage};
use crate::report::RuntimeId;

pub(crate) const JEMALLOC: RuntimeId = RuntimeId::new("jemalloc");

static RULES: &[Rule] = &[rule(
    Stage::RuntimeName,
    AnonPrefix("jemalloc"),
    PermMatch::Any,
    &C_HEAP,
)
.signals(&[Signal::Runtime(JEMALLOC)])];

pub(crate) static RUNTIME: RuntimeDef = RuntimeDef {
    id: JEMALLOC,
    name: "jemalloc",
    role: Role::Allocator,
    section_title: "",
    categories: &[],
    rules: RULES,
    relabel: &[],
    executable: not_in_executable,
    next_step: Some("run the program with MALLOC_CONF=stats_print:true to have jemalloc print its own statistics at exit"),
};
