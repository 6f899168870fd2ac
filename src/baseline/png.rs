//! Deterministic PNG files for page images: the same pixels always give the same bytes,
//! so re-approving an unchanged page changes nothing in version control, and a manifest's
//! sha256 identifies the pixels.
//!
//! Pages are written as 8-bit RGB when every pixel is opaque (rasters always are: PDFium
//! renders on white), as RGBA otherwise; no timestamps or other ancillary chunks. Reading
//! always gives RGBA.
//!
//! Compression: zlib level 6 without row filters. On rendered A4 pages at 150 DPI that is
//! the smallest of the png crate's settings (about 280 KB for an invoice page, against
//! 520 KB for its fast default and 350 KB with adaptive filters) at about 0.1 s a page;
//! baselines live in version control, so size wins over speed.

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder, RgbaImage};
use sha2::{Digest, Sha256};

/// Encodes `image` as PNG. Deterministic: same pixels, same bytes.
pub fn encode(image: &RgbaImage) -> Result<Vec<u8>, image::ImageError> {
    let (width, height) = image.dimensions();
    let opaque = image.pixels().all(|p| p.0[3] == 255);
    let mut out = Vec::new();
    let encoder = PngEncoder::new_with_quality(&mut out, CompressionType::Level(6), FilterType::NoFilter);
    if opaque {
        let rgb: Vec<u8> = image.as_raw().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        encoder.write_image(&rgb, width, height, ExtendedColorType::Rgb8)?;
    } else {
        encoder.write_image(image.as_raw(), width, height, ExtendedColorType::Rgba8)?;
    }
    Ok(out)
}

/// Decodes PNG bytes into RGBA.
pub fn decode(bytes: &[u8]) -> Result<RgbaImage, image::ImageError> {
    Ok(image::load_from_memory_with_format(bytes, image::ImageFormat::Png)?.into_rgba8())
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgba;

    fn page(seed: u8, alpha: u8) -> RgbaImage {
        RgbaImage::from_fn(120, 90, |x, y| Rgba([(x as u8).wrapping_mul(seed), y as u8, seed, alpha]))
    }

    #[test]
    fn same_pixels_give_same_bytes_and_round_trip() {
        for alpha in [255, 128] {
            let a = encode(&page(3, alpha)).unwrap();
            let b = encode(&page(3, alpha)).unwrap();
            assert_eq!(a, b);
            assert_eq!(decode(&a).unwrap(), page(3, alpha));
            assert_ne!(sha256_hex(&a), sha256_hex(&encode(&page(4, alpha)).unwrap()));
        }
    }

    #[test]
    fn opaque_pages_are_stored_without_alpha() {
        let opaque = encode(&page(3, 255)).unwrap();
        // IHDR colour type byte: 2 = RGB, 6 = RGBA.
        assert_eq!(opaque[25], 2);
        assert_eq!(encode(&page(3, 10)).unwrap()[25], 6);
    }
}
