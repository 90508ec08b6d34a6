//! Log output on stderr: text lines, or JSON lines with `serve --json-logs`.
//!
//! The thread that logs only formats the line and hands it to a bounded queue
//! (`tracing-appender`'s non-blocking writer, in lossy mode); one writer thread empties
//! the queue into a buffer and writes the buffer to stderr whenever the queue runs dry,
//! so under load many lines go out in one `write`. Every request still gets its own
//! line. When the queue is full (the reader of stderr stalls, or the disk does) a line
//! is dropped rather than a request delayed, and counted in `/metrics`
//! (`regway_log_lines_dropped_total`). The queue is written out before the process
//! ends: when `main` returns (after SIGTERM's graceful shutdown) and on
//! `std::process::exit` (the store's fail-stop), through an `atexit` handler. Only a
//! SIGKILL or an abort loses the lines still queued, and a reader of stderr that stalls
//! for more than a second at the end: the writer thread is waited for that long.
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
use std::io::{BufWriter, IsTerminal};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use tracing::field::Field;
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{self, FormatFields, Writer};
use tracing_subscriber::EnvFilter;

/// Lines the queue holds before new ones are dropped: a few seconds of the gateway's
/// peak request rate, and at most some tens of MB.
pub const QUEUE_LINES: usize = 65_536;

/// Bytes the writer thread gathers before it writes, when the queue has more.
const WRITE_BUFFER: usize = 64 * 1024;

/// The writer thread's guard: dropping it writes out what is queued and stops the
/// thread.
static GUARD: Mutex<Option<WorkerGuard>> = Mutex::new(None);

/// When the text log is coloured (`serve --color`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    /// Only when stderr is a terminal: never in a file, a pipe or the journal.
    Auto,
    Always,
    Never,
}

/// Whether this process logs JSON lines.
static JSON: AtomicBool = AtomicBool::new(false);

/// Whether this process logs JSON lines (`serve --json-logs`), so that whatever else
/// it writes is JSON too.
pub fn is_json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// The log filter from `REGWAY_LOG` (README, "Logs"): `info` when it is not set. The
/// bare levels (`debug`, `trace`) apply to regway's own lines only, the libraries
/// beneath it (sled, hyper, reqwest) staying at `warn`; directives with a target
/// (`regway=debug,sled=info`) are taken as they are.
pub fn filter_from_env() -> Result<EnvFilter, crate::error::Error> {
    let spec = std::env::var("REGWAY_LOG").unwrap_or_default();
    let spec = spec.trim();
    let spec = match spec {
        "" => "info".to_string(),
        "error" | "warn" | "info" => spec.to_string(),
        "debug" | "trace" => format!("warn,regway={spec}"),
        other => other.to_string(),
    };
    EnvFilter::try_new(&spec).map_err(|e| {
        crate::error::Error::config(format!(
            "REGWAY_LOG={spec:?} is not a log filter ({e}); use a level (error, warn, info, \
             debug, trace) or directives like regway=debug,sled=warn"
        ))
    })
}

/// Installs the subscriber for this process: lines through the queue to stderr,
/// coloured as `color` says.
pub fn init(filter: EnvFilter, json: bool, color: Color) {
    let stderr = std::io::stderr();
    let ansi = match color {
        Color::Auto => stderr.is_terminal(),
        Color::Always => true,
        Color::Never => false,
    };
    JSON.store(json, Ordering::Relaxed);
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUE_LINES)
        .thread_name("regway-log")
        .finish(BufWriter::with_capacity(WRITE_BUFFER, stderr));
    let dropped = writer.error_counter();
    crate::metrics::count_dropped_log_lines(move || dropped.dropped_lines() as u64);
    *GUARD.lock().unwrap_or_else(|p| p.into_inner()) = Some(guard);
    // SAFETY: `flush_at_exit` is a plain function that neither unwinds nor calls
    // `exit`; registering it has no other precondition.
    unsafe {
        libc::atexit(flush_at_exit);
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer);
    if json {
        builder.json().init();
    } else {
        builder.fmt_fields(text_fields()).init();
    }
}

/// Writes out every queued line and stops the writer thread; lines logged after this
/// are dropped (and counted). Called at process exit; idempotent.
pub fn flush() {
    let guard = GUARD.lock().unwrap_or_else(|p| p.into_inner()).take();
    drop(guard);
}

extern "C" fn flush_at_exit() {
    // Nothing may unwind out of an `atexit` handler.
    let _ = std::panic::catch_unwind(flush);
}

/// The text format's fields: `name=value`, space-separated, the message bare, every one
/// with its control characters escaped.
pub fn text_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    format::debug_fn(
        |w: &mut Writer<'_>, field: &Field, value: &dyn fmt::Debug| {
            if field.name() != "message" {
                write!(w, "{}=", field.name())?;
            }
            write!(Escaping(w), "{value:?}")
        },
    )
    .delimited(" ")
}

/// Text with its control characters escaped, for one log line.
pub struct Escaped<'a>(pub &'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Escaping(f).write_str(self.0)
    }
}

/// A writer that escapes control characters on their way to `W`, so a value is
/// formatted straight into the line, without a copy.
struct Escaping<W>(W);

impl<W: fmt::Write> fmt::Write for Escaping<W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let mut rest = s;
        while let Some(i) = rest.find(|c: char| needs_escape(c)) {
            self.0.write_str(&rest[..i])?;
            let c = rest[i..].chars().next().expect("found at i");
            match c {
                '\n' => self.0.write_str("\\n")?,
                '\r' => self.0.write_str("\\r")?,
                '\t' => self.0.write_str("\\t")?,
                c => write!(self.0, "\\u{{{:x}}}", c as u32)?,
            }
            rest = &rest[i + c.len_utf8()..];
        }
        self.0.write_str(rest)
    }
}

fn needs_escape(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
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
