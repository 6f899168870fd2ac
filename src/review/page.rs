//! `GET /review`: the operator's page. Held jobs and baseline candidates, each page with
//! baseline / candidate / diff side by side and the overlay slider (the check report's own
//! pieces, `check::html`), what changed, a reason field and the decision buttons, which POST
//! to the decision routes and show the answer in place. Images are URLs under
//! `/review/files/…` (see `files`), never copied into the page.

use std::fmt::Write;

use crate::baseline::{self, diff_image_name, page_image_name, CandidateSummary, Manifest};
use crate::check::html::{figure, overlay, Ids, CSS, JS, LIGHTBOX};
use crate::check::percent;
use crate::check::report::Embedded;
use crate::check::xml::escape as esc;
use crate::compare::regions::Region;
use crate::compare::verdict::Verdict;

use super::HeldJob;
use crate::routing::Renderer;
use crate::service::artifacts::{page_name, PageImage};

/// One page of an item: its three images and the changed regions.
#[derive(Debug, Clone, Default)]
pub struct PageView {
    pub number: usize,
    pub baseline: Option<Embedded>,
    pub candidate: Option<Embedded>,
    pub diff: Option<Embedded>,
    /// A held job's page as the fallback renderer printed it.
    pub fallback: Option<Embedded>,
    /// The fallback baseline's page and its diff, when the fallback's pixels were compared.
    pub fallback_baseline: Option<Embedded>,
    pub fallback_diff: Option<Embedded>,
    pub regions: Vec<Region>,
    pub note: String,
}

/// One thing waiting for a decision.
#[derive(Debug, Clone)]
pub struct Item {
    /// The element id (`job-ID` or `candidate-TEMPLATE-FIXTURE`).
    pub anchor: String,
    pub title: String,
    pub subtitle: String,
    /// What changed, one line each.
    pub changes: Vec<String>,
    pub pages: Vec<PageView>,
    /// The decision route without its last segment (`/v1/review/jobs/ID`).
    pub decide_url: String,
    /// `(last segment, button label)`: approve/reject or release/reject.
    pub actions: [(&'static str, &'static str); 2],
    /// Links shown under the item (the held PDF, the verdict).
    pub links: Vec<(String, String)>,
}

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

/// The whole page.
pub fn render(jobs: &[Item], candidates: &[Item]) -> String {
    let mut ids = Ids::default();
    let mut html = String::with_capacity(64 * 1024);
    let waiting = jobs.len() + candidates.len();
    let (class, headline) = if waiting == 0 {
        ("pass", "nothing waits for review".to_string())
    } else {
        ("candidate", format!("{} held job(s), {} candidate(s) waiting for review", jobs.len(), candidates.len()))
    };
    let _ = write!(
        html,
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pixelproof review</title><style>{CSS}{REVIEW_CSS}</style></head>
<body><header class="top"><div class="title"><span class="brand">pixelproof review</span><span class="headline {class}" id="headline">{headline}</span></div>
<p class="hint">Decisions are recorded with your token's name and the reason you give (<a href="/v1/audit">audit log</a>).</p></header>
<main>
"#
    );
    for (title, items, empty) in
        [("Held jobs", jobs, "No held jobs."), ("Baseline candidates", candidates, "No candidates.")]
    {
        let _ = writeln!(html, "<h2 class=\"group\">{title}</h2>");
        if items.is_empty() {
            let _ = writeln!(html, "<p class=\"empty\">{empty}</p>");
        }
        for item in items {
            item_section(&mut html, item, &mut ids);
        }
    }
    let _ = write!(html, "</main>\n{LIGHTBOX}\n<script>{}</script>\n</body></html>\n", script());
    html
}

/// The page's one script (the check report's, then the decisions'): the CSP allows it by hash.
fn script() -> String {
    format!("{JS}{DECIDE_JS}")
}

/// The base64 SHA-256 of [`script`], as `Content-Security-Policy` names it (`'sha256-…'`).
pub fn script_sha256() -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script().as_bytes())))
        .clone()
}

fn item_section(html: &mut String, item: &Item, ids: &mut Ids) {
    let _ = write!(
        html,
        r#"<section class="fixture candidate item" id="{}"><h2>{} <small>{}</small></h2>"#,
        esc(&item.anchor),
        esc(&item.title),
        esc(&item.subtitle)
    );
    let changes: Vec<String> = item.changes.iter().map(|c| format!("<li>{}</li>", esc(c))).collect();
    if !changes.is_empty() {
        let _ = write!(html, "<ul class=\"reasons\">{}</ul>", changes.join(""));
    }
    let _ = write!(
        html,
        r#"<form class="decide" data-url="{}"><input name="reason" type="text" placeholder="Reason (required): why?" aria-label="reason" autocomplete="off">"#,
        esc(&item.decide_url)
    );
    for (action, label) in item.actions {
        let _ = write!(html, r#"<button type="button" data-action="{action}" class="{action}">{label}</button>"#);
    }
    html.push_str("<output class=\"result\" aria-live=\"polite\"></output></form>\n");
    for page in &item.pages {
        let n = page.number;
        let _ =
            write!(html, r#"<div class="page"><h3>Page {n} <span>{}</span></h3><div class="trio">"#, esc(&page.note));
        let b = figure(html, "Baseline", page.baseline.as_ref(), "no baseline page", None, ids);
        let c = figure(html, "Candidate", page.candidate.as_ref(), "no candidate page", None, ids);
        figure(html, "Diff", page.diff.as_ref(), "no diff", Some(&page.regions), ids);
        if page.fallback.is_some() {
            figure(html, "Fallback renderer", page.fallback.as_ref(), "", None, ids);
        }
        if page.fallback_baseline.is_some() {
            figure(html, "Fallback baseline", page.fallback_baseline.as_ref(), "", None, ids);
            figure(html, "Fallback diff", page.fallback_diff.as_ref(), "no diff", None, ids);
        }
        html.push_str("</div>\n");
        if let (Some(b), Some(c)) = (b, c) {
            overlay(html, &b, &c, n);
        }
        html.push_str("</div>\n");
    }
    if !item.links.is_empty() {
        let links: Vec<String> =
            item.links.iter().map(|(href, text)| format!("<a href=\"{}\">{}</a>", esc(href), esc(text))).collect();
        let _ = write!(html, "<p class=\"files\">Files: {}</p>", links.join(" · "));
    }
    html.push_str("</section>\n");
}

const REVIEW_CSS: &str = r#"
.hint { margin:6px 0 0; font-size:12px; color:var(--muted); }
p.empty { color:var(--muted); }
form.decide { display:flex; flex-wrap:wrap; gap:8px; align-items:center; margin:8px 0; }
form.decide input { flex:1; min-width:240px; padding:5px 8px; border:1px solid var(--line); border-radius:6px; font:inherit; }
form.decide button { padding:5px 14px; border-radius:6px; border:1px solid var(--line); font-weight:600; cursor:pointer; color:#fff; }
form.decide button.approve, form.decide button.release { background:var(--pass); }
form.decide button.reject { background:var(--fail); }
form.decide button:disabled { opacity:.5; cursor:default; }
output.result { flex-basis:100%; font-weight:600; }
output.result.ok { color:var(--pass); } output.result.error { color:var(--fail); }
section.decided { opacity:.65; border-left-color:var(--pass); }
"#;

/// Sends a decision with the reason and shows the answer. Fetches go to this origin, so the
/// browser sends the credentials it was given for the page (HTTP Basic) with them.
const DECIDE_JS: &str = r#"
for (const form of document.querySelectorAll('form.decide')) {
  const out = form.querySelector('output.result');
  const buttons = [...form.querySelectorAll('button[data-action]')];
  form.addEventListener('submit', (e) => e.preventDefault());
  for (const button of buttons) {
    button.addEventListener('click', async () => {
      const reason = form.querySelector('input[name=reason]').value.trim();
      if (!reason) { out.className = 'result error'; out.textContent = 'Give a reason first.'; return; }
      buttons.forEach((b) => b.disabled = true);
      out.className = 'result'; out.textContent = 'Sending…';
      try {
        const r = await fetch(location.origin + form.dataset.url + '/' + button.dataset.action, {
          method: 'POST', credentials: 'same-origin',
          headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
          body: JSON.stringify({ reason }),
        });
        const body = await r.json().catch(() => ({}));
        if (r.ok) {
          out.className = 'result ok';
          out.textContent = 'Done: ' + (body.message || button.dataset.action);
          form.closest('section').classList.add('decided');
        } else {
          out.className = 'result error';
          out.textContent = 'Refused (' + r.status + '): ' + (body.detail || body.title || r.statusText);
          buttons.forEach((b) => b.disabled = false);
        }
      } catch (err) {
        out.className = 'result error'; out.textContent = 'Could not send: ' + err;
        buttons.forEach((b) => b.disabled = false);
      }
    });
  }
}
"#;

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
}
