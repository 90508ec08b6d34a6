//! Log output on stderr: text lines, or JSON lines with `serve --json-logs`.
//!
//! Logged values may carry what a client sent (a login, a request-id, a domain name, an
//! error message quoting them). A control character there must not start a forged log
//! line, so the text format escapes control characters in every field value and in the
//! message (`\n`, `\r`, `\t`, and `\u{…}` for the others, line and paragraph separators
//! included); JSON escapes them by itself.
//!
//! ```text
//! INFO regway::engine: request dialect="native" partner=evil\nINFO forged command=…
//! ```

use std::fmt::{self, Write as _};
use tracing::field::Field;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{self, FormatFields, Writer};
use tracing_subscriber::EnvFilter;

/// Installs the subscriber for this process.
pub fn init(filter: EnvFilter, json: bool) {
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.fmt_fields(text_fields()).init();
    }
}

/// The text format's fields: `name=value`, space-separated, the message bare, every one
/// with its control characters escaped.
pub fn text_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    format::debug_fn(
        |w: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug| {
            let text = format!("{value:?}");
            if field.name() == "message" {
                write!(w, "{}", Escaped(&text))
            } else {
                write!(w, "{}={}", field.name(), Escaped(&text))
            }
        },
    )
    .delimited(" ")
}

/// Text with its control characters escaped, for one log line.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => {
                    write!(f, "\\u{{{:x}}}", c as u32)?
                }
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            Escaped("a\nb\rc\td\u{1b}[31me\u{2028}\u{85}").to_string(),
            "a\\nb\\rc\\td\\u{1b}[31me\\u{2028}\\u{85}"
        );
        assert_eq!(Escaped("пример.рф").to_string(), "пример.рф");
    }
}
