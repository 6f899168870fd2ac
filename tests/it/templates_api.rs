//! A template's contract over HTTP, against the real `pixelproof serve`: `GET
//! /v1/templates/{name}` answers its schema, example data, page range, limits and masks (404
//! problem+json for an unknown one); a job whose data fails the schema is a 422 listing every
//! problem with its JSON pointer, on `POST /v1/render` and `POST /v1/jobs` alike, before
//! anything renders.

use crate::support;

use std::path::Path;

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::service::{assert_problem, client, fixture};

/// The bundled invoice, copied with masks and limits of its own in `template.json`.
fn invoice_with_masks(root: &Path) -> Value {
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
    // Coordinates are numbers of CSS px (served as floats, so written as floats here to compare).
    let masks = json!([
        {"page": 1, "x": 640.0, "y": 108.0, "width": 110.0, "height": 24.0, "note": "issue date"},
        {"page": "all", "x": 0.0, "y": 1080.0, "width": 794.0, "height": 43.0}
    ]);
    config["masks"] = masks.clone();
    config["limits"] = json!({"max_pixels": 250});
    std::fs::write(&path, serde_json::to_vec_pretty(&config).expect("JSON")).expect("write");
    masks
}

#[test]
fn a_template_tells_its_contract_and_refuses_data_that_breaks_it() {
    let tmp = tempfile::tempdir().unwrap();
    let templates = tmp.path().join("templates");
    let masks = invoice_with_masks(&templates);
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
    // under the first mask (where Chromium prints it on page 1), so the pixel rule passes,
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
    for schema in ["TemplateDetail", "Mask", "DataProblem"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "no {schema} in the OpenAPI document");
    }
}
