//! `pixelproof check` and `pixelproof baseline` as CI and an operator run them: the real
//! binary, real Chromium and PDFium, the bundled templates and the committed baselines.
//! Needs `scripts/setup` (the pinned Chromium and PDFium), like the other engine tests.

use crate::support::{self, repo, s, shown};

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;

/// One Chromium-heavy run at a time: the machines this runs on have few cores.
static SERIAL: Mutex<()> = Mutex::new(());

/// `pixelproof ARGS` in the repository, as the user e2e.
fn pixelproof(args: &[&str]) -> Output {
    support::pixelproof().args(args).env("PIXELPROOF_USER", "e2e").output().expect("run pixelproof")
}

/// A copy of the bundled `invoice` template alone.
fn invoice_copy(root: &Path) -> PathBuf {
    let templates = root.join("templates");
    support::copy_dir(&repo().join("templates/invoice"), &templates.join("invoice"));
    templates
}

/// Changes one declaration of the invoice's CSS: the totals table's cell padding.
fn change_one_css_line(templates: &Path) {
    let css = templates.join("invoice/style.css");
    let text = std::fs::read_to_string(&css).expect("style.css");
    let line = "table.totals td { padding: 1.4mm 2mm; }";
    assert!(text.contains(line), "the invoice CSS changed; update this test's one-line change");
    std::fs::write(&css, text.replace(line, "table.totals td { padding: 1.6mm 2mm; }")).expect("write css");
}

fn summary(report: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).expect("summary.json")).expect("JSON")
}

#[test]
fn check_passes_on_the_committed_baselines() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = tmp.path().join("report");
    let out = pixelproof(&["check", "--report", s(&report)]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let totals = &summary(&report)["totals"];
    assert!(totals["fixtures"].as_u64().unwrap() >= 5, "{totals}");
    assert_eq!(totals["passed"], totals["fixtures"], "{totals}");
    let junit = std::fs::read_to_string(report.join("junit.xml")).expect("junit.xml");
    assert!(!junit.contains("<failure") && !junit.contains("<error"), "{junit}");
    assert!(shown(&out).contains("passed, 0 failed, 0 errors"), "{}", shown(&out));
}

/// Started from a directory with no templates/, fonts/ or baselines/, `check` finds all three
/// beside the source tree. (It used to find the templates there but look for ./baselines, and
/// failed every fixture with "no baseline yet"; `serve` then shipped the fallback for them.)
#[test]
fn check_from_another_directory_finds_the_baselines_as_it_finds_the_templates() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = support::pixelproof()
        .arg("check")
        .current_dir(elsewhere.path())
        .env_remove("PIXELPROOF_BASELINES")
        .env_remove("PIXELPROOF_TEMPLATES")
        .env_remove("PIXELPROOF_FONTS")
        .output()
        .expect("run pixelproof");
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let totals = &summary(&elsewhere.path().join("check-report"))["totals"];
    assert_eq!(totals["passed"], totals["fixtures"], "{totals}");

    // A baselines directory that is not there is named, with what to do.
    let missing = elsewhere.path().join("no-such-baselines");
    let out = pixelproof(&["check", "--baselines", s(&missing), "--report", s(&elsewhere.path().join("r2"))]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("no baselines directory at {}", missing.display()))
            && stderr.contains("--baselines DIR"),
        "{stderr}"
    );
}

#[test]
fn a_one_line_css_change_fails_and_junit_names_the_failing_page() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let templates = invoice_copy(tmp.path());
    change_one_css_line(&templates);
    let report = tmp.path().join("report");
    let baselines = repo().join("baselines");
    let out =
        pixelproof(&["check", "--templates", s(&templates), "--baselines", s(&baselines), "--report", s(&report)]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));

    let summary = summary(&report);
    let basic = summary["fixtures"].as_array().unwrap().iter().find(|f| f["key"] == "invoice/basic").expect("basic");
    assert_eq!(basic["status"], "fail");
    let page = basic["reasons"][0]["page"].as_u64().expect("a page-level reason") as usize;
    let message = basic["reasons"][0]["message"].as_str().unwrap();
    assert!(message.contains("pixels changed"), "{message}");

    let junit = std::fs::read_to_string(report.join("junit.xml")).expect("junit.xml");
    let case = format!(r#"<testcase name="page-{page:03}" classname="invoice.basic""#);
    let at = junit.find(&case).unwrap_or_else(|| panic!("{case} not in\n{junit}"));
    let rest = &junit[at..];
    let failure = &rest[..rest.find("</testcase>").expect("closed")];
    assert!(failure.contains(&format!("<failure message=\"page {page}: ")), "{failure}");

    for kind in ["baseline", "candidate", "diff"] {
        assert!(report.join(format!("invoice/basic/{kind}-{page:03}.png")).is_file(), "{kind}");
    }
    let html = std::fs::read_to_string(report.join("index.html")).expect("index.html");
    assert!(html.contains(&format!("id=\"f-invoice-basic-p{page}\"")) && html.contains("type=\"range\""));
    let candidates = pixelproof::baseline::DirStore::new(&baselines).candidate_keys().expect("list candidates");
    assert!(candidates.is_empty(), "check without --update writes no candidate: {candidates:?}");
}

#[test]
fn update_approve_check_round_trip_with_a_real_engine() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let templates = invoice_copy(tmp.path());
    // One fixture keeps this quick.
    for f in std::fs::read_dir(templates.join("invoice/fixtures")).expect("fixtures") {
        let path = f.expect("entry").path();
        if path.file_stem().and_then(|s| s.to_str()) != Some("short") {
            std::fs::remove_file(path).expect("rm");
        }
    }
    let baselines = tmp.path().join("baselines");
    let report = tmp.path().join("report");
    let check = |extra: &[&str]| {
        let mut args =
            vec!["check", "--templates", s(&templates), "--baselines", s(&baselines), "--report", s(&report)];
        args.extend_from_slice(extra);
        pixelproof(&args)
    };

    let out = check(&[]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(shown(&out).contains("FAIL invoice/short: no baseline yet"), "{}", shown(&out));

    // For CI: the same run, but a written candidate fails it (exit 1), as a regression would.
    let out = check(&["--update", "--fail-on-candidates"]);
    assert_eq!(out.status.code(), Some(1), "{}", shown(&out));
    assert!(shown(&out).contains("--fail-on-candidates"), "{}", shown(&out));
    let out = check(&["--update"]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let out = pixelproof(&["baseline", "list", "--baselines", s(&baselines)]);
    assert!(shown(&out).contains("invoice/short") && shown(&out).contains("new"), "{}", shown(&out));
    let out = pixelproof(&["baseline", "approve", "--all", "--reason", "first", "--baselines", s(&baselines)]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));

    let out = check(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    assert!(shown(&out).contains("PASS invoice/short"), "{}", shown(&out));

    change_one_css_line(&templates);
    let out = check(&["--update"]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let candidate = baselines.join(".candidates/invoice/short");
    assert!(candidate.join("comparison.json").is_file() && candidate.join("diff-001.png").is_file());
    let out = pixelproof(&["baseline", "list", "--baselines", s(&baselines)]);
    assert!(shown(&out).contains("px changed on page 1"), "{}", shown(&out));
    let out =
        pixelproof(&["baseline", "reject", "invoice/short", "--reason", "not intended", "--baselines", s(&baselines)]);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let audit = std::fs::read_to_string(baselines.join("audit.jsonl")).expect("audit log");
    assert_eq!(audit.lines().count(), 2, "{audit}");
}

#[test]
fn a_different_dpi_is_drift_and_exits_2_before_comparing() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let report = tmp.path().join("report");
    let out = pixelproof(&["check", "--dpi", "100", "--report", s(&report), "--template", "invoice"]);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    let text = shown(&out);
    assert!(text.contains("DPI: baseline 150 vs here 100") && text.contains("--allow-drift"), "{text}");
    assert!(!report.exists(), "nothing compared, no report");
}

#[test]
fn baselines_made_by_another_chromium_are_refused_naming_both_versions() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let templates = invoice_copy(tmp.path());
    let baselines = tmp.path().join("baselines");
    support::copy_dir(&repo().join("baselines/invoice"), &baselines.join("invoice"));
    // Pretend the invoice/basic baseline was made by an older Chromium.
    let manifest_path = baselines.join("invoice/basic/manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).expect("manifest")).expect("JSON");
    let here = manifest["environment"]["chromium"].as_str().expect("chromium version").to_string();
    manifest["environment"]["chromium"] = serde_json::Value::String("150.0.7871.100".into());
    std::fs::write(&manifest_path, serde_json::to_string_pretty(&manifest).expect("JSON")).expect("write manifest");

    let report = tmp.path().join("report");
    let args = ["check", "--templates", s(&templates), "--baselines", s(&baselines), "--report", s(&report)];
    let out = pixelproof(&args);
    assert_eq!(out.status.code(), Some(2), "{}", shown(&out));
    let text = shown(&out);
    assert!(text.contains(&format!("Chromium: baseline 150.0.7871.100 vs here {here}")), "{text}");
    assert!(text.contains("invoice/basic"), "names the fixture: {text}");

    // Told to, it compares anyway (the pixels are the same, so it passes).
    let mut told = args.to_vec();
    told.push("--allow-drift");
    let out = pixelproof(&told);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
}
