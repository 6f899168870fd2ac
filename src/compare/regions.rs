//! Bounding boxes of changed regions on a page.
//!
//! pixelmatch says *how many* pixels changed; a reviewer wants to know *where*. The changed
//! pixels (a [`ChangedMask`], filled from [`super::pixelmatch::pixelmatch_with`]) are grouped
//! into 8-connected components, and components whose boxes lie within a small gap of each
//! other are merged, repeatedly, so that one changed word is one box rather than one box per
//! glyph. The boxes that come out never overlap.

use serde::{Deserialize, Serialize};

/// Boxes separated by at most this many unchanged pixels (both horizontally and vertically)
/// are merged: at 150 DPI this joins the glyphs of a word and the words of a line.
pub const DEFAULT_GAP: u32 = 8;

/// A rectangle of changed pixels, in raster pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    /// How many changed pixels the rectangle holds.
    pub pixels: u64,
}

impl Region {
    /// One past the rightmost column.
    fn right(&self) -> u64 {
        u64::from(self.x) + u64::from(self.width)
    }

    /// One past the bottom row.
    fn bottom(&self) -> u64 {
        u64::from(self.y) + u64::from(self.height)
    }

    /// The smallest rectangle holding both, with both pixel counts (the pixels are disjoint).
    fn union(&self, other: &Region) -> Region {
        let x = self.x.min(other.x);
        let y = self.y.min(other.y);
        // right/bottom are at most u32::MAX + 1 and x/y at least 0, so widths fit in u32
        // for any region of a mask (whose width and height are u32).
        let width = (self.right().max(other.right()) - u64::from(x)) as u32;
        let height = (self.bottom().max(other.bottom()) - u64::from(y)) as u32;
        Region { x, y, width, height, pixels: self.pixels + other.pixels }
    }

    /// Unchanged pixels between the two rectangles vertically (0 if their rows overlap or touch).
    fn vertical_gap(&self, other: &Region) -> u64 {
        u64::from(other.y).saturating_sub(self.bottom()).max(u64::from(self.y).saturating_sub(other.bottom()))
    }
}

/// Which pixels of a `width`×`height` image changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedMask {
    width: u32,
    height: u32,
    changed: Vec<bool>,
    count: u64,
}

impl ChangedMask {
    /// A mask with no changed pixel.
    pub fn new(width: u32, height: u32) -> Self {
        ChangedMask { width, height, changed: vec![false; width as usize * height as usize], count: 0 }
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Marks (x, y) as changed. Coordinates outside the mask are ignored.
    pub fn set(&mut self, x: u32, y: u32) {
        if let Some(i) = self.index(x, y) {
            if !self.changed[i] {
                self.changed[i] = true;
                self.count += 1;
            }
        }
    }

    /// Is (x, y) changed? False outside the mask.
    pub fn get(&self, x: u32, y: u32) -> bool {
        self.index(x, y).is_some_and(|i| self.changed[i])
    }

    /// How many pixels are marked changed.
    pub fn count(&self) -> u64 {
        self.count
    }

    fn index(&self, x: u32, y: u32) -> Option<usize> {
        (x < self.width && y < self.height).then(|| y as usize * self.width as usize + x as usize)
    }
}

/// The changed regions of `mask`: 8-connected components, with boxes separated by at most
/// `gap` unchanged pixels in both directions merged (until no two boxes are that close).
/// Sorted top to bottom, then left to right; the pixel counts add up to `mask.count()`.
pub fn find_regions(mask: &ChangedMask, gap: u32) -> Vec<Region> {
    if mask.count == 0 {
        return Vec::new();
    }
    let mut regions = merge_close(connected_components(mask), u64::from(gap));
    regions.sort_by_key(|r| (r.y, r.x));
    regions
}

/// Bounding box and pixel count of each 8-connected component, by flood fill.
fn connected_components(mask: &ChangedMask) -> Vec<Region> {
    let (w, h) = (mask.width as usize, mask.height as usize);
    let mut todo = mask.changed.clone();
    let mut stack = Vec::new();
    let mut regions = Vec::new();
    for start in 0..todo.len() {
        if !todo[start] {
            continue;
        }
        todo[start] = false;
        stack.push(start);
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        let mut pixels = 0u64;
        while let Some(p) = stack.pop() {
            let (x, y) = (p % w, p / w);
            pixels += 1;
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
            for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                    let q = ny * w + nx;
                    if todo[q] {
                        todo[q] = false;
                        stack.push(q);
                    }
                }
            }
        }
        // Coordinates come from a mask whose sides are u32, so they fit.
        regions.push(Region {
            x: x0 as u32,
            y: y0 as u32,
            width: (x1 - x0 + 1) as u32,
            height: (y1 - y0 + 1) as u32,
            pixels,
        });
    }
    regions
}

/// Merges boxes at most `gap` pixels apart (in both directions) until none are.
fn merge_close(mut regions: Vec<Region>, gap: u64) -> Vec<Region> {
    loop {
        // Sweep left to right: a box can only be close to boxes starting before its right
        // edge plus the gap.
        regions.sort_by_key(|r| (r.x, r.y));
        let mut groups = DisjointSets::new(regions.len());
        let mut merged = false;
        for (i, a) in regions.iter().enumerate() {
            let reach = a.right() + gap;
            for (j, b) in regions.iter().enumerate().skip(i + 1) {
                if u64::from(b.x) > reach {
                    break;
                }
                if a.vertical_gap(b) <= gap && groups.union(i, j) {
                    merged = true;
                }
            }
        }
        if !merged {
            return regions;
        }
        let mut combined: Vec<Option<Region>> = vec![None; regions.len()];
        for (i, r) in regions.iter().enumerate() {
            let slot = &mut combined[groups.find(i)];
            *slot = Some(slot.map_or(*r, |c| c.union(r)));
        }
        regions = combined.into_iter().flatten().collect();
    }
}

/// Union-find over `0..n`, with path halving.
struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    fn new(n: usize) -> Self {
        DisjointSets { parent: (0..n).collect() }
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    /// Joins the sets of `a` and `b`; false if they were already one.
    fn union(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        self.parent[ra.max(rb)] = ra.min(rb);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mask from ASCII art: `#` is changed, anything else is not.
    fn mask(rows: &[&str]) -> ChangedMask {
        let height = rows.len() as u32;
        let width = rows.first().map_or(0, |r| r.len()) as u32;
        let mut m = ChangedMask::new(width, height);
        for (y, row) in rows.iter().enumerate() {
            for (x, c) in row.chars().enumerate() {
                if c == '#' {
                    m.set(x as u32, y as u32);
                }
            }
        }
        m
    }

    fn region(x: u32, y: u32, width: u32, height: u32, pixels: u64) -> Region {
        Region { x, y, width, height, pixels }
    }

    #[test]
    fn empty_mask_has_no_regions() {
        assert!(find_regions(&ChangedMask::new(10, 10), DEFAULT_GAP).is_empty());
        assert!(find_regions(&ChangedMask::new(0, 0), DEFAULT_GAP).is_empty());
    }

    #[test]
    fn mask_counts_each_pixel_once_and_ignores_outside() {
        let mut m = ChangedMask::new(3, 2);
        m.set(1, 1);
        m.set(1, 1);
        m.set(3, 0);
        m.set(0, 2);
        assert_eq!(m.count(), 1);
        assert!(m.get(1, 1));
        assert!(!m.get(0, 0));
        assert!(!m.get(3, 0));
    }

    #[test]
    fn single_pixel_is_one_region() {
        let m = mask(&["....", "..#.", "...."]);
        assert_eq!(find_regions(&m, DEFAULT_GAP), vec![region(2, 1, 1, 1, 1)]);
    }

    #[test]
    fn diagonal_neighbours_are_connected() {
        let m = mask(&["#...", ".#..", "..#.", "...#"]);
        assert_eq!(find_regions(&m, 0), vec![region(0, 0, 4, 4, 4)]);
    }

    #[test]
    fn gap_decides_whether_boxes_merge() {
        // Two blobs with exactly 3 unchanged columns between them.
        let m = mask(&["##...##", "##...##"]);
        assert_eq!(find_regions(&m, 2), vec![region(0, 0, 2, 2, 4), region(5, 0, 2, 2, 4)]);
        assert_eq!(find_regions(&m, 3), vec![region(0, 0, 7, 2, 8)]);
    }

    #[test]
    fn vertical_gap_counts_too() {
        let m = mask(&["#", ".", ".", "#"]);
        assert_eq!(find_regions(&m, 1).len(), 2);
        assert_eq!(find_regions(&m, 2), vec![region(0, 0, 1, 4, 2)]);
    }

    #[test]
    fn boxes_close_in_one_direction_only_stay_apart() {
        // Same rows, far apart in x.
        let m = mask(&["#..........#"]);
        assert_eq!(find_regions(&m, 3).len(), 2);
        // Same column, far apart in y: likewise.
        let m = mask(&["#", ".", ".", ".", ".", ".", "#"]);
        assert_eq!(find_regions(&m, 3).len(), 2);
    }

    #[test]
    fn a_changed_word_is_one_box() {
        // Five glyph-like strokes 2 px apart, then a far-away change.
        let mut m = ChangedMask::new(200, 40);
        for glyph in 0..5 {
            for y in 10..22 {
                m.set(20 + glyph * 6, y);
                m.set(21 + glyph * 6, y + (glyph % 2));
            }
        }
        m.set(150, 30);
        let regions = find_regions(&m, DEFAULT_GAP);
        assert_eq!(regions, vec![region(20, 10, 26, 13, 120), region(150, 30, 1, 1, 1)]);
    }

    #[test]
    fn merging_cascades_until_stable() {
        // a (the tall column) and b are 2 columns apart; c is 2 columns from their union's box
        // but far from a (5 columns) and from b (9 rows).
        let m = mask(&[
            "#.....#", //
            "#......", "#......", "#......", "#......", "#......", "#......", "#......", "#......", "#......",
            "#..#...",
        ]);
        assert_eq!(find_regions(&m, 1).len(), 3);
        assert_eq!(find_regions(&m, 2), vec![region(0, 0, 7, 11, 13)]);
    }

    #[test]
    fn nested_boxes_merge_even_with_zero_gap() {
        let m = mask(&["#####", "#...#", "#.#.#", "#...#", "#####"]);
        assert_eq!(find_regions(&m, 0), vec![region(0, 0, 5, 5, 17)]);
    }

    #[test]
    fn regions_never_overlap_and_account_for_every_pixel() {
        // Deterministic scatter of pixels and blobs (xorshift).
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        let mut m = ChangedMask::new(300, 200);
        for _ in 0..400 {
            let (x, y) = ((next() % 300) as u32, (next() % 200) as u32);
            for d in 0..(next() % 5) as u32 {
                m.set(x + d, y);
            }
        }
        for gap in [0, 1, 4, DEFAULT_GAP, 30] {
            let regions = find_regions(&m, gap);
            assert_eq!(regions.iter().map(|r| r.pixels).sum::<u64>(), m.count(), "gap {gap}");
            for (i, a) in regions.iter().enumerate() {
                let inside = (a.x..a.x + a.width)
                    .flat_map(|x| (a.y..a.y + a.height).map(move |y| (x, y)))
                    .filter(|&(x, y)| m.get(x, y))
                    .count() as u64;
                assert_eq!(inside, a.pixels, "gap {gap}: {a:?} holds other regions' pixels");
                for b in &regions[i + 1..] {
                    let h_gap = u64::from(b.x).saturating_sub(a.right()).max(u64::from(a.x).saturating_sub(b.right()));
                    assert!(
                        h_gap > u64::from(gap) || a.vertical_gap(b) > u64::from(gap),
                        "gap {gap}: {a:?} and {b:?} should have been merged"
                    );
                }
            }
        }
    }

    #[test]
    fn whole_image_changed_is_one_region() {
        let mut m = ChangedMask::new(7, 3);
        for y in 0..3 {
            for x in 0..7 {
                m.set(x, y);
            }
        }
        assert_eq!(find_regions(&m, DEFAULT_GAP), vec![region(0, 0, 7, 3, 21)]);
    }
}
