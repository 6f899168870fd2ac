//! Jobs as the service keeps them: a [`JobId`] (a ULID, safe in paths and keys), the
//! [`JobState`] machine and the [`JobRecord`] stored as `jobs/{id}/job.json`.
//!
//! # State machine
//!
//! ```text
//!   queued ──> rendering ──> verifying ──> done       (settled)
//!     │  ^        │  │          │  │  ├──> fallback   (settled: shipped by the fallback renderer)
//!     │  └────────┘  │          │  │  └──> held ──> done | failed   (operator decision only)
//!     │   (retry)    │          │  └──> rendering   (re-render on the fallback renderer)
//!     │              │          └──> queued         (retry)
//!     └──────────────┴──────────────> failed        (settled)
//! ```
//!
//! * `done`, `fallback` and `failed` are settled: a settled job never moves again.
//! * `held` (a document that failed verification twice) only moves by an operator's
//!   decision, to `done` or `failed` ([`JobRecord::decide`]).
//! * Every accepted change is appended to `history`; the time spent in the state being left
//!   is added to `timings_ms` (so `timings_ms.queued` is the wait in the queue, and so on).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::request::JobRequest;
use crate::store::ObjectKey;

pub mod index;
mod store;
pub use index::Scope;
pub use store::{Claim, Claimed, JobStore, Removal, Stored, Tombstone};

/// A job's id: a ULID (26 Crockford base32 characters, sortable by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(ulid::Ulid);

impl JobId {
    /// A fresh id (time-ordered).
    pub fn new() -> JobId {
        JobId(ulid::Ulid::new())
    }

    /// Parses a canonical ULID; refuses anything else (so an id is always safe in a path).
    pub fn parse(text: &str) -> Result<JobId, JobError> {
        let bad = || JobError::BadId { text: text.chars().take(64).collect() };
        if text.len() != ulid::ULID_LEN || !text.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(bad());
        }
        let id = ulid::Ulid::from_string(text).map_err(|_| bad())?;
        // Only the canonical (upper-case) spelling, so one job has one name on disk.
        if id.to_string() != text {
            return Err(bad());
        }
        Ok(JobId(id))
    }

    /// When the id was made (its ULID timestamp).
    pub fn created_at(&self) -> DateTime<Utc> {
        DateTime::<Utc>::from(self.0.datetime())
    }
}

impl Default for JobId {
    fn default() -> Self {
        JobId::new()
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for JobId {
    type Err = JobError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        JobId::parse(s)
    }
}

impl TryFrom<String> for JobId {
    type Error = JobError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        JobId::parse(&s)
    }
}

impl From<JobId> for String {
    fn from(id: JobId) -> String {
        id.to_string()
    }
}

/// Where a job is in its life (see the module doc for the allowed moves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Rendering,
    Verifying,
    Done,
    Fallback,
    Held,
    Failed,
}

impl JobState {
    /// Every state, in the order of a job's path.
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Rendering,
        JobState::Verifying,
        JobState::Done,
        JobState::Fallback,
        JobState::Held,
        JobState::Failed,
    ];

    /// The states a worker still moves a job out of by itself (neither settled nor held).
    pub const IN_PROGRESS: [JobState; 3] = [JobState::Queued, JobState::Rendering, JobState::Verifying];
    /// The settled states.
    pub const SETTLED: [JobState; 3] = [JobState::Done, JobState::Fallback, JobState::Failed];

    /// The lowercase name used in JSON, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Rendering => "rendering",
            JobState::Verifying => "verifying",
            JobState::Done => "done",
            JobState::Fallback => "fallback",
            JobState::Held => "held",
            JobState::Failed => "failed",
        }
    }

    /// Settled states never move again.
    pub fn is_settled(self) -> bool {
        matches!(self, JobState::Done | JobState::Fallback | JobState::Failed)
    }

    /// Whether the worker may move a job from `self` to `to` (operator moves out of `held`
    /// go through [`JobRecord::decide`]).
    pub fn can_move_to(self, to: JobState) -> bool {
        use JobState::*;
        matches!(
            (self, to),
            (Queued, Rendering | Failed)
                | (Rendering, Verifying | Queued | Failed)
                | (Verifying, Done | Fallback | Held | Failed | Rendering | Queued)
        )
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One accepted change of state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transition {
    pub from: JobState,
    pub to: JobState,
    pub at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The submitter of a job made when no tokens are configured (every route is open, on
/// loopback only): the caller's name then.
pub const ANONYMOUS: &str = "anonymous";

/// Why a job id or a change of state was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    #[error("{text:?} is not a job id: a job id is a ULID, 26 characters of Crockford base32 (e.g. 01ARZ3NDEKTSV4RRFFQ69G5FAV)")]
    BadId { text: String },
    #[error("job {id} is {from} and settled: it cannot move to {to}")]
    Settled { id: JobId, from: JobState, to: JobState },
    #[error(
        "job {id} is held for review: only an operator decision can move it (to done or failed), not a move to {to}"
    )]
    HeldForReview { id: JobId, to: JobState },
    #[error("job {id} cannot move from {from} to {to}: allowed from {from} are {allowed}")]
    NotAllowed { id: JobId, from: JobState, to: JobState, allowed: String },
    #[error("job {id} is {state}, not held: only held jobs wait for an operator decision")]
    NotHeld { id: JobId, state: JobState },
    #[error("an operator decision on job {id} must end in done or failed, not {to}")]
    BadDecision { id: JobId, to: JobState },
}

/// What the render cache (`service::cache`) did for a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CacheOutcome {
    /// The PDF and verdict came from the cache: an earlier job proved the same document in
    /// the same environment against the same baseline and rules; nothing was rendered.
    Hit,
    /// Nothing was cached for these inputs: the job rendered (and, if it shipped, was stored).
    Miss,
    /// The cache could not be used for this job (its key could not be computed, or the
    /// document prints the date in a header or footer): it rendered and was not stored.
    Bypass,
    /// The cache is turned off (`--render-cache off`).
    Off,
}

/// The body a job was submitted with, as its record keeps it: the job request, or, for a
/// message an app published to RabbitMQ that is no job request, the message's `request` as
/// sent (the job is then `failed`, and its submitter can still see what was sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, from = "serde_json::Value")]
pub enum JobBody {
    Request(Box<JobRequest>),
    NotAJob(serde_json::Value),
}

impl JobBody {
    /// The job request, unless the body was not one.
    pub fn request(&self) -> Option<&JobRequest> {
        match self {
            JobBody::Request(r) => Some(r.as_ref()),
            JobBody::NotAJob(_) => None,
        }
    }
}

impl From<JobRequest> for JobBody {
    fn from(request: JobRequest) -> JobBody {
        JobBody::Request(Box::new(request))
    }
}

impl From<serde_json::Value> for JobBody {
    /// A body as received (or stored): a job request if it is an object that reads as one
    /// (serde would read a struct from an array too).
    fn from(value: serde_json::Value) -> JobBody {
        if !value.is_object() {
            return JobBody::NotAJob(value);
        }
        match serde_json::from_value::<JobRequest>(value.clone()) {
            Ok(request) => JobBody::Request(Box::new(request)),
            Err(_) => JobBody::NotAJob(value),
        }
    }
}

/// What happened to the webhook sent when a job settled: delivered (with the receiver's
/// status and the attempts it took) or given up (with why).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WebhookOutcome {
    pub delivered: bool,
    /// The receiver's HTTP status (delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Attempts it took (delivered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    /// Why it was not delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// A job as the service stores it (`jobs/{id}/job.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: JobId,
    pub state: JobState,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The submitted body (as `POST /v1/jobs` takes it).
    pub request: JobBody,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The name of the token that submitted the job (`anonymous` without tokens; the
    /// message's `submitter`, or the configured default, for a job an app published to
    /// RabbitMQ). `None` on records made before jobs had owners: only operators see those.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitter: Option<String>,
    /// How many times a worker started rendering this job.
    #[serde(default)]
    pub attempts: u32,
    /// Milliseconds spent in each state the job has left (summed over retries).
    #[serde(default)]
    pub timings_ms: BTreeMap<JobState, u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<crate::rules::JobVerdict>,
    /// The version of the engine that printed the shipped (or held) PDF (`HeadlessChrome/…`,
    /// `WeasyPrint …`); stored as `renderer` before 2026-12.
    #[serde(default, alias = "renderer", skip_serializing_if = "Option::is_none")]
    pub renderer_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf: Option<ObjectKey>,
    #[serde(default)]
    pub history: Vec<Transition>,
    /// Milliseconds per worker stage (`queued`, `rendering`, `verifying`, `fallback`,
    /// `storing`), summed over attempts; finer than `timings_ms` (the fallback's render and
    /// the storing of results happen inside the job states).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub stages_ms: BTreeMap<String, u64>,
    /// What happened to the webhook sent when the job settled (when it has a `callback_url`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookOutcome>,
    /// Whether the render cache answered the job (absent on records made before the cache).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheOutcome>,
    /// The W3C `traceparent` the job was submitted with, passed on in its result events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl JobRecord {
    /// A new, queued job for a validated request.
    pub fn new(id: JobId, request: impl Into<JobBody>, idempotency_key: Option<String>) -> JobRecord {
        let now = Utc::now();
        JobRecord {
            id,
            state: JobState::Queued,
            created_at: now,
            updated_at: now,
            request: request.into(),
            idempotency_key,
            submitter: None,
            attempts: 0,
            timings_ms: BTreeMap::new(),
            verdict: None,
            renderer_version: None,
            error: None,
            pdf: None,
            history: Vec::new(),
            stages_ms: BTreeMap::new(),
            webhook: None,
            cache: None,
            traceparent: None,
        }
    }

    /// Moves the job to `to` if the state machine allows it (see the module doc), recording
    /// the transition and the time spent in the state it leaves. Entering `rendering`
    /// counts an attempt.
    pub fn transition(&mut self, to: JobState, note: Option<&str>) -> Result<(), JobError> {
        let from = self.state;
        if from.is_settled() {
            return Err(JobError::Settled { id: self.id, from, to });
        }
        if from == JobState::Held {
            return Err(JobError::HeldForReview { id: self.id, to });
        }
        if !from.can_move_to(to) {
            let allowed: Vec<&str> =
                JobState::ALL.iter().filter(|s| from.can_move_to(**s)).map(|s| s.as_str()).collect();
            return Err(JobError::NotAllowed { id: self.id, from, to, allowed: allowed.join(", ") });
        }
        if to == JobState::Rendering {
            self.attempts += 1;
        }
        self.record(to, note);
        Ok(())
    }

    /// An operator's decision on a held job: `done` (ship it) or `failed` (never ship it).
    pub fn decide(&mut self, to: JobState, note: Option<&str>) -> Result<(), JobError> {
        if self.state != JobState::Held {
            return Err(JobError::NotHeld { id: self.id, state: self.state });
        }
        if !matches!(to, JobState::Done | JobState::Failed) {
            return Err(JobError::BadDecision { id: self.id, to });
        }
        self.record(to, note);
        Ok(())
    }

    /// Marks the job failed with `error` (from any state that is not settled or held).
    pub fn fail(&mut self, error: &str) -> Result<(), JobError> {
        self.transition(JobState::Failed, Some(error))?;
        self.error = Some(error.to_string());
        Ok(())
    }

    fn record(&mut self, to: JobState, note: Option<&str>) {
        let now = Utc::now();
        let spent = (now - self.updated_at).num_milliseconds().max(0) as u64;
        *self.timings_ms.entry(self.state).or_insert(0) += spent;
        self.history.push(Transition { from: self.state, to, at: now, note: note.map(str::to_string) });
        self.state = to;
        self.updated_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_canonical_ulids_only() {
        let id = JobId::new();
        assert_eq!(JobId::parse(&id.to_string()), Ok(id));
        for bad in [
            "",
            "../etc/passwd",
            "01arz3ndektsv4rrffq69g5fav",
            "01ARZ3NDEKTSV4RRFFQ69G5FA",
            "01ARZ3NDEKTSV4RRFFQ69G5FAV/",
            "81ARZ3NDEKTSV4RRFFQ69G5FAV",
        ] {
            assert!(JobId::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn settled_jobs_never_move_and_held_waits_for_an_operator() {
        let mut job = JobRecord::new(JobId::new(), serde_json::json!({}), None);
        job.transition(JobState::Rendering, None).unwrap();
        job.transition(JobState::Verifying, None).unwrap();
        job.transition(JobState::Held, Some("still differs on fallback")).unwrap();
        assert!(matches!(job.transition(JobState::Done, None), Err(JobError::HeldForReview { .. })));
        job.decide(JobState::Done, Some("approved by ops")).unwrap();
        for to in JobState::ALL {
            assert!(matches!(job.transition(to, None), Err(JobError::Settled { .. })));
        }
        assert!(job.decide(JobState::Failed, None).is_err());
        assert_eq!(job.history.len(), 4);
        assert_eq!(job.attempts, 1);
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["state"], "done");
        assert!(json["timings_ms"]["queued"].is_u64());
        assert_eq!(serde_json::from_value::<JobRecord>(json).unwrap(), job);
    }

    #[test]
    fn the_cache_outcome_is_lowercase_and_optional() {
        let mut job = JobRecord::new(JobId::new(), serde_json::json!({}), None);
        let json = serde_json::to_value(&job).unwrap();
        assert!(json.get("cache").is_none(), "absent when unset: {json}");
        job.cache = Some(CacheOutcome::Hit);
        let json = serde_json::to_value(&job).unwrap();
        assert_eq!(json["cache"], "hit");
        assert_eq!(serde_json::from_value::<JobRecord>(json).unwrap().cache, Some(CacheOutcome::Hit));
    }

    #[test]
    fn a_body_is_stored_as_sent_and_read_back_typed() {
        let sent =
            serde_json::json!({"template": "invoice", "data": {"n": 1}, "callback_url": "https://example.test/"});
        let body = JobBody::from(sent.clone());
        let request = body.request().expect("a job request");
        assert_eq!(request.callback_url.as_deref(), Some("https://example.test/"));
        assert_eq!(serde_json::to_value(&body).unwrap(), sent);
        assert_eq!(serde_json::from_value::<JobBody>(sent).unwrap(), body);
        // A message published to the queue that is no job request is kept as it was sent.
        for odd in [serde_json::json!({"templat": "invoice"}), serde_json::json!(["a"]), serde_json::json!("x")] {
            let body = JobBody::from(odd.clone());
            assert!(body.request().is_none(), "{odd}");
            assert_eq!(serde_json::to_value(&body).unwrap(), odd);
            assert_eq!(serde_json::from_value::<JobBody>(odd).unwrap(), body);
        }
    }

    #[test]
    fn a_webhook_outcome_reads_as_stored_before_it_was_typed() {
        let stored = serde_json::json!({"delivered": true, "status": 204, "attempts": 2, "at": "2026-12-01T10:00:00Z"});
        let outcome: WebhookOutcome = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!((outcome.delivered, outcome.status, outcome.attempts), (true, Some(204), Some(2)));
        assert_eq!(serde_json::to_value(&outcome).unwrap(), stored);
        let failed = serde_json::json!({"delivered": false, "error": "refused", "at": "2026-12-01T10:00:00Z"});
        assert_eq!(
            serde_json::to_value(serde_json::from_value::<WebhookOutcome>(failed.clone()).unwrap()).unwrap(),
            failed
        );
    }

    #[test]
    fn skipping_a_stage_is_refused_with_the_allowed_moves() {
        let mut job = JobRecord::new(JobId::new(), serde_json::json!({}), None);
        let err = job.transition(JobState::Done, None).unwrap_err();
        assert!(err.to_string().contains("allowed from queued are rendering, failed"), "{err}");
    }
}
