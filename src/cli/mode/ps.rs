//! `-ps`: list the processes this user can see, by PSS.

use std::io::Write;

use memanalyzer::render::Renderer;

use super::emit;
use crate::cli::config::Config;

pub(super) fn run(config: &Config, renderer: &Renderer, out: &mut dyn Write) -> anyhow::Result<()> {
    let list = memanalyzer::ps::list_processes()?;
    emit(config, out, |destination| {
        renderer.processes(&list, destination)
    })
}
