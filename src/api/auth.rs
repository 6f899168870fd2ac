//! API tokens and roles: `NAME:ROLE:SECRET` from `--token` or `PIXELPROOF_TOKENS`, sent
//! as `Authorization: Bearer SECRET` (or, for browsers, as the password of HTTP Basic:
//! `Authorization: Basic base64(ANY:SECRET)`, which the browser's own prompt sends). Routes
//! declare the role they need with [`require`]; an `operator` may do everything a `submit`
//! token may.
//!
//! Secrets are kept as SHA-256 digests and compared in constant time; failed attempts are
//! logged without the token. With no tokens configured every route is open, which is why
//! the server then only listens on loopback (see `api::serve`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::problem::Problem;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Submit jobs and read their results.
    Submit,
    /// Everything, including operator routes (verification details, reviews).
    Operator,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Submit => "submit",
            Role::Operator => "operator",
        }
    }
}

/// One configured token.
#[derive(Clone)]
pub struct Token {
    pub name: String,
    pub role: Role,
    digest: [u8; 32],
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token({}:{})", self.name, self.role.name())
    }
}

/// A `--token` that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TokenError {
    #[error("a token is NAME:ROLE:SECRET with ROLE submit or operator; got one with {0} part(s)")]
    Shape(usize),
    #[error("token {name:?} has role {role:?}; use submit or operator")]
    Role { name: String, role: String },
    #[error("token {0:?} has a secret shorter than 16 characters; use a long random one")]
    Short(String),
    #[error("token name {0:?} is used twice; give each token its own name")]
    Duplicate(String),
}

impl std::str::FromStr for Token {
    type Err = TokenError;

    fn from_str(text: &str) -> Result<Token, TokenError> {
        let parts: Vec<&str> = text.splitn(3, ':').collect();
        let [name, role, secret] = parts[..] else { return Err(TokenError::Shape(parts.len())) };
        if name.is_empty() || secret.is_empty() {
            return Err(TokenError::Shape(parts.len()));
        }
        let role = match role {
            "submit" => Role::Submit,
            "operator" => Role::Operator,
            other => return Err(TokenError::Role { name: name.to_string(), role: other.to_string() }),
        };
        if secret.len() < 16 {
            return Err(TokenError::Short(name.to_string()));
        }
        Ok(Token { name: name.to_string(), role, digest: Sha256::digest(secret.as_bytes()).into() })
    }
}

/// The configured tokens.
#[derive(Debug, Clone, Default)]
pub struct Tokens(Vec<Token>);

impl Tokens {
    pub fn new(tokens: Vec<Token>) -> Result<Tokens, TokenError> {
        let mut names = std::collections::BTreeSet::new();
        for t in &tokens {
            if !names.insert(t.name.clone()) {
                return Err(TokenError::Duplicate(t.name.clone()));
            }
        }
        Ok(Tokens(tokens))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The token whose secret this is. Every token is compared, in constant time.
    pub fn find(&self, secret: &str) -> Option<&Token> {
        let digest: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
        let mut found = None;
        for t in &self.0 {
            if bool::from(t.digest.ct_eq(&digest)) {
                found = Some(t);
            }
        }
        found
    }
}

/// The caller's name when no tokens are configured (every route is open, on loopback only).
pub use crate::jobs::ANONYMOUS;

/// Who made a request; added to the request's extensions by [`require`].
#[derive(Debug, Clone)]
pub struct Caller {
    /// The token's name (`anonymous` when no tokens are configured).
    pub name: String,
    pub role: Role,
}

impl Caller {
    /// Whether this caller may see the job: operators see every job, a submit token only
    /// those it submitted (records without a submitter predate owners: operators only).
    /// The one rule behind "no tenant sees another's jobs" (`api::jobs` answers 404 otherwise).
    pub fn may_see(&self, record: &crate::jobs::JobRecord) -> bool {
        self.may_see_owned_by(record.submitter.as_deref())
    }

    /// [`Caller::may_see`] for what is left of a job (its tombstone): its owner's name.
    pub fn may_see_owned_by(&self, submitter: Option<&str>) -> bool {
        self.role >= Role::Operator || submitter == Some(self.name.as_str())
    }
}

/// Middleware for [`axum::middleware::from_fn_with_state`] with `(tokens, role)`: refuses
/// requests without a token (401) or with a token of a lesser role (403).
pub async fn require(
    State((tokens, needed)): State<(Arc<Tokens>, Role)>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = if tokens.is_empty() {
        Caller { name: ANONYMOUS.to_string(), role: Role::Operator }
    } else {
        let presented = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(secret);
        let path = request.uri().path().to_string();
        let Some(secret) = presented else {
            tracing::warn!(%path, "request without a bearer token refused");
            return unauthorized(
                "send `Authorization: Bearer TOKEN` with a token given to the server with --token \
                 (a browser may give the token as the password when it asks)",
            );
        };
        let Some(token) = tokens.find(&secret) else {
            tracing::warn!(%path, "request with an unknown token refused");
            return unauthorized("this token is not one the server knows; check it, or ask for a new one");
        };
        Caller { name: token.name.clone(), role: token.role }
    };
    if caller.role < needed {
        tracing::warn!(token = %caller.name, path = %request.uri().path(), "token without the needed role refused");
        return Problem::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "This token may not use this route",
            format!(
                "token {:?} has role {}; this route needs a token with role {}",
                caller.name,
                caller.role.name(),
                needed.name()
            ),
        )
        .into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// The secret of an `Authorization` header: `Bearer SECRET`, or the password of
/// `Basic base64(USER:SECRET)` (the user name is ignored: the token names the caller).
/// The scheme's name is case-insensitive (RFC 9110 §11.1): `bearer` and `BASIC` work too.
fn secret(header: &str) -> Option<String> {
    use base64::Engine as _;
    let (scheme, rest) = header.trim_start().split_once(' ')?;
    if scheme.eq_ignore_ascii_case("Bearer") {
        return Some(rest.trim().to_string());
    }
    if !scheme.eq_ignore_ascii_case("Basic") {
        return None;
    }
    let encoded = rest;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (_user, password) = text.split_once(':')?;
    Some(password.to_string())
}

fn unauthorized(detail: &str) -> Response {
    let mut response =
        Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "A valid API token is needed", detail).into_response();
    // Two challenges: API clients use Bearer; a browser shows its password prompt for Basic.
    let headers = response.headers_mut();
    headers.insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    headers.append(
        header::WWW_AUTHENTICATE,
        header::HeaderValue::from_static("Basic realm=\"pixelproof\", charset=\"UTF-8\""),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_and_match() {
        let t: Token = "ci:submit:0123456789abcdef".parse().unwrap();
        assert_eq!((t.name.as_str(), t.role), ("ci", Role::Submit));
        assert!("ci:admin:0123456789abcdef".parse::<Token>().unwrap_err().to_string().contains("admin"));
        assert_eq!("ci:submit:short".parse::<Token>().unwrap_err(), TokenError::Short("ci".into()));
        assert_eq!("ci:submit".parse::<Token>().unwrap_err(), TokenError::Shape(2));
        let tokens = Tokens::new(vec![t, "op:operator:fedcba9876543210:x".parse().unwrap()]).unwrap();
        assert_eq!(tokens.find("fedcba9876543210:x").map(|t| t.role), Some(Role::Operator));
        assert!(tokens.find("0123456789abcdeX").is_none());
        assert!(format!("{tokens:?}").contains("ci:submit") && !format!("{tokens:?}").contains("0123"));
    }

    #[test]
    fn bearer_and_basic_carry_the_secret() {
        assert_eq!(secret("Bearer abc "), Some("abc".to_string()));
        // base64("ops:s3cret:with-colon")
        assert_eq!(secret("Basic b3BzOnMzY3JldDp3aXRoLWNvbG9u"), Some("s3cret:with-colon".to_string()));
        assert_eq!(secret("Basic !!!"), None);
        assert_eq!(secret("Basic bm9jb2xvbg=="), None);
        assert_eq!(secret("Digest x"), None);
        assert_eq!(secret("bearer abc"), Some("abc".to_string()));
        assert_eq!(secret("BEARER abc"), Some("abc".to_string()));
        assert_eq!(secret("basic b3BzOnMzY3JldDp3aXRoLWNvbG9u"), Some("s3cret:with-colon".to_string()));
        assert_eq!(secret("Bearerabc"), None);
    }
}
