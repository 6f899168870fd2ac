//! `pixelproof worker`: worker tasks taking jobs from RabbitMQ (`--queue amqp://…`), for
//! fleets: one `pixelproof serve` and any number of workers share the queue and the store.
//! It takes `serve`'s flags; its HTTP side answers only `/healthz`, `/readyz` and `/metrics`
//! (on 127.0.0.1 and a free port unless `--listen` says otherwise; the address is printed).

use std::process::ExitCode;

use anyhow::Context;

use crate::app::Mode;

/// Arguments of `pixelproof worker`: those of `serve`.
pub type Args = super::serve::Args;

pub fn run(args: Args) -> super::CliResult {
    let config = args.config(Mode::Worker)?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    runtime.block_on(crate::api::serve(config))?;
    Ok(ExitCode::SUCCESS)
}
