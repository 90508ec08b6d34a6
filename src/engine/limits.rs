//! Rate limits and the lock-out after failed logins, checked before a command runs, so
//! a limited request never executes, never charges and never takes its request-id.
//!
//! The per-partner buckets come from `governor` (GCRA, lock-free); their keys are
//! authenticated logins only, so there are never more of them than partners.
//!
//! What callers without valid credentials can make the gateway remember (their
//! addresses, the logins they claim) lives in bounded tables of GCRA cells kept here,
//! because those must *fail closed*: a full table refuses keys it does not hold instead
//! of forgetting the ones it does (a `governor` keyed limiter cannot tell whether it
//! holds a key, so it can only be cleared). Idle keys are forgotten on a timer
//! ([`Limiter::housekeeping`]). Keys are 16-byte keyed digests of what they stand for,
//! so an entry has one size whatever a caller sends: SipHash-1-3 with a 128-bit output
//! and a random key per process. They guard no secret (a login or an address is not
//! one); what they must do is keep a caller from choosing what it collides with, which
//! a keyed PRF does (SipHash is made for exactly that, hash-flooding), at a fraction of
//! a SHA-256 per key on every request.
//!
//! Failed logins are counted three ways (README, "Limits and security"):
//! - per address and login: `lockout_failures` lock that pair out, so guessing from one
//!   address stops without locking the partner out of its other addresses;
//! - per address: `lockout_address_failures`, whatever the logins, lock the address out;
//! - per login, from anywhere: past `lockout_failures`, the login's password checks are
//!   spaced out, the spacing doubling with each further failure up to
//!   `login_delay_max_s`. That slows guessing spread over many addresses. Addresses the
//!   login has already logged in from are exempt, so a partner's own panel does not
//!   wait while someone else guesses its password.

use crate::config::{LimitsConfig, Rate};
use crate::error::Error;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use siphasher::sip128::{Hasher128, SipHasher13};
use std::collections::HashMap;
use std::hash::Hasher;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What a request is limited as. Rate, burst (from the configuration) and the message
/// a limited caller reads sit side by side here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// A read-only command of an authenticated partner.
    Read,
    /// A mutating command of an authenticated partner.
    Order,
    /// A request without valid credentials, by source address.
    Anonymous,
    /// A request from an address, or for a login from an address, that is locked out.
    LockedOut,
    /// A login attempt the failure table is too full to count.
    Full,
    /// A password check of a login under attack whose turn is too far away.
    LoginDelay,
}

impl Action {
    pub const ALL: [Action; 6] = [
        Action::Read,
        Action::Order,
        Action::Anonymous,
        Action::LockedOut,
        Action::Full,
        Action::LoginDelay,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Order => "order",
            Action::Anonymous => "anonymous",
            Action::LockedOut => "lockout",
            Action::Full => "full",
            Action::LoginDelay => "login_delay",
        }
    }

    /// The configured bucket (`None` for the lock-out, which is not a bucket).
    fn rate(self, cfg: &LimitsConfig) -> Option<Rate> {
        match self {
            Action::Read => Some(cfg.read),
            Action::Order => Some(cfg.order),
            Action::Anonymous => Some(cfg.anonymous),
            Action::LockedOut | Action::Full | Action::LoginDelay => None,
        }
    }

    fn message(self) -> &'static str {
        match self {
            Action::Read => "rate limit exceeded for read commands; retry later",
            Action::Order => "rate limit exceeded for orders and other changes; retry later",
            Action::Anonymous => {
                "too many requests without valid credentials from this address; retry later"
            }
            Action::LockedOut => "too many failed logins: locked out for a while; retry later",
            Action::Full => {
                "too many failed logins from too many addresses: new ones are refused for a while; retry later"
            }
            Action::LoginDelay => {
                "too many failed logins for this login: its password checks are spaced out; retry later"
            }
        }
    }

    fn error(self, retry_after: Duration) -> Error {
        let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
        Error {
            message: self.message().into(),
            ..Error::rate_limited(secs.max(1))
        }
    }
}

/// A quota, or `None` when the limit is switched off.
fn quota(r: Rate) -> Option<Quota> {
    let per_minute = NonZeroU32::new(r.per_minute)?;
    let burst = NonZeroU32::new(r.burst).unwrap_or(per_minute);
    Some(Quota::per_minute(per_minute).allow_burst(burst))
}

/// The key an address is counted under: IPv4 as is, IPv6 by its /64 (one customer's
/// network), IPv4-mapped IPv6 as the IPv4 address.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
        v4 => v4,
    }
}

/// An address's bytes (4 or 16), without an allocation.
fn octets(ip: IpAddr) -> OctetsOf {
    match ip {
        IpAddr::V4(a) => OctetsOf::V4(a.octets()),
        IpAddr::V6(a) => OctetsOf::V6(a.octets()),
    }
}

enum OctetsOf {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl AsRef<[u8]> for OctetsOf {
    fn as_ref(&self) -> &[u8] {
        match self {
            OctetsOf::V4(b) => b,
            OctetsOf::V6(b) => b,
        }
    }
}

/// A keyed `governor` limiter of partners' buckets.
struct Keyed<K: std::hash::Hash + Eq + Clone> {
    inner: DefaultKeyedRateLimiter<K>,
}

impl<K: std::hash::Hash + Eq + Clone> Keyed<K> {
    fn new(quota: Quota) -> Keyed<K> {
        Keyed {
            inner: RateLimiter::keyed(quota),
        }
    }

    /// Its keys are authenticated logins, so it holds at most one per partner: past
    /// `max_keys` it drops idle keys, and never forgets a busy one.
    fn check(
        &self,
        key: &K,
        max_keys: usize,
    ) -> Result<(), governor::NotUntil<governor::clock::QuantaInstant>> {
        if self.inner.len() >= max_keys {
            self.inner.retain_recent();
        }
        self.inner.check_key(key)
    }

    fn housekeeping(&self) {
        self.inner.retain_recent();
        self.inner.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.inner.len()
    }
}

/// A key of the failure and anonymous tables: a keyed digest (see [`Limiter::key`]).
type Key = [u8; 16];

/// Nanoseconds since the limiter was made.
type Nanos = u64;

/// A GCRA cell: the theoretical arrival time of the next event, and the end of a
/// lock-out (or, for a login, the earliest time of its next password check).
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    tat: Nanos,
    until: Nanos,
}

impl Cell {
    fn idle(&self, now: Nanos) -> bool {
        self.tat <= now && self.until <= now
    }
}

/// A GCRA rate: one event per `t` on average, `burst` at once.
#[derive(Debug, Clone, Copy)]
struct Gcra {
    t: Nanos,
    tau: Nanos,
}

impl Gcra {
    fn new(period: Duration, per_period: u32, burst: u32) -> Gcra {
        let t = (period.as_nanos() / u128::from(per_period.max(1))).max(1) as Nanos;
        Gcra {
            t,
            tau: t.saturating_mul(u64::from(burst)),
        }
    }

    /// Takes one event: the new arrival time, or how long until one would fit.
    fn step(&self, tat: Nanos, now: Nanos) -> Result<Nanos, Nanos> {
        let next = tat.max(now).saturating_add(self.t);
        let ahead = next - now;
        if ahead > self.tau {
            Err(ahead - self.tau)
        } else {
            Ok(next)
        }
    }

    /// Events taken beyond the burst and not yet (wholly) drained.
    fn excess(&self, tat: Nanos, now: Nanos) -> u64 {
        tat.saturating_sub(now)
            .saturating_sub(self.tau)
            .div_ceil(self.t)
    }
}

/// A bounded table of cells. Full means `max` cells even after idle ones are dropped.
struct Table {
    cells: Mutex<Cells>,
    max: usize,
}

/// The cells, and when a full table last looked for idle ones.
#[derive(Default)]
struct Cells {
    map: HashMap<Key, Cell>,
    swept: Nanos,
}

impl std::ops::Deref for Cells {
    type Target = HashMap<Key, Cell>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl std::ops::DerefMut for Cells {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.map
    }
}

/// How often a full table looks for idle cells to drop (a look costs a pass over it).
const SWEEP_EVERY: Nanos = 1_000_000_000;

impl Cells {
    /// Whether `need` more keys fit. A full table drops its idle cells first, at most
    /// once a second, so refusing under a flood stays cheap.
    fn room(&mut self, max: usize, now: Nanos, need: usize) -> bool {
        if self.map.len() + need > max && now.saturating_sub(self.swept) >= SWEEP_EVERY {
            self.swept = now;
            self.map.retain(|_, c| !c.idle(now));
        }
        self.map.len() + need <= max
    }
}

impl Table {
    fn new(max: usize) -> Table {
        Table {
            cells: Mutex::new(Cells::default()),
            max,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cells> {
        self.cells.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn housekeeping(&self, now: Nanos) {
        let mut cells = self.lock();
        cells.retain(|_, c| !c.idle(now));
        cells.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The failure counters (one table for addresses, address and login pairs, and logins)
/// and their rates.
struct Failures {
    table: Table,
    /// Per address and login: the `lockout_failures`-th failure in the window locks out.
    pair: Gcra,
    /// Per address: the `lockout_address_failures`-th failure locks out.
    address: Gcra,
    /// Per login: `lockout_failures` free failures, then growing spacing.
    login: Gcra,
    /// (Address, login) pairs that logged in successfully: exempt from the per-login
    /// spacing, and let through while the table is full. Only a right password adds one.
    known: Mutex<HashMap<Key, Nanos>>,
}

/// Successful (address, login) pairs are remembered this long after their last login.
const KNOWN_FOR: Duration = Duration::from_secs(30 * 86_400);

/// A login's password check waits at most this long for its turn; a later turn is
/// refused at once (2502, with `Retry-After`).
pub const LOGIN_WAIT_MAX: Duration = Duration::from_secs(5);

/// The first spacing of a login's checks past its free failures; it doubles after.
const LOGIN_DELAY_FIRST: Duration = Duration::from_secs(1);

/// The keys of one login attempt.
pub struct Attempt {
    address: Key,
    pair: Key,
    login: Key,
    /// For the log: which address (by its counting key).
    source: IpAddr,
}

pub struct Limiter {
    cfg: LimitsConfig,
    read: Option<Keyed<String>>,
    order: Option<Keyed<String>>,
    /// Per-partner overrides: login → (read, order); `None` inside means unlimited.
    overrides: HashMap<
        String,
        (
            Option<DefaultDirectRateLimiter>,
            Option<DefaultDirectRateLimiter>,
        ),
    >,
    /// Requests without valid credentials, per source address.
    anonymous: Option<(Gcra, Table)>,
    failures: Option<Failures>,
    rejected: [AtomicU64; 6],
    /// Keys the digests of the tables (random per process).
    secret: (u64, u64),
    started: Instant,
    /// Made once: creating a quanta clock calibrates it (cpuid and all), far too
    /// costly for every request.
    clock: DefaultClock,
}

impl Limiter {
    pub fn new(cfg: &LimitsConfig) -> Limiter {
        fn keyed<K: std::hash::Hash + Eq + Clone>(r: Rate) -> Option<Keyed<K>> {
            quota(r).map(Keyed::new)
        }
        let direct =
            |r: Option<Rate>, default: Rate| quota(r.unwrap_or(default)).map(RateLimiter::direct);
        let window = Duration::from_secs(cfg.lockout_window_s);
        let failures = (cfg.lockout_failures > 0).then(|| {
            let n = cfg.lockout_failures;
            let a = cfg.lockout_address_failures.max(1);
            // A bucket holds one failure less than its threshold: the failure that finds
            // it empty is the threshold-th, and locks out.
            Failures {
                table: Table::new(cfg.max_keys),
                pair: Gcra::new(window, n, n - 1),
                address: Gcra::new(window, a, a - 1),
                login: Gcra::new(window, n, n),
                known: Mutex::new(HashMap::new()),
            }
        });
        let anonymous = quota(cfg.anonymous).map(|_| {
            (
                Gcra::new(
                    Duration::from_secs(60),
                    cfg.anonymous.per_minute,
                    cfg.anonymous.burst.max(1),
                ),
                Table::new(cfg.max_keys),
            )
        });
        Limiter {
            read: Action::Read.rate(cfg).and_then(keyed),
            order: Action::Order.rate(cfg).and_then(keyed),
            overrides: cfg
                .partners
                .iter()
                .map(|(login, p)| {
                    (
                        login.clone(),
                        (direct(p.read, cfg.read), direct(p.order, cfg.order)),
                    )
                })
                .collect(),
            anonymous,
            failures,
            rejected: Default::default(),
            secret: rand::random(),
            started: Instant::now(),
            clock: DefaultClock::default(),
            cfg: cfg.clone(),
        }
    }

    fn now(&self) -> Nanos {
        self.started.elapsed().as_nanos() as Nanos
    }

    fn reject(&self, action: Action, wait: Duration) -> Error {
        self.rejected[action as usize].fetch_add(1, Ordering::Relaxed);
        action.error(wait)
    }

    /// Requests refused so far, by action.
    pub fn rejections(&self) -> Vec<(Action, u64)> {
        Action::ALL
            .into_iter()
            .map(|a| (a, self.rejected[a as usize].load(Ordering::Relaxed)))
            .collect()
    }

    /// Takes one request of `action` from an authenticated partner's bucket.
    pub fn partner(&self, login: &str, action: Action) -> Result<(), Error> {
        let res = match self.overrides.get(login) {
            Some((read, order)) => {
                let l = if action == Action::Order { order } else { read };
                match l {
                    Some(l) => l.check(),
                    None => Ok(()),
                }
            }
            None => {
                let l = if action == Action::Order {
                    &self.order
                } else {
                    &self.read
                };
                match l {
                    Some(l) => l.check(&login.to_string(), self.cfg.max_keys),
                    None => Ok(()),
                }
            }
        };
        res.map_err(|n| self.reject(action, n.wait_time_from(self.clock.now())))
    }

    /// A keyed digest: `tag` tells the kinds of key apart.
    fn key(&self, tag: u8, parts: &[&[u8]]) -> Key {
        let mut h = SipHasher13::new_with_keys(self.secret.0, self.secret.1);
        h.write(&[tag]);
        for p in parts {
            h.write(&(p.len() as u64).to_be_bytes());
            h.write(p);
        }
        h.finish128().as_bytes()
    }

    /// The keys a login attempt from `peer` for `login` is counted under.
    pub fn attempt(&self, peer: IpAddr, login: &str) -> Attempt {
        let source = source_key(peer);
        let octets = octets(source);
        let ip = octets.as_ref();
        Attempt {
            address: self.key(b'a', &[ip]),
            pair: self.key(b'p', &[ip, login.as_bytes()]),
            login: self.key(b'l', &[login.as_bytes()]),
            source,
        }
    }

    /// Takes one request without valid credentials from the source address's bucket.
    /// A full table refuses addresses it does not hold.
    pub fn anonymous(&self, peer: IpAddr) -> Result<(), Error> {
        let Some((rate, table)) = &self.anonymous else {
            return Ok(());
        };
        let source = source_key(peer);
        let octets = octets(source);
        let ip = octets.as_ref();
        let key = self.key(b'n', &[ip]);
        let now = self.now();
        let mut cells = table.lock();
        if !cells.contains_key(&key) && !cells.room(table.max, now, 1) {
            drop(cells);
            return Err(self.full());
        }
        let cell = cells.entry(key).or_default();
        match rate.step(cell.tat, now) {
            Ok(tat) => {
                cell.tat = tat;
                Ok(())
            }
            Err(wait) => {
                drop(cells);
                Err(self.reject(Action::Anonymous, Duration::from_nanos(wait)))
            }
        }
    }

    fn full(&self) -> Error {
        self.reject(
            Action::Full,
            Duration::from_secs(self.cfg.housekeeping_s.max(1)),
        )
    }

    fn is_known(&self, f: &Failures, a: &Attempt) -> bool {
        f.known
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&a.pair)
    }

    /// Refuses, before any password is checked, an address or an (address, login) pair
    /// that is locked out, and, while the failure table is full, an attempt it could not
    /// count (unless the pair has logged in before).
    pub fn check_locked(&self, a: &Attempt) -> Result<(), Error> {
        let Some(f) = &self.failures else {
            return Ok(());
        };
        let now = self.now();
        let mut cells = f.table.lock();
        let until = [&a.address, &a.pair]
            .iter()
            .filter_map(|k| cells.get(*k))
            .map(|c| c.until)
            .filter(|u| *u > now)
            .max();
        if let Some(u) = until {
            drop(cells);
            return Err(self.reject(Action::LockedOut, Duration::from_nanos(u - now)));
        }
        let untracked = [&a.address, &a.pair, &a.login]
            .iter()
            .filter(|k| !cells.contains_key(**k))
            .count();
        let refuse = untracked > 0 && !cells.room(f.table.max, now, untracked);
        drop(cells);
        if refuse && !self.is_known(f, a) {
            return Err(self.full());
        }
        Ok(())
    }

    /// How long this attempt waits for its turn before its password is checked: zero,
    /// unless its login has failed more than `lockout_failures` times lately from
    /// anywhere and the attempt comes from an address the login has not logged in from.
    /// A turn further away than [`LOGIN_WAIT_MAX`] is refused (2502).
    pub fn login_turn(&self, a: &Attempt) -> Result<Duration, Error> {
        let Some(f) = &self.failures else {
            return Ok(Duration::ZERO);
        };
        if self.cfg.login_delay_max_s == 0 || self.is_known(f, a) {
            return Ok(Duration::ZERO);
        }
        let now = self.now();
        let mut cells = f.table.lock();
        let Some(cell) = cells.get_mut(&a.login) else {
            return Ok(Duration::ZERO);
        };
        let excess = f.login.excess(cell.tat, now);
        if excess == 0 {
            return Ok(Duration::ZERO);
        }
        let max = Duration::from_secs(self.cfg.login_delay_max_s);
        let spacing = LOGIN_DELAY_FIRST
            .checked_mul(
                1u32.checked_shl((excess - 1).min(31) as u32)
                    .unwrap_or(u32::MAX),
            )
            .unwrap_or(max)
            .min(max);
        let turn = cell.until.max(now);
        let wait = Duration::from_nanos(turn - now);
        if wait > LOGIN_WAIT_MAX {
            drop(cells);
            return Err(self.reject(Action::LoginDelay, wait));
        }
        cell.until = turn.saturating_add(spacing.as_nanos() as Nanos);
        Ok(wait)
    }

    /// Counts a failed login; locks the pair or the address out when its bucket of
    /// failures runs dry. Also counts as a request without valid credentials.
    pub fn failed_login(&self, a: &Attempt, login: &str) -> Result<(), Error> {
        if let Some(f) = &self.failures {
            let now = self.now();
            let mut cells = f.table.lock();
            let mut lost = false;
            for (key, rate, what) in [
                (&a.pair, f.pair, "login from address"),
                (&a.address, f.address, "address"),
                (&a.login, f.login, ""),
            ] {
                if !cells.contains_key(key) && !cells.room(f.table.max, now, 1) {
                    lost = true;
                    continue;
                }
                let cell = cells.entry(*key).or_default();
                if what.is_empty() {
                    // The login's count only grows; its excess spaces out later checks.
                    cell.tat = cell.tat.max(now).saturating_add(rate.t);
                    continue;
                }
                match rate.step(cell.tat, now) {
                    Ok(tat) => cell.tat = tat,
                    Err(_) => {
                        let until =
                            now.saturating_add(self.cfg.lockout_s.saturating_mul(1_000_000_000));
                        if cell.until <= now {
                            tracing::warn!(
                                address = %a.source,
                                login = %login.chars().take(64).collect::<String>(),
                                what,
                                seconds = self.cfg.lockout_s,
                                "locked out after repeated failed logins"
                            );
                        }
                        cell.until = until;
                    }
                }
            }
            drop(cells);
            if lost {
                // A pair that could not be counted is let through no more.
                f.known
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&a.pair);
                tracing::warn!(
                    keys = f.table.max,
                    "the failed-login table is full: new addresses and logins are refused until it drains"
                );
            }
        }
        self.anonymous(a.source)
    }

    /// Remembers that this (address, login) pair logged in with the right password.
    pub fn logged_in(&self, a: &Attempt) {
        let Some(f) = &self.failures else {
            return;
        };
        let now = self.now();
        let mut known = f.known.lock().unwrap_or_else(|p| p.into_inner());
        if known.len() >= f.table.max && !known.contains_key(&a.pair) {
            let horizon = now.saturating_sub(KNOWN_FOR.as_nanos() as Nanos);
            known.retain(|_, t| *t > horizon);
            if known.len() >= f.table.max {
                return;
            }
        }
        known.insert(a.pair, now);
    }

    /// Forgets idle keys: buckets that are full again, lock-outs that are over, pairs
    /// not seen for a long time.
    pub fn housekeeping(&self) {
        for l in [&self.read, &self.order].into_iter().flatten() {
            l.housekeeping();
        }
        let now = self.now();
        if let Some((_, t)) = &self.anonymous {
            t.housekeeping(now);
        }
        if let Some(f) = &self.failures {
            f.table.housekeeping(now);
            let horizon = now.saturating_sub(KNOWN_FOR.as_nanos() as Nanos);
            let mut known = f.known.lock().unwrap_or_else(|p| p.into_inner());
            known.retain(|_, t| *t > horizon);
            known.shrink_to_fit();
        }
    }

    /// Keys remembered, over every limiter (for tests and metrics).
    pub fn keys(&self) -> usize {
        let keyed = [&self.read, &self.order]
            .into_iter()
            .flatten()
            .map(|l| l.len())
            .sum::<usize>();
        keyed
            + self.anonymous.as_ref().map_or(0, |(_, t)| t.len())
            + self.failures.as_ref().map_or(0, |f| {
                f.table.len() + f.known.lock().unwrap_or_else(|p| p.into_inner()).len()
            })
    }

    pub fn housekeeping_interval(&self) -> Duration {
        Duration::from_secs(self.cfg.housekeeping_s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> LimitsConfig {
        LimitsConfig {
            read: Rate {
                per_minute: 1,
                burst: 3,
            },
            order: Rate {
                per_minute: 1,
                burst: 1,
            },
            anonymous: Rate {
                per_minute: 1,
                burst: 2,
            },
            lockout_failures: 3,
            ..LimitsConfig::default()
        }
    }

    #[test]
    fn separate_buckets_and_overrides() {
        let mut c = cfg();
        c.partners.insert(
            "big".into(),
            crate::config::PartnerLimits {
                read: None,
                order: Some(Rate {
                    per_minute: 0,
                    burst: 0,
                }),
            },
        );
        let l = Limiter::new(&c);
        assert!(l.partner("a", Action::Order).is_ok());
        let e = l.partner("a", Action::Order).unwrap_err();
        assert_eq!(e.code, crate::error::Code::RateLimited);
        assert!(e.retry_after.unwrap() >= 1 && e.retry_after.unwrap() <= 60);
        for _ in 0..3 {
            assert!(l.partner("a", Action::Read).is_ok());
        }
        assert!(l.partner("a", Action::Read).is_err());
        assert!(l.partner("b", Action::Read).is_ok());
        for _ in 0..100 {
            assert!(l.partner("big", Action::Order).is_ok());
        }
        assert_eq!(l.rejections()[0], (Action::Read, 1));
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// Failures from one address lock that address's attempts on that login out, not
    /// the login's attempts from elsewhere, nor the address's other logins.
    #[test]
    fn lockout_by_address_and_login_pair() {
        let l = Limiter::new(&LimitsConfig {
            anonymous: Rate {
                per_minute: 0,
                burst: 0,
            },
            ..cfg()
        });
        let a = l.attempt(ip("192.0.2.1"), "x");
        for _ in 0..3 {
            l.check_locked(&a).unwrap();
            l.failed_login(&a, "x").unwrap();
        }
        let e = l.check_locked(&a).unwrap_err();
        assert!(e.message.contains("locked out"), "{}", e.message);
        assert!(e.retry_after.unwrap() > 800);
        l.check_locked(&l.attempt(ip("198.51.100.1"), "x")).unwrap();
        l.check_locked(&l.attempt(ip("192.0.2.1"), "other"))
            .unwrap();
    }

    #[test]
    fn an_address_trying_many_logins_is_locked_out() {
        let l = Limiter::new(&LimitsConfig {
            lockout_address_failures: 5,
            ..cfg()
        });
        for i in 0..5 {
            let a = l.attempt(ip("192.0.2.9"), &format!("login{i}"));
            l.check_locked(&a).unwrap();
            let _ = l.failed_login(&a, "x");
        }
        let e = l
            .check_locked(&l.attempt(ip("192.0.2.9"), "fresh"))
            .unwrap_err();
        assert!(e.message.contains("locked out"), "{}", e.message);
        l.check_locked(&l.attempt(ip("192.0.2.10"), "fresh"))
            .unwrap();
    }

    /// Guessing spread over many addresses: past the free failures, the login's
    /// checks from new addresses wait their turn, the turns spaced further and further
    /// apart; an address the login has logged in from does not wait.
    #[test]
    fn a_login_guessed_from_many_addresses_is_slowed_down() {
        let l = Limiter::new(&LimitsConfig {
            anonymous: Rate {
                per_minute: 0,
                burst: 0,
            },
            login_delay_max_s: 8,
            ..cfg()
        });
        let home = l.attempt(ip("203.0.113.1"), "x");
        l.logged_in(&home);
        for i in 0..3u8 {
            let a = l.attempt(IpAddr::from([198, 51, 100, i]), "x");
            assert_eq!(l.login_turn(&a).unwrap(), Duration::ZERO);
            l.failed_login(&a, "x").unwrap();
        }
        // Free failures used up: the next checks are spaced 1 s, 2 s, 4 s, 8 s apart,
        // and a turn more than LOGIN_WAIT_MAX away is refused without a check.
        let mut waits = Vec::new();
        for i in 10..15u8 {
            let a = l.attempt(IpAddr::from([198, 51, 100, i]), "x");
            match l.login_turn(&a) {
                Ok(w) => waits.push(w.as_secs_f64().round() as u64),
                Err(e) => {
                    assert_eq!(e.code, crate::error::Code::RateLimited);
                    assert!(e.retry_after.unwrap() >= 6, "{:?}", e.retry_after);
                    waits.push(99);
                    continue;
                }
            }
            l.failed_login(&a, "x").unwrap();
        }
        assert_eq!(waits, [0, 0, 1, 3, 99], "{waits:?}");
        assert_eq!(l.login_turn(&home).unwrap(), Duration::ZERO);
        // Another login is not slowed down.
        let other = l.attempt(ip("198.51.100.50"), "y");
        assert_eq!(l.login_turn(&other).unwrap(), Duration::ZERO);
    }

    /// A full failure table keeps what it holds and refuses what it cannot count.
    #[test]
    fn a_full_table_fails_closed() {
        let l = Limiter::new(&LimitsConfig {
            max_keys: 300,
            lockout_address_failures: 1000,
            ..cfg()
        });
        let locked = l.attempt(ip("192.0.2.1"), "x");
        for _ in 0..3 {
            let _ = l.failed_login(&locked, "x");
        }
        let home = l.attempt(ip("203.0.113.7"), "x");
        l.logged_in(&home);
        let mut refused = 0;
        for i in 0..1000u32 {
            let a = l.attempt(IpAddr::from(i.to_be_bytes()), "x");
            if l.check_locked(&a).is_err() {
                refused += 1;
                continue;
            }
            let _ = l.failed_login(&a, "x");
        }
        assert!(refused > 800, "{refused}");
        // The failure table, the anonymous table, one known pair.
        assert!(l.keys() <= 300 + 300 + 1, "{} keys", l.keys());
        assert!(l
            .check_locked(&locked)
            .unwrap_err()
            .message
            .contains("locked out"));
        let e = l
            .check_locked(&l.attempt(ip("2001:db8::1"), "y"))
            .unwrap_err();
        assert!(e.message.contains("too many addresses"), "{}", e.message);
        l.check_locked(&home).unwrap();
    }

    #[test]
    fn ipv6_counts_by_network() {
        let a = source_key("2001:db8:1:2::1".parse().unwrap());
        let b = source_key("2001:db8:1:2:ffff::9".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, source_key("2001:db8:1:3::1".parse().unwrap()));
        assert_eq!(
            source_key("::ffff:192.0.2.7".parse().unwrap()),
            "192.0.2.7".parse::<IpAddr>().unwrap()
        );
    }

    #[test]
    fn the_anonymous_table_stays_bounded_and_refuses_new_addresses() {
        let l = Limiter::new(&LimitsConfig {
            max_keys: 1000,
            ..cfg()
        });
        let first = IpAddr::from([10, 0, 0, 1]);
        l.anonymous(first).unwrap();
        l.anonymous(first).unwrap();
        for i in 0..50_000u32 {
            let ip = IpAddr::from((i + 0x0b00_0000).to_be_bytes());
            let _ = l.anonymous(ip);
        }
        assert!(l.keys() <= 1000, "{} keys", l.keys());
        // The first address's bucket is remembered: its third request is over.
        assert!(l.anonymous(first).is_err());
        assert!(l.anonymous(IpAddr::from([172, 16, 0, 1])).is_err());
    }
}
