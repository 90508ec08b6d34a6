//! Configuration: built-in defaults, then a TOML file, then `REGWAY_*` environment
//! variables, then command-line flags; each overrides the one before.
//!
//! With nothing given, `regway serve` runs the whole job on one machine: 127.0.0.1:8080,
//! state in `./regway-data`, the in-process sandbox registry, the built-in zone
//! catalogue, and a `demo` partner on first start.
//!
//! The configuration's types live here and the engine reads them; this module imports
//! only `types` and `error`. `env` reads the environment, `validate` checks the whole,
//! `catalogue` and `licenses` hold the product definitions (zones, licence products,
//! categories) the engine builds its catalogues from.

mod env;
mod validate;

pub mod catalogue;
pub mod licenses;

use catalogue::ZoneConfig;
use licenses::LicenseConfig;

use crate::error::{Error, Result};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The default most writes one store flush carries (group commit), so one flush never
/// waits for an unbounded queue.
pub const DEFAULT_STORE_MAX_BATCH: usize = 512;

/// The default size of the store's cache, in MB.
pub const DEFAULT_STORE_CACHE_MB: u64 = 64;

#[derive(Debug, Clone, Deserialize, Serialize)]
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
    /// Where the records are kept: `sled` (embedded, in `data`; the default) or
    /// `postgres` (the database at `database_url`, shared by several nodes). Not given:
    /// `postgres` when `database_url` is set, else `sled`.
    pub store: Option<StoreKind>,
    /// The PostgreSQL database, as a URL (`postgres://user@host:5432/db`;
    /// `?sslmode=require` for TLS). Also `REGWAY_DATABASE_URL`.
    pub database_url: Option<DatabaseUrl>,
    /// sled's cache, in MB. Its accounting counts records as stored, so the memory it
    /// takes is about twice this; beyond the cache, sled reads the OS page cache.
    pub store_cache_mb: u64,
    pub demo: DemoConfig,
    /// Zones added to (or replacing, by name) the built-in catalogue.
    pub zones: BTreeMap<String, ZoneConfig>,
    /// Keep the built-in zones; `false` offers only the zones configured here.
    pub builtin_zones: bool,
    /// Licence products, added to the built-in ones or replacing one of the same id.
    pub licenses: BTreeMap<String, LicenseConfig>,
    /// Keep the built-in licence products; `false` offers only the ones configured here.
    pub builtin_licenses: bool,
    /// Per-partner prices that replace the catalogue's for one zone.
    pub partner_prices: Vec<PartnerPrice>,
    /// Product categories programmes may name; every product belongs to one.
    pub categories: Vec<String>,
    /// Programme files (`examples/programmes/`), one programme each.
    pub programmes: Vec<PathBuf>,
    pub sandbox: SandboxConfig,
    /// Signed notifications to partners (README, "Notifications").
    pub webhooks: WebhooksConfig,
    /// Rate limits and the lock-out after failed logins (README, "Limits and security").
    pub limits: LimitsConfig,
    /// When set, `GET /metrics` asks for `Authorization: Bearer <this>`.
    pub metrics_token: Option<String>,
    /// Reverse proxies (CIDR networks) whose `Forwarded` / `X-Forwarded-For` is
    /// believed; from any other address these headers are ignored.
    pub trusted_proxies: Vec<String>,
    /// The file this configuration was read from, if any (not a setting).
    #[serde(skip)]
    pub file: Option<PathBuf>,
}

/// The store's implementation (`store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Sled,
    Postgres,
}

/// A database URL; it may carry a password, so it is never printed.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct DatabaseUrl(pub String);

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DatabaseUrl(..)")
    }
}

impl Config {
    /// The store in use: `store`, or `postgres` when only `database_url` is given.
    pub fn store_kind(&self) -> StoreKind {
        match (self.store, &self.database_url) {
            (Some(k), _) => k,
            (None, Some(_)) => StoreKind::Postgres,
            (None, None) => StoreKind::Sled,
        }
    }
}

/// A token bucket: `per_minute` requests on average, up to `burst` at once.
/// `per_minute = 0` switches the limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    pub per_minute: u32,
    pub burst: u32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
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

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
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

#[derive(Debug, Clone, Deserialize, Serialize)]
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

/// A partner's own prices for one zone. Any key besides `login` and `zone` names an
/// operation (`register`, `renew`, …; an unknown one is refused), so unknown fields
/// are refused as they are everywhere else in the file.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct PartnerPrice {
    pub login: String,
    pub zone: String,
    /// Price per year of each operation, in the partner's currency.
    #[serde(flatten)]
    pub prices: catalogue::PriceConfig,
}

/// Where and how partners' events are delivered (`[webhooks]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhooksConfig {
    /// Hosts an endpoint may name with `http://` (every other URL is `https://`).
    pub http_hosts: Vec<String>,
    /// Addresses or networks (`127.0.0.1`, `10.0.0.0/8`, `fd00::/8`) an endpoint may
    /// reach although they are loopback, private, link-local or metadata addresses.
    pub allow_addresses: Vec<String>,
    /// Names resolved to a fixed address instead of through DNS (like `/etc/hosts`).
    pub hosts: BTreeMap<String, std::net::IpAddr>,
    /// Deliveries in flight at once, over all endpoints.
    pub concurrency: usize,
    /// Deliveries in flight at once to one endpoint.
    pub per_endpoint: usize,
    /// How long one delivery may take (connect, send, answer).
    pub timeout_ms: u64,
    /// How often the queue is looked at.
    pub poll_ms: u64,
    /// The first retry waits about this long; every further one twice as long (with
    /// jitter), up to `retry_max_ms`.
    pub retry_base_ms: u64,
    pub retry_max_ms: u64,
    /// A delivery still failing this long after its event is marked `failed`.
    pub give_up_s: u64,
    /// An endpoint whose deliveries have failed this long without a success is
    /// disabled (and logged).
    pub disable_after_s: u64,
}

impl Default for WebhooksConfig {
    fn default() -> WebhooksConfig {
        WebhooksConfig {
            http_hosts: Vec::new(),
            allow_addresses: Vec::new(),
            hosts: BTreeMap::new(),
            concurrency: 32,
            per_endpoint: 2,
            timeout_ms: 10_000,
            poll_ms: 500,
            retry_base_ms: 30_000,
            retry_max_ms: 3_600_000,
            give_up_s: 86_400,
            disable_after_s: 3 * 86_400,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Names the sandbox registry treats as registered by someone else.
    pub taken: Vec<String>,
    /// A fixed "now" for every date and time the gateway produces (tests, fixtures).
    pub clock: Option<DateTime<Utc>>,
    pub faults: SandboxFaults,
    /// Serve the sandbox control API (`protocol/sandbox.md`): only when every upstream
    /// is the sandbox.
    pub control: bool,
    /// Where the control API listens; loopback only. Port 0 picks a free port, which
    /// the server prints and writes to `<data>/sandbox.json` for the CLI.
    pub control_listen: SocketAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UpstreamKind {
    /// The in-process sandbox registry.
    Sandbox,
    /// A parent regway, spoken to in the native protocol.
    Regway,
    /// A licensing service in the ISPsystem style (licence orders only).
    Ispsystem,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
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
            store_max_batch: DEFAULT_STORE_MAX_BATCH,
            store_cache_mb: DEFAULT_STORE_CACHE_MB,
            store: None,
            database_url: None,
            demo: DemoConfig::default(),
            zones: BTreeMap::new(),
            builtin_zones: true,
            licenses: BTreeMap::new(),
            builtin_licenses: true,
            partner_prices: Vec::new(),
            categories: catalogue::DEFAULT_CATEGORIES.map(String::from).to_vec(),
            programmes: Vec::new(),
            sandbox: SandboxConfig::default(),
            webhooks: WebhooksConfig::default(),
            limits: LimitsConfig::default(),
            metrics_token: None,
            trusted_proxies: Vec::new(),
            file: None,
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
            control: false,
            control_listen: "127.0.0.1:0".parse().expect("literal"),
        }
    }
}

impl Config {
    /// Defaults, then `file` when given, then the environment. Every error is a
    /// configuration error, `FILE:LINE: what` where the file set the value. Relative
    /// paths in the file (programmes) are taken from the file's directory.
    pub fn load(file: Option<&Path>) -> Result<Config> {
        let (mut cfg, text) = match file {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    Error::config(format!(
                        "{}: cannot read the configuration file: {}; give an existing, \
                         readable file with --config (or REGWAY_CONFIG)",
                        p.display(),
                        io_reason(&e)
                    ))
                })?;
                let mut cfg: Config = toml::from_str(&text).map_err(|e| {
                    let line = e.span().map(|s| line_of(&text, s.start)).unwrap_or(1);
                    Error::config(format!("{}:{line}: {}", p.display(), e.message().trim()))
                })?;
                let dir = p.parent().unwrap_or(Path::new(""));
                for prog in &mut cfg.programmes {
                    if prog.is_relative() {
                        *prog = dir.join(&*prog);
                    }
                }
                cfg.file = Some(p.to_path_buf());
                (cfg, Some(text))
            }
            None => (Config::default(), None),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        cfg.sandbox.faults = cfg.sandbox.faults.clamped();
        cfg.check()
            .map_err(|i| cfg.at(text.as_deref(), &i.key, &i.message))?;
        Ok(cfg)
    }

    /// A configuration error about the value at `key`: `FILE:LINE: message` when the
    /// file (whose text is `text`) sets it, the message alone when it came from the
    /// environment or a default.
    pub fn at(&self, text: Option<&str>, key: &str, message: &str) -> Error {
        let line = match (&self.file, text) {
            (Some(_), Some(t)) => line_of_key(t, key),
            (Some(f), None) => std::fs::read_to_string(f)
                .ok()
                .and_then(|t| line_of_key(&t, key)),
            _ => None,
        };
        match (&self.file, line) {
            (Some(f), Some(line)) => Error::config(format!("{}:{line}: {message}", f.display())),
            _ => Error::config(message.to_string()),
        }
    }
}

/// Whether a configuration key holds a secret (`config show` prints it as `***`):
/// passwords, tokens, secrets and private keys, whatever table they are in.
pub fn is_secret_key(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "token",
        "secret",
        "private_key",
        "client_key",
        "passphrase",
    ]
    .iter()
    .any(|s| k == *s || k.ends_with(&format!("_{s}")) || k.starts_with(&format!("{s}_")))
}

/// `value` with every secret in it replaced by `***`: the values of secret keys, and
/// the password of a URL that carries one (`postgres://user:pw@host/db`).
fn mask_secrets(value: &mut toml::Value) {
    match value {
        toml::Value::Table(t) => {
            for (k, v) in t.iter_mut() {
                if is_secret_key(k) {
                    mask_all(v);
                } else {
                    mask_secrets(v);
                }
            }
        }
        toml::Value::Array(a) => a.iter_mut().for_each(mask_secrets),
        toml::Value::String(s) => {
            if let Ok(mut url) = reqwest::Url::parse(s) {
                if url.password().is_some() && url.set_password(Some("***")).is_ok() {
                    *s = url.to_string();
                }
            }
        }
        _ => {}
    }
}

fn mask_all(value: &mut toml::Value) {
    match value {
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| mask_all(v)),
        toml::Value::Array(a) => a.iter_mut().for_each(mask_all),
        v => *v = toml::Value::String("***".into()),
    }
}

impl Config {
    /// The effective configuration (defaults, the file, the environment and the
    /// flags, as `serve` would run with it) as TOML, every secret as `***`.
    pub fn show(&self) -> Result<String> {
        let mut v = toml::Value::try_from(self)
            .map_err(|e| Error::config(format!("configuration cannot be shown: {e}")))?;
        mask_secrets(&mut v);
        let mut out = String::new();
        if let Some(f) = &self.file {
            out.push_str(&format!("# from {} and REGWAY_*\n", f.display()));
        }
        out.push_str(
            &toml::to_string(&v)
                .map_err(|e| Error::config(format!("configuration cannot be shown: {e}")))?,
        );
        Ok(out)
    }
}

/// What an I/O error means, in words (`No such file or directory`), without the
/// `(os error 2)` tail.
pub fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The line of the file that sets the dotted `key` (`zones.ru.upstream`), or of the
/// nearest table above it that the file has.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let mut found = None;
    for seg in key.split('.') {
        let Some((k, item)) = table.get_key_value(seg) else {
            break;
        };
        if let Some(span) = k.span().or_else(|| item.span()) {
            found = Some(span.start);
        }
        match item.as_table_like() {
            Some(t) => table = t,
            None => break,
        }
    }
    found.map(|at| line_of(text, at))
}
