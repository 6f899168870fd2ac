//! pixelproof's integration tests, in one test binary (`cargo test --test it`): one module per
//! area, all sharing `support`. One binary links aws-sdk, lapin and axum once instead of once per
//! file, and its tests run in one process, on several threads, side by side with every other
//! module's: a test that needs the machine to itself (the RabbitMQ broker, for one) takes a lock in
//! `support`, and anything a test counts (processes, sockets, connections) is scoped to what that
//! test started.
//!
//! `fast` holds the modules that need no Chromium, RabbitMQ or S3 server (`scripts/test --fast`
//! runs them with the unit tests: `cargo test --test it -- fast::`); the rest need what
//! `scripts/test` sets up.

mod support;

mod fast;

mod api;
mod baseline_bucket;
mod check_e2e;
mod ci_kit;
mod cli_render;
mod debug_endpoint;
mod determinism;
mod downloads;
mod fallback;
mod fleet;
mod gotenberg;
mod hostile;
mod hostile_dos;
mod hostile_input;
mod isolation;
mod lifecycle;
mod packaging;
mod pdf_bytes;
mod pixelmatch_parity;
mod postprocess;
mod print_options;
mod protocol_drift;
mod queue_amqp;
mod recovery;
mod retention;
mod review;
mod sealed;
mod service_durability;
mod service_jobs;
mod store_s3;
mod templates;
mod templates_api;
mod tenants;
