//! Text a client sends: only code points XML 1.0 can carry.
//!
//! Every answer is XML (or, for MasterName, text a client parses line by line), and a
//! stored value comes back in answers: a name with U+FFFF in it would make every later
//! `client.info` and `client.list` page holding it malformed. XML 1.0 (section 2.2,
//! `Char`) has no way to write the C0 controls other than tab, LF and CR, nor U+FFFE
//! and U+FFFF — not even as character references — so text holding them is refused
//! where it comes in, by every dialect, through [`check_xml_chars`]. Lone surrogates
//! cannot be in a Rust string: their UTF-8 form is invalid UTF-8 and `&#xD800;` is not
//! a character, both refused where they are decoded.

use crate::error::{Error, Result};

/// Refuses (2005, naming `field`) text holding a code point XML 1.0 cannot carry.
/// The message names the code point and where it is, never the text itself.
pub fn check_xml_chars(field: &str, s: &str) -> Result<()> {
    match s.chars().enumerate().find(|(_, c)| !xml_char(*c)) {
        None => Ok(()),
        Some((at, c)) => Err(Error::value(
            field,
            format!(
                "U+{:04X} (character {}) cannot be carried in XML: control characters other than tab, line feed and carriage return, U+FFFE and U+FFFF are not allowed",
                c as u32,
                at + 1
            ),
        )),
    }
}

/// XML 1.0 `Char`: `#x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`
/// (a `char` is never a surrogate).
pub fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{FFFD}' | '\u{10000}'..)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_xml_cannot_carry() {
        for ok in [
            "plain",
            "tab\there",
            "lines\r\n",
            "<&>\"'",
            "\u{7f}\u{85}",
            "\u{FFFD}",
            "😀",
            "\u{E000}",
        ] {
            assert!(check_xml_chars("f", ok).is_ok(), "{ok:?}");
        }
        for bad in [
            "\u{0}",
            "a\u{1}",
            "\u{8}",
            "\u{B}",
            "\u{C}",
            "\u{E}",
            "\u{1F}",
            "Bad\u{FFFE}",
            "Bad\u{FFFF}Name",
        ] {
            let e = check_xml_chars("name", bad).unwrap_err();
            assert_eq!(e.code, crate::error::Code::ValueSyntax);
            assert!(e.message.starts_with("name: U+"), "{e}");
            assert!(!e.message.contains(bad), "the text itself is not echoed");
        }
        assert!(check_xml_chars("f", "Bad\u{FFFF}Name")
            .unwrap_err()
            .message
            .contains("U+FFFF (character 4)"));
    }
}
