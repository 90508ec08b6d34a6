//! Counters and latency histograms, served at `GET /metrics` in the Prometheus text
//! format (version 0.0.4).
//!
//! Written by hand rather than with the `prometheus` or `metrics` crates: a handful
//! of families with fixed label sets, read under one short lock at scrape time, is a
//! page of code, and it keeps label values bounded by construction: every label is a
//! `&'static str` the caller chose from a fixed set (command names are the known ones
//! or `other`, the command layer's `label`), never what a caller sent.
//!
//! A leaf: it knows nothing of commands or records, only names and numbers.
//!
//! ```text
//! regway_requests_total{dialect="native",command="balance.get",code="1000"} 12
//! regway_request_seconds_bucket{dialect="native",le="0.005"} 10
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Histogram {
    fn observe(&mut self, d: Duration) {
        let s = d.as_secs_f64();
        for (i, b) in BUCKETS.iter().enumerate() {
            if s <= *b {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += s;
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (b, n) in BUCKETS.iter().zip(self.counts) {
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{b}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}",
            self.count
        );
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
struct Inner {
    /// (dialect, command, code) → requests.
    requests: BTreeMap<(&'static str, &'static str, u16), u64>,
    latency: BTreeMap<&'static str, Histogram>,
    /// operation → (calls, errors, latency).
    upstream: BTreeMap<&'static str, (u64, u64, Histogram)>,
    /// The upstream's code → times it refused the gateway itself.
    rejected: BTreeMap<u16, u64>,
}

/// A metric family kept outside [`Metrics`]: name, help, type, and samples of
/// (labels, value).
pub type Family<'a> = (&'a str, &'a str, &'a str, Vec<(String, u64)>);

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
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

impl Metrics {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One answered request; `command` is a bounded label (the command layer's `label`).
    pub fn request(&self, dialect: &'static str, command: &'static str, code: u16, took: Duration) {
        let mut m = self.inner();
        *m.requests.entry((dialect, command, code)).or_default() += 1;
        m.latency.entry(dialect).or_default().observe(took);
    }

    pub fn upstream(&self, op: &'static str, ok: bool, took: Duration) {
        let mut m = self.inner();
        let e = m.upstream.entry(op).or_default();
        e.0 += 1;
        e.1 += u64::from(!ok);
        e.2.observe(took);
    }

    /// The upstream refused the gateway itself (credentials, money there) with `code`.
    pub fn upstream_rejected(&self, code: u16) {
        let mut m = self.inner();
        // Bounded: at most a few dozen distinct codes can come back.
        if m.rejected.len() < 64 || m.rejected.contains_key(&code) {
            *m.rejected.entry(code).or_default() += 1;
        }
    }

    /// The exposition, with `extra` families kept elsewhere.
    pub fn render(&self, extra: &[Family<'_>]) -> String {
        let m = self.inner();
        let mut out = String::new();
        out.push_str(
            "# HELP regway_requests_total Requests by dialect, command and result code.\n",
        );
        out.push_str("# TYPE regway_requests_total counter\n");
        for ((d, c, code), n) in &m.requests {
            let _ = writeln!(
                out,
                "regway_requests_total{{dialect=\"{d}\",command=\"{c}\",code=\"{code}\"}} {n}"
            );
        }
        out.push_str("# HELP regway_request_seconds Time to answer a request, by dialect.\n");
        out.push_str("# TYPE regway_request_seconds histogram\n");
        for (d, h) in &m.latency {
            h.write(
                &mut out,
                "regway_request_seconds",
                &format!("dialect=\"{d}\""),
            );
        }
        out.push_str("# HELP regway_upstream_calls_total Calls to the upstream backend.\n");
        out.push_str("# TYPE regway_upstream_calls_total counter\n");
        for (op, (calls, _, _)) in &m.upstream {
            let _ = writeln!(out, "regway_upstream_calls_total{{op=\"{op}\"}} {calls}");
        }
        out.push_str(
            "# HELP regway_upstream_errors_total Upstream calls that failed or gave no clear answer.\n",
        );
        out.push_str("# TYPE regway_upstream_errors_total counter\n");
        for (op, (_, errors, _)) in &m.upstream {
            let _ = writeln!(out, "regway_upstream_errors_total{{op=\"{op}\"}} {errors}");
        }
        out.push_str("# HELP regway_upstream_seconds Time of upstream calls.\n");
        out.push_str("# TYPE regway_upstream_seconds histogram\n");
        for (op, (_, _, h)) in &m.upstream {
            h.write(&mut out, "regway_upstream_seconds", &format!("op=\"{op}\""));
        }
        out.push_str(
            "# HELP regway_upstream_rejected_total Orders the upstream refused because of the gateway itself (credentials, money at the upstream), by the upstream's code.\n",
        );
        out.push_str("# TYPE regway_upstream_rejected_total counter\n");
        for (code, n) in &m.rejected {
            let _ = writeln!(out, "regway_upstream_rejected_total{{code=\"{code}\"}} {n}");
        }
        drop(m);
        out.push_str(
            "# HELP regway_log_lines_dropped_total Log lines dropped because the log writer's queue was full.\n",
        );
        out.push_str("# TYPE regway_log_lines_dropped_total counter\n");
        let dropped = LOG_LINES_DROPPED.get().map_or(0, |read| read());
        let _ = writeln!(out, "regway_log_lines_dropped_total {dropped}");
        for (name, help, kind, samples) in extra {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, v) in samples {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {v}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {v}");
                }
            }
        }
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
        m.request("native", "other", 2000, Duration::from_millis(1));
        m.upstream("submit", false, Duration::from_millis(20));
        let t = m.render(&[("regway_x", "X.", "gauge", vec![(String::new(), 7)])]);
        assert!(t.contains(
            "regway_requests_total{dialect=\"native\",command=\"balance.get\",code=\"1000\"} 1\n"
        ));
        assert!(t.contains("command=\"other\",code=\"2000\"} 1\n"), "{t}");
        assert!(t.contains("regway_request_seconds_bucket{dialect=\"native\",le=\"0.001\"} 1\n"));
        assert!(t.contains("regway_request_seconds_bucket{dialect=\"native\",le=\"+Inf\"} 2\n"));
        assert!(t.contains("regway_upstream_errors_total{op=\"submit\"} 1\n"));
        assert!(t.contains("regway_x 7\n"));
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
