//! Shell completions and man pages, generated from the clap definitions so that they never
//! drift from the command itself.

use std::path::Path;

use anyhow::Context;
use clap::CommandFactory;

use crate::args::Cli;

/// `lakehouse completions <shell>`: the script on stdout.
pub fn completions(shell: clap_complete::Shell) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "lakehouse", &mut std::io::stdout());
}

/// `lakehouse man-pages --out DIR`: `lakehouse.1`, and `lakehouse-<group>-<command>.1` for every
/// subcommand.
pub fn man_pages(out: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("making {}", out.display()))?;
    clap_mangen::generate_to(Cli::command(), out)
        .with_context(|| format!("writing man pages into {}", out.display()))?;
    Ok(())
}
