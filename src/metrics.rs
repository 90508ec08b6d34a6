//! Counters and latency histograms, served at `GET /metrics` in the OpenMetrics text
//! format, through `prometheus-client`, the Prometheus project's Rust client.
//!
//! Label values are bounded by construction: every label is a `&'static str` the
//! caller chose from a fixed set (command names are the known ones or `other`, the
//! command layer's `label`) or a result code, never what a caller sent. Counting a
//! request is an atomic increment in a family found under a read lock.
//!
//! A leaf: it knows nothing of commands or records, only names and numbers.
//!
//! ```text
//! regway_requests_total{dialect="native",command="balance.get",code="1000"} 12
//! regway_request_seconds_bucket{dialect="native",le="0.005"} 10
//! ```

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// The content type of the exposition.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    dialect: &'static str,
    command: &'static str,
    code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DialectLabels {
    dialect: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: u16,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

fn histogram() -> Histogram {
    Histogram::new(BUCKETS.into_iter())
}

/// Whether a metric family is a counter or a gauge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// A metric family kept outside [`Metrics`] and read at scrape time: its name (a
/// counter's without `_total`), help, kind, and samples of (labels, value).
pub type Extra<'a> = (
    &'a str,
    &'a str,
    Kind,
    Vec<(Vec<(&'static str, String)>, u64)>,
);

/// A gauge of fractional values kept outside [`Metrics`]: name, help, samples.
pub type FloatGauge<'a> = (&'a str, &'a str, Vec<(Vec<(&'static str, String)>, f64)>);

pub struct Metrics {
    requests: Family<RequestLabels, Counter>,
    latency: Histograms<DialectLabels>,
    upstream_calls: Family<OpLabels, Counter>,
    upstream_errors: Family<OpLabels, Counter>,
    upstream_latency: Histograms<OpLabels>,
    rejected: Family<CodeLabels, Counter>,
    /// When this process started, in seconds since the epoch.
    started: f64,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            requests: Family::default(),
            latency: Family::new_with_constructor(histogram),
            upstream_calls: Family::default(),
            upstream_errors: Family::default(),
            upstream_latency: Family::new_with_constructor(histogram),
            rejected: Family::default(),
            started: process_start(),
        }
    }
}

/// How to read the number of log lines dropped because the log writer's queue was full;
/// the process's logging registers it when it starts.
type DroppedLines = Box<dyn Fn() -> u64 + Send + Sync>;
static LOG_LINES_DROPPED: OnceLock<DroppedLines> = OnceLock::new();

/// Registers how to read the dropped log lines (once per process; later calls are
/// ignored).
pub fn count_dropped_log_lines(read: impl Fn() -> u64 + Send + Sync + 'static) {
    let _ = LOG_LINES_DROPPED.set(Box::new(read));
}

/// When this process started (the first time it is asked), in seconds since the epoch.
fn process_start() -> f64 {
    static START: OnceLock<f64> = OnceLock::new();
    *START.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or_default()
    })
}

/// The process's resident memory in bytes, and its open file descriptors (Linux's
/// `/proc/self`; None elsewhere).
fn process_usage() -> (Option<u64>, Option<u64>) {
    let page = 4096;
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * page);
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count() as u64);
    (rss, fds)
}

impl Metrics {
    /// One answered request; `command` is a bounded label (the command layer's `label`).
    pub fn request(&self, dialect: &'static str, command: &'static str, code: u16, took: Duration) {
        self.requests
            .get_or_create(&RequestLabels {
                dialect,
                command,
                code,
            })
            .inc();
        self.latency
            .get_or_create(&DialectLabels { dialect })
            .observe(took.as_secs_f64());
    }

    pub fn upstream(&self, op: &'static str, ok: bool, took: Duration) {
        let l = OpLabels { op };
        self.upstream_calls.get_or_create(&l).inc();
        let errors = self.upstream_errors.get_or_create(&l);
        if !ok {
            errors.inc();
        }
        self.upstream_latency
            .get_or_create(&l)
            .observe(took.as_secs_f64());
    }

    /// The upstream refused the gateway itself (credentials, money there) with `code`.
    pub fn upstream_rejected(&self, code: u16) {
        self.rejected.get_or_create(&CodeLabels { code }).inc();
    }

    /// The exposition (OpenMetrics text), with `extra` families kept elsewhere.
    pub fn render(&self, extra: &[Extra<'_>], floats: &[FloatGauge<'_>]) -> String {
        let mut r = Registry::default();
        r.register(
            "regway_requests",
            "Requests by dialect, command and result code",
            self.requests.clone(),
        );
        r.register(
            "regway_request_seconds",
            "Time to answer a request, by dialect",
            self.latency.clone(),
        );
        r.register(
            "regway_upstream_calls",
            "Calls to the upstream backends (op: check, submit, lookup, probe)",
            self.upstream_calls.clone(),
        );
        r.register(
            "regway_upstream_errors",
            "Upstream calls that failed or gave no clear answer",
            self.upstream_errors.clone(),
        );
        r.register(
            "regway_upstream_seconds",
            "Time of upstream calls",
            self.upstream_latency.clone(),
        );
        r.register(
            "regway_upstream_rejected",
            "Orders the upstream refused because of the gateway itself (credentials, money at the upstream), by the upstream's code",
            self.rejected.clone(),
        );
        let dropped = LOG_LINES_DROPPED.get().map_or(0, |read| read());
        r.register(
            "regway_log_lines_dropped",
            "Log lines dropped because the log writer's queue was full",
            ConstCounter::new(dropped),
        );
        let build: Family<Vec<(&'static str, String)>, Gauge> = Family::default();
        build
            .get_or_create(&vec![("version", env!("CARGO_PKG_VERSION").to_string())])
            .set(1);
        r.register("regway_build_info", "The running build (always 1)", build);
        let (rss, fds) = process_usage();
        if let Some(rss) = rss {
            r.register(
                "process_resident_memory_bytes",
                "Resident memory of the process, in bytes",
                ConstGauge::new(rss as i64),
            );
        }
        if let Some(fds) = fds {
            r.register(
                "process_open_fds",
                "Open file descriptors of the process",
                ConstGauge::new(fds as i64),
            );
        }
        r.register(
            "process_start_time_seconds",
            "When the process started, in seconds since the Unix epoch",
            ConstGauge::new(self.started),
        );
        for (name, help, kind, samples) in extra {
            let name = name.strip_suffix("_total").unwrap_or(name);
            // The encoder ends the help with its own full stop.
            let help = help.trim_end_matches('.');
            if let [(labels, v)] = samples.as_slice() {
                if labels.is_empty() {
                    match kind {
                        Kind::Counter => r.register(name, help, ConstCounter::new(*v)),
                        Kind::Gauge => r.register(
                            name,
                            help,
                            ConstGauge::new(i64::try_from(*v).unwrap_or(i64::MAX)),
                        ),
                    }
                    continue;
                }
            }
            match kind {
                Kind::Counter => {
                    let f: Family<Vec<(&'static str, String)>, Counter> = Family::default();
                    for (labels, v) in samples {
                        f.get_or_create(labels).inc_by(*v);
                    }
                    r.register(name, help, f);
                }
                Kind::Gauge => {
                    let f: Family<Vec<(&'static str, String)>, Gauge> = Family::default();
                    for (labels, v) in samples {
                        f.get_or_create(labels)
                            .set(i64::try_from(*v).unwrap_or(i64::MAX));
                    }
                    r.register(name, help, f);
                }
            }
        }
        for (name, help, samples) in floats {
            let f: Family<Vec<(&'static str, String)>, Gauge<f64, std::sync::atomic::AtomicU64>> =
                Family::default();
            for (labels, v) in samples {
                f.get_or_create(labels).set(*v);
            }
            r.register(*name, help.trim_end_matches('.'), f);
        }
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &r);
        out
    }
}

/// Orders not yet completed or failed, by state: counted once when the store opens,
/// then kept up to date from every committed write of an order record
/// (the store's `observe`), so a scrape reads three numbers and scans nothing.
/// States are named as orders name them (`accepted`, `submitted`, `unknown`); any other
/// (`completed`, `failed`) is not open and not counted.
#[derive(Default)]
pub struct OpenOrders {
    accepted: AtomicI64,
    submitted: AtomicI64,
    unknown: AtomicI64,
}

impl OpenOrders {
    fn slot(&self, state: &str) -> Option<&AtomicI64> {
        match state {
            "accepted" => Some(&self.accepted),
            "submitted" => Some(&self.submitted),
            "unknown" => Some(&self.unknown),
            _ => None,
        }
    }

    /// An order record went from state `from` to state `to` (`None`: absent).
    pub fn moved(&self, from: Option<&str>, to: Option<&str>) {
        if from == to {
            return;
        }
        if let Some(c) = from.and_then(|s| self.slot(s)) {
            c.fetch_sub(1, Ordering::Relaxed);
        }
        if let Some(c) = to.and_then(|s| self.slot(s)) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts one open order found at start.
    pub fn count(&self, state: &str) {
        if let Some(c) = self.slot(state) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// (state, orders) for the gauge.
    pub fn get(&self) -> [(&'static str, u64); 3] {
        let g = |c: &AtomicI64| c.load(Ordering::Relaxed).max(0) as u64;
        [
            ("accepted", g(&self.accepted)),
            ("submitted", g(&self.submitted)),
            ("unknown", g(&self.unknown)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition() {
        let m = Metrics::default();
        m.request("native", "balance.get", 1000, Duration::from_millis(3));
        m.request("native", "other", 2000, Duration::from_micros(500));
        m.upstream("submit", false, Duration::from_millis(20));
        let t = m.render(&[("regway_x", "X.", Kind::Gauge, vec![(vec![], 7)])], &[]);
        assert!(t.contains(
            "regway_requests_total{dialect=\"native\",command=\"balance.get\",code=\"1000\"} 1\n"
        ));
        assert!(t.contains("command=\"other\",code=\"2000\"} 1\n"), "{t}");
        assert!(
            t.contains("regway_request_seconds_bucket{le=\"0.001\",dialect=\"native\"} 1\n")
                || t.contains("regway_request_seconds_bucket{dialect=\"native\",le=\"0.001\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("regway_upstream_errors_total{op=\"submit\"} 1\n"),
            "{t}"
        );
        assert!(t.contains("regway_x 7\n"), "{t}");
        assert!(t.contains(&format!(
            "regway_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(t.ends_with("# EOF\n"));
    }

    #[test]
    fn open_orders_follow_their_state() {
        let o = OpenOrders::default();
        o.count("submitted");
        o.moved(None, Some("accepted"));
        o.moved(Some("accepted"), Some("unknown"));
        o.moved(Some("submitted"), Some("completed"));
        o.moved(Some("unknown"), Some("unknown"));
        o.moved(Some("failed"), None);
        assert_eq!(o.get(), [("accepted", 0), ("submitted", 0), ("unknown", 1)]);
    }
}
