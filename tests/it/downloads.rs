//! Fleet downloads (`GET /v1/jobs/{id}/pdf` with an S3 store), for a client on the far side of
//! a network, as a host sees a compose fleet: the servers use the bucket through an internal
//! address (a forwarder, like `http://minio:9000`), and the client, `curl` through
//! [`ClientNetwork`], reaches only the API and the S3 server's public address (like the
//! published `localhost:9000`). With `--s3-public-endpoint` the redirect is signed for the
//! public address and `curl -L` gets the PDF; with `--pdf-download proxy` the API streams it and
//! the client never meets S3; a link signed for the internal address is what the client
//! cannot follow.

use crate::support;

use std::process::Command;
use std::time::Duration;

use pixelproof::store::S3Store;
use support::net::{ClientNetwork, Forwarder};
use support::s3::S3Server;
use support::service::*;

/// Waits until `/readyz` answers 200 (start-up verification done).
fn ready(server: &Server) {
    let http = client();
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while http.get(server.url("/readyz")).send().map(|r| !r.status().is_success()).unwrap_or(true) {
        assert!(std::time::Instant::now() < deadline, "the server was not ready");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// `curl -fsSL` through `network` with the submitter's token, as the README writes it; the
/// body and curl's exit code and stderr.
fn curl(network: &ClientNetwork, url: &str, out: &std::path::Path) -> (Option<i32>, String) {
    let o = Command::new("curl")
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .args(["-fsSL", "--max-time", "30", "--proxy", &network.url(), "-H"])
        .arg(format!("Authorization: Bearer {SUBMIT}"))
        .arg("-o")
        .arg(out)
        .arg(url)
        .output()
        .expect("run curl");
    (o.status.code(), String::from_utf8_lossy(&o.stderr).to_string())
}

fn authority(url: &str) -> String {
    let u = url::Url::parse(url).expect("a URL");
    format!("{}:{}", u.host_str().expect("host"), u.port_or_known_default().expect("port"))
}

#[test]
fn a_client_that_reaches_only_the_public_s3_address_gets_the_pdf_with_curl_l_or_through_the_api() {
    let s3 = S3Server::start();
    let bucket = support::block_on(s3.create_bucket("downloads"));
    let internal = Forwarder::start(s3.port);
    let internal_url = format!("http://127.0.0.1:{}", internal.port);
    let public_url = s3.endpoint();
    assert_ne!(internal_url, public_url);
    let env = s3.aws_env(&internal_url);
    let store = format!("s3://{bucket}/pixelproof");
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().expect("data dir")).collect();
    let common = ["--token", SUBMIT_TOKEN, "--store", store.as_str(), "--browsers", "1"];
    let redirect = Server::start_with_env(
        "serve",
        dirs[0].path(),
        &[&common[..], &["--s3-public-endpoint", public_url.as_str()]].concat(),
        &env,
    );
    // Another API process on the same bucket, which streams PDFs instead.
    let proxy = Server::start_with_env(
        "serve",
        dirs[1].path(),
        &[&common[..], &["--pdf-download", "proxy", "--s3-public-endpoint", public_url.as_str()]].concat(),
        &env,
    );
    ready(&redirect);
    ready(&proxy);
    let id = submit(&redirect, SUBMIT, &html_job(2));
    let s = wait_settled(&redirect, SUBMIT, &id, Duration::from_secs(180));
    assert_eq!(s["state"], "done", "{s}");
    let pdf_url = s["pdf_url"].as_str().expect("pdf_url").to_string();
    let stored = support::block_on(async {
        let o = s3
            .client()
            .get_object()
            .bucket(&bucket)
            .key(format!("pixelproof/jobs/{id}/document.pdf"))
            .send()
            .await
            .expect("the PDF is in the bucket");
        o.body.collect().await.expect("read it").into_bytes().to_vec()
    });
    assert!(stored.starts_with(b"%PDF-"));

    // The client's network: the two APIs and S3's public address, not the internal one.
    let network = ClientNetwork::start(vec![authority(&redirect.base), authority(&proxy.base), authority(&public_url)]);
    let tmp = tempfile::tempdir().expect("tempdir");

    // redirect: the Location is on the public address, and curl -L follows it.
    let c = reqwest::blocking::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = c.get(&pdf_url).bearer_auth(SUBMIT).send().expect("GET pdf");
    assert_eq!(r.status(), reqwest::StatusCode::TEMPORARY_REDIRECT);
    let location = r.headers()["location"].to_str().expect("location").to_string();
    assert_eq!(authority(&location), authority(&public_url), "{location}");
    let out = tmp.path().join("redirect.pdf");
    let (code, err) = curl(&network, &pdf_url, &out);
    assert_eq!(code, Some(0), "curl -L {pdf_url}: {err}; asked {:?}", network.asked());
    assert_eq!(std::fs::read(&out).expect("downloaded"), stored, "curl -L got other bytes");
    let asked = network.asked();
    assert!(asked.contains(&(authority(&public_url), true)), "the PDF did not come from S3: {asked:?}");

    // proxy: the same URL on the other process answers the PDF itself; S3 is never asked.
    let before = network.asked().len();
    let proxied_url = pdf_url.replace(&redirect.base, &proxy.base);
    assert_ne!(proxied_url, pdf_url);
    let r = c.get(&proxied_url).bearer_auth(SUBMIT).send().expect("GET pdf");
    assert_eq!(r.status(), reqwest::StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.headers()["content-length"], stored.len().to_string().as_str());
    assert_eq!(r.bytes().expect("body").to_vec(), stored);
    let out = tmp.path().join("proxy.pdf");
    let (code, err) = curl(&network, &proxied_url, &out);
    assert_eq!(code, Some(0), "curl -L {proxied_url}: {err}");
    assert_eq!(std::fs::read(&out).expect("downloaded"), stored);
    let asked: Vec<_> = network.asked().split_off(before);
    assert!(!asked.is_empty(), "curl did not go through the client's network");
    assert!(asked.iter().all(|(to, _)| *to == authority(&proxy.base)), "proxy mode sent the client on: {asked:?}");

    // The control: a link signed for the address the servers use is one this client cannot
    // follow (what the fleet handed out before --s3-public-endpoint).
    let internal_link = support::block_on(async {
        let mut config = s3.config(&bucket, "pixelproof");
        config.endpoint_url = Some(internal_url.clone());
        let store = S3Store::connect(config).await.expect("connect");
        let key = pixelproof::jobs::JobStore::pdf_key(pixelproof::jobs::JobId::parse(&id).expect("a job id"));
        store.presigned_get(&key).await.expect("presign")
    });
    assert_eq!(authority(&internal_link), authority(&internal_url));
    let (code, err) = curl(&network, &internal_link, &tmp.path().join("internal.pdf"));
    assert_eq!(code, Some(22), "the internal address was reachable: {err}");
    assert!(network.asked().contains(&(authority(&internal_url), false)));
    // ... though from inside, it works: the internal link is not broken, only out of reach.
    let inside = reqwest::blocking::get(&internal_link).expect("GET from inside");
    assert_eq!(inside.bytes().expect("body").to_vec(), stored);
    println!(
        "job {id}: {} bytes; redirect to {} followed by curl -L; proxied by the API; internal link refused",
        stored.len(),
        authority(&public_url)
    );
}

#[test]
fn a_public_endpoint_needs_an_s3_store_and_a_url() {
    let data = tempfile::tempdir().expect("data dir");
    let run = |args: &[&str]| {
        let o = support::pixelproof()
            .arg("serve")
            .arg("--data-dir")
            .arg(data.path())
            .args(args)
            .output()
            .expect("run pixelproof serve");
        (o.status.code(), String::from_utf8_lossy(&o.stderr).to_string())
    };
    let (code, err) = run(&["--s3-public-endpoint", "http://localhost:9000"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--s3-public-endpoint is for an S3 store"), "{err}");
    let (code, err) = run(&["--store", "s3://pdfs/jobs", "--s3-public-endpoint", "localhost:9000"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--s3-public-endpoint=\"localhost:9000\""), "{err}");
    let (code, err) = run(&["--pdf-download", "stream"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("possible values: redirect, proxy"), "{err}");
}
