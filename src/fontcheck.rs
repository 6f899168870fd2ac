//! Font substitution is an error, not a surprise.
//!
//! After a document is printed, every font embedded in the PDF must be a bundled one or
//! one the document declared itself, and every family the text asked for must have
//! loaded. A face in state `error`, or text whose requested family Chromium replaced
//! with another, is reported naming the family asked for and the font used instead:
//! an error for template documents (and strict raw-HTML jobs), a warning otherwise.
//!
//! Not every glyph comes with a font name: Chromium (Skia) embeds CFF-outline faces such as
//! Noto Sans CJK, and colour emoji, as unnamed Type 3 fonts, which PDFium lists without a
//! name. So Chromium's text is checked too ([`missing_glyphs`]): a character of the text layer
//! that no bundled face has a glyph for was drawn as a missing-glyph box (tofu).

use serde::{Deserialize, Serialize};

use crate::fonts::{normalize_font_name, BundledFonts};
use crate::raster::RasterPage;
use crate::render::{loaded_families, Rendered};

/// One font problem found in a printed document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FontProblem {
    /// The family the document asked for.
    pub requested: String,
    /// The font used instead (or `none` when nothing was embedded for it).
    pub used: String,
    /// A sentence for the person reading the result.
    pub detail: String,
}

/// What the font check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FontReport {
    /// Every font embedded in the PDF (subset prefixes stripped), sorted.
    pub embedded: Vec<String>,
    pub problems: Vec<FontProblem>,
    /// True when problems fail the document (template jobs, strict HTML jobs).
    pub strict: bool,
}

impl FontReport {
    /// True when the document must fail because of its fonts.
    pub fn fails(&self) -> bool {
        self.strict && !self.problems.is_empty()
    }
}

/// Checks the fonts of a printed document. `strict` makes problems fail the document.
pub fn check(rendered: &Rendered, pages: &[RasterPage], bundled: &BundledFonts, strict: bool) -> FontReport {
    let mut embedded: Vec<String> = pages.iter().flat_map(|p| p.fonts.iter().cloned()).collect();
    embedded.sort();
    embedded.dedup();
    let mut problems = Vec::new();
    let loaded_face = |name: &str| {
        let n = normalize_font_name(name);
        rendered.font_faces.iter().any(|f| f.status == "loaded" && normalize_font_name(&f.family) == n)
    };
    // WeasyPrint (the fallback renderer) embeds a declared face as "<Family-With-Hyphens>-<Style>",
    // e.g. "Certificate-Serif-Bold" for `font-family: "Certificate Serif"` at weight 700.
    let loaded_face_style = |name: &str| {
        rendered.font_faces.iter().any(|f| {
            let stem = f.family.trim().replace(' ', "-");
            f.status == "loaded" && !stem.is_empty() && name.strip_prefix(&stem).is_some_and(|r| r.starts_with('-'))
        })
    };

    // 1. Faces the document declared that failed to load.
    let mut failed_faces: Vec<&str> =
        rendered.font_faces.iter().filter(|f| f.status == "error").map(|f| f.family.as_str()).collect();
    failed_faces.dedup();
    for family in failed_faces {
        let used = rendered
            .font_usage
            .iter()
            .find(|u| normalize_font_name(&u.requested) == normalize_font_name(family))
            .map(|u| u.used.join(", "))
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| "a fallback font".to_string());
        problems.push(FontProblem {
            requested: family.to_string(),
            used: used.clone(),
            detail: format!(
                "@font-face {family:?} failed to load (its source is missing, blocked or not a font), so its text was drawn with {used}"
            ),
        });
    }

    // 2. Text whose requested family is not available: neither generic, bundled, nor a face
    //    the document declared and loaded. (Per-glyph fallback from an available family,
    //    such as Latin digits inside an Arabic font stack, is not a substitution.)
    for usage in &rendered.font_usage {
        let requested = usage.requested.as_str();
        if bundled.accounts_for(requested, &loaded_families(&rendered.font_faces)) {
            continue;
        }
        if problems.iter().any(|p| normalize_font_name(&p.requested) == normalize_font_name(requested)) {
            continue;
        }
        let used = if usage.used.is_empty() { "no font".to_string() } else { usage.used.join(", ") };
        problems.push(FontProblem {
            requested: requested.to_string(),
            used: used.clone(),
            detail: format!(
                "text {:?} asks for font {requested:?}, which is neither bundled nor declared by the document; Chromium drew it with {used}. Use a bundled family ({}) or declare the font with @font-face",
                usage.sample,
                bundled.families().join(", ")
            ),
        });
    }

    // 3. Every embedded font must be bundled or the document's own.
    for name in &embedded {
        if bundled.knows(name) || loaded_face(name) || loaded_face_style(name) {
            continue;
        }
        problems.push(FontProblem {
            requested: "(unknown)".into(),
            used: name.clone(),
            detail: format!(
                "the PDF embeds font {name:?}, which is neither bundled (fonts/) nor declared by the document"
            ),
        });
    }
    FontReport { embedded, problems, strict }
}

/// Characters of the text layer no bundled face has a glyph for: they printed as missing-glyph
/// boxes (tofu). For Chromium's PDFs, whose ToUnicode maps each glyph (a missing one too) to
/// the characters it drew; WeasyPrint's maps some shaped Arabic glyphs to unrelated characters,
/// and it names every font it embeds, so the fallback is judged by [`check`] alone. Nothing is
/// said when the PDF names a font no bundled face has: a font of the document's own drew some
/// text, and its coverage is not known here. (A document's `@font-face` of a bundled file, as
/// the certificate's, embeds under the bundled name and keeps the rule. One of its own with
/// CFF outlines is embedded unnamed, like Noto Sans CJK, and its characters are judged
/// against the bundled fonts alone.) What it cannot see: PDFium drops the character of a
/// missing glyph outside the Basic Multilingual Plane (cuneiform, say) from a TrueType run, and
/// Chromium maps a run of missing glyphs to one of its characters, so not every one is named.
pub fn missing_glyphs(pages: &[RasterPage], bundled: &BundledFonts) -> Option<FontProblem> {
    if pages.iter().flat_map(|p| &p.fonts).any(|name| !bundled.knows(name)) {
        return None;
    }
    let mut missing: Vec<char> =
        pages.iter().flat_map(|p| p.text.chars()).filter(|&c| !is_invisible(c) && !bundled.covers(c)).collect();
    missing.sort_unstable();
    missing.dedup();
    if missing.is_empty() {
        return None;
    }
    const SHOWN: usize = 12;
    let mut listed: Vec<String> = missing.iter().take(SHOWN).map(|c| format!("{c:?} (U+{:04X})", *c as u32)).collect();
    if missing.len() > SHOWN {
        listed.push(format!("and {} more", missing.len() - SHOWN));
    }
    Some(FontProblem {
        requested: "(missing glyphs)".into(),
        used: "none".into(),
        detail: format!(
            "no bundled font has a glyph for {}: they printed as missing-glyph boxes. Use text the bundled fonts cover ({}), or declare a font that has them with @font-face",
            listed.join(", "),
            bundled.families().join(", ")
        ),
    })
}

/// Characters a text layer carries that draw no glyph of their own: whitespace, controls, and
/// format characters (soft hyphen, joiners and marks, variation selectors, tags, specials).
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c as u32,
            0x00AD | 0x034F | 0x061C | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F
            | 0xFE00..=0xFE0F | 0xFEFF | 0xFFF0..=0xFFFF | 0xE0000..=0xE0FFF)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{FontFace, FontUsage};
    use std::path::Path;
    use std::time::Duration;

    fn bundled() -> BundledFonts {
        BundledFonts::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts")).unwrap()
    }

    fn rendered(faces: Vec<FontFace>, usage: Vec<FontUsage>) -> Rendered {
        Rendered {
            pdf: Vec::new(),
            blocked: Vec::new(),
            font_faces: faces,
            font_usage: usage,
            elapsed: Duration::ZERO,
            timings: Default::default(),
            mask_probe: None,
        }
    }

    fn page(fonts: &[&str]) -> RasterPage {
        RasterPage {
            number: 1,
            image: image::RgbaImage::new(1, 1),
            text: String::new(),
            fonts: fonts.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn usage(requested: &str, used: &[&str], custom: bool) -> FontUsage {
        FontUsage {
            requested: requested.into(),
            used: used.iter().map(|s| s.to_string()).collect(),
            custom_used: custom,
            sample: "Total".into(),
        }
    }

    #[test]
    fn bundled_and_generic_fonts_pass() {
        let r = rendered(
            vec![],
            vec![usage("DejaVu Sans", &["DejaVu Sans"], false), usage("serif", &["DejaVu Serif"], false)],
        );
        let report = check(&r, &[page(&["DejaVuSans", "DejaVuSerif-Bold"])], &bundled(), true);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(!report.fails());
    }

    #[test]
    fn a_substituted_family_names_what_was_asked_and_what_was_used() {
        let r = rendered(vec![], vec![usage("Arial", &["DejaVu Sans"], false)]);
        let report = check(&r, &[page(&["DejaVuSans"])], &bundled(), true);
        assert_eq!(report.problems.len(), 1);
        assert_eq!(report.problems[0].requested, "Arial");
        assert_eq!(report.problems[0].used, "DejaVu Sans");
        assert!(report.problems[0].detail.contains("Arial") && report.problems[0].detail.contains("DejaVu Sans"));
        assert!(report.fails());
        let lenient = check(&r, &[page(&["DejaVuSans"])], &bundled(), false);
        assert!(!lenient.fails(), "raw HTML jobs only warn");
        assert_eq!(lenient.problems.len(), 1);
    }

    #[test]
    fn fallback_inside_an_available_family_is_not_a_substitution() {
        // Latin digits in an Arabic-first stack are drawn with DejaVu Sans: that is fine.
        let r = rendered(vec![], vec![usage("Noto Sans Arabic", &["DejaVu Sans"], false)]);
        let report = check(&r, &[page(&["DejaVuSans", "NotoSansArabic-Regular"])], &bundled(), true);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
    }

    #[test]
    fn a_failed_font_face_is_a_problem_and_a_loaded_one_is_not() {
        let faces = vec![
            FontFace { family: "Brand".into(), style: "normal".into(), weight: "400".into(), status: "error".into() },
            FontFace { family: "Cert".into(), style: "normal".into(), weight: "400".into(), status: "loaded".into() },
        ];
        let r = rendered(faces, vec![usage("Brand", &["DejaVu Sans"], false), usage("Cert", &["DejaVu Serif"], true)]);
        let report = check(&r, &[page(&["DejaVuSans", "DejaVuSerif"])], &bundled(), true);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert_eq!(report.problems[0].requested, "Brand");
        assert_eq!(report.problems[0].used, "DejaVu Sans");
    }

    #[test]
    fn a_loaded_face_embedded_under_its_family_and_style_is_not_a_problem() {
        let face = |status: &str| FontFace {
            family: "Certificate Serif".into(),
            style: "normal".into(),
            weight: "700".into(),
            status: status.into(),
        };
        let report =
            check(&rendered(vec![face("loaded")], vec![]), &[page(&["Certificate-Serif-Bold"])], &bundled(), true);
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let report =
            check(&rendered(vec![face("error")], vec![]), &[page(&["Certificate-Serif-Bold"])], &bundled(), true);
        assert!(report.problems.iter().any(|p| p.used == "Certificate-Serif-Bold"), "{:?}", report.problems);
        let report = check(&rendered(vec![face("loaded")], vec![]), &[page(&["Certificate-SerifX"])], &bundled(), true);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    }

    fn text_page(text: &str) -> RasterPage {
        RasterPage { text: text.into(), ..page(&["DejaVuSans"]) }
    }

    #[test]
    fn text_no_bundled_font_draws_is_a_problem_unless_a_font_of_the_document_drew_some() {
        // Japanese and emoji (ZWJ sequences, variation selectors, flags) are covered.
        let covered = "修了証書 山田 花子 🎉 👩🏽\u{200d}💻 ⚙\u{fe0f} 🇯🇵 ٱلسلام Привет\u{00ad}\r\n";
        assert_eq!(missing_glyphs(&[text_page(covered)], &bundled()), None);

        // Cuneiform and hieroglyphs have no bundled glyph: tofu.
        let tofu = "ok \u{12000}\u{12001} \u{13000}";
        let problem = missing_glyphs(&[text_page(tofu)], &bundled()).expect("tofu");
        assert_eq!(problem.requested, "(missing glyphs)");
        assert!(problem.detail.contains("U+12000") && problem.detail.contains("U+13000"), "{}", problem.detail);

        // A font that is not bundled drew some of the text (the document's own): its coverage
        // is unknown, nothing is said. A bundled face served by @font-face keeps the rule.
        let own = RasterPage { text: tofu.into(), ..page(&["DejaVuSans", "BrandIcons-Regular"]) };
        assert_eq!(missing_glyphs(&[own], &bundled()), None);
        let bundled_face = RasterPage { text: tofu.into(), ..page(&["DejaVuSerif-Italic"]) };
        assert!(missing_glyphs(&[bundled_face], &bundled()).is_some());
    }

    #[test]
    fn an_unknown_embedded_font_is_a_problem() {
        let r = rendered(vec![], vec![]);
        let report = check(&r, &[page(&["LiberationSans"])], &bundled(), true);
        assert_eq!(report.problems.len(), 1);
        assert!(report.problems[0].detail.contains("LiberationSans"));
    }
}
