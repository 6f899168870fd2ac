//! Copying objects between two PDFs under new ids, for the post-processing steps that take
//! part of one printed PDF into another: a watermark's stamp page ([`super::watermark`]) and
//! the pages of a merged document ([`super::merge`]).
//!
//! Why its own code: `lopdf` reads and writes PDFs but has no "import from another document".
//! The copy is breadth-first from the values asked for, in the order references are met, so
//! the same inputs always give the same ids (and so the same bytes).

use std::collections::BTreeMap;

use lopdf::{Dictionary, Object, ObjectId};

use super::PostprocessError;

/// Copies the objects values refer to (and what they refer to) from `from` into another
/// document under new ids. `/Parent` entries are never followed: a page or resource pointing
/// back into its own page tree would drag that tree along.
pub(super) struct Import<'a> {
    from: &'a lopdf::Document,
    map: BTreeMap<ObjectId, ObjectId>,
    queue: Vec<ObjectId>,
    /// What the copy is for, in errors ("reading its watermark").
    what: &'static str,
}

impl<'a> Import<'a> {
    pub(super) fn new(from: &'a lopdf::Document, what: &'static str) -> Import<'a> {
        Import { from, map: BTreeMap::new(), queue: Vec::new(), what }
    }

    /// Makes `old` (an object of `from`) become `new` in the copy, without copying it: a page
    /// the caller places itself, which the page's own annotations may point back to.
    pub(super) fn map_to(&mut self, old: ObjectId, new: ObjectId) {
        self.map.insert(old, new);
    }

    /// `value` with every reference replaced by its copy's id (the copies are made by
    /// [`finish`](Self::finish)).
    pub(super) fn remap(&mut self, into: &mut lopdf::Document, value: &Object) -> Object {
        match value {
            Object::Reference(old) => {
                let new = *self.map.entry(*old).or_insert_with(|| {
                    into.max_id += 1;
                    self.queue.push(*old);
                    (into.max_id, 0)
                });
                Object::Reference(new)
            }
            Object::Array(items) => Object::Array(items.iter().map(|v| self.remap(into, v)).collect()),
            Object::Dictionary(dict) => Object::Dictionary(self.remap_dict(into, dict)),
            Object::Stream(stream) => {
                let mut copy = stream.clone();
                copy.dict = self.remap_dict(into, &stream.dict);
                Object::Stream(copy)
            }
            other => other.clone(),
        }
    }

    pub(super) fn remap_dict(&mut self, into: &mut lopdf::Document, dict: &Dictionary) -> Dictionary {
        let mut out = Dictionary::new();
        for (key, value) in dict.iter() {
            if key.as_slice() == b"Parent" {
                continue;
            }
            out.set(key.clone(), self.remap(into, value));
        }
        out
    }

    /// Copies every object referred to so far, and what those refer to.
    pub(super) fn finish(&mut self, into: &mut lopdf::Document) -> Result<(), PostprocessError> {
        let mut next = 0;
        while next < self.queue.len() {
            let old = self.queue[next];
            next += 1;
            let object = self.from.get_object(old).map_err(|e| PostprocessError::new(self.what, e.to_string()))?;
            let copy = self.remap(into, object);
            into.objects.insert(self.map[&old], copy);
        }
        Ok(())
    }
}
