//! Font substitution is an error, not a surprise.
//!
//! After a document is printed, every font embedded in the PDF must be a bundled one or
//! one the document declared itself, and every family the text asked for must have
//! loaded. A face in state `error`, or text whose requested family Chromium replaced
//! with another, is reported naming the family asked for and the font used instead:
//! an error for template documents (and strict raw-HTML jobs), a warning otherwise.

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

    #[test]
    fn an_unknown_embedded_font_is_a_problem() {
        let r = rendered(vec![], vec![]);
        let report = check(&r, &[page(&["LiberationSans"])], &bundled(), true);
        assert_eq!(report.problems.len(), 1);
        assert!(report.problems[0].detail.contains("LiberationSans"));
    }
}
