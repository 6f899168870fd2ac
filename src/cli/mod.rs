//! The command-line edge: argument parsing and exit codes, nothing else.
//! Each subcommand lives in its own module with its arguments and `run` function.
//!
//! Exit codes: 0 success / identical / all pass; 1 a difference or regression;
//! 2 usage, input or environment error (the message says what to do).

pub mod baseline;
pub mod check;
pub mod diff;
pub mod render;
pub mod serve;
pub mod worker;

use std::process::ExitCode;

/// `--renderer`: the engine that prints (`render`), or whose baselines a command works on
/// (`check`, `baseline …`). Chromium is the default everywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RendererChoice {
    Chromium,
    Fallback,
}

impl From<RendererChoice> for crate::routing::Renderer {
    fn from(choice: RendererChoice) -> Self {
        match choice {
            RendererChoice::Chromium => crate::routing::Renderer::Chromium,
            RendererChoice::Fallback => crate::routing::Renderer::Fallback,
        }
    }
}

/// The exit codes every command shares (defined where `check` decides them).
pub use crate::check::summary::{EXIT_DIFFERENT, EXIT_ERROR};

/// Result of a subcommand: an exit code, or an error that becomes exit 2 with its message.
pub type CliResult = anyhow::Result<ExitCode>;
