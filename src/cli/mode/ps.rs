//! `-ps`: list the processes this user can see, by PSS (grouped by cgroup with `-cgroup`).

use std::io::Write;

use memanalyzer::render::Renderer;

use super::emit;
use crate::cli::config::Config;

pub(super) fn run(
    config: &Config,
    renderer: &Renderer,
    by_cgroup: bool,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let mut list = memanalyzer::ps::list_processes()?;
    if by_cgroup {
        memanalyzer::group_by_cgroup(&mut list, &Default::default());
    }
    emit(config, out, |destination| {
        renderer.processes(&list, destination)
    })
}
