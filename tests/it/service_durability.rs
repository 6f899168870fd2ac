//! Durability of the job path against the real server: SIGTERM with jobs in flight, and
//! `kill -9` in the middle of 50 jobs. After a restart on the same data directory every job
//! reaches a terminal state once, and each PDF is stored once.

use crate::support;

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;
use support::service::*;

#[test]
fn fifty_jobs_survive_kill_9() {
    let data = tempfile::tempdir().expect("data dir");
    let mut server = Server::start(data.path(), &[]);
    let submitted = Instant::now();
    for i in 0..50 {
        let body =
            if i % 5 == 0 { json!({"template": "invoice", "data": fixture("invoice", "short")}) } else { html_job(i) };
        submit(&server, SUBMIT, &body);
    }
    let submit_secs = submitted.elapsed().as_secs_f64();
    // Let some finish, then kill -9 while others run.
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&records(data.path()), &SETTLED) < 10 {
        assert!(Instant::now() < deadline, "10 jobs did not settle in 120 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill9();
    let before = records(data.path());
    let settled_at_kill = count(&before, &SETTLED);
    let in_flight = count(&before, &["rendering", "verifying"]);
    let run_secs = submitted.elapsed().as_secs_f64();

    let restarted = Instant::now();
    let _server = Server::start(data.path(), &[]);
    let recovered = wait_all_settled(data.path(), 50, Duration::from_secs(300));
    let total = restarted.elapsed().as_secs_f64() + run_secs;
    let all = records(data.path());
    assert_eq!(count(&all, &["done"]), 50, "states: {:?}", all.iter().map(state_of).collect::<Vec<_>>());
    assert_settled_once(data.path());
    println!(
        "50 jobs submitted in {submit_secs:.2} s; kill -9 after {run_secs:.1} s with {settled_at_kill} settled and \
         {in_flight} in flight (rendering/verifying); all 50 settled {:.1} s after the restart; overall {:.2} jobs/s",
        recovered.as_secs_f64(),
        50.0 / total
    );
}

#[test]
fn sigterm_finishes_or_requeues_and_a_restart_settles_everything() {
    let data = tempfile::tempdir().expect("data dir");
    let flags = ["--shutdown-grace-secs", "1", "--workers", "1"];
    let mut server = Server::start(data.path(), &flags);
    let mut ids = Vec::new();
    for _ in 0..6 {
        ids.push(submit(&server, SUBMIT, &json!({"template": "invoice", "data": fixture("invoice", "basic")})));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&records(data.path()), &["rendering", "verifying"]) == 0 {
        assert!(Instant::now() < deadline, "no job started rendering");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = server.child.id().to_string();
    std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill -TERM");
    // While it drains, new jobs are refused with 503 (or the server is already gone).
    std::thread::sleep(Duration::from_millis(100));
    let mut saw_503 = false;
    if let Ok(r) = client().post(server.url("/v1/jobs")).json(&json!({"html": "<p>late</p>"})).send() {
        if r.status() == StatusCode::SERVICE_UNAVAILABLE {
            assert!(r.headers().get("retry-after").is_some());
            assert_problem(r, StatusCode::SERVICE_UNAVAILABLE, "shutting down");
            saw_503 = true;
        }
    }
    assert_eq!(server.terminate(Duration::from_secs(60)), Some(0), "exit code after SIGTERM");
    let at_stop = records(data.path());
    println!(
        "SIGTERM: exit 0, {} settled, {} queued again (POST during the drain answered 503: {saw_503})",
        count(&at_stop, &SETTLED),
        count(&at_stop, &["queued"])
    );
    assert_eq!(count(&at_stop, &["rendering", "verifying"]), 0, "a job was left mid-way");
    assert_eq!(at_stop.len(), 6, "the late job was not accepted");

    let _server = Server::start(data.path(), &flags);
    let took = wait_all_settled(data.path(), 6, Duration::from_secs(240));
    let all = records(data.path());
    assert_eq!(count(&all, &["done"]), 6);
    assert_settled_once(data.path());
    println!("restart: the remaining jobs settled in {:.1} s", took.as_secs_f64());
}

#[test]
fn sigterm_lets_the_job_in_flight_finish_within_the_grace_period() {
    let data = tempfile::tempdir().expect("data dir");
    let mut server = Server::start(data.path(), &["--workers", "1"]);
    let id = submit(&server, SUBMIT, &json!({"template": "invoice", "data": fixture("invoice", "basic")}));
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&records(data.path()), &["rendering", "verifying"]) == 0 {
        assert!(Instant::now() < deadline, "the job did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(server.terminate(Duration::from_secs(60)), Some(0));
    let all = records(data.path());
    assert_eq!(all.len(), 1);
    assert_eq!(state_of(&all[0]), "done", "the job in flight finished before the exit: {}", all[0]);
    assert_eq!(all[0]["id"], id.as_str());
    assert_settled_once(data.path());
}
