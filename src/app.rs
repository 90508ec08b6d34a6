//! Putting the gateway together: store, backend, engine, listeners, background worker.

use crate::admin;
use crate::config::Config;
use crate::config::UpstreamKind;
use crate::engine::Engine;
use crate::error::{Error, Fault, Result};
use crate::server::{self, Limits};
use crate::store::Store;
use crate::types::clock::Clock;
use crate::upstream::ispsystem::Ispsystem;
use crate::upstream::regway::Regway;
use crate::upstream::sandbox::Sandbox;
use crate::upstream::{Backend, Router};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Opens the configured store: sled in `data`, or the PostgreSQL database.
pub fn open_store(cfg: &Config) -> Result<Store> {
    match (cfg.store_kind(), &cfg.database_url) {
        (crate::config::StoreKind::Postgres, Some(url)) => {
            // The data directory still holds the operator channel's file.
            let mut dir = std::fs::DirBuilder::new();
            dir.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut dir, 0o700);
            dir.create(&cfg.data)
                .map_err(|e| {
                    Error::fatal(
                        crate::error::Fault::Store,
                        format!(
                            "cannot create the data directory {}: {e}; make it writable or use another --data",
                            cfg.data.display()
                        ),
                    )
                })?;
            Store::open_postgres(&url.0, cfg.store_max_batch)
        }
        (crate::config::StoreKind::Postgres, None) => Err(Error::syntax(
            "store = \"postgres\" needs database_url (or REGWAY_DATABASE_URL)",
        )),
        (crate::config::StoreKind::Sled, _) => {
            Store::open_with(&cfg.data, cfg.store_max_batch, cfg.store_cache_mb)
        }
    }
}

/// Opens the store and builds the engine, without serving anything.
pub fn open_engine(cfg: &Config) -> Result<Arc<Engine>> {
    Ok(open_parts(cfg)?.0)
}

/// The engine and the sandbox behind it (which the sandbox control API drives).
fn open_parts(cfg: &Config) -> Result<(Arc<Engine>, Arc<Sandbox>)> {
    // The configuration's own errors first, whatever the state of the store.
    Engine::check_config(cfg)?;
    let store = open_store(cfg)?;
    let clock = match (cfg.sandbox.control, cfg.sandbox.clock) {
        (true, start) => Clock::controlled(start),
        (false, Some(t)) => Clock::Fixed(t),
        (false, None) => Clock::System,
    };
    let the_sandbox = Arc::new(Sandbox::new(
        store.registry("sandbox")?,
        &cfg.sandbox.taken,
        clock.clone(),
        cfg.sandbox.faults,
    )?);
    let sandbox: Arc<dyn Backend> = the_sandbox.clone();
    let mut named: BTreeMap<&str, Arc<dyn Backend>> = BTreeMap::new();
    named.insert("sandbox", sandbox.clone());
    for (name, u) in &cfg.upstreams {
        let b: Arc<dyn Backend> = match u.kind {
            UpstreamKind::Sandbox => sandbox.clone(),
            UpstreamKind::Regway => Arc::new(Regway::new(u)?),
            UpstreamKind::Ispsystem => Arc::new(Ispsystem::new(u)?),
        };
        named.insert(name, b);
    }
    let pick = |n: &Option<String>| -> Result<Option<Arc<dyn Backend>>> {
        n.as_deref()
            .map(|n| {
                named
                    .get(n)
                    .cloned()
                    .ok_or_else(|| Error::syntax(format!("no upstream named {n:?}")))
            })
            .transpose()
    };
    let default = pick(&cfg.upstream)?.unwrap_or_else(|| sandbox.clone());
    let mut zones = BTreeMap::new();
    for (zone, z) in &cfg.zones {
        if let Some(b) = pick(&z.upstream)? {
            zones.insert(zone.clone(), b);
        }
    }
    let licenses = pick(&cfg.license_upstream)?.unwrap_or_else(|| sandbox.clone());
    // The upstreams orders go to, by name, for /healthz.
    let mut used: Vec<&str> = vec![cfg.upstream.as_deref().unwrap_or("sandbox")];
    used.extend(cfg.zones.values().filter_map(|z| z.upstream.as_deref()));
    used.push(cfg.license_upstream.as_deref().unwrap_or("sandbox"));
    used.sort_unstable();
    used.dedup();
    let probed = used
        .into_iter()
        .filter_map(|n| named.get(n).map(|b| (n.to_string(), b.clone())))
        .collect();
    let names = crate::upstream::Names {
        named: named
            .iter()
            .map(|(n, b)| (n.to_string(), b.clone()))
            .collect(),
        default: cfg.upstream.clone().unwrap_or_else(|| "sandbox".into()),
        zones: cfg
            .zones
            .iter()
            .filter_map(|(zone, z)| z.upstream.clone().map(|u| (zone.clone(), u)))
            .collect(),
    };
    let router = Router::new(default, zones, licenses).with_names(names);
    let mut engine = Engine::new(cfg, store, Arc::new(router), clock)?;
    engine.probes = crate::upstream::health::Probes::new(
        probed,
        crate::engine::probe_timeout(cfg),
        engine.metrics.clone(),
    );
    Ok((Arc::new(engine), the_sandbox))
}

/// A running gateway.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The sandbox control API, when it is on.
    pub control_addr: Option<SocketAddr>,
    pub engine: Arc<Engine>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The data directory and the operator channel's token, to remove `admin.json`.
    admin: (std::path::PathBuf, String),
    /// The control API's token, to remove `sandbox.json`.
    control_token: Option<String>,
}

impl Running {
    /// Stops accepting, lets requests in flight finish, flushes the store.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // The operator channel is closed: its file must not point the CLI at a port
        // someone else may take next.
        admin::remove_admin_file(&self.admin.0, &self.admin.1);
        if let Some(t) = &self.control_token {
            admin::remove_channel_file(&crate::control::file(&self.admin.0), t);
        }
        if let Err(e) = self.engine.store.flush().await {
            tracing::error!(error = %e, "final flush failed");
        }
        // Connection tasks let go of the engine just after their connection ends; the
        // store closes (and its lock is released) when the last handle is dropped.
        let engine = self.engine;
        for _ in 0..2000 {
            if Arc::strong_count(&engine) == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if Arc::strong_count(&engine) > 1 {
            tracing::warn!("the store is still in use after shutdown");
        }
        let _ = tokio::task::spawn_blocking(move || drop(engine)).await;
    }
}

async fn stopped(mut rx: watch::Receiver<bool>) {
    while !*rx.borrow() {
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// The configured upstreams that are not the sandbox.
fn real_upstreams(cfg: &Config) -> Vec<&str> {
    cfg.upstreams
        .iter()
        .filter(|(_, u)| u.kind != UpstreamKind::Sandbox)
        .map(|(n, _)| n.as_str())
        .collect()
}

/// Refuses to serve a store that holds the demo partner (published password, free
/// money) with a real upstream configured.
async fn refuse_demo_with_real_upstream(cfg: &Config, engine: &Engine) -> Result<()> {
    engine.mark_old_demo(&cfg.demo.login).await?;
    let real = real_upstreams(cfg);
    let (Some(login), Some(upstream)) = (engine.demo_partner()?, real.first()) else {
        return Ok(());
    };
    let data = cfg.data.display();
    Err(Error::config(format!(
        "the store in {data} holds the demo partner {login:?}, whose password is published, \
         and upstream {upstream:?} is not the sandbox: a demo partner never meets a real \
         upstream. Remove it (and all it owns) with `regway demo remove --data {data}`, \
         then start again; `[demo] enabled = false` in the configuration keeps a new one \
         from being made"
    )))
}

/// Listens on `addr`; a failure names the address, the cause and where to set
/// another (`how`).
async fn bind(addr: SocketAddr, how: &str) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        let fix = match e.kind() {
            std::io::ErrorKind::AddrInUse => "stop what uses it or choose another address",
            std::io::ErrorKind::PermissionDenied => {
                "use a port above 1023 or give regway the right to bind it"
            }
            std::io::ErrorKind::AddrNotAvailable => "use an address of this machine",
            _ => "choose another address",
        };
        Error::fatal(
            Fault::Network,
            format!(
                "cannot listen on {addr}: {}; {fix} ({how})",
                crate::config::io_reason(&e)
            ),
        )
    })
}

/// Starts the gateway. With a JSON log, what it prints on stdout (the demo partner's
/// notice) is a JSON line too.
pub async fn start(cfg: Config) -> Result<Running> {
    if cfg.sandbox.control {
        // Checked before anything is opened, whoever built the configuration.
        cfg.validate()?;
    }
    let (engine, sandbox) = open_parts(&cfg)?;
    refuse_demo_with_real_upstream(&cfg, &engine).await?;
    // Settle orders a previous run left open (a crash between accepting an order and
    // recording the upstream's answer) before taking new requests.
    let alert_after = Duration::from_millis(cfg.unknown_alert_ms);
    if cfg.sandbox.faults.any() {
        let f = cfg.sandbox.faults;
        tracing::warn!(
            latency_ms = f.latency_ms,
            fail_percent = f.fail_percent,
            timeout_percent = f.timeout_percent,
            pending_percent = f.pending_percent,
            pending_ms = f.pending_ms,
            "sandbox fault injection is on (REGWAY_SANDBOX_*)"
        );
    }
    let listener = bind(cfg.listen, "--listen, REGWAY_LISTEN or `listen`").await?;
    let addr = listener.local_addr().map_err(Error::internal)?;
    let admin_listener = bind(cfg.admin_listen, "REGWAY_ADMIN_LISTEN or `admin_listen`").await?;
    let admin_addr = admin_listener.local_addr().map_err(Error::internal)?;
    let control_listener = match cfg.sandbox.control {
        true => Some(
            bind(
                cfg.sandbox.control_listen,
                "REGWAY_SANDBOX_CONTROL_LISTEN or `sandbox.control_listen`",
            )
            .await?,
        ),
        false => None,
    };
    if let Some(msg) = engine.bootstrap_demo(&cfg, addr).await? {
        // The password goes to the operator's terminal, never into the log.
        tracing::info!(login = %cfg.demo.login, "created the demo partner");
        if crate::logging::is_json() {
            println!("{}", serde_json::json!({ "notice": msg }));
        } else {
            println!("{msg}");
        }
    }
    let token = admin::new_token();
    let channel = Arc::new(admin::Channel::new(
        token.clone(),
        engine.store.id().to_string(),
        admin::data_dir_id(&cfg.data)?,
    ));
    admin::write_admin_file(
        &cfg.data,
        &admin::AdminFile {
            url: format!("http://{admin_addr}"),
            token: token.clone(),
            store_id: engine.store.id().to_string(),
        },
    )?;
    let (stop, rx) = watch::channel(false);
    let limits = Limits {
        max_body_bytes: cfg.max_body_bytes,
        max_connections: cfg.max_connections,
        header_timeout: Duration::from_millis(cfg.header_timeout_ms),
        body_timeout: Duration::from_millis(cfg.body_timeout_ms),
    };
    let mut tasks = Vec::new();
    let in_flight = Arc::new(server::InFlight::new(cfg.sandbox.control));
    tasks.push(tokio::spawn(server::serve(
        listener,
        engine.clone(),
        limits,
        in_flight.clone(),
        stopped(rx.clone()),
    )));
    let mut control_addr = None;
    let mut control_token = None;
    if let Some(l) = control_listener {
        let at = l.local_addr().map_err(Error::internal)?;
        let token = admin::new_token();
        admin::write_channel_file(
            &cfg.data,
            crate::control::FILE,
            &admin::AdminFile {
                url: format!("http://{at}"),
                token: token.clone(),
                store_id: engine.store.id().to_string(),
            },
        )?;
        let channel = admin::Channel::new(
            token.clone(),
            engine.store.id().to_string(),
            admin::data_dir_id(&cfg.data)?,
        );
        let control = crate::control::Control::new(
            engine.clone(),
            sandbox,
            in_flight,
            cfg.clone(),
            addr,
            channel,
        );
        tasks.push(tokio::spawn(crate::control::serve(
            l,
            Arc::new(control),
            limits.header_timeout,
            stopped(rx.clone()),
        )));
        tracing::warn!(control = %at, "the sandbox control API is on (sandbox.control): it moves the clock and empties the store");
        println!(
            "sandbox control API on http://{at} (token in {})",
            crate::control::file(&cfg.data).display()
        );
        control_addr = Some(at);
        control_token = Some(token);
    }
    tasks.push(tokio::spawn(admin::serve(
        admin_listener,
        engine.clone(),
        channel,
        limits.header_timeout,
        stopped(rx.clone()),
    )));
    tasks.push(tokio::spawn(crate::gateway::background::work(
        engine.clone(),
        crate::gateway::background::Schedule {
            interval: Duration::from_millis(cfg.reconcile_interval_ms),
            alert_after,
            renew_days: cfg.auto_renew_days,
            license_renew_days: cfg.license_auto_renew_days,
        },
        stopped(rx.clone()),
    )));
    // Forget idle rate-limit keys so the limiters stay small.
    let hk_engine = engine.clone();
    let hk_stop = rx.clone();
    tasks.push(tokio::spawn(async move {
        let mut stop = std::pin::pin!(stopped(hk_stop));
        let every = hk_engine.limits.housekeeping_interval();
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(every) => {}
            }
            hk_engine.limits.housekeeping();
        }
    }));
    // Partners' events, delivered beside the request path (engine::webhooks).
    tasks.push(tokio::spawn(crate::engine::webhooks::deliver::run(
        engine.clone(),
        stopped(rx.clone()),
    )));
    if let Ok(checked) = Engine::check_config(&cfg) {
        for line in loaded(&cfg, &checked) {
            tracing::info!("{line}");
        }
    }
    tracing::info!(%addr, %admin_addr, data = %cfg.data.display(), backend = engine.backend.name(), "regway is serving");
    Ok(Running {
        addr,
        admin_addr,
        control_addr,
        engine,
        stop,
        tasks,
        admin: (cfg.data.clone(), token),
        control_token,
    })
}

/// What `regway config check` found: what the configuration sets up, and warnings
/// that do not stop `serve`.
#[derive(Debug, Default)]
pub struct CheckReport {
    pub summary: Vec<String>,
    pub warnings: Vec<String>,
}

/// One line naming what a configuration loads: its file, programmes, zones and
/// upstreams (the start-up log's, and `config check`'s).
fn loaded(cfg: &Config, checked: &crate::engine::Checked) -> Vec<String> {
    let file = cfg
        .file
        .as_ref()
        .map_or("none (defaults and REGWAY_*)".to_string(), |f| {
            f.display().to_string()
        });
    let programmes: Vec<String> = checked
        .programmes
        .all()
        .iter()
        .map(|p| format!("{} ({})", p.name, p.origin.file))
        .collect();
    let zones: Vec<String> = checked
        .catalogue
        .zones()
        .map(|z| {
            let up = cfg
                .zones
                .get(&z.name)
                .and_then(|c| c.upstream.clone())
                .or_else(|| cfg.upstream.clone())
                .unwrap_or_else(|| "sandbox".into());
            format!("{} -> {up}", z.name)
        })
        .collect();
    let mut upstreams = vec!["sandbox (built in)".to_string()];
    upstreams.extend(
        cfg.upstreams
            .iter()
            .map(|(n, u)| format!("{n} ({})", format!("{:?}", u.kind).to_lowercase())),
    );
    let none = |v: Vec<String>| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    vec![
        format!("configuration file: {file}"),
        format!("data directory: {}", cfg.data.display()),
        format!("programmes: {}", none(programmes)),
        format!("zones: {}", none(zones)),
        format!("upstreams: {}", upstreams.join(", ")),
        format!(
            "licence upstream: {}",
            cfg.license_upstream.as_deref().unwrap_or("sandbox")
        ),
    ]
}

/// The checks `serve` runs before it serves, without serving: the configuration's
/// values, the catalogues and the programme files; then, against the store (through the
/// running gateway, or opened here when none runs), the programmes' partners and their
/// currencies and the demo partner; and with no gateway running, the listen addresses.
/// A programme that lists a login with no partner is a warning (`serve` accepts it:
/// the partner may be added later).
pub async fn check(cfg: &Config) -> Result<CheckReport> {
    let checked = Engine::check_config(cfg)?;
    let mut report = CheckReport {
        summary: loaded(cfg, &checked),
        warnings: Vec::new(),
    };
    let logins: Vec<(&crate::engine::programme::Programme, &String)> = checked
        .programmes
        .all()
        .iter()
        .flat_map(|p| p.partners.iter().map(move |l| (p, l)))
        .collect();
    let missing = |p: &crate::engine::programme::Programme, login: &str| {
        format!(
            "{}:{}: programme {} lists partner {login:?}, which does not exist (yet)",
            p.origin.file,
            p.origin.line_of_partner(&p.partners, login),
            p.name
        )
    };
    // A running gateway answers for its store.
    let running = admin::call(&cfg.data, "/partner/show", serde_json::json!({"login": ""}))
        .await
        .map(|v| v.is_some())
        .unwrap_or(true);
    if running {
        report
            .summary
            .push("a gateway is running on this data directory: partners asked through it".into());
        for (p, login) in logins {
            match admin::call(
                &cfg.data,
                "/partner/show",
                serde_json::json!({ "login": login }),
            )
            .await
            {
                Ok(Some(v)) => {
                    let currency = v["currency"].as_str().unwrap_or_default();
                    if let Ok(c) = crate::types::money::Currency::parse(currency) {
                        if let Some(e) = crate::engine::programme_currency_error(p, login, c) {
                            return Err(e);
                        }
                    }
                }
                Ok(None) => {}
                Err(e) if e.code == crate::error::Code::NotFound => {
                    report.warnings.push(missing(p, login))
                }
                Err(e) => return Err(e),
            }
        }
        return Ok(report);
    }
    for (addr, how) in [
        (cfg.listen, "--listen, REGWAY_LISTEN or `listen`"),
        (cfg.admin_listen, "REGWAY_ADMIN_LISTEN or `admin_listen`"),
    ] {
        drop(bind(addr, how).await?);
    }
    if !cfg.data.join("store").exists() {
        report.warnings.push(format!(
            "no store in {} yet: the programmes' partners are checked once it exists",
            cfg.data.display()
        ));
        return Ok(report);
    }
    let engine = open_engine(cfg)?;
    refuse_demo_with_real_upstream(cfg, &engine).await?;
    for (p, login) in logins {
        if !engine.store.has_partner(login)? {
            report.warnings.push(missing(p, login));
        }
    }
    engine.store.flush().await?;
    drop(engine);
    Ok(report)
}
