//! The proof rules: whether a proved *document* may ship, one function per rule, each
//! failure a sentence that names the rule and the numbers. There is one set: `check` judges
//! each fixture with these functions and the service each job ([`verify`] runs them all and
//! returns a [`Checked`]: the rules' results, the pixel *verdict* when a *baseline* was
//! compared, and the diff images for the held artifacts), so a failure reads the same in a
//! report, a job's verdict and the review page.
//!
//! Rules: `blocked-requests` (template documents only; HTML jobs list them, not a failure),
//! `fonts` (`fontcheck`), `page-count` (the template's range and `--max-pages`), `pdf-size`
//! (≤ expected bytes-per-page × pages + 30 %), `pixels` (only when the job names a baseline:
//! against that engine's own baseline, since a Chromium baseline cannot judge the fallback's
//! pixels). The fallback is held to more, because it ships what Chromium's proof did not:
//! `text-layer` (the page count and the text of every page, whitespace ignored, match
//! Chromium's baseline: what does not depend on the engine), `engine-verified` (a template
//! job ships from the fallback only where start-up verification proved the template on it).

use image::RgbaImage;
use serde::{Deserialize, Serialize};

use crate::compare::mask::Masks;
use crate::compare::verdict::{judge_masked, Limits, PageInput, Verdict};
use crate::document::{Document, Origin};
use crate::fontcheck::FontReport;
use crate::pins::Environment;
use crate::pipeline::Proof;
use crate::render::BlockedRequest;
use crate::routing::Renderer;
use crate::template::PageRange;

/// How much bigger than expected a PDF may be (0.30 = 30 %).
pub const SIZE_TOLERANCE: f64 = 0.30;

/// The rules, by the name they have in verdicts, reports and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    BlockedRequests,
    Fonts,
    PageCount,
    PdfSize,
    EngineVerified,
    TextLayer,
    Pixels,
    /// A rule this version does not know, read from a verdict a newer one wrote (in a fleet
    /// sharing one store): kept by its name, so the record still loads.
    Other(String),
}

impl Rule {
    const KNOWN: [Rule; 7] = [
        Rule::BlockedRequests,
        Rule::Fonts,
        Rule::PageCount,
        Rule::PdfSize,
        Rule::EngineVerified,
        Rule::TextLayer,
        Rule::Pixels,
    ];

    pub fn as_str(&self) -> &str {
        match self {
            Rule::BlockedRequests => "blocked-requests",
            Rule::Fonts => "fonts",
            Rule::PageCount => "page-count",
            Rule::PdfSize => "pdf-size",
            Rule::EngineVerified => "engine-verified",
            Rule::TextLayer => "text-layer",
            Rule::Pixels => "pixels",
            Rule::Other(name) => name,
        }
    }

    /// The rule named `name` (`Other` for a name this version does not know).
    pub fn named(name: &str) -> Rule {
        Rule::KNOWN.into_iter().find(|r| r.as_str() == name).unwrap_or_else(|| Rule::Other(name.to_string()))
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Rule, D::Error> {
        Ok(Rule::named(&String::deserialize(deserializer)?))
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleResult {
    pub rule: Rule,
    pub passed: bool,
    /// Why it failed, or what it measured.
    pub detail: String,
}

/// `rule: detail`, the way a failure reads in a verdict, a report and the review page.
impl std::fmt::Display for RuleResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.rule, self.detail)
    }
}

/// The baseline a job is compared with, or why it cannot be.
pub enum BaselineInput<'a> {
    /// The job names no baseline: no pixel rule.
    None,
    /// The job names one and it was loaded.
    Loaded { key: String, baseline: BaselinePages<'a> },
    /// The job names one that could not be used (missing, corrupt).
    Unusable { key: String, why: String },
}

/// An approved baseline as the rules see it: its pages and the environment they were made in.
pub struct BaselinePages<'a> {
    pub pages: Vec<PageInput<'a>>,
    pub environment: &'a Environment,
}

impl BaselineInput<'_> {
    fn loaded(&self) -> Option<(&str, &BaselinePages<'_>)> {
        match self {
            BaselineInput::Loaded { key, baseline } => Some((key, baseline)),
            _ => None,
        }
    }
}

/// What a document is checked against.
pub struct Expectations<'a> {
    /// The template's page range (`None` for HTML jobs).
    pub pages: Option<PageRange>,
    pub max_pages: usize,
    /// Expected bytes per page for this template and renderer (`None`: no size rule).
    pub bytes_per_page: Option<u64>,
    /// The engine that printed the proof.
    pub engine: Renderer,
    /// The job's baseline made by that same engine (the pixel rule).
    pub baseline: BaselineInput<'a>,
    /// For the fallback: Chromium's baseline of the same key, whose page count and text the
    /// fallback's output must match (the `text-layer` rule); `None` for Chromium.
    pub reference: BaselineInput<'a>,
    /// For the fallback and a template job: `Err(why)` when start-up verification did not
    /// prove the template on the fallback here (the `engine-verified` rule).
    pub engine_verified: Option<Result<(), String>>,
    pub environment: &'a Environment,
    /// The pixel rule's limits (the template's over the service's).
    pub limits: &'a Limits,
    /// The template's masks, hidden from the pixel rule (none for HTML jobs); its selector masks
    /// where the proof located them.
    pub masks: &'a [crate::compare::mask::Mask],
}

/// The outcome of every rule for one proof.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Checked {
    pub passed: bool,
    pub rules: Vec<RuleResult>,
    /// The pixel verdict against the baseline, when one was compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pixels: Option<Verdict>,
    /// One diff image per compared page (for held artifacts).
    #[serde(skip)]
    pub diffs: Vec<Option<RgbaImage>>,
}

impl Checked {
    /// The failing rules' details, for the job's error and the fallback note.
    pub fn reasons(&self) -> Vec<String> {
        self.rules.iter().filter(|r| !r.passed).map(RuleResult::to_string).collect()
    }

    /// Changed pixels over all compared pages.
    pub fn changed_pixels(&self) -> Option<u64> {
        self.pixels.as_ref().map(|v| v.pages.iter().map(|p| p.diff_pixels).sum())
    }
}

/// One engine's printed document as a job's verdict shows it: what it printed and how
/// every rule judged it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "AttemptWire")]
pub struct Attempt {
    /// The engine that printed it.
    pub engine: Renderer,
    /// Its version (`HeadlessChrome/…`, `WeasyPrint …`).
    pub renderer_version: String,
    pub pages: usize,
    pub bytes: usize,
    pub blocked_requests: Vec<BlockedRequest>,
    pub fonts: Vec<String>,
    #[serde(flatten)]
    pub checked: Checked,
}

impl Attempt {
    pub fn new(engine: Renderer, renderer_version: &str, proof: &Proof, checked: Checked) -> Attempt {
        Attempt {
            engine,
            renderer_version: renderer_version.to_string(),
            pages: proof.pages.len(),
            bytes: proof.rendered.pdf.len(),
            blocked_requests: proof.rendered.blocked.clone(),
            fonts: proof.fonts.embedded.clone(),
            checked,
        }
    }
}

/// An attempt as stored, before `engine` was (it is then read from the version string).
#[derive(Deserialize)]
struct AttemptWire {
    #[serde(default)]
    engine: Option<Renderer>,
    #[serde(default, alias = "renderer")]
    renderer_version: String,
    #[serde(default)]
    pages: usize,
    #[serde(default)]
    bytes: usize,
    #[serde(default)]
    blocked_requests: Vec<BlockedRequest>,
    #[serde(default)]
    fonts: Vec<String>,
    #[serde(flatten)]
    checked: Checked,
}

impl From<AttemptWire> for Attempt {
    fn from(w: AttemptWire) -> Attempt {
        let engine = w.engine.unwrap_or(if w.renderer_version.starts_with("WeasyPrint") {
            Renderer::Fallback
        } else {
            Renderer::Chromium
        });
        let AttemptWire { renderer_version, pages, bytes, blocked_requests, fonts, checked, .. } = w;
        Attempt { engine, renderer_version, pages, bytes, blocked_requests, fonts, checked }
    }
}

/// Every attempt's failed rules (`rule: detail`), each named by its engine
/// (`fallback: fonts: …`) unless Chromium alone printed: how a held job's reasons are told.
pub fn failed_rules(attempts: &[Attempt]) -> Vec<String> {
    let named = attempts.len() > 1 || attempts.iter().any(|a| a.engine == Renderer::Fallback);
    let reasons = |a: &Attempt| {
        a.checked
            .reasons()
            .into_iter()
            .map(|r| if named { format!("{}: {r}", a.engine) } else { r })
            .collect::<Vec<_>>()
    };
    attempts.iter().flat_map(reasons).collect()
}

/// A job's verdict (`verdict.json`, and the record's `verdict`): the shipped (or held)
/// attempt's numbers first, every attempt below.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobVerdict {
    pub passed: bool,
    /// The last attempt's engine version (stored as `renderer` before 2026-12).
    #[serde(alias = "renderer")]
    pub renderer_version: String,
    pub pages: usize,
    pub bytes: usize,
    /// Changed pixels against the baseline, over all compared pages (the first attempt that compared).
    pub changed_pixels: Option<u64>,
    pub blocked_requests: Vec<BlockedRequest>,
    pub fonts: Vec<String>,
    /// The last attempt's failed rules, `rule: detail`.
    pub reasons: Vec<String>,
    /// The pixel verdict of the first attempt that compared pages.
    pub pixels: Option<Verdict>,
    pub attempts: Vec<Attempt>,
}

impl JobVerdict {
    /// The verdict of a job's attempts (the last one decided).
    pub fn of(attempts: &[Attempt]) -> JobVerdict {
        let Some(last) = attempts.last() else { return JobVerdict::default() };
        JobVerdict {
            passed: last.checked.passed,
            renderer_version: last.renderer_version.clone(),
            pages: last.pages,
            bytes: last.bytes,
            changed_pixels: attempts.iter().find_map(|a| a.checked.changed_pixels()),
            blocked_requests: last.blocked_requests.clone(),
            fonts: last.fonts.clone(),
            reasons: last.checked.reasons(),
            pixels: attempts.iter().find_map(|a| a.checked.pixels.clone()),
            attempts: attempts.to_vec(),
        }
    }

    /// The attempt `engine` made, if it printed.
    pub fn attempt(&self, engine: Renderer) -> Option<&Attempt> {
        self.attempts.iter().find(|a| a.engine == engine)
    }
}

/// Runs every rule on `proof`.
pub fn verify(proof: &Proof, doc: &Document, expect: &Expectations<'_>) -> Checked {
    let mut rules = vec![
        blocked_requests(&proof.rendered.blocked, doc.origin),
        fonts(&proof.fonts),
        page_count(proof.pages.len(), expect.pages, expect.max_pages),
    ];
    if let Some(per_page) = expect.bytes_per_page {
        rules.push(pdf_size(proof.rendered.pdf.len() as u64, proof.pages.len(), per_page));
    }
    if let Some(verified) = &expect.engine_verified {
        rules.push(engine_verified(expect.engine, verified));
    }
    let (pixel_rule, pixels, diffs) = pixels(proof, expect);
    if let Some((key, reference)) = expect.reference.loaded() {
        rules.push(text_layer(proof, key, reference, &only_under_masks(pixels.as_ref())));
    }
    rules.extend(pixel_rule);
    let passed = rules.iter().all(|r| r.passed);
    Checked { passed, rules, pixels, diffs }
}

fn pass(rule: Rule, detail: impl Into<String>) -> RuleResult {
    RuleResult { rule, passed: true, detail: detail.into() }
}

fn fail(rule: Rule, detail: impl Into<String>) -> RuleResult {
    RuleResult { rule, passed: false, detail: detail.into() }
}

/// How many blocked requests a failure names (the rest are counted).
const BLOCKED_SHOWN: usize = 5;

/// Template documents may not ask for anything outside their assets; HTML jobs are only told.
pub fn blocked_requests(blocked: &[BlockedRequest], origin: Origin) -> RuleResult {
    if blocked.is_empty() {
        return pass(Rule::BlockedRequests, "no request was blocked");
    }
    let mut list = blocked.iter().take(BLOCKED_SHOWN).map(|b| format!("{} ({})", b.url, b.reason)).collect::<Vec<_>>();
    if blocked.len() > BLOCKED_SHOWN {
        list.push(format!("and {} more", blocked.len() - BLOCKED_SHOWN));
    }
    let (count, was) = match blocked.len() {
        1 => ("1 request".to_string(), "was"),
        n => (format!("{n} requests"), "were"),
    };
    let list = list.join(", ");
    match origin {
        Origin::Template => fail(
            Rule::BlockedRequests,
            format!(
                "{count} outside the template's assets {was} blocked (a template may only load its own assets): {list}"
            ),
        ),
        Origin::Html => {
            pass(Rule::BlockedRequests, format!("{count} {was} blocked (listed, not a failure for HTML jobs): {list}"))
        }
    }
}

/// Only bundled or declared fonts (`fontcheck`; strict for template documents). A problem
/// that does not fail the document is still named in the detail.
pub fn fonts(report: &FontReport) -> RuleResult {
    let problems: Vec<&str> = report.problems.iter().map(|p| p.detail.as_str()).collect();
    if report.fails() {
        return fail(Rule::Fonts, problems.join("; "));
    }
    let mut detail = format!("embedded: {}", report.embedded.join(", "));
    if !problems.is_empty() {
        detail.push_str(&format!(" (not strict, noted: {})", problems.join("; ")));
    }
    pass(Rule::Fonts, detail)
}

/// Within the template's declared range and the server's `--max-pages`.
pub fn page_count(pages: usize, range: Option<PageRange>, max_pages: usize) -> RuleResult {
    if pages == 0 {
        return fail(Rule::PageCount, "the document printed no pages");
    }
    if pages > max_pages {
        return fail(Rule::PageCount, format!("{pages} pages; the server's limit is {max_pages} (--max-pages)"));
    }
    if let Some(r) = range {
        if pages < r.min || pages > r.max {
            return fail(
                Rule::PageCount,
                format!("{pages} pages; the template declares {} to {} (template.json \"pages\")", r.min, r.max),
            );
        }
    }
    pass(Rule::PageCount, format!("{pages} pages"))
}

/// At most the expected size (largest bytes-per-page of the template's fixtures × pages) + 30 %.
pub fn pdf_size(bytes: u64, pages: usize, bytes_per_page: u64) -> RuleResult {
    let expected = bytes_per_page.saturating_mul(pages as u64);
    let limit = (expected as f64 * (1.0 + SIZE_TOLERANCE)).ceil() as u64;
    let text = format!(
        "{bytes} bytes for {pages} page(s); expected at most {limit} ({bytes_per_page} bytes/page from the template's \
         fixtures × {pages} + {:.0} %)",
        SIZE_TOLERANCE * 100.0
    );
    if bytes > limit {
        fail(Rule::PdfSize, text)
    } else {
        pass(Rule::PdfSize, text)
    }
}

/// The engine is proved for this template here (start-up verification on that engine).
pub fn engine_verified(engine: Renderer, verified: &Result<(), String>) -> RuleResult {
    match verified {
        Ok(()) => {
            pass(Rule::EngineVerified, format!("the template's fixtures matched their {engine} baselines at start-up"))
        }
        Err(why) => fail(
            Rule::EngineVerified,
            format!(
                "the template is not verified on the {engine} engine here, so its output cannot ship unreviewed: {why}"
            ),
        ),
    }
}

/// Text with its whitespace taken out: engines break lines, space words and split
/// letter-spaced headings ("S C H O O L") and table cells differently in their text layers,
/// but print the same characters in the same order.
pub fn normalise_text(text: &str) -> String {
    text.split_whitespace().collect()
}

/// What does not depend on the engine matches Chromium's baseline: the page count and each
/// page's text (whitespace normalised).
///
/// `masked` lists the pages (1-based) whose only differences from the engine's own baseline lay
/// under the template's masks (`compare::verdict`): their text may differ there (a masked date),
/// so it is not held against them.
pub fn text_layer(proof: &Proof, key: &str, reference: &BaselinePages<'_>, masked: &[usize]) -> RuleResult {
    let (ours, theirs) = (proof.pages.len(), reference.pages.len());
    if ours != theirs {
        return fail(Rule::TextLayer, format!("{ours} page(s), but Chromium's baseline {key} has {theirs}"));
    }
    for (page, base) in proof.pages.iter().zip(&reference.pages) {
        if masked.contains(&page.number) {
            continue;
        }
        let (a, b) = (normalise_text(&page.text), normalise_text(base.text));
        if a != b {
            let at = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
            let excerpt = |t: &str| t.chars().skip(at.saturating_sub(10)).take(40).collect::<String>();
            return fail(
                Rule::TextLayer,
                format!(
                    "page {}'s text differs from Chromium's baseline {key} (whitespace ignored) from character {} \
                     on: {:?} where the baseline has {:?}",
                    page.number,
                    at + 1,
                    excerpt(&a),
                    excerpt(&b)
                ),
            );
        }
    }
    pass(Rule::TextLayer, format!("{ours} page(s) with the same text as Chromium's baseline {key}"))
}

/// The proof's pages judged against a baseline's (`compare::verdict::judge`, with diff
/// images), `masks` hidden from both: what the `pixels` rule and `check` compare.
pub fn compare(
    proof: &Proof,
    base: &[PageInput<'_>],
    limits: &Limits,
    masks: Masks<'_>,
) -> (Verdict, Vec<Option<RgbaImage>>) {
    let cand: Vec<PageInput<'_>> = proof.pages.iter().map(|p| PageInput { image: &p.image, text: &p.text }).collect();
    judge_masked(base, &cand, limits, masks, true)
}

/// The pages of a pixel verdict that had masks and no changed pixel outside them.
fn only_under_masks(verdict: Option<&Verdict>) -> Vec<usize> {
    let pages = verdict.map(|v| v.pages.as_slice()).unwrap_or_default();
    pages.iter().filter(|p| p.masked_pixels > 0 && p.diff_pixels == 0 && !p.size_changed).map(|p| p.page).collect()
}

type PixelOutcome = (Option<RuleResult>, Option<Verdict>, Vec<Option<RgbaImage>>);

/// The pixel verdict against the job's baseline (environment drift is a failure that says so).
fn pixels(proof: &Proof, expect: &Expectations<'_>) -> PixelOutcome {
    let engine = expect.engine;
    let (key, baseline) = match &expect.baseline {
        BaselineInput::None => return (None, None, Vec::new()),
        BaselineInput::Unusable { key, why } => {
            return (
                Some(fail(Rule::Pixels, format!("{engine} baseline {key} cannot be used: {why}"))),
                None,
                Vec::new(),
            )
        }
        BaselineInput::Loaded { key, baseline } => (key, baseline),
    };
    if !proof.drawn {
        // The worker draws the pages whenever the job names a baseline; a proof that reaches
        // this rule undrawn would compare empty images, so it fails instead.
        return (
            Some(fail(Rule::Pixels, format!("the pages were not drawn, so nothing was compared with {key}"))),
            None,
            Vec::new(),
        );
    }
    let drift = expect.environment.drift_from(baseline.environment);
    if !drift.is_empty() {
        let why = format!(
            "environment drift: baseline {key} was made in another environment ({}); re-approve it in this one",
            drift.join("; ")
        );
        return (Some(fail(Rule::Pixels, why)), None, Vec::new());
    }
    let masks = Masks::new(expect.masks, expect.environment.dpi, &proof.masks);
    let (verdict, diffs) = compare(proof, &baseline.pages, expect.limits, masks);
    let changed: u64 = verdict.pages.iter().map(|p| p.diff_pixels).sum();
    let rule = if verdict.passed {
        pass(Rule::Pixels, format!("{changed} pixel(s) changed against {engine} baseline {key}, within the limits"))
    } else {
        fail(Rule::Pixels, format!("against {engine} baseline {key}: {}", verdict.reasons_line()))
    };
    (Some(rule), Some(verdict), diffs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_name_themselves_and_the_numbers() {
        let r = page_count(12, Some(PageRange { min: 1, max: 10 }), 200);
        assert!(!r.passed && r.detail.contains("12 pages") && r.detail.contains("1 to 10"), "{}", r.detail);
        assert!(!page_count(201, None, 200).passed);
        assert!(page_count(3, None, 200).passed);
        let s = pdf_size(1400, 1, 1000);
        assert!(!s.passed && s.detail.contains("1400 bytes") && s.detail.contains("at most 1300"), "{}", s.detail);
        assert!(pdf_size(1300, 1, 1000).passed);
    }

    #[test]
    fn rules_read_back_by_name_and_an_unknown_one_is_kept() {
        for rule in Rule::KNOWN {
            let text = serde_json::to_string(&rule).unwrap();
            assert_eq!(serde_json::from_str::<Rule>(&text).unwrap(), rule, "{text}");
        }
        assert_eq!(serde_json::to_string(&Rule::PdfSize).unwrap(), r#""pdf-size""#);
        let newer: Rule = serde_json::from_str(r#""colour-profile""#).unwrap();
        assert_eq!(
            (newer.as_str(), serde_json::to_string(&newer).unwrap()),
            ("colour-profile", r#""colour-profile""#.into())
        );
    }

    /// A fallback proof of two pages, each white but for a black block at `blocks[i]` (x, y),
    /// 20 × 10 px, with the text `Issued {texts[i]}`.
    fn fallback_proof(blocks: [(u32, u32); 2], texts: [&str; 2]) -> Proof {
        let page = |n: usize| {
            let mut image = RgbaImage::from_pixel(100, 100, image::Rgba([255, 255, 255, 255]));
            let (x0, y0) = blocks[n];
            for (x, y) in (x0..x0 + 20).flat_map(|x| (y0..y0 + 10).map(move |y| (x, y))) {
                image.put_pixel(x, y, image::Rgba([0, 0, 0, 255]));
            }
            crate::raster::RasterPage { number: n + 1, image, text: format!("Issued {}", texts[n]), fonts: Vec::new() }
        };
        Proof {
            rendered: crate::render::Rendered {
                pdf: Vec::new(),
                blocked: Vec::new(),
                font_faces: Vec::new(),
                font_usage: Vec::new(),
                elapsed: std::time::Duration::ZERO,
                timings: Default::default(),
                mask_probe: None,
            },
            pages: vec![page(0), page(1)],
            fonts: FontReport::default(),
            drawn: true,
            raster: std::time::Duration::ZERO,
            masks: Default::default(),
        }
    }

    #[test]
    fn the_fallback_s_text_layer_forgives_a_page_whose_changes_were_all_under_masks() {
        let environment = Environment {
            chromium: "156".into(),
            pdfium_build: "8149".into(),
            fonts_hash: "f0".into(),
            dpi: 96,
            fallback: Some("WeasyPrint 57.2".into()),
        };
        let base = fallback_proof([(0, 0), (0, 0)], ["2 June", "2 June"]);
        fn inputs(p: &Proof) -> Vec<PageInput<'_>> {
            p.pages.iter().map(|p| PageInput { image: &p.image, text: &p.text }).collect()
        }
        let masks: Vec<crate::compare::mask::Mask> =
            serde_json::from_str(r#"[{"page": 1, "x": 0, "y": 0, "width": 30, "height": 20}]"#).unwrap();
        let judged = |proof: &Proof| {
            let loaded = |key: &str| BaselineInput::Loaded {
                key: key.into(),
                baseline: BaselinePages { pages: inputs(&base), environment: &environment },
            };
            let expect = Expectations {
                pages: None,
                max_pages: 200,
                bytes_per_page: None,
                engine: Renderer::Fallback,
                baseline: loaded("t/a"),
                reference: loaded("t/a"),
                engine_verified: None,
                environment: &environment,
                limits: &Limits::default(),
                masks: &masks,
            };
            let doc = Document {
                label: "t/a".into(),
                html: String::new(),
                assets: crate::document::Assets::None,
                options: Default::default(),
                origin: Origin::Template,
                mask_selectors: Vec::new(),
                merge: Vec::new(),
            };
            let checked = verify(proof, &doc, &expect);
            let text = checked.rules.iter().find(|r| r.rule == Rule::TextLayer).cloned().expect("text-layer");
            (checked.passed, text)
        };
        // Page 1's date changed, under its mask: both rules pass.
        let (passed, text) = judged(&fallback_proof([(5, 5), (0, 0)], ["3 June", "2 June"]));
        assert!(passed && text.passed, "{text}");
        // Page 2's changed the same way, but page 2 has no mask: its text counts.
        let (passed, text) = judged(&fallback_proof([(0, 0), (5, 5)], ["2 June", "3 June"]));
        assert!(!passed && !text.passed, "{text}");
        assert!(text.detail.contains("page 2's text differs"), "{text}");
        // Page 1's date under the mask, and a block moved outside it on page 1: the text counts.
        let (passed, text) = judged(&fallback_proof([(60, 60), (0, 0)], ["3 June", "2 June"]));
        assert!(!passed && !text.passed, "{text}");
    }

    #[test]
    fn text_is_compared_with_whitespace_normalised() {
        assert_eq!(normalise_text("  Invoice\n  No.\t42 \n"), "InvoiceNo.42");
        assert_eq!(normalise_text("S C H O O L"), normalise_text("SCHOOL"));
        assert!(!engine_verified(Renderer::Fallback, &Err("no fallback baseline".into())).passed);
        assert!(engine_verified(Renderer::Fallback, &Ok(())).passed);
    }
}
