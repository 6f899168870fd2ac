//! Print options → Chromium's `Page.printToPDF` parameters.
//!
//! Converts paper names and CSS lengths to the inches Chromium wants and validates what a
//! user can get wrong (scale range, bad lengths) with errors that say what to write instead.

use crate::document::css_length_inches;
use chromiumoxide::cdp::browser_protocol::page::{PrintToPdfParams, PrintToPdfTransferMode};

use crate::document::PrintOptions;

/// A print option that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PrintOptionError {
    #[error(
        "margin {name} = {value:?} is not a length; write it like \"20mm\", \"1.5cm\", \"0.5in\", \"12px\" or \"36pt\""
    )]
    BadLength { name: &'static str, value: String },
    #[error("scale {0} is out of range; Chromium accepts 0.1 to 2.0")]
    Scale(f64),
    /// Chromium refused `page_ranges` (a page past the document's end, start > end, bad
    /// syntax): the request's mistake, not the renderer's.
    #[error(
        "page_ranges {ranges:?} cannot be printed ({detail}); ask only for pages the document has, written \
         like \"1-3, 5\", or leave page_ranges out to print every page"
    )]
    PageRanges { ranges: String, detail: String },
    /// Chromium builds the outline from the tagged PDF's structure: untagged, it writes none.
    #[error(
        "outline: true needs tagged: true (Chromium builds the outline from the tagged structure, and writes \
         none without it); leave tagged out, or drop outline"
    )]
    OutlineNeedsTags,
    #[error(
        "single_page prints the whole document on one page, so page_ranges {0:?} has nothing to choose from; \
         leave one of them out"
    )]
    SinglePageRanges(String),
    /// The measured document is taller than a page may be.
    #[error(
        "single_page: the document is {inches:.1} inches tall, and a page may be at most {MAX_PAGE_INCHES} inches; \
         print it on pages (leave single_page out)"
    )]
    SinglePageTooTall { inches: f64 },
}

/// The longest side a printed page may have, in inches (as `Paper` allows; PDF's own limit is
/// 200 inches, 14,400 points).
pub const MAX_PAGE_INCHES: f64 = 200.0;

impl PrintOptionError {
    /// The typed error for Chromium's answer to `Page.printToPDF`, when it is about the page
    /// ranges ("Page range exceeds page count", "Page range syntax error", …).
    pub fn from_print_refusal(ranges: Option<&str>, message: &str) -> Option<PrintOptionError> {
        let ranges = ranges?;
        message
            .to_ascii_lowercase()
            .contains("page range")
            .then(|| PrintOptionError::PageRanges { ranges: ranges.to_string(), detail: message.to_string() })
    }
}

/// Builds the `Page.printToPDF` call for these options (CSS page size preferred, PDF streamed
/// back rather than returned as one base64 string). An option at its default is sent as it
/// was before the option existed (`generateTaggedPDF` and `generateDocumentOutline` left
/// out: Chromium tags and writes no outline by default), so default documents print the
/// same bytes.
pub fn print_params(options: &PrintOptions) -> Result<PrintToPdfParams, PrintOptionError> {
    // Always usable: `Paper` checks each side when it is parsed or made.
    let (width, height) = options.paper.inches();
    if !(0.1..=2.0).contains(&options.scale) {
        return Err(PrintOptionError::Scale(options.scale));
    }
    if options.outline && !options.tagged {
        return Err(PrintOptionError::OutlineNeedsTags);
    }
    if options.single_page && !options.page_ranges.trim().is_empty() {
        return Err(PrintOptionError::SinglePageRanges(options.page_ranges.clone()));
    }
    let m = &options.margins;
    let len = |name: &'static str, value: &str| {
        css_length_inches(value).ok_or_else(|| PrintOptionError::BadLength { name, value: value.to_string() })
    };
    let header_footer = options.header_template.is_some() || options.footer_template.is_some();
    // An empty template prints nothing (Chromium's default would print the date and URL).
    let template = |t: &Option<String>| header_footer.then(|| t.clone().unwrap_or_else(|| "<span></span>".into()));
    let page_ranges = options.page_ranges.trim();
    let params = PrintToPdfParams {
        landscape: Some(options.landscape),
        display_header_footer: Some(header_footer),
        print_background: Some(options.background),
        scale: Some(options.scale),
        paper_width: Some(width),
        paper_height: Some(height),
        margin_top: Some(len("top", &m.top)?),
        margin_right: Some(len("right", &m.right)?),
        margin_bottom: Some(len("bottom", &m.bottom)?),
        margin_left: Some(len("left", &m.left)?),
        page_ranges: (!page_ranges.is_empty()).then(|| page_ranges.to_string()),
        header_template: template(&options.header_template),
        footer_template: template(&options.footer_template),
        // One page as tall as the content: the measured size wins over a CSS `@page { size }`.
        prefer_css_page_size: Some(options.prefer_css_page_size && !options.single_page),
        transfer_mode: Some(PrintToPdfTransferMode::ReturnAsStream),
        generate_tagged_pdf: (!options.tagged).then_some(false),
        generate_document_outline: options.outline.then_some(true),
    };
    Ok(params)
}

/// What the page emulates before it prints, besides `Page.printToPDF`'s own parameters.
/// Both `None`/`false` for the defaults: then nothing is sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Emulation {
    /// `Emulation.setEmulatedMedia` with this media type (`"screen"`).
    pub media: Option<&'static str>,
    /// `Emulation.setDefaultBackgroundColorOverride` to transparent: no white page behind
    /// a document that paints no background of its own.
    pub transparent: bool,
}

/// What the page waits for once it has loaded, before its fonts are read and it prints:
/// a delay, then an expression to turn true. Both `None` for the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wait {
    pub delay: Option<std::time::Duration>,
    /// JavaScript, evaluated (and awaited) in the page until it is truthy.
    pub expression: Option<String>,
    /// Whether an exception the document's scripts left uncaught by then fails it.
    pub exceptions_fail: bool,
}

/// The wait these options ask for.
pub fn wait(options: &PrintOptions) -> Wait {
    Wait {
        delay: options.wait_delay_ms.filter(|ms| *ms > 0).map(std::time::Duration::from_millis),
        expression: options.wait_for_expression.clone(),
        exceptions_fail: options.fail_on_console_exceptions,
    }
}

/// The emulation these options ask for.
pub fn emulation(options: &PrintOptions) -> Emulation {
    Emulation {
        media: (!options.media.is_print()).then(|| options.media.as_str()),
        transparent: options.omit_background,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_convert_to_inches() {
        assert_eq!(css_length_inches("25.4mm"), Some(1.0));
        assert_eq!(css_length_inches("2.54cm"), Some(1.0));
        assert_eq!(css_length_inches("96px"), Some(1.0));
        assert_eq!(css_length_inches("72pt"), Some(1.0));
        assert_eq!(css_length_inches("0.5"), Some(0.5));
        assert_eq!(css_length_inches("0"), Some(0.0));
        assert_eq!(css_length_inches("ten mm"), None);
        assert_eq!(css_length_inches("-1mm"), None);
        assert_eq!(css_length_inches("3em"), None);
    }

    #[test]
    fn options_become_print_params() {
        let mut o =
            PrintOptions { footer_template: Some("<span class=pageNumber></span>".into()), ..Default::default() };
        let p = print_params(&o).unwrap();
        assert_eq!(p.display_header_footer, Some(true));
        assert_eq!(p.header_template.as_deref(), Some("<span></span>"));
        assert_eq!(p.print_background, Some(true));
        assert_eq!(p.prefer_css_page_size, Some(true));
        assert!((p.paper_width.unwrap() - 8.27).abs() < 1e-9);
        o.margins.left = "1 furlong".into();
        let err = print_params(&o).unwrap_err();
        assert!(err.to_string().contains("left") && err.to_string().contains("20mm"), "{err}");
        o.margins.left = "1cm".into();
        o.scale = 3.0;
        assert_eq!(print_params(&o).unwrap_err(), PrintOptionError::Scale(3.0));
    }

    #[test]
    fn defaults_send_what_they_sent_before_and_options_map() {
        let p = print_params(&PrintOptions::default()).unwrap();
        assert_eq!((p.generate_tagged_pdf, p.generate_document_outline), (None, None));
        assert_eq!(p.print_background, Some(true));
        assert_eq!(emulation(&PrintOptions::default()), Emulation::default());
        let both = PrintOptions { outline: true, tagged: false, ..Default::default() };
        assert_eq!(print_params(&both).unwrap_err(), PrintOptionError::OutlineNeedsTags);
        let o = PrintOptions {
            outline: true,
            background: false,
            omit_background: true,
            media: crate::document::Media::Screen,
            ..Default::default()
        };
        let p = print_params(&o).unwrap();
        assert_eq!((p.generate_tagged_pdf, p.generate_document_outline), (None, Some(true)));
        let untagged = PrintOptions { tagged: false, ..Default::default() };
        assert_eq!(print_params(&untagged).unwrap().generate_tagged_pdf, Some(false));
        assert_eq!(p.print_background, Some(false));
        assert_eq!(emulation(&o), Emulation { media: Some("screen"), transparent: true });
    }
}
