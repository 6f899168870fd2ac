//! Fuzzing (proptest) of what clients control: the job JSON (`POST /v1/jobs`, `POST /v1/render`
//! and the body an app publishes to RabbitMQ all become a `JobRequest`), template data, and
//! the `Idempotency-Key` header.
//!
//! Properties: nothing a client sends makes validation or template rendering panic; a job
//! that is accepted only names a bundled template, only plain relative asset names, a valid
//! baseline key and print options Chromium will take, and stays inside the limits; and no
//! string in the data reaches the HTML unescaped. `PROPTEST_CASES` sets the cases per
//! property (256 by default; the note in the issue log says how long it has been run).

use std::path::Path;

use pixelproof::idempotency::{IdempotencyKey, KeyError, MAX_KEY_LEN};
use pixelproof::request::{JobRequest, Limits};
use pixelproof::template::Catalog;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use crate::support::service::fixture;

fn catalog() -> &'static Catalog {
    static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
    CATALOG.get_or_init(|| {
        Catalog::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates")).expect("the bundled templates")
    })
}

/// Small limits, so that the fuzzer reaches them.
fn limits() -> Limits {
    Limits { max_html_bytes: 60_000, max_data_bytes: 8_000, max_data_depth: 6, max_asset_bytes: 4_000, max_pages: 10 }
}

const INJECTED: &str = "PIXELPROOF_INJECTED";

/// Strings written to break out: markup, template syntax, paths, schemes, control characters.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(format!("<script>{INJECTED}()</script>")),
        Just(format!("\"><img src=x onerror={INJECTED}()>")),
        Just(format!("'><svg onload={INJECTED}()>")),
        Just(format!("</style><script>{INJECTED}</script>")),
        Just(format!("<!--{INJECTED}-->")),
        Just("{{ 7 * 7 }}{% for i in range(100000) %}x{% endfor %}".to_string()),
        Just("{{ self.__init__ }}{{ config }}".to_string()),
        Just("../../../../etc/passwd".to_string()),
        Just("file:///etc/hostname".to_string()),
        Just("javascript:alert(1)".to_string()),
        Just("\u{0}\u{1}\u{7f}\u{202e}\u{feff}".to_string()),
        Just("%2e%2e%2f%2e%2e%2fetc%2fpasswd".to_string()),
        Just("x".repeat(9_000)),
        "\\PC{0,40}",
        any::<String>(),
    ]
}

/// Any JSON value, nested up to 10 levels, with hostile strings among its leaves.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(10, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Paths to every leaf (and every container) of `v`.
fn paths(v: &Value, here: Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(here.clone());
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| paths(c, [here.clone(), vec![k.clone()]].concat(), out)),
        Value::Array(a) => {
            a.iter().enumerate().for_each(|(i, c)| paths(c, [here.clone(), vec![i.to_string()]].concat(), out))
        }
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, key| match v {
        Value::Object(m) => m.get_mut(key),
        Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
        _ => None,
    })
}

const FIXTURES: [(&str, &str); 4] =
    [("invoice", "basic"), ("invoice", "arabic"), ("report", "quarterly"), ("certificate", "default")];

fn template_html(template: &str, data: Value) -> Option<String> {
    let Value::Object(map) = data else { return None };
    let request = JobRequest { template: Some(template.to_string()), data: Some(map), ..JobRequest::default() };
    request.document(catalog(), &Limits::default()).ok().map(|d| d.html)
}

/// The string fields of fixture `which` that its template prints: a field is printed when a
/// marker put in it alone shows up in the HTML (a currency code or a `position` switch is not).
fn printed_fields(which: usize) -> &'static [Vec<String>] {
    static PRINTED: std::sync::OnceLock<Vec<Vec<Vec<String>>>> = std::sync::OnceLock::new();
    let all = PRINTED.get_or_init(|| {
        FIXTURES
            .iter()
            .map(|(template, name)| {
                let data = fixture(template, name);
                let mut all = Vec::new();
                paths(&data, Vec::new(), &mut all);
                let printed: Vec<Vec<String>> = all
                    .into_iter()
                    .filter(|p| {
                        let mut marked = data.clone();
                        match at_mut(&mut marked, p) {
                            Some(slot @ Value::String(_)) => *slot = Value::String("FIELDMARKER".into()),
                            _ => return false,
                        }
                        template_html(template, marked).is_some_and(|h| h.contains("FIELDMARKER"))
                    })
                    .collect();
                assert!(printed.len() >= 5, "{template}/{name}: only {} printed string fields", printed.len());
                printed
            })
            .collect()
    });
    &all[which]
}

/// Checks what an accepted job must be; returns the document's HTML.
fn check_accepted(request: &JobRequest) -> Result<Option<String>, TestCaseError> {
    let limits = limits();
    let doc = match request.document(catalog(), &limits) {
        Ok(doc) => doc,
        Err(e) => {
            let message = e.to_string();
            prop_assert!(!message.trim().is_empty(), "an empty error for {request:?}");
            return Ok(None);
        }
    };
    if let Some(name) = &request.template {
        prop_assert!(catalog().get(name).is_ok(), "accepted a template name that is not bundled: {name:?}");
        prop_assert!(!name.contains('/') && !name.contains(".."), "{name:?}");
    }
    for name in request.assets.iter().flat_map(|a| a.keys()) {
        prop_assert!(
            !name.starts_with('/')
                && !name.split('/').any(|s| s.is_empty() || s == "." || s == "..")
                && !name.contains('\\'),
            "accepted the asset name {name:?}"
        );
    }
    if let Some(key) = &request.baseline {
        prop_assert!(pixelproof::baseline::Key::parse(key).is_ok(), "accepted the baseline key {key:?}");
    }
    prop_assert!(doc.html.len() <= limits.max_html_bytes, "HTML of {} bytes accepted", doc.html.len());
    prop_assert!(pixelproof::render::print::print_params(&doc.options).is_ok());
    Ok(Some(doc.html))
}

fn assert_escaped(html: &str) -> Result<(), TestCaseError> {
    for raw in [
        format!("<script>{INJECTED}"),
        format!("<img src=x onerror={INJECTED}"),
        format!("<svg onload={INJECTED}"),
        format!("<!--{INJECTED}"),
    ] {
        prop_assert!(!html.contains(&raw), "data reached the HTML unescaped: {raw}");
    }
    Ok(())
}

/// One of the job's fields, or a stranger: the values aim at every check.
fn job_json() -> impl Strategy<Value = Value> {
    let template = prop_oneof![
        Just(json!("invoice")),
        Just(json!("report")),
        Just(json!("../invoice")),
        Just(json!("invoice/../report")),
        Just(json!("/etc/passwd")),
        Just(json!("INVOICE")),
        Just(json!("%2e%2e")),
        json_value(),
    ];
    let asset_name = prop_oneof![
        Just("logo.png".to_string()),
        Just("img/logo.png".to_string()),
        Just("../secret".to_string()),
        Just("/etc/passwd".to_string()),
        Just("a//b.png".to_string()),
        Just("./a.png".to_string()),
        Just("a\\b.png".to_string()),
        Just("%2e%2e/x".to_string()),
        Just(String::new()),
        "\\PC{0,12}",
    ];
    let asset_body =
        prop_oneof![Just("aGVsbG8=".to_string()), Just("not base64!".to_string()), "[A-Za-z0-9+/=]{0,5000}"];
    let assets = prop::collection::btree_map(asset_name, asset_body, 0..4)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect()));
    let option_value = prop_oneof![
        Just(json!("A4")),
        Just(json!("Letter")),
        Just(json!({"width": 8.5, "height": 11})),
        Just(json!({"width": -1, "height": 1e308})),
        Just(json!("15mm")),
        Just(json!({"top": "1in", "right": "-5mm", "bottom": "calc(1px)", "left": "1e9cm"})),
        Just(json!(0.5)),
        Just(json!(1e300)),
        Just(json!("1-3, 5")),
        Just(json!("0-99999999999")),
        Just(json!("<span class=pageNumber></span>")),
        json_value(),
    ];
    let options = prop::collection::btree_map(
        prop_oneof![
            Just("paper"),
            Just("margins"),
            Just("landscape"),
            Just("scale"),
            Just("page_ranges"),
            Just("header_template"),
            Just("footer_template"),
            Just("title"),
            Just("strict_fonts"),
            Just("unknown"),
        ],
        option_value,
        0..5,
    )
    .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()));
    let field = prop_oneof![
        template.prop_map(|v| ("template", v)),
        json_value().prop_map(|v| ("data", v)),
        hostile_string().prop_map(|s| ("html", json!(s))),
        assets.prop_map(|v| ("assets", v)),
        options.prop_map(|v| ("options", v)),
        prop_oneof![Just(json!("invoice/basic")), Just(json!("../x/y")), Just(json!("a/b/c")), json_value()]
            .prop_map(|v| ("baseline", v)),
        prop_oneof![Just(json!("http://127.0.0.1:1/hook")), Just(json!("file:///etc/passwd")), json_value()]
            .prop_map(|v| ("callback_url", v)),
        json_value().prop_map(|v| ("unexpected", v)),
    ];
    prop::collection::vec(field, 0..6).prop_map(|fields| {
        let mut m = Map::new();
        for (k, v) in fields {
            m.insert(k.to_string(), v);
        }
        Value::Object(m)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Any bytes at all: parsing never panics.
    #[test]
    fn any_body_bytes_parse_or_are_refused(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        if let Ok(request) = serde_json::from_slice::<JobRequest>(&bytes) {
            check_accepted(&request)?;
        }
    }

    /// Job JSON made of the fields' hostile values, whole or cut short or with a byte changed.
    #[test]
    fn job_json_is_validated_without_panics(job in job_json(), cut in any::<prop::sample::Index>(), flip in any::<Option<(prop::sample::Index, u8)>>()) {
        let mut bytes = serde_json::to_vec(&job).expect("serialise");
        if let Some((at, byte)) = flip {
            let i = at.index(bytes.len().max(1)).min(bytes.len().saturating_sub(1));
            if let Some(b) = bytes.get_mut(i) { *b = byte; }
        }
        for body in [bytes.clone(), bytes[..cut.index(bytes.len() + 1)].to_vec()] {
            if let Ok(request) = serde_json::from_slice::<JobRequest>(&body) {
                check_accepted(&request)?;
            }
        }
    }

    /// Template data: a fixture with some of its values replaced by hostile or wrongly typed
    /// ones. Rendering never panics, and nothing in the data reaches the HTML as markup.
    #[test]
    fn template_data_is_rendered_escaped(which in 0..FIXTURES.len(), edits in prop::collection::vec((any::<prop::sample::Index>(), json_value()), 1..6)) {
        let (template, name) = FIXTURES[which];
        let mut data = fixture(template, name);
        for (at, value) in edits {
            let mut all = Vec::new();
            paths(&data, Vec::new(), &mut all);
            let path = all[at.index(all.len())].clone();
            if path.is_empty() { continue; }
            if let Some(slot) = at_mut(&mut data, &path) { *slot = value; }
        }
        let Value::Object(map) = data else { unreachable!("fixtures are objects") };
        let request = JobRequest { template: Some(template.to_string()), data: Some(map), ..JobRequest::default() };
        if let Some(html) = check_accepted(&request)? {
            assert_escaped(&html)?;
        }
    }

    /// Hostile strings in the fixture's string fields that the template prints stay text.
    #[test]
    fn hostile_strings_in_printed_fields_stay_text(which in 0..FIXTURES.len(), s in hostile_string(), picks in prop::collection::vec(any::<prop::sample::Index>(), 1..8)) {
        let (template, name) = FIXTURES[which];
        let mut data = fixture(template, name);
        let printed = printed_fields(which);
        for pick in picks {
            let path = &printed[pick.index(printed.len())];
            if let Some(slot) = at_mut(&mut data, path) { *slot = Value::String(s.clone()); }
        }
        let Value::Object(map) = data else { unreachable!("fixtures are objects") };
        let request = JobRequest { template: Some(template.to_string()), data: Some(map), ..JobRequest::default() };
        if let Some(html) = check_accepted(&request)? {
            assert_escaped(&html)?;
            if s.contains(INJECTED) && s.len() < 100 {
                prop_assert!(html.contains(INJECTED), "the hostile string was not printed at all, so this proved nothing");
            }
        }
    }

    /// Any header bytes (a value HTTP can carry, and any other): the key is checked without
    /// panics; an accepted key is 1 to 255 printable ASCII characters without surrounding
    /// spaces, and a refused one says which rule it broke.
    #[test]
    fn idempotency_keys_are_checked_without_panics(
        bytes in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..300),
            prop::collection::vec(0x20u8..0x7f, 0..300),
            "[ -~]{0,10}[\\x00-\\x1f\\x7f-\\u{10ffff}][ -~]{0,10}".prop_map(String::into_bytes),
        ],
        repeat in 1usize..3,
    ) {
        match IdempotencyKey::parse(&bytes) {
            Ok(key) => {
                let k = key.as_str();
                prop_assert!((1..=MAX_KEY_LEN).contains(&k.len()), "{k:?}");
                prop_assert!(k.bytes().all(|b| (b' '..=b'~').contains(&b)) && k.trim() == k, "{k:?}");
            }
            Err(KeyError::NotPrintable { byte, at }) => prop_assert_eq!(bytes[at], byte),
            Err(KeyError::TooLong(n)) => prop_assert!(n > MAX_KEY_LEN),
            Err(KeyError::Empty) => prop_assert!(bytes.iter().all(|&b| b == b' ')),
            Err(e @ KeyError::Repeated(_)) => prop_assert!(false, "one value cannot be repeated: {e}"),
        }
        // As the API reads it: from the request's headers, where it may come more than once.
        if let Ok(value) = axum::http::HeaderValue::from_bytes(&bytes) {
            let mut headers = axum::http::HeaderMap::new();
            for _ in 0..repeat {
                headers.append("idempotency-key", value.clone());
            }
            let read = IdempotencyKey::from_headers(&headers);
            if repeat > 1 {
                prop_assert_eq!(read, Err(KeyError::Repeated(repeat)));
            } else {
                prop_assert_eq!(read, IdempotencyKey::parse(&bytes).map(Some));
            }
        }
    }
}
