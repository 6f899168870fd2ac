//! The audit log's one record type. Every operator decision is a [`Record`]: approving or
//! rejecting a baseline candidate (with `pixelproof baseline` or through the API), releasing or
//! rejecting a held job, adding or removing a routing rule.
//!
//! A candidate decision is written once, with the baselines it changed (`baseline::Store`:
//! `audit.jsonl` beside them, or one object per decision in their bucket), so the history
//! travels with the baselines; the other decisions go to the service's log
//! (`review::audit::AuditLog`). [`merged`] joins the two, newest first.
//!
//! Lines written before this type existed still load ([`Record`] reads them): the baselines'
//! entries (`"approve"`/`"reject"`, `key`, the candidate's fields at the top level) and the
//! service's copies of candidate decisions made through the API, which [`merged`] leaves out
//! because the baselines' log holds the same decision.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::jobs::JobState;
use crate::pins::Environment;
use crate::routing::{Renderer, Rule};

/// What an operator decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[serde(alias = "approve")]
    ApproveCandidate,
    #[serde(alias = "reject")]
    RejectCandidate,
    ReleaseJob,
    RejectJob,
    AddRoute,
    RemoveRoute,
}

/// One decision: who, when, what, on which subject, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(from = "Wire")]
pub struct Record {
    pub at: DateTime<Utc>,
    /// The token's name (or the `--by` name of a CLI decision).
    pub by: String,
    pub action: Action,
    /// `TEMPLATE/FIXTURE`, a job id or a routing rule id.
    pub subject: String,
    pub reason: String,
    /// What the decision was about, by kind of decision.
    #[schema(value_type = Object)]
    pub details: Details,
}

/// What is worth keeping beside a decision. Candidate decisions fill `engine`, `environment`
/// and `pages`; job decisions `from`, `to`, `submitter` and `pdf_artifact`; routing decisions
/// `rule`. Empty fields are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Details {
    /// Whose baseline the candidate was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<Renderer>,
    /// The candidate's environment (none when its manifest could not be read, which only a
    /// reject allows).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    /// The candidate's page count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<usize>,
    /// The held job's state before and after the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<JobState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<JobState>,
    /// The held job's submitter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitter: Option<String>,
    /// The artifact a released job's PDF came from (`held.pdf`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdf_artifact: Option<String>,
    /// The routing rule added or removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
    /// Set only on the service's old copies of a candidate decision: the time of the
    /// baselines' own entry. Read, never written.
    #[serde(default, rename = "baseline_entry_at", skip_serializing)]
    pub copy_of: Option<DateTime<Utc>>,
}

impl Record {
    /// A copy the service used to keep of a candidate decision, if `baselines` still holds
    /// the decision itself (same subject and time). A copy whose original is gone (baselines
    /// copied elsewhere, or their log reset) is kept: it is then the only record.
    fn is_copy_in(&self, baselines: &[Record]) -> bool {
        self.details.copy_of.is_some_and(|at| baselines.iter().any(|b| b.subject == self.subject && b.at == at))
    }

    /// Whether the action is about a baseline candidate.
    pub fn is_candidate_decision(&self) -> bool {
        matches!(self.action, Action::ApproveCandidate | Action::RejectCandidate)
    }
}

/// Every shape a record was ever written in.
#[derive(Deserialize)]
struct Wire {
    at: DateTime<Utc>,
    by: String,
    action: Action,
    #[serde(alias = "key")]
    subject: String,
    reason: String,
    #[serde(default)]
    details: Option<Details>,
    // The baselines' entries before one record type: the candidate's fields at the top level.
    #[serde(default)]
    engine: Option<Renderer>,
    #[serde(default)]
    environment: Option<Environment>,
    #[serde(default)]
    pages: Option<usize>,
}

impl From<Wire> for Record {
    fn from(w: Wire) -> Record {
        let candidate = matches!(w.action, Action::ApproveCandidate | Action::RejectCandidate);
        let details = match w.details {
            Some(details) => details,
            // The baselines' older entries: entries written before engines were recorded are
            // Chromium's.
            None if candidate => Details {
                engine: Some(w.engine.unwrap_or_default()),
                environment: w.environment,
                pages: w.pages,
                ..Details::default()
            },
            None => Details::default(),
        };
        Record { at: w.at, by: w.by, action: w.action, subject: w.subject, reason: w.reason, details }
    }
}

/// The service's records and the baselines' as one history, newest first, at most `limit`.
/// Records made at the same instant keep the order they were written in, reversed.
pub fn merged(service: Vec<Record>, baselines: Vec<Record>, limit: usize) -> Vec<Record> {
    let service: Vec<Record> = service.into_iter().filter(|r| !r.is_copy_in(&baselines)).collect();
    let mut all: Vec<Record> = service.into_iter().chain(baselines).collect();
    all.reverse();
    all.sort_by_key(|r| std::cmp::Reverse(r.at));
    all.truncate(limit);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_lines_of_both_logs_load_as_records() {
        // A line of the committed baselines/audit.jsonl, written before engines were recorded.
        let baselines = r#"{"at":"2026-11-22T02:55:10Z","by":"check engineer","action":"approve","key":"certificate/default","reason":"first baselines","environment":{"chromium":"156.0.8078.79","pdfium_build":"8149","fonts_hash":"1dce","dpi":150},"pages":1}"#;
        let r: Record = serde_json::from_str(baselines).unwrap();
        assert_eq!(
            (r.action, r.subject.as_str(), r.by.as_str()),
            (Action::ApproveCandidate, "certificate/default", "check engineer")
        );
        assert_eq!((r.details.engine, r.details.pages), (Some(Renderer::Chromium), Some(1)));
        assert_eq!(r.details.environment.as_ref().map(|e| e.dpi), Some(150));
        let fallback = r#"{"at":"2026-11-30T10:00:00Z","by":"ops","action":"reject","key":"invoice/basic","engine":"fallback","reason":"no","environment":null,"pages":0}"#;
        let r: Record = serde_json::from_str(fallback).unwrap();
        assert_eq!(
            (r.action, r.details.engine, r.details.environment),
            (Action::RejectCandidate, Some(Renderer::Fallback), None)
        );

        // The service's log: a job decision, and its copy of an API candidate decision.
        let job = r#"{"at":"2026-12-01T00:00:00Z","by":"ops","action":"release_job","subject":"01JZ0000000000000000000000","reason":"ok","details":{"from":"held","to":"done","submitter":"billing","pdf_artifact":"held.pdf"}}"#;
        let r: Record = serde_json::from_str(job).unwrap();
        assert_eq!((r.details.from, r.details.to), (Some(JobState::Held), Some(JobState::Done)));
        assert_eq!(r.details.submitter.as_deref(), Some("billing"));
        let copy = r#"{"at":"2026-12-01T00:00:01Z","by":"ops","action":"approve_candidate","subject":"invoice/basic","reason":"ok","details":{"source":"api","baseline_entry_at":"2026-12-01T00:00:01Z","engine":"chromium","pages":2,"environment":null}}"#;
        let copy: Record = serde_json::from_str(copy).unwrap();
        let original = Record { details: Details { copy_of: None, ..copy.details.clone() }, ..copy.clone() };
        let all = merged(vec![r.clone(), copy.clone()], vec![original.clone()], 10);
        assert_eq!(all, vec![original, r.clone()], "the copy is left out: the baselines' log holds the decision");
        // Its original gone (baselines copied elsewhere, their log reset), the copy is the record.
        assert_eq!(merged(vec![r.clone(), copy.clone()], vec![], 10), vec![copy, r]);

        // An old service line without details is not taken for a candidate decision.
        let bare = r#"{"at":"2026-12-01T00:00:02Z","by":"ops","action":"add_route","subject":"rule-1","reason":"x"}"#;
        let bare: Record = serde_json::from_str(bare).unwrap();
        assert_eq!(bare.details, Details::default());
        assert!(!bare.is_candidate_decision());
    }

    #[test]
    fn a_record_is_written_with_its_details_and_read_back_the_same() {
        let r = Record {
            at: "2026-12-02T00:00:00Z".parse().unwrap(),
            by: "ops".into(),
            action: Action::RejectCandidate,
            subject: "invoice/basic".into(),
            reason: "not intended".into(),
            details: Details { engine: Some(Renderer::Fallback), pages: Some(2), ..Details::default() },
        };
        let line = serde_json::to_string(&r).unwrap();
        assert_eq!(
            line,
            r#"{"at":"2026-12-02T00:00:00Z","by":"ops","action":"reject_candidate","subject":"invoice/basic","reason":"not intended","details":{"engine":"fallback","pages":2}}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&line).unwrap(), r);
    }

    #[test]
    fn merges_newest_first() {
        let at = |t: &str, by: &str| Record {
            at: t.parse().unwrap(),
            by: by.into(),
            action: Action::AddRoute,
            subject: "rule-1".into(),
            reason: "because".into(),
            details: Details::default(),
        };
        let all = merged(
            vec![at("2026-01-01T00:00:00Z", "a"), at("2026-01-03T00:00:00Z", "c")],
            vec![at("2026-01-02T00:00:00Z", "b")],
            10,
        );
        assert_eq!(all.iter().map(|r| r.by.as_str()).collect::<Vec<_>>(), ["c", "b", "a"]);
        assert_eq!(merged(all, vec![], 1).len(), 1);
    }
}
