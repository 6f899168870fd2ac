//! Signing webhooks as Standard Webhooks (<https://www.standardwebhooks.com/>) does, so a
//! receiver can tell a callback came from this server and was not changed or replayed:
//!
//! * `webhook-id` — the delivery's id, the same on every retry of it (receivers dedupe by it);
//! * `webhook-timestamp` — Unix seconds when the attempt was sent;
//! * `webhook-signature` — `v1,` + base64(HMAC-SHA256(secret, `"{id}.{timestamp}.{body}"`)).
//!
//! A secret is `whsec_` + base64 of its bytes; it is given per submitter (`--webhook-secret
//! NAME=whsec_…`) or for every submitter (`--webhook-secret whsec_…`). Secrets are never
//! logged (their `Debug` shows only the submitters' names).

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The prefix of a secret's text form.
pub const SECRET_PREFIX: &str = "whsec_";
/// How far a receiver should accept a timestamp from its own clock (Standard Webhooks' default).
pub const TOLERANCE_SECS: i64 = 5 * 60;

/// One signing secret (its bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Why a `--webhook-secret` or a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("a webhook secret is whsec_ followed by base64 (at least 24 bytes, e.g. whsec_$(openssl rand -base64 32)), optionally after NAME=; {0}")]
    BadSecret(String),
    #[error("webhook secret for {0:?} is given twice; give each submitter one secret")]
    Duplicate(String),
    #[error("the webhook-timestamp is {age} s from now, more than the {TOLERANCE_SECS} s accepted: a replay or a wrong clock")]
    Stale { age: i64 },
    #[error("the webhook-timestamp {0:?} is not Unix seconds")]
    BadTimestamp(String),
    #[error("no v1 signature in webhook-signature matches the body: it was changed, or signed with another secret")]
    Mismatch,
}

impl std::str::FromStr for Secret {
    type Err = SignatureError;

    fn from_str(text: &str) -> Result<Secret, SignatureError> {
        let encoded = text
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(|| SignatureError::BadSecret("it does not start with whsec_".to_string()))?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|e| SignatureError::BadSecret(format!("the part after whsec_ is not base64: {e}")))?;
        if bytes.len() < 24 {
            return Err(SignatureError::BadSecret(format!("it has {} bytes", bytes.len())));
        }
        Ok(Secret(bytes))
    }
}

impl Secret {
    /// `v1,` + base64(HMAC-SHA256(secret, `"{id}.{timestamp}.{body}"`)).
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(self.mac(id, timestamp, body).finalize().into_bytes())
        )
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).unwrap_or_else(|_| unreachable!());
        mac.update(format!("{id}.{timestamp}.").as_bytes());
        mac.update(body);
        mac
    }

    /// What a receiver does: the timestamp within [`TOLERANCE_SECS`] of `now`, and one of the
    /// space-separated `v1,` signatures matching (compared in constant time).
    pub fn verify(
        &self,
        id: &str,
        timestamp: &str,
        signatures: &str,
        body: &[u8],
        now: i64,
    ) -> Result<(), SignatureError> {
        let ts: i64 = timestamp.parse().map_err(|_| SignatureError::BadTimestamp(timestamp.to_string()))?;
        if (now - ts).abs() > TOLERANCE_SECS {
            return Err(SignatureError::Stale { age: now - ts });
        }
        for candidate in signatures.split(' ') {
            let Some(encoded) = candidate.strip_prefix("v1,") else { continue };
            let Ok(given) = base64::engine::general_purpose::STANDARD.decode(encoded) else { continue };
            if self.mac(id, ts, body).verify_slice(&given).is_ok() {
                return Ok(());
            }
        }
        Err(SignatureError::Mismatch)
    }
}

/// The configured secrets: per submitter, and a default for the others.
#[derive(Debug, Clone, Default)]
pub struct Secrets {
    default: Option<Secret>,
    by_submitter: BTreeMap<String, Secret>,
}

impl Secrets {
    /// From `--webhook-secret` values: `whsec_…` (the default) or `NAME=whsec_…`.
    pub fn parse(values: &[String]) -> Result<Secrets, SignatureError> {
        let mut secrets = Secrets::default();
        for value in values {
            match value.split_once('=').filter(|(name, _)| !name.starts_with(SECRET_PREFIX)) {
                Some((name, secret)) => {
                    if secrets.by_submitter.insert(name.to_string(), secret.parse()?).is_some() {
                        return Err(SignatureError::Duplicate(name.to_string()));
                    }
                }
                None => {
                    if secrets.default.replace(value.parse()?).is_some() {
                        return Err(SignatureError::Duplicate("every submitter".to_string()));
                    }
                }
            }
        }
        Ok(secrets)
    }

    pub fn is_empty(&self) -> bool {
        self.default.is_none() && self.by_submitter.is_empty()
    }

    /// The secret a job's webhooks are signed with: its submitter's, else the default.
    pub fn for_submitter(&self, submitter: Option<&str>) -> Option<&Secret> {
        submitter.and_then(|s| self.by_submitter.get(s)).or(self.default.as_ref())
    }
}

/// The Standard Webhooks headers of one attempt; `webhook-signature` only with a secret.
pub fn headers(id: &str, timestamp: i64, body: &[u8], secret: Option<&Secret>) -> Vec<(&'static str, String)> {
    let mut headers = vec![("webhook-id", id.to_string()), ("webhook-timestamp", timestamp.to_string())];
    if let Some(secret) = secret {
        headers.push(("webhook-signature", secret.sign(id, timestamp, body)));
    }
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks specification's reference libraries.
    #[test]
    fn matches_the_standard_webhooks_example() {
        let secret: Secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".parse().unwrap();
        let body = br#"{"test": 2432232314}"#;
        let signature = secret.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        let ok = secret.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", &signature, body, 1614265330 + 10);
        assert_eq!(ok, Ok(()));
        let tampered = secret.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", &signature, b"{}", 1614265330);
        assert_eq!(tampered, Err(SignatureError::Mismatch));
        let stale = secret.verify("msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", &signature, body, 1614265330 + 301);
        assert_eq!(stale, Err(SignatureError::Stale { age: 301 }));
    }

    #[test]
    fn secrets_per_submitter_and_default() {
        let key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let s = Secrets::parse(&[key.to_string(), format!("alice={key}")]).unwrap();
        assert!(s.for_submitter(Some("alice")).is_some() && s.for_submitter(Some("bob")).is_some());
        assert!(Secrets::parse(&["bob=whsec_c2hvcnQ=".to_string()]).is_err());
        assert!(Secrets::parse(&["nope".to_string()]).is_err());
        assert_eq!(
            Secrets::parse(&[format!("a={key}"), format!("a={key}")]).unwrap_err(),
            SignatureError::Duplicate("a".into())
        );
        assert!(!format!("{s:?}").contains("MfKQ"));
    }
}
