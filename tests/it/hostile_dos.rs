//! Documents that try to keep a renderer busy forever or eat the machine: each one ends within
//! its limit (with an error that names the limit, or as a PDF when the trick did not hold the
//! print), the browser is recycled when it was left mid-load, and the next document prints
//! normally. Through the engine (Chromium), the fallback, and the API with its limits.

use crate::support;

use std::time::{Duration, Instant};

use pixelproof::fallback::{FallbackConfig, FallbackRenderer};
use pixelproof::pipeline::{Engine, EngineConfig, EngineError};
use pixelproof::raster::RasterError;
use reqwest::StatusCode;
use serde_json::json;

use support::html_doc;

/// The render timeout the tests run with.
const LIMIT: Duration = Duration::from_secs(8);
/// Pages a document may have in these tests.
const MAX_PAGES: usize = 50;
/// How long past its limit a document may take to end (browser replacement, PDF checks): a
/// generous bound, since the point is that it ends, not how fast.
const GRACE: Duration = Duration::from_secs(20);

fn table(rows: usize) -> String {
    let body: String = (0..rows).map(|i| format!("<tr><td>{i}</td><td>row {i} of the table</td></tr>")).collect();
    format!("<table>{body}</table>")
}

fn pages(n: usize) -> String {
    (0..n).map(|i| format!("<div style=\"break-after: page\">page {i}</div>")).collect()
}

/// A 20×20 red PNG (for the lazy image).
fn red_png() -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(20, 20, image::Rgba([255, 0, 0, 255]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).expect("encode a PNG");
    out.into_inner()
}

fn red_pixels(img: &image::RgbaImage) -> usize {
    img.pixels().filter(|p| p[0] > 200 && p[1] < 80 && p[2] < 80).count()
}

/// How a hostile document must end.
enum Expect {
    /// The render timeout, named.
    Timeout,
    /// The page limit, named.
    TooManyPages,
    /// Either limit: which one trips first depends on the machine's speed.
    SomeLimit,
    /// The JavaScript heap limit: the page crashed, and says why.
    HeapLimit,
    /// A PDF whose text has this (the trick did not hold the print).
    Prints(&'static str),
}

struct Case {
    name: &'static str,
    html: String,
    expect: Expect,
}

fn cases() -> Vec<Case> {
    let case = |name, html: &str, expect| Case { name, html: html.to_string(), expect };
    vec![
        case("infinite loop", "<p>loop</p><script>while (true) {}</script>", Expect::Timeout),
        case(
            "infinite loop after load",
            "<p>late loop</p><script>addEventListener('load', () => { for (;;) {} })</script>",
            Expect::Timeout,
        ),
        case(
            "promise that never resolves",
            "<p>promise</p><script>new Promise(() => {}).then(() => document.body.append('never'))</script>",
            Expect::Prints("promise"),
        ),
        case(
            "pixelproofReady that never resolves",
            "<p>never ready</p><script>window.pixelproofReady = new Promise(() => {})</script>",
            Expect::Timeout,
        ),
        case(
            "pixelproofReady after async work",
            "<p>ready</p><script>window.pixelproofReady = new Promise(r => setTimeout(r, 300))\
             .then(() => document.body.append('drawn-late'))</script>",
            Expect::Prints("drawn-late"),
        ),
        case(
            "module awaiting forever",
            "<p>awaiting</p><script type=module>await new Promise(() => {}); document.body.append('never')</script>",
            Expect::Prints("awaiting"),
        ),
        case(
            "alert()",
            "<p>alert</p><script>alert('hello'); document.body.append('after-alert')</script>",
            Expect::Prints("after-alert"),
        ),
        case(
            "confirm() and prompt()",
            "<p>ask</p><script>document.body.append('answers ' + confirm('sure?') + ' ' + prompt('name?'))</script>",
            Expect::Prints("answers false null"),
        ),
        case(
            "print()",
            "<p>print</p><script>print(); document.body.append('after-print')</script>",
            Expect::Prints("after-print"),
        ),
        case(
            "onbeforeunload and a navigation",
            "<p>stay</p><script>onbeforeunload = e => { e.preventDefault(); return 'stay'; };\
             setTimeout(() => location.href = 'https://document.invalid/elsewhere.html', 10)</script>",
            Expect::Prints("stay"),
        ),
        case(
            "history.pushState elsewhere",
            "<p>pushed</p><script>history.pushState({}, '', '/elsewhere/page?x=1'); \
             history.replaceState({}, '', '/again#frag')</script>",
            Expect::Prints("pushed"),
        ),
        case(
            "an image that keeps restarting",
            "<p>restarting</p><img id=i src=red.png><script>let n = 0; const t = setInterval(() => \
             { i.src = 'red.png?' + n++; if (n > 50) clearInterval(t); }, 5)</script>",
            Expect::Prints("restarting"),
        ),
        case(
            "memory bomb",
            "<p>bomb</p><script>const a = []; for (;;) a.push(new Array(1e6).fill(1.5));</script>",
            Expect::HeapLimit,
        ),
        case("50,000-row table", &table(50_000), Expect::SomeLimit),
        case("5,000 pages", &pages(5_000), Expect::TooManyPages),
        case(
            "huge canvas",
            "<canvas id=c width=30000 height=30000></canvas><script>const x = c.getContext('2d');\
             if (x) { x.fillStyle = 'red'; x.fillRect(0, 0, 30000, 30000); } document.body.append('canvas done')</script>",
            Expect::SomeLimit,
        ),
        case(
            "huge SVG",
            "<p>svg</p><svg xmlns='http://www.w3.org/2000/svg' width='20000' height='20000'>\
             <rect width='20000' height='20000' fill='blue'/></svg>",
            Expect::SomeLimit,
        ),
        case(
            "enormous data URI",
            &format!("<p>data uri</p><img src=\"data:image/png;base64,{}\">", "A".repeat(30 << 20)),
            Expect::Prints("data uri"),
        ),
    ]
}

fn check_limit_error(name: &str, message: &str, expect: &Expect) {
    let timeout = message.contains("(render timeout)") && message.contains(&format!("{LIMIT:?}"));
    let pages = message.contains(&format!("more than {MAX_PAGES} pages")) && message.contains("--max-pages");
    let ok = match expect {
        Expect::Timeout => timeout,
        Expect::TooManyPages => pages,
        Expect::SomeLimit => timeout || pages,
        Expect::HeapLimit => message.contains("crashed") && message.contains("MiB a document's JavaScript may use"),
        Expect::Prints(_) => false,
    };
    assert!(ok, "{name}: the error must name the limit it hit, got: {message}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_denial_of_service_ends_within_its_limit_and_the_next_document_prints() {
    // One browser: every case and every canary after it go through the same pool slot.
    let config = EngineConfig { pool_size: 1, render_timeout: LIMIT, max_pages: MAX_PAGES, ..EngineConfig::default() };
    let engine = Engine::start(config).await.expect("the engine starts (run scripts/setup first)");
    let canary = html_doc("canary", "<p style='font-family: DejaVu Sans'>canary after the attack</p>", &[]);
    let mut report = Vec::new();
    for case in cases() {
        let before = engine.chromium.idle_pids();
        let doc = html_doc(case.name, &case.html, &[("red.png", &red_png())]);
        let started = Instant::now();
        let result = engine.prove(&doc).await;
        let took = started.elapsed();
        assert!(took < LIMIT + GRACE, "{}: took {took:?}, past the {LIMIT:?} limit", case.name);
        let outcome = match (&result, &case.expect) {
            (Ok(proof), _) => {
                let text: String = proof.pages.iter().map(|p| p.text.as_str()).collect();
                assert!(proof.pages.len() <= MAX_PAGES, "{}: {} pages", case.name, proof.pages.len());
                match &case.expect {
                    Expect::Prints(needle) => {
                        assert!(text.contains(needle), "{}: {needle:?} not in {text:?}", case.name)
                    }
                    Expect::SomeLimit => {}
                    other => panic!("{}: printed, but must have hit {}", case.name, describe(other)),
                }
                format!("printed {} page(s)", proof.pages.len())
            }
            (Err(e), _) => {
                check_limit_error(case.name, &e.to_string(), &case.expect);
                if matches!(e, EngineError::Render(pixelproof::render::RenderError::Timeout { .. })) {
                    // Left mid-load: that browser must not print the next document.
                    assert_ne!(engine.chromium.idle_pids(), before, "{}: the browser was not recycled", case.name);
                }
                match e {
                    EngineError::Raster(RasterError::TooManyPages { .. }) => "page limit".to_string(),
                    EngineError::Render(pixelproof::render::RenderError::PageCrashed { .. }) => {
                        "heap limit".to_string()
                    }
                    _ => "render timeout".to_string(),
                }
            }
        };
        let next = engine
            .prove(&canary)
            .await
            .unwrap_or_else(|e| panic!("after {}: the next document failed: {e}", case.name));
        assert!(next.pages[0].text.contains("canary after the attack"), "after {}", case.name);
        report.push(format!("{:<32} {outcome:<18} {:>6.2} s", case.name, took.as_secs_f64()));
    }
    eprintln!("{}", report.join("\n"));
    engine.chromium.shutdown().await;
}

fn describe(e: &Expect) -> &'static str {
    match e {
        Expect::Timeout => "the render timeout",
        Expect::TooManyPages => "the page limit",
        Expect::SomeLimit => "a limit",
        Expect::HeapLimit => "the JavaScript heap limit",
        Expect::Prints(_) => "nothing",
    }
}

/// A lazy image below the fold used to hold the print until the timeout (it never started
/// loading); now every image is loaded, and printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lazy_image_below_the_fold_is_loaded_and_printed() {
    let engine = support::engine(1, LIMIT).await;
    let html =
        "<p>lazy</p><div style='height: 5000px'></div><img loading=lazy src=red.png width=40 height=40><p>end</p>";
    let proof = engine.prove(&html_doc("lazy", html, &[("red.png", &red_png())])).await.expect("prints");
    let red: usize = proof.pages.iter().map(|p| red_pixels(&p.image)).sum();
    assert!(red > 100, "the lazy image is not on any page ({red} red pixels)");
    engine.chromium.shutdown().await;
}

/// Chromium draws no frames for a screen (`render::browser::FLAGS`): pixelproof begins them
/// itself while the document loads. A document that draws in animation frames, and one that
/// waits for an IntersectionObserver, still prints what they drew.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_document_draws_in_animation_frames_and_observers_is_printed() {
    let engine = support::engine(1, LIMIT).await;
    let html = "<p>frames</p><canvas id=c width=120 height=120></canvas><div id=d>observed</div><script>\
        requestAnimationFrame(() => requestAnimationFrame(() => { const x = c.getContext('2d'); \
        x.fillStyle = 'red'; x.fillRect(0, 0, 120, 120); document.body.append('drawn-in-a-frame'); }));\
        new IntersectionObserver(es => { if (es[0].isIntersecting) d.append(' and-seen'); }).observe(d);\
        </script>";
    let proof = engine.prove(&html_doc("frames", html, &[])).await.expect("prints");
    let text: String = proof.pages.iter().map(|p| p.text.as_str()).collect();
    assert!(text.contains("drawn-in-a-frame"), "the animation frame's text is missing: {text:?}");
    assert!(text.contains("and-seen"), "the observer's text is missing: {text:?}");
    let red: usize = proof.pages.iter().map(|p| red_pixels(&p.image)).sum();
    assert!(red > 1000, "the canvas drawn in a frame is not printed ({red} red pixels)");
    engine.chromium.shutdown().await;
}

/// The fallback renderer: a document too long for the page limit ends within the fallback
/// timeout with an error naming a limit, and WeasyPrint prints the next document normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_ends_a_document_past_its_limits() {
    let rasterizer = support::rasterizer();
    let limit = Duration::from_secs(20);
    let config = FallbackConfig { timeout: limit, max_pages: MAX_PAGES, ..FallbackConfig::new(support::fonts()) };
    let fallback = FallbackRenderer::new(config).expect("WeasyPrint (run scripts/setup)");
    for (name, html) in [("5,000 pages", pages(5_000)), ("50,000-row table", table(50_000))] {
        let started = Instant::now();
        let result = fallback.prove(&html_doc(name, &html, &[]), &rasterizer, 72).await;
        let took = started.elapsed();
        let message = match result {
            Ok(proof) => panic!("{name}: the fallback printed {} pages past the limit", proof.pages.len()),
            Err(e) => e.to_string(),
        };
        let named = message.contains("(fallback timeout)") || message.contains("--max-pages");
        assert!(named, "{name}: {message}");
        assert!(took < limit + GRACE, "{name}: took {took:?}");
        let next = fallback.prove(&html_doc("canary", "<p>canary</p>", &[]), &rasterizer, 72).await.expect("canary");
        assert!(next.pages[0].text.contains("canary"), "after {name}");
        eprintln!(
            "fallback: {name}: {} in {:.1} s",
            if message.contains("--max-pages") { "page limit" } else { "timeout" },
            took.as_secs_f64()
        );
    }
}

/// The API's limits: each is a problem+json 4xx naming the flag (or the render timeout) that
/// sets it, and the service renders normally after every one.
#[test]
fn the_api_limits_answer_problems_that_name_their_flag() {
    let data = tempfile::tempdir().expect("temp data dir");
    let server = support::service::Server::start(
        data.path(),
        &[
            "--render-timeout-secs",
            "5",
            "--max-pages",
            "20",
            // Small enough that the client has sent the whole body before the server answers
            // 413 and closes (past the socket buffers, the client sees a reset instead).
            "--max-body-bytes",
            "300000",
            "--max-html-bytes",
            "100000",
            "--max-data-bytes",
            "20000",
            "--max-data-depth",
            "8",
            "--max-asset-bytes",
            "50000",
            "--workers",
            "1",
        ],
    );
    // No connection reuse: the server closes the connection after answering an oversize body
    // with 413 before reading it, and a pooled client would send the next request down it.
    let http = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(120))
        .build()
        .expect("HTTP client");
    // The start-up check holds the one browser for a while: time the limits after it.
    let deadline = Instant::now() + Duration::from_secs(180);
    while http.get(server.url("/readyz")).send().map(|r| r.status()).ok() != Some(StatusCode::OK) {
        assert!(Instant::now() < deadline, "not ready after 180 s");
        std::thread::sleep(Duration::from_millis(250));
    }
    let url = server.url("/v1/render");
    let deep = (0..12).fold(json!("leaf"), |inner, _| json!({ "x": inner }));
    let mut invoice = support::service::fixture("invoice", "basic");
    invoice["note"] = json!("x".repeat(30_000));
    use base64::Engine as _;
    let asset = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 60_000]);
    let cases: Vec<(&str, reqwest::blocking::RequestBuilder, StatusCode, &str)> = vec![
        (
            "body",
            http.post(&url).header("Content-Type", "application/json").body(vec![b' '; 320_000]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "--max-body-bytes",
        ),
        (
            "html",
            http.post(&url).json(&json!({"html": "x".repeat(150_000)})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "--max-html-bytes",
        ),
        (
            "data",
            http.post(&url).json(&json!({"template": "invoice", "data": invoice})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "--max-data-bytes",
        ),
        (
            "depth",
            http.post(&url).json(&json!({"template": "invoice", "data": {"deep": deep}})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "--max-data-depth",
        ),
        (
            "assets",
            http.post(&url).json(&json!({"html": "<img src=a.bin>", "assets": {"a.bin": asset}})),
            StatusCode::PAYLOAD_TOO_LARGE,
            "--max-asset-bytes",
        ),
        ("pages", http.post(&url).json(&json!({"html": pages(500)})), StatusCode::UNPROCESSABLE_ENTITY, "--max-pages"),
        (
            "memory",
            http.post(&url)
                .json(&json!({"html": "<script>const a = []; for (;;) a.push(new Array(1e6).fill(1));</script>"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "JavaScript may use",
        ),
        (
            "render time",
            http.post(&url).json(&json!({"html": "<script>while (true) {}</script>"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "render timeout",
        ),
    ];
    for (name, request, status, needle) in cases {
        let started = Instant::now();
        let response = request.send().unwrap_or_else(|e| panic!("{name}: {e}"));
        let took = started.elapsed();
        support::service::assert_problem(response, status, needle);
        assert!(took < Duration::from_secs(5) + GRACE, "{name}: took {took:?}");
        let ok = http.post(&url).json(&json!({"html": "<p>after</p>"})).send().expect("the next render");
        assert_eq!(ok.status(), StatusCode::OK, "after {name}");
        eprintln!("api limit {name}: {status} in {:.2} s", took.as_secs_f64());
    }
    // A queued job past the page limit is failed at once, naming the limit (not retried).
    let id = support::service::submit(&server, "", &json!({"html": pages(500)}));
    let record = support::service::wait_settled(&server, "", &id, Duration::from_secs(60));
    assert_eq!(record["state"], "failed", "{record}");
    let error = record["error"].as_str().unwrap_or_default();
    assert!(error.contains("--max-pages"), "{record}");
}
