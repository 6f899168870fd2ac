//! `S3Store` against a real S3-compatible server (moto, started per test on a loopback port by
//! `support/s3.rs`): round trips with and without a prefix, `put_if_absent` raced by 16 tasks,
//! list pagination, `JobStore` on S3, presigned downloads, refused credentials, a missing
//! bucket, and a server that stops and comes back.

use crate::support;
use support::store_contract::key;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use pixelproof::idempotency::{BodyFingerprint, IdempotencyKey};
use pixelproof::jobs::{Claim, Claimed, JobId, JobStore};
use pixelproof::store::{ObjectKey, ObjectStore, PutOutcome, S3Credentials, S3Store, StoreError};
use support::s3::S3Server;

fn listed(v: Vec<ObjectKey>) -> Vec<String> {
    v.iter().map(|k| k.to_string()).collect()
}

async fn round_trips(store: &S3Store) {
    assert_eq!(store.get(&key("a/b")).await.unwrap(), None);
    assert!(!store.exists(&key("a/b")).await.unwrap());
    store.put(&key("a/b"), b"one".to_vec()).await.unwrap();
    store.put(&key("a/b"), b"two".to_vec()).await.unwrap();
    store.put(&key("a/c/d"), b"3".to_vec()).await.unwrap();
    store.put(&key("ab"), b"4".to_vec()).await.unwrap();
    store.put(&key("empty"), Vec::new()).await.unwrap();
    assert_eq!(store.get(&key("a/b")).await.unwrap().as_deref(), Some(&b"two"[..]), "put overwrites");
    assert_eq!(store.get(&key("empty")).await.unwrap().as_deref(), Some(&b""[..]));
    assert!(store.exists(&key("a/c/d")).await.unwrap());
    assert!(!store.exists(&key("a/c")).await.unwrap(), "a key prefix is not an object");
    assert_eq!(listed(store.list("a/").await.unwrap()), ["a/b", "a/c/d"]);
    assert_eq!(listed(store.list("a").await.unwrap()), ["a/b", "a/c/d", "ab"]);
    assert_eq!(listed(store.list("").await.unwrap()), ["a/b", "a/c/d", "ab", "empty"]);
    assert!(store.list("zz/").await.unwrap().is_empty());
    assert!(store.delete(&key("a/b")).await.unwrap());
    assert!(!store.delete(&key("a/b")).await.unwrap(), "a second delete finds nothing");
    assert_eq!(store.get(&key("a/b")).await.unwrap(), None);
    assert_eq!(listed(store.list("a").await.unwrap()), ["a/c/d", "ab"]);
}

async fn bucket_keys(server: &S3Server, bucket: &str) -> Vec<String> {
    let page = server.client().list_objects_v2().bucket(bucket).send().await.unwrap();
    let mut keys: Vec<String> = page.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn put_get_exists_delete_list_without_prefix() {
    let server = S3Server::start();
    let bucket = server.create_bucket("plain").await;
    let store = S3Store::connect(server.config(&bucket, "")).await.unwrap();
    round_trips(&store).await;
    assert_eq!(bucket_keys(&server, &bucket).await, ["a/c/d", "ab", "empty"], "keys are stored as they are");
}

#[tokio::test]
async fn put_get_exists_delete_list_under_a_prefix() {
    let server = S3Server::start();
    let bucket = server.create_bucket("prefixed").await;
    let client = server.client();
    // Neighbours the store must not see: outside its prefix, a sibling prefix that shares the
    // first letters, and an object under the prefix whose name is not a valid key.
    for outside in ["other/x", "pixelproof/prodx/y", "pixelproof/prod/bad key", "pixelproof/prod/../z"] {
        client.put_object().bucket(&bucket).key(outside).body(ByteStream::from_static(b"x")).send().await.unwrap();
    }
    // This store also takes the checksums-only-when-required path (the others use the defaults).
    let mut config = server.config(&bucket, "pixelproof/prod");
    config.checksums_when_required = true;
    let store = S3Store::connect(config).await.unwrap();
    assert_eq!(store.bucket_key(&key("a/b")), "pixelproof/prod/a/b");
    round_trips(&store).await;
    let keys = bucket_keys(&server, &bucket).await;
    for k in ["pixelproof/prod/a/c/d", "pixelproof/prod/ab", "pixelproof/prod/empty", "other/x", "pixelproof/prodx/y"] {
        assert!(keys.contains(&k.to_string()), "{k} missing from {keys:?}");
    }
    assert!(!keys.iter().any(|k| k == "pixelproof/prod/a/b"), "the deleted object is gone");
}

#[tokio::test]
async fn put_if_absent_creates_once_then_returns_the_original() {
    let server = S3Server::start();
    let bucket = server.create_bucket("once").await;
    let store = S3Store::connect(server.config(&bucket, "p")).await.unwrap();
    let k = key("jobs/x/document.pdf");
    assert_eq!(store.put_if_absent(&k, b"first".to_vec()).await.unwrap(), PutOutcome::Created);
    assert_eq!(store.put_if_absent(&k, b"second".to_vec()).await.unwrap(), PutOutcome::Existing(b"first".to_vec()));
    assert_eq!(store.get(&k).await.unwrap().unwrap(), b"first");
    // The server itself refuses the overwrite (If-None-Match: * → 412), not just the store.
    let raw = server
        .client()
        .put_object()
        .bucket(&bucket)
        .key("p/jobs/x/document.pdf")
        .if_none_match("*")
        .body(ByteStream::from_static(b"raw"))
        .send()
        .await;
    let status = raw.unwrap_err().raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(412), "the server does not enforce If-None-Match: *");
    // After a delete the key can be created again.
    assert!(store.delete(&k).await.unwrap());
    assert_eq!(store.put_if_absent(&k, b"third".to_vec()).await.unwrap(), PutOutcome::Created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn put_if_absent_has_exactly_one_winner_among_16_tasks() {
    let server = S3Server::start();
    let bucket = server.create_bucket("race").await;
    let store = S3Store::connect(server.config(&bucket, "")).await.unwrap();
    support::store_contract::put_if_absent_race(Arc::new(store), 5, 16).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_follows_pagination() {
    let server = S3Server::start();
    let bucket = server.create_bucket("pages").await;
    let mut config = server.config(&bucket, "pre");
    config.list_page_size = Some(100);
    let store = S3Store::connect(config).await.unwrap();
    let started = Instant::now();
    let total = 1050;
    let mut expected: Vec<String> = (0..total).map(|i| format!("many/{i:05}")).collect();
    // 16 writers at a time.
    for chunk in expected.chunks(16) {
        let writes = chunk.iter().map(|k| {
            let store = store.clone();
            let k = key(k);
            async move { store.put(&k, b"x".to_vec()).await }
        });
        for result in futures::future::join_all(writes).await {
            result.unwrap();
        }
    }
    store.put(&key("manyother"), b"y".to_vec()).await.unwrap();
    eprintln!("wrote {total} objects in {:?}", started.elapsed());
    // The server really pages at this size.
    let first =
        server.client().list_objects_v2().bucket(&bucket).prefix("pre/many/").max_keys(100).send().await.unwrap();
    assert_eq!((first.contents().len(), first.is_truncated()), (100, Some(true)));
    expected.sort();
    assert_eq!(listed(store.list("many/").await.unwrap()), expected, "11 pages of 100");
    assert_eq!(store.list("many").await.unwrap().len(), total + 1);
    // And with the server's default page size (1000): two pages.
    let default_pages = S3Store::connect(server.config(&bucket, "pre")).await.unwrap();
    assert_eq!(listed(default_pages.list("many/").await.unwrap()), expected);
}

#[tokio::test]
async fn invalid_keys_are_refused_before_any_request() {
    let mut server = S3Server::start();
    let bucket = server.create_bucket("keys").await;
    let jobs = JobStore::new(Arc::new(S3Store::connect(server.config(&bucket, "")).await.unwrap()));
    // With the server gone, anything that reached the network would be Unavailable.
    server.stop();
    let id = JobId::new();
    for bad in ["../../escape", "a//b", ".hidden", "a b", "x/"] {
        let err = jobs.put_artifact(id, bad, b"x".to_vec()).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { .. }), "{bad:?}: {err}");
        assert!(!err.is_retryable());
        let err = jobs.get_artifact(id, bad).await.unwrap_err();
        assert!(matches!(err, StoreError::InvalidKey { .. }), "{bad:?}: {err}");
    }
    // A configured prefix is a key too.
    let err = S3Store::connect(server.config(&bucket, "a//b")).await.unwrap_err();
    assert!(matches!(err, StoreError::Config { .. }) && err.to_string().contains("prefix"), "{err}");
}

#[tokio::test]
async fn job_store_on_s3() {
    let server = S3Server::start();
    let bucket = server.create_bucket("jobs").await;
    let store = JobStore::new(Arc::new(S3Store::connect(server.config(&bucket, "svc")).await.unwrap()));
    let id = support::store_contract::job_store_round_trip(&store).await;
    let keys = bucket_keys(&server, &bucket).await;
    assert!(keys.contains(&format!("svc/jobs/{id}/job.json")) && keys.contains(&format!("svc/jobs/{id}/document.pdf")));

    let other = JobId::new();
    let fingerprint = BodyFingerprint::of(&serde_json::json!({"template": "invoice"}));
    let (mine, theirs) = (Claim { job: id, fingerprint: fingerprint.clone() }, Claim { job: other, fingerprint });
    let key = |k: &str| IdempotencyKey::parse(k.as_bytes()).unwrap();
    assert_eq!(store.claim_idempotency_key("ci", &key("order-1"), &mine).await.unwrap(), Claimed::New);
    let again = store.claim_idempotency_key("ci", &key("order-1"), &theirs).await.unwrap();
    assert_eq!(again, Claimed::Existing(mine.clone()));
    let retried = store.claim_idempotency_key("ci", &key("order-1"), &mine).await.unwrap();
    assert_eq!(retried, Claimed::New, "the owner retrying");
    assert_eq!(store.claim_idempotency_key("ci", &key("order-2"), &theirs).await.unwrap(), Claimed::New);
    let elsewhere = store.claim_idempotency_key("another", &key("order-1"), &theirs).await.unwrap();
    assert_eq!(elsewhere, Claimed::New, "another submitter's key of the same name");

    server
        .client()
        .put_object()
        .bucket(&bucket)
        .key(format!("svc/jobs/{id}/job.json"))
        .body(ByteStream::from_static(b"not json"))
        .send()
        .await
        .unwrap();
    let err = store.load(id).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }) && err.to_string().contains("job.json"), "{err}");
}

#[tokio::test]
async fn presigned_get_downloads_and_is_refused_when_tampered_or_expired() {
    let server = S3Server::start();
    let bucket = server.create_bucket("presign").await;
    let mut config = server.config(&bucket, "dl");
    config.presign_ttl = Duration::from_secs(2);
    let store = S3Store::connect(config).await.unwrap();
    let k = key("jobs/x/document.pdf");
    let pdf = b"%PDF-1.7 presigned".to_vec();
    store.put(&k, pdf.clone()).await.unwrap();
    let url = store.presigned_get(&k).await.unwrap();
    assert!(url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=2"), "{url}");
    assert!(!url.contains(&server.credentials().secret_access_key), "the URL carries the secret");
    let http = reqwest::Client::new();
    let ok = http.get(&url).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.bytes().await.unwrap().to_vec(), pdf);

    // Another object with the same signature, or a changed signature: refused.
    let other_key = url.replace("/dl/jobs/x/document.pdf", "/dl/jobs/y/document.pdf");
    store.put(&key("jobs/y/document.pdf"), b"other".to_vec()).await.unwrap();
    let sig_at = url.find("X-Amz-Signature=").unwrap() + "X-Amz-Signature=".len();
    let flipped = if &url[sig_at..sig_at + 1] == "0" { "1" } else { "0" };
    let tampered = format!("{}{flipped}{}", &url[..sig_at], &url[sig_at + 1..]);
    for bad in [other_key, tampered] {
        let resp = http.get(&bad).send().await.unwrap();
        assert_eq!(resp.status(), 403, "{bad}");
        assert!(resp.text().await.unwrap().contains("SignatureDoesNotMatch"));
    }
    // Without any signature: refused.
    let bare = url.split('?').next().unwrap().to_string();
    assert_eq!(http.get(&bare).send().await.unwrap().status(), 403);

    tokio::time::sleep(Duration::from_millis(3100)).await;
    let expired = http.get(&url).send().await.unwrap();
    assert_eq!(expired.status(), 403);
    assert!(expired.text().await.unwrap().contains("expired"));
}

#[tokio::test]
async fn wrong_credentials_are_refused_and_not_retried() {
    let server = S3Server::start();
    let bucket = server.create_bucket("creds").await;
    let cases = [
        ("SignatureDoesNotMatch", S3Credentials { secret_access_key: "not-the-secret".into(), ..server.credentials() }),
        (
            "InvalidAccessKeyId",
            S3Credentials {
                access_key_id: "AKIANOSUCHKEY0000000".into(),
                secret_access_key: "x".into(),
                session_token: None,
            },
        ),
    ];
    for (what, credentials) in cases {
        let mut config = server.config(&bucket, "");
        config.credentials = Some(credentials);
        let started = Instant::now();
        let err = S3Store::connect(config).await.unwrap_err();
        let text = err.to_string();
        eprintln!("{what}: {text}");
        assert!(matches!(err, StoreError::Refused { .. }), "{what}: {err:?}");
        assert!(text.contains(what), "the server's reason is not named: {text}");
        assert!(!err.is_retryable(), "{what}");
        assert!(text.contains("AWS_ACCESS_KEY_ID") && text.contains("AWS_SECRET_ACCESS_KEY"), "{what}: {text}");
        assert!(text.contains(&bucket) && text.contains(&server.endpoint()), "{what}: {text}");
        assert!(!text.contains(&server.credentials().secret_access_key), "{what}: the secret is in {text}");
        assert!(started.elapsed() < Duration::from_secs(5), "{what}: took {:?}", started.elapsed());
    }
    // No credentials at all.
    let mut config = server.config(&bucket, "");
    config.credentials = None;
    let err = S3Store::connect(config).await.unwrap_err();
    assert!(!err.is_retryable() && err.to_string().contains("AWS_ACCESS_KEY_ID"), "{err}");
}

#[tokio::test]
async fn a_missing_bucket_says_how_to_create_it() {
    let server = S3Server::start();
    let err = S3Store::connect(server.config("pp-no-such-bucket", "")).await.unwrap_err();
    let text = err.to_string();
    eprintln!("missing bucket: {text}");
    assert!(matches!(err, StoreError::Refused { .. }) && !err.is_retryable(), "{err:?}");
    assert!(text.contains("pp-no-such-bucket") && text.contains("does not exist"), "{text}");
    assert!(text.contains(&server.endpoint()) && text.contains("aws s3 mb s3://pp-no-such-bucket"), "{text}");
}

#[tokio::test]
async fn a_stopped_server_is_unavailable_quickly_and_recovers() {
    let mut server = S3Server::start();
    let bucket = server.create_bucket("outage").await;
    let store = S3Store::connect(server.config(&bucket, "")).await.unwrap();
    store.put(&key("before"), b"1".to_vec()).await.unwrap();

    server.stop();
    let started = Instant::now();
    let err = store.get(&key("before")).await.unwrap_err();
    let took = started.elapsed();
    eprintln!("stopped server: get is Unavailable after {took:?}: {err}");
    assert!(matches!(err, StoreError::Unavailable { .. }) && err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains(&bucket) && err.to_string().contains(&server.endpoint()), "{err}");
    assert!(took < Duration::from_secs(5), "unavailable after {took:?}");
    for result in [
        store.put(&key("during"), b"2".to_vec()).await.map(|_| ()),
        store.put_if_absent(&key("during"), b"2".to_vec()).await.map(|_| ()),
        store.exists(&key("before")).await.map(|_| ()),
        store.list("").await.map(|_| ()),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable { .. }) && err.is_retryable(), "{err:?}");
    }
    let err = S3Store::connect(server.config(&bucket, "")).await.unwrap_err();
    assert!(err.is_retryable() && err.to_string().contains("is the server running"), "{err}");
    eprintln!("connect to a stopped server: {err}");

    // Back on the same port; moto forgot everything, so the bucket is made again.
    server.restart();
    server.create_bucket_named(&bucket).await;
    store.put(&key("after"), b"3".to_vec()).await.unwrap();
    assert_eq!(store.get(&key("after")).await.unwrap().unwrap(), b"3");
    assert_eq!(store.put_if_absent(&key("after"), b"4".to_vec()).await.unwrap(), PutOutcome::Existing(b"3".to_vec()));
    assert_eq!(listed(store.list("").await.unwrap()), ["after"]);
}

/// With an S3 store the routing table is the bucket's `routing.json`: a rule an operator adds
/// through one process (one data directory, one machine) is read by another after a reload.
#[tokio::test]
async fn the_routing_table_lives_in_the_bucket_for_every_machine() {
    use pixelproof::data::{DataDir, QueueBackend, StoreBackend};
    use pixelproof::routing::{Match, NewRule, Renderer};

    let server = S3Server::start();
    let bucket = server.create_bucket("routing").await;
    let tmp = tempfile::tempdir().unwrap();
    let store = StoreBackend::S3(Box::new(server.config(&bucket, "fleet")));
    let queue = |name: &str| QueueBackend::parse("embedded", name, 10, 1).unwrap();
    let api = DataDir::new(tmp.path().join("api")).open_with(&queue("a"), &store).await.unwrap();
    let worker = DataDir::new(tmp.path().join("worker")).open_with(&queue("b"), &store).await.unwrap();
    assert!(api.routing.rules().is_empty());
    assert_eq!(api.routing.location(), format!("s3://{bucket}/fleet/routing.json"));

    let mut table = api.routing;
    let rule = table
        .add(NewRule {
            matches: Match::Template("invoice".into()),
            renderer: Renderer::Fallback,
            note: "Chromium clips the totals".into(),
            created_by: "ops".into(),
        })
        .await
        .unwrap();
    assert_eq!(bucket_keys(&server, &bucket).await, ["fleet/routing.json"], "nothing in either data directory");
    assert!(!tmp.path().join("api/routing.json").exists());

    let mut seen = worker.routing;
    assert!(seen.rules().is_empty(), "read before the rule was added");
    seen.reload().await.unwrap();
    assert_eq!(seen.rules(), std::slice::from_ref(&rule));
    assert_eq!(seen.route(Some("invoice"), &"0".repeat(64)).renderer, Renderer::Fallback);
    table.remove(&rule.id).await.unwrap();
    seen.reload().await.unwrap();
    assert!(seen.rules().is_empty());

    // A table damaged in the bucket is refused with its URL, and a reload keeps the rules read.
    let client = server.client();
    let body = ByteStream::from(b"{not json".to_vec());
    client.put_object().bucket(&bucket).key("fleet/routing.json").body(body).send().await.unwrap();
    let err = seen.reload().await.unwrap_err().to_string();
    assert!(err.contains(&format!("s3://{bucket}/fleet/routing.json")) && err.contains("not valid JSON"), "{err}");
}
