//! The body of a *job* as clients send it (`POST /v1/render` now, `POST /v1/jobs` later),
//! and its validation into a printable [`Document`].
//!
//! Everything a client can get wrong is a [`RequestError`] that says what to change:
//! both or neither of `template`/`html`, an unknown template, data its schema refuses (every
//! problem listed) or it cannot render with (strict undefined), sizes over the [`Limits`], bad
//! print options or a bad baseline key.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::document::{Assets, Document, Margins, Media, Metadata, Origin, Paper, PrintOptions, Watermark};
use crate::fixture::Key;
use crate::template::{Catalog, TemplateError};

/// How big a job may be. Part of the server's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Bytes of `html` (or of the HTML a template renders to).
    pub max_html_bytes: usize,
    /// Bytes of `data` as JSON.
    pub max_data_bytes: usize,
    /// Nesting depth of `data` (objects and arrays).
    pub max_data_depth: usize,
    /// Decoded bytes of all `assets` together.
    pub max_asset_bytes: usize,
    /// Pages a document may have.
    pub max_pages: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_html_bytes: 2 * 1024 * 1024,
            max_data_bytes: 1024 * 1024,
            max_data_depth: 32,
            max_asset_bytes: 8 * 1024 * 1024,
            max_pages: crate::document::DEFAULT_MAX_PAGES,
        }
    }
}

/// A job: a template with data, or raw HTML with its assets; how to print it; and
/// optionally the baseline to compare it with and where to report the result.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobRequest {
    /// A bundled template (see `GET /v1/templates`). Exactly one of `template` and `html`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The template's data: a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
    /// Raw HTML to print. Exactly one of `template` and `html`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Files the HTML may load, by relative path, base64-encoded (HTML jobs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assets: Option<BTreeMap<String, String>>,
    /// Print options; each one given overrides the template's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<JobOptions>,
    /// The baseline to compare with, `TEMPLATE/FIXTURE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Where to POST the result when the job finishes (queued jobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Headers sent with every webhook of this job (e.g. the app's own token), beside the
    /// signature's. At most 16; not `Host`, `Content-*`, `User-Agent`, `webhook-*` nor a
    /// hop-by-hop header (`Connection`, `Transfer-Encoding`, `TE`, `Upgrade`, `Proxy-*`…). Kept in the job's record: not for secrets you cannot rotate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_headers: Option<BTreeMap<String, String>>,
    /// Password protection (AES-256) for the PDF answered by `POST /v1/render`: applied to the
    /// proved PDF, which is then proved again. Not for queued jobs: a job's record is kept,
    /// and a password must not be. Never written anywhere (not serialised).
    #[serde(default, skip_serializing)]
    pub encryption: Option<crate::document::Encryption>,
    /// Documents printed after this one, in order, and merged with it into one PDF, which is
    /// proved as a whole. Each is a template with data or HTML with assets, with its own print
    /// options (paper, margins, header…); the job's `watermark` and `metadata` apply to the
    /// merged PDF, so a merged document may not set them. At most 16; not with `baseline`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merge: Option<Vec<MergeDocument>>,
}

/// One document of a job's `merge`: what a job says about its document, and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeDocument {
    /// A bundled template. Exactly one of `template` and `html`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// The template's data: a JSON object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Map<String, serde_json::Value>>,
    /// Raw HTML to print. Exactly one of `template` and `html`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Files this document's HTML may load, by relative path, base64-encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assets: Option<BTreeMap<String, String>>,
    /// This document's print options (not `watermark` or `metadata`: the job's apply to the
    /// merged PDF).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<JobOptions>,
}

/// The most documents a job may merge into its own.
pub const MAX_MERGED: usize = 16;

/// Print options of a job; the same names as a template's `template.json` options.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct JobOptions {
    /// A name in any case (`"A4"`, `"letter"`), or `{"width": "210mm", "height": "297mm"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<PaperSchema>)]
    pub paper: Option<Paper>,
    /// CSS lengths: `{"top": "20mm", "right": "…", "bottom": "…", "left": "…"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<MarginsSchema>)]
    pub margins: Option<Margins>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub landscape: Option<bool>,
    /// 0.1 to 2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// Pages to print, e.g. `"1-3, 5"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_ranges: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub footer_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Fail an HTML job when a font it asks for did not load (template jobs always do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strict_fonts: Option<bool>,
    /// Write the PDF's outline (bookmarks) from the headings. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outline: Option<bool>,
    /// Write a tagged (accessible) PDF. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tagged: Option<bool>,
    /// The CSS media the document is laid out for: `print` (default) or `screen`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media: Option<Media>,
    /// Print CSS backgrounds (colours and images). Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<bool>,
    /// No white page behind the document: transparent where it paints no background. Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omit_background: Option<bool>,
    /// A CSS `@page { size }` wins over `paper`. Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefer_css_page_size: Option<bool>,
    /// A JavaScript expression the page must make true (truthy, awaited) before it prints,
    /// e.g. `"window.chartsReady === true"`. An expression that throws is the job's error.
    /// The fallback renderer refuses it (it runs no script).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_for_expression: Option<String>,
    /// Milliseconds to wait after the page loads, before it prints (within the render timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_delay_ms: Option<u64>,
    /// Fail the job when the page's scripts threw an uncaught exception, or left a promise
    /// rejection unhandled, before it printed (a 422 listing them). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_on_console_exceptions: Option<bool>,
    /// The PDF's document information; each key given replaces what the engine wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<MetadataSchema>)]
    pub metadata: Option<Metadata>,
    /// Text or an image (one of the job's assets) stamped over or under the pages, before the
    /// proof: `{"text": "DRAFT"}`, `{"image": "stamp.png", "layer": "under", "pages": "1"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Watermark>,
    /// The whole document on one page, as wide as the paper and as tall as its content
    /// (page breaks ignored), like Gotenberg's `singlePage`. Default false; not with
    /// `page_ranges`. The fallback renderer refuses it (it cannot measure the document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub single_page: Option<bool>,
}

/// The PDF's document information (its Info dictionary), written after printing and read
/// back by the proof. Dates are RFC 3339; left out, they are a fixed date (2000-01-01), so
/// the same job gives the same bytes.
#[derive(ToSchema)]
#[schema(as = Metadata)]
#[allow(dead_code)]
struct MetadataSchema {
    title: Option<String>,
    author: Option<String>,
    subject: Option<String>,
    keywords: Option<Vec<String>>,
    creator: Option<String>,
    producer: Option<String>,
    #[schema(format = DateTime)]
    created: Option<String>,
    #[schema(format = DateTime)]
    modified: Option<String>,
}

/// A paper name (any case) or a size: the OpenAPI shape of [`Paper`] (its own serde reads it).
#[derive(ToSchema)]
#[schema(as = Paper)]
#[allow(dead_code)]
#[serde(untagged)]
enum PaperSchema {
    Name(PaperNameSchema),
    Size {
        /// A length with its unit (`in`, `mm`, `cm`, `pt`, `px`, `pc`) or a number of inches.
        width: LengthSchema,
        height: LengthSchema,
    },
}

/// A paper name, read in any case (`"a4"` is `"A4"`).
#[derive(ToSchema)]
#[schema(as = PaperName)]
#[allow(dead_code)]
enum PaperNameSchema {
    A3,
    A4,
    A5,
    Letter,
    Legal,
}

/// A length with its unit (`"210mm"`, `"8.5in"`, `"21cm"`, `"612pt"`, `"816px"`, `"51pc"`),
/// or a number of inches. Each paper side is 1 to 200 inches.
#[derive(ToSchema)]
#[schema(as = PaperLength)]
#[allow(dead_code)]
#[serde(untagged)]
enum LengthSchema {
    Text(String),
    Inches(f64),
}

/// Page margins, each a CSS length (`"20mm"`, `"0.5in"`, `"12px"`, `"1cm"`, `"36pt"`) or a
/// bare number of inches as a string; a side left out is 10mm.
#[derive(ToSchema)]
#[schema(as = Margins)]
#[allow(dead_code)]
struct MarginsSchema {
    top: Option<String>,
    right: Option<String>,
    bottom: Option<String>,
    left: Option<String>,
}

impl JobOptions {
    /// Sets each option given over `o` (a template's or the defaults).
    pub fn apply(&self, o: &mut PrintOptions) {
        if let Some(p) = &self.paper {
            o.paper = p.clone();
        }
        if let Some(m) = &self.margins {
            o.margins = m.clone();
        }
        if let Some(l) = self.landscape {
            o.landscape = l;
        }
        if let Some(s) = self.scale {
            o.scale = s;
        }
        if let Some(r) = &self.page_ranges {
            o.page_ranges = r.clone();
        }
        if self.header_template.is_some() {
            o.header_template = self.header_template.clone();
        }
        if self.footer_template.is_some() {
            o.footer_template = self.footer_template.clone();
        }
        if self.title.is_some() {
            o.title = self.title.clone();
        }
        if let Some(s) = self.strict_fonts {
            o.strict_fonts = s;
        }
        if let Some(b) = self.outline {
            o.outline = b;
        }
        if let Some(b) = self.tagged {
            o.tagged = b;
        }
        if let Some(m) = self.media {
            o.media = m;
        }
        if let Some(b) = self.background {
            o.background = b;
        }
        if let Some(b) = self.omit_background {
            o.omit_background = b;
        }
        if let Some(b) = self.prefer_css_page_size {
            o.prefer_css_page_size = b;
        }
        if self.wait_for_expression.is_some() {
            o.wait_for_expression = self.wait_for_expression.clone();
        }
        if self.wait_delay_ms.is_some() {
            o.wait_delay_ms = self.wait_delay_ms;
        }
        if let Some(b) = self.fail_on_console_exceptions {
            o.fail_on_console_exceptions = b;
        }
        if let Some(m) = &self.metadata {
            o.metadata = m.clone();
        }
        if self.watermark.is_some() {
            o.watermark = self.watermark.clone();
        }
        if let Some(b) = self.single_page {
            o.single_page = b;
        }
    }
}

/// What is wrong with a job request. Every message says what to send instead.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("give exactly one of \"template\" (with \"data\") and \"html\"; this request has {0}")]
    Source(&'static str),
    #[error(transparent)]
    Template(#[from] TemplateError),
    #[error("\"{field}\" is only for {only} jobs; remove it")]
    NotForThisJob { field: &'static str, only: &'static str },
    #[error("{what} is {size} bytes; the limit is {limit} bytes ({flag})")]
    TooLarge { what: &'static str, size: usize, limit: usize, flag: &'static str },
    #[error("\"data\" is nested {depth} levels deep; the limit is {limit} (--max-data-depth)")]
    TooDeep { depth: usize, limit: usize },
    #[error("asset {path:?} is not a usable relative path: write it like \"img/logo.png\" (no \"..\", no leading \"/\", no empty or \".\" segment, no backslash)")]
    AssetPath { path: String },
    #[error("asset {path:?} is not valid base64: {detail}")]
    AssetEncoding { path: String, detail: String },
    #[error("bad print options: {0}")]
    Options(#[from] crate::render::print::PrintOptionError),
    #[error("\"baseline\" must be a baseline key TEMPLATE/FIXTURE (letters, digits, '-', '_'), not {0:?}")]
    Baseline(String),
    #[error("\"callback_url\" must be an absolute http(s) URL, not {0:?}")]
    CallbackUrl(String),
    #[error("\"callback_headers\": {0}")]
    CallbackHeaders(String),
    #[error(transparent)]
    Watermark(#[from] crate::postprocess::watermark::WatermarkError),
    #[error(transparent)]
    Encryption(#[from] crate::postprocess::encrypt::EncryptionError),
    #[error(
        "\"merge\" has {0} documents; a job may merge at most {MAX_MERGED} into its own: split it into several jobs"
    )]
    TooManyMerged(usize),
    #[error("merge[{index}]: {source}")]
    Merged {
        index: usize,
        #[source]
        source: Box<RequestError>,
    },
    #[error("merge[{index}].options.{field} applies to the merged PDF: set it in the job's own \"options\"")]
    MergedPostprocess { index: usize, field: &'static str },
    #[error("\"baseline\" compares one template's fixture; a job that merges documents has none: prove each document in a job of its own to compare it, or leave \"baseline\" out")]
    MergeBaseline,
    #[error("\"encryption\" is for POST /v1/render (and Gotenberg's form route), which answer the PDF at once: a queued job's record is kept, and a password must not be; render it synchronously, or encrypt the PDF you fetch")]
    EncryptionQueued,
}

/// Most `callback_headers` a job may set.
pub const MAX_CALLBACK_HEADERS: usize = 16;

/// Headers a job may not set on its webhooks: the request's framing, hop-by-hop headers and
/// the signature's (a name ending in `-` is a prefix).
const RESERVED_HEADERS: [&str; 12] = [
    "host",
    "content-",
    "connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "expect",
    "proxy-",
    "webhook-",
    "user-agent",
];

/// A job's `callback_headers`: HTTP tokens for names, visible ASCII for values, none the
/// webhook itself sets.
pub fn check_callback_headers(headers: &BTreeMap<String, String>, has_url: bool) -> Result<(), String> {
    if !has_url {
        return Err("they go with \"callback_url\", which is not set".into());
    }
    if headers.len() > MAX_CALLBACK_HEADERS {
        return Err(format!("{} headers; at most {MAX_CALLBACK_HEADERS}", headers.len()));
    }
    let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
    let mut seen = std::collections::BTreeSet::new();
    for (name, value) in headers {
        if !seen.insert(name.to_ascii_lowercase()) {
            return Err(format!("{name:?} is given twice (header names ignore case)"));
        }
        if name.is_empty() || !name.chars().all(token) {
            return Err(format!("{name:?} is not a header name (letters, digits and !#$%&'*+-.^_`|~)"));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.iter().any(|r| if r.ends_with('-') { lower.starts_with(r) } else { lower == *r }) {
            return Err(format!("{name:?} is set by the webhook itself; choose another name"));
        }
        if value.len() > 1024 || !value.chars().all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic()) {
            return Err(format!(
                "the value of {name:?} must be at most 1024 printable ASCII characters (no line breaks)"
            ));
        }
    }
    Ok(())
}

impl JobRequest {
    /// Validates the request and makes the document it asks for.
    pub fn document(&self, catalog: &Catalog, limits: &Limits) -> Result<Document, RequestError> {
        self.baseline_key()?;
        if let Some(url) = &self.callback_url {
            let ok = url::Url::parse(url).map(|u| matches!(u.scheme(), "http" | "https")).unwrap_or(false);
            if !ok {
                return Err(RequestError::CallbackUrl(url.clone()));
            }
        }
        if let Some(headers) = &self.callback_headers {
            check_callback_headers(headers, self.callback_url.is_some()).map_err(RequestError::CallbackHeaders)?;
        }
        let mut doc = match (&self.template, &self.html) {
            (Some(_), Some(_)) => return Err(RequestError::Source("both")),
            (None, None) => return Err(RequestError::Source("neither")),
            (Some(name), None) => {
                // A template is trusted HTML: a client's script does not run in it.
                if self.options.as_ref().is_some_and(|o| o.wait_for_expression.is_some()) {
                    return Err(RequestError::NotForThisJob { field: "options.wait_for_expression", only: "HTML" });
                }
                self.template_document(name, catalog, limits)?
            }
            (None, Some(html)) => self.html_document(html, limits)?,
        };
        if let Some(options) = &self.options {
            options.apply(&mut doc.options);
        }
        // Validate the options now so a bad one is the client's error, not a render failure.
        crate::render::print::print_params(&doc.options)?;
        crate::postprocess::watermark::check(&doc)?;
        if let Some(encryption) = &self.encryption {
            crate::postprocess::encrypt::check(encryption)?;
        }
        check_size("the HTML", doc.html.len(), limits.max_html_bytes, "--max-html-bytes")?;
        doc.merge = self.merged_documents(catalog, limits)?;
        Ok(doc)
    }

    /// The documents of `merge`, each validated as a job of its own would be.
    fn merged_documents(&self, catalog: &Catalog, limits: &Limits) -> Result<Vec<Document>, RequestError> {
        let Some(merge) = &self.merge else { return Ok(Vec::new()) };
        if merge.len() > MAX_MERGED {
            return Err(RequestError::TooManyMerged(merge.len()));
        }
        if !merge.is_empty() && self.baseline.is_some() {
            return Err(RequestError::MergeBaseline);
        }
        let mut docs = Vec::with_capacity(merge.len());
        for (index, part) in merge.iter().enumerate() {
            if let Some(options) = &part.options {
                if options.watermark.is_some() {
                    return Err(RequestError::MergedPostprocess { index, field: "watermark" });
                }
                if options.metadata.is_some() {
                    return Err(RequestError::MergedPostprocess { index, field: "metadata" });
                }
            }
            let job = JobRequest {
                template: part.template.clone(),
                data: part.data.clone(),
                html: part.html.clone(),
                assets: part.assets.clone(),
                options: part.options.clone(),
                ..JobRequest::default()
            };
            let mut doc =
                job.document(catalog, limits).map_err(|e| RequestError::Merged { index, source: Box::new(e) })?;
            doc.label = format!("{} (merge[{index}])", doc.label);
            docs.push(doc);
        }
        Ok(docs)
    }

    /// [`document`](Self::document) for a job that is queued and kept: one that asks for
    /// encryption is refused (its record would hold the password).
    pub fn queued_document(&self, catalog: &Catalog, limits: &Limits) -> Result<Document, RequestError> {
        if self.encryption.is_some() {
            return Err(RequestError::EncryptionQueued);
        }
        self.document(catalog, limits)
    }

    /// The baseline key, when one was given.
    pub fn baseline_key(&self) -> Result<Option<Key>, RequestError> {
        self.baseline.as_deref().map(|k| Key::parse(k).map_err(|_| RequestError::Baseline(k.to_string()))).transpose()
    }

    fn template_document(&self, name: &str, catalog: &Catalog, limits: &Limits) -> Result<Document, RequestError> {
        if self.assets.is_some() {
            return Err(RequestError::NotForThisJob { field: "assets", only: "HTML" });
        }
        let template = catalog.get(name)?;
        let data = serde_json::Value::Object(self.data.clone().unwrap_or_default());
        let size = serde_json::to_vec(&data).map(|v| v.len()).unwrap_or(usize::MAX);
        check_size("\"data\"", size, limits.max_data_bytes, "--max-data-bytes")?;
        let depth = depth(&data);
        if depth > limits.max_data_depth {
            return Err(RequestError::TooDeep { depth, limit: limits.max_data_depth });
        }
        Ok(template.document(&data, &format!("{name}/request"))?)
    }

    fn html_document(&self, html: &str, limits: &Limits) -> Result<Document, RequestError> {
        if self.data.is_some() {
            return Err(RequestError::NotForThisJob { field: "data", only: "template" });
        }
        check_size("\"html\"", html.len(), limits.max_html_bytes, "--max-html-bytes")?;
        let mut files = BTreeMap::new();
        let mut total = 0;
        for (path, encoded) in self.assets.iter().flatten() {
            // Only names already in their plain form: no "..", no leading "/", no empty or "."
            // segment, no backslash (what the seal would otherwise quietly normalise).
            let rel = crate::document::safe_relative_path(path)
                .filter(|rel| rel.to_str() == Some(path.as_str()))
                .ok_or_else(|| RequestError::AssetPath { path: path.clone() })?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .map_err(|e| RequestError::AssetEncoding { path: path.clone(), detail: e.to_string() })?;
            total += bytes.len();
            check_size("\"assets\" (decoded)", total, limits.max_asset_bytes, "--max-asset-bytes")?;
            let key = rel.to_str().ok_or_else(|| RequestError::AssetPath { path: path.clone() })?.to_string();
            files.insert(key, bytes);
        }
        let assets = if files.is_empty() { Assets::None } else { Assets::Memory(files) };
        Ok(Document {
            label: "request.html".to_string(),
            html: html.to_string(),
            assets,
            options: PrintOptions::default(),
            origin: Origin::Html,
            mask_selectors: Vec::new(),
            merge: Vec::new(),
        })
    }
}

fn check_size(what: &'static str, size: usize, limit: usize, flag: &'static str) -> Result<(), RequestError> {
    if size > limit {
        return Err(RequestError::TooLarge { what, size, limit, flag });
    }
    Ok(())
}

/// Nesting depth of a JSON value: 0 for a scalar, 1 for a flat object or array.
fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog::load(&crate::template::default_templates_dir()).unwrap()
    }

    fn parse(json: &str) -> JobRequest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn each_mistake_names_itself() {
        let (cat, lim) = (catalog(), Limits::default());
        let cases = [
            (r#"{}"#, "neither"),
            (r#"{"template": "invoice", "html": "<p>"}"#, "both"),
            (r#"{"template": "nope", "data": {}}"#, "nope"),
            (r#"{"template": "invoice", "data": {}}"#, "/invoice: missing required key"),
            (r#"{"html": "<p>x</p>", "baseline": "a/b/c"}"#, "TEMPLATE/FIXTURE"),
            (r#"{"html": "<p>x</p>", "options": {"scale": 9}}"#, "scale 9"),
            (r#"{"html": "<p>x</p>", "assets": {"../x.css": ""}}"#, "../x.css"),
            (r#"{"html": "<p>x</p>", "data": {}}"#, "\"data\""),
        ];
        for (body, expected) in cases {
            let err = parse(body).document(&cat, &lim).unwrap_err().to_string();
            assert!(err.contains(expected), "{body}: {err}");
        }
        let deep = format!(r#"{{"template": "invoice", "data": {{"a": {}1{}}}}}"#, "[".repeat(40), "]".repeat(40));
        let err = parse(&deep).document(&cat, &lim).unwrap_err().to_string();
        assert!(err.contains("nested 41 levels"), "{err}");
        let small = Limits { max_html_bytes: 10, ..Limits::default() };
        let err = parse(r#"{"html": "<p>01234567890</p>"}"#).document(&cat, &small).unwrap_err().to_string();
        assert!(err.contains("\"html\" is 18 bytes; the limit is 10"), "{err}");
        assert!(serde_json::from_str::<JobRequest>(r#"{"htm": "x"}"#).unwrap_err().to_string().contains("htm"));
    }

    #[test]
    fn html_jobs_get_their_assets_and_options() {
        let body = r#"{"html": "<p>x</p>", "assets": {"css/a.css": "cD17fQ=="}, "options": {"landscape": true}}"#;
        let doc = parse(body).document(&catalog(), &Limits::default()).unwrap();
        assert_eq!(doc.assets.read("css/a.css").as_deref(), Some(&b"p={}"[..]));
        assert!(doc.options.landscape);
        assert_eq!(doc.origin, Origin::Html);
    }

    #[test]
    fn new_print_options_apply_and_paper_mistakes_name_the_field() {
        let body = r#"{"html": "<p>x</p>", "options": {"paper": {"width": "210mm", "height": "148mm"},
            "outline": true, "media": "screen", "background": false, "omit_background": true}}"#;
        let doc = parse(body).document(&catalog(), &Limits::default()).unwrap();
        let o = &doc.options;
        assert!(o.outline && o.tagged && !o.background && o.omit_background);
        assert_eq!(o.media, Media::Screen);
        assert!((o.paper.inches().1 - 148.0 / 25.4).abs() < 1e-9);
        let bad = r#"{"html": "<p>x</p>", "options": {"paper": {"width": "210 furlongs", "height": "1in"}}}"#;
        let err = serde_json::from_str::<JobRequest>(bad).unwrap_err().to_string();
        assert!(err.contains("paper width \"210 furlongs\" is not a length") && err.contains("\"210mm\""), "{err}");
    }
}
