//! `--help` that teaches: every subcommand shows examples and its exit codes, and flags that
//! cannot go together are refused by the parser, before anything runs.

use crate::support;

fn help(args: &[&str]) -> String {
    let out = support::pixelproof().args(args).arg("--help").output().expect("run pixelproof");
    assert!(out.status.success(), "{args:?} --help: {}", support::shown(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn every_subcommand_shows_examples_and_exit_codes() {
    let commands: [&[&str]; 9] = [
        &["render"],
        &["diff"],
        &["check"],
        &["baseline", "list"],
        &["baseline", "approve"],
        &["baseline", "reject"],
        &["baseline", "copy"],
        &["serve"],
        &["worker"],
    ];
    for command in commands {
        let text = help(command);
        assert!(text.contains("Examples:\n  pixelproof "), "{command:?} --help has no examples:\n{text}");
        assert!(text.contains("Exit codes: 0 "), "{command:?} --help has no exit codes:\n{text}");
    }
    // check explains --update against Playwright's, and the CI flag.
    let check = help(&["check"]);
    assert!(check.contains("--update-snapshots") && check.contains("--fail-on-candidates"), "{check}");
    // The data directory is --data-dir; the old --data still works but is not shown. What
    // --workers meant is three flags now, and it is hidden too.
    let serve = help(&["serve"]);
    assert!(serve.contains("--data-dir <DIR>") && !serve.contains("--data <"), "{serve}");
    for flag in ["--browsers <N>", "--worker-tasks <N>", "--prefetch <N>", "--api-only", "--max-body-bytes"] {
        assert!(serve.contains(flag), "serve --help lacks {flag}");
    }
    assert!(!serve.contains("--workers"), "{serve}");
    // A worker lists only the flags it uses: not the API's.
    let worker = help(&["worker"]);
    assert!(worker.contains("--browsers <N>") && worker.contains("--queue <QUEUE>"), "{worker}");
    for flag in [
        "--api-only",
        "--presign-ttl-secs",
        "--s3-public-endpoint",
        "--pdf-download",
        "--max-body-bytes",
        "--max-queue-per-submitter",
    ] {
        assert!(!worker.contains(flag), "worker --help lists the API's {flag}");
    }
}

#[test]
fn flags_that_cannot_go_together_are_refused_before_anything_runs() {
    let dir = tempfile::tempdir().expect("tempdir");
    support::write_file(dir.path(), "page.html", "<p>x</p>");
    support::write_file(dir.path(), "data.json", "{}");
    let cases: [(&[&str], &str); 3] = [
        // An HTML file has no data: the data would be dropped silently.
        (&["render", "--html", "page.html", "--data", "data.json", "-o", "x.pdf"], "cannot be used with"),
        (&["check", "--fail-on-candidates"], "--update"),
        (&["render", "--html", "page.html", "--single-page", "--page-ranges", "1", "-o", "x.pdf"], "--page-ranges"),
    ];
    for (args, needle) in cases {
        let out = support::pixelproof().args(args).current_dir(dir.path()).output().expect("run pixelproof");
        let said = support::shown(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {said}");
        assert!(said.contains(needle), "{args:?} should name {needle}: {said}");
        assert!(!dir.path().join("x.pdf").exists(), "{args:?} printed anyway");
    }
}
