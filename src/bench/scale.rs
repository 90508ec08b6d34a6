//! Scale figures: `regway load` fills a store directly through the store API (not over
//! HTTP) with partners, clients, and completed registrations — every record an order
//! leaves behind (domain, order, charge, request record with its answer) under the same
//! keys the engine writes, so `regway verify` passes on the result. `regway bench-scale`
//! loads stores of several sizes and measures each as a serving gateway: size on disk,
//! start-up time, resident memory, and `domain.list` / `domain.info` / `balance.get`
//! latency.
//!
//! Every partner gets the same share (domains / partners, clients / partners); partner
//! 0 is `demo` (password `demo-password`, as `regway bench` uses), the others are
//! `p00001`, `p00002`, …, all with the same password hash (hashing 10,000 passwords with
//! argon2 would take longer than the load itself).

use super::{drive, spawn, Body, Conn, Stats};
use crate::engine::auth::hash_password;
use crate::error::{Error, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{
    Client, ClientKind, DayTotals, Domain, DomainState, EntryKind, LedgerEntry, Order, OrderKind,
    OrderState, Partner, RequestRecord, ServiceCounts, Transition,
};
use crate::store::{Batch, Expiry, Migration, RequestWrites, Store};
use crate::types::money::Currency;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub partners: u64,
    pub clients: u64,
    pub domains: u64,
}

impl Shape {
    /// The proportions of the scale target: 100 domains and 10 clients per partner.
    pub fn for_domains(domains: u64) -> Shape {
        Shape {
            partners: (domains / 100).max(1),
            clients: (domains / 10).max(1),
            domains,
        }
    }
}

/// The price every loaded registration was charged.
const PRICE: Decimal = Decimal::from_parts(59000, 0, 0, false, 2);
/// Partners per store write: one write (one flush) carries about this many partners'
/// records.
const PARTNERS_PER_WRITE: u64 = 20;

pub fn login_of(p: u64) -> String {
    if p == 0 {
        "demo".into()
    } else {
        format!("p{p:05}")
    }
}

pub fn domain_name(global: u64) -> String {
    format!("n{global:07}.ru")
}

/// The share of `total` that partner `p` of `partners` gets: (first index, count).
fn share(total: u64, partners: u64, p: u64) -> (u64, u64) {
    let first = total * p / partners;
    let next = total * (p + 1) / partners;
    (first, next - first)
}

/// Fills the (empty) store in `data`. Returns how long it took.
pub async fn load(data: &Path, shape: Shape) -> Result<Duration> {
    let started = Instant::now();
    if shape.partners == 0 || shape.clients < shape.partners {
        return Err(Error::value(
            "shape",
            "at least one partner and one client per partner",
        ));
    }
    let store = Store::open(data)?;
    if store.counter("order")? > 0 || store.partners().next().is_some() {
        return Err(Error::value("data", "the store is not empty"));
    }
    let hash = tokio::task::spawn_blocking(|| hash_password("demo-password"))
        .await
        .map_err(Error::internal)??;
    let now = Utc::now();
    let mut ledger_id = 0u64;
    let mut in_flight: Vec<tokio::task::JoinHandle<Result<()>>> = Vec::new();
    let mut p = 0;
    while p < shape.partners {
        let end = (p + PARTNERS_PER_WRITE).min(shape.partners);
        let mut rows = store.rows();
        for q in p..end {
            partner_rows(q, shape, &hash, now, &mut ledger_id, &mut *rows)?;
        }
        if end == shape.partners {
            for (name, n) in [
                ("order", shape.domains),
                ("ledger", ledger_id),
                ("client", shape.clients),
            ] {
                rows.set_counter(name, n)?;
            }
            rows.set_migrated(Migration::DayTotals, Some(""))?;
            rows.set_migrated(Migration::ExpiryIndex, Some(""))?;
            // Counted under the default configuration's categories, which the gateway
            // that serves this store runs with.
            let cfg = crate::config::Config::default();
            let cats = crate::engine::services::Categories::new(
                &crate::engine::catalogue::Catalogue::new(
                    cfg.builtin_zones,
                    &cfg.zones,
                    &cfg.partner_prices,
                )?,
                &crate::engine::licenses::Licenses::new(cfg.builtin_licenses, &cfg.licenses)?,
            );
            rows.set_migrated(Migration::ServiceCounts, Some(&cats.fingerprint()))?;
        }
        // Two writes in flight: the next chunk is built while the last one is flushed.
        if in_flight.len() >= 2 {
            in_flight.remove(0).await.map_err(Error::internal)??;
        }
        let s = store.clone();
        in_flight.push(tokio::spawn(async move {
            s.write(move |tx| tx.put_rows(rows)).await
        }));
        p = end;
    }
    for t in in_flight {
        t.await.map_err(Error::internal)??;
    }
    store.flush().await?;
    // Closing the store (dropping the last handle) joins the committer.
    tokio::task::spawn_blocking(move || drop(store))
        .await
        .map_err(Error::internal)?;
    Ok(started.elapsed())
}

/// Every record of partner `p`: the partner, its clients, a top-up, and its domains,
/// each with the order that registered it, its charge and its request record.
fn partner_rows(
    p: u64,
    shape: Shape,
    hash: &str,
    now: DateTime<Utc>,
    ledger_id: &mut u64,
    rows: &mut dyn Batch,
) -> Result<()> {
    let login = login_of(p);
    let (first_client, clients) = share(shape.clients, shape.partners, p);
    let (first_domain, domains) = share(shape.domains, shape.partners, p);
    let mut partner = Partner {
        login: login.clone(),
        password_hash: hash.to_string(),
        currency: Currency::RUB,
        balance: Decimal::ZERO,
        credit_limit: Decimal::ZERO,
        allow_ips: vec![],
        suspended: false,
        created: now,
        clients,
        domains,
        orders: domains,
        commission: Decimal::ZERO,
        commission_earned: Decimal::ZERO,
        suspension_note: None,
    };
    let mut handles = Vec::new();
    for c in 0..clients {
        let number = 1000 + first_client + c;
        let client = Client {
            id: format!("{number}/RW-P"),
            number,
            kind: ClientKind::Org,
            name: format!("Client {number}"),
            email: format!("c{number}@example.net"),
            phone: "+7.4950000000".into(),
            country: "RU".into(),
            address: "Moscow".into(),
            extra: Default::default(),
            created: now,
            deleted: None,
        };
        rows.add_client(&login, &client)?;
        handles.push((number, client.id));
    }
    // A top-up that pays for every order and leaves a balance.
    let topup = PRICE * Decimal::from(domains) + Decimal::from(1_000_000);
    *ledger_id += 1;
    partner.balance += topup;
    let entry = LedgerEntry {
        id: *ledger_id,
        time: now,
        kind: EntryKind::Topup,
        amount: topup,
        balance_after: partner.balance,
        order: None,
        note: "load".into(),
        list_price: None,
        rule: None,
        tier: None,
        discount: None,
        by: None,
    };
    // Every entry is dated `now`: one day of totals, as the engine keeps them.
    let day = DayTotals {
        payments: topup,
        turnover: PRICE * Decimal::from(domains),
    };
    rows.append_ledger(&login, &entry, Some((now.date_naive(), &day)))?;
    let expires = crate::types::clock::add_years(now.date_naive(), 1)
        .ok_or_else(|| Error::internal("date overflow"))?;
    for d in 0..domains {
        let global = first_domain + d;
        let id = global + 1;
        let name = domain_name(global);
        let (number, handle) = &handles[(d % clients) as usize];
        let ns = vec!["ns1.example.net".to_string(), "ns2.example.net".to_string()];
        let rid = format!("load-{id}");
        let history = [
            OrderState::Accepted,
            OrderState::Submitted,
            OrderState::Completed,
        ]
        .into_iter()
        .map(|state| Transition { state, at: now })
        .collect();
        let order = Order {
            upstream: None,
            id,
            request_id: rid.clone(),
            domain: name.clone(),
            kind: OrderKind::Register {
                period: 1,
                client: handle.clone(),
                ns: ns.clone(),
                auto_renew: false,
            },
            amount: PRICE,
            currency: Currency::RUB,
            state: OrderState::Completed,
            created: now,
            updated: now,
            history,
            reason: None,
            commission: None,
            charge: None,
            settled: None,
            by: None,
        };
        *ledger_id += 1;
        partner.balance -= PRICE;
        let charge = LedgerEntry {
            id: *ledger_id,
            time: now,
            kind: EntryKind::Charge,
            amount: -PRICE,
            balance_after: partner.balance,
            order: Some(id),
            note: String::new(),
            // As the engine prices an order at catalogue price.
            list_price: Some(PRICE),
            rule: Some("catalogue".into()),
            tier: None,
            discount: None,
            by: None,
        };
        let domain = Domain {
            name: name.clone(),
            client: handle.clone(),
            state: DomainState::Active,
            created: now,
            expires,
            ns: ns.clone(),
            delegated: true,
            expiring_notice: None,
            auto_renew: false,
            upstream: None,
        };
        let mut outcome = Outcome::ok(Data::DomainOrder {
            name: name.clone(),
            expires: Some(expires),
            state: Some(DomainState::Active),
            order: Box::new(order.clone()),
            currency: Currency::RUB,
            charged: PRICE,
            balance: partner.balance,
        });
        outcome.request_id = Some(rid.clone());
        let params = serde_json::json!({"DomainRegister": {
            "domain": name, "period": 1, "client": handle, "ns": ns, "auto_renew": false
        }});
        let rec = RequestRecord {
            request_id: rid.clone(),
            command: "domain.register".into(),
            params: params.to_string(),
            created: now,
            order: Some(id),
            outcome: Some(outcome),
        };
        rows.append_ledger(&login, &charge, None)?;
        rows.add_order(&login, &order)?;
        rows.put_request(&login, &rec)?;
        rows.add_domain(&login, *number, &domain)?;
        rows.put_expiry(&Expiry {
            date: expires,
            login: login.clone(),
            object: name.clone(),
        })?;
    }
    // The counts of active services, as the engine keeps them: every domain is an
    // active `.ru` one, and clients take the domains in turn.
    let mut counts = ServiceCounts::default();
    if domains > 0 {
        counts.services.insert("domains".into(), domains);
    }
    for (i, (number, _)) in handles.iter().enumerate() {
        let mine = domains / clients + u64::from((i as u64) < domains % clients);
        if mine > 0 {
            counts.clients += 1;
            let per: std::collections::BTreeMap<String, u64> = [("domains".into(), mine)].into();
            rows.put_client_services(&login, *number, &per)?;
        }
    }
    rows.put_service_counts(&login, &counts)?;
    rows.put_partner(&partner)?;
    Ok(())
}

/// Bytes under `dir`, recursively.
pub fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += disk_usage(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

/// Resident memory of a process in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[derive(Debug, Clone)]
pub struct ScaleOptions {
    pub sizes: Vec<u64>,
    pub seconds: f64,
    pub concurrency: usize,
    pub pin: bool,
    /// Where to keep the stores (one directory per size); a temporary directory if not
    /// given. A store already there (from an earlier run) is measured as it is.
    pub keep: Option<PathBuf>,
}

struct Figures {
    shape: Shape,
    load: Option<Duration>,
    disk: u64,
    startup: Duration,
    rss_kib: u64,
    list: Stats,
    info: Stats,
    balance: Stats,
}

async fn measure(data: &Path, shape: Shape, opts: &ScaleOptions) -> Result<Figures> {
    let disk = disk_usage(data);
    let envs = [
        ("REGWAY_DATA", data.display().to_string()),
        ("REGWAY_LISTEN", "127.0.0.1:0".to_string()),
        ("REGWAY_ADMIN_LISTEN", "127.0.0.1:0".to_string()),
        // Latency, not the partner quotas (which refuse most of a closed-loop run).
        ("REGWAY_LIMITS_READ_PER_MINUTE", "0".to_string()),
        ("REGWAY_LIMITS_ORDER_PER_MINUTE", "0".to_string()),
    ];
    // sled lets go of a store's lock a moment after its last handle is dropped, so a
    // gateway started right after `load` may find the store still in use: try again.
    let mut tries = 0;
    let (started, mut child, addr) = loop {
        let started = Instant::now();
        match spawn(&["serve"], &envs, opts.pin, "regway is listening on ").await {
            Ok((child, addr)) => break (started, child, addr),
            Err(_) if tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(e),
        }
    };
    let mut conn = Conn::open(addr).await?;
    if !conn.call(addr, Some("command=balance.get".into())).await? {
        return Err(Error::internal("the loaded gateway refused balance.get"));
    }
    let startup = started.elapsed();
    let dur = Duration::from_secs_f64(opts.seconds);
    let (_, demo_domains) = share(shape.domains, shape.partners, 0);
    let demo_domains = demo_domains.max(1);
    let bodies: [(&str, Body); 3] = [
        (
            "domain.list",
            Arc::new(|_, _| Some("command=domain.list&limit=100".into())),
        ),
        (
            "domain.info",
            Arc::new(move |t, n| {
                let i = (t as u64 * 7919 + n * 31) % demo_domains;
                Some(format!("command=domain.info&domain={}", domain_name(i)))
            }),
        ),
        (
            "balance.get",
            Arc::new(|_, _| Some("command=balance.get".into())),
        ),
    ];
    let mut stats = Vec::new();
    for (_, body) in bodies {
        drive(
            addr,
            body.clone(),
            opts.concurrency,
            Duration::from_millis(300),
            None,
        )
        .await?;
        stats.push(drive(addr, body, opts.concurrency, dur, None).await?);
    }
    let pid = child.id().unwrap_or(0);
    let rss = rss_kib(pid).unwrap_or(0);
    let _ = child.kill().await;
    let balance = stats.pop().expect("three");
    let info = stats.pop().expect("three");
    let list = stats.pop().expect("three");
    Ok(Figures {
        shape,
        load: None,
        disk,
        startup,
        rss_kib: rss,
        list,
        info,
        balance,
    })
}

/// Loads a store of every size and measures each; returns a markdown report.
pub async fn run(opts: ScaleOptions) -> Result<String> {
    let tmp = tempfile::tempdir().map_err(Error::internal)?;
    let root = opts
        .keep
        .clone()
        .unwrap_or_else(|| tmp.path().to_path_buf());
    let mut figures = Vec::new();
    for &size in &opts.sizes {
        let shape = Shape::for_domains(size);
        let data = root.join(format!("store-{size}"));
        let loaded = if data.join("store").exists() {
            eprintln!("{size}: measuring the store already in {}", data.display());
            None
        } else {
            eprintln!(
                "{size}: loading {} partners, {} clients, {} domains into {}",
                shape.partners,
                shape.clients,
                shape.domains,
                data.display()
            );
            let t = load(&data, shape).await?;
            eprintln!("{size}: loaded in {:.1} s", t.as_secs_f64());
            Some(t)
        };
        let mut f = measure(&data, shape, &opts).await?;
        f.load = loaded;
        figures.push(f);
    }
    let mut out = String::from("| figure |");
    let mut rule = String::from("|---|");
    for f in &figures {
        out.push_str(&format!(" {} domains |", f.shape.domains));
        rule.push_str("---:|");
    }
    out.push('\n');
    out.push_str(&rule);
    out.push('\n');
    let mut row = |name: &str, cell: &dyn Fn(&Figures) -> String| {
        out.push_str(&format!("| {name} |"));
        for f in &figures {
            out.push_str(&format!(" {} |", cell(f)));
        }
        out.push('\n');
    };
    row("partners / clients", &|f| {
        format!("{} / {}", f.shape.partners, f.shape.clients)
    });
    row("load time", &|f| {
        f.load
            .map(|d| format!("{:.1} s", d.as_secs_f64()))
            .unwrap_or_else(|| "(kept)".into())
    });
    row("store on disk", &|f| {
        format!("{:.1} MB", f.disk as f64 / 1e6)
    });
    row("start-up (spawn to first answer)", &|f| {
        format!("{:.0} ms", f.startup.as_secs_f64() * 1000.0)
    });
    row("resident memory (VmRSS)", &|f| {
        format!("{:.1} MB", f.rss_kib as f64 / 1024.0)
    });
    let lat = |s: &Stats| {
        format!(
            "{:.2} / {:.2} ms ({:.0}/s)",
            s.pct(0.5),
            s.pct(0.99),
            s.rps()
        )
    };
    row("domain.list p50 / p99", &|f| lat(&f.list));
    row("domain.info p50 / p99", &|f| lat(&f.info));
    row("balance.get p50 / p99", &|f| lat(&f.balance));
    row("errors", &|f| {
        (f.list.errors + f.info.errors + f.balance.errors).to_string()
    });
    drop(tmp);
    Ok(out)
}
