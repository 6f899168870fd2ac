//! Fixture keys: `TEMPLATE/FIXTURE`, the one way a fixture's baseline, candidate and
//! report entries are named on disk, on the command line and in a job's `baseline` field.
//! (Below the baselines, so a job request can hold one; `baseline::Key` is this type.)
//!
//! Both halves become directory names, so they are restricted to `[A-Za-z0-9_-]+`:
//! no `.`, `..`, slashes, or absolute paths can reach the filesystem through a key.

use std::fmt;

/// Why a text is not a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("{what} name {name:?} is not allowed: use letters, digits, '-' and '_' only (no '.', '/', spaces or absolute paths)")]
    BadName { what: &'static str, name: String },
    #[error("{key:?} is not a baseline key: write it as TEMPLATE/FIXTURE, e.g. invoice/basic")]
    BadKey { key: String },
}

/// A validated `TEMPLATE/FIXTURE` pair.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    template: String,
    fixture: String,
}

impl Key {
    /// A key from its two halves; each must be `[A-Za-z0-9_-]+`.
    pub fn new(template: &str, fixture: &str) -> Result<Key, KeyError> {
        check_name("template", template)?;
        check_name("fixture", fixture)?;
        Ok(Key { template: template.to_string(), fixture: fixture.to_string() })
    }

    /// Parses `TEMPLATE/FIXTURE` as typed on the command line.
    pub fn parse(text: &str) -> Result<Key, KeyError> {
        let mut parts = text.split('/');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(t), Some(f), None) => Key::new(t, f),
            _ => Err(KeyError::BadKey { key: text.to_string() }),
        }
    }

    pub fn template(&self) -> &str {
        &self.template
    }

    pub fn fixture(&self) -> &str {
        &self.fixture
    }
}

/// Written as `"TEMPLATE/FIXTURE"` (in summary.json and the like), validated when read.
impl serde::Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Key, D::Error> {
        let text = String::deserialize(deserializer)?;
        Key::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.template, self.fixture)
    }
}

/// True when `name` may be one half of a key.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_name(what: &'static str, name: &str) -> Result<(), KeyError> {
    if is_valid_name(name) {
        Ok(())
    } else {
        Err(KeyError::BadName { what, name: name.to_string() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_names_and_prints_them_back() {
        let key = Key::parse("invoice/basic-2_b").unwrap();
        assert_eq!((key.template(), key.fixture()), ("invoice", "basic-2_b"));
        assert_eq!(key.to_string(), "invoice/basic-2_b");
    }

    #[test]
    fn refuses_anything_that_could_leave_the_baselines_dir() {
        for bad in ["../x", "a/..", "/etc/passwd", "a/b/c", "a", "a/", "/a", "a/.", "a.b/c", "a/b c", "a/\u{e9}"] {
            let err = Key::parse(bad).unwrap_err();
            assert!(matches!(err, KeyError::BadName { .. } | KeyError::BadKey { .. }), "{bad}: {err}");
        }
        assert!(serde_json::from_str::<Key>("\"a/../b\"").is_err());
        assert_eq!(serde_json::to_string(&Key::parse("a/b").unwrap()).unwrap(), "\"a/b\"");
        let msg = Key::new("invoice", "..").unwrap_err().to_string();
        assert!(msg.contains("fixture name \"..\"") && msg.contains("letters, digits"), "{msg}");
    }
}
