//! The expected PDF size of a template's jobs, per renderer: the largest bytes-per-page of
//! the template's fixtures printed on this machine, measured once (the first time a job of
//! that template is verified by that renderer) and kept for the process's life.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use super::Service;
use crate::template::Template;

type Cell = Arc<OnceCell<Option<u64>>>;

/// Measured sizes, by (template, renderer name).
#[derive(Default)]
pub struct Sizes(Mutex<HashMap<(String, &'static str), Cell>>);

impl Sizes {
    fn cell(&self, template: &str, renderer: &'static str) -> Cell {
        let mut map = match self.0.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry((template.to_string(), renderer)).or_default().clone()
    }
}

impl Service {
    /// Expected bytes per page for `template` printed by `renderer` (`chromium` or
    /// `fallback`); `None` when no fixture could be printed (then the size rule is skipped).
    pub(super) async fn bytes_per_page(&self, template: &Template, renderer: &'static str) -> Option<u64> {
        let cell = self.sizes.cell(&template.name, renderer);
        *cell.get_or_init(|| self.measure(template, renderer)).await
    }

    async fn measure(&self, template: &Template, renderer: &'static str) -> Option<u64> {
        let fixtures = match template.fixtures() {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(template = %template.name, error = %e, "no fixtures to measure the expected PDF size");
                return None;
            }
        };
        let mut largest: Option<u64> = None;
        for fixture in fixtures {
            let label = format!("{}/{}", template.name, fixture.name);
            let Ok(doc) = template.document(&fixture.data, &label) else { continue };
            let pdf = match renderer {
                "fallback" => match &self.fallback {
                    Some(f) => f.render(&doc).await.map(|r| r.pdf).map_err(|e| e.to_string()),
                    None => return None,
                },
                _ => self.engine.chromium.render(&doc).await.map(|r| r.pdf).map_err(|e| e.to_string()),
            };
            let pdf = match pdf {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(fixture = %label, error = %e, "could not print a fixture to measure its size");
                    continue;
                }
            };
            let pages = match self.engine.rasterize(&pdf).await {
                Ok(p) if !p.is_empty() => p.len() as u64,
                _ => continue,
            };
            let per_page = pdf.len() as u64 / pages;
            largest = Some(largest.map_or(per_page, |l| l.max(per_page)));
        }
        tracing::info!(template = %template.name, renderer, bytes_per_page = ?largest, "expected PDF size measured");
        largest
    }
}
