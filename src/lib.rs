//! pixelproof: pixel-perfect HTML-to-PDF rendering that proves every PDF it ships.
//!
//! The modules are declared by layer, highest first (ARCHITECTURE.md, "Layers"); a module
//! uses only its own layer or lower ones (`scripts/check-layers`). A job's path runs down
//! through them: the edges take it (`cli`, `api`), `app` builds what serves it, `service`
//! queues it and makes an `attempt` (route → `pipeline`: `render` in Chromium, `raster` with
//! PDFium, `fontcheck` → `rules` against its `baseline` → the `fallback` when that fails), and
//! `jobs` keeps the record, the PDF and the verdict.

// Edges: the command line and HTTP.
pub mod api;
pub mod cli;

// The composition root and the backends it opens.
pub mod app;
pub mod data;

// The job path, the operators' decisions, the check run, callbacks.
pub mod check;
pub mod review;
pub mod service;
pub mod webhook;

// Engines, rules, baselines and backends.
pub mod audit;
pub mod baseline;
pub mod fallback;
pub mod fontcheck;
pub mod idempotency;
pub mod jobs;
pub mod pipeline;
pub mod queue;
pub mod raster;
pub mod render;
pub mod request;
pub mod routing;
pub mod rules;
pub mod store;

// Documents, comparison, pages and plain helpers.
pub mod bundled;
pub mod compare;
pub mod document;
pub mod durable;
pub mod error_chain;
pub mod fixture;
pub mod fonts;
pub mod page_file;
pub mod pdf_bytes;
pub mod pins;
pub mod postprocess;
pub mod template;
pub mod ui;
