//! Print options → CSS for WeasyPrint: `@page` size and margins, page ranges, scale, and
//! Chromium header/footer templates translated into `@page` margin boxes.
//!
//! Chromium fills `<span class="pageNumber">` / `<span class="totalPages">` in its templates;
//! WeasyPrint has `counter(page)` / `counter(pages)` in margin boxes. A template made of plain
//! text and inline elements translates: one centred box, or — when its root is a flex row, as
//! in the bundled templates — its children become the left, centre and right boxes. Anything
//! richer (images, tables, SVG) is left out with a warning.

use crate::document::css_length_inches;
use crate::document::PrintOptions;
use crate::render::print::PrintOptionError;

/// What WeasyPrint needs besides the HTML.
#[derive(Debug, Clone, PartialEq)]
pub struct PageSetup {
    /// A stylesheet placed before the document's own, so a document's `@page` rules still win
    /// (like Chromium's `preferCSSPageSize`).
    pub css: String,
    /// 1-based page numbers to keep, or `None` for all.
    pub pages: Option<Vec<u32>>,
    /// WeasyPrint's `zoom` (Chromium's `scale`).
    pub zoom: f64,
    /// What could not be translated.
    pub warnings: Vec<String>,
}

/// The print option WeasyPrint cannot honour, with why, or `None`. How each of the others
/// maps (README, "The fallback renderer and print options"): paper, margins, scale, page
/// ranges and `media` translate; `omit_background` is what WeasyPrint always does (it
/// paints no page background); `outline` — WeasyPrint writes its heading bookmarks either
/// way, as it did before the option existed; `tagged` — WeasyPrint 57 writes untagged PDFs
/// (its PDF/UA mode is experimental), as before.
pub fn unsupported(options: &PrintOptions) -> Option<(&'static str, &'static str)> {
    if !options.background {
        return Some((
            "background: false",
            "WeasyPrint always prints CSS backgrounds; print this document with Chromium, or drop the backgrounds in its CSS",
        ));
    }
    if options.single_page {
        return Some((
            "single_page",
            "WeasyPrint cannot measure the document before choosing its page size; print this document with Chromium",
        ));
    }
    options.wait_for_expression.is_some().then_some((
        "wait_for_expression",
        "WeasyPrint runs no script, so nothing can make the expression true; print this document with Chromium",
    ))
}

/// The largest page number an open range ("3-") reaches.
const OPEN_RANGE_END: u32 = 10_000;

/// Translates print options, validating them with the same rules as Chromium's.
pub fn page_setup(options: &PrintOptions) -> Result<PageSetup, PrintOptionError> {
    // The same validation (paper, scale, lengths) as the Chromium path: one set of rules.
    crate::render::print::print_params(options)?;
    let (mut width, mut height) = options.paper.inches();
    if options.landscape {
        std::mem::swap(&mut width, &mut height);
    }
    let m = &options.margins;
    let len = |v: &str| css_length_inches(v).unwrap_or(0.0);
    // Chromium scales the content, not the paper or margins: lay out on a page 1/scale as
    // large and zoom the PDF by scale.
    let zoom = options.scale;
    let margins = [len(&m.top), len(&m.right), len(&m.bottom), len(&m.left)].map(|v| format!("{:.4}in", v / zoom));
    // A document's own `@page { size }` comes later and wins, unless the paper must win.
    let important = if options.prefer_css_page_size { "" } else { " !important" };
    let mut css = format!(
        "@page {{ size: {:.4}in {:.4}in{important}; margin: {}; }}\n",
        width / zoom,
        height / zoom,
        margins.join(" ")
    );
    let mut warnings = Vec::new();
    for (name, template, side) in
        [("header", &options.header_template, "top"), ("footer", &options.footer_template, "bottom")]
    {
        let Some(template) = template else { continue };
        match margin_boxes(template, side) {
            Ok(rules) => css.push_str(&rules),
            Err(why) => warnings.push(format!(
                "the {name} template is not simple text ({why}); the fallback renderer prints it without the {name}"
            )),
        }
    }
    let pages = parse_page_ranges(&options.page_ranges)?;
    Ok(PageSetup { css, pages, zoom, warnings })
}

/// "1-3,5" → [1, 2, 3, 5]; empty → `None` (read by `document::PageRanges`).
fn parse_page_ranges(ranges: &str) -> Result<Option<Vec<u32>>, PrintOptionError> {
    let parsed = crate::document::PageRanges::parse(ranges)
        .map_err(|_| PrintOptionError::BadLength { name: "page_ranges", value: ranges.trim().to_string() })?;
    Ok(parsed.pages_up_to(OPEN_RANGE_END))
}

/// One piece of a template: text, or a page counter.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Counter(&'static str),
}

/// Inline elements a simple template may use.
const INLINE: &[&str] = &["span", "div", "b", "strong", "i", "em", "small", "p", "br", "bdi", "bdo", "u", "sup", "sub"];

/// `@top-*` / `@bottom-*` rules for a Chromium template, or why it is not simple text.
fn margin_boxes(template: &str, side: &str) -> Result<String, String> {
    let mut groups: Vec<Vec<Piece>> = Vec::new();
    let mut depth = 0usize;
    let mut root_style = String::new();
    let mut rtl = false;
    let mut rest = template;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('<') {
            let end = after.find('>').ok_or("an unclosed tag")?;
            let tag = &after[..end];
            rest = &after[end + 1..];
            if tag.starts_with('!') {
                continue;
            }
            let closing = tag.starts_with('/');
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect::<String>()
                .to_ascii_lowercase();
            if !INLINE.contains(&name.as_str()) {
                return Err(format!("it has a <{name}> element"));
            }
            if name == "br" {
                continue;
            }
            if closing {
                depth = depth.saturating_sub(1);
                continue;
            }
            let self_closing = tag.ends_with('/');
            if depth == 0 {
                root_style = attribute(tag, "style").unwrap_or_default();
                rtl = attribute(tag, "dir").is_some_and(|d| d.eq_ignore_ascii_case("rtl"));
            } else if depth == 1 && root_style.contains("flex") {
                groups.push(Vec::new());
            }
            let class = attribute(tag, "class").unwrap_or_default();
            let counter = if class.split_whitespace().any(|c| c == "pageNumber") {
                Some("page")
            } else if class.split_whitespace().any(|c| c == "totalPages") {
                Some("pages")
            } else {
                None
            };
            if let Some(c) = counter {
                current(&mut groups).push(Piece::Counter(c));
            }
            if !self_closing {
                depth += 1;
            }
        } else {
            let end = rest.find('<').unwrap_or(rest.len());
            let text = decode_entities(&rest[..end]);
            rest = &rest[end..];
            current(&mut groups).push(Piece::Text(text));
        }
    }
    let mut contents: Vec<String> = groups.iter().map(|g| content(g)).filter(|c| !c.is_empty()).collect();
    if rtl {
        contents.reverse();
    }
    let positions: &[&str] = match contents.len() {
        0 => return Ok(String::new()),
        1 => &["center"],
        2 => &["left", "right"],
        3 => &["left", "center", "right"],
        n => return Err(format!("it has {n} separate parts; at most three fit the left, centre and right boxes")),
    };
    let style = box_style(&root_style);
    Ok(positions
        .iter()
        .zip(&contents)
        .map(|(pos, c)| format!("@page {{ @{side}-{pos} {{ content: {c}; {style} }} }}\n"))
        .collect())
}

fn current(groups: &mut Vec<Vec<Piece>>) -> &mut Vec<Piece> {
    if groups.is_empty() {
        groups.push(Vec::new());
    }
    let last = groups.len() - 1;
    &mut groups[last]
}

/// A CSS `content` value: collapsed text as strings, counters as `counter()`.
fn content(pieces: &[Piece]) -> String {
    let mut text = String::new();
    for p in pieces {
        match p {
            Piece::Text(t) => text.push_str(t),
            Piece::Counter(c) => text.push_str(&format!("\u{0}{c}\u{0}")),
        }
    }
    let collapsed = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = Vec::new();
    for (i, part) in collapsed.split('\u{0}').enumerate() {
        if i % 2 == 1 {
            out.push(format!("counter({part})"));
        } else if !part.is_empty() {
            out.push(format!("\"{}\"", part.replace('\\', "\\\\").replace('"', "\\\"")));
        }
    }
    out.join(" ")
}

/// The root element's font and colour, carried over to the margin boxes.
fn box_style(style: &str) -> String {
    style
        .split(';')
        .filter_map(|decl| decl.split_once(':'))
        .filter(|(k, _)| matches!(k.trim(), "font-family" | "font-size" | "color" | "font-weight"))
        .map(|(k, v)| format!("{}: {};", k.trim(), v.trim()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The value of attribute `name` in a tag's text (quoted or bare).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name) {
        let at = from + i;
        from = at + name.len();
        let before_ok = at == 0 || lower.as_bytes()[at - 1].is_ascii_whitespace();
        let after = lower[from..].trim_start();
        if !before_ok || !after.starts_with('=') {
            continue;
        }
        let value_start = tag.len() - after.len() + 1;
        let value = tag[value_start..].trim_start();
        return Some(match value.chars().next() {
            Some(q @ ('"' | '\'')) => value[1..].split(q).next().unwrap_or("").to_string(),
            _ => value.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("").to_string(),
        });
    }
    None
}

fn decode_entities(text: &str) -> String {
    text.replace("&nbsp;", " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_x_of_y_footer_becomes_margin_boxes() {
        let t = r#"<div style="font-family: 'DejaVu Sans', sans-serif; font-size: 7pt; display: flex">
  <span>Acme · Invoice <span>INV-1</span></span>
  <span>Page <span class="pageNumber"></span> of <span class="totalPages"></span></span>
</div>"#;
        let css = margin_boxes(t, "bottom").unwrap();
        assert!(css.contains(r#"@bottom-left { content: "Acme · Invoice INV-1";"#), "{css}");
        assert!(css.contains(r#"@bottom-right { content: "Page " counter(page) " of " counter(pages);"#), "{css}");
        assert!(css.contains("font-size: 7pt;") && !css.contains("display"), "{css}");
        assert_eq!(margin_boxes("<span></span>", "top").unwrap(), "");
        assert!(margin_boxes("<div><img src=x></div>", "top").unwrap_err().contains("<img>"));
    }

    #[test]
    fn options_become_page_css() {
        let o = PrintOptions { page_ranges: "2-3, 5".into(), landscape: true, ..Default::default() };
        let s = page_setup(&o).unwrap();
        assert_eq!(s.pages, Some(vec![2, 3, 5]));
        assert!(s.css.starts_with("@page { size: 11.6900in 8.2700in;"), "{}", s.css);
        assert!(page_setup(&PrintOptions { page_ranges: "3-1".into(), ..Default::default() }).is_err());
        assert!(page_setup(&PrintOptions { scale: 5.0, ..Default::default() }).is_err());
        assert_eq!(unsupported(&PrintOptions::default()), None);
        let paper_wins = page_setup(&PrintOptions { prefer_css_page_size: false, ..Default::default() }).unwrap();
        assert!(paper_wins.css.starts_with("@page { size: 8.2700in 11.6900in !important;"), "{}", paper_wins.css);
        let waits = PrintOptions { wait_for_expression: Some("window.ready".into()), ..Default::default() };
        assert_eq!(unsupported(&waits).map(|u| u.0), Some("wait_for_expression"));
        let no_background = PrintOptions { background: false, ..Default::default() };
        assert!(unsupported(&no_background).is_some_and(|(option, _)| option == "background: false"));
    }
}
