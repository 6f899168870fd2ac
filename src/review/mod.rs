//! The operator's side of the service: what waits for review (baseline candidates and held
//! jobs), the decisions on them, each recorded in the service audit log before it is
//! answered, and the files the review page may show (`files`). The HTTP edge is
//! `api::review`; the page itself is `page`.

pub mod audit;
pub mod files;
pub mod page;

use chrono::Utc;
use serde::Serialize;

use crate::audit::{Action, Details, Record};
use crate::baseline::{self, BaselineError, Decision, Key};
use crate::jobs::JobStore;
use crate::jobs::{JobError, JobId, JobRecord, JobState};
use crate::rules::JobVerdict;
use crate::store::StoreError;
use audit::{AuditError, AuditLog};

/// Why a decision or a listing failed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("a reason is required: say why in \"reason\"")]
    NoReason,
    #[error("{0}")]
    Baseline(#[from] BaselineError),
    #[error("there is no job {0}")]
    NoJob(JobId),
    #[error("{0}")]
    Job(#[from] JobError),
    #[error("held job {0} has no PDF among its artifacts, so there is nothing to release; reject it instead")]
    NoHeldPdf(JobId),
    #[error("the job store failed: {0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Audit(#[from] AuditError),
    #[error("{0}")]
    Page(#[from] crate::ui::UiError),
}

/// A held job as the review page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct HeldJob {
    pub record: JobRecord,
    /// Artifact names under `jobs/{id}/artifacts/`.
    pub artifacts: Vec<String>,
    /// The job's verdict (its record's, or else its `verdict.json` artifact's).
    pub verdict: Option<JobVerdict>,
    /// Width and height of each PNG artifact.
    pub sizes: std::collections::BTreeMap<String, (u32, u32)>,
}

impl HeldJob {
    /// Pages either engine printed (`chromium-NNN.png`, `fallback-NNN.png`): the highest NNN.
    pub fn pages(&self) -> usize {
        crate::service::artifacts::printed_pages(&self.artifacts)
    }
}

/// The reviewer: the baselines directory, the job store and the audit log.
#[derive(Debug)]
pub struct Review {
    pub baselines: baseline::Store,
    pub jobs: JobStore,
    pub audit: std::sync::Arc<AuditLog>,
    /// One decision at a time in this process (two approvals of one candidate, a release
    /// racing a reject).
    decisions: tokio::sync::Mutex<()>,
}

impl Review {
    pub fn new(baselines: baseline::Store, jobs: JobStore, audit: AuditLog) -> Review {
        Review { baselines, jobs, audit: std::sync::Arc::new(audit), decisions: tokio::sync::Mutex::new(()) }
    }

    /// Approves (`approve = true`) or rejects the candidate for `key` with `baseline::Store`,
    /// which records the decision with the baselines.
    pub async fn decide_candidate(
        &self,
        key: Key,
        approve: bool,
        by: &str,
        reason: &str,
    ) -> Result<Record, ReviewError> {
        let reason = checked_reason(reason)?;
        let _one = self.decisions.lock().await;
        let decision = Decision { by: by.to_string(), reason };
        let record = if approve {
            self.baselines.approve(&key, &decision).await?
        } else {
            self.baselines.reject(&key, &decision).await?
        };
        Ok(record)
    }

    /// Releases (`release = true`: `done`, its held PDF stored as the job's PDF) or rejects
    /// (`failed`) a held job. The decision is recorded before the job moves, so a crash in
    /// between leaves the job held, never moved without a record.
    pub async fn decide_job(&self, id: JobId, release: bool, by: &str, reason: &str) -> Result<Record, ReviewError> {
        let reason = checked_reason(reason)?;
        let _one = self.decisions.lock().await;
        let mut record = self.jobs.load(id).await?.ok_or(ReviewError::NoJob(id))?;
        let to = if release { JobState::Done } else { JobState::Failed };
        let note = format!("{} by {by}: {reason}", if release { "released" } else { "rejected" });
        let from = record.state;
        // Checks the move before anything is written (409 when the job is not held).
        record.clone().decide(to, Some(&note))?;
        let pdf = if release { Some(self.held_pdf(id).await?) } else { None };
        let audit = Record {
            at: Utc::now(),
            by: by.to_string(),
            action: if release { Action::ReleaseJob } else { Action::RejectJob },
            subject: id.to_string(),
            reason: reason.clone(),
            details: Details {
                from: Some(from),
                to: Some(to),
                submitter: record.submitter.clone(),
                pdf_artifact: pdf.as_ref().map(|(name, _)| name.to_string()),
                ..Details::default()
            },
        };
        let audit = self.append(audit).await?;
        record.decide(to, Some(&note))?;
        match pdf {
            Some((_, bytes)) => record.pdf = Some(self.jobs.put_pdf(id, bytes).await?.0),
            None => record.error = Some(format!("rejected by {by} after review: {reason}")),
        }
        self.jobs.save(&record).await?;
        tracing::info!(job = %id, by, to = %to, "held job decided");
        Ok(audit)
    }

    /// Waits for the decision in progress, if any; decisions made elsewhere (routing rules)
    /// hold this while they change and record.
    pub async fn one_at_a_time(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.decisions.lock().await
    }

    /// Records a decision made elsewhere (routing rules) in the service audit log.
    pub async fn append(&self, record: Record) -> Result<Record, ReviewError> {
        self.audit.append(&record).await?;
        Ok(record)
    }

    /// The merged history (the service's decisions and the baselines'), newest first.
    pub async fn history(&self, limit: usize) -> Result<Vec<Record>, ReviewError> {
        Ok(crate::audit::merged(self.audit.read().await?, self.baselines.audit_log().await?, limit))
    }

    /// Every job in `held`, oldest first, with its artifact names and verdict.
    pub async fn held_jobs(&self) -> Result<Vec<HeldJob>, ReviewError> {
        let mut out = Vec::new();
        // The job index lists the held jobs, newest first; only their records are read.
        let mut held = self.jobs.list_all(crate::jobs::Scope::All, &[JobState::Held]).await?;
        held.reverse();
        for record in held {
            let id = record.id;
            let artifacts = self.jobs.artifacts(id).await?;
            let verdict = match &record.verdict {
                Some(v) => Some(v.clone()),
                None => match self.jobs.get_artifact(id, crate::service::artifacts::VERDICT).await? {
                    Some(bytes) => serde_json::from_slice(&bytes).ok(),
                    None => None,
                },
            };
            let mut sizes = std::collections::BTreeMap::new();
            for name in artifacts.iter().filter(|a| a.ends_with(".png")) {
                if let Some(size) = self.jobs.get_artifact(id, name).await?.as_deref().and_then(files::png_size) {
                    sizes.insert(name.clone(), size);
                }
            }
            out.push(HeldJob { record, artifacts, verdict, sizes });
        }
        Ok(out)
    }

    /// The held PDF: the first `.pdf` among the job's artifacts.
    async fn held_pdf(&self, id: JobId) -> Result<(String, Vec<u8>), ReviewError> {
        let artifacts = self.jobs.artifacts(id).await?;
        let name = artifacts.into_iter().find(|a| a.ends_with(".pdf")).ok_or(ReviewError::NoHeldPdf(id))?;
        let bytes = self.jobs.get_artifact(id, &name).await?.ok_or(ReviewError::NoHeldPdf(id))?;
        Ok((name, bytes))
    }
}

fn checked_reason(reason: &str) -> Result<String, ReviewError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(ReviewError::NoReason);
    }
    Ok(reason.to_string())
}
