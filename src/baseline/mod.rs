//! Baselines: approved page images per template fixture, their manifest, candidates
//! waiting for review, and the audit log of every decision.
//! SKELETON: being written; see issue 2.
