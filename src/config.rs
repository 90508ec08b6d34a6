//! Configuration: built-in defaults, then a TOML file, then `REGWAY_*` environment
//! variables, then command-line flags; each overrides the one before.
//!
//! With nothing given, `regway serve` runs the whole job on one machine: 127.0.0.1:8080,
//! state in `./regway-data`, the in-process sandbox registry, the built-in zone
//! catalogue, and a `demo` partner on first start.

use crate::engine::catalogue::ZoneConfig;
use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where partners connect.
    pub listen: SocketAddr,
    /// The operator channel; loopback only. Port 0 picks a free port, which the server
    /// writes to `<data>/admin.json` for the CLI.
    pub admin_listen: SocketAddr,
    /// The state directory (the sled store and the admin token).
    pub data: PathBuf,
    /// Client handles are `NUMBER/SUFFIX`.
    pub client_suffix: String,
    /// How long one upstream call may take before the order becomes `unknown`.
    pub upstream_timeout_ms: u64,
    /// How often open orders are reconciled with the upstream.
    pub reconcile_interval_ms: u64,
    /// An order whose outcome has been `unknown` this long is logged at error level on
    /// every reconciliation until it is settled (it is listed by `order.list state=unknown`).
    pub unknown_alert_ms: u64,
    /// Domains with auto-renew on are renewed this many days before they expire.
    pub auto_renew_days: u32,
    /// Licences with auto-renew on are renewed this many days before they expire.
    pub license_auto_renew_days: u32,
    /// A renewal through a compatible dialect that cannot name the current expiry
    /// (MasterName `prolong_domain` without `cur-exp-date`, Namecheap `domains.renew`)
    /// is refused when the domain was renewed less than this many minutes ago: a panel's
    /// retry after a lost answer comes with a new request-id. 0 switches it off.
    pub dialect_renew_window_minutes: u32,
    /// The upstream of zones that name none; the sandbox when not given.
    pub upstream: Option<String>,
    /// The upstream of licence orders; the sandbox when not given.
    pub license_upstream: Option<String>,
    /// Licences may be bound to private and shared addresses (10/8, 172.16/12,
    /// 192.168/16, 100.64/10, fc00::/7): for licensing services that see servers on a
    /// private network. Off: refused with 2306.
    pub license_allow_private_ips: bool,
    /// Upstream backends by name, chosen per zone with `zones.X.upstream = "NAME"`.
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    /// Requests with a larger body are refused with HTTP 413 before it is read.
    pub max_body_bytes: usize,
    /// Connections beyond this wait to be accepted.
    pub max_connections: usize,
    /// Time allowed to send the request head.
    pub header_timeout_ms: u64,
    /// Time allowed to send the whole body.
    pub body_timeout_ms: u64,
    /// Most writes one store flush may carry (group commit); 1 flushes every write alone.
    pub store_max_batch: usize,
    /// sled's cache, in MB. Its accounting counts records as stored, so the memory it
    /// takes is about twice this; beyond the cache, sled reads the OS page cache.
    pub store_cache_mb: u64,
    pub demo: DemoConfig,
    /// Zones added to (or replacing, by name) the built-in catalogue.
    pub zones: BTreeMap<String, ZoneConfig>,
    /// Keep the built-in zones; `false` offers only the zones configured here.
    pub builtin_zones: bool,
    /// Licence products, added to the built-in ones or replacing one of the same id.
    pub licenses: BTreeMap<String, crate::engine::licenses::LicenseConfig>,
    /// Keep the built-in licence products; `false` offers only the ones configured here.
    pub builtin_licenses: bool,
    /// Per-partner prices that replace the catalogue's for one zone.
    pub partner_prices: Vec<PartnerPrice>,
    /// Product categories programmes may name; every product belongs to one.
    pub categories: Vec<String>,
    /// Programme files (`examples/programmes/`), one programme each.
    pub programmes: Vec<PathBuf>,
    pub sandbox: SandboxConfig,
    /// Rate limits and the lock-out after failed logins (README, "Limits and security").
    pub limits: LimitsConfig,
    /// When set, `GET /metrics` asks for `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
}

/// A token bucket: `per_minute` requests on average, up to `burst` at once.
/// `per_minute = 0` switches the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Read-only commands, per partner.
    pub read: Rate,
    /// Mutating commands (orders, clients, changes), per partner.
    pub order: Rate,
    /// Requests without valid credentials (missing or failed), per source address
    /// (an IPv6 address counts by its /64).
    pub anonymous: Rate,
    /// Failed logins on one login from one address within `lockout_window_s` that lock
    /// that pair out; 0 switches the lock-outs and the per-login delay off. They are also
    /// the failures a login takes, from anywhere, before its checks are spaced out.
    pub lockout_failures: u32,
    /// Failed logins from one address, whatever the login, that lock the address out.
    pub lockout_address_failures: u32,
    pub lockout_window_s: u64,
    /// How long a lock-out lasts.
    pub lockout_s: u64,
    /// The longest spacing between password checks of one login under attack (the
    /// spacing doubles with every failure past `lockout_failures`); 0 switches it off.
    pub login_delay_max_s: u64,
    /// Most keys (addresses, logins, address and login pairs) one table remembers; idle
    /// keys are forgotten every `housekeeping_s` seconds. A full table refuses new keys.
    pub max_keys: usize,
    pub housekeeping_s: u64,
    /// Per-partner quotas that replace `read` and `order` for one login.
    pub partners: BTreeMap<String, PartnerLimits>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerLimits {
    pub read: Option<Rate>,
    pub order: Option<Rate>,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            read: Rate {
                per_minute: 1200,
                burst: 200,
            },
            order: Rate {
                per_minute: 300,
                burst: 60,
            },
            anonymous: Rate {
                per_minute: 60,
                burst: 30,
            },
            lockout_failures: 10,
            lockout_address_failures: 30,
            lockout_window_s: 300,
            lockout_s: 900,
            login_delay_max_s: 60,
            max_keys: 100_000,
            housekeeping_s: 60,
            partners: BTreeMap::new(),
        }
    }
}

impl LimitsConfig {
    /// No rate limit and no lock-out at all.
    pub fn off() -> LimitsConfig {
        let off = Rate {
            per_minute: 0,
            burst: 0,
        };
        LimitsConfig {
            read: off,
            order: off,
            anonymous: off,
            lockout_failures: 0,
            ..LimitsConfig::default()
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DemoConfig {
    /// Create the demo partner when the store has no partner and the backend is the sandbox.
    pub enabled: bool,
    pub login: String,
    pub password: String,
    pub currency: String,
    pub balance: String,
    pub credit_limit: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartnerPrice {
    pub login: String,
    pub zone: String,
    /// Price per year of registration, in the partner's currency.
    pub register: String,
    /// Price per year of renewal, in the partner's currency.
    pub renew: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Names the sandbox registry treats as registered by someone else.
    pub taken: Vec<String>,
    /// A fixed "now" for every date and time the gateway produces (tests, fixtures).
    pub clock: Option<DateTime<Utc>>,
    pub faults: SandboxFaults,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamKind {
    /// The in-process sandbox registry.
    Sandbox,
    /// A parent regway, spoken to in the native protocol.
    Regway,
    /// A licensing service in the ISPsystem style (licence orders only).
    Ispsystem,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    #[serde(rename = "type")]
    pub kind: UpstreamKind,
    /// The parent's API endpoint, e.g. `https://parent.example.net/api`.
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub login: String,
    #[serde(default)]
    pub password: String,
    /// How long one HTTP exchange with the upstream may take.
    #[serde(default = "default_upstream_call_ms")]
    pub timeout_ms: u64,
    /// Most requests in flight to this upstream at once; more wait their turn.
    #[serde(default = "default_upstream_concurrency")]
    pub concurrency: usize,
    /// (ispsystem) catalogue product → the service's price-list id.
    #[serde(default)]
    pub products: BTreeMap<String, String>,
    /// Allow a plain `http://` url to a host that is not a loopback address, although
    /// the credentials then cross the network in clear. Off by default.
    #[serde(default)]
    pub allow_insecure_http: bool,
}

impl UpstreamConfig {
    /// Whether the credentials would travel in clear to another machine: a plain
    /// `http://` url whose host is not a loopback address.
    pub fn sends_credentials_in_clear(&self) -> bool {
        let Ok(url) = reqwest::Url::parse(&self.url) else {
            return false;
        };
        let host = url.host_str().unwrap_or_default();
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        url.scheme() == "http" && !(self.login.is_empty() && self.password.is_empty()) && !loopback
    }
}

fn default_upstream_call_ms() -> u64 {
    10_000
}

fn default_upstream_concurrency() -> usize {
    16
}

/// Faults the sandbox injects on purpose, for integration harnesses (`REGWAY_SANDBOX_*`).
/// All off by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxFaults {
    /// Delay before every answer.
    pub latency_ms: u64,
    /// Orders refused (2400) without being carried out.
    pub fail_percent: u8,
    /// Orders carried out whose answer never comes (the caller times out).
    pub timeout_percent: u8,
    /// Orders answered "pending" and carried out `pending_ms` later (seen by `lookup`).
    pub pending_percent: u8,
    pub pending_ms: u64,
}

impl SandboxFaults {
    pub const MAX_LATENCY_MS: u64 = 60_000;
    pub const MAX_PENDING_MS: u64 = 3_600_000;

    /// Within bounds: delays capped, and the three percentages add up to at most 100
    /// (failures first, then timeouts, then pending answers).
    pub fn clamped(self) -> SandboxFaults {
        let fail = self.fail_percent.min(100);
        let timeout = self.timeout_percent.min(100 - fail);
        let pending = self.pending_percent.min(100 - fail - timeout);
        SandboxFaults {
            latency_ms: self.latency_ms.min(Self::MAX_LATENCY_MS),
            fail_percent: fail,
            timeout_percent: timeout,
            pending_percent: pending,
            pending_ms: self.pending_ms.min(Self::MAX_PENDING_MS),
        }
    }

    pub fn any(&self) -> bool {
        *self != SandboxFaults::default()
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            listen: "127.0.0.1:8080".parse().expect("literal"),
            admin_listen: "127.0.0.1:0".parse().expect("literal"),
            data: PathBuf::from("./regway-data"),
            client_suffix: "RW-P".into(),
            upstream_timeout_ms: 10_000,
            reconcile_interval_ms: 5_000,
            unknown_alert_ms: 600_000,
            auto_renew_days: 30,
            license_auto_renew_days: 3,
            dialect_renew_window_minutes: 10,
            upstream: None,
            license_upstream: None,
            license_allow_private_ips: false,
            upstreams: BTreeMap::new(),
            max_body_bytes: 1 << 20,
            max_connections: 4096,
            header_timeout_ms: 10_000,
            body_timeout_ms: 30_000,
            store_max_batch: crate::store::DEFAULT_MAX_BATCH,
            store_cache_mb: crate::store::DEFAULT_CACHE_MB,
            demo: DemoConfig::default(),
            zones: BTreeMap::new(),
            builtin_zones: true,
            licenses: BTreeMap::new(),
            builtin_licenses: true,
            partner_prices: Vec::new(),
            categories: crate::engine::programme::DEFAULT_CATEGORIES
                .map(String::from)
                .to_vec(),
            programmes: Vec::new(),
            sandbox: SandboxConfig::default(),
            limits: LimitsConfig::default(),
            metrics_token: None,
        }
    }
}

impl Default for DemoConfig {
    fn default() -> DemoConfig {
        DemoConfig {
            enabled: true,
            login: "demo".into(),
            password: "demo-password".into(),
            currency: "RUB".into(),
            balance: "10000.00".into(),
            credit_limit: "0.00".into(),
        }
    }
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            taken: [
                "example.ru",
                "example.su",
                "xn--e1afmkfd.xn--p1ai",
                "example.com",
                "example.net",
                "example.org",
                "taken.ru",
                "taken.com",
            ]
            .map(String::from)
            .to_vec(),
            clock: None,
            faults: SandboxFaults::default(),
        }
    }
}

impl Config {
    /// Defaults, then `file` when given, then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let mut cfg = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| Error::internal(format!("reading {}: {e}", p.display())))?;
                toml::from_str(&text)
                    .map_err(|e| Error::syntax(format!("configuration {}: {e}", p.display())))?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.sandbox.faults = cfg.sandbox.faults.clamped();
        cfg.validate()?;
        Ok(cfg)
    }

    /// Applies `REGWAY_*` variables. `get` is the environment (a parameter for tests).
    pub fn apply_env(&mut self, get: impl Fn(&str) -> Option<String>) -> Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, v: &str) -> Result<T> {
            v.parse()
                .map_err(|_| Error::syntax(format!("{name}={v:?} is not valid")))
        }
        if let Some(v) = get("REGWAY_LISTEN") {
            self.listen = parse("REGWAY_LISTEN", &v)?;
        }
        if let Some(v) = get("REGWAY_ADMIN_LISTEN") {
            self.admin_listen = parse("REGWAY_ADMIN_LISTEN", &v)?;
        }
        if let Some(v) = get("REGWAY_DATA") {
            self.data = PathBuf::from(v);
        }
        if let Some(v) = get("REGWAY_CLIENT_SUFFIX") {
            self.client_suffix = v;
        }
        if let Some(v) = get("REGWAY_UPSTREAM_TIMEOUT_MS") {
            self.upstream_timeout_ms = parse("REGWAY_UPSTREAM_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = get("REGWAY_RECONCILE_INTERVAL_MS") {
            self.reconcile_interval_ms = parse("REGWAY_RECONCILE_INTERVAL_MS", &v)?;
        }
        if let Some(v) = get("REGWAY_UNKNOWN_ALERT_MS") {
            self.unknown_alert_ms = parse("REGWAY_UNKNOWN_ALERT_MS", &v)?;
        }
        if let Some(v) = get("REGWAY_AUTO_RENEW_DAYS") {
            self.auto_renew_days = parse("REGWAY_AUTO_RENEW_DAYS", &v)?;
        }
        if let Some(v) = get("REGWAY_LICENSE_AUTO_RENEW_DAYS") {
            self.license_auto_renew_days = parse("REGWAY_LICENSE_AUTO_RENEW_DAYS", &v)?;
        }
        if let Some(v) = get("REGWAY_DIALECT_RENEW_WINDOW_MINUTES") {
            self.dialect_renew_window_minutes = parse("REGWAY_DIALECT_RENEW_WINDOW_MINUTES", &v)?;
        }
        if let Some(v) = get("REGWAY_LICENSE_ALLOW_PRIVATE_IPS") {
            self.license_allow_private_ips = parse("REGWAY_LICENSE_ALLOW_PRIVATE_IPS", &v)?;
        }
        if let Some(v) = get("REGWAY_MAX_BODY_BYTES") {
            self.max_body_bytes = parse("REGWAY_MAX_BODY_BYTES", &v)?;
        }
        if let Some(v) = get("REGWAY_MAX_CONNECTIONS") {
            self.max_connections = parse("REGWAY_MAX_CONNECTIONS", &v)?;
        }
        if let Some(v) = get("REGWAY_HEADER_TIMEOUT_MS") {
            self.header_timeout_ms = parse("REGWAY_HEADER_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = get("REGWAY_BODY_TIMEOUT_MS") {
            self.body_timeout_ms = parse("REGWAY_BODY_TIMEOUT_MS", &v)?;
        }
        if let Some(v) = get("REGWAY_STORE_MAX_BATCH") {
            self.store_max_batch = parse("REGWAY_STORE_MAX_BATCH", &v)?;
        }
        if let Some(v) = get("REGWAY_STORE_CACHE_MB") {
            self.store_cache_mb = parse("REGWAY_STORE_CACHE_MB", &v)?;
        }
        if let Some(v) = get("REGWAY_METRICS_TOKEN") {
            self.metrics_token = Some(v).filter(|v| !v.is_empty());
        }
        if let Some(v) = get("REGWAY_DEMO_PASSWORD") {
            self.demo.password = v;
        }
        if let Some(v) = get("REGWAY_SANDBOX_CLOCK") {
            self.sandbox.clock = Some(parse("REGWAY_SANDBOX_CLOCK", &v)?);
        }
        let l = &mut self.limits;
        for (name, slot) in [
            ("REGWAY_LIMITS_READ_PER_MINUTE", &mut l.read.per_minute),
            ("REGWAY_LIMITS_READ_BURST", &mut l.read.burst),
            ("REGWAY_LIMITS_ORDER_PER_MINUTE", &mut l.order.per_minute),
            ("REGWAY_LIMITS_ORDER_BURST", &mut l.order.burst),
            (
                "REGWAY_LIMITS_ANONYMOUS_PER_MINUTE",
                &mut l.anonymous.per_minute,
            ),
            ("REGWAY_LIMITS_ANONYMOUS_BURST", &mut l.anonymous.burst),
            ("REGWAY_LIMITS_LOCKOUT_FAILURES", &mut l.lockout_failures),
            (
                "REGWAY_LIMITS_LOCKOUT_ADDRESS_FAILURES",
                &mut l.lockout_address_failures,
            ),
        ] {
            if let Some(v) = get(name) {
                *slot = parse(name, &v)?;
            }
        }
        for (name, slot) in [
            ("REGWAY_LIMITS_LOCKOUT_WINDOW_S", &mut l.lockout_window_s),
            ("REGWAY_LIMITS_LOCKOUT_S", &mut l.lockout_s),
            ("REGWAY_LIMITS_LOGIN_DELAY_MAX_S", &mut l.login_delay_max_s),
            ("REGWAY_LIMITS_HOUSEKEEPING_S", &mut l.housekeeping_s),
        ] {
            if let Some(v) = get(name) {
                *slot = parse(name, &v)?;
            }
        }
        if let Some(v) = get("REGWAY_LIMITS_MAX_KEYS") {
            l.max_keys = parse("REGWAY_LIMITS_MAX_KEYS", &v)?;
        }
        // Fault knobs; a percentage above 100 is clamped, not refused.
        let f = &mut self.sandbox.faults;
        if let Some(v) = get("REGWAY_SANDBOX_LATENCY_MS") {
            f.latency_ms = parse("REGWAY_SANDBOX_LATENCY_MS", &v)?;
        }
        let percent =
            |name: &str, v: &str| -> Result<u8> { Ok(parse::<u32>(name, v)?.min(100) as u8) };
        if let Some(v) = get("REGWAY_SANDBOX_FAIL_PERCENT") {
            f.fail_percent = percent("REGWAY_SANDBOX_FAIL_PERCENT", &v)?;
        }
        if let Some(v) = get("REGWAY_SANDBOX_TIMEOUT_PERCENT") {
            f.timeout_percent = percent("REGWAY_SANDBOX_TIMEOUT_PERCENT", &v)?;
        }
        if let Some(v) = get("REGWAY_SANDBOX_PENDING_PERCENT") {
            f.pending_percent = percent("REGWAY_SANDBOX_PENDING_PERCENT", &v)?;
        }
        if let Some(v) = get("REGWAY_SANDBOX_PENDING_MS") {
            f.pending_ms = parse("REGWAY_SANDBOX_PENDING_MS", &v)?;
        }
        if let Some(v) = get("REGWAY_SANDBOX_TAKEN") {
            self.sandbox.taken = v
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        Ok(())
    }

    pub fn validate(&self) -> Result<()> {
        let s = &self.client_suffix;
        let ok = (1..=12).contains(&s.len())
            && s.bytes().all(|b| b.is_ascii_uppercase() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if !ok {
            return Err(Error::syntax(format!(
                "client_suffix {s:?}: 1 to 12 upper-case letters and inner hyphens"
            )));
        }
        if !self.admin_listen.ip().is_loopback() {
            return Err(Error::syntax(format!(
                "admin_listen {}: the operator channel listens on loopback only",
                self.admin_listen
            )));
        }
        if self.auto_renew_days > 365 || self.license_auto_renew_days > 27 {
            return Err(Error::syntax(
                "auto_renew_days must be 0 to 365, license_auto_renew_days 0 to 27",
            ));
        }
        if self.dialect_renew_window_minutes > 1440 {
            return Err(Error::syntax(
                "dialect_renew_window_minutes must be 0 (off) to 1440 (a day)",
            ));
        }
        if self.store_max_batch == 0 || self.store_max_batch > 65536 {
            return Err(Error::syntax("store_max_batch must be 1 to 65536"));
        }
        if self.store_cache_mb == 0 || self.store_cache_mb > 65536 {
            return Err(Error::syntax("store_cache_mb must be 1 to 65536"));
        }
        if self.max_body_bytes < 1024 || self.max_connections == 0 {
            return Err(Error::syntax(
                "max_body_bytes must be at least 1024 and max_connections at least 1",
            ));
        }
        let l = &self.limits;
        let rates = [
            ("read", l.read),
            ("order", l.order),
            ("anonymous", l.anonymous),
        ]
        .into_iter()
        .chain(l.partners.values().flat_map(|p| {
            [("partner read", p.read), ("partner order", p.order)]
                .into_iter()
                .filter_map(|(n, r)| r.map(|r| (n, r)))
        }));
        for (name, r) in rates {
            if r.per_minute > 0 && r.burst == 0 {
                return Err(Error::syntax(format!(
                    "limits {name}: burst must be at least 1 when per_minute is set"
                )));
            }
        }
        if l.lockout_failures > 0
            && (l.lockout_window_s == 0 || l.lockout_s == 0 || l.lockout_address_failures == 0)
        {
            return Err(Error::syntax(
                "limits: lockout_window_s, lockout_s and lockout_address_failures must be positive with lockout_failures",
            ));
        }
        if l.max_keys == 0 || l.housekeeping_s == 0 {
            return Err(Error::syntax(
                "limits: max_keys and housekeeping_s must be positive",
            ));
        }
        let known = |n: &String| n == "sandbox" || self.upstreams.contains_key(n);
        for (zone, z) in &self.zones {
            if let Some(n) = z.upstream.as_ref().filter(|n| !known(n)) {
                return Err(Error::syntax(format!(
                    "zones.{zone}.upstream = {n:?}: no [upstreams.{n}]"
                )));
            }
        }
        if let Some(n) = self.upstream.as_ref().filter(|n| !known(n)) {
            return Err(Error::syntax(format!(
                "upstream = {n:?}: no [upstreams.{n}]"
            )));
        }
        if let Some(n) = self.license_upstream.as_ref().filter(|n| !known(n)) {
            return Err(Error::syntax(format!(
                "license_upstream = {n:?}: no [upstreams.{n}]"
            )));
        }
        for (name, u) in &self.upstreams {
            if u.kind != UpstreamKind::Sandbox
                && (!(u.url.starts_with("http://") || u.url.starts_with("https://"))
                    || u.login.is_empty())
            {
                return Err(Error::syntax(format!(
                    "upstreams.{name}: a {:?} upstream needs an http(s) url and a login",
                    u.kind
                )));
            }
            let catalogue =
                crate::engine::licenses::Licenses::new(self.builtin_licenses, &self.licenses)?;
            if let Some(p) = u.products.keys().find(|p| catalogue.product(p).is_err()) {
                return Err(Error::syntax(format!(
                    "upstreams.{name}.products: {p:?} is not a catalogue product"
                )));
            }
            if u.kind != UpstreamKind::Sandbox
                && u.sends_credentials_in_clear()
                && !u.allow_insecure_http
            {
                return Err(Error::syntax(format!(
                    "upstreams.{name}: {} is plain http:// to a host that is not a loopback \
                     address, so its login and password would cross the network in clear: \
                     use https://, or set allow_insecure_http = true to accept that",
                    u.url
                )));
            }
            if u.timeout_ms == 0 || u.concurrency == 0 {
                return Err(Error::syntax(format!(
                    "upstreams.{name}: timeout_ms and concurrency must be positive"
                )));
            }
        }
        if self.upstream_timeout_ms == 0 || self.reconcile_interval_ms == 0 {
            return Err(Error::syntax(
                "upstream_timeout_ms and reconcile_interval_ms must be positive",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_env() {
        let mut cfg: Config = toml::from_str(
            r#"
            listen = "127.0.0.1:9000"
            client_suffix = "AB-C"
            [zones."xn--p1ai"]
            periods = [1, 2]
            prices.RUB = { register = "100.00", renew = "90.00" }
            "#,
        )
        .unwrap();
        assert_eq!(cfg.listen.port(), 9000);
        cfg.apply_env(|k| (k == "REGWAY_LISTEN").then(|| "127.0.0.1:9100".into()))
            .unwrap();
        assert_eq!(cfg.listen.port(), 9100);
        cfg.validate().unwrap();
    }

    #[test]
    fn sandbox_knobs_are_read_and_clamped() {
        let env = |k: &str| {
            match k {
                "REGWAY_SANDBOX_LATENCY_MS" => Some("999999"),
                "REGWAY_SANDBOX_FAIL_PERCENT" => Some("60"),
                "REGWAY_SANDBOX_TIMEOUT_PERCENT" => Some("500"),
                "REGWAY_SANDBOX_PENDING_PERCENT" => Some("5"),
                "REGWAY_SANDBOX_PENDING_MS" => Some("250"),
                _ => None,
            }
            .map(String::from)
        };
        let mut cfg = Config::default();
        assert!(!cfg.sandbox.faults.any());
        cfg.apply_env(env).unwrap();
        let f = cfg.sandbox.faults.clamped();
        assert_eq!(
            f,
            SandboxFaults {
                latency_ms: SandboxFaults::MAX_LATENCY_MS,
                fail_percent: 60,
                timeout_percent: 40,
                pending_percent: 0,
                pending_ms: 250,
            }
        );
        let mut cfg = Config::default();
        assert!(cfg
            .apply_env(|k| (k == "REGWAY_SANDBOX_FAIL_PERCENT").then(|| "-1".into()))
            .is_err());
    }

    #[test]
    fn upstream_names_must_exist() {
        let cfg: Config = toml::from_str(
            r#"
            upstream = "parent"
            [upstreams.parent]
            type = "regway"
            url = "http://127.0.0.1:9/api"
            login = "reseller"
            password = "x"
            [zones.ru]
            periods = [1, 10]
            prices.RUB = { register = "590.00", renew = "590.00" }
            upstream = "sandbox"
            "#,
        )
        .unwrap();
        cfg.validate().unwrap();
        assert_eq!(cfg.upstreams["parent"].concurrency, 16);
        let bad = Config {
            upstream: Some("nowhere".into()),
            ..cfg.clone()
        };
        assert!(bad.validate().is_err());
        let mut bad = cfg.clone();
        bad.upstreams.get_mut("parent").unwrap().url = "ftp://x".into();
        assert!(bad.validate().is_err());
    }

    #[test]
    fn credentials_never_go_in_clear_unless_asked() {
        let with_url = |url: &str, opt_in: bool| {
            let mut cfg: Config = toml::from_str(
                r#"
                upstream = "parent"
                [upstreams.parent]
                type = "regway"
                url = "https://parent.example.net/api"
                login = "reseller"
                password = "x"
                "#,
            )
            .unwrap();
            let u = cfg.upstreams.get_mut("parent").unwrap();
            u.url = url.into();
            u.allow_insecure_http = opt_in;
            cfg.validate()
        };
        for ok in [
            "https://parent.example.net/api",
            "http://127.0.0.1:8080/api",
            "http://127.8.0.1/api",
            "http://[::1]:8080/api",
            "http://localhost:8080/api",
        ] {
            assert!(with_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "http://parent.example.net/api",
            "http://192.0.2.10/api",
            "http://[2001:db8::1]/api",
        ] {
            let e = with_url(bad, false).unwrap_err();
            assert!(e.message.contains("allow_insecure_http"), "{bad}: {e}");
            assert!(with_url(bad, true).is_ok(), "{bad} with the opt-in");
        }
        let toml_opt_in: Config = toml::from_str(
            r#"
            [upstreams.parent]
            type = "ispsystem"
            url = "http://billing.example.net/billmgr"
            login = "reseller"
            password = "x"
            allow_insecure_http = true
            "#,
        )
        .unwrap();
        toml_opt_in.validate().unwrap();
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        assert!(toml::from_str::<Config>("lisen = \"x\"").is_err());
        let cfg = Config {
            client_suffix: "rw".into(),
            ..Config::default()
        };
        assert!(cfg.validate().is_err());
        let cfg = Config {
            admin_listen: "0.0.0.0:9".parse().unwrap(),
            ..Config::default()
        };
        assert!(cfg.validate().is_err());
    }
}
