//! The fast tier: integration tests that need no Chromium, no RabbitMQ and no S3 server, only the
//! built `pixelproof` binary and the library. `scripts/test --fast` runs these and the unit tests
//! in a couple of minutes, with none of the full run's set-up.

mod baseline_store;
mod check_run;
mod cli_baseline;
mod cli_diff;
mod cli_help;
mod fuzz_jobs;
mod job_index;
mod layers;
mod old_records;
mod queue_embedded;
mod report;
mod routing_cache;
mod store_local;
mod template_contracts;
mod webhook;
