//! The embedded queue on real files and real processes: FIFO, delayed retry, dead letters,
//! the length limit, the data-directory lock held against a second process, and `kill -9`
//! at random instants while a child process enqueues and works through 200 jobs.

use crate::support;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pixelproof::jobs::{JobId, JobRecord, JobState};
use pixelproof::jobs::{JobStore, Stored};
use pixelproof::queue::{EmbeddedQueue, Queue, QueueConfig, QueueDepth, QueueError, Retried};
use pixelproof::store::{LocalStore, ObjectKey, ObjectStore};

const CHILD_DIR: &str = "PIXELPROOF_TEST_QUEUE_DIR";
const WAIT: Duration = Duration::from_millis(200);

fn config(max_len: usize, max_attempts: u32) -> QueueConfig {
    QueueConfig { max_len, max_attempts }
}

fn ids(n: usize) -> Vec<JobId> {
    // ULIDs made in the same millisecond are not ordered; spread them over distinct ms.
    (0..n)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(2));
            JobId::new()
        })
        .collect()
}

#[tokio::test]
async fn delivers_in_ulid_order_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = ids(5);
    {
        let (q, recovery) = EmbeddedQueue::open(dir.path(), QueueConfig::default()).unwrap();
        assert_eq!(recovery, Default::default());
        // Enqueued out of order; delivered by id (creation time).
        for i in [3, 0, 4, 1, 2] {
            q.enqueue(jobs[i]).await.unwrap();
        }
        q.enqueue(jobs[0]).await.unwrap(); // a second enqueue of a waiting job is a no-op
        assert_eq!(q.depth().await.unwrap(), QueueDepth { ready: 5, inflight: 0, dead: 0 });
        let first = q.dequeue(WAIT).await.unwrap().unwrap();
        assert_eq!(first.job, jobs[0]);
        q.ack(first.clone()).await.unwrap();
        assert!(matches!(q.ack(first).await, Err(QueueError::UnknownDelivery { .. })));
    }
    let (q, _) = EmbeddedQueue::open(dir.path(), QueueConfig::default()).unwrap();
    let mut order = Vec::new();
    while let Some(d) = q.dequeue(Duration::ZERO).await.unwrap() {
        order.push(d.job);
        q.ack(d).await.unwrap();
    }
    assert_eq!(order, jobs[1..].to_vec());
    assert_eq!(q.depth().await.unwrap(), QueueDepth::default());
    let started = Instant::now();
    assert_eq!(q.dequeue(Duration::from_millis(150)).await.unwrap(), None);
    assert!(started.elapsed() >= Duration::from_millis(150), "dequeue returned before its wait");
}

#[tokio::test]
async fn retry_waits_for_its_delay_then_dead_after_the_last_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = EmbeddedQueue::open(dir.path(), config(10, 3)).unwrap();
    let job = JobId::new();
    q.enqueue(job).await.unwrap();
    let d = q.dequeue(WAIT).await.unwrap().unwrap();
    assert_eq!(d.attempts, 0);
    assert_eq!(q.retry(d, Duration::from_millis(300)).await.unwrap(), Retried::Later { attempts: 1 });
    assert_eq!(q.dequeue(Duration::from_millis(100)).await.unwrap(), None, "delivered before its delay");
    let started = Instant::now();
    let d = q.dequeue(Duration::from_secs(2)).await.unwrap().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150), "the delay was not honoured");
    assert_eq!((d.job, d.attempts), (job, 1));
    q.retry(d, Duration::ZERO).await.unwrap();
    let d = q.dequeue(WAIT).await.unwrap().unwrap();
    assert_eq!(d.attempts, 2);
    let Retried::Dead(letter) = q.retry(d, Duration::ZERO).await.unwrap() else {
        panic!("a third failure must be dead")
    };
    assert_eq!((letter.job, letter.attempts), (job, 3));
    assert_eq!(q.depth().await.unwrap(), QueueDepth { ready: 0, inflight: 0, dead: 1 });
    q.enqueue(job).await.unwrap(); // a dead job is not enqueued again
    assert_eq!(q.depth().await.unwrap().ready, 0);

    let other = JobId::new();
    q.enqueue(other).await.unwrap();
    let d = q.dequeue(WAIT).await.unwrap().unwrap();
    q.dead(d, "the template does not exist any more").await.unwrap();
    drop(q);
    let (q, _) = EmbeddedQueue::open(dir.path(), config(10, 3)).unwrap();
    let letters = q.dead_letters().unwrap();
    assert_eq!(letters.len(), 2);
    assert!(letters.iter().any(|l| l.job == other && l.why == "the template does not exist any more"));
    assert!(letters.iter().any(|l| l.job == job && l.why.contains("3 deliveries out of 3")));
}

#[tokio::test]
async fn full_at_the_limit_counting_jobs_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = EmbeddedQueue::open(dir.path(), config(3, 3)).unwrap();
    for job in ids(3) {
        q.enqueue(job).await.unwrap();
    }
    let d = q.dequeue(WAIT).await.unwrap().unwrap();
    let err = q.enqueue(JobId::new()).await.unwrap_err();
    assert!(matches!(err, QueueError::Full { limit: 3 }), "{err}");
    assert!(err.is_retryable());
    q.ack(d).await.unwrap();
    q.enqueue(JobId::new()).await.unwrap();
    assert_eq!(q.depth().await.unwrap().ready, 3);
}

#[tokio::test]
async fn in_flight_deliveries_of_a_dead_process_come_back_then_go_dead() {
    let dir = tempfile::tempdir().unwrap();
    let job = JobId::new();
    {
        let (q, _) = EmbeddedQueue::open(dir.path(), config(10, 3)).unwrap();
        q.enqueue(job).await.unwrap();
        q.dequeue(WAIT).await.unwrap().unwrap(); // never acknowledged
    }
    let (q, recovery) = EmbeddedQueue::open(dir.path(), config(10, 3)).unwrap();
    assert_eq!(recovery.requeued, vec![job]);
    assert_eq!(q.dequeue(WAIT).await.unwrap().unwrap().attempts, 1);
    drop(q);
    let (q, _) = EmbeddedQueue::open(dir.path(), config(10, 3)).unwrap();
    q.dequeue(WAIT).await.unwrap().unwrap();
    drop(q);
    let (q, recovery) = EmbeddedQueue::open(dir.path(), config(10, 3)).unwrap();
    assert!(recovery.requeued.is_empty());
    assert_eq!(recovery.dead.len(), 1);
    assert_eq!((recovery.dead[0].job, recovery.dead[0].attempts), (job, 3));
    assert!(recovery.dead[0].why.contains("stopped"), "{}", recovery.dead[0].why);
    assert_eq!(q.depth().await.unwrap(), QueueDepth { ready: 0, inflight: 0, dead: 1 });
    // Its record said done (killed between storing the result and the ack): forget the letter.
    assert!(q.forget_dead(job).unwrap());
    assert!(!q.forget_dead(job).unwrap());
    drop(q);
    let (q, _) = EmbeddedQueue::open(dir.path(), config(10, 3)).unwrap();
    assert_eq!(q.depth().await.unwrap(), QueueDepth::default());
    assert!(std::fs::read_dir(dir.path().join("dead")).unwrap().next().is_none(), "the reason file was left");
}

/// Re-runs this test binary as a child that runs only `test_name` (an ignored helper).
fn child(test_name: &str, dir: &Path) -> Command {
    let mut cmd = support::child_test(module_path!(), test_name);
    cmd.env(CHILD_DIR, dir);
    cmd
}

#[test]
#[ignore = "child process of lock_refuses_a_second_process"]
fn lock_child() {
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    match EmbeddedQueue::open(&dir, QueueConfig::default()) {
        Ok(_) => eprintln!("CHILD: opened"),
        Err(e) => eprintln!("CHILD: {e}"),
    }
}

#[test]
fn lock_refuses_a_second_process() {
    let dir = tempfile::tempdir().unwrap();
    let (q, _) = EmbeddedQueue::open(dir.path(), QueueConfig::default()).unwrap();
    let out = child("lock_child", dir.path()).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    let line = said.lines().find(|l| l.starts_with("CHILD: ")).unwrap_or_default().to_string();
    assert!(line.contains("already in use by another pixelproof process"), "{said}");
    assert!(line.contains(&dir.path().display().to_string()), "the error must name the directory: {line}");
    drop(q);
    let out = child("lock_child", dir.path()).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("CHILD: opened"), "the lock outlived its queue");
}

// ---- kill -9 ----

const JOBS: usize = 200;
const MAX_ATTEMPTS: u32 = 3;

fn plan_path(dir: &Path) -> PathBuf {
    dir.join("plan.txt")
}

fn enqueued_marker(id: JobId) -> ObjectKey {
    ObjectKey::parse(&format!("test/enqueued/{id}")).unwrap()
}

/// Appends one line to the crash test's event log (one `write(2)` with O_APPEND: whole lines).
fn log_event(dir: &Path, line: String) {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("events.log")).unwrap();
    file.write_all(format!("{line}\n").as_bytes()).unwrap();
}

/// Fails a not-yet-settled job (what the service does with dead letters).
async fn settle_failed(store: &JobStore, job: JobId, why: &str) {
    let mut record = store.load(job).await.unwrap().unwrap();
    if !record.state.is_settled() && record.state != JobState::Held {
        record.fail(why).unwrap();
        store.save(&record).await.unwrap();
    }
}

/// The worker of the crash test: opens the queue (recovering), then loops: create + enqueue
/// the next planned job, take one delivery and work it like the service will (record states,
/// store the PDF once, ack after the result is stored). Exits when everything is settled.
#[tokio::test]
#[ignore = "child process of kill_9_never_loses_nor_duplicates_a_job"]
async fn crash_child() {
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    let plan: Vec<JobId> =
        std::fs::read_to_string(plan_path(&dir)).unwrap().lines().map(|l| JobId::parse(l).unwrap()).collect();
    let index: BTreeMap<JobId, usize> = plan.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let (q, recovery) = EmbeddedQueue::open(dir.join("queue"), config(1000, MAX_ATTEMPTS)).unwrap();
    let objects: Arc<dyn ObjectStore> = Arc::new(LocalStore::open(dir.join("objects")).unwrap());
    let store = JobStore::new(objects.clone());
    log_event(&dir, format!("recovered {} {}", recovery.requeued.len(), recovery.dead.len()));
    for letter in &recovery.dead {
        if store.load(letter.job).await.unwrap().is_some_and(|r| r.state == JobState::Done) {
            q.forget_dead(letter.job).unwrap(); // finished, only the ack was lost
            log_event(&dir, format!("forgot {}", letter.job));
        } else {
            settle_failed(&store, letter.job, &letter.why).await;
        }
    }
    // Markers are written in plan order, so the first missing one is where enqueueing resumes.
    let mut next = 0;
    while next < plan.len() && objects.exists(&enqueued_marker(plan[next])).await.unwrap() {
        next += 1;
    }
    loop {
        if next < plan.len() {
            let id = plan[next];
            if store.load(id).await.unwrap().is_none() {
                store.save(&JobRecord::new(id, serde_json::json!({ "n": next }), None)).await.unwrap();
            }
            q.enqueue(id).await.unwrap();
            objects.put(&enqueued_marker(id), Vec::new()).await.unwrap();
            next += 1;
        }
        if let Some(d) = q.dequeue(Duration::from_millis(20)).await.unwrap() {
            let n = index[&d.job];
            log_event(&dir, format!("deliver {}", d.job));
            let mut record = store.load(d.job).await.unwrap().unwrap();
            if record.state.is_settled() {
                let job = d.job;
                q.ack(d).await.unwrap(); // finished before a crash, acknowledged now
                log_event(&dir, format!("acked {job}"));
                continue;
            }
            if record.state != JobState::Queued {
                record.transition(JobState::Queued, Some("redelivered")).unwrap();
            }
            record.transition(JobState::Rendering, None).unwrap();
            store.save(&record).await.unwrap();
            if n.is_multiple_of(17) {
                record.fail("poison document").unwrap();
                store.save(&record).await.unwrap();
                q.dead(d, "poison document").await.unwrap();
                continue;
            }
            if n.is_multiple_of(5) && d.attempts == 0 {
                record.transition(JobState::Queued, Some("retry")).unwrap();
                store.save(&record).await.unwrap();
                if let Retried::Dead(letter) = q.retry(d, Duration::from_millis(10)).await.unwrap() {
                    settle_failed(&store, letter.job, &letter.why).await;
                }
                continue;
            }
            record.transition(JobState::Verifying, None).unwrap();
            let (key, stored) = store.put_pdf(d.job, format!("%PDF-1.7 job {n}").into_bytes()).await.unwrap();
            if stored == Stored::AlreadyExisted {
                eprintln!("CHILD: pdf of {} already stored", d.job);
            }
            record.pdf = Some(key);
            record.transition(JobState::Done, None).unwrap();
            store.save(&record).await.unwrap();
            let job = d.job;
            q.ack(d).await.unwrap();
            log_event(&dir, format!("acked {job}"));
        } else if next == plan.len() {
            let depth = q.depth().await.unwrap();
            if depth.ready + depth.inflight == 0 {
                break;
            }
        }
    }
}

/// Where each job is, read straight from the files (without opening the queue).
fn queue_places(queue_dir: &Path) -> BTreeMap<JobId, Vec<&'static str>> {
    let mut places: BTreeMap<JobId, Vec<&'static str>> = BTreeMap::new();
    for place in ["ready", "inflight", "dead"] {
        let Ok(entries) = std::fs::read_dir(queue_dir.join(place)) else { continue };
        for entry in entries {
            let name = entry.unwrap().file_name().into_string().unwrap();
            if name.ends_with(".why") {
                continue;
            }
            let id = JobId::parse(name.split('.').next().unwrap()).unwrap();
            places.entry(id).or_default().push(place);
        }
    }
    places
}

fn job_states(objects: &Path, plan: &[JobId]) -> BTreeMap<JobId, JobRecord> {
    plan.iter()
        .filter_map(|id| {
            let bytes = std::fs::read(objects.join(format!("jobs/{id}/job.json"))).ok()?;
            Some((*id, serde_json::from_slice(&bytes).unwrap()))
        })
        .collect()
}

#[test]
fn kill_9_never_loses_nor_duplicates_a_job() {
    let dir = tempfile::tempdir().unwrap();
    let plan = ids(JOBS);
    let text: String = plan.iter().map(|id| format!("{id}\n")).collect();
    std::fs::write(plan_path(dir.path()), text).unwrap();
    let queue_dir = dir.path().join("queue");
    let objects = dir.path().join("objects");

    let mut kills = 0;
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    while kills < 20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Kill after a few more deliveries (spreads the kills over the whole run), at a
        // random instant of the job then in flight.
        let target = deliveries_so_far(dir.path()) + 6 + (seed % 8) as usize;
        let mut worker = child("crash_child", dir.path()).stderr(Stdio::null()).spawn().unwrap();
        while deliveries_so_far(dir.path()) < target && worker.try_wait().unwrap().is_none() {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_micros(seed % 8000));
        if worker.try_wait().unwrap().is_some() {
            break; // finished before the kill
        }
        worker.kill().unwrap(); // SIGKILL
        worker.wait().unwrap();
        kills += 1;
        // After every kill: no job in two places, and every job enqueued so far is either
        // still in the queue or settled.
        let places = queue_places(&queue_dir);
        for (id, where_) in &places {
            assert_eq!(where_.len(), 1, "job {id} is in {where_:?} after kill {kills}");
        }
        let records = job_states(&objects, &plan);
        for id in &plan {
            let enqueued = objects.join(format!("test/enqueued/{id}")).exists();
            let settled = records.get(id).is_some_and(|r| r.state.is_settled());
            assert!(!enqueued || settled || places.contains_key(id), "job {id} was lost after kill {kills}");
        }
    }
    let status = child("crash_child", dir.path()).stderr(Stdio::inherit()).status().unwrap();
    assert!(status.success(), "the last worker run failed: {status}");

    let places = queue_places(&queue_dir);
    let records = job_states(&objects, &plan);
    let (mut done, mut failed, mut ready, mut done_and_dead, mut orphan_pdfs) = (0, 0, 0, 0, 0);
    for id in &plan {
        let record = records.get(id).unwrap_or_else(|| panic!("job {id} has no record: lost"));
        let place = places.get(id).cloned().unwrap_or_default();
        assert!(place.len() <= 1, "job {id} is in {place:?}");
        let pdf = objects.join(format!("jobs/{id}/document.pdf")).exists();
        match (record.state, place.first().copied()) {
            (JobState::Done, None) => done += 1,
            // Finished and stored, then killed before the ack on its last attempt, and killed
            // again before `forget_dead`: the record (settled, never moves again) says done;
            // the dead letter is only the queue's view.
            (JobState::Done, Some("dead")) => done_and_dead += 1,
            // Failed (by the worker, or dead-lettered): with or without the queue's dead
            // letter (a kill between saving the record and `dead` ends in an ack instead).
            (JobState::Failed, Some("dead") | None) => failed += 1,
            (_, Some("ready")) => ready += 1,
            (state, place) => panic!("job {id} ended {state} with queue place {place:?}"),
        }
        if record.state == JobState::Done {
            assert!(pdf, "job {id} is done without its PDF");
        } else if pdf {
            // Stored, then killed before `done` on every attempt: the job failed, its PDF is
            // never shipped (a left-over the service may sweep).
            orphan_pdfs += 1;
        }
    }
    // Duplicates: a job delivered again after its ack returned.
    let events = std::fs::read_to_string(dir.path().join("events.log")).unwrap();
    let (mut acked, mut deliveries, mut requeued, mut dead_on_open) = (BTreeSet::new(), 0, 0, 0);
    for line in events.lines() {
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["deliver", id] => {
                deliveries += 1;
                assert!(!acked.contains(*id), "job {id} was delivered again after its ack: duplicated");
            }
            ["acked", id] => {
                acked.insert(id.to_string());
            }
            ["recovered", r, d] => {
                requeued += r.parse::<usize>().unwrap();
                dead_on_open += d.parse::<usize>().unwrap();
            }
            _ => {} // a line cut by the kill
        }
    }
    let stored: BTreeSet<_> = walk_pdfs(&objects);
    eprintln!(
        "kill -9 x{kills}: {JOBS} jobs -> done {done}, failed {failed}, done then dead-lettered {done_and_dead}, \
         ready {ready}, failed with an orphan PDF {orphan_pdfs}, lost 0, duplicated 0; {deliveries} deliveries, {requeued} in-flight deliveries requeued \
         and {dead_on_open} dead-lettered on reopen; {} PDFs stored",
        stored.len()
    );
    assert_eq!(done + failed + done_and_dead + ready, JOBS);
    assert_eq!(ready, 0, "the last worker run drains the queue");
    assert_eq!(stored.len(), done + done_and_dead + orphan_pdfs, "one PDF per stored job");
    assert!(requeued > 0, "no kill hit a delivery in flight: the crash path was not exercised");
    assert!(kills >= 10, "only {kills} kills happened: the test did not exercise crashes");
    assert!(failed >= JOBS / 17, "the poison documents must be dead letters");
}

fn deliveries_so_far(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("events.log")).map(|t| t.matches("deliver ").count()).unwrap_or(0)
}

fn walk_pdfs(objects: &Path) -> BTreeSet<PathBuf> {
    let mut found = BTreeSet::new();
    let Ok(jobs) = std::fs::read_dir(objects.join("jobs")) else { return found };
    for job in jobs {
        let path = job.unwrap().path().join("document.pdf");
        if path.exists() {
            found.insert(path);
        }
    }
    found
}

#[tokio::test]
async fn a_stranger_file_in_the_queue_is_named_not_guessed_at() {
    let dir = tempfile::tempdir().unwrap();
    drop(EmbeddedQueue::open(dir.path(), QueueConfig::default()).unwrap());
    let stray = dir.path().join("ready").join("notes.txt");
    std::fs::write(&stray, "hello").unwrap();
    let err = EmbeddedQueue::open(dir.path(), QueueConfig::default()).unwrap_err();
    assert!(matches!(err, QueueError::Corrupt { .. }) && !err.is_retryable(), "{err}");
    assert!(err.to_string().contains(&stray.display().to_string()), "{err}");
    std::fs::remove_file(&stray).unwrap();
    let (q, _) = EmbeddedQueue::open(dir.path(), QueueConfig::default()).unwrap();
    assert_eq!(q.depth().await.unwrap(), QueueDepth::default());
}
