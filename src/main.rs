//! The `regway` command: `serve` runs the gateway; `partner …`, `order …` and `verify` are the
//! operator's commands, sent to the running gateway over its loopback channel (or run
//! on the store directly when no gateway is running); `sandbox …` drives the sandbox
//! control API of a running gateway (`protocol/sandbox.md`).

use clap::{Args, Parser, Subcommand};
use regway::config::Config;
use regway::engine::operator::{NewPartner, OrderRow, PartnerView, Settle, VerifyReport};
use regway::engine::webhooks::deliver::DeliveryRow;
use regway::error::{Error, Result};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "regway",
    version,
    about = "Partner gateway for domain registrars and licence vendors"
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Args)]
struct Global {
    /// Configuration file (TOML).
    #[arg(long, global = true, value_name = "FILE", env = "REGWAY_CONFIG")]
    config: Option<PathBuf>,
    /// State directory [default: ./regway-data; env REGWAY_DATA].
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Address partners connect to [default: 127.0.0.1:8080; env REGWAY_LISTEN].
    #[arg(long, global = true, value_name = "ADDR")]
    listen: Option<SocketAddr>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway.
    Serve {
        /// Log as JSON lines.
        #[arg(long)]
        json_logs: bool,
    },
    /// Manage partners.
    #[command(subcommand)]
    Partner(PartnerCmd),
    /// The demo partner made on first start.
    #[command(subcommand)]
    Demo(DemoCmd),
    /// Partner programmes.
    #[command(subcommand)]
    Programme(ProgrammeCmd),
    /// Open orders: list them, settle one by hand.
    #[command(subcommand)]
    Order(OrderCmd),
    /// Partners' webhook deliveries: list them, retry a failed one.
    #[command(subcommand)]
    Webhook(WebhookCmd),
    /// Check every balance against its ledger and the other rules on money and orders.
    Verify,
    /// Drive the sandbox of a running gateway started with the control API on
    /// (REGWAY_SANDBOX_CONTROL=1): clock, taken names, faults, pending orders, reset.
    /// Prints the API's JSON answer (protocol/sandbox.md).
    #[command(subcommand)]
    Sandbox(SandboxCmd),
    /// Measure the gateway against a bare hyper server, side by side (BENCHMARKS.md).
    Bench {
        /// Keep-alive connections driving each scenario.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Seconds per scenario (and again at half load with --half-load).
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Scenarios to run, comma-separated [default: all].
        #[arg(long, value_delimiter = ',')]
        scenario: Vec<String>,
        /// Pin the servers to CPU 0 with taskset (the load runs on the other CPUs).
        #[arg(long)]
        pin: bool,
        /// Rerun each scenario open-loop at half its peak throughput and report p99.
        #[arg(long)]
        half_load: bool,
        /// What sends the load: regway (its own hyper client) or wrk.
        #[arg(long, default_value = "regway")]
        generator: String,
        /// The gateway's log filter during the run (REGWAY_LOG).
        #[arg(long, default_value = "info")]
        log: String,
        /// Another build of regway to compare this one with, round by round
        /// (repeatable).
        #[arg(long, value_name = "BIN")]
        against: Vec<PathBuf>,
        /// Rounds of the comparison (hello, this build, each --against, in turn).
        #[arg(long, default_value_t = 1)]
        rounds: usize,
    },
    /// Fill an empty store (--data) directly through the store API: completed
    /// registrations across partners and clients, as the engine records them.
    Load {
        #[arg(long, default_value_t = 1_000_000)]
        domains: u64,
        /// [default: domains / 100]
        #[arg(long)]
        partners: Option<u64>,
        /// [default: domains / 10]
        #[arg(long)]
        clients: Option<u64>,
    },
    /// Load stores of several sizes and measure each as a serving gateway
    /// (BENCHMARKS.md, "Scale").
    BenchScale {
        /// Store sizes in domains, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "10000,1000000")]
        sizes: Vec<u64>,
        /// Seconds per latency measurement.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Keep-alive connections driving each measurement.
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
        /// Pin the gateway to CPU 0 with taskset.
        #[arg(long)]
        pin: bool,
        /// Keep the stores here (store-SIZE per size) and reuse them on the next run.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// The bare hyper server `bench` compares against.
    #[command(hide = true)]
    BenchHello {
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
    },
}

#[derive(Subcommand)]
enum WebhookCmd {
    /// Deliveries, newest event first.
    List {
        /// pending, failed, delivered, or all.
        #[arg(long, default_value = "failed")]
        state: String,
        /// Only this partner's.
        #[arg(long, value_name = "LOGIN")]
        partner: Option<String>,
    },
    /// Try a failed delivery again now (it gets another 24 hours).
    Retry {
        #[arg(long, value_name = "LOGIN")]
        partner: String,
        event: u64,
        endpoint: u64,
    },
}

#[derive(Subcommand)]
enum OrderCmd {
    /// Open orders, oldest first.
    List {
        /// unknown, accepted, submitted, or open (all three).
        #[arg(long, default_value = "unknown")]
        state: String,
        /// Only this partner's.
        #[arg(long, value_name = "LOGIN")]
        partner: Option<String>,
    },
    /// Settle an open order after checking at the upstream what became of it:
    /// --completed keeps the charge, --failed refunds it.
    Settle {
        order: u64,
        #[arg(long, conflicts_with = "failed", required_unless_present = "failed")]
        completed: bool,
        #[arg(long)]
        failed: bool,
        /// What was checked, and where (kept with the order; not shown to the partner).
        #[arg(long)]
        note: String,
        /// (completed licence orders) the licensing service's id of the licence.
        #[arg(long, value_name = "ID")]
        service: Option<String>,
        /// (completed registrations and renewals) the expiry date the registry holds.
        #[arg(long, value_name = "YYYY-MM-DD")]
        expires: Option<String>,
    },
}

#[derive(Subcommand)]
enum SandboxCmd {
    /// Move the gateway's clock forward; the daily work runs for every day crossed.
    Clock {
        /// How far: 30d, 12h, 90m, 45s, 2w, 1y, or an ISO 8601 duration (P30D).
        #[arg(long, conflicts_with = "set", required_unless_present = "set")]
        advance: Option<String>,
        /// To this instant (RFC 3339, e.g. 2027-01-15T00:00:00Z).
        #[arg(long)]
        set: Option<String>,
    },
    /// Have the sandbox answer an order it holds as pending, now.
    Settle {
        order: u64,
        #[arg(long, conflicts_with = "failed", required_unless_present = "failed")]
        completed: bool,
        #[arg(long)]
        failed: bool,
    },
    /// Names the sandbox treats as registered elsewhere: add, remove, list.
    Taken {
        #[arg(long, value_name = "NAME")]
        add: Vec<String>,
        #[arg(long, value_name = "NAME")]
        remove: Vec<String>,
    },
    /// The faults for new orders: without options, those in force; with any, these
    /// (the others 0) for the next N orders (--next) or until changed.
    Faults {
        #[arg(long)]
        fail_percent: Option<u32>,
        #[arg(long)]
        timeout_percent: Option<u32>,
        #[arg(long)]
        pending_percent: Option<u32>,
        #[arg(long)]
        pending_ms: Option<u64>,
        #[arg(long)]
        latency_ms: Option<u64>,
        #[arg(long, value_name = "N")]
        next: Option<u32>,
        /// No faults.
        #[arg(long)]
        off: bool,
    },
    /// An empty store with the demo partner, as after a first start.
    Reset,
    /// Clock, faults, taken names and counts.
    State,
}

#[derive(Subcommand)]
enum ProgrammeCmd {
    /// Validate a programme file and print its resolved tiers.
    Check { file: PathBuf },
}

#[derive(Subcommand)]
enum DemoCmd {
    /// Remove the demo partner and everything it owns (needed before a real upstream).
    Remove,
}

#[derive(Subcommand)]
enum PartnerCmd {
    /// Add a partner (prints a generated password when none is given).
    Add {
        login: String,
        #[arg(long)]
        password: Option<String>,
        #[arg(long, default_value = "RUB")]
        currency: String,
        #[arg(long, value_name = "AMOUNT", default_value = "0")]
        credit_limit: String,
        /// Allowed source network (repeatable); none allows every address.
        #[arg(long = "allow-ip", value_name = "CIDR")]
        allow_ip: Vec<String>,
    },
    /// Credit a partner's balance.
    Topup {
        login: String,
        amount: String,
        #[arg(long, default_value = "")]
        note: String,
        /// Carried out at most once: the same ID again moves no money (safe to retry).
        #[arg(long, value_name = "ID")]
        request_id: Option<String>,
    },
    /// Record money paid back to a partner: out of its balance (only down to zero), or
    /// with --commission out of its commission account.
    Withdraw {
        login: String,
        amount: String,
        #[arg(long, default_value = "")]
        note: String,
        #[arg(long)]
        commission: bool,
        /// Carried out at most once: the same ID again moves no money (safe to retry).
        #[arg(long, value_name = "ID")]
        request_id: Option<String>,
    },
    /// Balance, credit limit and counts of a partner.
    Show { login: String },
}

fn load_config(g: &Global) -> Result<Config> {
    let mut cfg = Config::load(g.config.as_deref())?;
    if let Some(d) = &g.data {
        cfg.data = d.clone();
    }
    if let Some(l) = g.listen {
        cfg.listen = l;
    }
    cfg.validate()?;
    Ok(cfg)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Whatever the gateway or the CLI writes (the store, admin.json) is its owner's
    // only: files 0600, directories 0700.
    #[cfg(unix)]
    // SAFETY: umask has no preconditions and cannot fail.
    unsafe {
        libc::umask(0o077);
    }
    let json_logs = matches!(cli.command, Cmd::Serve { json_logs: true });
    if matches!(cli.command, Cmd::Serve { .. }) {
        regway::logging::init(
            tracing_subscriber::EnvFilter::try_from_env("REGWAY_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
            json_logs,
        );
    } else {
        // Operator commands log only what went wrong, so a failure says why.
        regway::logging::init(tracing_subscriber::EnvFilter::new("warn"), false);
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("regway: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("regway: {}", e.message);
            ExitCode::FAILURE
        }
    };
    // Every queued log line out before the process ends (`std::process::exit` elsewhere
    // is covered by the logging's own exit handler).
    regway::logging::flush();
    code
}

async fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Cmd::Bench {
            concurrency,
            seconds,
            scenario,
            pin,
            half_load,
            generator,
            log,
            against,
            rounds,
        } => {
            let scenarios = if scenario.is_empty() {
                regway::bench::SCENARIOS
                    .iter()
                    .map(|s| s.to_string())
                    .collect()
            } else {
                scenario
            };
            let report = regway::bench::run(regway::bench::Options {
                concurrency: concurrency.max(1),
                seconds: seconds.clamp(0.5, 600.0),
                scenarios,
                pin,
                half_load,
                generator: regway::bench::Generator::parse(&generator)?,
                log,
                against,
                rounds: rounds.max(1),
            })
            .await?;
            print!("{report}");
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::BenchHello { addr } => {
            regway::bench::hello(addr).await?;
            return Ok(ExitCode::SUCCESS);
        }
        Cmd::BenchScale {
            sizes,
            seconds,
            concurrency,
            pin,
            keep,
        } => {
            let report = regway::bench::scale::run(regway::bench::scale::ScaleOptions {
                sizes,
                seconds: seconds.clamp(0.5, 600.0),
                concurrency: concurrency.max(1),
                pin,
                keep,
            })
            .await?;
            print!("{report}");
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let cfg = load_config(&cli.global)?;
    if let Cmd::Sandbox(c) = cli.command {
        return sandbox(&cfg.data, c).await;
    }
    match cli.command {
        Cmd::Sandbox(_) => unreachable!("handled above"),
        Cmd::Bench { .. } | Cmd::BenchHello { .. } | Cmd::BenchScale { .. } => {
            unreachable!("handled above")
        }
        Cmd::Load {
            domains,
            partners,
            clients,
        } => {
            let mut shape = regway::bench::scale::Shape::for_domains(domains);
            shape.partners = partners.unwrap_or(shape.partners);
            shape.clients = clients.unwrap_or(shape.clients);
            let took = regway::bench::scale::load(&cfg.data, shape).await?;
            println!(
                "loaded {} partners, {} clients, {} domains into {} in {:.1} s",
                shape.partners,
                shape.clients,
                shape.domains,
                cfg.data.display(),
                took.as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Serve { .. } => serve(cfg).await,
        Cmd::Programme(ProgrammeCmd::Check { file }) => {
            print!("{}", regway::engine::pricing::check_file(&cfg, &file)?);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Partner(PartnerCmd::Add {
            login,
            password,
            currency,
            credit_limit,
            allow_ip,
        }) => {
            // Refused here, before the gateway or the store is asked.
            let cur = regway::types::money::Currency::parse(&currency)?;
            regway::types::money::Money::parse("credit-limit", &credit_limit, cur, false)?;
            let p = NewPartner {
                login,
                password,
                currency: Some(currency),
                credit_limit: Some(credit_limit),
                allow_ips: allow_ip,
            };
            let v: PartnerView = operate(
                &cfg,
                "/partner/add",
                serde_json::to_value(&p).map_err(Error::internal)?,
                |e| {
                    let p = p.clone();
                    async move { e.add_partner(p).await }
                },
            )
            .await?;
            print_partner(&v);
            if let Some(pw) = &v.password {
                println!("password:     {pw}   (shown once; keep it)");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Partner(PartnerCmd::Topup {
            login,
            amount,
            note,
            request_id,
        }) => {
            check_amount(&amount)?;
            let body = serde_json::json!({"login": login, "amount": amount, "note": note,
                "request_id": request_id});
            let v: PartnerView = operate(&cfg, "/partner/topup", body, |e| async move {
                e.topup_once(&login, &amount, &note, request_id.as_deref())
                    .await
            })
            .await?;
            print_partner(&v);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Partner(PartnerCmd::Withdraw {
            login,
            amount,
            note,
            commission,
            request_id,
        }) => {
            check_amount(&amount)?;
            let body = serde_json::json!({"login": login, "amount": amount, "note": note,
                "commission": commission, "request_id": request_id});
            let v: PartnerView = operate(&cfg, "/partner/withdraw", body, |e| async move {
                e.withdraw_once(&login, &amount, &note, commission, request_id.as_deref())
                    .await
            })
            .await?;
            print_partner(&v);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Demo(DemoCmd::Remove) => {
            let login = cfg.demo.login.clone();
            let r: regway::engine::demo::DemoRemoved = operate(
                &cfg,
                "/demo/remove",
                serde_json::json!({}),
                |e| async move {
                    e.mark_old_demo(&login).await?;
                    e.remove_demo().await
                },
            )
            .await?;
            match &r.login {
                Some(l) => println!(
                    "removed the demo partner {l} and all it owned: clients {}, domains {}, orders {}, licences {} ({} store records)",
                    r.clients, r.domains, r.orders, r.licenses, r.records
                ),
                None => println!("there is no demo partner"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Partner(PartnerCmd::Show { login }) => {
            let body = serde_json::json!({"login": login});
            let v: PartnerView = operate(&cfg, "/partner/show", body, |e| async move {
                e.show_partner(&login)
            })
            .await?;
            print_partner(&v);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Order(OrderCmd::List { state, partner }) => {
            let body = serde_json::json!({"state": state, "partner": partner});
            let rows: Vec<OrderRow> = operate(&cfg, "/order/list", body, |e| async move {
                e.list_open_orders(&state, partner.as_deref())
            })
            .await?;
            for o in &rows {
                print_order(o);
            }
            println!("{} order(s)", rows.len());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Webhook(WebhookCmd::List { state, partner }) => {
            let body = serde_json::json!({"state": state, "partner": partner});
            let rows: Vec<DeliveryRow> = operate(&cfg, "/webhook/list", body, |e| async move {
                e.list_deliveries(&state, partner.as_deref())
            })
            .await?;
            for r in &rows {
                print_delivery(r);
            }
            println!(
                "{} deliver{}",
                rows.len(),
                if rows.len() == 1 { "y" } else { "ies" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Webhook(WebhookCmd::Retry {
            partner,
            event,
            endpoint,
        }) => {
            let body =
                serde_json::json!({"partner": partner, "event": event, "endpoint": endpoint});
            let r: DeliveryRow = operate(&cfg, "/webhook/retry", body, |e| async move {
                e.retry_delivery(&partner, event, endpoint).await
            })
            .await?;
            print_delivery(&r);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Order(OrderCmd::Settle {
            order,
            completed,
            failed: _,
            note,
            service,
            expires,
        }) => {
            let s = Settle {
                order,
                state: if completed { "completed" } else { "failed" }.into(),
                note,
                service,
                expires,
            };
            let body = serde_json::to_value(&s).map_err(Error::internal)?;
            let o: OrderRow = operate(&cfg, "/order/settle", body, |e| async move {
                e.settle_order::<regway::outcome::Outcome>(s).await
            })
            .await?;
            print_order(&o);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Verify => {
            let r: VerifyReport = operate(&cfg, "/verify", serde_json::json!({}), |e| async move {
                e.verify().await
            })
            .await?;
            println!(
                "partners: {}  ledger entries: {}  orders: {} ({} open)  domains: {}",
                r.partners, r.ledger_entries, r.orders, r.open_orders, r.domains
            );
            if r.problems.is_empty() {
                println!("verify: OK");
                Ok(ExitCode::SUCCESS)
            } else {
                for p in &r.problems {
                    println!("MISMATCH: {p}");
                }
                println!("verify: {} problem(s)", r.problems.len());
                Ok(ExitCode::from(1))
            }
        }
    }
}

/// `regway sandbox …`: one call of the control API, its answer printed as JSON.
async fn sandbox(data: &std::path::Path, c: SandboxCmd) -> Result<ExitCode> {
    use serde_json::json;
    let (path, body) = match c {
        SandboxCmd::Clock { advance, set } => match (advance, set) {
            (Some(a), _) => (
                "/clock".to_string(),
                json!({"advance": regway::control::cli_duration(&a)?}),
            ),
            (None, Some(t)) => ("/clock".to_string(), json!({ "set": t })),
            (None, None) => unreachable!("clap requires one"),
        },
        SandboxCmd::Settle {
            order, completed, ..
        } => (
            format!("/orders/{order}/settle"),
            json!({"outcome": if completed { "completed" } else { "failed" }}),
        ),
        SandboxCmd::Taken { add, remove } => {
            ("/taken".to_string(), json!({"add": add, "remove": remove}))
        }
        SandboxCmd::Faults {
            fail_percent,
            timeout_percent,
            pending_percent,
            pending_ms,
            latency_ms,
            next,
            off,
        } => {
            let given = [fail_percent, timeout_percent, pending_percent]
                .iter()
                .any(Option::is_some)
                || pending_ms.is_some()
                || latency_ms.is_some()
                || next.is_some();
            if !given && !off {
                let state = regway::control::call(data, "/state", json!({})).await?;
                println!("{:#}", json!({"faults": state["faults"]}));
                return Ok(ExitCode::SUCCESS);
            }
            let mut body = json!({
                "fail_percent": fail_percent.unwrap_or(0),
                "timeout_percent": timeout_percent.unwrap_or(0),
                "pending_percent": pending_percent.unwrap_or(0),
                "pending_ms": pending_ms.unwrap_or(0),
                "latency_ms": latency_ms.unwrap_or(0),
            });
            if let Some(n) = next {
                body["next"] = json!(n);
            }
            ("/faults".to_string(), body)
        }
        SandboxCmd::Reset => ("/reset".to_string(), json!({})),
        SandboxCmd::State => ("/state".to_string(), json!({})),
    };
    let v = regway::control::call(data, &path, body).await?;
    println!("{v:#}");
    Ok(ExitCode::SUCCESS)
}

/// Sends an operator command to the running gateway; with none running, opens the
/// store and does it here.
/// An amount's shape, checked before the gateway or the store is asked; the partner's
/// currency (its minor digits) is checked where the money moves.
fn check_amount(amount: &str) -> Result<()> {
    use regway::types::money::{parse_amount, MAX_MINOR_DIGITS};
    parse_amount("amount", amount, MAX_MINOR_DIGITS, false).map(|_| ())
}

async fn operate<T, F, Fut>(
    cfg: &Config,
    path: &str,
    body: serde_json::Value,
    local: F,
) -> Result<T>
where
    T: serde::de::DeserializeOwned,
    F: FnOnce(std::sync::Arc<regway::engine::Engine>) -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    if let Some(v) = regway::admin::call(&cfg.data, path, body).await? {
        return serde_json::from_value(v).map_err(Error::internal);
    }
    let engine = regway::app::open_engine(cfg).map_err(|e| {
        Error::new(
            e.code,
            format!(
                "{} (no gateway answered on the operator channel in {})",
                e.message,
                cfg.data.display()
            ),
        )
    })?;
    let r = local(engine.clone()).await;
    engine.store.flush().await?;
    r
}

fn print_delivery(r: &DeliveryRow) {
    println!(
        "event {}  {}  endpoint {} {}  {}  {}  attempts {}{}{}{}",
        r.event,
        r.partner,
        r.endpoint,
        r.url.as_deref().unwrap_or("(deleted)"),
        r.kind,
        r.state,
        r.attempts,
        r.last_status
            .map(|s| format!("  last status {s}"))
            .unwrap_or_default(),
        r.last_error
            .as_deref()
            .map(|e| format!("  last error: {e}"))
            .unwrap_or_default(),
        r.next_attempt
            .as_deref()
            .map(|t| format!("  next {t}"))
            .unwrap_or_default(),
    );
}

fn print_order(o: &OrderRow) {
    println!(
        "order {}  {}  {}  {} {}  {} {}  {}  updated {}",
        o.id,
        o.partner,
        o.state,
        o.command,
        o.object,
        o.amount,
        o.currency,
        o.request_id,
        o.updated
    );
    if let Some(r) = &o.reason {
        println!("  reason: {r}");
    }
    if let Some(n) = &o.note {
        println!("  note:   {n}");
    }
}

fn print_partner(v: &PartnerView) {
    if v.replayed {
        println!("(this request-id was carried out before: nothing moved this time)");
    }
    println!("login:        {}", v.login);
    println!("balance:      {} {}", v.balance, v.currency);
    println!("credit limit: {} {}", v.credit_limit, v.currency);
    println!("available:    {} {}", v.available, v.currency);
    if !v.allow_ips.is_empty() {
        println!("allowed IPs:  {}", v.allow_ips.join(", "));
    }
    if v.suspended {
        println!("suspended:    yes");
    }
    println!("clients:      {}", v.clients);
    println!("domains:      {}", v.domains);
    println!("orders:       {}", v.orders);
    if v.commission_earned
        .bytes()
        .any(|b| (b'1'..=b'9').contains(&b))
    {
        println!(
            "commission:   {} {} withdrawable, {} earned in all",
            v.commission, v.currency, v.commission_earned
        );
    }
}

async fn serve(cfg: Config) -> Result<ExitCode> {
    let running = regway::app::start(cfg).await?;
    println!("regway is listening on http://{}/api", running.addr);
    shutdown_signal().await;
    tracing::info!("shutting down: finishing requests in flight");
    running.shutdown().await;
    tracing::info!("store flushed; bye");
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
