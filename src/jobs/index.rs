//! The job index: an empty object per job in each listing it belongs to, so that listing held
//! jobs, a tenant's jobs or the jobs old enough to remove reads keys, a page at a time, instead
//! of every record ever stored.
//!
//! * `index/state/{state}/{inverted id}`: every job, by state;
//! * `index/owner/{sha256(submitter)}/{state}/{inverted id}`: a submitter's jobs, by state.
//!
//! The inverted id is the ULID with every bit flipped, so keys sort newest first and a listing
//! resumes after a cursor (a job id) with `start_after`; the jobs made before an instant are the
//! keys after that instant's inverted id.
//!
//! `JobStore::save` writes a record's new entries before the record and deletes the entries of
//! the state it left after it: a crash leaves an extra entry, never a missing one. Listings load
//! each record and skip an entry whose state is not the record's (deleting it when the record is
//! settled or gone: it can never be right again). `index/v1` marks a store whose records were
//! all indexed (start-up indexes a store made before the index, once).

use sha2::{Digest, Sha256};

use super::{JobId, JobState};
use crate::store::{ObjectKey, ObjectStore, StoreError};

/// Written once every record of the store has its entries.
pub const MARKER: &str = "index/v1";

/// The states in the order a job moves through them (`held` before what it is decided into).
const PATH_ORDER: [JobState; 7] = [
    JobState::Queued,
    JobState::Rendering,
    JobState::Verifying,
    JobState::Held,
    JobState::Done,
    JobState::Fallback,
    JobState::Failed,
];

/// Which jobs a listing covers: every job, or one submitter's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    All,
    Owner(&'a str),
}

/// One entry: a job listed under a state (which its record may have left since).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: JobId,
    pub state: JobState,
    pub key: ObjectKey,
}

/// The key prefix of one state's entries in `scope`.
pub fn prefix(scope: Scope<'_>, state: JobState) -> String {
    match scope {
        Scope::All => format!("index/state/{}/", state.as_str()),
        Scope::Owner(submitter) => {
            format!("index/owner/{}/{}/", hex::encode(Sha256::digest(submitter.as_bytes())), state.as_str())
        }
    }
}

/// The id with every bit flipped, as a ULID: sorts newest first.
fn inverted(id: JobId) -> String {
    ulid::Ulid(!id.0 .0).to_string()
}

fn from_inverted(text: &str) -> Option<JobId> {
    ulid::Ulid::from_string(text).ok().map(|u| JobId(ulid::Ulid(!u.0)))
}

/// The first id that could be made at `at`: every job made earlier sorts before it.
pub fn first_id_at(at: chrono::DateTime<chrono::Utc>) -> JobId {
    let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
    JobId(ulid::Ulid::from_parts(ms, 0))
}

/// The keys of the job's entries in `state` (every job's listing, and its owner's).
pub fn keys(id: JobId, state: JobState, submitter: Option<&str>) -> Result<Vec<ObjectKey>, StoreError> {
    let mut scopes = vec![Scope::All];
    scopes.extend(submitter.map(Scope::Owner));
    scopes.into_iter().map(|scope| ObjectKey::parse(&format!("{}{}", prefix(scope, state), inverted(id)))).collect()
}

/// Up to `limit` entries of `scope` in any of `states`, newest first, made before `before`
/// (when given: a cursor, or the instant retention looks back to). Also whether more may follow.
pub async fn entries(
    objects: &dyn ObjectStore,
    scope: Scope<'_>,
    states: &[JobState],
    before: Option<JobId>,
    limit: usize,
) -> Result<(Vec<Entry>, bool), StoreError> {
    let mut found: Vec<(String, Entry)> = Vec::new();
    // The last key of every state whose page was full: past the smallest of them, another
    // state's entries may be missing from this page.
    let mut bound: Option<String> = None;
    // In the order jobs move, so that a job moving on while its old state and then its new one
    // are read is found in one or both, never in neither (only a retry, which moves a job
    // back, can slip between two reads).
    let mut ordered = states.to_vec();
    ordered.sort_by_key(|s| PATH_ORDER.iter().position(|p| p == s));
    for state in ordered {
        let prefix = prefix(scope, state);
        let start = before.map(|id| format!("{prefix}{}", inverted(id)));
        let keys = objects.list_page(&prefix, start.as_deref(), limit).await?;
        let full = keys.len() >= limit;
        let mut last = None;
        for key in keys {
            let rest = &key.as_str()[prefix.len()..];
            match from_inverted(rest) {
                Some(id) => {
                    last = Some(rest.to_string());
                    found.push((rest.to_string(), Entry { id, state, key }));
                }
                None => tracing::warn!(key = %key, "skipping an index entry that names no job id"),
            }
        }
        if let (true, Some(last)) = (full, last) {
            bound = Some(match bound {
                Some(b) if b < last => b,
                _ => last,
            });
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(bound) = &bound {
        found.retain(|(inv, _)| inv <= bound);
    }
    let more = bound.is_some() || found.len() > limit;
    found.truncate(limit);
    Ok((found.into_iter().map(|(_, entry)| entry).collect(), more))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inverted_ids_sort_newest_first_and_come_back() {
        let older = JobId::parse("01HZ0000000000000000000000").unwrap();
        let newer = JobId::parse("01HZ0000000000000000000001").unwrap();
        assert!(inverted(newer) < inverted(older));
        assert_eq!(from_inverted(&inverted(older)), Some(older));
        assert!(first_id_at(chrono::Utc::now()) > older);
        assert!(first_id_at(older.created_at()) <= older);
    }

    #[test]
    fn a_job_has_an_entry_per_listing_and_owners_are_hashed() {
        let id = JobId::parse("01HZ0000000000000000000000").unwrap();
        let keys = keys(id, JobState::Held, Some("tenant a/../b")).unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].as_str().starts_with("index/state/held/"));
        assert!(keys[1].as_str().starts_with("index/owner/"));
        assert!(!keys[1].as_str().contains("tenant"));
        assert_eq!(super::keys(id, JobState::Done, None).unwrap().len(), 1);
    }

    #[tokio::test]
    async fn entries_merge_states_newest_first_and_resume_after_a_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let objects = crate::store::LocalStore::open(dir.path()).unwrap();
        let ids: Vec<JobId> = (0..6).map(|n| JobId::parse(&format!("01HZ{n:0>22}")).unwrap()).collect();
        // Held: 0, 2, 4; done: 1, 3, 5.
        for (n, &id) in ids.iter().enumerate() {
            let state = if n % 2 == 0 { JobState::Held } else { JobState::Done };
            for key in keys(id, state, None).unwrap() {
                objects.put(&key, Vec::new()).await.unwrap();
            }
        }
        let both = [JobState::Held, JobState::Done];
        let (page, more) = entries(&objects, Scope::All, &both, None, 4).await.unwrap();
        assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), vec![ids[5], ids[4], ids[3], ids[2]]);
        assert!(more);
        let (rest, _) = entries(&objects, Scope::All, &both, Some(ids[2]), 4).await.unwrap();
        assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), vec![ids[1], ids[0]]);
        let (held, more) = entries(&objects, Scope::All, &[JobState::Held], None, 10).await.unwrap();
        assert_eq!(
            held.iter().map(|e| (e.id, e.state)).collect::<Vec<_>>(),
            vec![(ids[4], JobState::Held), (ids[2], JobState::Held), (ids[0], JobState::Held)]
        );
        assert!(!more);
        let (none, _) = entries(&objects, Scope::Owner("someone"), &both, None, 10).await.unwrap();
        assert!(none.is_empty());
    }
}
