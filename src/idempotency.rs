//! Idempotency keys, as the `Idempotency-Key` header carries them (IETF
//! draft-ietf-httpapi-idempotency-key-header; Stripe's rules): a key is scoped to its
//! submitter and bound to a [`BodyFingerprint`] of the request it first came with. The same key
//! and body give the same job; the same key with another body is refused; the same key
//! from another submitter is that submitter's own key. This module is the one place a key
//! is checked and a body fingerprinted; `jobs::JobStore::claim_idempotency_key` keeps the
//! claims.

use sha2::{Digest, Sha256};

/// Longest key accepted, in bytes.
pub const MAX_KEY_LEN: usize = 255;

/// A checked key: 1 to [`MAX_KEY_LEN`] printable ASCII characters (space to `~`), without
/// leading or trailing spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

/// Why an `Idempotency-Key` header was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the Idempotency-Key header is empty; send 1 to {MAX_KEY_LEN} printable ASCII characters, or no header")]
    Empty,
    #[error("the Idempotency-Key header has {0} bytes; at most {MAX_KEY_LEN} are accepted (a UUID is plenty)")]
    TooLong(usize),
    #[error(
        "the Idempotency-Key header has a control or non-ASCII byte (0x{byte:02x}) at position {at}; use printable \
         ASCII only"
    )]
    NotPrintable { byte: u8, at: usize },
    #[error("the Idempotency-Key header was sent {0} times; send it once")]
    Repeated(usize),
}

impl IdempotencyKey {
    /// Checks a header value's bytes (surrounding spaces are not part of the key).
    pub fn parse(raw: &[u8]) -> Result<IdempotencyKey, KeyError> {
        if let Some(at) = raw.iter().position(|b| !(b' '..=b'~').contains(b)) {
            return Err(KeyError::NotPrintable { byte: raw[at], at });
        }
        // Only printable ASCII is left, so this is UTF-8.
        let text = String::from_utf8_lossy(raw);
        let key = text.trim_matches(' ');
        if key.is_empty() {
            return Err(KeyError::Empty);
        }
        if key.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong(key.len()));
        }
        Ok(IdempotencyKey(key.to_string()))
    }

    /// The key of a request's headers: none, one valid header, or why not.
    pub fn from_headers(headers: &axum::http::HeaderMap) -> Result<Option<IdempotencyKey>, KeyError> {
        let mut values = headers.get_all("idempotency-key").iter();
        let Some(first) = values.next() else { return Ok(None) };
        let more = values.count();
        if more > 0 {
            return Err(KeyError::Repeated(more + 1));
        }
        IdempotencyKey::parse(first.as_bytes()).map(Some)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SHA-256 (hex) of a request body as the service stores it (`JobRecord::request`:
/// parsed, then serialized with sorted object keys), so spacing and key order do not
/// change it, while any change of content does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct BodyFingerprint(String);

impl BodyFingerprint {
    pub fn of(request: &impl serde::Serialize) -> BodyFingerprint {
        // Through `serde_json::Value`, which keeps objects in a BTreeMap (no `preserve_order`):
        // sorted keys, so a body has one fingerprint however its fields are ordered.
        let value = serde_json::to_value(request).unwrap_or_default();
        let bytes = serde_json::to_vec(&value).unwrap_or_default();
        BodyFingerprint(hex::encode(Sha256::digest(bytes)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_printable_ascii_within_the_limit() {
        assert_eq!(IdempotencyKey::parse(b" invoice-1001 ").map(|k| k.0), Ok("invoice-1001".to_string()));
        assert_eq!(IdempotencyKey::parse(b""), Err(KeyError::Empty));
        assert_eq!(IdempotencyKey::parse(b"   "), Err(KeyError::Empty));
        assert_eq!(IdempotencyKey::parse(&[b'k'; 256]), Err(KeyError::TooLong(256)));
        assert!(IdempotencyKey::parse(&[b'k'; 255]).is_ok());
        assert_eq!(IdempotencyKey::parse(b"a\tb"), Err(KeyError::NotPrintable { byte: 9, at: 1 }));
        assert_eq!(IdempotencyKey::parse("é".as_bytes()), Err(KeyError::NotPrintable { byte: 0xc3, at: 0 }));
    }

    #[test]
    fn fingerprints_ignore_key_order_but_not_content() {
        let a: serde_json::Value = serde_json::from_str(r#"{"html": "<p>a</p>", "data": {"x": 1, "y": 2}}"#).unwrap();
        let b: serde_json::Value = serde_json::from_str(r#"{"data":{"y":2,"x":1},"html":"<p>a</p>"}"#).unwrap();
        let c: serde_json::Value = serde_json::from_str(r#"{"data":{"y":2,"x":1},"html":"<p>b</p>"}"#).unwrap();
        assert_eq!(BodyFingerprint::of(&a), BodyFingerprint::of(&b));
        assert_ne!(BodyFingerprint::of(&a), BodyFingerprint::of(&c));
    }
}
