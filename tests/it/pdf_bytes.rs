//! Same document, same environment ⇒ identical PDF bytes, on Chromium and on the fallback:
//! `pixelproof render` prints one document twice, a second apart (the writers' clocks tick),
//! and the files must be equal; PDFium and poppler still read the normalised file.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support;

fn render(dir: &Path, renderer: &str, out: &str) -> Vec<u8> {
    let out = dir.join(out);
    let res = support::pixelproof()
        .args(["render", "--renderer", renderer, "--html"])
        .arg(dir.join("page.html"))
        .arg("-o")
        .arg(&out)
        .args(["--title", "Report (/CreationDate (D:19990101000000))"])
        .output()
        .expect("run pixelproof");
    assert!(res.status.success(), "{}", String::from_utf8_lossy(&res.stderr));
    std::fs::read(out).expect("the PDF was written")
}

fn page(dir: &Path) {
    let rows: String = (1..=90).map(|i| format!("<p>Line {i} of the report, the same every time.</p>")).collect();
    let html = format!(
        "<!doctype html><html><head><link rel=stylesheet href=s.css></head>\
         <body><h1>Quarterly report</h1>{rows}</body></html>"
    );
    std::fs::write(dir.join("page.html"), html).expect("write page");
    std::fs::write(dir.join("s.css"), "body { font-family: 'DejaVu Serif'; } h1 { font-family: 'DejaVu Sans'; }")
        .expect("write css");
}

fn pdfinfo(pdf: &[u8]) -> String {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), pdf).expect("write");
    let out = Command::new("pdfinfo").args(["-isodates"]).arg(file.path()).output().expect("pdfinfo");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "poppler reads it: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn two_prints_of_a_document_are_byte_identical_on_both_engines() {
    let tmp = tempfile::tempdir().expect("temp dir");
    page(tmp.path());
    for renderer in ["chromium", "fallback"] {
        let a = render(tmp.path(), renderer, &format!("{renderer}-a.pdf"));
        std::thread::sleep(Duration::from_millis(1100));
        let b = render(tmp.path(), renderer, &format!("{renderer}-b.pdf"));
        let differing = a.iter().zip(&b).filter(|(x, y)| x != y).count();
        assert!(a == b, "{renderer}: {} vs {} bytes, {differing} bytes differ", a.len(), b.len());
        let info = pdfinfo(&a);
        let pages = info.lines().find_map(|l| l.strip_prefix("Pages:")).map(str::trim).unwrap_or_default();
        assert!(pages.parse::<u32>().is_ok_and(|n| n >= 2), "a document of several pages: {info}");
        if renderer == "chromium" {
            for field in ["CreationDate:", "ModDate:"] {
                let value = info.lines().find_map(|l| l.strip_prefix(field)).map(str::trim).unwrap_or_default();
                assert_eq!(value, "2000-01-01T00:00:00Z", "{field} is the fixed instant: {info}");
            }
        }
        assert!(info.contains("(/CreationDate (D:19990101000000))"), "the title is untouched: {info}");
    }
}

#[test]
fn pdfium_reads_a_normalised_pdf_as_it_read_the_printed_one() {
    let tmp = tempfile::tempdir().expect("temp dir");
    page(tmp.path());
    let normalised = render(tmp.path(), "chromium", "n.pdf");
    // The PDF as Chromium printed it: the moment of printing in the dates (same length).
    let mut printed = normalised.clone();
    let fixed = b"D:20000101000000";
    let mut replaced = 0;
    for at in 0..printed.len().saturating_sub(fixed.len()) {
        if &printed[at..at + fixed.len()] == fixed {
            printed[at..at + fixed.len()].copy_from_slice(b"D:20261206051504");
            replaced += 1;
        }
    }
    assert_eq!(replaced, 2, "CreationDate and ModDate");
    assert_eq!(pixelproof::pdf_bytes::normalize(printed.clone()), normalised, "normalising is what made them equal");
    let pdfium = pixelproof::pins::Pins::compiled().check_pdfium().expect("PDFium; run scripts/setup");
    let raster = pixelproof::raster::Rasterizer::shared(&pdfium).expect("load PDFium");
    let (a, b) =
        (raster.rasterize(&printed, 72, 10).expect("printed"), raster.rasterize(&normalised, 72, 10).expect("n"));
    assert_eq!(a.len(), b.len());
    assert!(a.len() >= 2, "{} pages", a.len());
    for (pa, pb) in a.iter().zip(&b) {
        assert_eq!(pa.text, pb.text);
        assert!(pa.image == pb.image, "page {}: pixels differ", pa.number);
    }
    assert!(b[0].text.contains("Quarterly report"), "{}", b[0].text);
}
