//! [`ObjectKey`]: the only way an object is named. Validated once, so every store can map a
//! key to a path or an S3 key without escaping anything.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::StoreError;

/// A relative key: segments of `[A-Za-z0-9._-]` joined by `/`. No empty segment, no `.` or
/// `..`, no segment starting with `.` (reserved for the stores' own files), at most 512 bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ObjectKey(String);

/// The longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 512;

impl ObjectKey {
    pub fn parse(key: &str) -> Result<ObjectKey, StoreError> {
        let bad = |why| StoreError::InvalidKey { key: key.chars().take(100).collect(), why };
        if key.is_empty() {
            return Err(bad("it is empty"));
        }
        if key.len() > MAX_KEY_LEN {
            return Err(bad("it is longer than 512 bytes"));
        }
        if key.starts_with('/') {
            return Err(bad("it is absolute"));
        }
        for segment in key.split('/') {
            if segment.is_empty() {
                return Err(bad("it has an empty segment"));
            }
            if segment == "." || segment == ".." {
                return Err(bad("it has a '.' or '..' segment"));
            }
            if segment.starts_with('.') {
                return Err(bad("a segment starts with '.'"));
            }
            if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
                return Err(bad("it has a character other than letters, digits, '.', '_', '-' and '/'"));
            }
        }
        Ok(ObjectKey(key.to_string()))
    }

    /// `jobs/{id}/{leaf}` for a fixed, valid `leaf` and a job id (a ULID: always a valid segment).
    pub(crate) fn for_job(id: impl fmt::Display, leaf: &'static str) -> ObjectKey {
        ObjectKey(format!("jobs/{id}/{leaf}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// This key followed by `/` and `rest` (validated like any key).
    pub fn join(&self, rest: &str) -> Result<ObjectKey, StoreError> {
        ObjectKey::parse(&format!("{}/{rest}", self.0))
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ObjectKey {
    type Error = StoreError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        ObjectKey::parse(&s)
    }
}

impl From<ObjectKey> for String {
    fn from(k: ObjectKey) -> String {
        k.0
    }
}
