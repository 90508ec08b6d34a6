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
    /// Print what an operator command answers (partner, order, verify, domain move) as
    /// one JSON document on stdout.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Run the gateway.
    Serve {
        /// Log as JSON lines; whatever else the gateway writes (its start-up notice, a
        /// start-up failure) is a JSON line too.
        #[arg(long)]
        json_logs: bool,
        /// Colour the text log: auto (only when stderr is a terminal), always, never.
        #[arg(long, value_name = "WHEN", default_value = "auto")]
        color: regway::logging::Color,
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
    /// The configuration: check it as `serve` would, show what is in effect.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// Open orders: list them, settle one by hand.
    #[command(subcommand)]
    Order(OrderCmd),
    /// Partners' webhook deliveries: list them, retry a failed one.
    #[command(subcommand)]
    Webhook(WebhookCmd),
    /// Domains: move them to another upstream.
    #[command(subcommand)]
    Domain(DomainCmd),
    /// Check every balance against its ledger and the other rules on money and orders.
    Verify,
    /// Drive the sandbox of a running gateway started with the control API on
    /// (REGWAY_SANDBOX_CONTROL=1): clock, taken names, faults, pending orders, reset.
    /// Prints the API's JSON answer (protocol/sandbox.md).
    #[command(subcommand)]
    Sandbox(SandboxCmd),
    /// Move a sled store into an empty PostgreSQL database (no gateway may run on
    /// either meanwhile); run `regway verify` on both afterwards.
    Migrate {
        /// The sled store's data directory.
        #[arg(long, value_name = "DIR")]
        from_sled: std::path::PathBuf,
        /// The PostgreSQL database, as a URL.
        #[arg(long, value_name = "URL")]
        to: String,
    },
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
enum DomainCmd {
    /// Send the renewals and changes of domains registered at upstream FROM to upstream
    /// TO from now on (after transferring them at the registries). A domain with an
    /// open order stays; run it again once that has settled.
    Move {
        /// The upstream the domains are at now.
        #[arg(long)]
        from: String,
        /// The configured upstream they go to.
        #[arg(long)]
        to: String,
        /// Only the domains of this zone.
        #[arg(long)]
        zone: Option<String>,
        /// Only this domain.
        #[arg(long)]
        domain: Option<String>,
    },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Run every check `serve` runs before serving (the values, the catalogues, the
    /// programme files, their partners and currencies, the listen addresses), and
    /// warn about programmes that list a login with no partner.
    Check,
    /// Print the effective configuration (file, REGWAY_* and flags) as TOML, every
    /// secret as `***`.
    Show,
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
    /// Correct a partner's balance by a signed amount (an `adjustment` ledger entry);
    /// a negative one only down to the credit limit.
    #[command(allow_negative_numbers = true)]
    Adjust {
        login: String,
        amount: String,
        /// Why: shown to the partner on the ledger entry.
        #[arg(long)]
        note: String,
        /// Carried out at most once: the same ID again moves no money (safe to retry).
        #[arg(long, value_name = "ID")]
        request_id: Option<String>,
    },
    /// Suspend a partner: its requests are refused (2201) until it is resumed; its
    /// open orders still settle.
    Suspend {
        login: String,
        /// Why (kept, shown by `partner show`, never to the partner).
        #[arg(long)]
        note: String,
        /// Carried out at most once (safe to retry).
        #[arg(long, value_name = "ID")]
        request_id: Option<String>,
    },
    /// Resume a suspended partner.
    Resume {
        login: String,
        #[arg(long)]
        note: String,
        #[arg(long, value_name = "ID")]
        request_id: Option<String>,
    },
    /// Balance, credit limit and counts of a partner.
    Show { login: String },
    /// Every partner: login, state, balance, credit limit, available.
    List,
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
    let json_logs = matches!(
        cli.command,
        Cmd::Serve {
            json_logs: true,
            ..
        }
    );
    if let Cmd::Serve { color, .. } = cli.command {
        let filter = match regway::logging::filter_from_env() {
            Ok(f) => f,
            Err(e) => return fail(&e, false),
        };
        regway::logging::init(filter, json_logs, color);
    } else {
        // An operator command says what went wrong in its one line on stderr; its log
        // is off unless REGWAY_LOG asks for it.
        let filter = std::env::var("REGWAY_LOG")
            .ok()
            .and_then(|_| regway::logging::filter_from_env().ok())
            .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("off"));
        regway::logging::init(filter, false, regway::logging::Color::Auto);
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                &Error::fatal(
                    regway::error::Fault::Runtime,
                    format!("cannot start the runtime: {e}"),
                ),
                json_logs,
            )
        }
    };
    let code = match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => fail(&e, json_logs),
    };
    // Every queued log line out before the process ends (`std::process::exit` elsewhere
    // is covered by the logging's own exit handler).
    regway::logging::flush();
    code
}

/// Says what stopped the command, in one line on stderr (a JSON line with
/// `--json-logs`), and gives its exit code (README, "Exit codes"): 3 configuration,
/// 4 store, 5 network, 6 anything else that failed while running, 1 a command the
/// gateway refused (an unknown partner, a bad amount).
fn fail(e: &Error, json: bool) -> ExitCode {
    use regway::error::{Code, Fault};
    let message = match &e.cause {
        Some(cause) => format!("failed: {cause}"),
        None => e.message.clone(),
    };
    let fault = e.fault.or(match e.code {
        Code::Failed => Some(Fault::Runtime),
        _ => None,
    });
    let code = fault.map_or(1, Fault::exit_code);
    // What the log queue still holds goes out before the last word.
    regway::logging::flush();
    if json {
        let line = serde_json::json!({
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "level": "ERROR",
            "fields": {"message": message, "exit_code": code},
            "target": "regway",
        });
        eprintln!("{line}");
    } else {
        eprintln!("regway: {}", regway::logging::Escaped(&message));
    }
    ExitCode::from(code)
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
    let json = cli.global.json;
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
        Cmd::Serve { json_logs, .. } => serve(cfg, json_logs).await,
        Cmd::Config(ConfigCmd::Check) => {
            let r = regway::app::check(&cfg).await?;
            for line in &r.summary {
                println!("{line}");
            }
            for w in &r.warnings {
                println!("warning: {w}");
            }
            println!(
                "configuration OK{}",
                if r.warnings.is_empty() {
                    String::new()
                } else {
                    format!(" ({} warning(s))", r.warnings.len())
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Domain(DomainCmd::Move {
            from,
            to,
            zone,
            domain,
        }) => {
            let m = regway::engine::moves::MoveDomains {
                from,
                to,
                zone,
                domain,
            };
            let body = serde_json::to_value(&m).map_err(Error::internal)?;
            let r: regway::engine::moves::MoveReport =
                operate(&cfg, "/domain/move", body, |e| async move {
                    e.move_domains(m).await
                })
                .await?;
            if json {
                print_json(&r)?;
                return Ok(ExitCode::from(u8::from(!r.busy.is_empty())));
            }
            for d in &r.moved {
                println!("moved: {d}");
            }
            for d in &r.busy {
                println!("not moved (an order for it is open; run again once it settles): {d}");
            }
            println!("{} domain(s) moved, {} left", r.moved.len(), r.busy.len());
            Ok(if r.busy.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Cmd::Config(ConfigCmd::Show) => {
            print!("{}", cfg.show()?);
            Ok(ExitCode::SUCCESS)
        }
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
            if json {
                print_json(&v)?;
            } else {
                print_partner(&v);
                if let Some(pw) = &v.password {
                    println!("password:     {pw}   (shown once; keep it)");
                }
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
            if json {
                print_json(&v)?;
            } else {
                print_partner(&v);
            }
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
            if json {
                print_json(&v)?;
            } else {
                print_partner(&v);
            }
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
        Cmd::Partner(PartnerCmd::Adjust {
            login,
            amount,
            note,
            request_id,
        }) => {
            check_amount(amount.strip_prefix('-').unwrap_or(&amount))?;
            let body = serde_json::json!({"login": login, "amount": amount, "note": note,
                "request_id": request_id});
            let v: PartnerView = operate(&cfg, "/partner/adjust", body, |e| async move {
                e.adjust_once(&login, &amount, &note, request_id.as_deref())
                    .await
            })
            .await?;
            print_partner(&v);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Partner(cmd @ (PartnerCmd::Suspend { .. } | PartnerCmd::Resume { .. })) => {
            let (suspend, login, note, request_id) = match cmd {
                PartnerCmd::Suspend {
                    login,
                    note,
                    request_id,
                } => (true, login, note, request_id),
                PartnerCmd::Resume {
                    login,
                    note,
                    request_id,
                } => (false, login, note, request_id),
                _ => unreachable!("matched above"),
            };
            let path = if suspend {
                "/partner/suspend"
            } else {
                "/partner/resume"
            };
            let body = serde_json::json!({"login": login, "note": note, "request_id": request_id});
            let v: PartnerView = operate(&cfg, path, body, |e| async move {
                e.set_suspended(&login, suspend, &note, request_id.as_deref())
                    .await
            })
            .await?;
            print_partner(&v);
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Partner(PartnerCmd::List) => {
            let rows: Vec<PartnerView> = operate(
                &cfg,
                "/partner/list",
                serde_json::json!({}),
                |e| async move { e.list_partners() },
            )
            .await?;
            println!("login\tstate\tbalance\tcredit-limit\tavailable\tcurrency");
            for v in &rows {
                let state = if v.suspended { "suspended" } else { "active" };
                println!(
                    "{}\t{state}\t{}\t{}\t{}\t{}",
                    v.login, v.balance, v.credit_limit, v.available, v.currency
                );
            }
            println!("{} partner(s)", rows.len());
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Partner(PartnerCmd::Show { login }) => {
            let body = serde_json::json!({"login": login});
            let v: PartnerView = operate(&cfg, "/partner/show", body, |e| async move {
                e.show_partner(&login)
            })
            .await?;
            if json {
                print_json(&v)?;
            } else {
                print_partner(&v);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Order(OrderCmd::List { state, partner }) => {
            let body = serde_json::json!({"state": state, "partner": partner});
            let rows: Vec<OrderRow> = operate(&cfg, "/order/list", body, |e| async move {
                e.list_open_orders(&state, partner.as_deref())
            })
            .await?;
            if json {
                print_json(&rows)?;
            } else {
                for o in &rows {
                    print_order(o);
                }
                println!("{} order(s)", rows.len());
            }
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
            if json {
                print_json(&o)?;
            } else {
                print_order(&o);
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Migrate { from_sled, to } => {
            let from = regway::store::Store::open_with(
                &from_sled,
                cfg.store_max_batch,
                cfg.store_cache_mb,
            )?;
            let to = regway::store::Store::open_postgres(&to, cfg.store_max_batch)?;
            let started = std::time::Instant::now();
            let copied = tokio::task::block_in_place(|| from.copy_into(&to))?;
            println!(
                "moved {} records and {} sandbox registry entries in {:.1} s; \
                 run `regway verify` on both",
                copied.records,
                copied.registry_entries,
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Verify => {
            let r: VerifyReport = operate(&cfg, "/verify", serde_json::json!({}), |e| async move {
                e.verify().await
            })
            .await?;
            if json {
                print_json(&r)?;
                return Ok(ExitCode::from(u8::from(!r.problems.is_empty())));
            }
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
    // No gateway answered; a directory without a store is most likely the wrong one
    // (only `partner add` may make the store, before the first start).
    if path != "/partner/add"
        && cfg.store_kind() == regway::config::StoreKind::Sled
        && !cfg.data.join("store").exists()
    {
        return Err(Error::fatal(
            regway::error::Fault::Network,
            format!(
                "no running gateway found at {} (and no store there); is it started with \
                 the same --data?",
                cfg.data.display()
            ),
        ));
    }
    let engine = regway::app::open_engine(cfg).map_err(|e| {
        if e.fault.is_some() {
            // Its message names the cause and the fix already.
            return e;
        }
        Error {
            message: format!(
                "{} (no gateway answered on the operator channel in {})",
                e.message,
                cfg.data.display()
            ),
            ..e
        }
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

/// One JSON document on stdout (`--json`).
fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!(
        "{}",
        serde_json::to_string_pretty(v).map_err(Error::internal)?
    );
    Ok(())
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
    if let Some(n) = &v.suspension_note {
        println!("suspension:   {n}");
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

async fn serve(cfg: Config, json: bool) -> Result<ExitCode> {
    // Listen for the signals before the port opens: a SIGTERM that comes as soon as the
    // gateway answers (a supervisor's quick restart) is a graceful stop too.
    let stop = shutdown_signal()?;
    let running = regway::app::start(cfg).await?;
    if !json {
        println!("regway is listening on http://{}/api", running.addr);
    }
    stop.await;
    tracing::info!("shutting down: finishing requests in flight");
    running.shutdown().await;
    tracing::info!("store flushed; bye");
    Ok(ExitCode::SUCCESS)
}

/// A future that ends at SIGINT or SIGTERM; the handlers are in place when it is made.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let cannot = |e: std::io::Error| {
            Error::fatal(
                regway::error::Fault::Runtime,
                format!("cannot listen for signals: {e}"),
            )
        };
        let mut term = signal(SignalKind::terminate()).map_err(cannot)?;
        let mut int = signal(SignalKind::interrupt()).map_err(cannot)?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
