//! The `pixelproof` binary: a thin edge over the library (see `cli`).

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pixelproof::cli;

/// Pixel-perfect HTML-to-PDF rendering that proves every PDF it ships.
#[derive(Debug, Parser)]
#[command(name = "pixelproof", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print a template with data, or an HTML file, to PDF.
    Render(Box<cli::render::Args>),
    /// Compare two PNG images with pixelmatch.
    Diff(cli::diff::Args),
    /// Render every fixture and compare it with its baseline.
    Check(cli::check::Args),
    /// List, approve or reject baseline candidates.
    #[command(subcommand)]
    Baseline(cli::baseline::Command),
    /// Run the HTTP service.
    #[command(after_help = "Examples:
  pixelproof serve
  pixelproof serve --listen 0.0.0.0:8080 --token ci:submit:$(openssl rand -hex 24) --data-dir /var/lib/pixelproof
  pixelproof serve --queue amqp://guest:guest@127.0.0.1:5672/%2f --store s3://pdfs/jobs --api-only
  AWS_ENDPOINT_URL=http://minio:9000 pixelproof serve --store s3://pdfs/jobs --s3-public-endpoint http://localhost:9000
  pixelproof serve --store s3://pdfs/jobs --pdf-download proxy

Without tokens it listens on loopback only. It runs until SIGTERM or Ctrl-C, then drains.
Exit codes: 0 stopped cleanly; 2 it could not start (bad flags, no Chromium, a port in use,
templates that fail their start-up check): the message says which.")]
    Serve(cli::serve::Args),
    /// Run workers on a shared RabbitMQ queue (the flags it shares with `serve`).
    #[command(after_help = "Examples:
  pixelproof worker --queue amqp://guest:guest@127.0.0.1:5672/%2f --store s3://pdfs/jobs
  pixelproof worker --queue amqp://guest:guest@rabbitmq:5672/%2f --store s3://pdfs/jobs --baselines s3://pdfs/baselines

A worker answers only /healthz, /readyz and /metrics (on a free loopback port unless --listen).
Exit codes: 0 stopped cleanly (SIGTERM); 2 it could not start (no --queue amqp://…, the broker
or store unreachable, no Chromium): the message says which.")]
    Worker(cli::worker::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The service logs what it does; the commands only what goes wrong.
    let default_filter = match cli.command {
        Command::Serve(_) | Command::Worker(_) => "info,chromiumoxide=off,lapin=warn",
        _ => "warn,chromiumoxide=off",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PIXELPROOF_LOG").unwrap_or_else(|_| default_filter.into()),
        )
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Render(a) => cli::render::run(*a),
        Command::Diff(a) => cli::diff::run(a),
        Command::Check(a) => cli::check::run(a),
        Command::Baseline(c) => cli::baseline::run(c),
        Command::Serve(a) => cli::serve::run(a),
        Command::Worker(a) => cli::worker::run(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            // Each cause once: many messages already say their cause (`error_chain`).
            eprintln!("error: {}", pixelproof::error_chain::chain(e.as_ref()));
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
