//! Android's bionic libc and its scudo allocator, which name their memory
//! (`[anon:libc_malloc]`, `[anon:scudo:primary]`, `[anon:stack_and_tls:TID]`).

use super::{not_in_executable, Role, RuntimeDef};
use crate::classify::generic::{C_HEAP, STACK};
use crate::classify::{rule, NameMatch::*, PermMatch, Rule, Signal, Stage};
use crate::report::RuntimeId;

pub(crate) const BIONIC: RuntimeId = RuntimeId::new("bionic");

const IS_BIONIC: &[Signal] = &[Signal::Runtime(BIONIC)];

#[rustfmt::skip]
static RULES: &[Rule] = &[
    rule(Stage::RuntimeName, AnonExact("libc_malloc"),          PermMatch::Any, &C_HEAP).signals(IS_BIONIC),
    rule(Stage::RuntimeName, AnonPrefix("scudo:"),              PermMatch::Any, &C_HEAP).signals(IS_BIONIC),
    rule(Stage::RuntimeName, AnonPrefix("stack_and_tls:"),      PermMatch::Any, &STACK).signals(IS_BIONIC),
    rule(Stage::RuntimeName, AnonPrefix("thread signal stack"), PermMatch::Any, &STACK).signals(IS_BIONIC),
];

pub(crate) static RUNTIME: RuntimeDef = RuntimeDef {
    id: BIONIC,
    name: "bionic",
    role: Role::Allocator,
    section_title: "",
    categories: &[],
    rules: RULES,
    relabel: &[],
    executable: not_in_executable,
    next_step: None,
    arenas: None,
};
