//! Watermarks: a stamp page, printed by the same engine as the document, laid over or under
//! the chosen pages as a form XObject.
//!
//! Why printed and not drawn here: text drawn into a PDF needs an embedded font, and an
//! image needs decoding and re-encoding; the engine already does both, with the bundled
//! fonts and the sealed asset loader. So the watermark is a small trusted HTML page
//! ([`stamp_document`], from an autoescaped template), printed at the size of the
//! document's first page, and [`overlay`] copies that page's content and resources into the
//! document (the way `qpdf --overlay` does), centred on each chosen page. The result is
//! proved like any print: its pixels, text layer (the stamp's text is real text) and fonts.

use lopdf::{Dictionary, Object, ObjectId, Stream};

use super::import::Import;
use super::PostprocessError;
use crate::document::{Assets, Document, Layer, Margins, Origin, Paper, PaperLength, Watermark};

/// The name the stamp has in each page's `/XObject` resources.
const NAME: &[u8] = b"PixelproofWatermark";

/// The stamp page: one trusted page with the watermark centred on it. Text is bold, turned
/// along the diagonal and sized to fit it; an image keeps its aspect and fits within 80 %
/// of the page.
const STAMP_HTML: &str = r#"<!doctype html>
<html><head><meta charset="utf-8"><style>
html, body { margin: 0; padding: 0; background: transparent; }
.stamp { position: absolute; left: 50%; top: 50%; opacity: {{ opacity }}; }
.text { font-family: "DejaVu Sans"; font-weight: bold; font-size: {{ font_pt }}pt; line-height: 1;
        white-space: nowrap; color: #000; transform: translate(-50%, -50%) rotate({{ angle }}deg); }
.image { transform: translate(-50%, -50%); max-width: {{ max_w }}in; max-height: {{ max_h }}in; }
</style></head><body>
{%- if text %}<div class="stamp text">{{ text }}</div>
{%- else %}<img class="stamp image" src="{{ image }}" alt="">{% endif %}
</body></html>
"#;

/// The stamp for `doc`'s watermark, sized like `printed`'s first page, or `None` when the
/// document has no watermark.
pub fn stamp_document(doc: &Document, printed: &[u8]) -> Result<Option<Document>, PostprocessError> {
    let Some(mark) = &doc.options.watermark else { return Ok(None) };
    let pdf = load(printed, "reading it to size its watermark")?;
    let first = pdf
        .get_pages()
        .get(&1)
        .copied()
        .ok_or_else(|| PostprocessError::new("sizing its watermark", "it has no pages"))?;
    let [x0, y0, x1, y1] = media_box(&pdf, first)
        .ok_or_else(|| PostprocessError::new("sizing its watermark", "its first page has no MediaBox"))?;
    let (width_in, height_in) = (f64::from(x1 - x0) / 72.0, f64::from(y1 - y0) / 72.0);
    let html = stamp_html(mark, width_in, height_in)?;
    let side = |name, inches| {
        PaperLength::from_inches(name, inches).map_err(|e| PostprocessError::new("sizing its watermark", e.to_string()))
    };
    let mut options = crate::document::PrintOptions {
        paper: Paper::Size { width: side("width", width_in)?, height: side("height", height_in)? },
        margins: Margins { top: "0".into(), right: "0".into(), bottom: "0".into(), left: "0".into() },
        prefer_css_page_size: false,
        // No structure tree: the stamp's marked content would point into a tree that is not copied.
        tagged: false,
        ..Default::default()
    };
    options.title = None;
    Ok(Some(Document {
        label: format!("{} (watermark)", doc.label),
        html,
        assets: doc.assets.clone(),
        options,
        origin: Origin::Template,
        mask_selectors: Vec::new(),
        merge: Vec::new(),
    }))
}

fn stamp_html(mark: &Watermark, width_in: f64, height_in: f64) -> Result<String, PostprocessError> {
    let mut env = minijinja::Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let template = env
        .template_from_str(STAMP_HTML)
        .map_err(|e| PostprocessError::new("building its watermark", e.to_string()))?;
    let diagonal_pt = (width_in * width_in + height_in * height_in).sqrt() * 72.0;
    let chars = mark.text.as_deref().map_or(1, |t| t.chars().count().max(1)) as f64;
    // Bold DejaVu Sans capitals are up to about 0.8 em wide: fill two thirds of the diagonal.
    let font_pt = (0.65 * diagonal_pt / (0.8 * chars)).clamp(8.0, 110.0);
    let angle = -(height_in.atan2(width_in).to_degrees());
    template
        .render(minijinja::context! {
            text => mark.text.as_deref().unwrap_or(""),
            image => mark.image.as_deref().unwrap_or(""),
            opacity => format!("{:.3}", mark.opacity),
            font_pt => format!("{font_pt:.1}"),
            angle => format!("{angle:.2}"),
            max_w => format!("{:.3}", width_in * 0.8),
            max_h => format!("{:.3}", height_in * 0.8),
        })
        .map_err(|e| PostprocessError::new("building its watermark", e.to_string()))
}

/// `pdf` with `stamp`'s first page drawn over (or under) each page `mark.pages` chooses,
/// centred on it.
pub fn overlay(pdf: &[u8], stamp: &[u8], mark: &Watermark) -> Result<Vec<u8>, PostprocessError> {
    let mut doc = load(pdf, "reading it to stamp it")?;
    let from = load(stamp, "reading its watermark")?;
    let stamp_page = from
        .get_pages()
        .get(&1)
        .copied()
        .ok_or_else(|| PostprocessError::new("reading its watermark", "the stamp has no pages"))?;
    let [sx0, sy0, sx1, sy1] = media_box(&from, stamp_page)
        .ok_or_else(|| PostprocessError::new("reading its watermark", "the stamp has no MediaBox"))?;
    let resources = match from.get_dictionary(stamp_page).and_then(|p| p.get(b"Resources")) {
        Ok(r) => r.clone(),
        Err(_) => Object::Dictionary(Dictionary::new()),
    };
    let content = from.get_page_content(stamp_page);

    let mut import = Import::new(&from, "reading its watermark");
    let resources = import.remap(&mut doc, &resources);
    import.finish(&mut doc)?;
    let mut form_dict = Dictionary::new();
    form_dict.set("Type", Object::Name(b"XObject".to_vec()));
    form_dict.set("Subtype", Object::Name(b"Form".to_vec()));
    form_dict.set("BBox", vec![sx0.into(), sy0.into(), sx1.into(), sy1.into()]);
    form_dict.set("Resources", resources);
    let mut form = Stream::new(form_dict, content);
    form.compress().map_err(|e| PostprocessError::new("compressing its watermark", e.to_string()))?;
    let form_id = doc.add_object(form);
    let save = doc.add_object(Stream::new(Dictionary::new(), b"q\n".to_vec()));

    for (number, page_id) in doc.get_pages() {
        if !mark.pages.contains(number) {
            continue;
        }
        let [px0, py0, px1, py1] = media_box(&doc, page_id)
            .ok_or_else(|| PostprocessError::new("stamping it", format!("page {number} has no MediaBox")))?;
        let tx = px0 + ((px1 - px0) - (sx1 - sx0)) / 2.0 - sx0;
        let ty = py0 + ((py1 - py0) - (sy1 - sy0)) / 2.0 - sy0;
        let draw = format!("q 1 0 0 1 {tx:.4} {ty:.4} cm /{} Do Q\n", String::from_utf8_lossy(NAME));
        let mut contents: Vec<Object> = doc.get_page_contents(page_id).into_iter().map(Object::Reference).collect();
        match mark.layer {
            Layer::Over => {
                // The page's own content may leave its graphics state changed: restore it first.
                let restore = doc.add_object(Stream::new(Dictionary::new(), format!("Q\n{draw}").into_bytes()));
                contents.insert(0, Object::Reference(save));
                contents.push(Object::Reference(restore));
            }
            Layer::Under => {
                let under = doc.add_object(Stream::new(Dictionary::new(), draw.into_bytes()));
                contents.insert(0, Object::Reference(under));
            }
        }
        doc.get_dictionary_mut(page_id)
            .map(|page| page.set("Contents", contents))
            .map_err(|e| PostprocessError::new("stamping it", e.to_string()))?;
        doc.add_xobject(page_id, NAME, form_id).map_err(|e| PostprocessError::new("stamping it", e.to_string()))?;
    }
    let mut out = Vec::with_capacity(pdf.len() + stamp.len());
    doc.save_to(&mut out).map_err(|e| PostprocessError::new("writing it", e.to_string()))?;
    Ok(out)
}

fn load(pdf: &[u8], what: &'static str) -> Result<lopdf::Document, PostprocessError> {
    lopdf::Document::load_mem(pdf).map_err(|e| PostprocessError::new(what, e.to_string()))
}

/// A page's `/MediaBox` (its own or inherited) as `[x0, y0, x1, y1]`.
fn media_box(doc: &lopdf::Document, page: ObjectId) -> Option<[f32; 4]> {
    let mut node = doc.get_dictionary(page).ok()?;
    for _ in 0..32 {
        if let Ok(found) = node.get(b"MediaBox") {
            let found = match found {
                Object::Reference(id) => doc.get_object(*id).ok()?,
                other => other,
            };
            let values: Vec<f32> = found.as_array().ok()?.iter().filter_map(|v| v.as_float().ok()).collect();
            let [a, b, c, d] = values[..] else { return None };
            return Some([a.min(c), b.min(d), a.max(c), b.max(d)]);
        }
        let parent = node.get(b"Parent").and_then(Object::as_reference).ok()?;
        node = doc.get_dictionary(parent).ok()?;
    }
    None
}

/// Why a watermark cannot be printed: the request's mistake, named so it can be mended.
#[derive(Debug, thiserror::Error)]
pub enum WatermarkError {
    #[error("watermark: give exactly one of \"text\" and \"image\"")]
    TextOrImage,
    #[error("watermark.text must be 1 to {MAX_TEXT_CHARS} characters on one line")]
    Text,
    #[error("watermark.opacity {0} is out of range: give 0.05 (faint) to 1 (solid)")]
    Opacity(f64),
    #[error("watermark.image {0:?} is not one of the job's assets: send the image in \"assets\" (or as a file part) under that name")]
    ImageMissing(String),
    #[error("watermark.image {path:?} is not a readable PNG or JPEG ({detail}): send an intact PNG or JPEG image")]
    ImageUnreadable { path: String, detail: String },
}

/// The longest watermark text: a stamp, not a paragraph.
pub const MAX_TEXT_CHARS: usize = 200;

/// The widest and tallest watermark image, in pixels.
const MAX_IMAGE_SIDE: u32 = 8192;

/// Checks `doc`'s watermark before anything is printed: one of text and image, a sane
/// opacity, and an image that is one of its assets and decodes whole as PNG or JPEG.
pub fn check(doc: &Document) -> Result<(), WatermarkError> {
    doc.options.watermark.as_ref().map_or(Ok(()), |mark| check_mark(mark, &doc.assets))
}

/// [`check`] for a watermark whose images come from `assets` (a template's folder, at load).
pub fn check_mark(mark: &Watermark, assets: &Assets) -> Result<(), WatermarkError> {
    if !(0.05..=1.0).contains(&mark.opacity) {
        return Err(WatermarkError::Opacity(mark.opacity));
    }
    match (&mark.text, &mark.image) {
        (Some(text), None) => {
            let chars = text.trim().chars().count();
            if chars == 0 || chars > MAX_TEXT_CHARS || text.contains(['\n', '\r']) {
                return Err(WatermarkError::Text);
            }
            Ok(())
        }
        (None, Some(path)) => {
            let bytes = assets.read(path).ok_or_else(|| WatermarkError::ImageMissing(path.clone()))?;
            let unreadable = |detail: String| WatermarkError::ImageUnreadable { path: path.clone(), detail };
            let mut reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
                .with_guessed_format()
                .map_err(|e| unreadable(e.to_string()))?;
            match reader.format() {
                Some(image::ImageFormat::Png | image::ImageFormat::Jpeg) => {}
                Some(other) => return Err(unreadable(format!("it is {other:?}"))),
                None => return Err(unreadable("not an image format pixelproof knows".into())),
            }
            let mut limits = image::Limits::default();
            limits.max_image_width = Some(MAX_IMAGE_SIDE);
            limits.max_image_height = Some(MAX_IMAGE_SIDE);
            reader.limits(limits);
            reader.decode().map(drop).map_err(|e| unreadable(e.to_string()))
        }
        _ => Err(WatermarkError::TextOrImage),
    }
}
