//! The bundled templates do what the issue asks of them, checked on real renders: the
//! invoice repeats its table header on every page, the report numbers its pages "X of Y" in
//! its running footer and starts each section on a new page, the Arabic, Cyrillic, Japanese and
//! emoji fixtures draw with bundled fonts, and the certificate is full-bleed.

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

/// Japanese (Noto Sans CJK) and colour emoji (Noto Color Emoji) print with the bundled fonts and
/// no substitution. Chromium embeds both as unnamed Type 3 fonts, so the proof is the font
/// check's text rule (every character has a glyph in a bundled face) plus the page itself: the
/// rule is shown to fire on the same pipeline, and the emoji are shown to be in colour.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn japanese_and_emoji_print_with_bundled_fonts_and_no_substitution() {
    let engine = support::engine(1, Duration::from_secs(60)).await;

    // `prove` asserts no font problem and no refused request.
    let ja = prove(&engine, "certificate", "japanese").await;
    let text = &ja.pages[0].text;
    for expected in ["修了証書", "山田 花子", "Rustによる高度データエンジニアリング", "2025年6月12日"]
    {
        assert!(text.contains(expected), "{expected:?} is not in the text layer: {text}");
    }
    assert!(ja.fonts.embedded.iter().all(|f| engine.fonts.knows(f)), "{:?}", ja.fonts.embedded);

    let emoji = prove(&engine, "notice", "emoji").await;
    let text = &emoji.pages[0].text;
    // (Chromium's text layer names most emoji, not all: 🇯🇵, 🛠️ and 🖨️ come out as nothing or
    // their variation selector alone, though the page draws them.)
    for expected in ["🚀", "👍🏽", "👩🏽\u{200d}💻", "🇧🇷", "❤"] {
        assert!(text.contains(expected), "{expected:?} is not in the text layer: {text}");
    }
    // Colour: the notice's own ink is navy, grey and blue; ❤️ and 🎉 bring saturated red.
    let red = emoji.pages[0].image.pixels().filter(|p| p.0[0] > 200 && p.0[1] < 90 && p.0[2] < 90).count();
    assert!(red > 50, "only {red} red pixels: the emoji were not drawn in colour");

    // The same rule fails text no bundled font draws (Yi, Tibetan), on the same pipeline.
    let tofu = support::html_doc("tofu", "<!doctype html><p lang=ja>修了 \u{A000}\u{A001} \u{0F00}</p>", &[]);
    let proof = engine.prove(&tofu).await.expect("prove");
    let missing: Vec<_> = proof.fonts.problems.iter().filter(|p| p.requested == "(missing glyphs)").collect();
    assert_eq!(missing.len(), 1, "{:?}", proof.fonts.problems);
    // Chromium maps a run of missing glyphs to one of its characters: U+A000 or U+A001.
    let detail = &missing[0].detail;
    assert!(detail.contains("U+A00") && detail.contains("U+0F00") && !detail.contains("U+4FEE"), "{detail}");
    engine.chromium.shutdown().await;
}
