//! A *document*: what to print (a template with data, or raw HTML) and how (print options).
//! A job (`jobs`) asks for one document to be printed and proved.
//!
//! This module only describes documents; it does no I/O beyond reading an HTML job's
//! asset directory lazily through [`Assets`]. Templates become [`Document`]s in
//! `template`, and `render` prints a [`Document`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

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

/// Paper size, by name or explicit dimensions in inches.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Paper {
    Named(PaperName),
    Inches { width: f64, height: f64 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PaperName {
    A3,
    A4,
    A5,
    Letter,
    Legal,
}

impl Paper {
    /// Width and height in inches (portrait).
    pub fn inches(&self) -> (f64, f64) {
        match *self {
            Paper::Named(PaperName::A3) => (11.69, 16.54),
            Paper::Named(PaperName::A4) => (8.27, 11.69),
            Paper::Named(PaperName::A5) => (5.83, 8.27),
            Paper::Named(PaperName::Letter) => (8.5, 11.0),
            Paper::Named(PaperName::Legal) => (8.5, 14.0),
            Paper::Inches { width, height } => (width, height),
        }
    }
}

impl Default for Paper {
    fn default() -> Self {
        Paper::Named(PaperName::A4)
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
        })
    }

    /// True when a font that failed to load must fail the document.
    pub fn fonts_are_strict(&self) -> bool {
        self.origin == Origin::Template || self.options.strict_fonts
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
}
