//! `pixelproof diff`.
//! SKELETON: being written; see issue 2.

/// Arguments of `pixelproof diff`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> super::CliResult {
    anyhow::bail!("pixelproof diff is not implemented yet")
}
