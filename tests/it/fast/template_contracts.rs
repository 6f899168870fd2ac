//! Templates that tell clients what they need, without Chromium: every bundled fixture matches
//! its template's schema; a job's data that does not is refused listing every problem with its
//! JSON pointer before anything renders; a template's masks hide a changing date from `check`'s
//! verdict (the real check run and comparison, on a stand-in prover's pages), by rectangle or by
//! a selector the prover located, and a selector that matches nothing fails the fixture.

use std::path::Path;
use std::time::Duration;

use image::{Rgba, RgbaImage};
use pixelproof::baseline::{Decision, DirStore as Store};
use pixelproof::check::{self, FixtureError, Prover, Status};
use pixelproof::compare::mask::{Located, PixelRect};
use pixelproof::document::Document;
use pixelproof::fontcheck::FontReport;
use pixelproof::pins::Environment;
use pixelproof::pipeline::Proof;
use pixelproof::raster::RasterPage;
use pixelproof::render::Rendered;
use pixelproof::request::{JobRequest, Limits, RequestError};
use pixelproof::template::{default_templates_dir, Catalog, DataProblem, TemplateError};

use crate::support::{baselines, write_file};

#[test]
fn every_bundled_fixture_matches_its_template_s_schema_and_examples_are_fixtures() {
    let catalog = Catalog::load(&default_templates_dir()).expect("the bundled templates load");
    assert!(catalog.templates.len() >= 3);
    let mut checked = 0;
    for t in &catalog.templates {
        assert!(t.schema().is_some(), "{} declares no schema", t.name);
        let example = t.example().expect("fixtures").unwrap_or_else(|| panic!("{} names no example", t.name));
        for f in t.fixtures().expect("fixtures") {
            t.validate(&f.data).unwrap_or_else(|e| panic!("{}/{}: {e}", t.name, f.name));
            checked += 1;
        }
        assert!(t.validate(&example.data).is_ok());
    }
    assert!(checked >= 7, "only {checked} fixtures");
}

fn invoice_job(data: serde_json::Value) -> Result<Document, RequestError> {
    let catalog = Catalog::load(&default_templates_dir()).expect("templates");
    let body = serde_json::json!({"template": "invoice", "data": data});
    let request: JobRequest = serde_json::from_value(body).expect("a job body");
    request.document(&catalog, &Limits::default())
}

fn problems(result: Result<Document, RequestError>) -> Vec<DataProblem> {
    match result {
        Err(RequestError::Template(TemplateError::Data { problems, .. })) => problems,
        Err(e) => panic!("another error: {e}"),
        Ok(_) => panic!("the job was accepted"),
    }
}

#[test]
fn invoice_without_data_lists_every_missing_key_before_rendering() {
    let listed = problems(invoice_job(serde_json::json!({})));
    let pointers: Vec<&str> = listed.iter().map(|p| p.pointer.as_str()).collect();
    let mut expected =
        ["/lang", "/currency", "/invoice", "/seller", "/bill_to", "/ship_to", "/items", "/tax", "/payment", "/notes"];
    let mut sorted = pointers.clone();
    sorted.sort_unstable();
    expected.sort_unstable();
    assert_eq!(sorted, expected);
    assert!(listed.iter().all(|p| p.message == "missing required key"), "{listed:?}");
    // The same as the client reads it: every key, said once, and where to look.
    let detail = invoice_job(serde_json::json!({})).unwrap_err().to_string();
    assert!(detail.contains("(10 problems)") && detail.contains("/payment: missing required key"), "{detail}");
    assert!(detail.contains("GET /v1/templates/invoice"), "{detail}");
}

#[test]
fn mistyped_and_missing_keys_are_all_listed_with_their_pointers() {
    let mut data = crate::support::service::fixture("invoice", "basic");
    data["lang"] = serde_json::json!(5);
    data["items"][1]["quantity"] = serde_json::json!("3");
    data["currency"]["position"] = serde_json::json!("middle");
    data["seller"].as_object_mut().expect("seller").remove("email");
    let listed = problems(invoice_job(data));
    let mut got: Vec<(String, String)> = listed.into_iter().map(|p| (p.pointer, p.message)).collect();
    got.sort();
    let said = |p: &str| got.iter().find(|(at, _)| at == p).map(|(_, m)| m.as_str()).unwrap_or_default();
    assert_eq!(got.len(), 5, "{got:?}");
    assert!(said("/lang").contains("expected string, got integer 5") || said("/lang").contains("enum"), "{got:?}");
    assert_eq!(said("/items/1/quantity"), "expected integer, got string \"3\"");
    assert!(said("/currency/position").contains("is not one of"), "{got:?}");
    assert_eq!(said("/seller/email"), "missing required key");
    // The fixture itself still makes a document.
    assert!(invoice_job(crate::support::service::fixture("invoice", "basic")).is_ok());
}

/// Pages of 300 × 200 CSS px at the environment's DPI: the data's `date` paints the rectangle
/// at (20, 20) 100 × 30 CSS px, its `body` the one at (20, 120); the rest is white. The text
/// layer is the HTML (so it holds the date, as a real one would). Of the document's mask
/// selectors, `.date` is located at the date's rectangle (as Chromium's probe would find it);
/// any other matches nothing.
struct Stamp {
    env: Environment,
}

const DATE_BOX: (f64, f64, f64, f64) = (20.0, 20.0, 100.0, 30.0);
const BODY_BOX: (f64, f64, f64, f64) = (20.0, 120.0, 100.0, 30.0);

impl Stamp {
    fn px(&self, css: f64) -> u32 {
        (css * f64::from(self.env.dpi) / 96.0).round() as u32
    }

    fn paint(&self, img: &mut RgbaImage, (x, y, w, h): (f64, f64, f64, f64), seed: &str) {
        let shade = seed.bytes().fold(7u8, |a, b| a.wrapping_mul(31).wrapping_add(b));
        for py in self.px(y)..self.px(y + h) {
            for px in self.px(x)..self.px(x + w) {
                img.put_pixel(px, py, Rgba([shade, 255 - shade, shade / 2, 255]));
            }
        }
    }
}

impl Prover for Stamp {
    fn environment(&self) -> &Environment {
        &self.env
    }

    async fn prove(&self, doc: &Document) -> Result<Proof, FixtureError> {
        let (date, body) = doc.html.split_once('|').expect("DATE|BODY");
        let mut image = RgbaImage::from_pixel(self.px(300.0), self.px(200.0), Rgba([255, 255, 255, 255]));
        self.paint(&mut image, DATE_BOX, date);
        self.paint(&mut image, BODY_BOX, body);
        let (x, y, w, h) = DATE_BOX;
        let date_rect = PixelRect { x0: self.px(x), y0: self.px(y), x1: self.px(x + w), y1: self.px(y + h) };
        let matched: Vec<_> =
            doc.mask_selectors.iter().map(|s| (s.clone(), usize::from(s.as_str() == ".date"))).collect();
        let found = matched.iter().any(|(_, n)| *n > 0).then_some(date_rect);
        let masks = Located { pages: vec![found.into_iter().collect()], matched };
        Ok(Proof {
            rendered: Rendered {
                pdf: Vec::new(),
                blocked: Vec::new(),
                font_faces: Vec::new(),
                font_usage: Vec::new(),
                elapsed: Duration::from_millis(1),
                timings: Default::default(),
                mask_probe: None,
            },
            pages: vec![RasterPage { number: 1, image, text: doc.html.clone(), fonts: vec!["DejaVuSans".into()] }],
            fonts: FontReport { embedded: vec!["DejaVuSans".into()], problems: Vec::new(), strict: true },
            drawn: true,
            raster: Duration::ZERO,
            masks,
        })
    }
}

const MASKED: &str = r#"{"masks": [{"page": 1, "x": 20, "y": 20, "width": 100, "height": 30, "note": "issue date"}],
    "limits": {"max_pixels": 0, "max_ratio": 0}}"#;

async fn check(root: &Path, update: bool) -> check::CheckSummary {
    let options = baselines::check_options(root, update);
    let planned = check::plan(&options.templates_dir, &[]).expect("a plan");
    let prover = Stamp { env: baselines::environment("156.0.8078.79", &"f0".repeat(32)) };
    check::run_with(&prover, &options, planned, &mut check::progress::Silent).await.expect("the check runs")
}

/// The stamp template under `root` with `config` as its template.json, and its fixture `a`
/// (2 June 2025, "Hello") approved as its baseline.
async fn approved_stamp(root: &Path, config: &str) {
    write_file(root, "templates/stamp/template.html", "{{ date }}|{{ body }}");
    write_file(root, "templates/stamp/template.json", config);
    write_file(root, "templates/stamp/fixtures/a.json", r#"{"date": "2 June 2025", "body": "Hello"}"#);
    assert_eq!(check(root, true).await.totals.candidates_written, 1);
    let store = Store::new(root.join("baselines"));
    for key in store.candidate_keys().unwrap() {
        store.approve(&key, &Decision { by: "alice".into(), reason: "first".into() }).unwrap();
    }
}

#[tokio::test]
async fn a_mask_hides_a_changing_date_from_check_and_only_inside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    approved_stamp(root, MASKED).await;

    // Another date: its pixels and its text differ, inside the mask only. Passes.
    write_file(root, "templates/stamp/fixtures/a.json", r#"{"date": "3 June 2025", "body": "Hello"}"#);
    let summary = check(root, false).await;
    let f = &summary.fixtures[0];
    assert_eq!(f.status, Status::Pass, "{:?}", f.reasons);
    let page = &f.verdict.as_ref().expect("compared").pages[0];
    assert_eq!((page.diff_pixels, page.text_changed), (0, false));
    // 100 × 30 CSS px from (20, 20) at 150 dpi, rounded outwards: x 31..188, y 31..79.
    assert_eq!(page.masked_pixels, 157 * 48);
    assert!(f.notes.iter().any(|n| n.contains("stamp's limits (template.json): 0 px")), "{:?}", f.notes);
    assert!(f.notes.contains(&"page 1: 7536 pixels under the template's masks were not compared".to_string()));

    // Outside the mask, the same kind of change fails.
    write_file(root, "templates/stamp/fixtures/a.json", r#"{"date": "3 June 2025", "body": "Hullo"}"#);
    let summary = check(root, false).await;
    let f = &summary.fixtures[0];
    assert_eq!(f.status, Status::Fail);
    let changed = f.verdict.as_ref().expect("compared").pages[0].diff_pixels;
    assert_eq!(changed, 157 * 46, "the body's rectangle (x 31..188, y 188..234), every pixel of it");

    // Without the mask the date alone fails: the mask is what made it pass.
    write_file(root, "templates/stamp/template.json", r#"{"limits": {"max_pixels": 0, "max_ratio": 0}}"#);
    write_file(root, "templates/stamp/fixtures/a.json", r#"{"date": "3 June 2025", "body": "Hello"}"#);
    let f = check(root, false).await.fixtures.remove(0);
    assert_eq!(f.status, Status::Fail);
    assert!(f.reasons.iter().any(|r| r.message.contains("text layer differs")), "{:?}", f.reasons);
    assert!(f.reasons.iter().any(|r| r.message.contains("pixels changed")), "{:?}", f.reasons);
}

#[tokio::test]
async fn a_selector_mask_hides_the_date_where_it_was_located_and_one_matching_nothing_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let strict = r#""limits": {"max_pixels": 0, "max_ratio": 0}"#;
    approved_stamp(root, &format!(r#"{{{strict}}}"#)).await;
    write_file(root, "templates/stamp/fixtures/a.json", r#"{"date": "3 June 2025", "body": "Hello"}"#);

    // Without a mask, the new date fails; masked by a selector, where it was located, it passes.
    assert_eq!(check(root, false).await.fixtures[0].status, Status::Fail);
    let masked = format!(r#"{{"masks": [{{"selector": ".date", "note": "issue date"}}], {strict}}}"#);
    write_file(root, "templates/stamp/template.json", &masked);
    let f = check(root, false).await.fixtures.remove(0);
    assert_eq!(f.status, Status::Pass, "{:?}", f.reasons);
    let page = &f.verdict.as_ref().expect("compared").pages[0];
    assert_eq!((page.diff_pixels, page.text_changed, page.masked_pixels), (0, false, 157 * 47));

    // A selector that matches nothing fails the fixture, naming it, even with nothing changed.
    let typo = format!(r#"{{"masks": [{{"selector": ".date"}}, {{"selector": ".dat"}}], {strict}}}"#);
    write_file(root, "templates/stamp/template.json", &typo);
    let f = check(root, false).await.fixtures.remove(0);
    assert_eq!(f.status, Status::Fail);
    assert_eq!(f.reasons.len(), 1, "{:?}", f.reasons);
    assert!(
        f.reasons[0].message.starts_with("mask selector \".dat\" matched no element of stamp/a"),
        "{:?}",
        f.reasons
    );
}

#[tokio::test]
async fn a_fixture_that_fails_its_schema_fails_check_naming_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    write_file(root, "templates/stamp/template.html", "{{ date }}|{{ body }}");
    write_file(root, "templates/stamp/schema.json", r#"{"type": "object", "required": ["date", "body"]}"#);
    write_file(root, "templates/stamp/template.json", r#"{"schema": "schema.json"}"#);
    write_file(root, "templates/stamp/fixtures/a.json", r#"{"date": "2 June 2025"}"#);
    let f = check(root, true).await.fixtures.remove(0);
    assert_eq!(f.status, Status::Fail);
    assert!(f.reasons[0].message.contains("/body: missing required key"), "{:?}", f.reasons);
}
