//! A template's contract over HTTP, against the real `pixelproof serve`: `GET
//! /v1/templates/{name}` answers its schema, example data, page range, limits and masks (404
//! problem+json for an unknown one); a job whose data fails the schema is a 422 listing every
//! problem with its JSON pointer, on `POST /v1/render` and `POST /v1/jobs` alike, before
//! anything renders. A selector mask, on the real engine: found where Chromium printed its
//! elements, on every page they land on, it hides a changing date and nothing else.

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use pixelproof::compare::mask::{Located, Masks, Selector};
use pixelproof::compare::verdict::{Limits, PageInput};
use pixelproof::document::Document;
use pixelproof::pipeline::Proof;
use pixelproof::template::Catalog;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::service::{assert_problem, client, fixture};

/// The invoice's issue date: the second row's cell of its meta table, as wide as its column
/// (whose widest cell is the due date), so another date of the same length keeps its box.
const ISSUE_DATE: &str = "table.meta tr:nth-child(2) td";

/// The bundled invoice, copied with `masks` and limits of its own in `template.json`.
fn invoice_with_masks(root: &Path, masks: &Value) {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/invoice");
    let to = root.join("invoice");
    for entry in walkdir::WalkDir::new(&from) {
        let entry = entry.expect("walk the invoice");
        let target = to.join(entry.path().strip_prefix(&from).expect("under the invoice"));
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
    let path = to.join("template.json");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(&path).expect("read")).expect("JSON");
    config["masks"] = masks.clone();
    config["limits"] = json!({"max_pixels": 250});
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("JSON")).expect("write");
}

#[test]
fn a_template_tells_its_contract_and_refuses_data_that_breaks_it() {
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("templates");
    // The issue date by selector; the footer by a rectangle (coordinates are numbers of CSS px,
    // served as floats, so written as floats here to compare).
    let masks = json!([
        {"selector": ISSUE_DATE, "note": "issue date"},
        {"page": "all", "x": 0.0, "y": 1080.0, "width": 794.0, "height": 43.0}
    ]);
    invoice_with_masks(&templates, &masks);
    let templates_arg = templates.to_str().expect("UTF-8 path");
    let server = support::service::Server::start(&tmp.path().join("data"), &["--templates", templates_arg]);
    let http = client();

    // The contract.
    let r = http.get(server.url("/v1/templates/invoice")).send().expect("GET");
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().expect("JSON");
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(templates.join("invoice/schema.json")).unwrap()).unwrap();
    assert_eq!(t["schema"], schema);
    assert_eq!(t["example"], json!({"fixture": "short", "data": fixture("invoice", "short")}));
    assert_eq!(t["masks"], masks);
    assert_eq!(t["limits"], json!({"max_pixels": 250, "max_ratio": 0.0005, "threshold": 0.1}));
    assert_eq!(
        (t["name"].as_str(), t["min_pages"].as_u64(), t["max_pages"].as_u64()),
        (Some("invoice"), Some(1), Some(10))
    );
    assert_eq!(t["fixtures"], json!(["arabic", "basic", "short"]));

    // The list still answers; an unknown name is a 404 problem.
    let list: Value = http.get(server.url("/v1/templates")).send().expect("GET").json().expect("JSON");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["name"], "invoice");
    for name in ["nope", "..%2Finvoice"] {
        let r = http.get(server.url(&format!("/v1/templates/{name}"))).send().expect("GET");
        let body = assert_problem(r, StatusCode::NOT_FOUND, "");
        assert_eq!(body["type"], "urn:pixelproof:problem:unknown-template", "{body}");
    }

    // Data with no keys: every required key listed, on both routes, before anything renders.
    for route in ["/v1/render", "/v1/jobs"] {
        let r = http.post(server.url(route)).json(&json!({"template": "invoice", "data": {}})).send().expect("POST");
        let body = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "does not match template invoice's schema");
        assert_eq!(body["type"], "urn:pixelproof:problem:invalid-data");
        let mut pointers: Vec<&str> =
            body["errors"].as_array().expect("errors").iter().filter_map(|e| e["pointer"].as_str()).collect();
        pointers.sort_unstable();
        assert_eq!(
            pointers,
            [
                "/bill_to",
                "/currency",
                "/invoice",
                "/items",
                "/lang",
                "/notes",
                "/payment",
                "/seller",
                "/ship_to",
                "/tax"
            ],
            "{route}: {body}"
        );
    }

    // A mistyped key and a missing one, in the real fixture: both listed, each at its pointer.
    let mut data = fixture("invoice", "basic");
    data["items"][0]["unit_price"] = json!("12.50");
    data["payment"].as_object_mut().expect("payment").remove("iban");
    let r =
        http.post(server.url("/v1/render")).json(&json!({"template": "invoice", "data": data})).send().expect("POST");
    let body = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "/items/0/unit_price: expected integer, got string");
    assert_eq!(
        body["errors"],
        json!([
            {"pointer": "/items/0/unit_price", "message": "expected integer, got string \"12.50\""},
            {"pointer": "/payment/iban", "message": "missing required key"}
        ]),
        "{body}"
    );

    // A real render with another issue date, compared with the invoice's baseline: the date is
    // under the selector mask (where Chromium printed its cell), so the pixel rule passes,
    // although the date is in the text layer too (no pixel outside the masks changed).
    let mut data = fixture("invoice", "basic");
    data["invoice"]["issue_date"] = json!("15 March 2025");
    let job = json!({"template": "invoice", "data": data, "baseline": "invoice/basic"});
    let r = http.post(server.url("/v1/render")).json(&job).send().expect("POST");
    let state = r.headers().get("x-pixelproof-state").map(|v| v.to_str().unwrap_or_default().to_string());
    assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text());
    assert_eq!(state.as_deref(), Some("done"));

    // The due date is outside the masks: the same kind of change fails the proof on both
    // engines (its pixels and then its text differ), and nothing is shipped.
    let mut data = fixture("invoice", "basic");
    data["invoice"]["due_date"] = json!("14 April 2025");
    let job = json!({"template": "invoice", "data": data, "baseline": "invoice/basic"});
    let r = http.post(server.url("/v1/render")).json(&job).send().expect("POST");
    let body = assert_problem(r, StatusCode::UNPROCESSABLE_ENTITY, "text layer differs");
    assert_eq!(body["type"], "urn:pixelproof:problem:verification-failed", "{body}");

    // The OpenAPI document has the route and its types.
    let doc: Value = http.get(server.url("/openapi.json")).send().expect("GET").json().expect("JSON");
    assert!(doc["paths"]["/v1/templates/{name}"]["get"].is_object(), "no route in the OpenAPI document");
    for schema in ["TemplateDetail", "Mask", "RectMask", "SelectorMask", "DataProblem"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "no {schema} in the OpenAPI document");
    }
}

/// The invoice/basic document of the template in `templates` with `data`.
fn invoice_doc(templates: &Path, data: &Value) -> Document {
    let catalog = Catalog::load(templates).expect("templates");
    let invoice = catalog.get("invoice").expect("the invoice");
    invoice.document(data, "invoice/basic").expect("a document")
}

fn pages(proof: &Proof) -> Vec<PageInput<'_>> {
    proof.pages.iter().map(|p| PageInput { image: &p.image, text: &p.text }).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_mask_hides_a_changing_date_where_chromium_printed_it_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    // The issue date, and the first cell of the items table's header row, which Chromium
    // repeats at the top of every page.
    let header_cell = "table.items thead th:first-child";
    let masks = json!([{"selector": ISSUE_DATE, "note": "issue date"}, {"selector": header_cell}]);
    invoice_with_masks(tmp.path(), &masks);
    let engine = support::engine(1, Duration::from_secs(60)).await;
    let basic = fixture("invoice", "basic");
    let mut later = basic.clone();
    later["invoice"]["issue_date"] = json!("15 March 2025");
    let doc = invoice_doc(tmp.path(), &basic);
    let unmasked = Document { mask_selectors: Vec::new(), ..doc.clone() };

    // What the probe costs (printed, never asserted): the same document proved with and without
    // its selector masks, alternately, after one proof to warm the browser.
    engine.prove(&unmasked).await.expect("prove");
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let (mut plain, mut base) = (None, None);
    for _ in 0..5 {
        let started = Instant::now();
        plain = Some(engine.prove(&unmasked).await.expect("prove"));
        without.push(started.elapsed());
        let started = Instant::now();
        base = Some(engine.prove(&doc).await.expect("prove"));
        with.push(started.elapsed());
    }
    let (plain, base) = (plain.expect("proved"), base.expect("proved"));
    without.sort();
    with.sort();
    eprintln!(
        "invoice/basic ({} pages): a proof without its selector masks {:?}, with them {:?} (medians of 5); found: {:?}",
        base.pages.len(),
        without[2],
        with[2],
        base.masks.pages
    );

    // The probe changes nothing of the proof: the same pages, pixel for pixel.
    assert_eq!(plain.pages.len(), base.pages.len());
    for (a, b) in plain.pages.iter().zip(&base.pages) {
        assert!(a.image == b.image && a.text == b.text, "page {} changed when its masks were located", a.number);
    }
    assert_eq!(plain.masks, Located::default());

    // Each selector matched one element. The header cell printed on every page, the date on
    // page 1; each found box is small (a cell, not a page).
    let selector = |s: &str| Selector::try_from(s.to_string()).expect("a selector");
    assert_eq!(base.masks.matched, [(selector(ISSUE_DATE), 1), (selector(header_cell), 1)]);
    let n = base.pages.len();
    assert!(n >= 3, "invoice/basic has {n} pages");
    assert_eq!(base.masks.pages.len(), n);
    let (w, h) = base.pages[0].image.dimensions();
    for (i, found) in base.masks.pages.iter().enumerate() {
        let expected = if i == 0 { 2 } else { 1 };
        assert_eq!(found.len(), expected, "page {}: {found:?}", i + 1);
        for r in found {
            assert!(r.pixels() > 100 && r.pixels() < u64::from(w) * u64::from(h) / 50, "page {}: {r:?}", i + 1);
        }
    }

    // Another issue date: every pixel it changed lies in the box found for it, which is the
    // same box as the baseline's.
    let cand = engine.prove(&invoice_doc(tmp.path(), &later)).await.expect("prove");
    assert_eq!(cand.masks, base.masks);
    let (b, c) = (&base.pages[0].image, &cand.pages[0].image);
    let changed: Vec<(u32, u32)> =
        b.enumerate_pixels().filter(|(x, y, p)| c.get_pixel(*x, *y) != *p).map(|(x, y, _)| (x, y)).collect();
    assert!(!changed.is_empty(), "the new date changed no pixel");
    let date_box = cand.masks.on_page(1)[0];
    let outside: Vec<_> = changed
        .iter()
        .filter(|(x, y)| !((date_box.x0..date_box.x1).contains(x) && (date_box.y0..date_box.y1).contains(y)))
        .collect();
    assert!(outside.is_empty(), "{} changed pixels outside {date_box:?}: {outside:?}", outside.len());
    assert!(cand.pages[1..].iter().zip(&base.pages[1..]).all(|(c, b)| c.image == b.image));

    // Judged with nothing allowed to change: without the selector masks, the date fails page 1
    // (its pixels and its text); with them, every page passes, the date's text included.
    let strict = Limits { max_pixels: 0, max_ratio: 0.0, ..Limits::default() };
    let template_masks =
        Catalog::load(tmp.path()).expect("templates").get("invoice").expect("invoice").config.masks.clone();
    let (bare, _) = pixelproof::rules::compare(&cand, &pages(&base), &strict, Masks::NONE);
    assert!(!bare.passed);
    assert!(bare.pages[0].diff_pixels > 0 && bare.pages[0].text_changed, "{:?}", bare.pages[0]);
    let masks = Masks::new(&template_masks, engine.environment.dpi, &cand.masks);
    let (masked, _) = pixelproof::rules::compare(&cand, &pages(&base), &strict, masks);
    assert!(masked.passed, "{}", masked.reasons_line());
    let page1 = &masked.pages[0];
    assert_eq!((page1.diff_pixels, page1.text_changed), (0, false));
    assert_eq!(page1.masked_pixels, date_box.pixels() + cand.masks.on_page(1)[1].pixels());

    // A selector that matches nothing is told; one Chromium refuses fails the proof naming it.
    let mut doc = invoice_doc(tmp.path(), &basic);
    doc.mask_selectors = vec![selector(".no-such-thing")];
    let proof = engine.prove(&doc).await.expect("prove");
    assert_eq!(proof.masks.unmatched().collect::<Vec<_>>(), [&selector(".no-such-thing")]);
    assert!(proof.masks.pages.iter().all(Vec::is_empty), "{:?}", proof.masks.pages);
    doc.mask_selectors = vec![selector("table[")];
    let err = engine.prove(&doc).await.expect_err("an invalid selector").to_string();
    assert!(err.contains("the mask selector \"table[\" of invoice/basic is not a CSS selector"), "{err}");
}
