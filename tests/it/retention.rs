//! Removing jobs: `DELETE /v1/jobs/{id}` by its submitter (then 410, to its owner only), and
//! `--retain-days` at start-up, which removes settled jobs that settled longer ago than that
//! (record, PDF, artifacts, the render-cache entry they made) and nothing else: not a recent
//! job, not a held one however old, not another job's cache entry. Old jobs are made by
//! moving real records' `updated_at` back ten days on disk while the server is stopped.

use crate::support;

use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};
use support::service::*;

const BOB_TOKEN: &str = "bob:submit:bob-secret-0123456789";
const BOB: &str = "bob-secret-0123456789";

fn ready(server: &Server) {
    let deadline = Instant::now() + Duration::from_secs(180);
    while client().get(server.url("/readyz")).send().map(|r| !r.status().is_success()).unwrap_or(true) {
        assert!(Instant::now() < deadline, "the server was not ready");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn get(server: &Server, token: &str, path: &str) -> reqwest::blocking::Response {
    client().get(server.url(path)).bearer_auth(token).send().expect("GET")
}

fn delete(server: &Server, token: &str, id: &str) -> reqwest::blocking::Response {
    client().delete(server.url(&format!("/v1/jobs/{id}"))).bearer_auth(token).send().expect("DELETE")
}

/// The job's objects in the data directory, relative to `objects/jobs/ID/`.
fn files_of(data: &Path, id: &str) -> Vec<String> {
    let root = data.join("objects/jobs").join(id);
    let mut found = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                dirs.push(e.path());
            } else {
                found.push(e.path().strip_prefix(&root).expect("under root").to_string_lossy().to_string());
            }
        }
    }
    found.sort();
    found
}

/// The render-cache entry the job made (its directory), read from the job's pointer.
fn cache_entry(data: &Path, id: &str) -> std::path::PathBuf {
    let pointer = data.join("objects/jobs").join(id).join("cache-entry");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !pointer.is_file() {
        assert!(Instant::now() < deadline, "job {id} made no cache entry");
        std::thread::sleep(Duration::from_millis(100));
    }
    let key = std::fs::read_to_string(&pointer).expect("a cache pointer");
    data.join("objects/cache/v1").join(key.trim())
}

/// Whether nothing is left in `dir` (a local store leaves empty directories behind).
fn no_files(dir: &Path) -> bool {
    std::fs::read_dir(dir).map(|d| d.flatten().all(|e| e.path().is_dir() && no_files(&e.path()))).unwrap_or(true)
}

/// Makes job `id` one made `days` ago, as a stopped server would find it: its id (a ULID, whose
/// time is when the job was made; its random part is kept, so two aged jobs still differ) and
/// its record's times, and no job index (start-up indexes the store again). Its new id.
fn age(data: &Path, id: &str, days: i64) -> String {
    let then = chrono::Utc::now() - chrono::Duration::days(days);
    let random = ulid::Ulid::from_string(id).expect("a job id").random();
    let aged = ulid::Ulid::from_parts(u64::try_from(then.timestamp_millis()).expect("after 1970"), random).to_string();
    let jobs = data.join("objects/jobs");
    std::fs::rename(jobs.join(id), jobs.join(&aged)).expect("move the job's objects");
    let path = jobs.join(&aged).join("job.json");
    let text = std::fs::read_to_string(&path).expect("record").replace(id, &aged);
    let mut record: Value = serde_json::from_str(&text).expect("JSON");
    record["created_at"] = json!(then.to_rfc3339());
    record["updated_at"] = json!(then.to_rfc3339());
    std::fs::write(&path, serde_json::to_vec_pretty(&record).expect("JSON")).expect("write the record");
    let index = data.join("objects/index");
    if index.exists() {
        std::fs::remove_dir_all(&index).expect("remove the job index");
    }
    aged
}

fn held_invoice() -> Value {
    let mut data = fixture("invoice", "basic");
    let items = data["items"].as_array().cloned().unwrap_or_default();
    data["items"] = Value::Array(items.iter().cycle().take(400).cloned().collect());
    json!({"template": "invoice", "data": data})
}

#[test]
fn delete_answers_410_after_and_retention_removes_only_old_settled_jobs() {
    let data = tempfile::tempdir().expect("data dir");
    let flags = ["--token", SUBMIT_TOKEN, "--token", BOB_TOKEN, "--token", OPERATOR_TOKEN];
    let mut server = Server::start(data.path(), &flags);
    ready(&server);
    let r = post_job(&server, SUBMIT, &html_job(0), Some("order-7"));
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let deleted = r.json::<Value>().expect("JSON")["id"].as_str().expect("id").to_string();
    let old = submit(&server, SUBMIT, &html_job(1));
    let recent = submit(&server, SUBMIT, &html_job(2));
    let held = submit(&server, SUBMIT, &held_invoice());
    for id in [&deleted, &old, &recent] {
        assert_eq!(wait_settled(&server, SUBMIT, id, Duration::from_secs(180))["state"], "done");
    }
    assert_eq!(wait_settled(&server, SUBMIT, &held, Duration::from_secs(300))["state"], "held");
    let deleted_cache = cache_entry(data.path(), &deleted);
    assert!(deleted_cache.join("entry.json").is_file());

    // DELETE: not someone else's job, not a held one; the owner's settled job at once.
    assert_problem(delete(&server, BOB, &deleted), StatusCode::NOT_FOUND, &deleted);
    assert_problem(delete(&server, SUBMIT, &held), StatusCode::CONFLICT, "held for review");
    let r = delete(&server, SUBMIT, &deleted);
    assert_eq!(r.status(), StatusCode::OK);
    let tombstone: Value = r.json().expect("JSON");
    assert_eq!((tombstone["id"].as_str(), tombstone["why"]["by"].as_str()), (Some(deleted.as_str()), Some("request")));
    assert_eq!(files_of(data.path(), &deleted), ["tombstone.json"], "everything else of the job is gone");
    assert!(no_files(&deleted_cache), "the cache entry it made still holds its PDF");
    for path in [format!("/v1/jobs/{deleted}"), format!("/v1/jobs/{deleted}/pdf")] {
        assert_problem(get(&server, SUBMIT, &path), StatusCode::GONE, "deleted by token \"ci\"");
        assert_problem(get(&server, BOB, &path), StatusCode::NOT_FOUND, &deleted);
    }
    assert_problem(delete(&server, SUBMIT, &deleted), StatusCode::GONE, "deleted");
    // Its idempotency key still names it: the same body again is that (removed) job, not a
    // new job made under the removed id.
    let again = post_job(&server, SUBMIT, &html_job(0), Some("order-7"));
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.json::<Value>().expect("JSON")["id"], deleted.as_str());
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(files_of(data.path(), &deleted), ["tombstone.json"], "the removed job was made again");
    let listed: Value = get(&server, OPERATOR, "/v1/jobs").json().expect("JSON");
    assert!(!listed.to_string().contains(&deleted), "{listed}");

    // Retention: `old` and `held` settled ten days ago, `recent` just now.
    assert_eq!(server.terminate(Duration::from_secs(60)), Some(0));
    let old = age(data.path(), &old, 10);
    let held = age(data.path(), &held, 10);
    let (old_cache, recent_cache) = (cache_entry(data.path(), &old), cache_entry(data.path(), &recent));
    let held_files = files_of(data.path(), &held);
    let recent_files = files_of(data.path(), &recent);
    let server = Server::start(data.path(), &[&flags[..], &["--retain-days", "7"]].concat());
    let deadline = Instant::now() + Duration::from_secs(60);
    while get(&server, SUBMIT, &format!("/v1/jobs/{old}")).status() != StatusCode::GONE {
        assert!(Instant::now() < deadline, "the old job was not removed within 60 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_problem(get(&server, SUBMIT, &format!("/v1/jobs/{old}")), StatusCode::GONE, "--retain-days");
    assert_problem(get(&server, BOB, &format!("/v1/jobs/{old}")), StatusCode::NOT_FOUND, &old);
    assert_eq!(files_of(data.path(), &old), ["tombstone.json"]);
    assert!(no_files(&old_cache), "the old job's cache entry was kept");
    // Nothing else.
    assert_eq!(files_of(data.path(), &held), held_files, "a held job is kept until decided");
    assert_eq!(get(&server, SUBMIT, &format!("/v1/jobs/{held}")).json::<Value>().expect("JSON")["state"], "held");
    assert_eq!(files_of(data.path(), &recent), recent_files);
    assert!(recent_cache.join("entry.json").is_file(), "the recent job's cache entry went too");
    let pdf = get(&server, SUBMIT, &format!("/v1/jobs/{recent}/pdf"));
    assert_eq!(pdf.status(), StatusCode::OK);
    assert!(pdf.bytes().expect("bytes").starts_with(b"%PDF-"));
    assert!(files_of(data.path(), &deleted) == ["tombstone.json"], "the tombstone stays");
    println!(
        "deleted 1 job by request, 1 by --retain-days 7; kept a held job {} files and a recent one {} files",
        held_files.len(),
        recent_files.len()
    );
}

#[test]
fn retain_days_must_be_a_positive_number_of_days() {
    let data = tempfile::tempdir().expect("data dir");
    for (value, needle) in [
        ("0", "--retain-days must be from 1 to 36500"),
        ("36501", "from 1 to 36500"),
        ("-1", "--retain-days"),
        ("week", "--retain-days"),
    ] {
        let o = support::pixelproof()
            .args(["serve", "--data-dir"])
            .arg(data.path())
            .arg(format!("--retain-days={value}"))
            .output()
            .expect("run pixelproof serve");
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{value}: {err}");
        assert!(err.contains(needle), "{value}: {err}");
    }
}
