//! `POST /forms/chromium/convert/html`: Gotenberg 8's HTML route, so a Gotenberg client
//! (gotenberg-js-client, the `curl -F` lines of Gotenberg's docs) works against pixelproof
//! unchanged, and gets a proved PDF.
//!
//! The form becomes a [`JobRequest`] (`index.html` → `html`, `header.html` / `footer.html`
//! → the running header and footer, other files → assets, fields → print options with
//! Gotenberg's defaults) and goes the way of `POST /v1/render`: the same proof, routing and
//! fallback, answered synchronously with the proof in the headers. A field that asks for
//! the network, or for what pixelproof does not do, is refused by name ([`REFUSED`]);
//! README's "Coming from Gotenberg" lists every field.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::problem::Problem;
use super::upload::{self, Form, UploadLimits};
use super::AppState;
use crate::document::{Margins, Media, Metadata, Paper, PaperLength};
use crate::request::{JobOptions, JobRequest};

/// Request header: the PDF's file name, without `.pdf` (Gotenberg's).
pub const OUTPUT_FILENAME_HEADER: &str = "gotenberg-output-filename";
/// Request and response header: the request's trace id (made up when not sent).
pub const TRACE_HEADER: &str = "gotenberg-trace";

/// Gotenberg's default paper (inches) and margins (inches), which its clients expect.
const DEFAULT_PAPER: (&str, &str) = ("8.5", "11");
const DEFAULT_MARGIN: &str = "0.39";

/// Gotenberg fields pixelproof refuses, and why (README's "Coming from Gotenberg" says the same).
pub const REFUSED: &[(&str, &str)] = &[
    ("cookies", "it asks for the network: a document is sealed, so there is nothing to send cookies to"),
    ("extraHttpHeaders", "it asks for the network: a document is sealed and makes no HTTP requests"),
    ("userAgent", "it only matters to the network, and a document is sealed"),
    ("downloadFrom", "it asks for the network: send the files in the form instead"),
    ("failOnHttpStatusCodes", "pixelproof serves the page itself: there is no HTTP status to fail on"),
    (
        "failOnResourceHttpStatusCodes",
        "pixelproof serves the document's files itself and refuses every other request (see X-Pixelproof-Blocked-Requests)",
    ),
    ("ignoreResourceHttpStatusDomains", "a document is sealed: it reaches no domain"),
    (
        "failOnResourceLoadingFailed",
        "refused requests are counted in X-Pixelproof-Blocked-Requests and judged by the proof's blocked-requests rule",
    ),
    ("emulatedMediaFeatures", "not supported yet"),
    ("pdfa", "PDF/A is not produced: no validator is installed to prove a file conforms"),
    ("pdfua", "PDF/UA is not claimed: pixelproof writes tagged PDFs (generateTaggedPdf) but cannot validate PDF/UA"),
    ("splitMode", "splitting is not supported"),
    ("splitSpan", "splitting is not supported"),
    ("splitUnify", "splitting is not supported"),
    ("flatten", "not supported"),
];

/// Gotenberg fields pixelproof takes and has no use for: the page has no network to wait on.
pub const NO_EFFECT: &[&str] = &["skipNetworkIdleEvent", "skipNetworkAlmostIdleEvent"];

/// What is wrong with a Gotenberg form. Each names the field, file or header.
#[derive(Debug, thiserror::Error)]
pub enum FormError {
    #[error("no index.html in the form: send the page as a file named index.html (curl: -F files=@index.html)")]
    NoIndex,
    #[error("{0} is not UTF-8 text")]
    NotText(&'static str),
    #[error("field {field:?} is {value:?}; {expected}")]
    Value { field: String, value: String, expected: String },
    #[error("field {0:?} is sent twice; send it once")]
    Duplicate(String),
    #[error(
        "unknown field {0:?}: pixelproof takes Gotenberg 8's Chromium HTML fields (README, \"Coming from Gotenberg\")"
    )]
    Unknown(String),
    #[error("field {field:?} is refused: {why}")]
    Refused { field: String, why: &'static str },
    #[error("files sent as {0:?} are refused: embedding files in the PDF is not supported")]
    Embeds(String),
    #[error("header {header} is refused: webhooks are for queued jobs; POST /v1/jobs with a \"callback_url\"")]
    Webhook { header: String },
    #[error("Gotenberg's route {route} is refused: {why}")]
    Route { route: String, why: &'static str },
}

impl From<FormError> for Problem {
    fn from(e: FormError) -> Problem {
        let status = match e {
            FormError::Refused { .. } | FormError::Embeds(_) | FormError::Webhook { .. } | FormError::Route { .. } => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            _ => StatusCode::BAD_REQUEST,
        };
        Problem::new(status, "invalid-form", "The form cannot be printed as sent", e.to_string())
    }
}

#[utoipa::path(post, path = "/forms/chromium/convert/html", tag = "render",
    request_body(content_type = "multipart/form-data",
        description = "Gotenberg 8's form: files index.html (required), header.html, footer.html and assets; \
                       fields paperWidth, paperHeight, marginTop/Bottom/Left/Right, preferCssPageSize, printBackground, \
                       omitBackground, landscape, scale, nativePageRanges, singlePage, generateDocumentOutline, generateTaggedPdf, \
                       emulatedMediaType, waitDelay, waitForExpression, metadata. See README, \"Coming from Gotenberg\"."),
    params(
        ("Gotenberg-Output-Filename" = Option<String>, Header, description = "The PDF's file name, without .pdf"),
        ("Gotenberg-Trace" = Option<String>, Header, description = "A trace id, answered back (made up when absent)")),
    responses(
        (status = 200, description = "The proved PDF, with X-Pixelproof-* headers", content_type = "application/pdf"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 413, body = Problem),
        (status = 422, body = Problem), (status = 502, body = Problem)),
    security(("bearer" = [])))]
pub async fn convert_html(State(state): State<AppState>, request: Request) -> Response {
    let headers = request.headers().clone();
    let trace = headers
        .get(TRACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| ulid::Ulid::new().to_string(), str::to_string);
    let mut response = convert(&state, &headers, request, &trace).await.unwrap_or_else(IntoResponse::into_response);
    if let Ok(v) = HeaderValue::from_str(&trace) {
        response.headers_mut().insert(TRACE_HEADER, v);
    }
    response
}

/// Every other Gotenberg route (`/forms/…`): refused by name, and why, rather than a bare 404.
/// The URL route asks for the network; the others are engines pixelproof does not have.
pub async fn other_route(uri: axum::http::Uri) -> Problem {
    let route = uri.path().to_string();
    let why = if route.starts_with("/forms/chromium/convert/url") || route.starts_with("/forms/chromium/screenshot/url")
    {
        "it asks for the network (Chromium would fetch the URL), and a document is sealed; fetch the page yourself \
         and send it as index.html, with its files, to /forms/chromium/convert/html"
    } else {
        "pixelproof proves HTML printed by Chromium; its one Gotenberg route is /forms/chromium/convert/html \
         (README, \"Coming from Gotenberg\")"
    };
    FormError::Route { route, why }.into()
}

async fn convert(state: &AppState, headers: &HeaderMap, request: Request, trace: &str) -> Result<Response, Problem> {
    if let Some(header) = headers.keys().find(|h| h.as_str().starts_with("gotenberg-webhook")) {
        return Err(FormError::Webhook { header: header.to_string() }.into());
    }
    let limits = UploadLimits::new(&state.config.app.limits, state.config.max_body_bytes);
    let multipart = Multipart::from_request(request, state).await?;
    let form = upload::read(multipart, limits).await?;
    let job = job_from_gotenberg(form).inspect_err(|_| state.metrics.job("invalid"))?;
    // Named as asked, or after the trace, as Gotenberg names it after its request id.
    let name = headers
        .get(OUTPUT_FILENAME_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .unwrap_or(trace);
    super::render::answer(state, &job, Some(format!("{}.pdf", name.trim_end_matches(".pdf")))).await
}

/// The job a Gotenberg form asks for, with Gotenberg's defaults where it says nothing.
pub fn job_from_gotenberg(form: Form) -> Result<JobRequest, FormError> {
    if let Some(part) = form.file_parts.iter().find(|p| p.as_str() == "embeds") {
        return Err(FormError::Embeds(part.clone()));
    }
    let mut files = form.files;
    let text = |bytes: Vec<u8>, what: &'static str| String::from_utf8(bytes).map_err(|_| FormError::NotText(what));
    let html = text(files.remove("index.html").ok_or(FormError::NoIndex)?, "index.html")?;
    let header = files.remove("header.html").map(|b| text(b, "header.html")).transpose()?;
    let footer = files.remove("footer.html").map(|b| text(b, "footer.html")).transpose()?;

    let mut fields = BTreeMap::new();
    for (name, value) in form.fields {
        if fields.insert(name.clone(), value).is_some() {
            return Err(FormError::Duplicate(name));
        }
    }
    let mut options = options_from_fields(&mut fields)?;
    // Gotenberg's passwords: the owner's is the user's unless given (lopdf's rule as well).
    let user_password = fields.remove("userPassword");
    let owner_password = fields.remove("ownerPassword");
    let encryption = (user_password.is_some() || owner_password.is_some()).then(|| crate::document::Encryption {
        user_password: user_password.unwrap_or_default(),
        owner_password,
        permissions: None,
    });
    options.header_template = header;
    options.footer_template = footer;
    if let Some(name) = fields.keys().next() {
        return Err(match REFUSED.iter().find(|(f, _)| f == name) {
            Some((_, why)) => FormError::Refused { field: name.clone(), why },
            None => FormError::Unknown(name.clone()),
        });
    }
    let assets: BTreeMap<String, String> = files
        .into_iter()
        .map(|(name, bytes)| (name, base64::engine::general_purpose::STANDARD.encode(bytes)))
        .collect();
    Ok(JobRequest {
        html: Some(html),
        assets: (!assets.is_empty()).then_some(assets),
        options: Some(options),
        encryption,
        ..JobRequest::default()
    })
}

/// Takes every field pixelproof understands out of `fields` and makes the print options.
fn options_from_fields(fields: &mut BTreeMap<String, String>) -> Result<JobOptions, FormError> {
    let value_err = |field: &str, value: &str, expected: &str| FormError::Value {
        field: field.to_string(),
        value: value.to_string(),
        expected: expected.to_string(),
    };
    let mut take = |name: &str| fields.remove(name);
    for name in NO_EFFECT {
        take(name).map(|v| parse_bool(name, &v)).transpose()?;
    }
    let bool_field = |name: &str, value: Option<String>, default: bool| -> Result<bool, FormError> {
        value.map_or(Ok(default), |v| parse_bool(name, &v))
    };

    let side = |name: &str, side: &'static str, value: Option<String>, default: &str| {
        let value = value.unwrap_or_else(|| default.to_string());
        PaperLength::parse(side, &value).map_err(|e| value_err(name, &value, &e.to_string()))
    };
    let width = side("paperWidth", "width", take("paperWidth"), DEFAULT_PAPER.0)?;
    let height = side("paperHeight", "height", take("paperHeight"), DEFAULT_PAPER.1)?;

    let margin = |name: &str, value: Option<String>| {
        let value = value.unwrap_or_else(|| DEFAULT_MARGIN.to_string());
        match crate::document::css_length_inches(&value) {
            Some(_) => Ok(value),
            None => Err(value_err(
                name,
                &value,
                "write a length like \"0.5\" (inches), \"10mm\", \"1cm\", \"36pt\", \"48px\" or \"3pc\"",
            )),
        }
    };
    let margins = Margins {
        top: margin("marginTop", take("marginTop"))?,
        right: margin("marginRight", take("marginRight"))?,
        bottom: margin("marginBottom", take("marginBottom"))?,
        left: margin("marginLeft", take("marginLeft"))?,
    };

    let scale = match take("scale") {
        Some(v) => Some(v.trim().parse::<f64>().map_err(|_| value_err("scale", &v, "write a number from 0.1 to 2"))?),
        None => None,
    };
    let media = match take("emulatedMediaType") {
        Some(v) => Some(match v.trim().to_ascii_lowercase().as_str() {
            "print" => Media::Print,
            "screen" => Media::Screen,
            _ => return Err(value_err("emulatedMediaType", &v, "use print or screen")),
        }),
        None => None,
    };
    let wait_delay_ms = match take("waitDelay") {
        Some(v) => Some(
            parse_duration_ms(&v)
                .ok_or_else(|| value_err("waitDelay", &v, "write a duration like \"500ms\", \"2s\" or \"1.5s\""))?,
        ),
        None => None,
    };
    let metadata = match take("metadata") {
        Some(v) => Some(metadata(&v)?),
        None => None,
    };
    let outline = bool_field("generateDocumentOutline", take("generateDocumentOutline"), false)?;
    // Chromium builds the outline from the tags: asking for an outline asks for tags too,
    // unless the form says otherwise (then the print options' own error names both).
    let tagged = bool_field("generateTaggedPdf", take("generateTaggedPdf"), outline)?;
    Ok(JobOptions {
        paper: Some(Paper::Size { width, height }),
        margins: Some(margins),
        landscape: Some(bool_field("landscape", take("landscape"), false)?),
        scale,
        page_ranges: take("nativePageRanges"),
        prefer_css_page_size: Some(bool_field("preferCssPageSize", take("preferCssPageSize"), false)?),
        background: Some(bool_field("printBackground", take("printBackground"), false)?),
        omit_background: Some(bool_field("omitBackground", take("omitBackground"), false)?),
        single_page: Some(bool_field("singlePage", take("singlePage"), false)?),
        outline: Some(outline),
        tagged: Some(tagged),
        media,
        wait_for_expression: take("waitForExpression").filter(|e| !e.trim().is_empty()),
        wait_delay_ms,
        metadata,
        fail_on_console_exceptions: Some(bool_field(
            "failOnConsoleExceptions",
            take("failOnConsoleExceptions"),
            false,
        )?),
        ..JobOptions::default()
    })
}

/// A boolean as Go's `strconv.ParseBool` reads it (what Gotenberg accepts).
fn parse_bool(field: &str, value: &str) -> Result<bool, FormError> {
    match value.trim() {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(FormError::Value {
            field: field.to_string(),
            value: value.to_string(),
            expected: "use true or false".to_string(),
        }),
    }
}

/// A Go duration with one unit (`500ms`, `2s`, `1.5s`, `1m`) in milliseconds.
fn parse_duration_ms(value: &str) -> Option<u64> {
    let v = value.trim();
    let split = v.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = v.split_at(split);
    let n: f64 = num.parse().ok()?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => return None,
    };
    (ms.is_finite() && ms >= 0.0 && ms <= u64::MAX as f64).then_some(ms.round() as u64)
}

/// Gotenberg's `metadata` field (a JSON object keyed `Title`, `Author`, …) as [`Metadata`].
fn metadata(text: &str) -> Result<Metadata, FormError> {
    let err = |expected: String| FormError::Value { field: "metadata".into(), value: text.to_string(), expected };
    let object: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| err(format!("it must be a JSON object ({e})")))?;
    let mut out = Metadata::default();
    for (key, value) in object {
        let string = || match &value {
            serde_json::Value::String(s) => Ok(s.clone()),
            _ => Err(err(format!("\"{key}\" must be a string"))),
        };
        let date = || {
            let s = string()?;
            chrono::DateTime::parse_from_rfc3339(&s)
                .map_err(|_| err(format!("\"{key}\" must be an RFC 3339 date like \"2024-05-01T12:00:00Z\"")))
        };
        match key.as_str() {
            "Title" => out.title = Some(string()?),
            "Author" => out.author = Some(string()?),
            "Subject" => out.subject = Some(string()?),
            "Creator" => out.creator = Some(string()?),
            "Producer" => out.producer = Some(string()?),
            "CreationDate" => out.created = Some(date()?),
            "ModDate" => out.modified = Some(date()?),
            "Keywords" => {
                out.keywords = match &value {
                    serde_json::Value::String(s) => vec![s.clone()],
                    serde_json::Value::Array(items) => items
                        .iter()
                        .map(|k| k.as_str().map(str::to_string))
                        .collect::<Option<_>>()
                        .ok_or_else(|| err("\"Keywords\" must be a string or an array of strings".into()))?,
                    _ => return Err(err("\"Keywords\" must be a string or an array of strings".into())),
                }
            }
            _ => {
                return Err(err(format!(
                    "the key \"{key}\" is not written; use Title, Author, Subject, Keywords, Creator, Producer, \
                     CreationDate, ModDate"
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(fields: &[(&str, &str)], files: &[&str]) -> Form {
        let mut form = Form::default();
        for (k, v) in fields {
            form.fields.push((k.to_string(), v.to_string()));
        }
        for f in files {
            form.files.insert(f.to_string(), format!("<p>{f}</p>").into_bytes());
        }
        form
    }

    #[test]
    fn gotenberg_defaults_apply_where_the_form_is_silent() {
        let job = job_from_gotenberg(form(&[], &["index.html", "logo.png"])).unwrap();
        assert_eq!(job.html.as_deref(), Some("<p>index.html</p>"));
        assert!(job.assets.unwrap().contains_key("logo.png"));
        let o = job.options.unwrap();
        assert_eq!(o.paper.unwrap().inches(), (8.5, 11.0));
        assert_eq!(o.margins.unwrap().top, "0.39");
        assert_eq!((o.background, o.tagged, o.prefer_css_page_size), (Some(false), Some(false), Some(false)));
    }

    #[test]
    fn fields_map_to_print_options() {
        let fields = [
            ("paperWidth", "210mm"),
            ("paperHeight", "297mm"),
            ("marginTop", "1cm"),
            ("landscape", "true"),
            ("scale", "0.9"),
            ("nativePageRanges", "1-2"),
            ("printBackground", "1"),
            ("generateDocumentOutline", "true"),
            ("emulatedMediaType", "screen"),
            ("waitDelay", "1.5s"),
            ("waitForExpression", "window.ready === true"),
            ("skipNetworkIdleEvent", "false"),
            ("failOnConsoleExceptions", "true"),
            ("metadata", r#"{"Title": "T", "Keywords": ["a", "b"], "CreationDate": "2024-05-01T12:00:00Z"}"#),
        ];
        let job = job_from_gotenberg(form(&fields, &["index.html", "header.html", "footer.html"])).unwrap();
        let o = job.options.unwrap();
        let (w, h) = o.paper.unwrap().inches();
        assert!((w - 210.0 / 25.4).abs() < 1e-9 && (h - 297.0 / 25.4).abs() < 1e-9);
        assert_eq!(o.margins.unwrap().top, "1cm");
        assert_eq!((o.landscape, o.scale, o.page_ranges.as_deref()), (Some(true), Some(0.9), Some("1-2")));
        assert_eq!((o.background, o.outline, o.tagged), (Some(true), Some(true), Some(true)));
        assert_eq!(o.media, Some(Media::Screen));
        assert_eq!(o.wait_delay_ms, Some(1500));
        assert_eq!(o.fail_on_console_exceptions, Some(true));
        assert_eq!(o.wait_for_expression.as_deref(), Some("window.ready === true"));
        assert_eq!(o.header_template.as_deref(), Some("<p>header.html</p>"));
        let m = o.metadata.unwrap();
        assert_eq!((m.title.as_deref(), m.keywords.len()), (Some("T"), 2));
        assert!(job.assets.is_none(), "header and footer are not assets");
    }

    #[test]
    fn each_mistake_names_its_field() {
        type Case<'a> = (&'a [(&'a str, &'a str)], &'a [&'a str], &'a str);
        let cases: &[Case] = &[
            (&[], &["page.html"], "no index.html"),
            (&[("paperWidth", "8 furlongs")], &["index.html"], "\"paperWidth\""),
            (&[("marginLeft", "wide")], &["index.html"], "\"marginLeft\""),
            (&[("landscape", "yes")], &["index.html"], "\"landscape\""),
            (&[("cookies", "[]")], &["index.html"], "\"cookies\" is refused: it asks for the network"),
            (&[("extraHttpHeaders", "{}")], &["index.html"], "\"extraHttpHeaders\" is refused"),
            (&[("paperwidth", "8")], &["index.html"], "unknown field \"paperwidth\""),
            (&[("metadata", r#"{"Copyright": "x"}"#)], &["index.html"], "\"Copyright\" is not written"),
            (&[("metadata", r#"{"ModDate": "yesterday"}"#)], &["index.html"], "RFC 3339"),
            (&[("waitDelay", "5 minutes")], &["index.html"], "\"waitDelay\""),
            (&[("scale", "1"), ("scale", "2")], &["index.html"], "sent twice"),
        ];
        for (fields, files, expected) in cases {
            let err = job_from_gotenberg(form(fields, files)).unwrap_err().to_string();
            assert!(err.contains(expected), "{fields:?}: {err}");
        }
        let mut embeds = form(&[], &["index.html"]);
        embeds.file_parts.insert("embeds".into());
        assert!(job_from_gotenberg(embeds).unwrap_err().to_string().contains("embedding"));
    }

    #[test]
    fn go_durations_and_bools() {
        assert_eq!(parse_duration_ms("500ms"), Some(500));
        assert_eq!(parse_duration_ms("2s"), Some(2000));
        assert_eq!(parse_duration_ms("1m"), Some(60_000));
        assert_eq!(parse_duration_ms("2"), None);
        assert_eq!(parse_duration_ms("-1s"), None);
        assert!(parse_bool("x", "True").unwrap() && !parse_bool("x", "0").unwrap());
    }
}
