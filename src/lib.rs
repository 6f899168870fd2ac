//! pixelproof: pixel-perfect HTML-to-PDF rendering that proves every PDF it ships.
//!
//! The modules follow a job's path through the pipeline (see ARCHITECTURE.md):
//! `job` → `template` → `render` (Chromium) → `raster` (PDFium) → `fontcheck` →
//! `compare` (pixelmatch + verdict) → `baseline` (golden pages, candidates, audit log),
//! with `check` driving every fixture through that path and `cli` as the thin command-line edge.
//! The service wraps the path: `api` (HTTP edge, with `request`) → `service` (submit, workers,
//! verification, `fallback`) over `jobs`, `queue`, `store`, `routing` and `data`, with `review`
//! for operators (its page and the check report are `ui`'s templates) and `webhook` for notifying apps.

pub mod api;
pub mod app;
pub mod audit;
pub mod baseline;
pub mod bundled;
pub mod check;
pub mod cli;
pub mod compare;
pub mod data;
pub mod durable;
pub mod error_chain;
pub mod fallback;
pub mod fontcheck;
pub mod fonts;
pub mod idempotency;
pub mod job;
pub mod jobs;
pub mod pdf_bytes;
pub mod pins;
pub mod pipeline;
pub mod queue;
pub mod raster;
pub mod render;
pub mod request;
pub mod review;
pub mod routing;
pub mod rules;
pub mod service;
pub mod store;
pub mod template;
pub mod ui;
pub mod webhook;
