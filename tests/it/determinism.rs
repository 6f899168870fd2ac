//! Same job, same environment ⇒ identical rasters: every fixture of every bundled template
//! is rendered twice, at the same time on two different browsers, and every page must match
//! byte for byte (0 pixels differ), with the same text layer.

use crate::support;

use std::time::Duration;

use pixelproof::template::{default_templates_dir, Catalog};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_renders_identically_twice() {
    let catalog = Catalog::load(&default_templates_dir()).expect("the bundled templates load");
    assert!(catalog.templates.len() >= 3, "expected at least three bundled templates");
    let engine = support::engine(2, Duration::from_secs(60)).await;
    let mut fixtures_seen = 0;
    for template in &catalog.templates {
        let fixtures = template.fixtures().expect("fixtures load");
        assert!(!fixtures.is_empty(), "template {} has no fixtures", template.name);
        for fixture in fixtures {
            let label = format!("{}/{}", template.name, fixture.name);
            let doc = template.document(&fixture.data, &label).expect("fixture renders as a document");
            let (a, b) = tokio::join!(engine.prove(&doc), engine.prove(&doc));
            let (a, b) = (a.expect("first render"), b.expect("second render"));
            assert!(!a.pages.is_empty(), "{label}: no pages");
            assert_eq!(a.pages.len(), b.pages.len(), "{label}: page counts differ");
            for (pa, pb) in a.pages.iter().zip(&b.pages) {
                assert_eq!(pa.image.dimensions(), pb.image.dimensions(), "{label} page {}", pa.number);
                let differing = pa.image.pixels().zip(pb.image.pixels()).filter(|(x, y)| x != y).count();
                assert_eq!(differing, 0, "{label} page {}: {differing} pixels differ between two renders", pa.number);
                assert_eq!(pa.text, pb.text, "{label} page {}: text layers differ", pa.number);
            }
            assert!(a.rendered.blocked.is_empty(), "{label} tried to load {:?}", a.rendered.blocked);
            assert!(a.fonts.problems.is_empty(), "{label} font problems: {:?}", a.fonts.problems);
            fixtures_seen += 1;
        }
    }
    assert!(fixtures_seen >= 5, "only {fixtures_seen} fixtures");
    engine.chromium.shutdown().await;
}
