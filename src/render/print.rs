//! Print options → Chromium's `Page.printToPDF` parameters.
//!
//! Converts paper names and CSS lengths to the inches Chromium wants and validates what a
//! user can get wrong (scale range, bad lengths) with errors that say what to write instead.

use chromiumoxide::cdp::browser_protocol::page::{PrintToPdfParams, PrintToPdfTransferMode};

use crate::job::PrintOptions;

/// A print option that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PrintOptionError {
    #[error(
        "margin {name} = {value:?} is not a length; write it like \"20mm\", \"1.5cm\", \"0.5in\", \"12px\" or \"36pt\""
    )]
    BadLength { name: &'static str, value: String },
    #[error("scale {0} is out of range; Chromium accepts 0.1 to 2.0")]
    Scale(f64),
    #[error("paper size {width}x{height} in is not usable; both sides must be between 1 and 200 inches")]
    Paper { width: f64, height: f64 },
}

/// Parses a CSS length into inches. A bare number is taken as inches.
pub fn length_in_inches(value: &str) -> Option<f64> {
    let v = value.trim();
    let split = v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num.trim().parse().ok()?;
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let inches = match unit.trim() {
        "" | "in" => n,
        "mm" => n / 25.4,
        "cm" => n / 2.54,
        "px" => n / 96.0,
        "pt" => n / 72.0,
        _ => return None,
    };
    Some(inches)
}

/// Builds the `Page.printToPDF` call for these options (background printed, CSS page size
/// preferred, PDF streamed back rather than returned as one base64 string).
pub fn print_params(options: &PrintOptions) -> Result<PrintToPdfParams, PrintOptionError> {
    let (width, height) = options.paper.inches();
    if !(1.0..=200.0).contains(&width) || !(1.0..=200.0).contains(&height) {
        return Err(PrintOptionError::Paper { width, height });
    }
    if !(0.1..=2.0).contains(&options.scale) {
        return Err(PrintOptionError::Scale(options.scale));
    }
    let m = &options.margins;
    let len = |name: &'static str, value: &str| {
        length_in_inches(value).ok_or_else(|| PrintOptionError::BadLength { name, value: value.to_string() })
    };
    let header_footer = options.header_template.is_some() || options.footer_template.is_some();
    let mut params = PrintToPdfParams::default();
    params.landscape = Some(options.landscape);
    params.display_header_footer = Some(header_footer);
    params.print_background = Some(true);
    params.scale = Some(options.scale);
    params.paper_width = Some(width);
    params.paper_height = Some(height);
    params.margin_top = Some(len("top", &m.top)?);
    params.margin_right = Some(len("right", &m.right)?);
    params.margin_bottom = Some(len("bottom", &m.bottom)?);
    params.margin_left = Some(len("left", &m.left)?);
    if !options.page_ranges.trim().is_empty() {
        params.page_ranges = Some(options.page_ranges.trim().to_string());
    }
    if header_footer {
        // An empty template prints nothing (Chromium's default would print the date and URL).
        params.header_template = Some(options.header_template.clone().unwrap_or_else(|| "<span></span>".into()));
        params.footer_template = Some(options.footer_template.clone().unwrap_or_else(|| "<span></span>".into()));
    }
    params.prefer_css_page_size = Some(true);
    params.transfer_mode = Some(PrintToPdfTransferMode::ReturnAsStream);
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_convert_to_inches() {
        assert_eq!(length_in_inches("25.4mm"), Some(1.0));
        assert_eq!(length_in_inches("2.54cm"), Some(1.0));
        assert_eq!(length_in_inches("96px"), Some(1.0));
        assert_eq!(length_in_inches("72pt"), Some(1.0));
        assert_eq!(length_in_inches("0.5"), Some(0.5));
        assert_eq!(length_in_inches("0"), Some(0.0));
        assert_eq!(length_in_inches("ten mm"), None);
        assert_eq!(length_in_inches("-1mm"), None);
        assert_eq!(length_in_inches("3em"), None);
    }

    #[test]
    fn options_become_print_params() {
        let mut o = PrintOptions::default();
        o.footer_template = Some("<span class=pageNumber></span>".into());
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
}
