//! Bundled fonts: the only fonts Chromium may use.
//!
//! Reads `fonts/` (font files with their licences), names each face (every face of a `.ttc`
//! collection: Noto Sans CJK's hold JP, KR, SC, TC, HK and their Mono), hashes the set for
//! baseline manifests, writes a fontconfig file that lists `fonts/` alone (so a page that
//! asks for a system family can only get a bundled one), and serves the files to documents
//! under `/_fonts/`.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// One bundled face: a font file, or one face of a collection (`.ttc`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundledFont {
    /// Path relative to the fonts directory (`dejavu/DejaVuSans.ttf`).
    pub rel_path: String,
    /// The face's index in its file (0 but in a collection).
    pub index: u32,
    /// Typographic family names the file declares (`DejaVu Sans`).
    pub families: Vec<String>,
    /// PostScript name (`DejaVuSans-Bold`), the name PDFs embed.
    pub postscript_name: String,
    /// Full name (`DejaVu Sans Bold`).
    pub full_name: String,
}

/// Why the bundled fonts could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FontsError {
    #[error(
        "fonts directory {0} does not exist or holds no .ttf/.otf files; the repository's fonts/ folder is required"
    )]
    Empty(PathBuf),
    #[error("could not read font {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("could not write the fontconfig file {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// One bundled font file and its sha256 (`pins::Pins::check_fonts` compares the pinned ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontFile {
    /// Path relative to the fonts directory (`noto-cjk/NotoSansCJK-Regular.ttc`).
    pub rel_path: String,
    /// sha256 of the file's bytes, hex.
    pub sha256: String,
    pub bytes: u64,
}

/// The set of bundled fonts.
#[derive(Debug, Clone)]
pub struct BundledFonts {
    pub dir: PathBuf,
    /// Every face, in path then index order.
    pub fonts: Vec<BundledFont>,
    /// Every font file, in path order.
    pub files: Vec<FontFile>,
    /// sha256 over every font file's relative path and sha256 (`PATH\0SHA256\n`), in path order.
    pub hash: String,
    /// Every character some bundled face has a glyph for (its `cmap`).
    coverage: std::sync::Arc<Coverage>,
}

/// A set of Unicode scalar values, one bit each.
struct Coverage(Vec<u64>);

impl std::fmt::Debug for Coverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count: u32 = self.0.iter().map(|w| w.count_ones()).sum();
        write!(f, "Coverage({count} characters)")
    }
}

impl Coverage {
    fn new() -> Coverage {
        Coverage(vec![0; (char::MAX as usize >> 6) + 1])
    }

    fn insert(&mut self, c: u32) {
        if let Some(word) = self.0.get_mut((c >> 6) as usize) {
            *word |= 1 << (c & 63);
        }
    }

    fn contains(&self, c: char) -> bool {
        let c = c as u32;
        self.0.get((c >> 6) as usize).is_some_and(|w| w & (1 << (c & 63)) != 0)
    }
}

impl BundledFonts {
    /// Reads and names every font under `dir`.
    pub fn load(dir: &Path) -> Result<BundledFonts, FontsError> {
        let mut paths: Vec<PathBuf> = walkdir::WalkDir::new(dir)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| e.into_path())
            .filter(|p| is_font_file(p))
            .collect();
        paths.sort();
        if paths.is_empty() {
            return Err(FontsError::Empty(dir.to_path_buf()));
        }
        let mut hasher = Sha256::new();
        let mut fonts = Vec::new();
        let mut files = Vec::new();
        let mut coverage = Coverage::new();
        for path in paths {
            let bytes =
                std::fs::read(&path).map_err(|e| FontsError::Read { path: path.clone(), detail: e.to_string() })?;
            let rel = path.strip_prefix(dir).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            let sha256 = hex::encode(Sha256::digest(&bytes));
            hasher.update(rel.as_bytes());
            hasher.update([0]);
            hasher.update(sha256.as_bytes());
            hasher.update([b'\n']);
            let faces = faces_of(&bytes).ok_or_else(|| FontsError::Read {
                path: path.clone(),
                detail: "not a parsable TrueType/OpenType font or collection".into(),
            })?;
            for (index, names) in faces {
                add_coverage(&bytes, index, &mut coverage);
                fonts.push(BundledFont {
                    rel_path: rel.clone(),
                    index,
                    families: names.families,
                    postscript_name: names.postscript,
                    full_name: names.full,
                });
            }
            files.push(FontFile { rel_path: rel, sha256, bytes: bytes.len() as u64 });
        }
        Ok(BundledFonts {
            dir: dir.to_path_buf(),
            fonts,
            files,
            hash: hex::encode(hasher.finalize()),
            coverage: std::sync::Arc::new(coverage),
        })
    }

    /// Family names of every bundled face, deduplicated.
    pub fn families(&self) -> Vec<String> {
        let mut out: Vec<String> = self.fonts.iter().flat_map(|f| f.families.iter().cloned()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// True when text asking for `requested` (the first family of its `font-family`) needs no
    /// substitution: a generic family, a bundled face, or one of the document's own faces
    /// that loaded (`loaded`, as `loaded_families` gives them).
    pub fn accounts_for(&self, requested: &str, loaded: &[String]) -> bool {
        let n = normalize_font_name(requested);
        is_generic(requested) || self.knows(requested) || loaded.iter().any(|f| normalize_font_name(f) == n)
    }

    /// True when some bundled face has a glyph for `c`: text made of such characters can be
    /// drawn without a missing-glyph box, whichever bundled face fontconfig picks for it.
    pub fn covers(&self, c: char) -> bool {
        self.coverage.contains(c)
    }

    /// True when `name` (a family, PostScript or full name) is a bundled face.
    pub fn knows(&self, name: &str) -> bool {
        let n = normalize_font_name(name);
        self.fonts.iter().any(|f| {
            normalize_font_name(&f.postscript_name) == n
                || normalize_font_name(&f.full_name) == n
                || f.families.iter().any(|fam| normalize_font_name(fam) == n)
        })
    }

    /// Bytes of a bundled font by its path relative to the fonts directory.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        let rel = crate::document::safe_relative_path(rel)?;
        let rel_str = rel.to_string_lossy().replace('\\', "/");
        self.fonts.iter().find(|f| f.rel_path == rel_str)?;
        std::fs::read(self.dir.join(rel)).ok()
    }

    /// Writes `fonts.conf` (and its cache directory) under `dir` and returns its path.
    /// Give Chromium `FONTCONFIG_FILE=<that path>`.
    pub fn write_fontconfig(&self, dir: &Path) -> Result<PathBuf, FontsError> {
        let abs = self.dir.canonicalize().unwrap_or_else(|_| self.dir.clone());
        let cache = dir.join("fontconfig-cache");
        let path = dir.join("fonts.conf");
        let write_err = |source| FontsError::Write { path: path.clone(), source };
        std::fs::create_dir_all(&cache).map_err(write_err)?;
        let has = |family: &str| self.families().iter().any(|f| f == family);
        let mut aliases = String::new();
        for (generic, preferred) in [
            ("sans-serif", ["DejaVu Sans", "Noto Sans Arabic"]),
            ("serif", ["DejaVu Serif", "Noto Naskh Arabic"]),
            ("monospace", ["DejaVu Sans Mono", "DejaVu Sans"]),
            ("system-ui", ["DejaVu Sans", "Noto Sans Arabic"]),
            // CJK is left out of these lists on purpose: fontconfig ranks a family of the list
            // above the language, so naming one face (JP) would print Chinese text with Japanese
            // glyphs whatever its `lang`. Text a family lacks falls back by character and `lang`.
            ("emoji", ["Noto Color Emoji", "DejaVu Sans"]),
        ] {
            let prefer: String =
                preferred.iter().filter(|f| has(f)).map(|f| format!("<family>{}</family>", xml_escape(f))).collect();
            if !prefer.is_empty() {
                aliases.push_str(&format!(
                    "  <alias binding=\"strong\"><family>{generic}</family><prefer>{prefer}</prefer></alias>\n"
                ));
            }
        }
        let conf = format!(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE fontconfig SYSTEM \"fonts.dtd\">\n<!-- Written by pixelproof: Chromium sees the bundled fonts and nothing else. -->\n<fontconfig>\n  <dir>{}</dir>\n  <cachedir>{}</cachedir>\n{}</fontconfig>\n",
            xml_escape(&abs.to_string_lossy()),
            xml_escape(&cache.to_string_lossy()),
            aliases
        );
        std::fs::write(&path, conf).map_err(write_err)?;
        Ok(path)
    }
}

/// CSS generic families: they resolve through fontconfig to bundled fonts, never a substitution.
const GENERIC_FAMILIES: &[&str] = &[
    "serif",
    "sans-serif",
    "monospace",
    "cursive",
    "fantasy",
    "system-ui",
    "ui-serif",
    "ui-sans-serif",
    "ui-monospace",
    "ui-rounded",
    "math",
    "emoji",
    "fangsong",
    "-webkit-body",
    "-webkit-standard",
];

/// True for a CSS generic family (or none at all).
pub fn is_generic(family: &str) -> bool {
    let f = family.trim().to_ascii_lowercase();
    GENERIC_FAMILIES.contains(&f.as_str()) || f.is_empty()
}

/// `ABCDEF+DejaVuSans` → `DejaVuSans`.
pub fn strip_subset_prefix(name: &str) -> &str {
    match name.split_once('+') {
        Some((prefix, rest)) if prefix.len() == 6 && prefix.chars().all(|c| c.is_ascii_uppercase()) => rest,
        _ => name,
    }
}

/// Lower-cases and strips spaces, hyphens and a PDF subset prefix (`ABCDEF+`).
pub fn normalize_font_name(name: &str) -> String {
    strip_subset_prefix(name).chars().filter(|c| !matches!(c, ' ' | '-' | '_')).flat_map(char::to_lowercase).collect()
}

fn is_font_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref(),
        Some("ttf" | "otf" | "ttc")
    )
}

/// Names read from a font's `name` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FontNames {
    pub families: Vec<String>,
    pub postscript: String,
    pub full: String,
}

/// Names of every face in TrueType/OpenType bytes, a collection's (`.ttc`) each with its index.
/// `None` when a face cannot be read.
pub fn faces_of(bytes: &[u8]) -> Option<Vec<(u32, FontNames)>> {
    let count = ttf_parser::fonts_in_collection(bytes).unwrap_or(1);
    let faces: Option<Vec<_>> = (0..count).map(|index| face_names(bytes, index).map(|names| (index, names))).collect();
    faces.filter(|f| !f.is_empty())
}

/// Reads family, PostScript and full names from TrueType/OpenType bytes (a collection's first face).
pub fn font_names(bytes: &[u8]) -> Option<FontNames> {
    face_names(bytes, 0)
}

/// Adds every character the face's Unicode `cmap` subtables map to `coverage`.
fn add_coverage(bytes: &[u8], index: u32, coverage: &mut Coverage) {
    let Ok(face) = ttf_parser::Face::parse(bytes, index) else { return };
    let Some(cmap) = face.tables().cmap else { return };
    for subtable in cmap.subtables {
        if subtable.is_unicode() {
            subtable.codepoints(|c| {
                if subtable.glyph_index(c).is_some_and(|g| g.0 != 0) {
                    coverage.insert(c)
                }
            });
        }
    }
}

fn face_names(bytes: &[u8], index: u32) -> Option<FontNames> {
    let face = ttf_parser::Face::parse(bytes, index).ok()?;
    let mut families = Vec::new();
    let mut postscript = String::new();
    let mut full = String::new();
    for name in face.names() {
        let Some(value) = name.to_string() else { continue };
        match name.name_id {
            ttf_parser::name_id::FAMILY | ttf_parser::name_id::TYPOGRAPHIC_FAMILY if !families.contains(&value) => {
                families.push(value)
            }
            ttf_parser::name_id::POST_SCRIPT_NAME if postscript.is_empty() => postscript = value,
            ttf_parser::name_id::FULL_NAME if full.is_empty() => full = value,
            _ => {}
        }
    }
    if families.is_empty() {
        return None;
    }
    Some(FontNames { families, postscript, full })
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The bundled `fonts/` directory, found as the templates and baselines are
/// (`bundled::Bundled::default_dir`).
pub fn default_fonts_dir() -> PathBuf {
    crate::bundled::Bundled::Fonts.default_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset_prefix_is_stripped_only_when_it_is_one() {
        assert_eq!(strip_subset_prefix("ABCDEF+DejaVuSans"), "DejaVuSans");
        assert_eq!(strip_subset_prefix("DejaVuSans"), "DejaVuSans");
        assert_eq!(strip_subset_prefix("Ab+C"), "Ab+C");
    }

    #[test]
    fn bundled_fonts_are_named_and_hashed() {
        let fonts = BundledFonts::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts")).unwrap();
        assert!(fonts.families().contains(&"DejaVu Sans".to_string()), "{:?}", fonts.families());
        assert!(fonts.families().contains(&"Noto Naskh Arabic".to_string()), "{:?}", fonts.families());
        assert!(fonts.knows("DejaVuSans-Bold"));
        assert!(fonts.knows("ABCDEF+DejaVuSans"));
        assert!(!fonts.knows("Arial"));
        assert_eq!(fonts.hash.len(), 64);
        assert!(fonts.read("dejavu/DejaVuSans.ttf").is_some());
        assert!(fonts.read("../Cargo.toml").is_none());
        assert!(fonts.read("dejavu/LICENSE").is_none(), "only font files are served");
    }

    #[test]
    fn every_face_of_a_collection_is_named_and_colour_emoji_are_bundled() {
        let fonts = BundledFonts::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts"))
            .expect("fonts/ (scripts/setup copies Noto Sans CJK and Noto Color Emoji into it)");
        let families = fonts.families();
        for family in
            ["Noto Sans CJK JP", "Noto Sans CJK SC", "Noto Sans CJK KR", "Noto Sans Mono CJK TC", "Noto Color Emoji"]
        {
            assert!(families.iter().any(|f| f == family), "{family} missing (run scripts/setup): {families:?}");
        }
        // A collection's faces share its file, each with its index.
        let regular: Vec<u32> =
            fonts.fonts.iter().filter(|f| f.rel_path == "noto-cjk/NotoSansCJK-Regular.ttc").map(|f| f.index).collect();
        assert_eq!(regular, (0..10).collect::<Vec<u32>>());
        assert!(
            fonts.knows("NotoSansCJKjp-Bold") && fonts.knows("NotoSansCJKsc-Regular") && fonts.knows("NotoColorEmoji")
        );
        // One entry (and one sha256) per file, not per face.
        assert_eq!(fonts.files.iter().filter(|f| f.rel_path.ends_with(".ttc")).count(), 2);
        assert!(fonts.files.iter().all(|f| f.sha256.len() == 64 && f.bytes > 0));
        assert!(fonts.read("noto-cjk/NotoSansCJK-Bold.ttc").is_some());
    }

    #[test]
    fn the_hash_covers_each_file_path_and_content() {
        let tmp = tempfile::tempdir().unwrap();
        let dejavu = Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts/dejavu");
        std::fs::copy(dejavu.join("DejaVuSans.ttf"), tmp.path().join("a.ttf")).unwrap();
        let one = BundledFonts::load(tmp.path()).unwrap().hash;
        std::fs::rename(tmp.path().join("a.ttf"), tmp.path().join("b.ttf")).unwrap();
        let renamed = BundledFonts::load(tmp.path()).unwrap().hash;
        std::fs::copy(dejavu.join("DejaVuSerif.ttf"), tmp.path().join("b.ttf")).unwrap();
        let changed = BundledFonts::load(tmp.path()).unwrap().hash;
        assert!(one != renamed && renamed != changed && one != changed);
        std::fs::write(tmp.path().join("c.ttf"), b"not a font").unwrap();
        let err = BundledFonts::load(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("c.ttf") && err.contains("not a parsable"), "{err}");
    }

    #[test]
    fn fontconfig_lists_only_the_bundled_dir() {
        let fonts = BundledFonts::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts")).unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let path = fonts.write_fontconfig(tmp.path()).unwrap();
        let conf = std::fs::read_to_string(path).unwrap();
        assert_eq!(conf.matches("<dir>").count(), 1, "{conf}");
        assert!(!conf.contains("/usr/share/fonts"));
        assert!(!conf.contains("<include"), "no system config may be pulled in");
    }
}
