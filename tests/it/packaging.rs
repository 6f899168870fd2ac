//! Packaging: the Dockerfile pins what `pins.env` pins (so the image cannot drift from the
//! environment the baselines were made in), and docker-compose.yml is a valid Compose file
//! wiring the fleet with the variables the README documents. There is no Docker engine here
//! to build or run them; `docker-compose config` (installed by scripts/test) validates.

use std::collections::BTreeMap;
use std::process::Command;

use crate::support::repo;

fn pins() -> BTreeMap<String, String> {
    std::fs::read_to_string(repo().join("pins.env"))
        .expect("pins.env")
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

#[test]
fn the_dockerfile_pins_what_pins_env_pins() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let args: BTreeMap<String, String> = dockerfile
        .lines()
        .filter_map(|l| l.trim().strip_prefix("ARG "))
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let pins = pins();
    let fonts = pins.keys().filter(|k| k.starts_with("FONT_FILE_")).map(String::as_str);
    let fixed = [
        "CHROMIUM_PACKAGE_VERSION",
        "PDFIUM_WHEEL_VERSION",
        "PDFIUM_WHEEL_SHA256",
        "PDFIUM_LIBRARY_SHA256",
        "NOTO_CJK_PACKAGE_VERSION",
        "NOTO_EMOJI_PACKAGE_VERSION",
    ];
    let keys: Vec<&str> = fixed.into_iter().chain(fonts).collect();
    assert!(keys.len() > fixed.len(), "pins.env pins font files (FONT_FILE_*)");
    for key in keys {
        assert_eq!(args.get(key), pins.get(key), "Dockerfile ARG {key} must equal pins.env's");
        if key.starts_with("FONT_FILE_") {
            assert!(dockerfile.contains(&format!("\"${key}\"")), "the Dockerfile copies and checks {key}");
        }
    }
    assert!(dockerfile.contains("USER pixelproof"), "the image runs as a non-root user");
    for copied in ["COPY fonts fonts", "COPY templates templates", "baselines baselines"] {
        assert!(dockerfile.contains(copied), "the image carries {copied:?}");
    }
}

#[test]
fn docker_compose_accepts_the_fleet_file() {
    let out = Command::new("docker-compose")
        .args(["-f"])
        .arg(repo().join("docker-compose.yml"))
        .args(["config"])
        .env("PIXELPROOF_SUBMIT_SECRET", "submit-secret")
        .env("PIXELPROOF_OPERATOR_SECRET", "operator-secret")
        .output()
        .expect("run docker-compose (scripts/test installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "docker-compose config: {}", String::from_utf8_lossy(&out.stderr));
    for needle in [
        "rabbitmq:",
        "minio:",
        "api:",
        "worker-1:",
        "worker-2:",
        "PIXELPROOF_QUEUE: amqp://",
        "PIXELPROOF_STORE: s3://",
        "PIXELPROOF_BASELINES: s3://",
        "- --keep-existing",
        "AWS_ENDPOINT_URL: http://minio:9000",
        "ci:submit:submit-secret",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from the resolved file:\n{text}");
    }
    // The host reaches the API and the S3 port download links point at, and only the API
    // signs them for that address (workers hand out no links).
    let api = text.split("\n  api:\n").nth(1).and_then(|t| t.split("\n  baselines:\n").next()).unwrap_or_default();
    for needle in ["PIXELPROOF_S3_PUBLIC_ENDPOINT: http://localhost:9000", "PIXELPROOF_PDF_DOWNLOAD: redirect", "8080"]
    {
        assert!(api.contains(needle), "{needle:?} missing from the api service:\n{api}");
    }
    assert!(
        text.contains("published: \"9000\"") || text.contains("127.0.0.1:9000:9000"),
        "MinIO's S3 port is not published:\n{text}"
    );
    // Without the secrets it refuses, rather than starting an open fleet.
    let open = Command::new("docker-compose")
        .args(["-f"])
        .arg(repo().join("docker-compose.yml"))
        .args(["config", "-q"])
        .env_remove("PIXELPROOF_SUBMIT_SECRET")
        .env_remove("PIXELPROOF_OPERATOR_SECRET")
        .output()
        .expect("run docker-compose");
    assert!(!open.status.success());
    assert!(String::from_utf8_lossy(&open.stderr).contains("PIXELPROOF_SUBMIT_SECRET"));
}

/// The `docker run` line in the Dockerfile's header works as written: its token, made the way
/// it says, is one `serve` accepts (a secret under 16 characters is refused).
#[test]
fn the_dockerfile_example_token_is_accepted() {
    let dockerfile = std::fs::read_to_string(repo().join("Dockerfile")).expect("Dockerfile");
    let line = dockerfile.lines().find(|l| l.contains("docker run")).expect("a docker run example");
    let assignment = line
        .split_once("PIXELPROOF_TOKENS=")
        .and_then(|(_, rest)| rest.strip_suffix(" pixelproof"))
        .expect("the example sets PIXELPROOF_TOKENS, then names the image");
    let out = Command::new("bash").arg("-c").arg(format!("printf %s {assignment}")).output().expect("run bash");
    let token = String::from_utf8_lossy(&out.stdout).to_string();
    let parsed = token.parse::<pixelproof::api::auth::Token>();
    assert!(parsed.is_ok(), "{token:?} from {line:?}: {:?}", parsed.err().map(|e| e.to_string()));
}
