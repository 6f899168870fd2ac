//! The check run: every fixture of every template through the pipeline, compared with
//! its baseline; writes the HTML report, JUnit XML and summary JSON.
//! SKELETON: being written; see issue 2.
