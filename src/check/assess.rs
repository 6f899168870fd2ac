//! Judging one fixture: its proof against its baseline, plus the checks no baseline is
//! needed for (blocked requests, fonts, page count: `rules`, the same rules a job is held to).
//! With `--update`, writes the candidate.

use std::time::Instant;

use image::RgbaImage;

use super::summary::{FixtureOutcome, Reason, Status, TextChange};
use super::textdiff::line_diff;
use crate::baseline::{BaselineInfo, CandidateVerdict, Comparison, Key, NewCandidate, Store, StoredPage};
use crate::compare::mask::Masks;
use crate::compare::verdict::{Limits, PageInput, PageVerdict, Verdict};
use crate::document::Origin;
use crate::pins::Environment;
use crate::pipeline::{EngineError, Proof};
use crate::routing::Renderer;
use crate::rules::{self, Rule};
use crate::template::{Template, TemplateError};

/// What a fixture without a baseline is told.
pub const NO_BASELINE: &str = "no baseline yet: run `pixelproof check --update` then `pixelproof baseline approve`";
/// What a fixture without a fallback baseline is told (`check --renderer fallback`).
pub const NO_FALLBACK_BASELINE: &str = "no fallback baseline yet: run `pixelproof check --update --renderer fallback` \
     then `pixelproof baseline approve --renderer fallback`";

/// One page as the report shows it: baseline, candidate and diff side by side.
#[derive(Debug, Clone, Default)]
pub struct ReportPage {
    /// 1-based page number.
    pub number: usize,
    pub baseline: Option<RgbaImage>,
    pub baseline_text: Option<String>,
    /// The page rendered by this run.
    pub candidate: Option<RgbaImage>,
    pub candidate_text: Option<String>,
    pub diff: Option<RgbaImage>,
    pub verdict: Option<PageVerdict>,
}

/// Why a fixture could not be proved.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("rendering failed: {0}")]
    Engine(#[from] EngineError),
    #[error("rendering failed: {0}")]
    Fallback(#[from] crate::fallback::FallbackError),
}

/// What every fixture of a run is judged with.
pub(crate) struct Context<'a> {
    pub store: &'a Store,
    /// The run's limits; a template's own replace them for its fixtures.
    pub limits: &'a Limits,
    pub environment: &'a Environment,
    pub update: bool,
    pub user: &'a str,
}

/// Judges one fixture of `template` (its page range, limits and masks). Never fails: every
/// problem becomes a reason in the outcome.
pub(crate) async fn assess(
    key: &Key,
    template: &Template,
    proved: Result<Proof, FixtureError>,
    ctx: &Context<'_>,
) -> (FixtureOutcome, Vec<ReportPage>) {
    let started = Instant::now();
    let mut out = FixtureOutcome::new(key.clone());
    let mut error = false;
    let baseline = match ctx.store.load_baseline(key).await {
        Ok(b) => b,
        Err(e) => {
            error = true;
            out.reasons.push(Reason::whole(format!("the baseline cannot be used: {e}")));
            None
        }
    };
    if let Some(b) = &baseline {
        out.baseline_pages = Some(b.pages.len());
        out.baseline = Some(BaselineInfo::from(&b.manifest));
        out.drift = ctx.environment.drift_from(&b.manifest.environment);
    }
    let baseline_pages = baseline.map(|b| b.pages).unwrap_or_default();

    let proof = match proved {
        Ok(proof) => proof,
        Err(e) => {
            error |= matches!(e, FixtureError::Engine(_) | FixtureError::Fallback(_));
            out.reasons.push(Reason::whole(e.to_string()));
            out.status = if error { Status::Error } else { Status::Fail };
            out.timings.compare_ms = millis(started);
            return (out, report_pages(baseline_pages, Vec::new(), Vec::new(), None));
        }
    };
    out.pages = proof.pages.len();
    out.timings.render_ms = proof.rendered.elapsed.as_millis() as u64;
    out.blocked = proof.rendered.blocked.clone();
    out.font_problems = proof.fonts.problems.clone();
    out.fonts = proof.fonts.embedded.clone();

    // Problems of the document itself (the service's rules, worded the same): approving a new
    // baseline cannot fix them. A fixture is a template's document, so they are strict.
    let document_rules = [
        rules::blocked_requests(&proof.rendered.blocked, Origin::Template),
        rules::fonts(&proof.fonts),
        rules::page_count(out.pages, Some(template.config.pages), usize::MAX),
    ];
    let mut document_ok = true;
    for rule in document_rules {
        if !rule.passed {
            out.reasons.push(Reason::whole(rule.to_string()));
            document_ok = false;
        } else if rule.rule == Rule::Fonts && !proof.fonts.problems.is_empty() {
            out.notes.push(rule.to_string());
        }
    }
    // A fixture is where a template's selector masks are proved to select something: one that
    // matches nothing hides nothing (a typo, or markup that changed), and should not pass unseen.
    for selector in proof.masks.unmatched() {
        out.reasons.push(Reason::whole(format!(
            "mask selector {:?} matched no element of {key}: fix it in {}'s template.json \"masks\", or make the \
             fixture print the element",
            selector.as_str(),
            template.name
        )));
        document_ok = false;
    }
    let selectors = template.config.masks.iter().filter(|m| m.selector().is_some()).count();
    if selectors > 0 && proof.masks.matched.is_empty() && ctx.store.engine() == Renderer::Fallback {
        out.notes.push(format!(
            "{selectors} selector mask(s) not applied: the fallback engine does not locate them, so its pages are \
             compared whole"
        ));
    }

    let mut differs;
    let mut diffs = Vec::new();
    if baseline_pages.is_empty() {
        differs = !error;
        if !error {
            let missing = match ctx.store.engine() {
                Renderer::Chromium => NO_BASELINE,
                Renderer::Fallback => NO_FALLBACK_BASELINE,
            };
            out.reasons.push(Reason::whole(if ctx.update { "new: no baseline yet" } else { missing }));
        }
    } else {
        let base: Vec<PageInput<'_>> = baseline_pages.iter().map(StoredPage::input).collect();
        let limits = template.verdict_limits(ctx.limits);
        let masks = Masks::new(&template.config.masks, ctx.environment.dpi, &proof.masks);
        if limits != *ctx.limits {
            out.notes.push(format!(
                "compared with {}'s limits (template.json): {} px, {} %, threshold {}",
                template.name,
                limits.max_pixels,
                crate::compare::format_percent(limits.max_ratio),
                limits.pixelmatch.threshold
            ));
        }
        let (verdict, d) = rules::compare(&proof, &base, &limits, masks);
        diffs = d;
        explain_verdict(&verdict, &baseline_pages, &proof, &mut out);
        differs = !verdict.passed;
        out.verdict = Some(verdict);
        if !out.drift.is_empty() {
            let drift = out.drift.join("; ");
            if ctx.update {
                // Re-made in this environment, the baseline stops drifting.
                differs = true;
                out.reasons.push(Reason::whole(format!("environment drift: {drift}")));
            } else {
                out.notes.push(format!("environment drift (compared anyway, --allow-drift): {drift}"));
            }
        }
    }

    out.status = if error {
        Status::Error
    } else if ctx.update && differs && document_ok {
        let comparison = out.verdict.as_ref().zip(out.baseline.as_ref()).map(|(v, b)| Comparison {
            verdict: CandidateVerdict { baseline: b.clone(), drift: out.drift.clone(), verdict: v.clone() },
            diffs: &diffs,
        });
        let new = NewCandidate {
            key: key.clone(),
            pages: proof.pages.iter().map(|p| PageInput { image: &p.image, text: &p.text }).collect(),
            environment: ctx.environment.clone(),
            created_by: ctx.user.to_string(),
            comparison,
            engine: ctx.store.engine(),
        };
        match ctx.store.write_candidate(&new).await {
            Ok(dir) => {
                out.notes
                    .push(format!("candidate written to {}: review it with `pixelproof baseline list`", dir.display()));
                out.candidate = Some(dir);
                Status::Candidate
            }
            Err(e) => {
                out.reasons.push(Reason::whole(format!("could not write the candidate: {e}")));
                Status::Error
            }
        }
    } else if out.reasons.is_empty() {
        Status::Pass
    } else {
        if ctx.update && differs {
            out.notes.push("no candidate written: fix the problems above first".to_string());
        }
        Status::Fail
    };
    if out.status != Status::Candidate && ctx.store.has_candidate(key).await {
        out.notes.push(format!(
            "a candidate from an earlier run is waiting for review: `pixelproof baseline approve {key}` or `reject {key}`"
        ));
    }
    out.timings.compare_ms = millis(started);
    let verdict_pages = out.verdict.as_ref().map(|v| v.pages.clone());
    let candidate = proof.pages.into_iter().map(|p| StoredPage { number: p.number, image: p.image, text: p.text });
    (out, report_pages(baseline_pages, candidate.collect(), diffs, verdict_pages))
}

/// Reasons and notes from a verdict. The verdict's own reasons are used as they are
/// (the same words as `pixelproof diff`); a `page N: ` prefix attributes one to its page.
fn explain_verdict(verdict: &Verdict, base: &[StoredPage], cand: &Proof, out: &mut FixtureOutcome) {
    let cand = &cand.pages;
    let before = out.reasons.len();
    out.reasons.extend(verdict.reasons.iter().cloned());
    for pv in &verdict.pages {
        let Some(i) = pv.page.checked_sub(1) else { continue };
        let (Some(b), Some(c)) = (base.get(i), cand.get(i)) else { continue };
        if pv.text_changed {
            out.text_changes.push(TextChange { page: pv.page, diff: line_diff(&b.text, &c.text) });
        }
        if pv.masked_pixels > 0 {
            out.notes.push(format!(
                "page {}: {} pixels under the template's masks were not compared",
                pv.page, pv.masked_pixels
            ));
        }
        if pv.passed && pv.diff_pixels > 0 {
            out.notes.push(format!(
                "page {}: {} pixels changed ({}), within the limits",
                pv.page,
                pv.diff_pixels,
                percent(pv.ratio)
            ));
        }
        if !pv.passed && out.page_reasons(pv.page).next().is_none() {
            out.reasons.push(Reason::page(pv.page, "differs from the baseline"));
        }
    }
    let compared = base.len().min(cand.len());
    for n in compared + 1..=base.len() {
        out.reasons.push(Reason::page(n, "only in the baseline: this run printed fewer pages"));
    }
    for n in compared + 1..=cand.len() {
        out.reasons.push(Reason::page(n, "new page: the baseline has fewer pages"));
    }
    if !verdict.passed && out.reasons.len() == before {
        out.reasons.push(Reason::whole("differs from the baseline"));
    }
}

/// `0.030 %`
pub fn percent(ratio: f64) -> String {
    format!("{:.3} %", ratio * 100.0)
}

fn report_pages(
    baseline: Vec<StoredPage>,
    candidate: Vec<StoredPage>,
    diffs: Vec<Option<RgbaImage>>,
    verdict: Option<Vec<PageVerdict>>,
) -> Vec<ReportPage> {
    let count = baseline.len().max(candidate.len());
    let mut pages: Vec<ReportPage> = (1..=count).map(|number| ReportPage { number, ..ReportPage::default() }).collect();
    for (page, b) in pages.iter_mut().zip(baseline) {
        page.baseline = Some(b.image);
        page.baseline_text = Some(b.text);
    }
    for (page, c) in pages.iter_mut().zip(candidate) {
        page.candidate = Some(c.image);
        page.candidate_text = Some(c.text);
    }
    for (page, d) in pages.iter_mut().zip(diffs) {
        page.diff = d;
    }
    for pv in verdict.unwrap_or_default() {
        if let Some(page) = pages.get_mut(pv.page.wrapping_sub(1)) {
            page.verdict = Some(pv);
        }
    }
    pages
}

fn millis(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}
