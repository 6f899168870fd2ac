//! The renderer's pinned parts (`pins.env` at the repository root) and environment drift.
//!
//! `pins.env` is the one place the Chromium package version and the PDFium build live;
//! it is compiled into the binary. [`Environment`] is what a baseline manifest records
//! and what `check` compares before trusting any pixel comparison.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const PINS_ENV: &str = include_str!("../pins.env");

/// The pinned versions, as written in `pins.env`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pins {
    pub chromium_package: String,
    pub chromium_package_version: String,
    pub chromium_binary: PathBuf,
    pub pdfium_wheel_version: String,
    pub pdfium_library_sha256: String,
    pub pdfium_build: String,
    /// Font files too large for the repository (`FONT_FILE_*`), copied into `fonts/` by
    /// `scripts/setup` from pinned Debian packages; in path order.
    pub fonts: Vec<PinnedFont>,
}

/// A font file pinned by its sha256 (`FONT_FILE_NAME=PATH_UNDER_fonts/:SHA256`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinnedFont {
    /// Its key in `pins.env` (`FONT_FILE_NOTO_COLOR_EMOJI`).
    pub key: String,
    /// Path relative to the fonts directory (`noto-cjk/NotoSansCJK-Regular.ttc`).
    pub rel_path: String,
    pub sha256: String,
}

/// Why the environment cannot be used as pinned.
#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error("pins.env is missing {0}")]
    Missing(&'static str),
    #[error("Chromium is not installed at {path}. Run scripts/setup (it installs {package}={version})")]
    ChromiumMissing { path: PathBuf, package: String, version: String },
    #[error("Chromium at {path} is version {found}, but pins.env pins {pinned}. Run scripts/setup to install the pinned package")]
    ChromiumVersion { path: PathBuf, found: String, pinned: String },
    #[error("PDFium library not found (looked in: {looked}). Run scripts/setup, or set PIXELPROOF_PDFIUM to the libpdfium.so from pypdfium2 {wheel}")]
    PdfiumMissing { looked: String, wheel: String },
    #[error("PDFium library {path} has sha256 {found}, but pins.env pins {pinned}. Run scripts/setup to install the pinned build")]
    PdfiumChecksum { path: PathBuf, found: String, pinned: String },
    #[error("pins.env: {key} must be PATH_UNDER_fonts/:SHA256 (64 hex digits), not {value:?}")]
    BadFontPin { key: String, value: String },
    #[error("the pinned font {path} is missing (pins.env {key}). Run scripts/setup: it copies it from the Debian font packages pinned in pins.env")]
    FontMissing { path: PathBuf, key: String },
    #[error(
        "font {path} has sha256 {found}, but pins.env pins {pinned}. Run scripts/setup to copy the pinned file again"
    )]
    FontChecksum { path: PathBuf, found: String, pinned: String },
    #[error("could not read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl Pins {
    /// The pins compiled into this binary.
    pub fn compiled() -> Pins {
        // pins.env is part of the source tree; a missing key is a build mistake caught by tests.
        Pins::parse(PINS_ENV).expect("pins.env compiled into the binary is complete")
    }

    pub fn parse(text: &str) -> Result<Pins, PinError> {
        let map: BTreeMap<&str, &str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .collect();
        let get = |k: &'static str| map.get(k).map(|v| v.to_string()).ok_or(PinError::Missing(k));
        let mut fonts = Vec::new();
        for (key, value) in map.iter().filter(|(k, _)| k.starts_with("FONT_FILE_")) {
            let bad = || PinError::BadFontPin { key: key.to_string(), value: value.to_string() };
            let (rel_path, sha256) = value.rsplit_once(':').ok_or_else(bad)?;
            let safe = crate::document::safe_relative_path(rel_path).is_some();
            if !safe || sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            fonts.push(PinnedFont {
                key: key.to_string(),
                rel_path: rel_path.to_string(),
                sha256: sha256.to_ascii_lowercase(),
            });
        }
        fonts.sort_by(|a, b| a.rel_path.cmp(&b.rel_path));
        Ok(Pins {
            chromium_package: get("CHROMIUM_PACKAGE")?,
            chromium_package_version: get("CHROMIUM_PACKAGE_VERSION")?,
            chromium_binary: PathBuf::from(get("CHROMIUM_BINARY")?),
            pdfium_wheel_version: get("PDFIUM_WHEEL_VERSION")?,
            pdfium_library_sha256: get("PDFIUM_LIBRARY_SHA256")?,
            pdfium_build: get("PDFIUM_BUILD")?,
            fonts,
        })
    }

    /// The upstream Chromium version the package pin implies (`156.0.8078.129`).
    pub fn chromium_version(&self) -> &str {
        self.chromium_package_version.split('-').next().unwrap_or(&self.chromium_package_version)
    }

    /// The Chromium binary to run: `PIXELPROOF_CHROMIUM` if set, else the pinned path.
    pub fn chromium_path(&self) -> PathBuf {
        std::env::var_os("PIXELPROOF_CHROMIUM").map(PathBuf::from).unwrap_or_else(|| self.chromium_binary.clone())
    }

    /// Checks that the Chromium binary exists and reports the pinned version.
    /// Returns the version it reports.
    pub fn check_chromium(&self) -> Result<String, PinError> {
        let path = self.chromium_path();
        if !path.is_file() {
            return Err(PinError::ChromiumMissing {
                path,
                package: self.chromium_package.clone(),
                version: self.chromium_package_version.clone(),
            });
        }
        let out = std::process::Command::new(&path)
            .arg("--version")
            .output()
            .map_err(|source| PinError::Io { path: path.clone(), source })?;
        let text = String::from_utf8_lossy(&out.stdout);
        let found = text
            .split_whitespace()
            .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))
            .unwrap_or("")
            .to_string();
        if found != self.chromium_version() {
            return Err(PinError::ChromiumVersion {
                path,
                found: text.trim().to_string(),
                pinned: self.chromium_version().to_string(),
            });
        }
        Ok(found)
    }

    /// Finds libpdfium.so: `PIXELPROOF_PDFIUM`, then `vendor/pdfium/libpdfium.so` under the
    /// current directory, beside the executable's repository, then `/usr/local/lib/pixelproof/`.
    pub fn locate_pdfium(&self) -> Result<PathBuf, PinError> {
        let mut candidates = Vec::new();
        if let Some(p) = std::env::var_os("PIXELPROOF_PDFIUM") {
            candidates.push(PathBuf::from(p));
        }
        candidates.push(PathBuf::from("vendor/pdfium/libpdfium.so"));
        candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("vendor/pdfium/libpdfium.so"));
        if let Ok(exe) = std::env::current_exe() {
            if let Some(dir) = exe.parent() {
                candidates.push(dir.join("libpdfium.so"));
            }
        }
        candidates.push(PathBuf::from("/usr/local/lib/pixelproof/libpdfium.so"));
        match candidates.iter().find(|p| p.is_file()) {
            Some(p) => Ok(p.clone()),
            None => Err(PinError::PdfiumMissing {
                looked: candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
                wheel: self.pdfium_wheel_version.clone(),
            }),
        }
    }

    /// Locates libpdfium.so and checks its sha256 against the pin.
    pub fn check_pdfium(&self) -> Result<PathBuf, PinError> {
        let path = self.locate_pdfium()?;
        let bytes = std::fs::read(&path).map_err(|source| PinError::Io { path: path.clone(), source })?;
        let found = hex::encode(Sha256::digest(&bytes));
        if found != self.pdfium_library_sha256 {
            return Err(PinError::PdfiumChecksum { path, found, pinned: self.pdfium_library_sha256.clone() });
        }
        Ok(path)
    }
}

impl Pins {
    /// Checks that every pinned font file is among the bundled fonts with its pinned sha256
    /// (hashed once, by `BundledFonts::load`).
    pub fn check_fonts(&self, fonts: &crate::fonts::BundledFonts) -> Result<(), PinError> {
        for pin in &self.fonts {
            let path = fonts.dir.join(&pin.rel_path);
            match fonts.files.iter().find(|f| f.rel_path == pin.rel_path) {
                None => return Err(PinError::FontMissing { path, key: pin.key.clone() }),
                Some(file) if file.sha256 != pin.sha256 => {
                    return Err(PinError::FontChecksum { path, found: file.sha256.clone(), pinned: pin.sha256.clone() })
                }
                Some(_) => {}
            }
        }
        Ok(())
    }
}

/// The rendering environment a raster depends on. Recorded in every baseline manifest;
/// compared before any pixel comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Environment {
    /// Chromium's upstream version (`156.0.8078.129`).
    pub chromium: String,
    /// PDFium build number (`8149`).
    pub pdfium_build: String,
    /// sha256 over the bundled font files (see `fonts::fonts_hash`).
    pub fonts_hash: String,
    /// Raster resolution.
    pub dpi: u32,
    /// The fallback engine's version (`WeasyPrint 57.2`), for pages it printed; absent for
    /// Chromium's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl Environment {
    /// This environment as the fallback engine's pages record it: the same PDFium, fonts and
    /// DPI, plus the fallback's version (`WeasyPrint 57.2`).
    pub fn for_fallback(&self, version: &str) -> Environment {
        Environment { fallback: Some(version.to_string()), ..self.clone() }
    }

    /// What differs between a baseline's environment and this one, one line per field.
    pub fn drift_from(&self, baseline: &Environment) -> Vec<String> {
        let mut out = Vec::new();
        if self.chromium != baseline.chromium {
            out.push(format!("Chromium: baseline {} vs here {}", baseline.chromium, self.chromium));
        }
        if self.pdfium_build != baseline.pdfium_build {
            out.push(format!("PDFium build: baseline {} vs here {}", baseline.pdfium_build, self.pdfium_build));
        }
        if self.fonts_hash != baseline.fonts_hash {
            out.push(format!(
                "fonts hash: baseline {} vs here {}",
                short(&baseline.fonts_hash),
                short(&self.fonts_hash)
            ));
        }
        if self.dpi != baseline.dpi {
            out.push(format!("DPI: baseline {} vs here {}", baseline.dpi, self.dpi));
        }
        if self.fallback != baseline.fallback {
            let name = |v: &Option<String>| v.clone().unwrap_or_else(|| "Chromium's pages".to_string());
            out.push(format!(
                "fallback engine: baseline {} vs here {}",
                name(&baseline.fallback),
                name(&self.fallback)
            ));
        }
        out
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compiled_pins_are_complete() {
        let pins = Pins::compiled();
        assert_eq!(pins.chromium_package, "chromium-headless-shell");
        assert!(pins.chromium_version().split('.').count() == 4, "{}", pins.chromium_version());
        assert_eq!(pins.pdfium_library_sha256.len(), 64);
        let fonts: Vec<&str> = pins.fonts.iter().map(|f| f.rel_path.as_str()).collect();
        assert_eq!(
            fonts,
            ["noto-cjk/NotoSansCJK-Bold.ttc", "noto-cjk/NotoSansCJK-Regular.ttc", "noto-emoji/NotoColorEmoji.ttf"]
        );
    }

    #[test]
    fn a_font_pin_must_name_a_relative_path_and_a_sha256() {
        let base = PINS_ENV.lines().filter(|l| !l.starts_with("FONT_FILE_")).collect::<Vec<_>>().join("\n");
        let sha = "a".repeat(64);
        for bad in ["x.ttf".to_string(), "x.ttf:abc".to_string(), format!("../x.ttf:{sha}"), format!(":{sha}")] {
            let err = Pins::parse(&format!("{base}\nFONT_FILE_X={bad}\n")).unwrap_err().to_string();
            assert!(err.contains("FONT_FILE_X") && err.contains("PATH_UNDER_fonts/:SHA256"), "{bad}: {err}");
        }
        let ok = Pins::parse(&format!("{base}\nFONT_FILE_X=a/x.ttf:{}\n", "AB".repeat(32))).unwrap();
        assert_eq!(
            ok.fonts,
            [PinnedFont { key: "FONT_FILE_X".into(), rel_path: "a/x.ttf".into(), sha256: "ab".repeat(32) }]
        );
    }

    #[test]
    fn pinned_fonts_must_be_there_with_their_sha256() {
        let tmp = tempfile::tempdir().unwrap();
        let dejavu = Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts/dejavu/DejaVuSans.ttf");
        std::fs::create_dir_all(tmp.path().join("a")).unwrap();
        std::fs::copy(&dejavu, tmp.path().join("a/x.ttf")).unwrap();
        let fonts = crate::fonts::BundledFonts::load(tmp.path()).unwrap();
        let sha = hex::encode(Sha256::digest(std::fs::read(&dejavu).unwrap()));
        let base = PINS_ENV.lines().filter(|l| !l.starts_with("FONT_FILE_")).collect::<Vec<_>>().join("\n");
        let pins = |line: &str| Pins::parse(&format!("{base}\n{line}\n")).unwrap();
        pins(&format!("FONT_FILE_X=a/x.ttf:{sha}")).check_fonts(&fonts).unwrap();
        let err = pins(&format!("FONT_FILE_Y=b/y.ttc:{sha}")).check_fonts(&fonts).unwrap_err().to_string();
        assert!(err.contains("b/y.ttc") && err.contains("FONT_FILE_Y") && err.contains("scripts/setup"), "{err}");
        let other = "0".repeat(64);
        let err = pins(&format!("FONT_FILE_X=a/x.ttf:{other}")).check_fonts(&fonts).unwrap_err().to_string();
        assert!(err.contains(&sha) && err.contains(&other) && err.contains("scripts/setup"), "{err}");
    }

    #[test]
    fn drift_names_each_difference() {
        let a = Environment {
            chromium: "156.0.1".into(),
            pdfium_build: "8149".into(),
            fonts_hash: "aa".into(),
            dpi: 150,
            fallback: None,
        };
        let mut b = a.clone();
        assert!(a.drift_from(&b).is_empty());
        b.chromium = "150.0.2".into();
        b.dpi = 72;
        let drift = a.drift_from(&b);
        assert_eq!(drift.len(), 2);
        assert!(drift[0].contains("150.0.2") && drift[0].contains("156.0.1"));
        assert!(drift[1].contains("DPI"));
    }
}
