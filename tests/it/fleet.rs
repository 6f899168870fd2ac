//! Fleets on the real RabbitMQ at 127.0.0.1:5672: one `pixelproof serve` and two
//! `pixelproof worker` processes sharing one queue (a unique name per test) and one data
//! directory, with real Chromium. Faults: the broker restarted in the middle of 100 jobs;
//! `kill -9` of a worker's Chromium, then of a whole worker. Every job must end `done`, each
//! history enter a terminal state once, each PDF be stored once, and the results exchange
//! carry an event for every job. With an S3 store (moto on loopback) and a data directory per
//! process, any process answers for any job, and a 10 s S3 stall holds jobs (unacked, no
//! attempt lost) until it ends.

use crate::support;
use crate::support::broker::{self, URL as AMQP};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use lapin::options::{BasicGetOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use serde_json::{json, Value};
use support::service::*;

/// A queue of the test's own bound to the fleet's results exchange, read at the end.
struct Events {
    queue: String,
}

impl Events {
    fn bind(name: &str) -> Events {
        let queue = format!("{name}.test-events");
        support::block_on(async {
            let conn = Connection::connect(AMQP, ConnectionProperties::default()).await.expect("connect");
            let ch = conn.create_channel().await.expect("channel");
            ch.queue_declare(queue.as_str().into(), QueueDeclareOptions::durable(), FieldTable::default())
                .await
                .expect("declare the events queue");
            ch.queue_bind(
                queue.as_str().into(),
                format!("{name}.results").as_str().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .expect("bind to the results exchange (declared by the service)");
            let _ = conn.close(200, "bound".into()).await;
        });
        Events { queue }
    }

    /// Every event so far: job id → the states announced for it.
    fn drain(&self) -> BTreeMap<String, Vec<Value>> {
        support::block_on(async {
            let conn = Connection::connect(AMQP, ConnectionProperties::default()).await.expect("connect");
            let ch = conn.create_channel().await.expect("channel");
            let mut events: BTreeMap<String, Vec<Value>> = BTreeMap::new();
            while let Some(m) =
                ch.basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true }).await.expect("get")
            {
                assert_eq!(m.properties.kind().as_ref().map(|k| k.as_str()), Some("pixelproof.result"));
                let v: Value = serde_json::from_slice(&m.data).expect("an event is JSON");
                let id = v["id"].as_str().expect("event id").to_string();
                assert_eq!(m.properties.message_id().as_ref().map(|k| k.as_str()), Some(id.as_str()));
                events.entry(id).or_default().push(v);
            }
            let _ = conn.close(200, "drained".into()).await;
            events
        })
    }
}

/// Deletes the fleet's queues and exchange on the broker.
fn clean_up(name: &str) {
    support::block_on(async {
        let Ok(conn) = Connection::connect(AMQP, ConnectionProperties::default()).await else { return };
        let Ok(ch) = conn.create_channel().await else { return };
        for q in [name.to_string(), format!("{name}.delay"), format!("{name}.dead"), format!("{name}.test-events")] {
            let _ = ch.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await;
        }
        let _ = ch.exchange_delete(format!("{name}.results").as_str().into(), Default::default()).await;
        let _ = conn.close(200, "clean".into()).await;
    });
}

struct Fleet {
    name: String,
    api: Server,
    workers: Vec<Server>,
}

impl Fleet {
    fn start(data: &Path) -> Fleet {
        Fleet::start_with(data, &[])
    }

    /// The API (with `api_flags`) and two workers, one Chromium and one worker task each.
    fn start_with(data: &Path, api_flags: &[&str]) -> Fleet {
        let name = format!("pixelproof.test.fleet.{}", ulid::Ulid::new());
        let flags = ["--queue", AMQP, "--queue-name", name.as_str(), "--workers", "1"];
        let api = Server::start(data, &[&flags[..], api_flags].concat());
        let workers = (0..2).map(|_| Server::start_command("worker", data, &flags)).collect();
        Fleet { name, api, workers }
    }

    /// Jobs a process finished (its `/metrics`).
    fn done_by(server: &Server) -> f64 {
        metric(server, "pixelproof_jobs_total{outcome=\"done\"}")
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.kill9();
        }
        self.api.kill9();
        clean_up(&self.name);
    }
}

fn wait_settled_count(data: &Path, at_least: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    while count(&records(data), &SETTLED) < at_least {
        assert!(Instant::now() < deadline, "{at_least} jobs did not settle within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Every job done, settled once, one PDF each, and at least one `done` event each.
///
/// A job's record can settle before its result event goes out: a worker that settles a job
/// while the broker is away keeps the delivery, and the job's event is published when the
/// broker delivers it again, behind the jobs queued before it. So the events are read until
/// each job has one (or a minute passes); how many came after every record had settled is
/// returned with the duplicates.
fn assert_all_done_with_events(data: &Path, ids: &[String], events: &Events) -> (usize, usize) {
    let all = records(data);
    assert_eq!(all.len(), ids.len());
    assert_eq!(count(&all, &["done"]), ids.len(), "states: {:?}", all.iter().map(state_of).collect::<Vec<_>>());
    assert_settled_once(data);
    let mut got = events.drain();
    let on_time = ids.iter().filter(|id| got.contains_key(*id)).count();
    let deadline = Instant::now() + Duration::from_secs(60);
    while ids.iter().any(|id| !got.contains_key(id)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(250));
        for (id, more) in events.drain() {
            got.entry(id).or_default().extend(more);
        }
    }
    let mut duplicates = 0;
    for id in ids {
        let got = got.get(id).unwrap_or_else(|| panic!("no result event for job {id} a minute after it settled"));
        assert!(got.iter().all(|e| e["state"] == "done"), "{id}: {got:?}");
        assert_eq!(got[0]["object_key"], format!("jobs/{id}/document.pdf"));
        assert!(data.join("objects").join(got[0]["object_key"].as_str().unwrap_or_default()).is_file());
        assert!(got[0]["status_url"].as_str().unwrap_or_default().ends_with(&format!("/v1/jobs/{id}")));
        duplicates += got.len() - 1;
    }
    assert_eq!(got.len(), ids.len(), "events for jobs nobody submitted");
    (duplicates, ids.len() - on_time)
}

#[test]
fn a_hundred_jobs_survive_a_broker_restart() {
    let _broker = broker::exclusive_blocking();
    let data = tempfile::tempdir().expect("data dir");
    let fleet = Fleet::start(data.path());
    let events = Events::bind(&fleet.name);
    let started = Instant::now();
    let ids: Vec<String> = (0..100).map(|i| submit(&fleet.api, SUBMIT, &html_job(i))).collect();
    let submit_secs = started.elapsed().as_secs_f64();
    wait_settled_count(data.path(), 15, Duration::from_secs(180));
    let settled_before = count(&records(data.path()), &SETTLED);

    let outage = Instant::now();
    broker::rabbitmqctl(&["stop_app"]);
    std::thread::sleep(Duration::from_secs(3));
    broker::rabbitmqctl(&["start_app"]);
    while !broker::answers() {
        assert!(outage.elapsed() < Duration::from_secs(60), "RabbitMQ did not come back");
        std::thread::sleep(Duration::from_millis(200));
    }
    let outage_secs = outage.elapsed().as_secs_f64();
    // The API reconnects by itself: a submission after the restart is taken.
    let late = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let r = post_job(&fleet.api, SUBMIT, &html_job(100), None);
            if r.status() == reqwest::StatusCode::ACCEPTED {
                break r.json::<Value>().expect("JSON")["id"].as_str().expect("id").to_string();
            }
            assert!(Instant::now() < deadline, "no submission accepted 30 s after the broker came back");
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    let ids: Vec<String> = ids.into_iter().chain([late]).collect();
    wait_all_settled(data.path(), ids.len(), Duration::from_secs(600));
    let total_secs = started.elapsed().as_secs_f64();
    let (duplicates, late) = assert_all_done_with_events(data.path(), &ids, &events);
    let by_worker: Vec<f64> = fleet.workers.iter().map(Fleet::done_by).collect();
    assert!(by_worker.iter().all(|n| *n >= 1.0), "each worker did jobs: {by_worker:?}");
    println!(
        "{} jobs: submitted in {submit_secs:.2} s; broker stopped with {settled_before} settled, back after \
         {outage_secs:.1} s; all done {total_secs:.1} s after the first submission ({:.2} jobs/s); jobs done by \
         api/worker1/worker2: {}/{}/{}; {duplicates} duplicate result events, {late} published after every job had \
         settled",
        ids.len(),
        ids.len() as f64 / total_secs,
        Fleet::done_by(&fleet.api),
        by_worker[0],
        by_worker[1],
    );
}

#[test]
fn jobs_finish_after_a_workers_chromium_and_then_a_whole_worker_are_killed() {
    let _broker = broker::exclusive_blocking();
    let data = tempfile::tempdir().expect("data dir");
    let mut fleet = Fleet::start(data.path());
    let events = Events::bind(&fleet.name);
    let started = Instant::now();
    let ids: Vec<String> = (0..40).map(|i| submit(&fleet.api, SUBMIT, &html_job(i))).collect();
    wait_settled_count(data.path(), 5, Duration::from_secs(180));

    let victim = fleet.workers[0].child.id();
    let browsers = support::chromium_of(victim);
    assert!(!browsers.is_empty(), "worker {victim} has no Chromium to kill");
    let status = Command::new("kill").arg("-9").args(browsers.iter().map(u32::to_string)).status().expect("kill -9");
    assert!(status.success());
    let rendering_at_chromium_kill = count(&records(data.path()), &["rendering", "verifying"]);

    wait_settled_count(data.path(), 15, Duration::from_secs(180));
    let rendering_at_worker_kill = count(&records(data.path()), &["rendering", "verifying"]);
    fleet.workers[1].kill9();

    wait_all_settled(data.path(), ids.len(), Duration::from_secs(600));
    let (duplicates, _) = assert_all_done_with_events(data.path(), &ids, &events);
    let after = Fleet::done_by(&fleet.workers[0]);
    assert!(after >= 1.0, "the worker whose Chromium was killed went on working");
    let restarted = support::chromium_of(victim);
    assert!(!restarted.is_empty() && restarted != browsers, "worker {victim} replaced its Chromium");
    println!(
        "40 jobs done in {:.1} s: Chromium of worker 1 killed with {rendering_at_chromium_kill} jobs rendering \
         (it did {after} jobs in all), worker 2 killed with {rendering_at_worker_kill} rendering; \
         {duplicates} duplicate result events",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn a_worker_needs_a_shared_queue_and_says_so() {
    let data = tempfile::tempdir().expect("data dir");
    let out =
        support::pixelproof().args(["worker", "--data"]).arg(data.path()).output().expect("run pixelproof worker");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--queue amqp://"), "{err}");
    let bad = support::pixelproof()
        .args(["serve", "--queue", "redis://secret@127.0.0.1", "--data"])
        .arg(data.path())
        .output()
        .expect("run pixelproof serve");
    assert_eq!(bad.status.code(), Some(2));
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("amqp://") && !err.contains("secret"), "{err}");
}

#[test]
fn an_api_only_server_leaves_jobs_to_the_workers_and_they_apply_its_routing_rules() {
    let _broker = broker::exclusive_blocking();
    let data = tempfile::tempdir().expect("data dir");
    let fleet = Fleet::start_with(data.path(), &["--api-only"]);
    let c = client();
    // Rules change while the workers run: they read DATA/routing.json again every ROUTING_TTL.
    let rule = c
        .post(fleet.api.url("/v1/routing"))
        .json(&json!({"match": {"template": "certificate"}, "renderer": "fallback", "note": "fleet test"}))
        .send()
        .expect("POST /v1/routing");
    assert!(rule.status().is_success(), "{:?}", rule.text());
    std::thread::sleep(pixelproof::routing::ROUTING_TTL + Duration::from_secs(1));
    let cert =
        submit(&fleet.api, SUBMIT, &json!({"template": "certificate", "data": fixture("certificate", "default")}));
    let html = submit(&fleet.api, SUBMIT, &html_job(1));
    let cert = wait_settled(&fleet.api, SUBMIT, &cert, Duration::from_secs(120));
    assert_eq!(cert["state"], "fallback", "{cert}");
    let html = wait_settled(&fleet.api, SUBMIT, &html, Duration::from_secs(120));
    assert_eq!(html["state"], "done", "{html}");
    assert_eq!(Fleet::done_by(&fleet.api), 0.0, "the API-only process rendered a queued job");
    let worked: f64 = fleet
        .workers
        .iter()
        .map(|w| Fleet::done_by(w) + metric(w, "pixelproof_jobs_total{outcome=\"fallback\"}"))
        .sum();
    assert_eq!(worked, 2.0, "the workers settled both jobs");
    // An app publishes jobs to the queue itself, with the request in the message (and, for
    // one, its submitter; the other belongs to --default-submitter's default, `queue`).
    let events = Events::bind(&fleet.name);
    let (good, bad) = (ulid::Ulid::new().to_string(), ulid::Ulid::new().to_string());
    support::block_on(async {
        let conn = Connection::connect(AMQP, ConnectionProperties::default()).await.expect("connect");
        let ch = conn.create_channel().await.expect("channel");
        for (id, request) in [(&good, html_job(7)), (&bad, json!({"template": "nope", "data": {}}))] {
            let mut body = json!({"job": id, "request": request});
            if id == &good {
                body["submitter"] = json!("billing");
            }
            let body = body.to_string();
            ch.basic_publish(
                "".into(),
                fleet.name.as_str().into(),
                Default::default(),
                body.as_bytes(),
                lapin::BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("confirm");
        }
        let _ = conn.close(200, "published".into()).await;
    });
    let good_status = wait_settled(&fleet.api, SUBMIT, &good, Duration::from_secs(120));
    assert_eq!(good_status["state"], "done", "{good_status}");
    assert_eq!(good_status["submitter"], "billing", "{good_status}");
    let pdf = c.get(fleet.api.url(&format!("/v1/jobs/{good}/pdf"))).send().expect("pdf");
    assert_eq!(pdfinfo_pages(&pdf.bytes().expect("bytes")), 2, "html_job(7) has 2 pages");
    let bad_status = wait_settled(&fleet.api, SUBMIT, &bad, Duration::from_secs(60));
    assert_eq!(bad_status["state"], "failed", "{bad_status}");
    assert_eq!(bad_status["submitter"], "queue", "{bad_status}");
    assert!(bad_status["error"].as_str().unwrap_or_default().contains("nope"), "{bad_status}");
    let seen = events.drain();
    assert_eq!(seen[&good][0]["state"], "done");
    assert_eq!(seen[&bad][0]["state"], "failed");
    // A worker's HTTP side is health, readiness and metrics only.
    let w = &fleet.workers[0];
    assert_eq!(c.get(w.url("/healthz")).send().expect("healthz").status(), reqwest::StatusCode::OK);
    assert_eq!(
        c.post(w.url("/v1/jobs")).json(&html_job(2)).send().expect("POST").status(),
        reqwest::StatusCode::NOT_FOUND
    );
}

#[test]
fn with_s3_every_process_answers_for_every_job_and_jobs_wait_out_an_s3_outage() {
    let _broker = broker::exclusive_blocking();
    let s3 = support::s3::S3Server::start();
    let bucket = support::block_on(s3.create_bucket("fleet"));
    // The S3 endpoint the fleet uses: a forwarder the test takes down and brings back.
    let mut proxy = support::net::Forwarder::start(s3.port);
    let env = s3.aws_env(&format!("http://127.0.0.1:{}", proxy.port));
    let name = format!("pixelproof.test.fleet.{}", ulid::Ulid::new());
    let store = format!("s3://{bucket}/pixelproof");
    let flags = ["--queue", AMQP, "--queue-name", name.as_str(), "--store", store.as_str(), "--workers", "1"];
    // One data directory per process: all they share is the queue and the bucket.
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().expect("data dir")).collect();
    let api = Server::start_with_env("serve", dirs[0].path(), &[&flags[..], &["--api-only"]].concat(), &env);
    let workers: Vec<Server> =
        dirs[1..].iter().map(|d| Server::start_with_env("worker", d.path(), &flags, &env)).collect();
    let fleet = Fleet { name: name.clone(), api, workers };
    let events = Events::bind(&name);

    let started = Instant::now();
    let ids: Vec<String> = (0..30).map(|i| submit(&fleet.api, SUBMIT, &html_job(i))).collect();
    let settled = |ids: &[String]| {
        ids.iter()
            .filter(|id| SETTLED.contains(&status(&fleet.api, SUBMIT, id)["state"].as_str().unwrap_or("")))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    while settled(&ids) < 5 {
        assert!(Instant::now() < deadline, "5 jobs did not settle in 180 s");
        std::thread::sleep(Duration::from_millis(200));
    }
    let before = settled(&ids);
    proxy.down();
    std::thread::sleep(Duration::from_secs(10));
    let waiting = count_metric(&fleet.workers, "pixelproof_jobs_total{outcome=\"store_unavailable\"}");
    proxy.up();
    let resumed = Instant::now();
    for id in &ids {
        let s = wait_settled(&fleet.api, SUBMIT, id, Duration::from_secs(300));
        assert_eq!(s["state"], "done", "{s}");
    }
    let all_done = resumed.elapsed().as_secs_f64();
    assert!(waiting >= 1.0, "no worker met the outage: it proved nothing");
    // Each job's objects in the bucket: the record and one PDF (stored once), nothing on disk.
    let client = s3.client();
    let keys: Vec<String> = support::block_on(async {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = client
                .list_objects_v2()
                .bucket(&bucket)
                .prefix("pixelproof/jobs/")
                .set_continuation_token(token)
                .send()
                .await
                .expect("list the bucket");
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(String::from)));
            token = page.next_continuation_token().map(String::from);
            if token.is_none() {
                break keys;
            }
        }
    });
    let records: Vec<Value> = support::block_on(async {
        let mut out = Vec::new();
        for id in &ids {
            let key = format!("pixelproof/jobs/{id}/job.json");
            let o = client.get_object().bucket(&bucket).key(&key).send().await.expect("get the record");
            let bytes = o.body.collect().await.expect("read the record").into_bytes();
            out.push(serde_json::from_slice(&bytes).expect("a record is JSON"));
        }
        out
    });
    let mut rendered_again = 0;
    for r in &records {
        let history = r["history"].as_array().cloned().unwrap_or_default();
        assert!(!history.is_empty(), "{r}");
        let terminal = history.iter().filter(|t| SETTLED.contains(&t["to"].as_str().unwrap_or_default())).count();
        assert_eq!(terminal, 1, "settled once: {r}");
        rendered_again += usize::from(r["attempts"].as_u64().unwrap_or(0) > 1);
    }
    for id in &ids {
        let pdfs =
            keys.iter().filter(|k| k.starts_with(&format!("pixelproof/jobs/{id}/")) && k.ends_with(".pdf")).count();
        assert_eq!(pdfs, 1, "job {id}: {keys:?}");
        assert!(keys.contains(&format!("pixelproof/jobs/{id}/job.json")));
    }
    for d in &dirs {
        assert!(!d.path().join("objects/jobs").exists(), "a job was written to a local directory");
    }
    // Downloads go through a presigned URL of the bucket.
    let c = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = c.get(fleet.api.url(&format!("/v1/jobs/{}/pdf", ids[0]))).send().expect("GET pdf");
    assert_eq!(r.status(), reqwest::StatusCode::TEMPORARY_REDIRECT);
    let location = r.headers()["location"].to_str().expect("location").to_string();
    assert!(location.starts_with(&format!("http://127.0.0.1:{}/", proxy.port)), "{location}");
    assert!(location.contains("X-Amz-Signature"), "{location}");
    let pdf = reqwest::blocking::get(&location).expect("presigned GET").bytes().expect("bytes");
    assert!(pdf.starts_with(b"%PDF-"));
    let seen = events.drain();
    assert!(ids.iter().all(|id| seen.contains_key(id)), "a result event is missing");
    println!(
        "30 jobs on S3: S3 unreachable for 10 s with {before} settled; all done {all_done:.1} s after it came back, \
         {:.1} s in all; {rendered_again} jobs rendered again after it; workers waited out the outage {waiting} times",
        started.elapsed().as_secs_f64()
    );
}

fn count_metric(servers: &[Server], series: &str) -> f64 {
    servers.iter().map(|s| metric(s, series)).sum()
}

/// Runs the pixelproof binary (not a server) with `env`; returns its exit code and output.
fn run_pixelproof(args: &[&str], env: &[(String, String)]) -> (Option<i32>, String) {
    let out = support::pixelproof()
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("PIXELPROOF_USER", "ci-bot")
        .output()
        .expect("run pixelproof");
    (out.status.code(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn a_fleet_proves_jobs_against_baselines_in_the_bucket_and_approves_through_the_api() {
    use pixelproof::baseline::{BucketStore, Key, Store};

    let _broker = broker::exclusive_blocking();
    let s3 = support::s3::S3Server::start();
    let bucket = support::block_on(s3.create_bucket("baselines"));
    let env = s3.aws_env(&s3.endpoint());
    let tmp = tempfile::tempdir().expect("tempdir");
    let templates = tmp.path().join("templates");
    support::copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("templates/certificate"),
        &templates.join("certificate"),
    );
    let t = templates.to_string_lossy().to_string();
    let baselines = format!("s3://{bucket}/team/baselines");
    let report = tmp.path().join("report").to_string_lossy().to_string();
    let written = format!(
        "{} candidates written",
        std::fs::read_dir(templates.join("certificate/fixtures")).expect("fixtures").count()
    );

    // CI makes the fleet's baselines in the bucket; an operator approves them.
    let (code, out) =
        run_pixelproof(&["check", "--templates", &t, "--baselines", &baselines, "--update", "--report", &report], &env);
    assert!(out.contains(&written), "exit {code:?}: {out}");
    let (code, out) =
        run_pixelproof(&["baseline", "approve", "--all", "--baselines", &baselines, "--reason", "seed"], &env);
    assert_eq!(code, Some(0), "{out}");
    // And the fallback's own, in the same bucket (PREFIX/fallback/…): without them the fallback
    // is proved for no template, and a routed job is held.
    let fallback = ["--renderer", "fallback"];
    let check = ["check", "--templates", &t, "--baselines", &baselines, "--update", "--report", &report];
    let (code, out) = run_pixelproof(&[&check[..], &fallback[..]].concat(), &env);
    assert!(out.contains(&written), "exit {code:?}: {out}");
    let approve = ["baseline", "approve", "--all", "--baselines", &baselines, "--reason", "seed fallback"];
    let (code, out) = run_pixelproof(&[&approve[..], &fallback[..]].concat(), &env);
    assert_eq!(code, Some(0), "{out}");

    // An API and a worker, each with its own data directory, sharing the queue and the bucket.
    let name = format!("pixelproof.test.fleet.{}", ulid::Ulid::new());
    let store = format!("s3://{bucket}/team/jobs");
    let flags = [
        "--queue",
        AMQP,
        "--queue-name",
        &name,
        "--store",
        &store,
        "--baselines",
        &baselines,
        "--templates",
        &t,
        "--workers",
        "1",
    ];
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().expect("data dir")).collect();
    let api = Server::start_with_env("serve", dirs[0].path(), &[&flags[..], &["--api-only"]].concat(), &env);
    let worker = Server::start_with_env("worker", dirs[1].path(), &flags, &env);
    let fleet = Fleet { name, api, workers: vec![worker] };

    // The worker verified the template against the bucket's baselines at start-up.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let r: Value = client().get(fleet.workers[0].url("/readyz")).send().expect("readyz").json().expect("JSON");
        if r["verification"] == "finished" {
            assert_eq!(r["templates"]["certificate"], "verified", "{r}");
            break;
        }
        assert!(Instant::now() < deadline, "verification did not finish: {r}");
        std::thread::sleep(Duration::from_millis(250));
    }
    let job = json!({"template": "certificate", "data": fixture("certificate", "default"), "baseline": "certificate/default"});
    let id = submit(&fleet.api, SUBMIT, &job);
    let s = wait_settled(&fleet.api, SUBMIT, &id, Duration::from_secs(120));
    assert_eq!(s["state"], "done", "proved against the bucket's baseline: {s}");

    // A template change becomes a candidate in the bucket; the operator approves it through the
    // API's review routes; the worker proves the next job against the new baseline at once.
    let changed = tmp.path().join("changed");
    support::copy_dir(&templates.join("certificate"), &changed.join("certificate"));
    let css = changed.join("certificate/style.css");
    let text = std::fs::read_to_string(&css).expect("style.css");
    assert!(text.contains("--navy: #1b2f4b;"), "the certificate's CSS changed; update this test");
    std::fs::write(&css, text.replace("--navy: #1b2f4b;", "--navy: #4b1b2f;")).expect("write css");
    let c = changed.to_string_lossy().to_string();
    let (code, out) =
        run_pixelproof(&["check", "--templates", &c, "--baselines", &baselines, "--update", "--report", &report], &env);
    assert!(out.contains(&written), "exit {code:?}: {out}");
    let page = client().get(fleet.api.url("/review")).bearer_auth(OPERATOR).send().expect("review page");
    let page = page.text().expect("HTML");
    assert!(page.contains("/review/files/candidates/certificate/default/page-001.png"), "not listed: {page}");
    let r = client()
        .post(fleet.api.url("/v1/review/candidates/certificate/default/approve"))
        .bearer_auth(OPERATOR)
        .json(&json!({"reason": "new ink colour"}))
        .send()
        .expect("approve");
    assert_eq!(r.status(), reqwest::StatusCode::OK, "{}", r.text().unwrap_or_default());
    // A client lives on the runtime that made it: one per look.
    let bucket_store =
        || async { Store::Bucket(BucketStore::connect(s3.config(&bucket, "team/baselines")).await.expect("connect")) };
    let key = Key::parse("certificate/default").unwrap();
    let (manifest, waiting) = support::block_on(async {
        let store = bucket_store().await;
        let manifest = store.read_manifest(&key).await.expect("read").expect("approved");
        (manifest, store.has_candidate(&Key::parse("certificate/long_name").unwrap()).await)
    });
    assert_eq!(manifest.reason.as_deref(), Some("new ink colour"));
    assert!(waiting, "only the approved one went");
    let id = submit(&fleet.api, SUBMIT, &job);
    let s = wait_settled(&fleet.api, SUBMIT, &id, Duration::from_secs(240));
    assert_ne!(s["state"], "done", "the old template no longer matches the new baseline: {s}");
    assert!(s.to_string().contains("certificate/default"), "{s}");

    // A routing rule made through the API reaches the worker on its other data directory
    // (the rules are the bucket's routing.json), and every decision is in the bucket's audit log.
    let rule = client()
        .post(fleet.api.url("/v1/routing"))
        .bearer_auth(OPERATOR)
        .json(&json!({"match": {"template": "certificate"}, "renderer": "fallback", "note": "fleet routing"}))
        .send()
        .expect("POST /v1/routing");
    assert!(rule.status().is_success(), "{:?}", rule.text());
    // The worker reads the shared table again within ROUTING_TTL.
    std::thread::sleep(pixelproof::routing::ROUTING_TTL + Duration::from_secs(1));
    let plain = json!({"template": "certificate", "data": fixture("certificate", "default")});
    let id = submit(&fleet.api, SUBMIT, &plain);
    let s = wait_settled(&fleet.api, SUBMIT, &id, Duration::from_secs(120));
    assert_eq!(s["state"], "fallback", "the worker applied the API's rule: {s}");
    assert!(!dirs[0].path().join("routing.json").exists() && !dirs[1].path().join("routing.json").exists());
    assert!(!dirs[0].path().join("audit.jsonl").exists(), "the audit log is in the bucket, not the API's disk");
    let audit: Value = client()
        .get(fleet.api.url("/v1/audit?limit=20"))
        .bearer_auth(OPERATOR)
        .send()
        .expect("GET /v1/audit")
        .json()
        .expect("JSON");
    let actions = audit.to_string();
    assert!(actions.contains("approve_candidate") && actions.contains("add_route"), "{audit}");
    let listed = |prefix: &'static str| -> Vec<String> {
        support::block_on(async {
            let page = s3.client().list_objects_v2().bucket(&bucket).prefix(prefix).send().await.expect("list");
            page.contents().iter().filter_map(|o| o.key().map(String::from)).collect()
        })
    };
    let objects = listed("team/jobs/");
    assert!(objects.contains(&"team/jobs/routing.json".to_string()), "{objects:?}");
    // The routing rule in the service's log; the approval once, with the baselines it changed.
    assert_eq!(objects.iter().filter(|k| k.starts_with("team/jobs/review-audit/")).count(), 1, "{objects:?}");
    let entries = audit["entries"].as_array().expect("entries");
    let approvals = entries.iter().filter(|e| e["reason"] == "new ink colour").count();
    assert_eq!(approvals, 1, "the approval, once: {audit}");
    let in_bucket =
        support::block_on(async { bucket_store().await.audit_log().await }).expect("the baselines' audit log");
    assert_eq!(in_bucket.iter().filter(|r| r.reason == "new ink colour").count(), 1, "recorded with the baselines");
}
