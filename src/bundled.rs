//! Where the directories pixelproof ships with are found: templates, fonts and baselines.
//!
//! All three resolve the same way, so a command started from another directory finds all of
//! them or none of them: the flag (or its variable), else `./NAME` when the working directory
//! has one, else the one beside the source tree the binary was built from. When they resolved
//! differently, `serve` started elsewhere found the bundled templates but no baselines: every
//! template failed its start-up check, and every template job shipped the fallback's PDF.

use std::path::{Path, PathBuf};

/// A directory pixelproof ships with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bundled {
    Templates,
    Fonts,
    Baselines,
}

impl Bundled {
    /// The directory's name, in the working directory and in the source tree.
    pub const fn name(self) -> &'static str {
        match self {
            Bundled::Templates => "templates",
            Bundled::Fonts => "fonts",
            Bundled::Baselines => "baselines",
        }
    }

    /// The environment variable that names it (the same one the CLI flag reads).
    pub const fn variable(self) -> &'static str {
        match self {
            Bundled::Templates => "PIXELPROOF_TEMPLATES",
            Bundled::Fonts => "PIXELPROOF_FONTS",
            Bundled::Baselines => "PIXELPROOF_BASELINES",
        }
    }

    /// The variable's value if set, else `./NAME` if it is a directory, else the source tree's
    /// `NAME` if that is one, else `./NAME` (so a message names the place the user expects).
    pub fn default_dir(self) -> PathBuf {
        match std::env::var_os(self.variable()) {
            Some(p) if !p.is_empty() => PathBuf::from(p),
            // The empty path is the working directory, and `"".join(NAME)` is `NAME`.
            _ => self.search(Path::new(""), Path::new(env!("CARGO_MANIFEST_DIR"))),
        }
    }

    /// `given` (a flag's value), else `default_dir`.
    pub fn resolve(self, given: Option<PathBuf>) -> PathBuf {
        given.unwrap_or_else(|| self.default_dir())
    }

    /// `cwd/NAME` if it is a directory, else `source/NAME` if it is one, else `cwd/NAME`.
    fn search(self, cwd: &Path, source: &Path) -> PathBuf {
        let local = cwd.join(self.name());
        if local.is_dir() {
            return local;
        }
        let bundled = source.join(self.name());
        if bundled.is_dir() {
            return bundled;
        }
        local
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_working_directory_wins_then_the_source_tree_then_the_plain_name() {
        let cwd = tempfile::tempdir().unwrap();
        let source = tempfile::tempdir().unwrap();
        for kind in [Bundled::Templates, Bundled::Fonts, Bundled::Baselines] {
            let local = cwd.path().join(kind.name());
            assert_eq!(kind.search(cwd.path(), source.path()), local, "{kind:?}: neither");
            std::fs::create_dir(source.path().join(kind.name())).unwrap();
            assert_eq!(kind.search(cwd.path(), source.path()), source.path().join(kind.name()), "{kind:?}: source");
            std::fs::create_dir(cwd.path().join(kind.name())).unwrap();
            assert_eq!(kind.search(cwd.path(), source.path()), local, "{kind:?}: cwd");
        }
    }

    #[test]
    fn all_three_resolve_alike_from_a_directory_without_them() {
        // The bug this module fixes: from elsewhere, templates came from the source tree while
        // baselines stayed `./baselines`.
        let elsewhere = tempfile::tempdir().unwrap();
        let source = Path::new(env!("CARGO_MANIFEST_DIR"));
        for kind in [Bundled::Templates, Bundled::Fonts, Bundled::Baselines] {
            assert_eq!(kind.search(elsewhere.path(), source), source.join(kind.name()), "{kind:?}");
        }
    }
}
