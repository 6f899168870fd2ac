//! Reproducible PDF bytes: the same document printed twice in the same environment gives the
//! same bytes, not just the same pixels.
//!
//! Why: the render cache (`service::cache`) answers a repeated document with the PDF stored
//! the first time, and that answer must be indistinguishable from a fresh render; clients
//! also hash and diff the PDFs they receive. Two prints of one document differ only in what
//! the writers take from the clock (checked on this machine by printing twice and comparing
//! bytes, see `tests/it/pdf_bytes.rs`):
//!
//! * Chromium (Skia) writes the Info dictionary's `/CreationDate` and `/ModDate` as
//!   `(D:YYYYMMDDHHmmSS+00'00')`, the moment of printing. Its font subset names are not
//!   random (the same document gets the same `XXXXXX+` prefix); it writes no `/ID` and no XMP
//!   metadata for `Page.printToPDF`, but a PDF that has them is handled all the same.
//! * WeasyPrint 57 writes no dates or `/ID` of its own (only the document's `dcterms.created`
//!   / `dcterms.modified` metadata, if it declares them); its subset fonts' `head.modified`
//!   comes from fontTools' clock, which the fallback pins with `SOURCE_DATE_EPOCH` (see
//!   `fallback::FallbackRenderer::render`): a compressed font stream cannot be patched here.
//!
//! [`normalize`] patches those values **in place, at the same length**, so every offset in the
//! cross-reference table stays valid and no object is re-serialised: every date digit becomes
//! the digit of [`FIXED_DATE`] at that position (punctuation kept), and the trailer's `/ID`
//! hex strings become a digest of the PDF itself (with dates fixed and the ID zeroed), so two
//! different documents still get different IDs. The dictionaries are read with a small PDF
//! lexer (strings, names, nested dictionaries), never by searching for text, so a title such
//! as `(/CreationDate \(D:1\))` is left alone. A PDF this does not understand (a
//! cross-reference stream, an incremental update, a missing Info object) is returned
//! unchanged: normalising is an improvement, never a reason to fail a document.

use std::ops::Range;

use sha2::{Digest, Sha256};

/// The instant every normalised date names: 2000-01-01 00:00:00 UTC, as the digits of a PDF
/// date (`YYYYMMDDHHmmSS`, then the time zone's `HH` and `mm`, all zero).
pub const FIXED_DATE: &[u8] = b"20000101000000";

/// The same instant as Unix seconds, for writers that read `SOURCE_DATE_EPOCH`.
pub const FIXED_EPOCH: &str = "946684800";

/// What [`normalize`] changed, for tests and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalized {
    /// Dates rewritten (Info `/CreationDate`, `/ModDate`; XMP dates).
    pub dates: usize,
    /// Whether the trailer's `/ID` was replaced.
    pub id: bool,
    /// XMP identifiers (`uuid:…`) replaced.
    pub uuids: usize,
}

/// The same document's bytes, made independent of the moment it was printed. Returns the
/// input unchanged when its structure is not one this module understands (logged at debug).
pub fn normalize(pdf: Vec<u8>) -> Vec<u8> {
    let mut pdf = pdf;
    match normalize_in_place(&mut pdf) {
        Ok(done) => tracing::trace!(?done, bytes = pdf.len(), "PDF normalised"),
        Err(why) => tracing::debug!(%why, bytes = pdf.len(), "PDF left as printed: not normalised"),
    }
    pdf
}

/// [`normalize`] on a buffer, saying what it changed or why it changed nothing. Either every
/// patch is applied or none is.
pub fn normalize_in_place(pdf: &mut [u8]) -> Result<Normalized, String> {
    let trailer = Trailer::find(pdf)?;
    let mut done = Normalized::default();
    let mut dates: Vec<Range<usize>> = Vec::new();
    if let Some(info) = trailer.info {
        let offset = xref_offset(pdf, trailer.xref, info)?;
        let dict = object_dict(pdf, offset, info)?;
        for (name, value) in entries(pdf, dict)? {
            if matches!(name, b"CreationDate" | b"ModDate") && pdf.get(value.start) == Some(&b'(') {
                dates.push(value.start + 1..value.end - 1);
            }
        }
    }
    let (xmp_dates, uuids) = xmp_values(pdf);
    for range in dates.iter().chain(&xmp_dates) {
        fix_date(&mut pdf[range.clone()]);
    }
    done.dates = dates.len() + xmp_dates.len();
    // Identifiers are derived from the content with every identifier zeroed first.
    for range in trailer.id.iter().chain(&uuids) {
        zero_hex(&mut pdf[range.clone()]);
    }
    if !trailer.id.is_empty() || !uuids.is_empty() {
        let digest = hex::encode_upper(Sha256::digest(&*pdf));
        for range in trailer.id.iter().chain(&uuids) {
            fill_hex(&mut pdf[range.clone()], digest.as_bytes());
        }
    }
    done.id = !trailer.id.is_empty();
    done.uuids = uuids.len();
    Ok(done)
}

/// Every ASCII digit of a date becomes the digit of [`FIXED_DATE`] at its position (then `0`
/// for the time zone); `D:`, `+`, `-`, `Z`, `'` and the ISO separators stay.
fn fix_date(date: &mut [u8]) {
    for (n, b) in date.iter_mut().filter(|b| b.is_ascii_digit()).enumerate() {
        *b = FIXED_DATE.get(n).copied().unwrap_or(b'0');
    }
}

fn zero_hex(text: &mut [u8]) {
    for b in text.iter_mut().filter(|b| b.is_ascii_hexdigit()) {
        *b = b'0';
    }
}

/// Writes `digest`'s characters over the hex digits of `text` (whitespace kept), repeating
/// the digest if `text` is longer; lower-case where the original was.
fn fill_hex(text: &mut [u8], digest: &[u8]) {
    let mut source = digest.iter().cycle();
    for b in text.iter_mut().filter(|b| b.is_ascii_hexdigit()) {
        let lower = b.is_ascii_lowercase();
        let d = source.next().copied().unwrap_or(b'0');
        *b = if lower { d.to_ascii_lowercase() } else { d };
    }
}

/// The last trailer: where its cross-reference table starts, the Info reference, the `/ID`
/// strings' contents.
struct Trailer {
    xref: usize,
    info: Option<u32>,
    id: Vec<Range<usize>>,
}

impl Trailer {
    fn find(pdf: &[u8]) -> Result<Trailer, String> {
        let at = rfind(pdf, b"startxref").ok_or("no startxref")?;
        let (xref, _) = number(pdf, skip_space(pdf, at + b"startxref".len())).ok_or("startxref has no offset")?;
        let xref = usize::try_from(xref).map_err(|_| "startxref offset too large")?;
        if !pdf.get(xref..).is_some_and(|rest| rest.starts_with(b"xref")) {
            return Err("the cross-reference is a stream (or startxref is wrong): not handled".into());
        }
        let keyword = find(pdf, xref, b"trailer").ok_or("no trailer after the cross-reference table")?;
        let dict = skip_space(pdf, keyword + b"trailer".len());
        let mut trailer = Trailer { xref, info: None, id: Vec::new() };
        for (name, value) in entries(pdf, dict)? {
            match name {
                b"Prev" => return Err("an incrementally updated PDF: not handled".into()),
                b"Info" => {
                    let (n, _) = number(pdf, value.start).ok_or("/Info is not a reference")?;
                    trailer.info = Some(u32::try_from(n).map_err(|_| "bad /Info object number")?);
                }
                b"ID" => trailer.id = hex_strings(pdf, value)?,
                _ => {}
            }
        }
        Ok(trailer)
    }
}

/// The offset of object `wanted` in the classic cross-reference table at `xref`.
fn xref_offset(pdf: &[u8], xref: usize, wanted: u32) -> Result<usize, String> {
    let mut at = skip_space(pdf, xref + b"xref".len());
    while let Some((first, after)) = number(pdf, at) {
        let (count, after) = number(pdf, skip_space(pdf, after)).ok_or("bad cross-reference subsection")?;
        let entries = skip_space(pdf, after);
        let wanted = i64::from(wanted);
        if (first..first + count).contains(&wanted) {
            let i = usize::try_from(wanted - first).map_err(|_| "bad cross-reference entry")?;
            let entry = pdf.get(entries + 20 * i..entries + 20 * i + 18).ok_or("cross-reference table cut short")?;
            if entry.get(17) != Some(&b'n') {
                return Err(format!("object {wanted} is not in use"));
            }
            let (offset, _) = number(entry, 0).ok_or("bad cross-reference entry")?;
            return usize::try_from(offset).map_err(|_| "bad cross-reference offset".into());
        }
        let skip = usize::try_from(count).map_err(|_| "bad cross-reference count")?;
        at = skip_space(pdf, entries + 20 * skip);
    }
    Err(format!("object {wanted} is not in the cross-reference table"))
}

/// Where the dictionary of `N G obj` at `offset` starts (checked to be that object).
fn object_dict(pdf: &[u8], offset: usize, wanted: u32) -> Result<usize, String> {
    let (n, after) = number(pdf, offset).ok_or("the cross-reference offset points at no object")?;
    if n != i64::from(wanted) {
        return Err(format!("the cross-reference offset of object {wanted} points at object {n}"));
    }
    let (_, after) = number(pdf, skip_space(pdf, after)).ok_or("bad object header")?;
    let at = skip_space(pdf, after);
    if !pdf.get(at..).is_some_and(|r| r.starts_with(b"obj")) {
        return Err("bad object header".into());
    }
    Ok(skip_space(pdf, at + 3))
}

/// A dictionary entry: the key's name (without `/`) and where its value is.
type Entry<'a> = (&'a [u8], Range<usize>);

/// The top-level entries of the dictionary starting at `at` (`<<`).
fn entries(pdf: &[u8], at: usize) -> Result<Vec<Entry<'_>>, String> {
    if !pdf.get(at..).is_some_and(|r| r.starts_with(b"<<")) {
        return Err("expected a dictionary".into());
    }
    let mut out = Vec::new();
    let mut pos = skip_space(pdf, at + 2);
    loop {
        match pdf.get(pos) {
            None => return Err("a dictionary runs past the end of the file".into()),
            Some(b'>') if pdf.get(pos + 1) == Some(&b'>') => return Ok(out),
            Some(b'/') => {
                let name_end = token_end(pdf, pos + 1);
                let name = &pdf[pos + 1..name_end];
                let start = skip_space(pdf, name_end);
                let end = value_end(pdf, start, 0)?;
                out.push((name, start..end));
                pos = skip_space(pdf, end);
            }
            Some(_) => return Err(format!("unexpected byte at {pos} in a dictionary")),
        }
    }
}

/// The end of the PDF object starting at `at` (a reference `N G R` counts as one value).
fn value_end(pdf: &[u8], at: usize, depth: usize) -> Result<usize, String> {
    if depth > 32 {
        return Err("objects nested too deeply".into());
    }
    match pdf.get(at).copied() {
        None => Err("a value runs past the end of the file".into()),
        Some(b'(') => literal_end(pdf, at),
        Some(b'<') if pdf.get(at + 1) == Some(&b'<') => {
            let mut pos = skip_space(pdf, at + 2);
            loop {
                match pdf.get(pos) {
                    None => return Err("a dictionary runs past the end of the file".into()),
                    Some(b'>') if pdf.get(pos + 1) == Some(&b'>') => return Ok(pos + 2),
                    Some(_) => pos = skip_space(pdf, value_end(pdf, pos, depth + 1)?),
                }
            }
        }
        Some(b'<') => find(pdf, at, b">").map(|e| e + 1).ok_or_else(|| "an unterminated hex string".into()),
        Some(b'[') => {
            let mut pos = skip_space(pdf, at + 1);
            loop {
                match pdf.get(pos) {
                    None => return Err("an array runs past the end of the file".into()),
                    Some(b']') => return Ok(pos + 1),
                    Some(_) => pos = skip_space(pdf, value_end(pdf, pos, depth + 1)?),
                }
            }
        }
        Some(b'/') => Ok(token_end(pdf, at + 1)),
        Some(_) => {
            let end = token_end(pdf, at);
            if end == at {
                return Err(format!("unexpected byte at {at}"));
            }
            // `N G R`: a reference is one value.
            if let (Some(_), Some((_, g_end))) = (number(pdf, at), number(pdf, skip_space(pdf, end))) {
                let r = skip_space(pdf, g_end);
                if pdf.get(r) == Some(&b'R') && token_end(pdf, r) == r + 1 {
                    return Ok(r + 1);
                }
            }
            Ok(end)
        }
    }
}

/// The end of a literal string starting at `at` (`(`): balanced parentheses, `\` escapes.
fn literal_end(pdf: &[u8], at: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    let mut pos = at;
    while let Some(&b) = pdf.get(pos) {
        match b {
            b'\\' => pos += 1,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(pos + 1);
                }
            }
            _ => {}
        }
        pos += 1;
    }
    Err("an unterminated string".into())
}

/// The contents (between `<` and `>`) of the hex strings in the array `value`.
fn hex_strings(pdf: &[u8], value: Range<usize>) -> Result<Vec<Range<usize>>, String> {
    if pdf.get(value.start) != Some(&b'[') {
        return Err("/ID is not an array".into());
    }
    let mut out = Vec::new();
    let mut pos = skip_space(pdf, value.start + 1);
    while pos < value.end && pdf.get(pos) != Some(&b']') {
        let end = value_end(pdf, pos, 1)?;
        if pdf.get(pos) != Some(&b'<') {
            return Err("/ID holds something other than hex strings".into());
        }
        out.push(pos + 1..end - 1);
        pos = skip_space(pdf, end);
    }
    Ok(out)
}

/// Dates and `uuid:` identifiers in an uncompressed XMP packet (`<x:xmpmeta`), if there is one:
/// the text of `xmp:CreateDate`, `xmp:ModifyDate`, `xmp:MetadataDate`, and the hex digits of
/// `xmpMM:DocumentID` / `xmpMM:InstanceID` values. Same-length ranges, like the rest.
fn xmp_values(pdf: &[u8]) -> (Vec<Range<usize>>, Vec<Range<usize>>) {
    let (mut dates, mut ids) = (Vec::new(), Vec::new());
    let Some(start) = find(pdf, 0, b"<x:xmpmeta") else { return (dates, ids) };
    let end = find(pdf, start, b"</x:xmpmeta>").unwrap_or(pdf.len());
    for tag in [&b"xmp:CreateDate"[..], b"xmp:ModifyDate", b"xmp:MetadataDate"] {
        dates.extend(xmp_text(pdf, start..end, tag));
    }
    for tag in [&b"xmpMM:DocumentID"[..], b"xmpMM:InstanceID"] {
        // Only what follows the scheme (`uuid:`, `xmp.did:`), whose letters may be hex digits.
        ids.extend(xmp_text(pdf, start..end, tag).into_iter().map(|r| {
            let scheme = pdf[r.clone()].iter().rposition(|&b| b == b':').map_or(0, |p| p + 1);
            r.start + scheme..r.end
        }));
    }
    (dates, ids)
}

/// The values of `tag` in `within`, as an element (`<tag>v</tag>`) or attribute (`tag="v"`).
fn xmp_text(pdf: &[u8], within: Range<usize>, tag: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut pos = within.start;
    while let Some(at) = find(&pdf[..within.end], pos, tag) {
        let after = at + tag.len();
        let (open, close) = match pdf.get(after) {
            Some(b'>') => (after + 1, b'<'),
            Some(b'=') if matches!(pdf.get(after + 1), Some(b'"' | b'\'')) => (after + 2, pdf[after + 1]),
            _ => {
                pos = after;
                continue;
            }
        };
        if let Some(end) = pdf[open..within.end].iter().position(|&b| b == close) {
            out.push(open..open + end);
        }
        pos = after;
    }
    out
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'\x0c' | b'\0')
}

fn is_delimiter(b: u8) -> bool {
    matches!(b, b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

/// Skips whitespace and comments.
fn skip_space(pdf: &[u8], mut pos: usize) -> usize {
    while let Some(&b) = pdf.get(pos) {
        if is_space(b) {
            pos += 1;
        } else if b == b'%' {
            while pdf.get(pos).is_some_and(|&c| c != b'\n' && c != b'\r') {
                pos += 1;
            }
        } else {
            break;
        }
    }
    pos
}

fn token_end(pdf: &[u8], mut pos: usize) -> usize {
    while pdf.get(pos).is_some_and(|&b| !is_space(b) && !is_delimiter(b)) {
        pos += 1;
    }
    pos
}

/// A non-negative integer at `at` (at most 18 digits) and where it ends.
fn number(pdf: &[u8], at: usize) -> Option<(i64, usize)> {
    let digits = pdf.get(at..)?.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || digits > 18 {
        return None;
    }
    let text = std::str::from_utf8(&pdf[at..at + digits]).ok()?;
    Some((text.parse().ok()?, at + digits))
}

/// The first `needle` in `hay` from `from` on (a scan for its first byte, then a compare: a
/// 1 MB PDF is searched in well under a millisecond).
fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut at = from;
    loop {
        at += hay.get(at..)?.iter().position(|&b| b == first)?;
        if hay.get(at + 1..at + needle.len()) == Some(rest) {
            return Some(at);
        }
        at += 1;
    }
}

/// The last `needle` in `hay`, looked for in the last 4 KiB first (where `startxref` is).
fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let tail = hay.len().saturating_sub(4096);
    let last = |from: usize| hay.get(from..)?.windows(needle.len()).rposition(|w| w == needle).map(|p| p + from);
    last(tail).or_else(|| last(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal PDF with a classic cross-reference table, built with correct offsets.
    fn pdf(info: &str, trailer_extra: &str, extra_obj: &str) -> Vec<u8> {
        let mut out = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::new();
        let objects = [
            "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
            "<< /Type /Pages /Kids [] /Count 0 >>".to_string(),
            info.to_string(),
            extra_obj.to_string(),
        ];
        for (i, body) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{body}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
        for o in offsets {
            out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!("trailer\n<</Size 5\n/Root 1 0 R\n/Info 3 0 R{trailer_extra}>>\nstartxref\n{xref}\n%%EOF")
                .as_bytes(),
        );
        out
    }

    const SKIA_INFO: &str =
        "<</Creator (Chromium)\n/Producer (Skia/PDF m156)\n/CreationDate (D:20261206051504+00'00')\n/ModDate (D:20261206051504+00'00')>>";

    #[test]
    fn dates_get_the_fixed_instant_at_the_same_length() {
        let a = pdf(SKIA_INFO, "", "null");
        let b = pdf(&SKIA_INFO.replace("051504", "235959"), "", "null");
        assert_ne!(a, b);
        let (na, nb) = (normalize(a.clone()), normalize(b));
        assert_eq!(na, nb);
        assert_eq!(na.len(), a.len());
        let text = String::from_utf8_lossy(&na);
        assert_eq!(text.matches("(D:20000101000000+00'00')").count(), 2, "{text}");
    }

    #[test]
    fn other_date_formats_keep_their_punctuation() {
        let info = "<< /CreationDate (D:20240307101112-05'30') /ModDate (D:2024Z) >>";
        let out = normalize(pdf(info, "", "null"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("(D:20000101000000-00'00')"), "{text}");
        assert!(text.contains("(D:2000Z)"), "{text}");
    }

    #[test]
    fn a_title_that_looks_like_a_date_is_left_alone() {
        let info = r"<< /Title (x /CreationDate \(D:2024\) \) (nested 1999)) /Subject <FEFF0031> /CreationDate (D:20241231235959Z) >>";
        let out = normalize(pdf(info, "", "null"));
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains(r"(x /CreationDate \(D:2024\) \) (nested 1999))"), "{text}");
        assert!(text.contains("(D:20000101000000Z)"), "{text}");
    }

    #[test]
    fn the_id_is_derived_from_the_content() {
        let id = "\n/ID [<0A1B2C3D4E5F60718293A4B5C6D7E8F9> <0a1b2c3d4e5f60718293a4b5c6d7e8f9>]";
        let other = id.replace("0A1B", "FFFF").replace("0a1b", "eeee");
        let a = normalize(pdf(SKIA_INFO, id, "null"));
        let b = normalize(pdf(SKIA_INFO, &other, "null"));
        assert_eq!(a, b, "random IDs of one document normalise to one ID");
        let c = normalize(pdf(SKIA_INFO, id, "(another document)"));
        let ids = |p: &[u8]| {
            let t = String::from_utf8_lossy(p).to_string();
            t[t.find("/ID").unwrap()..].split('>').next().unwrap().to_string()
        };
        assert_ne!(ids(&a), ids(&c), "different content, different ID");
        let text = String::from_utf8_lossy(&a);
        let start = text.find("/ID [<").unwrap() + 6;
        let first = &text[start..start + 32];
        assert!(first.bytes().all(|b| b.is_ascii_hexdigit()) && first != "0".repeat(32), "{first}");
        assert!(text[start + 32..].starts_with("> <"), "same length: {text}");
        let mut report = pdf(SKIA_INFO, id, "null");
        assert_eq!(normalize_in_place(&mut report), Ok(Normalized { dates: 2, id: true, uuids: 0 }));
    }

    #[test]
    fn xmp_dates_and_uuids_are_fixed() {
        let xmp = "<< /Type /Metadata /Subtype /XML /Length 10 >>\nstream\n<x:xmpmeta><rdf:Description xmp:CreateDate=\"2026-12-06T05:15:04+00:00\"><xmp:ModifyDate>2026-12-06T05:15:04Z</xmp:ModifyDate><xmpMM:DocumentID>uuid:6f1c2a9e-1b2c-4d5e-8f90-abcdef012345</xmpMM:DocumentID></rdf:Description></x:xmpmeta>\nendstream";
        let a = normalize(pdf(SKIA_INFO, "", xmp));
        let b = normalize(pdf(SKIA_INFO, "", &xmp.replace("05:15:04", "07:00:01").replace("6f1c", "0000")));
        assert_eq!(a, b);
        let text = String::from_utf8_lossy(&a);
        assert!(text.contains("xmp:CreateDate=\"2000-01-01T00:00:00+00:00\""), "{text}");
        assert!(text.contains("<xmp:ModifyDate>2000-01-01T00:00:00Z<"), "{text}");
        assert!(text.contains(">uuid:") && !text.contains("6f1c2a9e"), "{text}");
    }

    #[test]
    fn what_is_not_understood_is_returned_unchanged() {
        for odd in [
            b"not a pdf".to_vec(),
            b"%PDF-1.7\n1 0 obj <<>> endobj\nstartxref\n9\n%%EOF".to_vec(),
            b"%PDF-1.7\nstartxref\n99999999999\n%%EOF".to_vec(),
            pdf("<< /CreationDate (D:2024", "", "null"),
            Vec::new(),
        ] {
            assert_eq!(normalize(odd.clone()), odd);
        }
        let updated = pdf(SKIA_INFO, "\n/Prev 9", "null");
        assert_eq!(normalize(updated.clone()), updated);
    }
}
