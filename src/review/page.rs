//! `GET /review`: the operator's page. Held jobs and baseline candidates, each page with
//! baseline / candidate / diff side by side and the overlay slider, what changed, a reason
//! field and the decision buttons. This module turns held jobs and candidates into the
//! page's [`Item`]s; the page itself is `ui::review`'s template (the same figure, overlay,
//! CSS and script as the check report), which escapes every value. Images are URLs under
//! `/review/files/…` (see `files`), never copied into the page.

use crate::baseline::{self, diff_image_name, page_image_name, CandidateSummary, Manifest};
use crate::check::percent;
use crate::compare::verdict::Verdict;
use crate::ui::Embedded;

use super::HeldJob;
use crate::routing::Renderer;
use crate::service::artifacts::{legacy_chromium_page_name, page_name, PageImage};

pub use crate::ui::review::{render, script_sha256, Item, PageView};

/// The item for a candidate, reading the baseline's manifest (for its page sizes).
pub async fn candidate_item(store: &baseline::Store, summary: &CandidateSummary) -> Item {
    let key = &summary.key;
    let (t, f) = (key.template(), key.fixture());
    let baseline: Option<Manifest> = store.read_manifest(key).await.ok().flatten();
    let verdict = summary.verdict.as_ref().map(|cv| &cv.verdict);
    let mut changes = vec![summary.change()];
    changes.extend(verdict.into_iter().flat_map(|v| v.reasons.iter().map(ToString::to_string)));
    if let Some(problem) = &summary.problem {
        changes.push(format!("cannot be read: {problem}"));
    }
    let image = |source: &str, name: String, w: u32, h: u32| Embedded {
        src: format!("/review/files/{source}/{t}/{f}/{name}"),
        width: w,
        height: h,
    };
    let listed = summary.manifest.as_ref().map(|m| m.pages.as_slice()).unwrap_or_default();
    let mut pages = Vec::with_capacity(listed.len());
    for p in listed {
        let n = p.number;
        let base = baseline.as_ref().and_then(|b| b.pages.get(n - 1));
        let pv = verdict.and_then(|v| v.pages.iter().find(|pv| pv.page == n));
        let has_diff =
            store.read_file(baseline::Area::Candidate, key, &diff_image_name(n)).await.is_ok_and(|f| f.is_some());
        pages.push(PageView {
            number: n,
            baseline: base.map(|b| image("baselines", page_image_name(n), b.width, b.height)),
            printed: Some(image("candidates", page_image_name(n), p.width, p.height)),
            diff: has_diff.then(|| image("candidates", diff_image_name(n), p.width, p.height)),
            fallback: None,
            fallback_baseline: None,
            fallback_diff: None,
            regions: pv.map(|v| v.regions.clone()).unwrap_or_default(),
            note: pv.map(page_note).unwrap_or_else(|| if base.is_none() { "new page".into() } else { String::new() }),
        });
    }
    Item {
        anchor: format!("candidate-{t}-{f}"),
        title: key.to_string(),
        subtitle: summary
            .manifest
            .as_ref()
            .map(|m| format!("candidate by {} at {}", m.created_by, m.created_at.format("%Y-%m-%d %H:%M UTC")))
            .unwrap_or_default(),
        changes,
        pages,
        printed: "Candidate",
        decide_url: format!("/v1/review/candidates/{t}/{f}"),
        actions: [("approve", "Approve"), ("reject", "Reject")],
        links: Vec::new(),
    }
}

/// The item for a held job, from its verdict and artifacts (`chromium-NNN.png`,
/// `baseline-NNN.png`, `diff-NNN.png`, `fallback-NNN.png`, `verdict.json`, `held.pdf`).
pub fn job_item(job: &HeldJob) -> Item {
    let id = job.record.id;
    let verdict = job.verdict.as_ref();
    let pixels: Option<&Verdict> = verdict.and_then(|v| v.pixels.as_ref());
    let mut changes: Vec<String> = Vec::new();
    let mut say = |text: String| {
        if !changes.contains(&text) {
            changes.push(text);
        }
    };
    // Each engine's failed rules; a verdict without attempts has only its reasons.
    let attempts = verdict.map(|v| v.attempts.as_slice()).unwrap_or_default();
    crate::rules::failed_rules(attempts).into_iter().for_each(&mut say);
    if attempts.is_empty() {
        verdict.into_iter().flat_map(|v| v.reasons.iter().cloned()).for_each(&mut say);
    }
    pixels.into_iter().flat_map(|v| v.reasons.iter().map(ToString::to_string)).for_each(&mut say);
    if let Some(v) = pixels.filter(|v| v.baseline_pages != v.candidate_pages) {
        say(format!("{} → {} pages", v.baseline_pages, v.candidate_pages));
    }
    if let Some(error) = &job.record.error {
        say(error.clone());
    }
    let image = |name: &str| {
        let (width, height) = job.sizes.get(name).copied()?;
        Some(Embedded { src: format!("/review/files/jobs/{id}/{name}"), width, height })
    };
    let pages = (1..=job.pages())
        .map(|n| {
            let pv = pixels.and_then(|v| v.pages.iter().find(|pv| pv.page == n));
            PageView {
                number: n,
                baseline: image(&page_name(Renderer::Chromium, PageImage::Baseline, n)),
                printed: image(&page_name(Renderer::Chromium, PageImage::Printed, n))
                    .or_else(|| image(&legacy_chromium_page_name(n))),
                diff: image(&page_name(Renderer::Chromium, PageImage::Diff, n)),
                fallback: image(&page_name(Renderer::Fallback, PageImage::Printed, n)),
                fallback_baseline: image(&page_name(Renderer::Fallback, PageImage::Baseline, n)),
                fallback_diff: image(&page_name(Renderer::Fallback, PageImage::Diff, n)),
                regions: pv.map(|v| v.regions.clone()).unwrap_or_default(),
                note: pv.map(page_note).unwrap_or_default(),
            }
        })
        .collect();
    let links = job
        .artifacts
        .iter()
        .filter(|a| a.ends_with(".pdf") || a.ends_with(".json"))
        .map(|a| (format!("/review/files/jobs/{id}/{a}"), a.clone()))
        .collect();
    let template = job.record.request.request().and_then(|r| r.template.as_deref()).unwrap_or("HTML document");
    Item {
        anchor: format!("job-{id}"),
        title: format!("Job {id}"),
        subtitle: format!(
            "{template} · submitted by {} · {} · held since {}",
            job.record.submitter.as_deref().unwrap_or("(unknown: before jobs had owners)"),
            printed_by(job),
            job.record.updated_at.format("%Y-%m-%d %H:%M UTC")
        ),
        changes,
        pages,
        printed: "Chromium",
        decide_url: format!("/v1/review/jobs/{id}"),
        actions: [("release", "Release"), ("reject", "Reject")],
        links,
    }
}

/// Which engine printed what the page shows: the Chromium column is Chromium's attempt, the
/// fallback column the fallback's.
fn printed_by(job: &HeldJob) -> String {
    let attempts = job.verdict.as_ref().map(|v| v.attempts.as_slice()).unwrap_or_default();
    let by = |engine| attempts.iter().find(|a| a.engine == engine).map(|a| a.renderer_version.as_str());
    match (by(Renderer::Chromium), by(Renderer::Fallback)) {
        (Some(c), Some(f)) => format!("printed by {c}, fallback by {f}"),
        (Some(c), None) => format!("printed by {c}"),
        (None, Some(f)) => format!("fallback by {f}"),
        (None, None) => format!("renderer {}", job.record.renderer_version.as_deref().unwrap_or("?")),
    }
}

fn page_note(v: &crate::compare::verdict::PageVerdict) -> String {
    let mut parts = vec![format!("{} pixels changed ({})", v.diff_pixels, percent(v.ratio))];
    if v.text_changed {
        parts.push("text changed".into());
    }
    if v.size_changed {
        parts.push("size changed".into());
    }
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{JobId, JobRecord, JobState};

    /// A held job whose verdict is `verdict` as stored (read the way records are read).
    fn held(verdict: serde_json::Value) -> HeldJob {
        let mut record = JobRecord::new(JobId::new(), serde_json::json!({"template": "invoice"}), None);
        for (state, n) in [(JobState::Rendering, None), (JobState::Verifying, None), (JobState::Held, Some("held"))] {
            record.transition(state, n).expect("a legal move");
        }
        record.renderer_version = Some("WeasyPrint 57.2".into());
        let verdict = serde_json::from_value(verdict).expect("a stored verdict");
        HeldJob { record, artifacts: Vec::new(), verdict: Some(verdict), sizes: Default::default() }
    }

    /// An attempt as stored before attempts named their engine.
    fn attempt(renderer: &str, detail: &str) -> serde_json::Value {
        serde_json::json!({"renderer": renderer, "pages": 12, "passed": false,
            "rules": [{"rule": "page-count", "passed": false, "detail": detail}]})
    }

    #[test]
    fn a_held_job_names_both_engines_and_each_reason_once() {
        let detail = "12 pages; the template declares 1 to 10";
        let verdict = serde_json::json!({
            "reasons": [format!("page-count: {detail}")],
            "attempts": [attempt("HeadlessChrome/156.0.8078.114", detail), attempt("WeasyPrint 57.2", detail)],
        });
        let item = job_item(&held(verdict));
        assert_eq!(
            item.changes,
            [format!("chromium: page-count: {detail}"), format!("fallback: page-count: {detail}")],
            "{:?}",
            item.changes
        );
        assert!(
            item.subtitle.contains("printed by HeadlessChrome/156.0.8078.114, fallback by WeasyPrint 57.2"),
            "{}",
            item.subtitle
        );
        // Routed to the fallback alone: its column, and its reasons say it was the fallback.
        let item = job_item(&held(serde_json::json!({"attempts": [attempt("WeasyPrint 57.2", detail)]})));
        assert!(item.subtitle.contains("fallback by WeasyPrint 57.2"), "{}", item.subtitle);
        assert_eq!(item.changes, [format!("fallback: page-count: {detail}")]);
    }

    #[tokio::test]
    async fn every_field_of_a_held_job_and_a_candidate_is_escaped() {
        use crate::ui::hostile::{assert_only_escaped, payload};
        let verdict = serde_json::json!({
            "reasons": [payload("reason")],
            "attempts": [
                {"engine": "chromium", "renderer": payload("first-engine"), "passed": false,
                 "rules": [{"rule": "fonts", "passed": false, "detail": payload("reason")}]},
                {"engine": "fallback", "renderer": payload("second-engine")},
            ],
            "pixels": {
                "passed": false, "baseline_pages": 1, "candidate_pages": 1, "reasons": [payload("pixels")],
                "pages": [{"page": 1, "diff_pixels": 5, "total_pixels": 100, "ratio": 0.05, "regions": [],
                           "text_changed": true, "size_changed": false, "passed": false}],
            },
        });
        let mut job = held(verdict);
        job.record.request = serde_json::json!({"template": payload("template")}).into();
        job.record.submitter = Some(payload("submitter"));
        job.record.error = Some(payload("error"));
        let artifact = format!("{}.json", payload("artifact"));
        job.artifacts = vec!["chromium-001.png".into(), artifact];
        job.sizes.insert("chromium-001.png".into(), (100, 140));
        // Without attempts, the page names the record's renderer.
        let mut older = held(serde_json::json!({"reasons": [payload("older-reason")]}));
        older.record.renderer_version = Some(payload("renderer"));
        let unreadable = CandidateSummary {
            key: crate::baseline::Key::parse("invoice/basic").expect("a valid key"),
            manifest: None,
            verdict: None,
            problem: Some(payload("problem")),
        };
        let store = baseline::Store::new("/nonexistent/pixelproof-baselines");
        let item = candidate_item(&store, &unreadable).await;

        let html = render(&[job_item(&job), job_item(&older)], &[item]).expect("the page renders");
        assert_only_escaped(
            &html,
            &[
                "reason",
                "first-engine",
                "second-engine",
                "pixels",
                "older-reason",
                "template",
                "submitter",
                "error",
                "artifact",
                "renderer",
                "problem",
            ],
        );
    }
}
