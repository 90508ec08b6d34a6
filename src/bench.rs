//! `regway bench`: a load generator that measures the gateway against a bare hyper
//! "hello" server built the same way, side by side in one run.
//!
//! Both servers run as child processes (`regway serve` and `regway bench-hello`), so
//! they can be pinned apart from the load (`--pin`: servers on CPU 0, load on the
//! others, with `taskset`). Each scenario runs `--seconds` at full speed over
//! `--concurrency` keep-alive HTTP/1.1 connections, then (with `--half-load`) again
//! at half the throughput it reached, open-loop, latency counted from each request's
//! scheduled time so a stall is not hidden. The report is a markdown table, headed by
//! the load generator and the gateway's log level.
//!
//! The gateway logs as it does in service: at `--log` (default `info`, one line per
//! request), its stderr appended to a file, so the cost of logging is in the figures.
//!
//! The load comes from regway's own generator (a hyper client, one task per connection)
//! or, with `--generator wrk`, from `wrk` (one thread, the same connections), for a
//! figure that does not depend on regway's own client. With `--against BIN` (another
//! build of regway) or `--rounds N`, `bench` compares instead: each round measures
//! hello, this build's gateway and each `--against` gateway one after the other, and
//! the report gives every round's ratios and their spread.

pub mod scale;

use crate::error::{Error, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1 as client_http1;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

#[derive(Debug, Clone)]
pub struct Options {
    pub concurrency: usize,
    pub seconds: f64,
    pub scenarios: Vec<String>,
    pub pin: bool,
    pub half_load: bool,
    pub generator: Generator,
    /// The gateway's log filter (`REGWAY_LOG`).
    pub log: String,
    /// Other builds of regway to compare this one with.
    pub against: Vec<PathBuf>,
    pub rounds: usize,
}

/// What sends the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generator {
    /// regway's own: a hyper http1 client, one task per keep-alive connection.
    Regway,
    /// `wrk` (installed separately), one thread driving the same connections.
    Wrk,
}

impl Generator {
    pub fn parse(s: &str) -> Result<Generator> {
        match s {
            "regway" => Ok(Generator::Regway),
            "wrk" => Ok(Generator::Wrk),
            other => Err(Error::value(
                "generator",
                format!("{other:?}; known: regway, wrk"),
            )),
        }
    }

    fn describe(self, concurrency: usize) -> String {
        match self {
            Generator::Regway => {
                format!("regway's own (hyper http1 client, {concurrency} keep-alive connections)")
            }
            Generator::Wrk => {
                format!("wrk (1 thread, {concurrency} keep-alive connections)")
            }
        }
    }
}

pub const SCENARIOS: [&str; 8] = [
    "hello",
    "flush",
    "balance.get",
    "domain.check",
    "domain.register",
    "domain.register/no-group-commit",
    "replay",
    "domain.list",
];

#[derive(Debug, Clone, Default)]
pub struct Stats {
    pub requests: u64,
    pub errors: u64,
    pub elapsed: Duration,
    /// Latencies in microseconds, sorted.
    pub lat_us: Vec<u32>,
    /// p50, p90, p99 and max in ms as a generator that keeps no latencies (wrk)
    /// reported them.
    pub reported: Option<[f64; 4]>,
}

impl Stats {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn pct(&self, p: f64) -> f64 {
        if let Some(r) = self.reported {
            return match p {
                p if p <= 0.5 => r[0],
                p if p <= 0.9 => r[1],
                p if p < 1.0 => r[2],
                _ => r[3],
            };
        }
        if self.lat_us.is_empty() {
            return 0.0;
        }
        let i = ((self.lat_us.len() as f64 - 1.0) * p).round() as usize;
        self.lat_us[i] as f64 / 1000.0
    }
}

/// A child server and the address it listens on.
struct Server {
    child: Child,
    addr: SocketAddr,
    data: Option<tempfile::TempDir>,
}

fn exe() -> Result<PathBuf> {
    std::env::current_exe().map_err(|e| Error::internal(format!("own executable: {e}")))
}

async fn spawn(
    args: &[&str],
    envs: &[(&str, String)],
    pin: bool,
    marker: &str,
) -> Result<(Child, SocketAddr)> {
    let mut envs = envs.to_vec();
    envs.push(("REGWAY_LOG", "warn".into()));
    spawn_with(&exe()?, args, &envs, pin, marker, None).await
}

/// Starts `bin` with `args`; its stderr goes to `log` (appended) or, without one, to
/// this process's stderr. Returns once it prints `marker` and the address after it.
async fn spawn_with(
    bin: &Path,
    args: &[&str],
    envs: &[(&str, String)],
    pin: bool,
    marker: &str,
    log: Option<&Path>,
) -> Result<(Child, SocketAddr)> {
    let exe = bin.to_path_buf();
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.arg("-c").arg("0").arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    let stderr = match log {
        Some(path) => Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| Error::internal(format!("log file {}: {e}", path.display())))?,
        ),
        None => Stdio::inherit(),
    };
    cmd.args(args)
        .env_remove("REGWAY_CONFIG")
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(stderr)
        .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .map_err(|e| Error::internal(format!("starting {}: {e}", exe.display())))?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .map_err(|_| Error::internal("server did not start within 30 s"))?
            .map_err(Error::internal)?
            .ok_or_else(|| Error::internal("server exited before listening"))?;
        if let Some(rest) = line.strip_prefix(marker) {
            let addr = rest
                .trim()
                .trim_start_matches("http://")
                .trim_end_matches("/api")
                .parse()
                .map_err(|_| Error::internal(format!("unexpected line: {line}")))?;
            // Keep draining stdout so the child never blocks on a full pipe.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok((child, addr));
        }
    }
}

/// A gateway started and given the benchmark's partners, ready to measure.
async fn ready_gateway(bin: &Path, pin: bool, max_batch: usize, log: &str) -> Result<Server> {
    let s = start_gateway(bin, pin, max_batch, log).await?;
    setup(s.addr).await?;
    Ok(s)
}

async fn start_gateway(bin: &Path, pin: bool, max_batch: usize, log: &str) -> Result<Server> {
    let dir = tempfile::tempdir().map_err(Error::internal)?;
    let data = dir.path().join("data");
    let envs = [
        ("REGWAY_DATA", data.display().to_string()),
        ("REGWAY_LISTEN", "127.0.0.1:0".to_string()),
        ("REGWAY_ADMIN_LISTEN", "127.0.0.1:0".to_string()),
        ("REGWAY_STORE_MAX_BATCH", max_batch.to_string()),
        ("REGWAY_LOG", log.to_string()),
        // The bench measures throughput, not the partner quotas.
        ("REGWAY_LIMITS_READ_PER_MINUTE", "0".to_string()),
        ("REGWAY_LIMITS_ORDER_PER_MINUTE", "0".to_string()),
    ];
    let log_file = dir.path().join("gateway.log");
    let (child, addr) = spawn_with(
        bin,
        &["serve"],
        &envs,
        pin,
        "regway is listening on ",
        Some(&log_file),
    )
    .await?;
    let topup = serde_json::json!({"login": "demo", "amount": "100000000000.00", "note": "bench"});
    crate::admin::call(&data, "/partner/topup", topup)
        .await?
        .ok_or_else(|| Error::internal("operator channel did not answer"))?;
    Ok(Server {
        child,
        addr,
        data: Some(dir),
    })
}

/// Lines and bytes in a gateway's log file so far, and the lines its log queue dropped
/// (from `/metrics`; `None` for a build that does not count them).
async fn log_summary(s: &Server) -> Result<String> {
    let Some(dir) = &s.data else {
        return Ok(String::new());
    };
    let text = std::fs::read(dir.path().join("gateway.log")).unwrap_or_default();
    let lines = text.iter().filter(|b| **b == b'\n').count();
    let metrics = get(s.addr, "/metrics").await.unwrap_or_default();
    let dropped = metrics
        .lines()
        .find_map(|l| l.strip_prefix("regway_log_lines_dropped_total "))
        .map_or("not counted".to_string(), |n| n.trim().to_string());
    Ok(format!(
        "{lines} lines, {:.1} MB; dropped: {dropped}",
        text.len() as f64 / 1e6
    ))
}

/// The body of a GET on `path`.
async fn get(addr: SocketAddr, path: &str) -> Result<String> {
    let mut c = Conn::open(addr).await?;
    let req = hyper::Request::builder()
        .header(hyper::header::HOST, addr.to_string())
        .uri(path)
        .body(Full::new(Bytes::new()))
        .map_err(Error::internal)?;
    c.sender.ready().await.map_err(Error::internal)?;
    let resp = c.sender.send_request(req).await.map_err(Error::internal)?;
    let body = resp.into_body().collect().await.map_err(Error::internal)?;
    Ok(String::from_utf8_lossy(&body.to_bytes()).into_owned())
}

type Body = Arc<dyn Fn(usize, u64) -> Option<String> + Send + Sync>;

struct Conn {
    sender: client_http1::SendRequest<Full<Bytes>>,
}

impl Conn {
    async fn open(addr: SocketAddr) -> Result<Conn> {
        let stream = TcpStream::connect(addr).await.map_err(Error::internal)?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = client_http1::handshake(TokioIo::new(stream))
            .await
            .map_err(Error::internal)?;
        tokio::spawn(conn);
        Ok(Conn { sender })
    }

    /// One request; true when the answer is a success (2xx).
    async fn call(&mut self, addr: SocketAddr, body: Option<String>) -> Result<bool> {
        let b = hyper::Request::builder().header(hyper::header::HOST, addr.to_string());
        let req = match body {
            None => b.method("GET").uri("/").body(Full::new(Bytes::new())),
            Some(body) => b
                .method("POST")
                .uri("/api")
                .header(
                    hyper::header::AUTHORIZATION,
                    "Basic ZGVtbzpkZW1vLXBhc3N3b3Jk",
                )
                .header(
                    hyper::header::CONTENT_TYPE,
                    "application/x-www-form-urlencoded",
                )
                .body(Full::new(Bytes::from(body))),
        }
        .map_err(Error::internal)?;
        self.sender.ready().await.map_err(Error::internal)?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(Error::internal)?;
        let ok = resp.status().is_success();
        resp.into_body().collect().await.map_err(Error::internal)?;
        Ok(ok)
    }
}

/// Drives `addr` with `concurrency` connections for `dur`; with `rate`, open-loop at
/// that many requests per second in all.
async fn drive(
    addr: SocketAddr,
    body: Body,
    concurrency: usize,
    dur: Duration,
    rate: Option<f64>,
) -> Result<Stats> {
    let start = Instant::now();
    let end = start + dur;
    let mut tasks = Vec::new();
    for t in 0..concurrency {
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(addr).await?;
            let mut lat = Vec::with_capacity(4096);
            let (mut n, mut errors) = (0u64, 0u64);
            let interval = rate.map(|r| Duration::from_secs_f64(concurrency as f64 / r));
            // Spread the connections' slots evenly over one interval.
            let mut next = start
                + interval.map_or(Duration::ZERO, |i| i.mul_f64(t as f64 / concurrency as f64));
            loop {
                let scheduled = match interval {
                    Some(i) => {
                        if next >= end {
                            break;
                        }
                        tokio::time::sleep_until(next.into()).await;
                        let s = next;
                        next += i;
                        s
                    }
                    None => {
                        let now = Instant::now();
                        if now >= end {
                            break;
                        }
                        now
                    }
                };
                let ok = conn.call(addr, body(t, n)).await?;
                lat.push(scheduled.elapsed().as_micros().min(u32::MAX as u128) as u32);
                n += 1;
                if !ok {
                    errors += 1;
                }
            }
            Ok::<_, Error>((n, errors, lat))
        }));
    }
    let mut s = Stats::default();
    for t in tasks {
        let (n, e, lat) = t.await.map_err(Error::internal)??;
        s.requests += n;
        s.errors += e;
        s.lat_us.extend(lat);
    }
    s.elapsed = start.elapsed();
    s.lat_us.sort_unstable();
    Ok(s)
}

fn scenario_body(name: &str, run: u64) -> Body {
    match name {
        "hello" => Arc::new(|_, _| None),
        "balance.get" => Arc::new(|_, _| Some("command=balance.get".into())),
        "domain.check" => Arc::new(|_, _| {
            Some("command=domain.check&domain=bench-check.com&domain=example.com".into())
        }),
        "replay" => Arc::new(|_, _| {
            Some(
                "command=domain.register&request-id=bench-replay&domain=bench-replay.com&client=1000/RW-P"
                    .into(),
            )
        }),
        "domain.list" => Arc::new(|_, _| Some("command=domain.list&limit=100".into())),
        _ => Arc::new(move |t, n| {
            Some(format!(
                "command=domain.register&request-id=b{run}-{t}-{n}&domain=b{run}-{t}-{n}.com&client=1000/RW-P&ns=ns1.example.net&ns=ns2.example.net"
            ))
        }),
    }
}

async fn setup(addr: SocketAddr) -> Result<()> {
    let mut c = Conn::open(addr).await?;
    let ok = c
        .call(
            addr,
            Some(
                "command=client.create&request-id=bench-client&type=org&name=Bench&email=bench%40example.net&phone=%2B7.4950000000&country=RU&address=Moscow"
                    .into(),
            ),
        )
        .await?;
    let ok2 = c
        .call(
            addr,
            Some("command=domain.register&request-id=bench-replay&domain=bench-replay.com&client=1000/RW-P".into()),
        )
        .await?;
    if !ok || !ok2 {
        return Err(Error::internal("bench set-up requests failed"));
    }
    Ok(())
}

/// Runs the benchmark and returns the markdown report.
pub async fn run(opts: Options) -> Result<String> {
    if opts.pin {
        pin_load()?;
    }
    if !opts.against.is_empty() || opts.rounds > 1 {
        return compare(&opts).await;
    }
    let own = exe()?;
    let dur = Duration::from_secs_f64(opts.seconds);
    let mut hello = None;
    let mut gateway = None;
    let mut single = None;
    let mut rows: Vec<(String, Stats, Option<Stats>)> = Vec::new();
    let mut hello_rps = None;
    for (i, sc) in opts.scenarios.iter().enumerate() {
        if sc == "flush" {
            let s = flushes(dur).await?;
            eprintln!("{sc}: {:.0} flushes/s", s.rps());
            rows.push((sc.clone(), s, None));
            continue;
        }
        let addr = match sc.as_str() {
            "hello" => {
                if hello.is_none() {
                    let (child, addr) = spawn(
                        &["bench-hello"],
                        &[],
                        opts.pin,
                        "hello server listening on ",
                    )
                    .await?;
                    hello = Some(Server {
                        child,
                        addr,
                        data: None,
                    });
                }
                hello.as_ref().map(|s| s.addr)
            }
            "domain.register/no-group-commit" => {
                if single.is_none() {
                    single = Some(ready_gateway(&own, opts.pin, 1, &opts.log).await?);
                }
                single.as_ref().map(|s| s.addr)
            }
            s if SCENARIOS.contains(&s) => {
                if gateway.is_none() {
                    gateway = Some(
                        ready_gateway(
                            &own,
                            opts.pin,
                            crate::config::DEFAULT_STORE_MAX_BATCH,
                            &opts.log,
                        )
                        .await?,
                    );
                }
                gateway.as_ref().map(|s| s.addr)
            }
            other => {
                return Err(Error::value(
                    "scenario",
                    format!("{other:?}; known: {}", SCENARIOS.join(", ")),
                ))
            }
        }
        .expect("started");
        let body = scenario_body(sc, i as u64);
        // A short warm-up fills caches and connection pools.
        drive(
            addr,
            body.clone(),
            opts.concurrency,
            Duration::from_millis(300),
            None,
        )
        .await?;
        let peak = measure(opts.generator, addr, sc, &body, opts.concurrency, dur).await?;
        if sc == "hello" {
            hello_rps = Some(peak.rps());
        }
        let half = if opts.half_load && peak.rps() > 2.0 {
            Some(drive(addr, body, opts.concurrency, dur, Some(peak.rps() / 2.0)).await?)
        } else {
            None
        };
        eprintln!("{sc}: {:.0} req/s", peak.rps());
        rows.push((sc.clone(), peak, half));
    }
    let mut out = header(&opts);
    out.push_str("| scenario | requests | errors | req/s | vs hello | p50 ms | p90 ms | p99 ms | max ms | p99 ms at half load |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (name, s, half) in &rows {
        let ratio = hello_rps
            .map(|h| format!("{:.0}%", 100.0 * s.rps() / h))
            .unwrap_or_else(|| "—".into());
        let half = half
            .as_ref()
            .map(|h| format!("{:.2} (at {:.0}/s)", h.pct(0.99), h.rps()))
            .unwrap_or_else(|| "—".into());
        out.push_str(&format!(
            "| {name} | {} | {} | {:.0} | {ratio} | {:.2} | {:.2} | {:.2} | {:.2} | {half} |\n",
            s.requests,
            s.errors,
            s.rps(),
            s.pct(0.5),
            s.pct(0.9),
            s.pct(0.99),
            s.pct(1.0),
        ));
    }
    for (name, s) in [("gateway", &gateway), ("no-group-commit gateway", &single)] {
        if let Some(s) = s {
            out.push_str(&format!("\n{name}'s log: {}\n", log_summary(s).await?));
        }
    }
    for s in [hello, gateway, single].into_iter().flatten() {
        let mut c = s.child;
        let _ = c.kill().await;
        drop(s.data);
    }
    Ok(out)
}

/// The lines that head a report: what sent the load, and how the gateway logged.
fn header(opts: &Options) -> String {
    let half = if opts.half_load && opts.generator == Generator::Wrk {
        " (the half-load runs: regway's own, open-loop)"
    } else {
        ""
    };
    format!(
        "generator: {}{half}\ngateway log: REGWAY_LOG={}, stderr appended to a file\npinned: {}\n\n",
        opts.generator.describe(opts.concurrency),
        opts.log,
        if opts.pin {
            "servers on CPU 0, load on the others"
        } else {
            "no"
        },
    )
}

/// One closed-loop run of `scenario` against `addr` at full speed.
async fn measure(
    generator: Generator,
    addr: SocketAddr,
    scenario: &str,
    body: &Body,
    concurrency: usize,
    dur: Duration,
) -> Result<Stats> {
    match generator {
        Generator::Regway => drive(addr, body.clone(), concurrency, dur, None).await,
        Generator::Wrk => wrk(addr, scenario, body, concurrency, dur).await,
    }
}

/// Runs `wrk` against `addr` with the scenario's request (which must be the same every
/// time: wrk sends one fixed request) and reads its summary.
async fn wrk(
    addr: SocketAddr,
    scenario: &str,
    body: &Body,
    concurrency: usize,
    dur: Duration,
) -> Result<Stats> {
    let first = body(0, 0);
    if first != body(1, 1) {
        return Err(Error::value(
            "scenario",
            format!("{scenario} sends a different request each time; wrk sends one"),
        ));
    }
    let dir = tempfile::tempdir().map_err(Error::internal)?;
    let mut cmd = Command::new("wrk");
    cmd.arg("-t1")
        .arg(format!("-c{concurrency}"))
        .arg(format!("-d{}s", dur.as_secs_f64().round().max(1.0) as u64))
        .arg("--latency");
    let url = match first {
        None => format!("http://{addr}/"),
        Some(form) => {
            let script = dir.path().join("request.lua");
            std::fs::write(
                &script,
                format!(
                    "wrk.method = \"POST\"\nwrk.body = [[{form}]]\n\
                     wrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n\
                     wrk.headers[\"Authorization\"] = \"Basic ZGVtbzpkZW1vLXBhc3N3b3Jk\"\n"
                ),
            )
            .map_err(Error::internal)?;
            cmd.arg("-s").arg(&script);
            format!("http://{addr}/api")
        }
    };
    let out = cmd
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .await
        .map_err(|e| Error::internal(format!("wrk (is it installed?): {e}")))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(Error::internal(format!(
            "wrk failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    parse_wrk(&text).ok_or_else(|| Error::internal(format!("unexpected wrk output: {text}")))
}

/// The figures of wrk's summary (`--latency`).
fn parse_wrk(text: &str) -> Option<Stats> {
    let ms = |v: &str| -> Option<f64> {
        let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic())?);
        let n: f64 = n.parse().ok()?;
        Some(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            _ => return None,
        })
    };
    let mut s = Stats::default();
    let mut pcts = [0.0; 4];
    let mut errors = 0u64;
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["Latency", _avg, _stdev, max, ..] => pcts[3] = ms(max)?,
            ["50%", v] => pcts[0] = ms(v)?,
            ["90%", v] => pcts[1] = ms(v)?,
            ["99%", v] => pcts[2] = ms(v)?,
            [n, "requests", "in", t, ..] => {
                s.requests = n.parse().ok()?;
                s.elapsed = Duration::from_secs_f64(ms(t.trim_end_matches(','))? / 1000.0);
            }
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                errors += rest
                    .iter()
                    .filter_map(|t| t.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    if s.requests == 0 || s.elapsed.is_zero() {
        return None;
    }
    s.errors = errors;
    s.reported = Some(pcts);
    Some(s)
}

/// `--against` / `--rounds`: hello, this build's gateway and the other builds', one
/// after the other in every round, each round starting one further along the list so
/// that none always runs first; every round's ratios, then their median and range.
async fn compare(opts: &Options) -> Result<String> {
    let dur = Duration::from_secs_f64(opts.seconds);
    let scenarios: Vec<&String> = opts
        .scenarios
        .iter()
        .filter(|s| !["hello", "flush"].contains(&s.as_str()))
        .collect();
    if scenarios.is_empty() {
        return Err(Error::value(
            "scenario",
            "a comparison needs a gateway scenario (balance.get, …)",
        ));
    }
    let (child, addr) = spawn(
        &["bench-hello"],
        &[],
        opts.pin,
        "hello server listening on ",
    )
    .await?;
    let mut targets = vec![(
        "hello".to_string(),
        Server {
            child,
            addr,
            data: None,
        },
    )];
    let mut bins = vec![("this build".to_string(), exe()?)];
    bins.extend(
        opts.against
            .iter()
            .map(|b| (b.display().to_string(), b.clone())),
    );
    for (label, bin) in bins {
        let s = ready_gateway(
            &bin,
            opts.pin,
            crate::config::DEFAULT_STORE_MAX_BATCH,
            &opts.log,
        )
        .await?;
        targets.push((label, s));
    }
    let mut out = header(opts);
    let gateways: Vec<&str> = targets[1..].iter().map(|(l, _)| l.as_str()).collect();
    out.push_str(&format!(
        "{} round(s) of {} s per server; req/s, then each gateway's share of hello's req/s{}\n\n",
        opts.rounds,
        opts.seconds,
        if gateways.len() > 1 {
            " and this build's req/s over the other build's"
        } else {
            ""
        }
    ));
    out.push_str("| round | scenario | order | hello |");
    for g in &gateways {
        out.push_str(&format!(" {g} |"));
    }
    for g in &gateways {
        out.push_str(&format!(" {g} / hello |"));
    }
    for g in &gateways[1..] {
        out.push_str(&format!(" this build / {g} |"));
    }
    out.push('\n');
    let cols = 3 + targets.len() + gateways.len() + gateways.len().saturating_sub(1);
    out.push_str(&format!("|{}\n", "---|".repeat(cols)));
    // scenario → per ratio column → values
    let mut ratios: Vec<(String, Vec<Vec<f64>>)> = scenarios
        .iter()
        .map(|s| (s.to_string(), vec![Vec::new(); cols - 3 - targets.len()]))
        .collect();
    for round in 0..opts.rounds {
        for (si, sc) in scenarios.iter().enumerate() {
            let n = targets.len();
            let order: Vec<usize> = (0..n).map(|k| (k + round) % n).collect();
            let mut rps = vec![0.0; n];
            for &t in &order {
                let (label, server) = &targets[t];
                let name = if t == 0 { "hello" } else { sc.as_str() };
                let body = scenario_body(name, 0);
                if round == 0 {
                    drive(
                        server.addr,
                        body.clone(),
                        opts.concurrency,
                        Duration::from_millis(300),
                        None,
                    )
                    .await?;
                }
                let s = measure(
                    opts.generator,
                    server.addr,
                    name,
                    &body,
                    opts.concurrency,
                    dur,
                )
                .await?;
                if s.errors > 0 {
                    return Err(Error::internal(format!(
                        "{label} answered {} of {} {name} requests with an error",
                        s.errors, s.requests
                    )));
                }
                eprintln!(
                    "round {} {name} on {label}: {:.0} req/s",
                    round + 1,
                    s.rps()
                );
                rps[t] = s.rps();
            }
            let mut vals = Vec::new();
            for g in 1..n {
                vals.push(rps[g] / rps[0]);
            }
            for g in 2..n {
                vals.push(rps[1] / rps[g]);
            }
            let order_text: Vec<&str> = order
                .iter()
                .map(|&t| {
                    if t == 0 {
                        "H"
                    } else if t == 1 {
                        "T"
                    } else {
                        "B"
                    }
                })
                .collect();
            out.push_str(&format!(
                "| {} | {sc} | {} |",
                round + 1,
                order_text.join("")
            ));
            for r in &rps {
                out.push_str(&format!(" {r:.0} |"));
            }
            for (i, v) in vals.iter().enumerate() {
                if i < n - 1 {
                    out.push_str(&format!(" {:.0}% |", 100.0 * v));
                } else {
                    out.push_str(&format!(" {v:.2} |"));
                }
                ratios[si].1[i].push(*v);
            }
            out.push('\n');
        }
    }
    out.push_str("\nmedian (min–max) over the rounds:\n\n");
    for (sc, cols) in &ratios {
        for (i, vals) in cols.iter().enumerate() {
            let mut v = vals.clone();
            v.sort_by(|a, b| a.total_cmp(b));
            let med = if v.len() % 2 == 1 {
                v[v.len() / 2]
            } else {
                (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
            };
            let (what, f): (String, fn(f64) -> String) = if i < gateways.len() {
                (format!("{} / hello", gateways[i]), |x| {
                    format!("{:.0}%", 100.0 * x)
                })
            } else {
                let g = gateways[1 + i - gateways.len()];
                (format!("this build / {g}"), |x| format!("{x:.2}"))
            };
            out.push_str(&format!(
                "- {sc}, {what}: {} ({}–{})\n",
                f(med),
                f(v[0]),
                f(v[v.len() - 1])
            ));
        }
    }
    out.push('\n');
    for (label, s) in &targets[1..] {
        out.push_str(&format!("{label}'s log: {}\n", log_summary(s).await?));
    }
    for (_, s) in targets {
        let mut c = s.child;
        let _ = c.kill().await;
        drop(s.data);
    }
    Ok(out)
}

/// Moves this process (every thread of it: the load) off CPU 0, which `--pin` leaves to
/// the servers.
fn pin_load() -> Result<()> {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus < 2 {
        return Err(Error::value("pin", "needs at least 2 CPUs"));
    }
    let status = std::process::Command::new("taskset")
        .args(["-a", "-cp", &format!("1-{}", cpus - 1)])
        .arg(std::process::id().to_string())
        .stdout(Stdio::null())
        .status()
        .map_err(|e| Error::internal(format!("taskset: {e}")))?;
    if !status.success() {
        return Err(Error::internal("taskset could not pin the load"));
    }
    Ok(())
}

/// The ceiling of one flush per order: small writes to a fresh sled store on the same
/// disk as the gateway's, each flushed before the next, for `dur`.
async fn flushes(dur: Duration) -> Result<Stats> {
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().map_err(Error::internal)?;
        let db = sled::Config::new()
            .path(dir.path().join("store"))
            .flush_every_ms(None)
            .open()
            .map_err(Error::internal)?;
        let start = Instant::now();
        let mut s = Stats::default();
        while start.elapsed() < dur {
            let t = Instant::now();
            db.insert(s.requests.to_be_bytes(), &[0u8; 512][..])
                .map_err(Error::internal)?;
            db.flush().map_err(Error::internal)?;
            s.lat_us
                .push(t.elapsed().as_micros().min(u32::MAX as u128) as u32);
            s.requests += 1;
        }
        s.elapsed = start.elapsed();
        s.lat_us.sort_unstable();
        Ok(s)
    })
    .await
    .map_err(Error::internal)?
}

/// `regway bench-hello`: the baseline — hyper http1 on a multi-thread tokio runtime,
/// answering every request with a fixed body, as the gateway's server is built.
pub async fn hello(listen: SocketAddr) -> Result<()> {
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(Error::internal)?;
    println!(
        "hello server listening on {}",
        listener.local_addr().map_err(Error::internal)?
    );
    loop {
        let (stream, _) = listener.accept().await.map_err(Error::internal)?;
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = service_fn(|_req| async {
                Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                    Bytes::from_static(b"hello\n"),
                )))
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_summary_of_wrk() {
        let out = "Running 5s test @ http://127.0.0.1:8080/api
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency   523.41us  120.12us   5.20ms   90.12%
    Req/Sec    61.23k     2.11k   65.00k    80.00%
  Latency Distribution
     50%  500.00us
     75%  550.00us
     90%  600.00us
     99%    1.10ms
  306000 requests in 5.00s, 80.00MB read
  Non-2xx or 3xx responses: 3
  Socket errors: connect 0, read 1, write 0, timeout 2
Requests/sec:  61200.00
Transfer/sec:     16.00MB
";
        let s = parse_wrk(out).unwrap();
        assert_eq!(s.requests, 306_000);
        assert_eq!(s.errors, 6);
        assert!((s.rps() - 61_200.0).abs() < 0.01);
        assert_eq!(s.pct(0.5), 0.5);
        assert_eq!(s.pct(0.9), 0.6);
        assert_eq!(s.pct(0.99), 1.1);
        assert_eq!(s.pct(1.0), 5.2);
        assert!(parse_wrk("unable to connect to 127.0.0.1:1 Connection refused").is_none());
    }
}
