//! Log output on stderr: text lines, or JSON lines with `serve --json-logs`.
//!
//! The thread that logs only formats the line (the text format writes regway's own
//! lines directly, byte for byte what `tracing-subscriber`'s default format writes:
//! [`TextFormat`]) and hands it to a bounded queue
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
use tracing::field::{Field, Visit};
use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::field::{MakeExt, MakeVisitor, VisitFmt, VisitOutput};
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, Writer};
use tracing_subscriber::fmt::FmtContext;
use tracing_subscriber::registry::LookupSpan;
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
        builder
            .fmt_fields(text_fields())
            .event_format(TextFormat::default())
            .init();
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
/// with its control characters escaped. Text is written as `{:?}` writes it (quoted,
/// escaped), numbers and booleans as they are, each straight into the line.
pub fn text_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    TextFields.delimited(" ")
}

struct TextFields;

impl<'w> MakeVisitor<Writer<'w>> for TextFields {
    type Visitor = TextVisitor<'w>;

    fn make_visitor(&self, target: Writer<'w>) -> TextVisitor<'w> {
        TextVisitor {
            w: target,
            result: Ok(()),
        }
    }
}

struct TextVisitor<'w> {
    w: Writer<'w>,
    result: fmt::Result,
}

impl TextVisitor<'_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_err() {
            return;
        }
        self.result = (|| {
            if field.name() != "message" {
                self.w.write_str(field.name())?;
                self.w.write_char('=')?;
            }
            value(&mut self.w)
        })();
    }
}

impl Visit for TextVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |w| {
            // What `{:?}` leaves as it is goes out as it is; anything else as before.
            if value
                .bytes()
                .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
            {
                w.write_char('"')?;
                w.write_str(value)?;
                w.write_char('"')
            } else {
                write!(Escaping(w), "{value:?}")
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| w.write_str(if value { "true" } else { "false" }));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |w| write!(Escaping(w), "{value:?}"));
    }
}

impl VisitOutput<fmt::Result> for TextVisitor<'_> {
    fn finish(self) -> fmt::Result {
        self.result
    }
}

impl VisitFmt for TextVisitor<'_> {
    fn writer(&mut self) -> &mut dyn fmt::Write {
        &mut self.w
    }
}

/// The text format's lines: exactly what `tracing-subscriber`'s default (`Full`)
/// format writes, `2026-01-02T03:04:05.123456Z  INFO regway::gateway: request …`,
/// written without its per-line `fmt` machinery for the lines regway logs itself
/// outside any span with colour off: the time from a per-thread copy of the current
/// second, the level and target as they are, then the fields. Any other line (colour,
/// spans, a `log` record) goes to the default format.
#[derive(Default)]
pub struct TextFormat {
    full: format::Format,
}

impl<S, N> FormatEvent<S, N> for TextFormat
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if writer.has_ansi_escapes()
            || !meta.target().starts_with("regway")
            || ctx.event_scope().is_some()
        {
            return self.full.format_event(ctx, writer, event);
        }
        if write_now(&mut writer).is_err() {
            return self.full.format_event(ctx, writer, event);
        }
        writer.write_str(match *meta.level() {
            tracing::Level::TRACE => "TRACE ",
            tracing::Level::DEBUG => "DEBUG ",
            tracing::Level::INFO => " INFO ",
            tracing::Level::WARN => " WARN ",
            tracing::Level::ERROR => "ERROR ",
        })?;
        writer.write_str(meta.target())?;
        writer.write_str(": ")?;
        ctx.format_fields(writer.by_ref(), event)?;
        writer.write_char('\n')
    }
}

/// The time as the default format writes it (`2026-01-02T03:04:05.123456Z`) and a
/// space; an error (and nothing written) for a time it would write otherwise.
fn write_now(w: &mut Writer<'_>) -> Result<(), ()> {
    use std::cell::Cell;
    // The second last written by this thread, and its text up to the seconds.
    thread_local!(static SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) });
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| ())?;
    let secs = now.as_secs();
    let (cached, mut text) = SECOND.with(Cell::get);
    if cached != secs {
        let t =
            chrono::DateTime::from_timestamp(i64::try_from(secs).map_err(|_| ())?, 0).ok_or(())?;
        let s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
        // Years past 9999 are written otherwise.
        text = s.as_bytes().try_into().map_err(|_| ())?;
        SECOND.with(|c| c.set((secs, text)));
    }
    let mut micros = now.subsec_micros();
    let mut frac = *b".000000Z ";
    for i in (1..7).rev() {
        frac[i] = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    let text = std::str::from_utf8(&text).map_err(|_| ())?;
    let frac = std::str::from_utf8(&frac).map_err(|_| ())?;
    w.write_str(text).map_err(|_| ())?;
    w.write_str(frac).map_err(|_| ())
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

    /// The fields as `{:?}` (then escaping) wrote them before they were written
    /// directly: quoted text, bare numbers, booleans and `%` values.
    #[test]
    fn fields_are_written_as_debug_wrote_them() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let out = buf.clone();
        let sub = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_level(false)
            .fmt_fields(text_fields())
            .with_writer(move || out.clone())
            .finish();
        let odd = "a\"b\\c\nd\u{1b}e'f\u{2028}пример\u{85}";
        tracing::subscriber::with_default(sub, || {
            tracing::info!(
                plain = "native",
                odd,
                shown = %odd,
                n = 42u64,
                neg = -3i64,
                yes = true,
                "request"
            );
        });
        let line = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let expect = format!(
            "request plain=\"native\" odd={} shown={} n=42 neg=-3 yes=true\n",
            Escaped(&format!("{odd:?}")),
            Escaped(odd)
        );
        assert_eq!(line, expect);
        assert!(!line.trim_end().contains('\n'));
    }

    /// A line of the text format is the default format's line, byte for byte but the
    /// time, and the time has its shape.
    #[test]
    fn lines_are_the_default_format() {
        use std::sync::{Arc, Mutex};
        #[derive(Clone, Default)]
        struct Buf(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buf {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let emit = || {
            tracing::info!(dialect = "native", partner = %"demo", code = 1000u64, "request");
            tracing::warn!(what = "x\ny", "locked out");
            tracing::error!("plain");
            tracing::info_span!("outer", k = 1).in_scope(|| tracing::info!(n = 2u64, "inside"));
        };
        let run = |fast: bool| {
            let buf = Buf::default();
            let out = buf.clone();
            let b = tracing_subscriber::fmt()
                .with_ansi(false)
                .fmt_fields(text_fields())
                .with_writer(move || out.clone());
            if fast {
                tracing::subscriber::with_default(
                    b.event_format(TextFormat::default()).finish(),
                    emit,
                );
            } else {
                tracing::subscriber::with_default(b.finish(), emit);
            }
            let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
            text.lines().map(str::to_string).collect::<Vec<_>>()
        };
        let (fast, full) = (run(true), run(false));
        assert_eq!(fast.len(), 4);
        for (a, b) in fast.iter().zip(&full) {
            assert_eq!(a[27..], b[27..]);
            let t = &a.as_bytes()[..27];
            assert!(
                t.iter().enumerate().all(|(i, c)| match i {
                    4 | 7 => *c == b'-',
                    10 => *c == b'T',
                    13 | 16 => *c == b':',
                    19 => *c == b'.',
                    26 => *c == b'Z',
                    _ => c.is_ascii_digit(),
                }),
                "{a}"
            );
        }
        assert!(
            fast[0].ends_with(
                " INFO regway::logging::tests: request dialect=\"native\" partner=demo code=1000"
            ),
            "{}",
            fast[0]
        );
    }
}
