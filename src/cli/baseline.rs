//! `pixelproof baseline list|approve|reject`.
//! SKELETON: being written; see issue 2.

/// `pixelproof baseline` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List candidates waiting for review.
    List,
}

pub fn run(_cmd: Command) -> super::CliResult {
    anyhow::bail!("pixelproof baseline is not implemented yet")
}
