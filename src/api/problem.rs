//! RFC 9457 problem details (`application/problem+json`): the one shape of every error
//! the API returns, including axum's own rejections (bad JSON, wrong content type, body
//! too large), unknown routes and wrong methods (see [`problem_for_bare_errors`]).

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of a problem.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error as the client sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem (`about:blank` plus the status for generic ones).
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this request, and what to do about it.
    pub detail: String,
    /// For `invalid-data`: every way `data` fails the template's schema, each at its JSON pointer.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<crate::template::DataProblem>,
    /// Sent as the `Retry-After` header (seconds), for a 429 or 503 that will pass.
    #[serde(skip)]
    pub retry_after_secs: Option<u32>,
}

impl Problem {
    /// A problem of a named kind (`type` becomes `urn:pixelproof:problem:KIND`).
    pub fn new(status: StatusCode, kind: &str, title: &str, detail: impl Into<String>) -> Problem {
        Problem {
            kind: format!("urn:pixelproof:problem:{kind}"),
            title: title.to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_secs: None,
        }
    }

    /// A problem with no more specific kind than its status.
    pub fn generic(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            kind: "about:blank".to_string(),
            title: status.canonical_reason().unwrap_or("Error").to_string(),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_secs: None,
        }
    }

    /// The problem with a `Retry-After` of `secs` seconds.
    pub fn retry_after(mut self, secs: u32) -> Problem {
        self.retry_after_secs = Some(secs);
        self
    }

    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let body = serde_json::to_vec(&self).unwrap_or_else(|_| b"{}".to_vec());
        let mut response = (status, body).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(secs) = self.retry_after_secs {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<JsonRejection> for Problem {
    fn from(rejection: JsonRejection) -> Problem {
        let status = rejection.status();
        let (kind, title) = match &rejection {
            JsonRejection::JsonSyntaxError(_) => ("malformed-json", "The body is not valid JSON"),
            JsonRejection::JsonDataError(_) => ("invalid-body", "The body does not match the request schema"),
            JsonRejection::MissingJsonContentType(_) => ("content-type", "The body must be JSON"),
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => ("body-too-large", "The body is too large"),
            _ => ("unreadable-body", "The body could not be read"),
        };
        let detail = match &rejection {
            JsonRejection::MissingJsonContentType(_) => {
                "send the body with `Content-Type: application/json`".to_string()
            }
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => {
                "the request body is larger than the server's limit (--max-body-bytes)".to_string()
            }
            _ => rejection.body_text(),
        };
        Problem::new(status, kind, title, detail)
    }
}

/// `axum::Json`, but rejections are problems.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(Problem::from(rejection)),
        }
    }
}

/// Middleware: turns any error response that is not yet a problem (unknown route, wrong
/// method, the body limit's 413) into one, so clients only ever parse one error shape.
pub async fn problem_for_bare_errors(
    axum::extract::State(max_body_bytes): axum::extract::State<usize>,
    response: Response,
) -> Response {
    let status = response.status();
    // Bare errors come from axum and tower-http with no body type or plain text; JSON ones
    // (problems, /readyz's 503) are already what the client expects.
    let bare = response.headers().get(header::CONTENT_TYPE).is_none_or(|v| v.as_bytes().starts_with(b"text/plain"));
    if !(status.is_client_error() || status.is_server_error()) || !bare {
        return response;
    }
    let detail = match status {
        StatusCode::NOT_FOUND => "no such route; GET /openapi.json lists them".to_string(),
        StatusCode::METHOD_NOT_ALLOWED => "this route does not take that method; see /openapi.json".to_string(),
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the request body is larger than the limit of {max_body_bytes} bytes (--max-body-bytes)")
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "send the body with `Content-Type: application/json`".to_string(),
        _ => status.canonical_reason().unwrap_or("error").to_string(),
    };
    let mut problem = Problem::generic(status, detail);
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        problem.kind = "urn:pixelproof:problem:body-too-large".to_string();
    }
    let mut out = problem.into_response();
    for (name, value) in response.headers() {
        if name == header::ALLOW || name == header::WWW_AUTHENTICATE {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}
