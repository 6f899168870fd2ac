//! A *document*: what to print (a template with data, or raw HTML) and how (print options).
//! A job (`jobs`) asks for one document to be printed and proved.
//!
//! This module only describes documents; it does no I/O beyond reading an HTML job's
//! asset directory lazily through [`Assets`]. Templates become [`Document`]s in
//! `template`, and `render` prints a [`Document`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::compare::mask::Selector;

/// Where a document's own assets (CSS, images, fonts it declares) come from.
///
/// Every asset is addressed by a relative path under the document's synthetic origin;
/// nothing outside the root is ever served (paths are normalised and `..` is refused).
#[derive(Debug, Clone)]
pub enum Assets {
    /// Files under a directory (the folder of an `--html` file).
    Dir(PathBuf),
    /// A template's folder: like `Dir`, but the template's own sources (`template.json`,
    /// `*.html` / `*.j2` templates) and its `fixtures/` are never served to the document.
    Template(PathBuf),
    /// In-memory files keyed by relative path (for API jobs).
    Memory(BTreeMap<String, Vec<u8>>),
    /// No assets at all.
    None,
}

impl Assets {
    /// Reads the asset at `rel` (a URL path without its leading `/`), refusing anything
    /// that would leave the root. Returns `None` when there is no such asset.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        let rel = safe_relative_path(rel)?;
        match self {
            Assets::Template(root) => {
                let first = rel.components().next()?.as_os_str().to_str()?;
                let ext = rel.extension().and_then(|e| e.to_str()).unwrap_or("");
                if first == "fixtures" || rel == Path::new("template.json") || matches!(ext, "j2" | "jinja" | "html") {
                    return None;
                }
                Assets::Dir(root.clone()).read(rel.to_str()?)
            }
            Assets::Dir(root) => {
                let path = root.join(&rel);
                // Refuse symlinks that point out of the root.
                let canon = path.canonicalize().ok()?;
                let canon_root = root.canonicalize().ok()?;
                if !canon.starts_with(&canon_root) || !canon.is_file() {
                    return None;
                }
                std::fs::read(canon).ok()
            }
            Assets::Memory(map) => map.get(rel.to_str()?).cloned(),
            Assets::None => None,
        }
    }
}

/// Turns a URL path into a relative file path with no `.`/`..`/absolute components,
/// or `None` when the path tries to escape.
pub fn safe_relative_path(rel: &str) -> Option<PathBuf> {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() || rel.contains('\\') || rel.contains('\0') {
        return None;
    }
    let mut out = PathBuf::new();
    for part in rel.split('/') {
        match part {
            "" | "." => continue,
            ".." => return None,
            p => out.push(p),
        }
    }
    if out.as_os_str().is_empty() {
        None
    } else {
        Some(out)
    }
}

/// Paper size: a name (any case), or a width and height, each a length with its unit or a
/// bare number of inches (the older form, still accepted and written back as it came).
///
/// The same parser reads the API, `template.json`, stored job records and the CLI: a name
/// through [`PaperName`]'s `FromStr`, a side through [`PaperLength::parse`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Paper {
    Named(PaperName),
    Size { width: PaperLength, height: PaperLength },
}

/// A paper name. Written as below (`"A4"`, `"Letter"`); read in any case (`"a4"`, `"LETTER"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PaperName {
    A3,
    A4,
    A5,
    Letter,
    Legal,
}

/// What a paper option a user wrote is wrong with, and what to write instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PaperError {
    #[error(
        "unknown paper {0:?}; use one of A3, A4, A5, Letter, Legal (any case), or a size like \
         {{\"width\": \"210mm\", \"height\": \"297mm\"}}"
    )]
    Name(String),
    #[error(
        "paper {side} {value:?} is not a length; write it like \"210mm\", \"21cm\", \"8.5in\", \"612pt\", \
         \"816px\", \"51pc\", or a bare number of inches"
    )]
    Length { side: &'static str, value: String },
    #[error(
        "paper {side} {value:?} is {inches:.2} in; each side must be between {MIN_PAPER_INCHES} and \
         {MAX_PAPER_INCHES} inches (25.4mm to 5080mm)"
    )]
    Range { side: &'static str, value: String, inches: f64 },
    #[error("paper needs both \"width\" and \"height\" (like {{\"width\": \"210mm\", \"height\": \"297mm\"}}); {0}")]
    Shape(String),
}

/// The smallest and largest side of a paper, in inches.
pub const MIN_PAPER_INCHES: f64 = 1.0;
pub const MAX_PAPER_INCHES: f64 = 200.0;

impl std::str::FromStr for PaperName {
    type Err = PaperError;

    fn from_str(s: &str) -> Result<PaperName, PaperError> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "a3" => PaperName::A3,
            "a4" => PaperName::A4,
            "a5" => PaperName::A5,
            "letter" => PaperName::Letter,
            "legal" => PaperName::Legal,
            _ => return Err(PaperError::Name(s.to_string())),
        })
    }
}

/// One side of a paper size, checked: a positive length within
/// [`MIN_PAPER_INCHES`]..=[`MAX_PAPER_INCHES`]. Keeps the form it was written in, so a
/// document's options serialise (and fingerprint) as they were given.
#[derive(Debug, Clone, PartialEq)]
pub struct PaperLength {
    written: Option<String>,
    inches: f64,
}

impl PaperLength {
    /// A side in inches (a bare JSON number).
    pub fn from_inches(side: &'static str, inches: f64) -> Result<PaperLength, PaperError> {
        check_side(side, inches.to_string(), inches)?;
        Ok(PaperLength { written: None, inches })
    }

    /// A side written with its unit: `in`, `mm`, `cm`, `pt`, `px` (96 per inch), `pc`; a
    /// bare number is inches.
    pub fn parse(side: &'static str, value: &str) -> Result<PaperLength, PaperError> {
        let inches = css_length_inches(value).ok_or_else(|| PaperError::Length { side, value: value.to_string() })?;
        check_side(side, value.to_string(), inches)?;
        Ok(PaperLength { written: Some(value.to_string()), inches })
    }

    pub fn inches(&self) -> f64 {
        self.inches
    }
}

/// A CSS length in inches: a number with its unit (`in`, `mm`, `cm`, `pt`, `px` at 96 per
/// inch, `pc`; any case) or a bare number of inches; `None` when it is not one, or negative.
/// The one reader of lengths: paper sides, margins, the Gotenberg form.
pub fn css_length_inches(value: &str) -> Option<f64> {
    let v = value.trim();
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.trim().parse().ok()?;
    let per_inch = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "in" => 1.0,
        "mm" => 25.4,
        "cm" => 2.54,
        "pt" => 72.0,
        "px" => 96.0,
        "pc" => 6.0,
        _ => return None,
    };
    let inches = n / per_inch;
    (inches.is_finite() && inches >= 0.0).then_some(inches)
}

fn check_side(side: &'static str, value: String, inches: f64) -> Result<(), PaperError> {
    if !inches.is_finite() {
        return Err(PaperError::Length { side, value });
    }
    if !(MIN_PAPER_INCHES..=MAX_PAPER_INCHES).contains(&inches) {
        return Err(PaperError::Range { side, value, inches });
    }
    Ok(())
}

impl Serialize for PaperLength {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.written {
            Some(text) => s.serialize_str(text),
            None => s.serialize_f64(self.inches),
        }
    }
}

impl Paper {
    /// Parses a paper name or `WIDTHxHEIGHT` (`"210mmx297mm"`, `"8.5inx11in"`), as the CLI's
    /// `--paper` takes it.
    pub fn parse(value: &str) -> Result<Paper, PaperError> {
        if let Ok(name) = value.parse::<PaperName>() {
            return Ok(Paper::Named(name));
        }
        let lower = value.to_ascii_lowercase();
        // The separator is the first `x` after a digit or a unit's last letter.
        match lower.char_indices().find(|&(i, c)| c == 'x' && i > 0) {
            Some((i, _)) => Ok(Paper::Size {
                width: PaperLength::parse("width", &value[..i])?,
                height: PaperLength::parse("height", &value[i + 1..])?,
            }),
            None => Err(PaperError::Name(value.to_string())),
        }
    }

    /// Width and height in inches (portrait).
    pub fn inches(&self) -> (f64, f64) {
        match self {
            Paper::Named(PaperName::A3) => (11.69, 16.54),
            Paper::Named(PaperName::A4) => (8.27, 11.69),
            Paper::Named(PaperName::A5) => (5.83, 8.27),
            Paper::Named(PaperName::Letter) => (8.5, 11.0),
            Paper::Named(PaperName::Legal) => (8.5, 14.0),
            Paper::Size { width, height } => (width.inches, height.inches),
        }
    }
}

impl Default for Paper {
    fn default() -> Self {
        Paper::Named(PaperName::A4)
    }
}

impl<'de> Deserialize<'de> for PaperName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PaperName, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl<'de> Deserialize<'de> for Paper {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Paper, D::Error> {
        d.deserialize_any(PaperVisitor)
    }
}

struct PaperVisitor;

impl<'de> serde::de::Visitor<'de> for PaperVisitor {
    type Value = Paper;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(
            "a paper name (A3, A4, A5, Letter, Legal, any case) or a size like \
             {\"width\": \"210mm\", \"height\": \"297mm\"}",
        )
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Paper, E> {
        v.parse().map(Paper::Named).map_err(E::custom)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Paper, A::Error> {
        use serde::de::Error;
        let (mut width, mut height) = (None, None);
        while let Some(key) = map.next_key::<String>()? {
            let side = match key.as_str() {
                "width" => "width",
                "height" => "height",
                other => return Err(A::Error::custom(PaperError::Shape(format!("{other:?} is not one of them")))),
            };
            let value = map.next_value::<LengthValue>()?;
            let length = match value {
                LengthValue::Number(n) => PaperLength::from_inches(side, n),
                LengthValue::Text(t) => PaperLength::parse(side, &t),
            }
            .map_err(A::Error::custom)?;
            match side {
                "width" => width = Some(length),
                _ => height = Some(length),
            }
        }
        match (width, height) {
            (Some(width), Some(height)) => Ok(Paper::Size { width, height }),
            (None, _) => Err(A::Error::custom(PaperError::Shape("\"width\" is missing".into()))),
            (_, None) => Err(A::Error::custom(PaperError::Shape("\"height\" is missing".into()))),
        }
    }
}

/// A side as JSON has it: a number (inches) or a string with a unit.
enum LengthValue {
    Number(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for LengthValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<LengthValue, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = LengthValue;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a length like \"210mm\" or a number of inches")
            }
            fn visit_f64<E>(self, v: f64) -> Result<LengthValue, E> {
                Ok(LengthValue::Number(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<LengthValue, E> {
                Ok(LengthValue::Number(v as f64))
            }
            fn visit_i64<E>(self, v: i64) -> Result<LengthValue, E> {
                Ok(LengthValue::Number(v as f64))
            }
            fn visit_str<E>(self, v: &str) -> Result<LengthValue, E> {
                Ok(LengthValue::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Which CSS media the document is laid out for: `print` (Chromium's own when printing)
/// or `screen` (what a browser window shows, as Puppeteer's `emulateMediaType("screen")`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Media {
    #[default]
    Print,
    Screen,
}

impl Media {
    pub fn is_print(&self) -> bool {
        *self == Media::Print
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            Media::Print => "print",
            Media::Screen => "screen",
        }
    }
}

impl std::str::FromStr for Media {
    type Err = String;

    fn from_str(s: &str) -> Result<Media, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "print" => Ok(Media::Print),
            "screen" => Ok(Media::Screen),
            _ => Err(format!("unknown media {s:?}; use print or screen")),
        }
    }
}

/// Page margins as CSS lengths (`"20mm"`, `"0.5in"`, `"12px"`, `"1cm"`, or a bare number of inches).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Margins {
    pub top: String,
    pub right: String,
    pub bottom: String,
    pub left: String,
}

impl Default for Margins {
    fn default() -> Self {
        let m = "10mm".to_string();
        Margins { top: m.clone(), right: m.clone(), bottom: m.clone(), left: m }
    }
}

/// How to print a document. Field names are the same in template.json, the API and the CLI.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrintOptions {
    pub paper: Paper,
    pub margins: Margins,
    pub landscape: bool,
    /// Scale of the page rendering, 0.1 to 2.0.
    pub scale: f64,
    /// Pages to print, e.g. `"1-3, 5"`; empty means all.
    pub page_ranges: String,
    /// HTML for the running header (Chromium's header template: `pageNumber`,
    /// `totalPages`, `title`, `date` classes are filled in).
    pub header_template: Option<String>,
    /// HTML for the running footer.
    pub footer_template: Option<String>,
    /// Document title and other metadata written into the PDF.
    pub title: Option<String>,
    /// Fail the document (instead of warning) when a requested font did not load.
    pub strict_fonts: bool,
    // The options below are left out of the serialised form at their defaults, so a
    // document that does not use them keeps its fingerprint and render cache key.
    /// Write the PDF's outline (bookmarks) from the document's headings.
    #[serde(skip_serializing_if = "is_false")]
    pub outline: bool,
    /// Write a tagged (accessible) PDF, as Chromium does by default.
    #[serde(skip_serializing_if = "is_true")]
    pub tagged: bool,
    /// The CSS media the document is laid out for.
    #[serde(skip_serializing_if = "Media::is_print")]
    pub media: Media,
    /// Print CSS backgrounds (colours and images).
    #[serde(skip_serializing_if = "is_true")]
    pub background: bool,
    /// No white page behind the document: where it paints no background, the PDF is transparent.
    #[serde(skip_serializing_if = "is_false")]
    pub omit_background: bool,
    /// A CSS `@page { size }` wins over `paper` (Puppeteer's `preferCSSPageSize`).
    #[serde(skip_serializing_if = "is_true")]
    pub prefer_css_page_size: bool,
    /// A JavaScript expression the page must make true before it prints (after it loads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_for_expression: Option<String>,
    /// Milliseconds to wait after the page loads, before it prints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait_delay_ms: Option<u64>,
    /// Fail the document when its scripts threw an exception (or left a rejection unhandled)
    /// before it printed.
    #[serde(skip_serializing_if = "is_false")]
    pub fail_on_console_exceptions: bool,
    /// What the PDF's Info dictionary says (`postprocess`), over what the engine wrote.
    #[serde(skip_serializing_if = "Metadata::is_empty")]
    pub metadata: Metadata,
    /// Text or an image stamped over or under the printed pages (`postprocess::watermark`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watermark: Option<Watermark>,
    /// The whole document on one page as tall as its content (Gotenberg's `singlePage`): the
    /// paper's width, the height measured once the document has settled, page breaks ignored.
    #[serde(skip_serializing_if = "is_false")]
    pub single_page: bool,
}

/// A stamp over or under a document's pages: text laid along the page's diagonal, or an
/// image (one of the document's assets) centred on it. Printed by the same engine, then
/// overlaid (`postprocess::watermark`), before the proof reads the pages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Watermark {
    /// The text, e.g. `"DRAFT"`. Exactly one of `text` and `image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The path of one of the job's assets (PNG or JPEG), e.g. `"stamp.png"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// `over` the content (default) or `under` it.
    #[serde(default)]
    pub layer: Layer,
    /// The pages to stamp, e.g. `"1-3, 5"` or `"2-"`; every page when left out.
    #[serde(default, skip_serializing_if = "PageRanges::is_all")]
    #[schema(value_type = String)]
    pub pages: PageRanges,
    /// 0.05 to 1; default 0.25.
    #[serde(default = "Watermark::default_opacity")]
    pub opacity: f64,
}

impl Watermark {
    fn default_opacity() -> f64 {
        0.25
    }
}

/// Password protection for the shipped PDF (AES-256, PDF 2.0's revision 6): opening it asks
/// for the user password; the owner password also lifts the permissions. Applied after the
/// proof to the proved bytes, then proved again (`postprocess::encrypt`). Never serialised:
/// it is not part of a document's options, fingerprint or cache key, and is never stored.
#[derive(Clone, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Encryption {
    /// Asked for when the PDF is opened; empty or left out, anyone may open it.
    #[serde(default)]
    pub user_password: String,
    /// Lifts the permissions; left out, the user password (Gotenberg's rule).
    #[serde(default)]
    pub owner_password: Option<String>,
    /// What a reader that opens the PDF with the user password may do; every right when left
    /// out. `print`, `print_high_quality`, `copy`, `accessibility`, `modify`, `annotate`,
    /// `fill_forms`, `assemble`.
    #[serde(default)]
    pub permissions: Option<Vec<Permission>>,
}

impl std::fmt::Debug for Encryption {
    /// Never the passwords: a `Debug` print can reach a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encryption").field("permissions", &self.permissions).finish_non_exhaustive()
    }
}

/// One right a PDF's user may be given (ISO 32000-2, table 22).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Print,
    PrintHighQuality,
    Copy,
    Accessibility,
    Modify,
    Annotate,
    FillForms,
    Assemble,
}

/// Where a watermark goes: over the page's content, or under it (hidden where the document
/// paints an opaque background).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    #[default]
    Over,
    Under,
}

/// Pages chosen by ranges, `"1-3, 5"`; `"4-"` runs to the last page, `"-2"` starts at the
/// first. Empty chooses every page. The one reader of page ranges outside Chromium.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PageRanges {
    written: String,
    ranges: Vec<(u32, u32)>,
}

/// A page range that does not read as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("page ranges {0:?} do not read as pages: write them like \"1-3, 5\" or \"2-\" (pages count from 1)")]
pub struct PageRangesError(pub String);

impl PageRanges {
    pub fn parse(text: &str) -> Result<PageRanges, PageRangesError> {
        let bad = || PageRangesError(text.to_string());
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (from, to) = part.split_once('-').map_or((part, part), |(a, b)| (a.trim(), b.trim()));
            let from: u32 = if from.is_empty() { 1 } else { from.parse().map_err(|_| bad())? };
            let to: u32 = if to.is_empty() { u32::MAX } else { to.parse().map_err(|_| bad())? };
            if from == 0 || to < from {
                return Err(bad());
            }
            ranges.push((from, to));
        }
        if ranges.is_empty() && !text.trim().is_empty() {
            return Err(bad());
        }
        Ok(PageRanges { written: text.trim().to_string(), ranges })
    }

    /// True when no range was given: every page.
    pub fn is_all(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Whether page `number` (from 1) is chosen.
    pub fn contains(&self, number: u32) -> bool {
        self.is_all() || self.ranges.iter().any(|&(from, to)| (from..=to).contains(&number))
    }

    /// The chosen pages in the order written, each once, up to `last`; `None` for every page.
    pub fn pages_up_to(&self, last: u32) -> Option<Vec<u32>> {
        if self.is_all() {
            return None;
        }
        let mut pages = Vec::new();
        for &(from, to) in &self.ranges {
            for p in from..=to.min(last) {
                if !pages.contains(&p) {
                    pages.push(p);
                }
            }
        }
        Some(pages)
    }
}

impl TryFrom<String> for PageRanges {
    type Error = PageRangesError;
    fn try_from(text: String) -> Result<PageRanges, PageRangesError> {
        PageRanges::parse(&text)
    }
}

impl From<PageRanges> for String {
    fn from(ranges: PageRanges) -> String {
        ranges.written
    }
}

/// The PDF's document information: written into its Info dictionary after printing
/// (`postprocess`), so the proof reads the bytes that ship. Dates left out stay the fixed
/// ones `pdf_bytes` writes, so the same job still gives the same bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keywords: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub producer: Option<String>,
    /// RFC 3339 (`"2024-05-01T12:00:00Z"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified: Option<chrono::DateTime<chrono::FixedOffset>>,
}

impl Metadata {
    pub fn is_empty(&self) -> bool {
        *self == Metadata::default()
    }

    /// The Info dictionary's entries this metadata sets, by PDF key, dates as PDF dates
    /// (`D:YYYYMMDDHHmmSS+HH'mm'`).
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let date = |d: &chrono::DateTime<chrono::FixedOffset>| {
            let offset = d.offset().local_minus_utc();
            let sign = if offset < 0 { '-' } else { '+' };
            let (h, m) = (offset.abs() / 3600, offset.abs() % 3600 / 60);
            format!("D:{}{sign}{h:02}'{m:02}'", d.format("%Y%m%d%H%M%S"))
        };
        let keywords = (!self.keywords.is_empty()).then(|| self.keywords.join(", "));
        [
            ("Title", self.title.clone()),
            ("Author", self.author.clone()),
            ("Subject", self.subject.clone()),
            ("Keywords", keywords),
            ("Creator", self.creator.clone()),
            ("Producer", self.producer.clone()),
            ("CreationDate", self.created.as_ref().map(date)),
            ("ModDate", self.modified.as_ref().map(date)),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Default for PrintOptions {
    fn default() -> Self {
        PrintOptions {
            paper: Paper::default(),
            margins: Margins::default(),
            landscape: false,
            scale: 1.0,
            page_ranges: String::new(),
            header_template: None,
            footer_template: None,
            title: None,
            strict_fonts: false,
            outline: false,
            tagged: true,
            media: Media::Print,
            background: true,
            omit_background: false,
            prefer_css_page_size: true,
            wait_for_expression: None,
            wait_delay_ms: None,
            fail_on_console_exceptions: false,
            metadata: Metadata::default(),
            watermark: None,
            single_page: false,
        }
    }
}

/// Whether a document came from a template (fonts are checked strictly) or raw HTML.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Template,
    Html,
}

/// Pages a document may print unless the server is told otherwise (`--max-pages`).
pub const DEFAULT_MAX_PAGES: usize = 200;

/// A document ready to print: HTML, the assets it may load, and print options.
#[derive(Debug, Clone)]
pub struct Document {
    /// A short label for logs and errors (`invoice/basic`, `page.html`).
    pub label: String,
    pub html: String,
    pub assets: Assets,
    pub options: PrintOptions,
    pub origin: Origin,
    /// The template's selector masks (`template.json` `masks`), which the proof locates in the
    /// printed pages when it compares pixels; none for HTML documents.
    pub mask_selectors: Vec<Selector>,
    /// Documents printed after this one, each on its own with its own options, whose pages
    /// are appended to this one's in order (`postprocess::merge`) before the watermark, the
    /// metadata and the proof. This document's watermark and metadata are the merged PDF's.
    pub merge: Vec<Document>,
}

impl Document {
    /// A raw-HTML document whose assets are the files beside `path`.
    pub fn from_html_file(path: &Path) -> std::io::Result<Document> {
        let html = std::fs::read_to_string(path)?;
        let root = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let root = if root.as_os_str().is_empty() { PathBuf::from(".") } else { root };
        Ok(Document {
            label: path.display().to_string(),
            html,
            assets: Assets::Dir(root),
            options: PrintOptions::default(),
            origin: Origin::Html,
            mask_selectors: Vec::new(),
            merge: Vec::new(),
        })
    }

    /// True when a font that failed to load must fail the document (or any document merged
    /// into it).
    pub fn fonts_are_strict(&self) -> bool {
        self.origin == Origin::Template
            || self.options.strict_fonts
            || self.merge.iter().any(Document::fonts_are_strict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_cannot_escape() {
        assert_eq!(safe_relative_path("/a/b.css"), Some(PathBuf::from("a/b.css")));
        assert_eq!(safe_relative_path("a/./b.css"), Some(PathBuf::from("a/b.css")));
        assert_eq!(safe_relative_path("../etc/passwd"), None);
        assert_eq!(safe_relative_path("a/../../b"), None);
        assert_eq!(safe_relative_path("a\\..\\b"), None);
        assert_eq!(safe_relative_path(""), None);
    }

    #[test]
    fn template_sources_and_fixtures_are_not_assets() {
        let tmp = tempfile::tempdir().unwrap();
        for f in ["template.html", "template.json", "lib.j2", "fixtures/a.json", "style.css", "img/logo.svg"] {
            let p = tmp.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        let assets = Assets::Template(tmp.path().to_path_buf());
        assert!(assets.read("style.css").is_some());
        assert!(assets.read("img/logo.svg").is_some());
        for hidden in ["template.html", "template.json", "lib.j2", "fixtures/a.json", "../style.css"] {
            assert!(assets.read(hidden).is_none(), "{hidden} must not be served");
        }
    }

    #[test]
    fn print_options_reject_unknown_fields() {
        let err = serde_json::from_str::<PrintOptions>(r#"{"papr": "A4"}"#).unwrap_err();
        assert!(err.to_string().contains("papr"), "{err}");
        let ok: PrintOptions = serde_json::from_str(r#"{"paper": "Letter", "landscape": true}"#).unwrap();
        assert_eq!(ok.paper, Paper::Named(PaperName::Letter));
        assert!(ok.landscape);
    }

    /// The serialised form `routing::fingerprint` and the render cache key hash: the same as
    /// before the outline/tagged/media/background options existed, for a document that
    /// leaves them at their defaults.
    #[test]
    fn default_options_serialise_as_before() {
        let before = r#"{"paper":"A4","margins":{"top":"10mm","right":"10mm","bottom":"10mm","left":"10mm"},"landscape":false,"scale":1.0,"page_ranges":"","header_template":null,"footer_template":null,"title":null,"strict_fonts":false}"#;
        assert_eq!(serde_json::to_string(&PrintOptions::default()).unwrap(), before);
        let inches: PrintOptions = serde_json::from_str(r#"{"paper": {"width": 8.5, "height": 11}}"#).unwrap();
        let written = serde_json::to_string(&inches).unwrap();
        assert!(written.starts_with(r#"{"paper":{"width":8.5,"height":11.0},"margins""#), "{written}");
        let round: PrintOptions = serde_json::from_str(before).unwrap();
        assert_eq!(round, PrintOptions::default());
        let screen = PrintOptions { media: Media::Screen, outline: true, ..Default::default() };
        let written = serde_json::to_string(&screen).unwrap();
        assert!(written.ends_with(r#""strict_fonts":false,"outline":true,"media":"screen"}"#), "{written}");
    }

    #[test]
    fn page_ranges_read_open_ends_and_refuse_page_zero() {
        let r = PageRanges::parse("1-2, 5, 7-").unwrap();
        assert!([1, 2, 5, 7, 900].iter().all(|&p| r.contains(p)));
        assert!(![3, 4, 6].iter().any(|&p| r.contains(p)));
        assert_eq!(r.pages_up_to(8), Some(vec![1, 2, 5, 7, 8]));
        assert_eq!(PageRanges::parse("-2").unwrap().pages_up_to(9), Some(vec![1, 2]));
        let all = PageRanges::parse(" ").unwrap();
        assert!(all.is_all() && all.contains(42) && all.pages_up_to(3).is_none());
        for bad in ["0", "3-1", "a", "1-b", ","] {
            assert!(PageRanges::parse(bad).is_err(), "{bad}");
        }
        // Written back as given, so options fingerprint as they were sent.
        let w: Watermark = serde_json::from_str(r#"{"text": "X", "pages": "2-"}"#).unwrap();
        assert_eq!(serde_json::to_value(&w).unwrap()["pages"], "2-");
        assert!(serde_json::from_str::<Watermark>(r#"{"text": "X", "pages": "0"}"#).is_err());
    }

    #[test]
    fn paper_names_any_case_and_sizes_with_units() {
        for (json, want) in
            [(r#""a4""#, PaperName::A4), (r#""LETTER""#, PaperName::Letter), (r#""Legal""#, PaperName::Legal)]
        {
            assert_eq!(serde_json::from_str::<Paper>(json).unwrap(), Paper::Named(want), "{json}");
        }
        assert_eq!(serde_json::to_string(&Paper::parse("letter").unwrap()).unwrap(), r#""Letter""#);
        let mm: Paper = serde_json::from_str(r#"{"width": "210mm", "height": "297mm"}"#).unwrap();
        let (w, h) = mm.inches();
        assert!((w - 210.0 / 25.4).abs() < 1e-9 && (h - 297.0 / 25.4).abs() < 1e-9);
        assert_eq!(serde_json::to_string(&mm).unwrap(), r#"{"width":"210mm","height":"297mm"}"#);
        for (text, inches) in
            [("8.5in", 8.5), ("21.59cm", 8.5), ("612pt", 8.5), ("816px", 8.5), ("51pc", 8.5), ("8.5", 8.5)]
        {
            let got = PaperLength::parse("width", text).unwrap().inches();
            assert!((got - inches).abs() < 1e-9, "{text}: {got}");
        }
        let both = Paper::parse("210mmx297mm").unwrap();
        assert_eq!(both, mm);
        let mixed: Paper = serde_json::from_str(r#"{"width": 8.5, "height": "279.4mm"}"#).unwrap();
        assert!((mixed.inches().1 - 11.0).abs() < 1e-9);
    }

    #[test]
    fn paper_mistakes_name_the_side_and_the_fix() {
        let cases = [
            (r#""B5""#, "unknown paper \"B5\""),
            (r#"{"width": "210mm", "height": "297furlong"}"#, "paper height \"297furlong\" is not a length"),
            (r#"{"width": "-210mm", "height": "297mm"}"#, "paper width \"-210mm\""),
            (r#"{"width": 0, "height": 11}"#, "paper width \"0\""),
            (r#"{"width": "9000in", "height": "11in"}"#, "between 1 and 200 inches"),
            (r#"{"width": "210mm"}"#, "\"height\" is missing"),
            (r#"{"width": "210mm", "height": "297mm", "depth": 1}"#, "\"depth\""),
            (r#"true"#, "a paper name"),
        ];
        for (json, want) in cases {
            let err = serde_json::from_str::<Paper>(json).unwrap_err().to_string();
            assert!(err.contains(want), "{json}: {err}");
        }
    }
}
