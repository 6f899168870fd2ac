//! The one place per-page files are named. Every page image or text pixelproof writes (a
//! baseline's and a candidate's pages and diffs, a check report's images, a held job's
//! artifacts) is `STEM-NNN.EXT`: NNN is the 1-based page number, at least three digits, so
//! the files of a document sort in page order. Each owner picks its stems (`page`, `diff`,
//! `baseline`, `candidate`, `chromium`, `fallback`, …); this module only joins and splits.

/// `name("diff", 2, "png")` is `diff-002.png`.
pub fn name(stem: &str, number: usize, extension: &str) -> String {
    format!("{stem}-{number:03}.{extension}")
}

/// The stem, page number and extension of a name made by [`name`]; `None` for any other
/// name (`verdict.json`, `held.pdf`, `page-x.png`).
pub fn parse(file: &str) -> Option<(&str, usize, &str)> {
    let (rest, extension) = file.rsplit_once('.')?;
    let (stem, digits) = rest.rsplit_once('-')?;
    if stem.is_empty() || digits.len() < 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((stem, digits.parse().ok()?, extension))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_zero_padded_and_split_back() {
        assert_eq!(name("page", 2, "png"), "page-002.png");
        assert_eq!(name("page", 12, "txt"), "page-012.txt");
        assert_eq!(name("diff", 1000, "png"), "diff-1000.png");
        assert_eq!(parse("fallback-baseline-007.png"), Some(("fallback-baseline", 7, "png")));
        assert_eq!(parse(&name("chromium", 1234, "png")), Some(("chromium", 1234, "png")));
        for other in ["verdict.json", "held.pdf", "page-x.png", "page-01.png", "-001.png", "page-001"] {
            assert_eq!(parse(other), None, "{other}");
        }
    }
}
