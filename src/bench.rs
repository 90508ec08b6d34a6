//! `regway bench`: a load generator that measures the gateway against a bare hyper
//! "hello" server built the same way, side by side in one run.
//!
//! Both servers run as child processes (`regway serve` and `regway bench-hello`), so
//! they can be pinned apart from the load (`--pin`: servers on CPU 0, load on the
//! others, with `taskset`). Each scenario runs `--seconds` at full speed over
//! `--concurrency` keep-alive HTTP/1.1 connections, then (with `--half-load`) again
//! at half the throughput it reached, open-loop, latency counted from each request's
//! scheduled time so a stall is not hidden. The report is a markdown table.

pub mod scale;

use crate::error::{Error, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1 as client_http1;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::path::PathBuf;
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
}

impl Stats {
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
    pub fn pct(&self, p: f64) -> f64 {
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
    let exe = exe()?;
    let mut cmd = if pin {
        let mut c = Command::new("taskset");
        c.arg("-c").arg("0").arg(&exe);
        c
    } else {
        Command::new(&exe)
    };
    cmd.args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .env("REGWAY_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
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

async fn start_gateway(pin: bool, max_batch: usize) -> Result<Server> {
    let data = tempfile::tempdir().map_err(Error::internal)?;
    let envs = [
        ("REGWAY_DATA", data.path().display().to_string()),
        ("REGWAY_LISTEN", "127.0.0.1:0".to_string()),
        ("REGWAY_ADMIN_LISTEN", "127.0.0.1:0".to_string()),
        ("REGWAY_STORE_MAX_BATCH", max_batch.to_string()),
        // The bench measures throughput, not the partner quotas.
        ("REGWAY_LIMITS_READ_PER_MINUTE", "0".to_string()),
        ("REGWAY_LIMITS_ORDER_PER_MINUTE", "0".to_string()),
    ];
    let (child, addr) = spawn(&["serve"], &envs, pin, "regway is listening on ").await?;
    let topup = serde_json::json!({"login": "demo", "amount": "100000000000.00", "note": "bench"});
    crate::admin::call(data.path(), "/partner/topup", topup)
        .await?
        .ok_or_else(|| Error::internal("operator channel did not answer"))?;
    Ok(Server {
        child,
        addr,
        data: Some(data),
    })
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
                    let s = start_gateway(opts.pin, 1).await?;
                    setup(s.addr).await?;
                    single = Some(s);
                }
                single.as_ref().map(|s| s.addr)
            }
            s if SCENARIOS.contains(&s) => {
                if gateway.is_none() {
                    let s = start_gateway(opts.pin, crate::config::DEFAULT_STORE_MAX_BATCH).await?;
                    setup(s.addr).await?;
                    gateway = Some(s);
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
        let peak = drive(addr, body.clone(), opts.concurrency, dur, None).await?;
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
    let mut out = String::from("| scenario | requests | errors | req/s | vs hello | p50 ms | p90 ms | p99 ms | max ms | p99 ms at half load |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
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
    for s in [hello, gateway, single].into_iter().flatten() {
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
