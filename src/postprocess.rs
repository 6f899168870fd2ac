//! Post-processing: what is done to a printed PDF's bytes before it is proved, so the bytes
//! that ship are the bytes that were proved: the documents merged into it ([`merge`]), the
//! document's watermark ([`watermark`]), then its [`Metadata`] (the Info dictionary: title, author, subject, keywords, creator,
//! producer, dates).
//!
//! Why a library: the Info dictionary must often gain keys (Chromium writes only Title,
//! Creator, Producer and the dates), which means new objects and a new cross-reference
//! table, i.e. a PDF writer. `lopdf` is that writer: a maintained pure-Rust crate that
//! parses and saves PDFs (and encrypts them, for later), with no C library to pin.
//!
//! Reproducible: a document with no metadata is returned untouched (not re-saved), so
//! everything printed before this existed keeps its bytes. With metadata, `lopdf` writes
//! objects in id order with no clock or random input, and dates the job does not give stay
//! the fixed ones `pdf_bytes::normalize` wrote; so the same job gives the same bytes.

pub mod encrypt;
mod import;
pub mod merge;
pub mod watermark;

use lopdf::{Dictionary, Object};

use crate::document::{Metadata, PrintOptions};

/// Why a printed PDF could not be post-processed. The engine wrote a PDF its own
/// reader cannot load: a server problem, not the client's.
#[derive(Debug, thiserror::Error)]
#[error("the printed PDF could not be post-processed ({what}): {detail}")]
pub struct PostprocessError {
    what: &'static str,
    detail: String,
}

impl PostprocessError {
    fn new(what: &'static str, detail: impl Into<String>) -> PostprocessError {
        PostprocessError { what, detail: detail.into() }
    }
}

/// What every engine does with the PDF it printed, before the proof reads it: its dates and
/// ID made reproducible (`pdf_bytes::normalize`), the PDFs of the documents merged into it
/// appended ([`merge::concat`], `merged` in order, each normalised too), the watermark laid on
/// (`stamp` is the engine's print of [`watermark::stamp_document`]), then the metadata
/// written ([`apply`]).
pub fn finish(
    pdf: Vec<u8>,
    merged: Vec<Vec<u8>>,
    options: &PrintOptions,
    stamp: Option<&[u8]>,
) -> Result<Vec<u8>, PostprocessError> {
    let merged: Vec<Vec<u8>> = merged.into_iter().map(crate::pdf_bytes::normalize).collect();
    let mut pdf = merge::concat(crate::pdf_bytes::normalize(pdf), &merged)?;
    match (&options.watermark, stamp) {
        (Some(mark), Some(stamp)) => pdf = watermark::overlay(&pdf, stamp, mark)?,
        (Some(_), None) => return Err(PostprocessError::new("stamping it", "its watermark was not printed")),
        (None, _) => {}
    }
    apply(pdf, &options.metadata)
}

/// The printed PDF with `metadata` written into its Info dictionary, or the same bytes when
/// there is nothing to write.
pub fn apply(pdf: Vec<u8>, metadata: &Metadata) -> Result<Vec<u8>, PostprocessError> {
    if metadata.is_empty() {
        return Ok(pdf);
    }
    let err = |what| move |e: lopdf::Error| PostprocessError { what, detail: e.to_string() };
    let mut doc = lopdf::Document::load_mem(&pdf).map_err(err("reading it"))?;
    let info_id = match doc.trailer.get(b"Info").and_then(Object::as_reference) {
        Ok(id) => id,
        Err(_) => {
            let id = doc.add_object(Dictionary::new());
            doc.trailer.set("Info", id);
            id
        }
    };
    let info = doc.get_object_mut(info_id).and_then(Object::as_dict_mut).map_err(err("finding its Info dictionary"))?;
    for (key, value) in metadata.entries() {
        info.set(key, Object::String(text_string(&value), lopdf::StringFormat::Literal));
    }
    let mut out = Vec::with_capacity(pdf.len() + 512);
    doc.save_to(&mut out).map_err(|e| PostprocessError { what: "writing it", detail: e.to_string() })?;
    Ok(out)
}

/// A PDF text string: the bytes themselves when ASCII (a subset of PDFDocEncoding), else
/// UTF-16BE with its byte-order mark, which every reader understands.
fn text_string(text: &str) -> Vec<u8> {
    if text.is_ascii() {
        return text.as_bytes().to_vec();
    }
    let mut out = vec![0xFE, 0xFF];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_ascii_text_is_utf16_with_a_bom() {
        assert_eq!(text_string("Ab"), b"Ab");
        assert_eq!(text_string("é"), vec![0xFE, 0xFF, 0x00, 0xE9]);
    }

    #[test]
    fn no_metadata_leaves_the_bytes_alone() {
        let bytes = b"not even a PDF".to_vec();
        assert_eq!(apply(bytes.clone(), &Metadata::default()).unwrap(), bytes);
    }
}
