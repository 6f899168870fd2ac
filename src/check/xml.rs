//! Escaping for the JUnit XML (`junit`): markup characters, and characters XML 1.0 cannot
//! hold (a PDF text layer's form feeds, NULs) replaced. HTML is escaped by the templates'
//! autoescape (`ui`), never here.

/// Escapes text for an XML attribute value: as [`escape`], with line breaks and tabs as
/// character references (a parser would turn them into spaces otherwise).
pub fn attr(text: &str) -> String {
    escape(text).replace('\n', "&#10;").replace('\r', "&#13;").replace('\t', "&#9;")
}

/// Escapes text for XML content, replacing characters XML 1.0 cannot hold
/// (control characters such as a PDF text layer's form feeds).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_replaces_what_xml_cannot_hold() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &apos;Jerry&apos;&lt;/a&gt;"
        );
        assert_eq!(escape("page\u{c}two\u{0}\tok\n"), "page\u{FFFD}two\u{FFFD}\tok\n");
        assert_eq!(attr("a\nb\t<"), "a&#10;b&#9;&lt;");
    }
}
