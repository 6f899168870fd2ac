//! Bounding boxes of changed regions on a page.
//! SKELETON: being written; see issue 2.

use serde::{Deserialize, Serialize};

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
