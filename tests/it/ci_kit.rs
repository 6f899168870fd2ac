//! The CI kit cannot rot: `examples/github-actions.yml`'s check job is read from its YAML, and
//! its steps after `setup` (the install steps, which `scripts/setup` has already done here) run
//! as GitHub's runner runs them: each `run:` with `bash --noprofile --norc -eo pipefail` in a
//! checkout (a temporary copy of templates/, baselines/, fonts/ and examples/), with the
//! built `pixelproof` on PATH, `GITHUB_STEP_SUMMARY` and `GITHUB_OUTPUT` as files, `if:` and
//! `env:` evaluated. A `uses:` step is not run: what it would pick up is checked instead (an
//! upload step's files, as upload-artifact v4 finds them, hidden ones only when asked for; the
//! JUnit file). Then the loop of README.md's "Visual regression in CI": the candidates artifact
//! unpacked into another checkout, approved with the README's command, and the workflow passes.
//! `examples/gitlab-ci.yml` is held to the same check, artifacts and JUnit file.
//! Needs `scripts/setup` (Chromium, PDFium, jq), like `check_e2e`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use yaml_rust2::{Yaml, YamlLoader};

use crate::support::{self, repo, shown};

/// One Chromium-heavy run at a time: the machines this runs on have few cores.
static SERIAL: Mutex<()> = Mutex::new(());

const WORKFLOW: &str = "examples/github-actions.yml";
/// The run the emulated upload steps name in their `artifact-url`.
const RUN_URL: &str = "https://github.com/acme/documents/actions/runs/7";
/// What README.md tells a reviewer to run once the candidates are unpacked; run here as written.
const APPROVE: &str = r#"pixelproof baseline approve --all --reason "new totals padding, checked in the CI report""#;

fn load(rel: &str) -> Yaml {
    let text = std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let mut docs = YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"));
    assert_eq!(docs.len(), 1, "{rel}: one document");
    docs.remove(0)
}

/// A scalar as the runner reads it (`true`, `60` and `"x"` are all text to it).
fn text(y: &Yaml) -> Option<String> {
    match y {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn map(y: &Yaml) -> BTreeMap<String, String> {
    let Some(hash) = y.as_hash() else { return BTreeMap::new() };
    hash.iter()
        .map(|(k, v)| (text(k).expect("a key"), text(v).unwrap_or_else(|| panic!("{k:?}: not a scalar"))))
        .collect()
}

/// The check job's steps.
fn steps(workflow: &Yaml) -> &[Yaml] {
    workflow["jobs"]["check"]["steps"].as_vec().expect("jobs.check.steps")
}

/// The step with `id`.
fn step<'a>(workflow: &'a Yaml, id: &str) -> &'a Yaml {
    steps(workflow).iter().find(|s| s["id"].as_str() == Some(id)).unwrap_or_else(|| panic!("no step with id {id}"))
}

/// The upload step whose artifact is `name`.
fn upload<'a>(workflow: &'a Yaml, name: &str) -> &'a Yaml {
    steps(workflow)
        .iter()
        .find(|s| {
            s["uses"].as_str().is_some_and(|u| u.starts_with("actions/upload-artifact@"))
                && s["with"]["name"].as_str() == Some(name)
        })
        .unwrap_or_else(|| panic!("no upload step for the artifact {name}"))
}

/// A checkout to run the workflow in: the bundled templates, the committed baselines, the
/// bundled fonts (with the copies scripts/setup made) and examples/.
fn checkout(root: &Path) -> PathBuf {
    let work = root.join("work");
    for dir in ["templates", "baselines", "fonts", "examples"] {
        support::copy_dir(&repo().join(dir), &work.join(dir));
    }
    work
}

/// Changes one declaration of the invoice's CSS (the totals table's cell padding), as a
/// template change under review would.
fn change_the_invoice(work: &Path) {
    let css = work.join("templates/invoice/style.css");
    let text = std::fs::read_to_string(&css).expect("style.css");
    let line = "table.totals td { padding: 1.4mm 2mm; }";
    assert!(text.contains(line), "the invoice CSS changed; update this test's one-line change");
    std::fs::write(&css, text.replace(line, "table.totals td { padding: 1.6mm 2mm; }")).expect("write css");
}

/// How a step ended, as `steps.ID.outcome` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Success,
    Failure,
    Skipped,
}

impl Outcome {
    fn word(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Skipped => "skipped",
        }
    }
}

/// An artifact an upload step would have made: its files, relative to its root.
#[derive(Debug)]
struct Artifact {
    root: PathBuf,
    files: Vec<String>,
}

/// What the emulated job did.
#[derive(Debug, Default)]
struct Job {
    outcomes: BTreeMap<String, Outcome>,
    exit_codes: BTreeMap<String, i32>,
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    artifacts: BTreeMap<String, Artifact>,
    junit: Vec<PathBuf>,
    summary: String,
    log: String,
    failed: bool,
}

impl Job {
    /// The `artifact-url` the upload step `id` gave (none: it uploaded nothing).
    fn url(&self, id: &str) -> &str {
        let url = self.outputs.get(id).and_then(|o| o.get("artifact-url"));
        url.unwrap_or_else(|| panic!("step {id} uploaded nothing\n{}", self.log))
    }

    fn outcome(&self, id: &str) -> Outcome {
        *self.outcomes.get(id).unwrap_or_else(|| panic!("no step {id} ran or was skipped\n{}", self.log))
    }
}

/// `if:` as the runner reads it, for what this workflow uses: `always()`, `success()`,
/// `failure()` and `steps.ID.outcome == 'WORD'` (or `!=`), joined by `&&`. Without a status
/// function, `success() &&` is implied.
fn condition(expr: &str, job: &Job) -> bool {
    let expr = expr.trim().trim_start_matches("${{").trim_end_matches("}}").trim();
    let mut status_named = false;
    let mut all = true;
    for term in expr.split("&&").map(str::trim) {
        let value = match term {
            "always()" => {
                status_named = true;
                true
            }
            "success()" => {
                status_named = true;
                !job.failed
            }
            "failure()" => {
                status_named = true;
                job.failed
            }
            _ => {
                let (left, right, equal) = if let Some((l, r)) = term.split_once("==") {
                    (l, r, true)
                } else if let Some((l, r)) = term.split_once("!=") {
                    (l, r, false)
                } else {
                    panic!("this test's runner does not know the condition `{term}`: teach it, or keep the workflow's simple");
                };
                let id = left
                    .trim()
                    .strip_prefix("steps.")
                    .and_then(|s| s.strip_suffix(".outcome"))
                    .unwrap_or_else(|| panic!("unknown condition `{term}`"));
                let word = right.trim().trim_matches('\'');
                (job.outcome(id).word() == word) == equal
            }
        };
        all &= value;
    }
    all && (status_named || !job.failed)
}

/// An `env:` value with its `${{ steps.ID.outputs.NAME }}` filled in (empty when the step set
/// none, as on GitHub). Any other expression fails the test: the kit must stay runnable here.
fn expand(value: &str, job: &Job) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${{") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find("}}").expect("closed ${{") + start;
        let expr = rest[start + 3..end].trim();
        let (id, name) = expr
            .strip_prefix("steps.")
            .and_then(|s| s.split_once(".outputs."))
            .unwrap_or_else(|| panic!("this test's runner knows only steps.ID.outputs.NAME, not `{expr}`"));
        out.push_str(job.outputs.get(id).and_then(|o| o.get(name)).map_or("", String::as_str));
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The files under `work/path` that upload-artifact v4 uploads: hidden files and directories
/// (and everything under a hidden path) only with `include-hidden-files: true`.
fn artifact_files(work: &Path, path: &Path, include_hidden: bool) -> Vec<String> {
    let hidden = |p: &Path| p.components().any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
    let root = work.join(path);
    if !root.is_dir() || (!include_hidden && hidden(path)) {
        return Vec::new();
    }
    let mut files: Vec<String> = walkdir::WalkDir::new(&root)
        .into_iter()
        .map(|e| e.expect("walk"))
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(&root).expect("under root").to_path_buf())
        .filter(|rel| include_hidden || !hidden(rel))
        .map(|rel| rel.to_string_lossy().into_owned())
        .collect();
    files.sort();
    files
}

/// What a `uses:` step would do, checked instead of run.
fn emulate(step: &Yaml, work: &Path, job: &mut Job) -> Outcome {
    let uses = step["uses"].as_str().expect("uses");
    let with = map(&step["with"]);
    if uses.starts_with("actions/upload-artifact@") {
        let path = with.get("path").expect("an upload step's path");
        assert!(!path.contains('\n') && !path.contains('*'), "one directory per upload, so its root is plain: {path}");
        let include_hidden = with.get("include-hidden-files").is_some_and(|v| v == "true");
        let path = Path::new(path.trim_end_matches('/'));
        assert!(path.is_relative(), "{}: relative to the workspace", path.display());
        let files = artifact_files(work, path, include_hidden);
        let root = work.join(path);
        if files.is_empty() {
            return match with.get("if-no-files-found").map(String::as_str) {
                Some("error") => Outcome::Failure,
                _ => Outcome::Success,
            };
        }
        let n = job.artifacts.len() + 1;
        let name = with.get("name").expect("an artifact's name").clone();
        job.artifacts.insert(name, Artifact { root, files });
        if let Some(id) = step["id"].as_str() {
            let url = format!("{RUN_URL}/artifacts/{n}");
            job.outputs.entry(id.to_string()).or_default().insert("artifact-url".into(), url);
        }
        Outcome::Success
    } else if uses.starts_with("mikepenz/action-junit-report@") {
        let path = work.join(with.get("report_paths").expect("report_paths"));
        if !path.is_file() {
            return Outcome::Failure;
        }
        let xml = std::fs::read_to_string(&path).expect("junit");
        roxmltree::Document::parse(&xml).unwrap_or_else(|e| panic!("{}: not XML: {e}", path.display()));
        job.junit.push(path);
        Outcome::Success
    } else {
        panic!("this test does not know what {uses} does after setup: teach it");
    }
}

/// Runs the check job of `examples/github-actions.yml` in `work` after its `setup` step.
fn run_workflow(work: &Path) -> Job {
    let workflow = load(WORKFLOW);
    assert_eq!(workflow["defaults"]["run"]["shell"].as_str(), Some("bash"), "the steps' shell is said");
    let all = steps(&workflow);
    let setup = all.iter().position(|s| s["id"].as_str() == Some("setup")).expect("a step with id setup");
    let setup_run = all[setup]["run"].as_str().expect("setup runs a command");
    assert!(setup_run.contains("bash scripts/setup"), "the environment here is the one scripts/setup installs");

    let mut env = map(&workflow["env"]);
    env.extend(map(&workflow["jobs"]["check"]["env"]));
    // The runner's own files, outside the checkout as on GitHub.
    let github = work.with_file_name("runner");
    std::fs::create_dir_all(&github).expect("mkdir");
    let summary_file = github.join("step-summary.md");
    std::fs::write(&summary_file, "").expect("summary file");
    let bin = Path::new(env!("CARGO_BIN_EXE_pixelproof")).parent().expect("the binary's directory");
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());

    let mut job = Job::default();
    for (i, step) in all.iter().enumerate().skip(setup + 1) {
        let id = step["id"].as_str().map_or_else(|| format!("step-{i}"), str::to_string);
        let name = step["name"].as_str().or(step["uses"].as_str()).unwrap_or(&id).to_string();
        let wanted = step["if"].as_str().map_or(!job.failed, |expr| condition(expr, &job));
        if !wanted {
            job.log.push_str(&format!("== {name}: skipped\n"));
            job.outcomes.insert(id, Outcome::Skipped);
            continue;
        }
        let outcome = if step["uses"].as_str().is_some() {
            let outcome = emulate(step, work, &mut job);
            job.log.push_str(&format!("== {name} ({}): {}\n", step["uses"].as_str().unwrap_or(""), outcome.word()));
            outcome
        } else {
            let script = step["run"].as_str().unwrap_or_else(|| panic!("step {name}: neither run nor uses"));
            assert!(!script.contains("${{"), "step {name}: pass values through env:, not ${{{{ }}}} in run:");
            assert!(step["shell"].is_badvalue() && step["working-directory"].is_badvalue(), "step {name}");
            let script_file = github.join(format!("{id}.sh"));
            std::fs::write(&script_file, script).expect("write the step's script");
            let output_file = github.join(format!("{id}.output"));
            std::fs::write(&output_file, "").expect("output file");
            let mut step_env = env.clone();
            for (k, v) in map(&step["env"]) {
                step_env.insert(k, expand(&v, &job));
            }
            let out = Command::new("bash")
                .args(["--noprofile", "--norc", "-eo", "pipefail"])
                .arg(&script_file)
                .current_dir(work)
                .env_remove("PIXELPROOF_TEMPLATES")
                .env_remove("PIXELPROOF_BASELINES")
                .env_remove("PIXELPROOF_FONTS")
                .envs(&step_env)
                .env("PATH", &path)
                .env("CI", "true")
                .env("GITHUB_ACTIONS", "true")
                .env("GITHUB_WORKSPACE", work)
                .env("GITHUB_STEP_SUMMARY", &summary_file)
                .env("GITHUB_OUTPUT", &output_file)
                .output()
                .expect("run bash");
            job.log.push_str(&format!("== {name} (exit {:?})\n{}", out.status.code(), shown(&out)));
            let outputs = std::fs::read_to_string(&output_file).expect("output file");
            let outputs = outputs.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.into(), v.into()));
            job.outputs.entry(id.clone()).or_default().extend(outputs);
            job.exit_codes.insert(id.clone(), out.status.code().unwrap_or(-1));
            if out.status.success() {
                Outcome::Success
            } else {
                Outcome::Failure
            }
        };
        job.failed |= outcome == Outcome::Failure;
        job.outcomes.insert(id, outcome);
    }
    job.summary = std::fs::read_to_string(&summary_file).expect("summary file");
    job
}

/// `summary.json` of a report.
fn summary_json(report: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(report.join("summary.json")).expect("summary.json")).expect("JSON")
}

/// The report directory the check step writes (its `--report`).
fn report_dir(workflow: &Yaml) -> String {
    let run = step(workflow, "check")["run"].as_str().expect("check runs a command");
    let words: Vec<&str> = run.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "--report").expect("the check step names its --report");
    words[at + 1].to_string()
}

#[test]
fn the_workflow_passes_on_the_committed_baselines() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = checkout(tmp.path());
    let workflow = load(WORKFLOW);

    let job = run_workflow(&work);
    assert_eq!(job.exit_codes.get("check"), Some(&0), "{}", job.log);
    assert!(!job.failed, "{}", job.log);
    let report = work.join(report_dir(&workflow));
    for file in ["junit.xml", "index.html", "summary.json"] {
        assert!(report.join(file).is_file(), "{file}\n{}", job.log);
    }
    let totals = &summary_json(&report)["totals"];
    assert!(totals["fixtures"].as_u64().expect("fixtures") >= 5, "{totals}");
    assert_eq!(totals["passed"], totals["fixtures"], "{totals}");

    // The report is uploaded (index, JUnit, summary) and published; there is no candidate to upload.
    let uploaded = &job.artifacts.get("check-report").unwrap_or_else(|| panic!("{}", job.log)).files;
    for file in ["index.html", "junit.xml", "summary.json"] {
        assert!(uploaded.iter().any(|f| f == file), "{file} in {uploaded:?}");
    }
    assert!(!job.artifacts.contains_key("pixelproof-candidates"), "{:?}", job.artifacts);
    assert_eq!(job.junit, [report.join("junit.xml")], "{}", job.log);
    let junit = std::fs::read_to_string(report.join("junit.xml")).expect("junit.xml");
    assert!(!junit.contains("<failure") && !junit.contains("<error"), "{junit}");

    // Nothing failed: no summary.
    assert_eq!(job.outcome("summary"), Outcome::Skipped, "{}", job.log);
    assert_eq!(job.summary, "", "{}", job.log);
}

#[test]
fn a_changed_page_fails_the_workflow_and_the_readme_loop_approves_it() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let work = checkout(tmp.path());
    change_the_invoice(&work);
    let workflow = load(WORKFLOW);

    // 1. CI: the run fails (exit 1) and writes a candidate for each changed fixture.
    let job = run_workflow(&work);
    assert_eq!(job.exit_codes.get("check"), Some(&1), "{}", job.log);
    assert!(job.failed, "{}", job.log);
    let report = work.join(report_dir(&workflow));
    let summary = summary_json(&report);
    let basic = summary["fixtures"].as_array().expect("fixtures").iter().find(|f| f["key"] == "invoice/basic");
    let basic = basic.expect("invoice/basic in summary.json");
    assert_eq!(basic["status"], "candidate", "{basic}");
    let page = basic["reasons"].as_array().expect("reasons").iter().find_map(|r| r["page"].as_u64());
    let page = page.unwrap_or_else(|| panic!("a page-level reason: {basic}"));

    // The job's summary names the fixture, links to the report and says where its page is.
    assert_eq!(job.outcome("summary"), Outcome::Success, "{}", job.log);
    let report_url = job.url("report");
    let line = job.summary.lines().find(|l| l.contains("`invoice/basic`")).unwrap_or_else(|| panic!("{}", job.summary));
    assert!(line.starts_with("- **CANDIDATE** "), "{line}");
    assert!(line.contains(&format!("[`invoice/basic`]({report_url})")), "{line}");
    let anchor = format!("f-invoice-basic-p{page}");
    assert!(
        line.contains(&format!("page {page} (`index.html#{anchor}`)")) && line.contains("pixels changed"),
        "{line}"
    );
    let index = std::fs::read_to_string(report.join("index.html")).expect("index.html");
    assert!(index.contains(&format!("id=\"{anchor}\"")), "the summary's anchor is in index.html");
    let candidates_url = job.url("candidates");
    assert!(job.summary.contains(&format!("[pixelproof-candidates]({candidates_url})")), "{}", job.summary);
    let written = summary["totals"]["candidates_written"].as_u64().expect("candidates_written");
    assert!(job.summary.starts_with(&format!("### pixelproof check: {written} candidate")), "{}", job.summary);
    assert_eq!(job.summary.lines().filter(|l| l.starts_with("- **")).count() as u64, written, "{}", job.summary);

    // The report artifact has the changed page's images; JUnit is published.
    let uploaded = &job.artifacts["check-report"].files;
    assert!(uploaded.contains(&format!("invoice/basic/diff-{page:03}.png")), "{uploaded:?}");
    assert_eq!(job.junit, [report.join("junit.xml")], "{}", job.log);

    // The candidates artifact holds what `check --update` wrote beside the baselines.
    let candidates = job.artifacts.get("pixelproof-candidates").unwrap_or_else(|| panic!("{}", job.log));
    assert_eq!(candidates.root, work.join("baselines/.candidates"));
    assert!(candidates.files.iter().any(|f| f == "invoice/basic/manifest.json"), "{:?}", candidates.files);
    assert!(
        candidates.files.iter().any(|f| f == &format!("invoice/basic/page-{page:03}.png")),
        "{:?}",
        candidates.files
    );

    // 2. README: the candidates artifact is downloaded into baselines/.candidates of a checkout of
    // the same branch (`gh run download … --dir baselines/.candidates`).
    let upload_step = upload(&workflow, "pixelproof-candidates");
    let upload_path = upload_step["with"]["path"].as_str().expect("path").trim_end_matches('/');
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let check = step(&workflow, "check")["run"].as_str().expect("check").trim();
    assert!(readme.contains(&format!("CI runs `{check}`")), "README.md names the workflow's check: {check}");
    let download = format!("gh run download \"$run\" --name pixelproof-candidates --dir {upload_path}");
    assert!(readme.contains(&download), "README.md says how to unpack the candidates: {download}");
    let laptop = tempfile::tempdir().expect("tempdir");
    let mine = checkout(laptop.path());
    change_the_invoice(&mine);
    for file in &candidates.files {
        let to = mine.join(upload_path).join(file);
        std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
        std::fs::copy(candidates.root.join(file), to).expect("unpack");
    }

    // 3. Review and approve, as README.md says.
    assert!(readme.contains(APPROVE), "README.md has the approve command this test runs: {APPROVE}");
    let bin = Path::new(env!("CARGO_BIN_EXE_pixelproof")).parent().expect("bin dir").to_path_buf();
    let shell = |command: &str| -> Output {
        Command::new("bash")
            .args(["-eo", "pipefail", "-c", command])
            .current_dir(&mine)
            .env_remove("PIXELPROOF_TEMPLATES")
            .env_remove("PIXELPROOF_BASELINES")
            .env_remove("PIXELPROOF_FONTS")
            .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
            .env("PIXELPROOF_USER", "reviewer")
            .output()
            .expect("bash")
    };
    let out = shell("pixelproof baseline list");
    assert!(out.status.success() && shown(&out).contains("invoice/basic"), "{}", shown(&out));
    let out = shell(APPROVE);
    assert_eq!(out.status.code(), Some(0), "{}", shown(&out));
    let audit = std::fs::read_to_string(mine.join("baselines/audit.jsonl")).expect("audit log");
    assert!(audit.lines().last().is_some_and(|l| l.contains("new totals padding")), "{audit}");

    // 4. Committed, the approved baselines pass CI: nothing written, no summary.
    let job = run_workflow(&mine);
    assert_eq!(job.exit_codes.get("check"), Some(&0), "{}", job.log);
    assert!(!job.failed && job.summary.is_empty(), "{}", job.log);
    assert!(!job.artifacts.contains_key("pixelproof-candidates"), "{:?}", job.artifacts);
}

/// `examples/gitlab-ci.yml` runs the GitHub job's check, in the same image, and keeps the same
/// report, candidates and JUnit file. (Its commands are the GitHub job's, which run above.)
#[test]
fn the_gitlab_job_runs_the_same_check_and_keeps_the_same_files() {
    let github = load(WORKFLOW);
    let gitlab = load("examples/gitlab-ci.yml");
    let job = &gitlab["visual-regression"];
    assert_eq!(job["image"].as_str(), github["jobs"]["check"]["container"].as_str(), "the same image");
    let lines = |key: &str| -> Vec<String> {
        job[key]
            .as_vec()
            .unwrap_or_else(|| panic!("{key}"))
            .iter()
            .map(|l| l.as_str().expect("a line").to_string())
            .collect()
    };
    assert!(lines("before_script").iter().any(|l| l == "bash scripts/setup"), "{:?}", lines("before_script"));
    let check = step(&github, "check")["run"].as_str().expect("check").trim();
    assert_eq!(lines("script"), [check.to_string()]);
    assert!(lines("after_script").iter().any(|l| l.starts_with("bash examples/ci/step-summary.sh ")));

    let artifacts = &job["artifacts"];
    assert_eq!(artifacts["when"].as_str(), Some("always"));
    let paths: Vec<&str> = artifacts["paths"].as_vec().expect("paths").iter().filter_map(Yaml::as_str).collect();
    for name in ["check-report", "pixelproof-candidates"] {
        let path = upload(&github, name)["with"]["path"].as_str().expect("path");
        assert!(paths.contains(&path), "{path} in {paths:?}");
    }
    let junit = step_with(&github, "mikepenz/action-junit-report@");
    assert_eq!(artifacts["reports"]["junit"].as_str(), junit["with"]["report_paths"].as_str());
    assert_eq!(
        job["variables"]["PIXELPROOF_USER"].as_str(),
        github["jobs"]["check"]["env"]["PIXELPROOF_USER"].as_str()
    );
}

fn step_with<'a>(workflow: &'a Yaml, uses: &str) -> &'a Yaml {
    steps(workflow)
        .iter()
        .find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with(uses)))
        .unwrap_or_else(|| panic!("no step uses {uses}"))
}
