//! Merging: the documents of one job, each printed on its own, made into one PDF in order,
//! before the watermark, the metadata and the proof (which reads the merged file).
//!
//! Why pages are copied and not whole files concatenated: a PDF is one object graph with one
//! catalog and page tree. The first document's PDF is kept as it is (its catalog, Info,
//! outline and structure tree), and each later document's pages are copied into it with
//! what they use (content, fonts, images, annotations) by [`Import`], then appended to the
//! root of its page tree. Attributes a page inherits from its page tree (`/MediaBox`,
//! `/CropBox`, `/Resources`, `/Rotate`) are written on the copy, since its tree stays behind.
//!
//! What a later document loses: its outline, its named destinations and its structure tree
//! (its pages' `/StructParents` are dropped so nothing points into a tree that is not there);
//! the merged PDF's tags and bookmarks are the first document's. The page count is checked:
//! the merged file has exactly the pages of its documents, or merging fails.

use lopdf::{Object, ObjectId};

use super::import::Import;
use super::PostprocessError;

/// What a page takes from its page tree when it does not say it itself (ISO 32000-1, 7.7.3.4).
const INHERITED: [&[u8]; 4] = [b"MediaBox", b"CropBox", b"Resources", b"Rotate"];

/// `first` with the pages of each of `rest` appended, in order; `first` unchanged when `rest`
/// is empty.
pub fn concat(first: Vec<u8>, rest: &[Vec<u8>]) -> Result<Vec<u8>, PostprocessError> {
    if rest.is_empty() {
        return Ok(first);
    }
    let mut doc = load(&first, "reading the first document to merge")?;
    let root = doc
        .catalog()
        .and_then(|c| c.get(b"Pages"))
        .and_then(Object::as_reference)
        .map_err(|e| PostprocessError::new("finding the first document's pages", e.to_string()))?;
    let mut expected = doc.get_pages().len();
    for part in rest {
        let from = load(part, "reading a document to merge")?;
        let pages: Vec<ObjectId> = from.get_pages().into_values().collect();
        expected += pages.len();
        let mut import = Import::new(&from, "copying a merged document's pages");
        // Each page's new id first, so links and annotations that point at a page of the same
        // document land on its copy rather than copying it twice.
        let placed: Vec<(ObjectId, ObjectId)> = pages
            .iter()
            .map(|&old| {
                doc.max_id += 1;
                let new = (doc.max_id, 0);
                import.map_to(old, new);
                (old, new)
            })
            .collect();
        for &(old, new) in &placed {
            let mut page = from
                .get_dictionary(old)
                .map_err(|e| PostprocessError::new("reading a merged document's page", e.to_string()))?
                .clone();
            for key in INHERITED {
                if !page.has(key) {
                    if let Some(value) = inherited(&from, old, key) {
                        page.set(key.to_vec(), value);
                    }
                }
            }
            page.remove(b"StructParents");
            let mut copy = import.remap_dict(&mut doc, &page);
            copy.set("Parent", Object::Reference(root));
            doc.objects.insert(new, Object::Dictionary(copy));
        }
        import.finish(&mut doc)?;
        let tree =
            doc.get_dictionary_mut(root).map_err(|e| PostprocessError::new("appending merged pages", e.to_string()))?;
        let mut kids = tree.get(b"Kids").and_then(Object::as_array).cloned().unwrap_or_default();
        kids.extend(placed.iter().map(|&(_, new)| Object::Reference(new)));
        let count = tree.get(b"Count").and_then(Object::as_i64).unwrap_or(0) + placed.len() as i64;
        tree.set("Kids", kids);
        tree.set("Count", count);
    }
    let merged = doc.get_pages().len();
    if merged != expected {
        return Err(PostprocessError::new(
            "merging its documents",
            format!("the merged PDF has {merged} pages where its documents have {expected}"),
        ));
    }
    let mut out = Vec::with_capacity(first.len() + rest.iter().map(Vec::len).sum::<usize>());
    doc.save_to(&mut out).map_err(|e| PostprocessError::new("writing the merged PDF", e.to_string()))?;
    Ok(out)
}

fn load(pdf: &[u8], what: &'static str) -> Result<lopdf::Document, PostprocessError> {
    lopdf::Document::load_mem(pdf).map_err(|e| PostprocessError::new(what, e.to_string()))
}

/// The value of `key` on the nearest ancestor of `page` that has it.
fn inherited(doc: &lopdf::Document, page: ObjectId, key: &[u8]) -> Option<Object> {
    let mut node = doc.get_dictionary(page).ok()?;
    for _ in 0..32 {
        let parent = node.get(b"Parent").and_then(Object::as_reference).ok()?;
        node = doc.get_dictionary(parent).ok()?;
        if let Ok(value) = node.get(key) {
            return Some(value.clone());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use lopdf::{dictionary, Dictionary, Stream};

    /// A PDF of `widths.len()` pages, each as wide as given, whose MediaBox and Resources sit
    /// on the page tree (inherited) when `inherit`.
    fn pdf(widths: &[i64], inherit: bool) -> Vec<u8> {
        let mut doc = lopdf::Document::with_version("1.7");
        let pages_id = doc.new_object_id();
        let font = doc.add_object(dictionary! { "Type" => "Font", "Subtype" => "Type1", "BaseFont" => "Helvetica" });
        let resources = doc.add_object(dictionary! { "Font" => dictionary! { "F1" => font } });
        let mut kids = Vec::new();
        for (i, w) in widths.iter().enumerate() {
            let text = format!("BT /F1 12 Tf 10 10 Td (page {i}) Tj ET");
            let content = doc.add_object(Stream::new(Dictionary::new(), text.into_bytes()));
            let mut page = dictionary! { "Type" => "Page", "Parent" => pages_id, "Contents" => content,
            "StructParents" => i as i64 };
            if !inherit {
                page.set("MediaBox", vec![0.into(), 0.into(), (*w).into(), 100.into()]);
                page.set("Resources", resources);
            }
            kids.push(Object::Reference(doc.add_object(page)));
        }
        let mut tree = dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => widths.len() as i64 };
        if inherit {
            tree.set("MediaBox", vec![0.into(), 0.into(), widths[0].into(), 100.into()]);
            tree.set("Resources", resources);
        }
        doc.objects.insert(pages_id, Object::Dictionary(tree));
        let catalog = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
        doc.trailer.set("Root", catalog);
        let mut out = Vec::new();
        doc.save_to(&mut out).unwrap();
        out
    }

    fn widths(pdf: &[u8]) -> Vec<f32> {
        let doc = lopdf::Document::load_mem(pdf).unwrap();
        doc.get_pages()
            .into_values()
            .map(|id| {
                let media = inherited(&doc, id, b"MediaBox")
                    .or_else(|| doc.get_dictionary(id).unwrap().get(b"MediaBox").ok().cloned())
                    .unwrap();
                media.as_array().unwrap()[2].as_float().unwrap()
            })
            .collect()
    }

    #[test]
    fn pages_follow_in_order_with_what_they_inherit() {
        let merged = concat(pdf(&[100, 110], false), &[pdf(&[300, 300], true), pdf(&[500], false)]).unwrap();
        assert_eq!(widths(&merged), [100.0, 110.0, 300.0, 300.0, 500.0]);
        let doc = lopdf::Document::load_mem(&merged).unwrap();
        for (number, id) in doc.get_pages() {
            let page = doc.get_dictionary(id).unwrap();
            assert!(page.get(b"Resources").is_ok(), "page {number} lost its resources");
            let text = doc.extract_text(&[number]).unwrap();
            let expected = if number <= 2 {
                number - 1
            } else if number <= 4 {
                number - 3
            } else {
                0
            };
            assert!(text.contains(&format!("page {expected}")), "page {number}: {text:?}");
            // Only the first document's pages keep their place in its structure tree.
            assert_eq!(page.has(b"StructParents"), number <= 2, "page {number}");
        }
    }

    #[test]
    fn merging_is_reproducible_and_nothing_to_merge_changes_nothing() {
        let (a, b) = (pdf(&[100], false), pdf(&[200, 210], true));
        assert_eq!(concat(a.clone(), std::slice::from_ref(&b)).unwrap(), concat(a.clone(), &[b]).unwrap());
        assert_eq!(concat(a.clone(), &[]).unwrap(), a);
        let err = concat(a, &[b"not a PDF".to_vec()]).unwrap_err().to_string();
        assert!(err.contains("reading a document to merge"), "{err}");
    }
}
