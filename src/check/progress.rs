//! Progress of a check run on stderr: a live bar on a terminal, one plain line per
//! fixture otherwise (CI logs).

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use super::summary::{FixtureOutcome, Status};
use crate::baseline::Key;

/// Told what the run is doing; every method defaults to doing nothing.
pub trait Progress {
    /// The run is about to check `fixtures` fixtures.
    fn start(&mut self, _fixtures: usize) {}
    /// Waiting for `key` to be rendered.
    fn rendering(&mut self, _key: &Key) {}
    /// `outcome` is decided.
    fn finished(&mut self, _outcome: &FixtureOutcome) {}
    /// Every fixture is decided.
    fn done(&mut self) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {}

/// One line per fixture (`PASS invoice/basic (3 pages, 1.2 s)`), for logs.
pub struct Lines<W: Write> {
    out: W,
}

impl<W: Write> Lines<W> {
    pub fn new(out: W) -> Lines<W> {
        Lines { out }
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

impl<W: Write> Progress for Lines<W> {
    fn finished(&mut self, outcome: &FixtureOutcome) {
        // Progress is best effort: a closed stderr must not fail the run.
        let _ = writeln!(self.out, "{}", outcome.line());
    }
}

/// A live bar (fixture being rendered, count, elapsed); lines for fixtures that did not
/// pass are printed above it.
pub struct Bar {
    bar: ProgressBar,
}

impl Bar {
    pub fn new() -> Bar {
        let bar = ProgressBar::new(0);
        let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Bar { bar }
    }
}

impl Default for Bar {
    fn default() -> Self {
        Bar::new()
    }
}

impl Progress for Bar {
    fn start(&mut self, fixtures: usize) {
        self.bar.set_length(fixtures as u64);
        self.bar.enable_steady_tick(Duration::from_millis(120));
    }

    fn rendering(&mut self, key: &Key) {
        self.bar.set_message(format!("rendering {key}"));
    }

    fn finished(&mut self, outcome: &FixtureOutcome) {
        if outcome.status != Status::Pass {
            self.bar.println(outcome.line());
        }
        self.bar.inc(1);
    }

    fn done(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A bar when stderr is a terminal, plain lines otherwise.
pub fn for_stderr() -> Box<dyn Progress> {
    if std::io::stderr().is_terminal() {
        Box::new(Bar::new())
    } else {
        Box::new(Lines::new(std::io::stderr()))
    }
}
