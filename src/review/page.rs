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
use crate::service::artifacts::{page_name, PageImage};

pub use crate::ui::review::{render, script_sha256, Item, PageView};

/// The item for a candidate, reading the baseline's manifest (for its page sizes).
pub fn candidate_item(store: &baseline::Store, summary: &CandidateSummary) -> Item {
    let key = &summary.key;
    let (t, f) = (key.template(), key.fixture());
    let baseline: Option<Manifest> = store.read_manifest(key).ok().flatten();
    let verdict = summary.verdict.as_ref().map(|cv| &cv.verdict);
    let mut changes = vec![summary.change()];
    changes.extend(verdict.map(|v| v.reasons.clone()).unwrap_or_default());
    if let Some(problem) = &summary.problem {
        changes.push(format!("cannot be read: {problem}"));
    }
    let image = |source: &str, name: String, w: u32, h: u32| Embedded {
        src: format!("/review/files/{source}/{t}/{f}/{name}"),
        width: w,
        height: h,
    };
    let pages = summary.manifest.as_ref().map(|m| m.pages.as_slice()).unwrap_or_default();
    let pages = pages
        .iter()
        .map(|p| {
            let n = p.number;
            let base = baseline.as_ref().and_then(|b| b.pages.get(n - 1));
            let pv = verdict.and_then(|v| v.pages.iter().find(|pv| pv.page == n));
            let has_diff =
                store.read_file(baseline::Area::Candidate, key, &diff_image_name(n)).is_ok_and(|f| f.is_some());
            PageView {
                number: n,
                baseline: base.map(|b| image("baselines", page_image_name(n), b.width, b.height)),
                candidate: Some(image("candidates", page_image_name(n), p.width, p.height)),
                diff: has_diff.then(|| image("candidates", diff_image_name(n), p.width, p.height)),
                fallback: None,
                fallback_baseline: None,
                fallback_diff: None,
                regions: pv.map(|v| v.regions.clone()).unwrap_or_default(),
                note: pv
                    .map(page_note)
                    .unwrap_or_else(|| if base.is_none() { "new page".into() } else { String::new() }),
            }
        })
        .collect();
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
        decide_url: format!("/v1/review/candidates/{t}/{f}"),
        actions: [("approve", "Approve"), ("reject", "Reject")],
        links: Vec::new(),
    }
}

/// The item for a held job, from its artifacts (`candidate-NNN.png`, `baseline-NNN.png`,
/// `diff-NNN.png`, `fallback-NNN.png`, `verdict.json`, `held.pdf`).
pub fn job_item(job: &HeldJob) -> Item {
    let id = job.record.id;
    // The job path's verdict.json: `reasons` (every rule) and `pixels` (the pixel verdict).
    let verdict: Option<Verdict> = job
        .verdict
        .as_ref()
        .and_then(|v| ["pixels", "verdict"].iter().find_map(|k| serde_json::from_value(v.get(*k)?.clone()).ok()));
    let mut changes: Vec<String> = Vec::new();
    let pixel_reasons = verdict.iter().flat_map(|v| v.reasons.iter().cloned());
    for reason in reasons_in(job.verdict.as_ref()).into_iter().chain(pixel_reasons) {
        if !changes.contains(&reason) {
            changes.push(reason);
        }
    }
    if let Some(v) = &verdict {
        if v.baseline_pages != v.candidate_pages {
            changes.push(format!("{} → {} pages", v.baseline_pages, v.candidate_pages));
        }
    }
    if let Some(error) = &job.record.error {
        changes.push(error.clone());
    }
    // The move to `held` is noted "held for review: REASON; REASON…": show it only for what
    // the reasons above do not already say.
    if let Some(note) = job.record.history.last().and_then(|t| t.note.clone()) {
        let note = note.strip_prefix("held for review: ").unwrap_or(&note);
        let unsaid = changes.iter().fold(note.to_string(), |rest, c| rest.replace(c.as_str(), ""));
        if !unsaid.trim_matches(|ch: char| ch == ';' || ch.is_whitespace()).is_empty() {
            changes.push(format!("held: {note}"));
        }
    }
    let image = |name: &str| {
        let (width, height) = job.sizes.get(name).copied()?;
        Some(Embedded { src: format!("/review/files/jobs/{id}/{name}"), width, height })
    };
    let pages = (1..=job.pages())
        .map(|n| {
            let pv = verdict.as_ref().and_then(|v| v.pages.iter().find(|pv| pv.page == n));
            PageView {
                number: n,
                baseline: image(&page_name(Renderer::Chromium, PageImage::Baseline, n)),
                candidate: image(&page_name(Renderer::Chromium, PageImage::Printed, n)),
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
    let template = job.record.request.get("template").and_then(|t| t.as_str()).unwrap_or("HTML document");
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
        decide_url: format!("/v1/review/jobs/{id}"),
        actions: [("release", "Release"), ("reject", "Reject")],
        links,
    }
}

/// Which engine printed what the page shows: the candidate column is the first attempt's
/// (Chromium's), the fallback column the second's. From `verdict.json`'s `attempts`.
fn printed_by(job: &HeldJob) -> String {
    let attempts = job.verdict.as_ref().and_then(|v| v.get("attempts")).and_then(|a| a.as_array());
    let renderers: Vec<&str> =
        attempts.into_iter().flatten().filter_map(|a| a.get("renderer").and_then(|r| r.as_str())).collect();
    match renderers.as_slice() {
        [first, second, ..] => format!("candidate by {first}, fallback by {second}"),
        [only] => format!("candidate by {only}"),
        [] => format!("renderer {}", job.record.renderer.as_deref().unwrap_or("?")),
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

/// `reasons` (an array of strings) at the top of a JSON value or under its `verdict`.
fn reasons_in(value: Option<&serde_json::Value>) -> Vec<String> {
    let Some(value) = value else { return Vec::new() };
    let list = value.get("reasons").or_else(|| value.get("verdict")?.get("reasons"));
    list.and_then(|l| l.as_array())
        .map(|l| l.iter().filter_map(|r| r.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::{JobId, JobRecord, JobState};

    fn held(note: &str, verdict: serde_json::Value) -> HeldJob {
        let mut record = JobRecord::new(JobId::new(), serde_json::json!({"template": "invoice"}), None);
        for (state, n) in [(JobState::Rendering, None), (JobState::Verifying, None), (JobState::Held, Some(note))] {
            record.transition(state, n).expect("a legal move");
        }
        record.renderer = Some("WeasyPrint 57.2".into());
        HeldJob { record, artifacts: Vec::new(), verdict: Some(verdict), sizes: Default::default() }
    }

    #[test]
    fn a_held_job_names_both_engines_and_each_reason_once() {
        let verdict = serde_json::json!({
            "reasons": ["chromium: 12 pages; the template allows 1 to 10", "fallback: 12 pages; the template allows 1 to 10"],
            "attempts": [{"renderer": "HeadlessChrome/156.0.8078.114"}, {"renderer": "WeasyPrint 57.2"}],
        });
        let note = "held for review: chromium: 12 pages; the template allows 1 to 10; fallback: 12 pages; the template allows 1 to 10";
        let item = job_item(&held(note, verdict.clone()));
        assert_eq!(item.changes.len(), 2, "{:?}", item.changes);
        assert!(
            item.subtitle.contains("candidate by HeadlessChrome/156.0.8078.114, fallback by WeasyPrint 57.2"),
            "{}",
            item.subtitle
        );
        // A note that says something the reasons do not is kept.
        let item = job_item(&held("differs on both engines", verdict));
        assert!(item.changes.iter().any(|c| c == "held: differs on both engines"), "{:?}", item.changes);
    }

    #[test]
    fn every_field_of_a_held_job_and_a_candidate_is_escaped() {
        use crate::ui::hostile::{assert_only_escaped, payload};
        let verdict = serde_json::json!({
            "reasons": [payload("reason")],
            "attempts": [{"renderer": payload("first-engine")}, {"renderer": payload("second-engine")}],
            "pixels": {
                "passed": false, "baseline_pages": 1, "candidate_pages": 1, "reasons": [payload("pixels")],
                "pages": [{"page": 1, "diff_pixels": 5, "total_pixels": 100, "ratio": 0.05, "regions": [],
                           "text_changed": true, "size_changed": false, "passed": false}],
            },
        });
        let mut job = held(&format!("held for review: {}", payload("note")), verdict);
        job.record.request = serde_json::json!({"template": payload("template")});
        job.record.submitter = Some(payload("submitter"));
        job.record.error = Some(payload("error"));
        let artifact = format!("{}.json", payload("artifact"));
        job.artifacts = vec!["candidate-001.png".into(), artifact];
        job.sizes.insert("candidate-001.png".into(), (100, 140));
        // Without attempts, the page names the record's renderer.
        let mut older = held("held for review: differs", serde_json::json!({"reasons": ["differs"]}));
        older.record.renderer = Some(payload("renderer"));
        let unreadable = CandidateSummary {
            key: crate::baseline::Key::parse("invoice/basic").expect("a valid key"),
            manifest: None,
            verdict: None,
            problem: Some(payload("problem")),
        };
        let store = baseline::Store::open(std::path::Path::new("/nonexistent/pixelproof-baselines"))
            .expect("a directory store opens without reading");

        let html = render(&[job_item(&job), job_item(&older)], &[candidate_item(&store, &unreadable)])
            .expect("the page renders");
        assert_only_escaped(
            &html,
            &[
                "reason",
                "first-engine",
                "second-engine",
                "pixels",
                "note",
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
