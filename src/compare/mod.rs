//! Compare: a candidate's pages against a baseline's.
//!
//! `pixelmatch` is a faithful port of the pixelmatch algorithm (npm `pixelmatch@7.2.0`);
//! `regions` turns changed pixels into bounding boxes; `verdict` applies the rule that
//! decides whether a page set passes. Nothing here renders, reads files or knows about
//! templates: images and text in, numbers and images out.

pub mod pixelmatch;
pub mod regions;
pub mod verdict;
