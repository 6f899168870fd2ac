//! `pixelproof worker`: worker tasks taking jobs from RabbitMQ (`--queue amqp://…`), for
//! fleets: one `pixelproof serve` and any number of workers share the queue and the store.
//! It takes the flags `serve` and it share (`serve::Common`), not the API's own (`--api-only`,
//! `--presign-ttl-secs`, `--s3-public-endpoint`, `--pdf-download`, `--max-body-bytes`,
//! `--max-queue-per-submitter`); its HTTP side answers only `/healthz`, `/readyz`, `/metrics`
//! and `/v1/verification` (on 127.0.0.1 and a free port unless `--listen` says otherwise; the
//! address is printed).

use std::process::ExitCode;

use anyhow::Context;

use crate::app::Mode;

/// Arguments of `pixelproof worker`: the flags it shares with `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: super::serve::Common,
}

pub fn run(args: Args) -> super::CliResult {
    let config = args.common.config(Mode::Worker, super::serve::ApiOnly::default())?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the async runtime")?;
    runtime.block_on(crate::api::serve(config))?;
    Ok(ExitCode::SUCCESS)
}
