//! `pixelproof check`: render every fixture, compare it with its baseline, write the
//! report. Exit 0 when everything passes, 1 on any regression, 2 when the check cannot
//! run or a fixture cannot be checked (see `check`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::check::{self, CheckOptions};
use crate::compare::verdict::Limits;

/// Arguments of `pixelproof check`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  pixelproof check
  pixelproof check --template invoice --report out/check
  pixelproof check --update
  pixelproof check --update --fail-on-candidates
  pixelproof check --baselines s3://team-baselines/main --renderer fallback

--update is Playwright's --update-snapshots with a review step: a fixture that is new or differs
becomes a candidate (written beside the baselines, never over them) instead of a failure, and
the run exits 0. `pixelproof baseline approve` (or /review) makes a candidate the baseline. In CI,
add --fail-on-candidates so a run that wrote candidates still fails the build.

Writes REPORT/index.html (side by side, with a slider), REPORT/junit.xml and REPORT/summary.json.
Exit codes: 0 every fixture passed (with --update: none regressed); 1 a regression (or, with
--fail-on-candidates, a candidate written); 2 the check could not run or a fixture could not be
checked (no Chromium, baselines from another environment without --allow-drift, a bad template).")]
pub struct Args {
    /// The templates directory. Default: $PIXELPROOF_TEMPLATES, else ./templates, else the bundled one.
    #[arg(long = "templates", value_name = "DIR")]
    pub templates_dir: Option<PathBuf>,
    /// The baselines directory, or a bucket: s3://BUCKET/PREFIX (with the AWS_* variables).
    /// Default: ./baselines, else the bundled one (found as the templates are).
    #[arg(long, value_name = "DIR|s3://BUCKET/PREFIX", env = "PIXELPROOF_BASELINES")]
    pub baselines: Option<PathBuf>,
    /// Where to write index.html, junit.xml and summary.json (recreated on every run).
    #[arg(long, value_name = "DIR", default_value = "check-report")]
    pub report: PathBuf,
    /// Write a candidate for every fixture that is new or differs, instead of failing it.
    #[arg(long)]
    pub update: bool,
    /// With --update: exit 1 when any candidate was written (so CI fails until the candidates
    /// are reviewed and the approved baselines committed).
    #[arg(long, requires = "update")]
    pub fail_on_candidates: bool,
    /// Check only this template (repeatable).
    #[arg(long = "template", value_name = "NAME")]
    pub templates: Vec<String>,
    /// Raster resolution; must match the baselines'.
    #[arg(long, value_name = "N", default_value_t = crate::raster::DEFAULT_DPI)]
    pub dpi: u32,
    /// Compare even when baselines were made in another environment.
    #[arg(long)]
    pub allow_drift: bool,
    /// Changed pixels a page may have (a page fails only above both limits). Default 100.
    /// A template's own (`limits` in its template.json) win for its pages.
    #[arg(long, value_name = "N")]
    pub max_pixels: Option<u64>,
    /// Fraction of a page's pixels that may change, e.g. 0.0005 for 0.05 %. Default 0.0005.
    /// A template's own (`limits` in its template.json) win for its pages.
    #[arg(long, value_name = "F")]
    pub max_ratio: Option<f64>,
    /// pixelmatch colour threshold, 0 to 1; smaller is more sensitive. Default 0.1.
    /// A template's own (`limits` in its template.json) win for its pages.
    #[arg(long, value_name = "T")]
    pub threshold: Option<f64>,
    /// Which engine prints the fixtures, and so whose baselines they are compared with:
    /// `fallback` checks (and with --update, makes) the WeasyPrint baselines the service
    /// needs before it ships a fallback PDF.
    #[arg(long, value_enum, default_value_t = super::RendererChoice::Chromium)]
    pub renderer: super::RendererChoice,
}

impl Args {
    fn options(&self) -> anyhow::Result<CheckOptions> {
        let mut limits = Limits::default();
        if let Some(n) = self.max_pixels {
            limits.max_pixels = n;
        }
        if let Some(r) = self.max_ratio {
            anyhow::ensure!(
                (0.0..=1.0).contains(&r),
                "--max-ratio is a fraction from 0 to 1 (0.0005 = 0.05 %), not {r}"
            );
            limits.max_ratio = r;
        }
        if let Some(t) = self.threshold {
            anyhow::ensure!((0.0..=1.0).contains(&t), "--threshold goes from 0 to 1, not {t}");
            limits.pixelmatch.threshold = t;
        }
        anyhow::ensure!((36..=1200).contains(&self.dpi), "--dpi must be from 36 to 1200, not {}", self.dpi);
        Ok(CheckOptions {
            templates_dir: self.templates_dir.clone().unwrap_or_else(crate::template::default_templates_dir),
            baselines_dir: crate::bundled::Bundled::Baselines.resolve(self.baselines.clone()),
            report_dir: self.report.clone(),
            update: self.update,
            templates: self.templates.clone(),
            dpi: self.dpi,
            allow_drift: self.allow_drift,
            limits,
            user: super::baseline::default_user().unwrap_or_else(|| "unknown".to_string()),
            renderer: self.renderer.into(),
            ..CheckOptions::default()
        })
    }
}

pub fn run(args: Args) -> super::CliResult {
    let options = args.options()?;
    if !options.update && crate::baseline::Store::is_missing_directory(&options.baselines_dir) {
        eprintln!(
            "warning: no baselines directory at {}: every fixture will fail with \"no baseline yet\". \
             Pass --baselines DIR (or PIXELPROOF_BASELINES), or run with --update to make candidates there.",
            options.baselines_dir.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("could not start the async runtime")?;
    let mut progress = check::progress::for_stderr();
    let summary = runtime.block_on(check::run(&options, progress.as_mut()))?;
    let index = options.report_dir.join(check::report::INDEX_FILE);
    println!("{}; report: {}", summary.line(), index.display());
    if summary.totals.candidates_written > 0 {
        let flag = match options.renderer {
            crate::routing::Renderer::Chromium => "",
            crate::routing::Renderer::Fallback => " --renderer fallback",
        };
        println!("Review the candidates with `pixelproof baseline list{flag}`, then approve or reject them.");
        if args.fail_on_candidates && summary.exit_code() == 0 {
            println!("Failing: candidates were written (--fail-on-candidates).");
            return Ok(ExitCode::from(super::EXIT_DIFFERENT));
        }
    }
    Ok(ExitCode::from(summary.exit_code()))
}
