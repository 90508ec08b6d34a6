//! The sandbox control API (`protocol/sandbox.md`): a test harness moves the gateway's
//! clock (running the daily work for every day it crosses), changes the names the
//! sandbox treats as taken and the faults it injects, answers an order the sandbox
//! holds as pending, empties the store, and reads all that back.
//!
//! It is served only with `sandbox.control = true` (`REGWAY_SANDBOX_CONTROL=1`) and only
//! when every upstream is the sandbox (the configuration refuses it otherwise), on a
//! loopback listener of its own (`sandbox.control_listen`), never on the partner port.
//! Its token scheme is the operator channel's ([`crate::admin`]): the server writes
//! `<data>/sandbox.json` (URL, token, store id; mode 0600) and the CLI (`regway
//! sandbox …`) proves and signs each call with it. Every call is logged at warning
//! level, so a log that shows one is plain to see.
//!
//! Server side here, and the CLI's helpers ([`call`], [`cli_duration`]).

use crate::admin::{self, Channel};
use crate::config::{Config, SandboxFaults};
use crate::engine::operator::{order_row, OrderRow};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::server::InFlight;
use crate::upstream::sandbox::{FaultsView, Sandbox};
use bytes::Bytes;
use chrono::{DateTime, Months, Utc};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::{Deserialize, Serialize};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// The file in the data directory that points the CLI at the control API.
pub const FILE: &str = "sandbox.json";

/// The longest one `POST /clock` moves the clock: the daily work runs once per day
/// crossed.
pub const MAX_ADVANCE_DAYS: i64 = 3660;

/// The store's counters that number what partners own (orders, clients, ledger and
/// commission entries, licences): a reset sets them back to zero.
const COUNTERS: [&str; 5] = ["order", "client", "ledger", "commission", "license"];

pub fn file(data: &Path) -> PathBuf {
    data.join(FILE)
}

/// What the control API works on.
pub struct Control {
    pub engine: Arc<Engine>,
    pub sandbox: Arc<Sandbox>,
    pub in_flight: Arc<InFlight>,
    pub cfg: Config,
    /// The partner port (the demo partner is made again only on loopback).
    pub partner_addr: SocketAddr,
    pub channel: Channel,
    /// One call at a time: a reset never meets a clock move half done.
    busy: tokio::sync::Mutex<()>,
}

impl Control {
    pub fn new(
        engine: Arc<Engine>,
        sandbox: Arc<Sandbox>,
        in_flight: Arc<InFlight>,
        cfg: Config,
        partner_addr: SocketAddr,
        channel: Channel,
    ) -> Control {
        Control {
            engine,
            sandbox,
            in_flight,
            cfg,
            partner_addr,
            channel,
            busy: tokio::sync::Mutex::new(()),
        }
    }
}

/// Serves the control API on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    control: Arc<Control>,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()>,
) {
    let permits = Arc::new(Semaphore::new(admin::MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            p = permits.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let stream = tokio::select! {
            _ = &mut shutdown => break,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let control = control.clone();
        let svc = service_fn(move |req| {
            let control = control.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(&control, header_timeout, req).await) }
        });
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout)
            .max_headers(32)
            .serve_connection(TokioIo::new(stream), svc);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
}

async fn handle(
    control: &Control,
    read_timeout: Duration,
    req: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let auth: Option<String> = {
        let mut all = req.headers().get_all(hyper::header::AUTHORIZATION).iter();
        match (all.next(), all.next()) {
            (Some(v), None) => v.to_str().ok().map(String::from),
            _ => None,
        }
    };
    let body = match tokio::time::timeout(
        read_timeout,
        Limited::new(req.into_body(), 64 * 1024).collect(),
    )
    .await
    {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => return admin::error_response(&Error::syntax("body too large or cut")),
        Err(_) => {
            return admin::error_response(&Error::syntax("the body was not received in time"))
        }
    };
    if path == "/hello" {
        return admin::hello(&control.channel, &body);
    }
    let shown: String = String::from_utf8_lossy(&body).chars().take(512).collect();
    if !control.channel.signed(auth.as_deref(), &path, &body) {
        tracing::warn!(target: "regway::sandbox_control", %method, path, "sandbox control call refused: not signed with the token");
        return admin::error_response(&Error::auth());
    }
    tracing::warn!(target: "regway::sandbox_control", %method, path, body = %shown, "sandbox control call");
    let _one = control.busy.lock().await;
    let result = route(control, &method, &path, &body).await;
    match result {
        Ok(v) => admin::json_response(200, v.to_string().into_bytes()),
        Err(e) => {
            tracing::warn!(target: "regway::sandbox_control", path, code = e.code.number(), "sandbox control call refused: {}", e.message);
            admin::error_response(&e)
        }
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T> {
    let body: &[u8] = if body.is_empty() { b"{}" } else { body };
    serde_json::from_slice(body).map_err(|e| Error::syntax(format!("JSON: {e}")))
}

fn json<T: Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(Error::internal)
}

async fn route(
    control: &Control,
    method: &hyper::Method,
    path: &str,
    body: &[u8],
) -> Result<serde_json::Value> {
    let post = method == hyper::Method::POST;
    match path {
        "/clock" if post => json(&control.move_clock(parse(body)?).await?),
        "/taken" if post => {
            let t: Taken = parse(body)?;
            let taken = control.sandbox.change_taken(&t.add, &t.remove)?;
            Ok(serde_json::json!({ "taken": taken }))
        }
        "/faults" if post => {
            let f: FaultsBody = parse(body)?;
            Ok(serde_json::json!({ "faults": control.set_faults(f)? }))
        }
        "/reset" if post => json(&control.reset().await?),
        // GET as documented; POST too, for clients that always post (the CLI).
        "/state" if post || method == hyper::Method::GET => json(&control.state()?),
        _ => {
            if let Some(id) = path
                .strip_prefix("/orders/")
                .and_then(|r| r.strip_suffix("/settle"))
            {
                if !post {
                    return Err(Error::syntax("POST /orders/{id}/settle"));
                }
                let id: u64 = id
                    .parse()
                    .map_err(|_| Error::value("order", "an order id is a number"))?;
                let s: SettleBody = parse(body)?;
                return json(&control.settle(id, &s.outcome).await?);
            }
            Err(Error::unknown_command(&format!("{method} {path}")))
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockBody {
    #[serde(default)]
    set: Option<String>,
    #[serde(default)]
    advance: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Taken {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsBody {
    #[serde(default)]
    latency_ms: u64,
    #[serde(default)]
    fail_percent: u32,
    #[serde(default)]
    timeout_percent: u32,
    #[serde(default)]
    pending_percent: u32,
    #[serde(default)]
    pending_ms: u64,
    #[serde(default)]
    next: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettleBody {
    outcome: String,
}

/// What `POST /clock` answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClockMoved {
    pub now: String,
    /// UTC days crossed; the daily work ran once for each.
    pub days: u64,
    /// What the daily work did over those days.
    pub expired: u64,
    pub renewed: u64,
    pub unpaid: u64,
    pub skipped: u64,
}

/// What `POST /reset` answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct ResetDone {
    /// Partners removed, with all they owned.
    pub partners_removed: u64,
    /// The demo partner made again, when one is.
    pub demo: Option<String>,
    pub now: String,
}

/// What `GET /state` answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct State {
    pub clock: ClockState,
    pub faults: FaultsView,
    pub taken: Vec<String>,
    pub counts: Counts,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ClockState {
    pub now: String,
    /// Whether it stands still between moves (`sandbox.clock` was set), or runs.
    pub fixed: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Counts {
    pub partners: u64,
    pub open_orders: u64,
    /// Partner requests being carried out.
    pub requests_in_flight: u64,
    /// Records in the sandbox registry (domains, licences, orders answered).
    pub sandbox_records: u64,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// An ISO 8601 duration, `PnYnMnWnDTnHnMnS` (each part optional, at least one):
/// calendar months (years are 12) and a fixed length.
pub fn parse_iso_duration(s: &str) -> Option<(u32, chrono::Duration)> {
    let rest = s.strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) if !t.is_empty() => (d, Some(t)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut months: u32 = 0;
    let mut fixed = chrono::Duration::zero();
    let mut any = false;
    let mut walk = |part: &str, units: &[(char, i64)], date: bool| -> Option<()> {
        let mut n = String::new();
        let mut order = 0;
        for c in part.chars() {
            if c.is_ascii_digit() {
                n.push(c);
                continue;
            }
            let i = units.iter().position(|(u, _)| *u == c)?;
            if i < order || n.is_empty() || n.len() > 7 {
                return None;
            }
            order = i + 1;
            let v: i64 = n.parse().ok()?;
            n.clear();
            any = true;
            let secs = units[i].1;
            if date && secs < 0 {
                months = months.checked_add(u32::try_from(v * -secs).ok()?)?;
            } else {
                fixed = fixed.checked_add(&chrono::Duration::try_seconds(v.checked_mul(secs)?)?)?;
            }
        }
        n.is_empty().then_some(())
    };
    // Negative "seconds" mark calendar units, in months.
    walk(
        date,
        &[('Y', -12), ('M', -1), ('W', 7 * 86400), ('D', 86400)],
        true,
    )?;
    if let Some(t) = time {
        walk(t, &[('H', 3600), ('M', 60), ('S', 1)], false)?;
    }
    any.then_some((months, fixed))
}

/// The CLI's shorthand (`30d`, `12h`, `90m`, `45s`, `2w`, `1y`), or an ISO 8601
/// duration as it is, into the ISO form the API takes.
pub fn cli_duration(s: &str) -> Result<String> {
    let bad = || {
        Error::value(
            "advance",
            format!("{s:?}: a number and d, h, m, s, w or y (30d), or an ISO 8601 duration (P30D)"),
        )
    };
    if s.starts_with('P') {
        parse_iso_duration(s).ok_or_else(bad)?;
        return Ok(s.to_string());
    }
    let unit = s.chars().last().ok_or_else(bad)?;
    let n = &s[..s.len() - unit.len_utf8()];
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    Ok(match unit {
        'y' => format!("P{n}Y"),
        'w' => format!("P{n}W"),
        'd' => format!("P{n}D"),
        'h' => format!("PT{n}H"),
        'm' => format!("PT{n}M"),
        's' => format!("PT{n}S"),
        _ => return Err(bad()),
    })
}

impl Control {
    fn clock(&self) -> Result<&crate::types::clock::Controlled> {
        self.engine
            .clock
            .control()
            .ok_or_else(|| Error::internal("the clock is not controlled"))
    }

    /// Moves the clock forward to the instant `body` names, stopping at each UTC
    /// midnight on the way to run that day's work (expiries, automatic renewals,
    /// pruning at the end), as a gateway running through those days would have.
    async fn move_clock(&self, body: ClockBody) -> Result<ClockMoved> {
        let clock = self.clock()?;
        let from = clock.now();
        let to = match (&body.set, &body.advance) {
            (Some(t), None) => DateTime::parse_from_rfc3339(t)
                .map_err(|_| Error::value("set", format!("{t:?} is not an RFC 3339 instant")))?
                .with_timezone(&Utc),
            (None, Some(d)) => {
                let (months, fixed) = parse_iso_duration(d).ok_or_else(|| {
                    Error::value(
                        "advance",
                        format!("{d:?} is not an ISO 8601 duration (P30D)"),
                    )
                })?;
                from.checked_add_months(Months::new(months))
                    .and_then(|t| t.checked_add_signed(fixed))
                    .ok_or_else(|| Error::range("advance", "too far"))?
            }
            _ => return Err(Error::syntax("give one of set and advance")),
        };
        if to < from {
            return Err(Error::range(
                "set",
                format!("the clock only moves forward; it is {}", ts(from)),
            ));
        }
        if (to - from).num_days() > MAX_ADVANCE_DAYS {
            return Err(Error::range(
                "advance",
                format!("at most {MAX_ADVANCE_DAYS} days at once"),
            ));
        }
        let mut moved = ClockMoved {
            now: String::new(),
            days: 0,
            expired: 0,
            renewed: 0,
            unpaid: 0,
            skipped: 0,
        };
        let mut day = from.date_naive();
        while day < to.date_naive() {
            day = day
                .succ_opt()
                .ok_or_else(|| Error::range("set", "too far"))?;
            let midnight = day.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
            clock
                .set(midnight.max(clock.now()))
                .map_err(|_| Error::internal("the clock moved back"))?;
            let r = self
                .engine
                .daily(self.cfg.auto_renew_days, self.cfg.license_auto_renew_days)
                .await?;
            moved.days += 1;
            moved.expired += r.expired;
            moved.renewed += r.renewed;
            moved.unpaid += r.unpaid;
            moved.skipped += r.skipped;
        }
        clock
            .set(to.max(clock.now()))
            .map_err(|_| Error::internal("the clock moved back"))?;
        if moved.days > 0 {
            self.engine.prune_requests().await?;
        }
        moved.now = ts(clock.now());
        Ok(moved)
    }

    fn set_faults(&self, f: FaultsBody) -> Result<FaultsView> {
        for (name, p) in [
            ("fail_percent", f.fail_percent),
            ("timeout_percent", f.timeout_percent),
            ("pending_percent", f.pending_percent),
        ] {
            if p > 100 {
                return Err(Error::range(name, "a percentage, 0 to 100"));
            }
        }
        if f.fail_percent + f.timeout_percent + f.pending_percent > 100 {
            return Err(Error::range(
                "fail_percent",
                "fail_percent, timeout_percent and pending_percent add up to at most 100",
            ));
        }
        if f.latency_ms > SandboxFaults::MAX_LATENCY_MS {
            return Err(Error::range(
                "latency_ms",
                format!("at most {}", SandboxFaults::MAX_LATENCY_MS),
            ));
        }
        if f.pending_ms > SandboxFaults::MAX_PENDING_MS {
            return Err(Error::range(
                "pending_ms",
                format!("at most {}", SandboxFaults::MAX_PENDING_MS),
            ));
        }
        if f.next == Some(0) {
            return Err(Error::range(
                "next",
                "at least 1 (leave it out for no limit)",
            ));
        }
        let faults = SandboxFaults {
            latency_ms: f.latency_ms,
            fail_percent: f.fail_percent as u8,
            timeout_percent: f.timeout_percent as u8,
            pending_percent: f.pending_percent as u8,
            pending_ms: f.pending_ms,
        };
        Ok(self.sandbox.set_faults(faults, f.next))
    }

    /// Has the sandbox answer an open order it holds as pending, then settles the
    /// order in the gateway as the reconciler would; the order as it then stands.
    async fn settle(&self, id: u64, outcome: &str) -> Result<OrderRow> {
        let completed = match outcome {
            "completed" => true,
            "failed" => false,
            _ => return Err(Error::value("outcome", "completed or failed")),
        };
        let store = &self.engine.store;
        let not_found = || Error::not_found(format!("no order {id}"));
        let login = store.order_owner(id)?.ok_or_else(not_found)?;
        let order = store.order(&login, id)?.ok_or_else(not_found)?;
        if order.state.is_terminal() {
            return Err(Error::prohibited(format!(
                "order {id} is {} already",
                order.state.as_str()
            )));
        }
        let up = self.engine.upstream_order(&login, &order)?;
        self.sandbox
            .settle(&up, completed)
            .map_err(|e| Error::new(e.code, format!("order {id}: {}", e.message)))?;
        let alert_after = Duration::from_millis(self.cfg.unknown_alert_ms);
        self.engine
            .reconcile::<crate::outcome::Outcome>(alert_after)
            .await?;
        let order = store.order(&login, id)?.ok_or_else(not_found)?;
        Ok(order_row(&login, &order))
    }

    /// An empty store with the demo partner, as after a first start: every partner
    /// and all it owns removed in one write, the sandbox registry emptied, taken names,
    /// faults and clock as configured at start. Refused while a partner request is in
    /// flight or an order is open; new requests wait until it is done.
    async fn reset(&self) -> Result<ResetDone> {
        let Some(_quiet) = self.in_flight.quiet() else {
            return Err(Error::prohibited(format!(
                "{} partner request(s) in flight; reset when they are answered",
                self.in_flight.count().max(1)
            )));
        };
        let store = &self.engine.store;
        let open = store.open_orders().count();
        if open > 0 {
            return Err(Error::prohibited(format!(
                "{open} order(s) still open; settle them (POST /orders/ID/settle) or let \
                 them settle, then reset"
            )));
        }
        let logins: Vec<String> = store
            .partners()
            .map(|p| p.map(|p| p.login))
            .collect::<Result<_>>()?;
        let removed = store
            .write(move |tx| {
                tx.set_demo(None)?;
                for login in &logins {
                    if tx.remove_partner(login)?.open {
                        return Err(Error::prohibited(format!(
                            "partner {login} has an order still open; reset when it is settled"
                        )));
                    }
                }
                // Numbering starts again as in a new store: nothing that carried the
                // old numbers is left.
                for counter in COUNTERS {
                    tx.set_counter(counter, 0)?;
                }
                Ok(logins.len() as u64)
            })
            .await?;
        self.sandbox.reset()?;
        self.clock()?.restore();
        // A reconciliation round with no order open forgets every order's back-off.
        let alert_after = Duration::from_millis(self.cfg.unknown_alert_ms);
        self.engine
            .reconcile::<crate::outcome::Outcome>(alert_after)
            .await?;
        let demo = self
            .engine
            .bootstrap_demo(&self.cfg, self.partner_addr)
            .await?
            .map(|_| self.cfg.demo.login.clone());
        store.flush().await?;
        Ok(ResetDone {
            partners_removed: removed,
            demo,
            now: ts(self.engine.clock.now()),
        })
    }

    fn state(&self) -> Result<State> {
        let clock = self.clock()?;
        let store = &self.engine.store;
        Ok(State {
            clock: ClockState {
                now: ts(clock.now()),
                fixed: clock.is_fixed(),
            },
            faults: self.sandbox.faults(),
            taken: self.sandbox.taken(),
            counts: Counts {
                partners: store.partners().count() as u64,
                open_orders: store.open_orders().count() as u64,
                requests_in_flight: self.in_flight.count() as u64,
                sandbox_records: self.sandbox.records() as u64,
            },
        })
    }
}

/// The CLI side: calls the control API of the gateway serving the store in `data`,
/// through `<data>/sandbox.json`.
pub async fn call(data: &Path, path: &str, body: serde_json::Value) -> Result<serde_json::Value> {
    admin::call_channel(&file(data), data, path, body)
        .await?
        .ok_or_else(|| {
            Error::internal(format!(
                "no gateway with the sandbox control API answers for {} (start `regway serve` \
                 with REGWAY_SANDBOX_CONTROL=1 and only sandbox upstreams)",
                data.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations() {
        let d = |s: i64| chrono::Duration::seconds(s);
        assert_eq!(parse_iso_duration("P30D"), Some((0, d(30 * 86400))));
        assert_eq!(parse_iso_duration("PT12H"), Some((0, d(12 * 3600))));
        assert_eq!(parse_iso_duration("P1Y2M"), Some((14, d(0))));
        assert_eq!(
            parse_iso_duration("P1W2DT3H4M5S"),
            Some((0, d(9 * 86400 + 3 * 3600 + 4 * 60 + 5)))
        );
        for bad in [
            "",
            "P",
            "PT",
            "30D",
            "P1",
            "PD",
            "P2D1Y",
            "P1H",
            "PT1D",
            "P-1D",
            "P99999999D",
        ] {
            assert_eq!(parse_iso_duration(bad), None, "{bad}");
        }
        assert_eq!(cli_duration("30d").unwrap(), "P30D");
        assert_eq!(cli_duration("90m").unwrap(), "PT90M");
        assert_eq!(cli_duration("1y").unwrap(), "P1Y");
        assert_eq!(cli_duration("P1DT1H").unwrap(), "P1DT1H");
        assert!(cli_duration("30x").is_err());
        assert!(cli_duration("d").is_err());
        assert!(cli_duration("P1X").is_err());
    }
}
