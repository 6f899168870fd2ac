//! `pixelproof check`.
//! SKELETON: being written; see issue 2.

/// Arguments of `pixelproof check`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> super::CliResult {
    anyhow::bail!("pixelproof check is not implemented yet")
}
