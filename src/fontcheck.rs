//! Font substitution is an error, not a surprise.
//!
//! After a document is printed, every font embedded in the PDF must be a bundled one or
//! one the document declared itself, and every family the text asked for must have
//! loaded. A face in state `error`, or text whose requested family Chromium replaced
//! with another, is reported naming the family asked for and the font used instead:
//! an error for template documents (and strict raw-HTML jobs), a warning otherwise.
//! SKELETON: being written; see issue 2.

use serde::{Deserialize, Serialize};

/// One font problem found in a printed document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FontProblem {
    /// The family the document asked for.
    pub requested: String,
    /// The font used instead (or `none` when nothing was embedded for it).
    pub used: String,
    /// A sentence for the person reading the result.
    pub detail: String,
}

/// What the font check found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FontReport {
    /// Every font embedded in the PDF (subset prefixes stripped), sorted.
    pub embedded: Vec<String>,
    pub problems: Vec<FontProblem>,
    /// True when problems fail the document (template jobs, strict HTML jobs).
    pub strict: bool,
}

impl FontReport {
    /// True when the document must fail because of its fonts.
    pub fn fails(&self) -> bool {
        self.strict && !self.problems.is_empty()
    }
}
