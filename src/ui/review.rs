//! The review page (`GET /review`, `templates/review.html`): held jobs and baseline
//! candidates, each page with its figures and the overlay slider, what changed, a reason
//! field and the decision buttons, which POST to the decision routes and show the answer in
//! place. `review::page` turns held jobs and candidates into [`Item`]s.
//!
//! Its one inline script ([`script`]) is what the page's `Content-Security-Policy` allows by
//! hash ([`script_sha256`]): both come from the same text.

use std::sync::OnceLock;

use serde::Serialize;

use super::{Embedded, Figure, Ids, Overlay, UiError};
use crate::compare::regions::Region;

/// One page of an item: its images and the changed regions.
#[derive(Debug, Clone, Default)]
pub struct PageView {
    pub number: usize,
    pub baseline: Option<Embedded>,
    /// The page compared with the baseline: a candidate's, or the page Chromium printed for a
    /// held job (captioned by [`Item::printed`]).
    pub printed: Option<Embedded>,
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
    /// The caption of [`PageView::printed`]: `Candidate` (a baseline candidate) or `Chromium`
    /// (a held job's page).
    pub printed: &'static str,
    /// The decision route without its last segment (`/v1/review/jobs/ID`).
    pub decide_url: String,
    /// `(last segment, button label)`: approve/reject or release/reject.
    pub actions: [(&'static str, &'static str); 2],
    /// Links shown under the item (the held PDF, the verdict): `(href, text)`.
    pub links: Vec<(String, String)>,
}

/// The whole page: held jobs first, then candidates.
pub fn render(jobs: &[Item], candidates: &[Item]) -> Result<String, UiError> {
    let mut ids = Ids::default();
    let (status, headline) = if jobs.is_empty() && candidates.is_empty() {
        ("pass", "nothing waits for review".to_string())
    } else {
        ("candidate", format!("{} held job(s), {} candidate(s) waiting for review", jobs.len(), candidates.len()))
    };
    let groups = [("Held jobs", jobs, "No held jobs."), ("Baseline candidates", candidates, "No candidates.")]
        .into_iter()
        .map(|(title, items, empty)| GroupView {
            title,
            empty,
            items: items.iter().map(|item| ItemView::new(item, &mut ids)).collect(),
        })
        .collect();
    super::render("review.html", ReviewView { status, headline, groups })
}

#[derive(Serialize)]
struct ReviewView {
    status: &'static str,
    headline: String,
    groups: Vec<GroupView>,
}

#[derive(Serialize)]
struct GroupView {
    title: &'static str,
    /// Shown when there are no items.
    empty: &'static str,
    items: Vec<ItemView>,
}

#[derive(Serialize)]
struct ItemView {
    anchor: String,
    title: String,
    subtitle: String,
    changes: Vec<String>,
    decide_url: String,
    actions: Vec<ActionView>,
    pages: Vec<PageFigures>,
    links: Vec<LinkView>,
}

#[derive(Serialize)]
struct ActionView {
    action: &'static str,
    label: &'static str,
}

#[derive(Serialize)]
struct LinkView {
    href: String,
    text: String,
}

#[derive(Serialize)]
struct PageFigures {
    number: usize,
    note: String,
    figures: Vec<Figure>,
    overlay: Option<Overlay>,
}

impl ItemView {
    fn new(item: &Item, ids: &mut Ids) -> ItemView {
        ItemView {
            anchor: item.anchor.clone(),
            title: item.title.clone(),
            subtitle: item.subtitle.clone(),
            changes: item.changes.clone(),
            decide_url: item.decide_url.clone(),
            actions: item.actions.iter().map(|&(action, label)| ActionView { action, label }).collect(),
            pages: item.pages.iter().map(|page| PageFigures::new(page, item.printed, ids)).collect(),
            links: item.links.iter().map(|(href, text)| LinkView { href: href.clone(), text: text.clone() }).collect(),
        }
    }
}

impl PageFigures {
    /// Baseline, candidate and diff; the fallback's page, and its baseline and diff, when
    /// there are some.
    fn new(page: &PageView, printed: &str, ids: &mut Ids) -> PageFigures {
        let baseline = Figure::new("Baseline", page.baseline.as_ref(), "no baseline page", &[], ids);
        let missing = format!("no {} page", printed.to_lowercase());
        let candidate = Figure::new(printed, page.printed.as_ref(), &missing, &[], ids);
        let overlay = Overlay::between(&baseline, &candidate, page.number);
        let mut figures =
            vec![baseline, candidate, Figure::new("Diff", page.diff.as_ref(), "no diff", &page.regions, ids)];
        if page.fallback.is_some() {
            figures.push(Figure::new("Fallback renderer", page.fallback.as_ref(), "", &[], ids));
        }
        if page.fallback_baseline.is_some() {
            figures.push(Figure::new("Fallback baseline", page.fallback_baseline.as_ref(), "", &[], ids));
            figures.push(Figure::new("Fallback diff", page.fallback_diff.as_ref(), "no diff", &[], ids));
        }
        PageFigures { number: page.number, note: page.note.clone(), figures, overlay }
    }
}

/// The page's one script (the pages' shared one, then the decisions').
pub fn script() -> &'static str {
    static SCRIPT: OnceLock<String> = OnceLock::new();
    SCRIPT.get_or_init(|| format!("{}{DECIDE_JS}", super::JS))
}

/// The base64 SHA-256 of [`script`], as `Content-Security-Policy` names it (`'sha256-…'`).
pub fn script_sha256() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| super::sha256_base64(script()))
}

/// The review page's style, after the pages' shared one.
pub(super) const CSS: &str = r#"
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
    use crate::ui::hostile::{assert_only_escaped, payload};

    #[test]
    fn every_field_of_an_item_is_escaped_and_the_script_is_the_hashed_one() {
        let image = |label: &str| Some(Embedded { src: payload(label), width: 100, height: 140 });
        let item = Item {
            anchor: payload("anchor"),
            title: payload("title"),
            subtitle: payload("subtitle"),
            changes: vec![payload("change")],
            pages: vec![PageView {
                number: 1,
                baseline: image("baseline"),
                printed: image("candidate"),
                diff: image("diff"),
                fallback: image("fallback"),
                fallback_baseline: image("fallback-baseline"),
                fallback_diff: image("fallback-diff"),
                regions: vec![Region { x: 1, y: 2, width: 3, height: 4, pixels: 5 }],
                note: payload("page-note"),
            }],
            printed: "Candidate",
            decide_url: payload("decide"),
            actions: [("approve", "Approve"), ("reject", "Reject")],
            links: vec![(payload("href"), payload("link"))],
        };
        let html = render(std::slice::from_ref(&item), std::slice::from_ref(&item)).expect("the page renders");
        assert_only_escaped(
            &html,
            &[
                "anchor",
                "title",
                "subtitle",
                "change",
                "baseline",
                "candidate",
                "diff",
                "fallback",
                "fallback-baseline",
                "fallback-diff",
                "page-note",
                "decide",
                "href",
                "link",
            ],
        );
        // The Content-Security-Policy allows the page's inline script by this hash.
        let inline = html.split("<script>").nth(1).and_then(|s| s.split("</script>").next()).expect("a script");
        assert_eq!(inline, script());
        assert_eq!(script_sha256(), crate::ui::sha256_base64(inline));
        assert_eq!(html.matches("<script>").count(), 1, "one script, the hashed one");
    }
}
