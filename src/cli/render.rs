//! `pixelproof render`.
//! SKELETON: being written; see issue 2.

/// Arguments of `pixelproof render`.
#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_args: Args) -> super::CliResult {
    anyhow::bail!("pixelproof render is not implemented yet")
}
