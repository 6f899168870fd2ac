//! The HTML of the operators' pages, the check report (`report`) and the review page
//! (`review`), as minijinja templates with autoescape, and the pieces both pages share: the
//! figure (an image, its caption and its changed regions), the overlay slider, the lightbox,
//! the CSS and the script.
//!
//! Why templates: both pages show strings a hostile document controls (blocked URLs, text
//! layers, reasons, font names). Built with `write!`, every value needed its own escape
//! call and one forgotten call was stored XSS. Here the engine escapes every `{{ value }}`;
//! only the compile-time CSS and scripts are marked safe, by this module, never by a template.
//!
//! The templates (`templates/*.html`) are compiled into the binary (`include_str!`). This is
//! a lower layer: it knows plain view structs, not check runs, jobs or candidates; callers
//! (`check::html`, `review::page`) turn their types into views.

pub mod report;
pub mod review;

use std::fmt;
use std::sync::OnceLock;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, Output, State};
use serde::Serialize;

use crate::compare::regions::Region;

/// The templates, by name; `figure.html` holds the macros both pages import.
const TEMPLATES: [(&str, &str); 3] = [
    ("figure.html", include_str!("templates/figure.html")),
    ("report.html", include_str!("templates/report.html")),
    ("review.html", include_str!("templates/review.html")),
];

/// Why a page could not be rendered: a template does not fit its view (a bug, caught by
/// the tests of `report` and `review`).
#[derive(Debug, thiserror::Error)]
#[error("could not render the {page} page from its template: {detail}")]
pub struct UiError {
    pub page: &'static str,
    pub detail: String,
}

/// Renders the template `name` with `view`.
fn render(name: &'static str, view: impl Serialize) -> Result<String, UiError> {
    let error = |e: &dyn fmt::Display| UiError { page: name, detail: e.to_string() };
    let env = environment().as_ref().map_err(|e| error(e))?;
    let template = env.get_template(name).map_err(|e| error(&e))?;
    template.render(view).map_err(|e| error(&e))
}

/// The one environment, built on first use: every template autoescaped as HTML by
/// [`formatter`], undefined values are errors, block tags leave no blank lines.
fn environment() -> &'static Result<Environment<'static>, String> {
    static ENV: OnceLock<Result<Environment<'static>, String>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_formatter(formatter);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).map_err(|e| format!("template {name} does not compile: {e}"))?;
        }
        // Compile-time constants, inlined as they are: the only values marked safe.
        for (name, text) in
            [("CSS", CSS), ("REPORT_SCRIPT", JS), ("REVIEW_CSS", review::CSS), ("REVIEW_SCRIPT", review::script())]
        {
            env.add_global(name, Value::from_safe_string(text.to_string()));
        }
        Ok(env)
    })
}

/// Writes every value HTML-escaped unless it was marked safe (the CSS and script above,
/// macro output), whatever a template's `autoescape` block says: escaping fails closed.
///
/// Escapes as minijinja's HTML mode does, except that `/` is left alone (it needs no
/// escape in text or a quoted attribute, and the report's base64 `data:` URIs would grow by
/// a tenth) and characters a PDF text layer may hold but HTML may not (NUL, form feed…)
/// become U+FFFD, as the hand-built pages did.
fn formatter(out: &mut Output, _state: &State, value: &Value) -> Result<(), minijinja::Error> {
    let written = if value.is_safe() {
        write!(out, "{value}")
    } else if let Some(text) = value.as_str() {
        escape_html(out, text)
    } else {
        escape_html(out, &value.to_string())
    };
    written.map_err(|e| minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string()))
}

fn escape_html(out: &mut impl fmt::Write, text: &str) -> fmt::Result {
    let mut rest = text;
    while let Some(at) = rest.find(|c: char| matches!(c, '&' | '<' | '>' | '"' | '\'') || forbidden(c)) {
        out.write_str(&rest[..at])?;
        let c = rest[at..].chars().next().unwrap_or('\u{FFFD}');
        out.write_str(match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&apos;",
            _ => "\u{FFFD}",
        })?;
        rest = &rest[at + c.len_utf8()..];
    }
    out.write_str(rest)
}

/// Control characters other than tab and line breaks, and the noncharacters U+FFFE/U+FFFF.
fn forbidden(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{FFFE}' || c == '\u{FFFF}'
}

/// The base64 SHA-256 of an inline script, as `Content-Security-Policy` names it
/// (`'sha256-…'`).
fn sha256_base64(script: &str) -> String {
    use base64::Engine as _;
    use sha2::Digest as _;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script.as_bytes()))
}

/// An image on a page: a `data:` URI in the self-contained report, a URL on the review page.
#[derive(Debug, Clone, Serialize)]
pub struct Embedded {
    /// The image's `src`.
    pub src: String,
    /// Size of the full page in pixels (the embedded image may be downscaled).
    pub width: u32,
    pub height: u32,
}

/// Element ids for images, unique within one page, given in the order the page shows them.
#[derive(Debug, Default)]
pub struct Ids(usize);

impl Ids {
    pub fn next_id(&mut self) -> String {
        self.0 += 1;
        format!("i{}", self.0)
    }
}

/// One image with its caption (Baseline, Candidate, Diff…), or a note where it is missing.
#[derive(Debug, Clone, Serialize)]
pub struct Figure {
    pub caption: String,
    /// Shown instead of the image when there is none.
    pub missing: String,
    pub image: Option<FigureImage>,
}

/// The image of a [`Figure`], with its id and the changed regions outlined over it.
#[derive(Debug, Clone, Serialize)]
pub struct FigureImage {
    pub id: String,
    pub src: String,
    pub width: u32,
    pub height: u32,
    pub regions: Vec<RegionBox>,
}

/// A changed region, in percent of the page (two decimals) and its changed pixels.
#[derive(Debug, Clone, Serialize)]
pub struct RegionBox {
    pub left: String,
    pub top: String,
    pub width: String,
    pub height: String,
    pub pixels: u64,
}

/// Regions outlined on one image at most.
const MAX_REGIONS: usize = 100;

impl Figure {
    /// A figure for `image` (taking the next id), or for `missing` when there is none.
    pub fn new(caption: &str, image: Option<&Embedded>, missing: &str, regions: &[Region], ids: &mut Ids) -> Figure {
        let image = image.map(|image| {
            let pct = |v: u32, of: u32| format!("{:.2}", v as f64 * 100.0 / of.max(1) as f64);
            let regions = regions
                .iter()
                .take(MAX_REGIONS)
                .map(|r| RegionBox {
                    left: pct(r.x, image.width),
                    top: pct(r.y, image.height),
                    width: pct(r.width.max(1), image.width),
                    height: pct(r.height.max(1), image.height),
                    pixels: r.pixels,
                })
                .collect();
            FigureImage { id: ids.next_id(), src: image.src.clone(), width: image.width, height: image.height, regions }
        });
        Figure { caption: caption.to_string(), missing: missing.to_string(), image }
    }

    fn id(&self) -> Option<&str> {
        self.image.as_ref().map(|i| i.id.as_str())
    }
}

/// The overlay slider of page `page`: the candidate image over the baseline image, by id.
#[derive(Debug, Clone, Serialize)]
pub struct Overlay {
    pub baseline: String,
    /// The image slid over the baseline: a candidate's page, or a held job's printed page.
    pub candidate: String,
    /// What that image is, as its figure's caption says it (lower case): `candidate`, `chromium`.
    pub label: String,
    pub page: usize,
}

impl Overlay {
    /// The slider between two figures, when both have an image.
    pub fn between(baseline: &Figure, candidate: &Figure, page: usize) -> Option<Overlay> {
        Some(Overlay {
            baseline: baseline.id()?.to_string(),
            candidate: candidate.id()?.to_string(),
            label: candidate.caption.to_lowercase(),
            page,
        })
    }
}

/// The pages' shared style (the review page adds its own after it).
const CSS: &str = r#"
:root { --pass:#1a7f37; --fail:#cf222e; --error:#9a3412; --candidate:#0969da; --ink:#1f2328; --muted:#59636e;
  --line:#d1d9e0; --bg:#f6f8fa; --card:#fff; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color:var(--ink); background:var(--bg); }
header.top { background:var(--card); border-bottom:1px solid var(--line); padding:16px 24px; position:sticky; top:0; z-index:5; }
.title { display:flex; align-items:baseline; gap:16px; flex-wrap:wrap; }
.brand { font-weight:700; font-size:18px; }
.headline { font-weight:600; font-size:18px; }
.headline.pass { color:var(--pass); } .headline.fail { color:var(--fail); }
.headline.error { color:var(--error); } .headline.candidate { color:var(--candidate); }
.counts { margin-top:8px; display:flex; gap:8px; flex-wrap:wrap; }
.chip { border-radius:999px; padding:2px 10px; font-weight:600; font-size:12px; color:#fff; }
.chip.pass, .badge.pass { background:var(--pass); } .chip.fail, .badge.fail { background:var(--fail); }
.chip.error, .badge.error { background:var(--error); } .chip.candidate, .badge.candidate { background:var(--candidate); }
.chip.zero { background:var(--line); color:var(--muted); }
dl.env { display:flex; flex-wrap:wrap; gap:4px 20px; margin:10px 0 0; font-size:12px; color:var(--muted); }
dl.env div, dl.meta div { display:flex; gap:6px; } dt { font-weight:600; } dd { margin:0; }
nav.toc { display:flex; flex-wrap:wrap; gap:6px; padding:12px 24px; background:var(--card); border-bottom:1px solid var(--line); }
nav.toc a { text-decoration:none; color:var(--ink); border:1px solid var(--line); border-radius:6px; padding:2px 8px; font-size:12px; }
nav.toc a b { font-size:10px; margin-right:4px; } nav.toc a.pass b { color:var(--pass); } nav.toc a.fail b { color:var(--fail); }
nav.toc a.error b { color:var(--error); } nav.toc a.candidate b { color:var(--candidate); }
main { padding:8px 24px 40px; max-width:1600px; margin:0 auto; }
h2.group { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted); margin:24px 0 8px; }
.fixture { background:var(--card); border:1px solid var(--line); border-left:4px solid var(--line); border-radius:8px;
  padding:12px 18px; margin:12px 0; scroll-margin-top:140px; }
.fixture.fail { border-left-color:var(--fail); } .fixture.error { border-left-color:var(--error); }
.fixture.candidate { border-left-color:var(--candidate); } .fixture.pass { border-left-color:var(--pass); }
.fixture h2 { font-size:17px; margin:4px 0 8px; } .fixture small, h3 span, figcaption small { color:var(--muted); font-weight:400; }
details.fixture > summary { cursor:pointer; font-weight:600; font-size:15px; }
.badge { color:#fff; font-size:11px; font-weight:700; border-radius:4px; padding:2px 6px; vertical-align:2px; }
ul.reasons { margin:6px 0; padding-left:20px; color:var(--fail); font-weight:500; }
.fixture.candidate ul.reasons { color:var(--candidate); } .fixture.error ul.reasons { color:var(--error); }
ul.notes { margin:6px 0; padding-left:20px; color:var(--muted); }
dl.meta { display:grid; gap:2px; font-size:12px; color:var(--muted); margin:8px 0; }
table { border-collapse:collapse; margin:4px 0 10px; font-size:13px; } th, td { border:1px solid var(--line); padding:3px 8px; text-align:left; }
td.url { font-family:ui-monospace, monospace; word-break:break-all; }
h4 { margin:12px 0 4px; font-size:13px; }
.page { border-top:1px solid var(--line); margin-top:14px; padding-top:10px; scroll-margin-top:140px; }
.page h3 { font-size:15px; margin:0 0 8px; } .page h3 span { margin-left:8px; font-size:13px; }
.trio { display:grid; grid-template-columns:repeat(3, minmax(0, 1fr)); gap:12px; }
figure { margin:0; } figcaption { font-size:12px; font-weight:600; margin-bottom:4px; }
.frame { position:relative; border:1px solid var(--line); background:#fff; line-height:0; }
.frame img, .thumb img { width:100%; height:auto; display:block; cursor:zoom-in; }
.region { position:absolute; outline:2px solid rgba(207,34,46,.9); outline-offset:1px; pointer-events:none; }
.none { border:1px dashed var(--line); color:var(--muted); padding:40px 8px; text-align:center; }
.compare { margin:14px auto 0; max-width:900px; }
.compare-head { display:flex; align-items:center; gap:10px; font-size:12px; color:var(--muted); }
.compare-head input { flex:1; }
.stack { position:relative; border:1px solid var(--line); background:#fff; line-height:0; --pos:50%; }
.stack img { width:100%; height:auto; display:block; }
.stack img.over { position:absolute; inset:0; clip-path:inset(0 0 0 var(--pos)); }
.divider { position:absolute; top:0; bottom:0; left:var(--pos); width:2px; background:var(--candidate); pointer-events:none; }
pre.textdiff { background:var(--bg); border:1px solid var(--line); padding:8px; font-size:12px; overflow:auto; max-height:300px; }
pre.textdiff .add { color:var(--pass); } pre.textdiff .del { color:var(--fail); }
p.files { font-size:12px; color:var(--muted); }
.thumbs { display:flex; flex-wrap:wrap; gap:14px; margin-top:10px; }
.thumb { border:1px solid var(--line); border-radius:6px; padding:6px; background:var(--bg); }
.thumb-head { font-size:12px; font-weight:600; margin-bottom:4px; }
.thumb-row { display:flex; gap:6px; } .thumb figure { width:180px; } .thumb img { border:1px solid var(--line); background:#fff; }
details.others { margin-top:12px; } details.others > summary { cursor:pointer; color:var(--muted); }
footer { text-align:center; color:var(--muted); font-size:12px; padding:20px; }
#lightbox { position:fixed; inset:0; background:rgba(0,0,0,.82); z-index:10; overflow:auto; text-align:center; cursor:zoom-out; }
#lightbox img { margin:24px auto 4px; background:#fff; max-width:none; }
#lightbox p { color:#ddd; font-size:12px; }
#lightbox[hidden] { display:none; }
"#;

/// The pages' shared script: fills the overlay's images, moves its divider, opens the
/// lightbox. The review page appends its own after it.
const JS: &str = r#"
for (const img of document.querySelectorAll('img[data-from]')) {
  const from = document.getElementById(img.dataset.from);
  if (from) img.src = from.src;
}
for (const range of document.querySelectorAll('input.slide')) {
  const stack = range.closest('.compare').querySelector('.stack');
  const update = () => stack.style.setProperty('--pos', range.value + '%');
  range.addEventListener('input', update);
  update();
}
const box = document.getElementById('lightbox');
const big = box.querySelector('img');
document.addEventListener('click', (e) => {
  const img = e.target.closest('img.zoom');
  if (img) { big.src = img.src; box.hidden = false; }
  else if (e.target.closest('#lightbox')) { box.hidden = true; }
});
document.addEventListener('keydown', (e) => { if (e.key === 'Escape') box.hidden = true; });
"#;

/// For the pages' tests: a payload that breaks out of text (`<script>`) or of a quoted
/// attribute (`" onmouseover=`), and checks that a page shows it only escaped.
#[cfg(test)]
pub(crate) mod hostile {
    /// The payload, after `label` so each field's copy can be found.
    pub fn payload(label: &str) -> String {
        format!("{label}:<script>alert(1)</script>\" onmouseover=\"x'")
    }

    /// Panics if `html` holds the payload unescaped anywhere, or lacks the escaped payload
    /// of one of `labels` (a field that was dropped cannot pass for one that was escaped).
    pub fn assert_only_escaped(html: &str, labels: &[&str]) {
        for raw in ["<script>alert", "\" onmouseover="] {
            assert!(!html.contains(raw), "{raw:?} is in the page unescaped");
        }
        let missing: Vec<&&str> = labels
            .iter()
            .filter(|label| {
                !html
                    .contains(&format!("{label}:&lt;script&gt;alert(1)&lt;/script&gt;&quot; onmouseover=&quot;x&apos;"))
            })
            .collect();
        assert!(missing.is_empty(), "the page does not show these fields escaped: {missing:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_unless_marked_safe_and_controls_are_replaced() {
        let mut out = String::new();
        escape_html(&mut out, "<a href=\"x\">Tom & 'Jerry'</a> a/b\u{c}\u{0}\t\n").expect("a String takes it");
        assert_eq!(out, "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt; a/b\u{FFFD}\u{FFFD}\t\n");

        let env = environment().as_ref().expect("the templates compile");
        let render = |source: &str| env.render_str(source, minijinja::context! { v => "<b>\"'" }).expect("renders");
        assert_eq!(render("{{ v }}"), "&lt;b&gt;&quot;&apos;");
        // Escaping fails closed: a template cannot turn it off.
        assert_eq!(render("{% autoescape false %}{{ v }}{% endautoescape %}"), "&lt;b&gt;&quot;&apos;");
        // What a template marks safe is not escaped: the pages' tests would catch it.
        assert_eq!(render("{{ v|safe }}"), "<b>\"'");
    }

    #[test]
    fn figures_give_ids_in_order_and_outline_regions_in_percent() {
        let mut ids = Ids::default();
        let image = Embedded { src: "data:image/png;base64,ab/c+".into(), width: 200, height: 400 };
        let region = Region { x: 10, y: 20, width: 0, height: 40, pixels: 7 };
        let b = Figure::new("Baseline", Some(&image), "none", &[region], &mut ids);
        let missing = Figure::new("Diff", None, "no diff", &[], &mut ids);
        let c = Figure::new("Candidate", Some(&image), "none", &[], &mut ids);
        let boxes = &b.image.as_ref().expect("an image").regions;
        assert_eq!((boxes[0].left.as_str(), boxes[0].top.as_str(), boxes[0].width.as_str()), ("5.00", "5.00", "0.50"));
        assert!(Overlay::between(&b, &missing, 1).is_none());
        let o = Overlay::between(&b, &c, 1).expect("both have images");
        assert_eq!((o.baseline.as_str(), o.candidate.as_str()), ("i1", "i2"));
    }
}
