//! Rate limits and the lock-out after failed logins, checked before a command runs, so
//! a limited request never executes, never charges and never takes its request-id.
//!
//! Token buckets come from `governor` (GCRA, lock-free). Keyed limiters forget idle keys
//! on a timer ([`Limiter::housekeeping`]) and are cleared outright if an attacker with
//! many addresses still pushes one past `max_keys`, so memory stays bounded.

use crate::config::{LimitsConfig, Rate};
use crate::error::Error;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
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
    /// A request from an address or for a login that is locked out.
    LockedOut,
}

impl Action {
    pub const ALL: [Action; 4] = [
        Action::Read,
        Action::Order,
        Action::Anonymous,
        Action::LockedOut,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Action::Read => "read",
            Action::Order => "order",
            Action::Anonymous => "anonymous",
            Action::LockedOut => "lockout",
        }
    }

    /// The configured bucket (`None` for the lock-out, which is not a bucket).
    fn rate(self, cfg: &LimitsConfig) -> Option<Rate> {
        match self {
            Action::Read => Some(cfg.read),
            Action::Order => Some(cfg.order),
            Action::Anonymous => Some(cfg.anonymous),
            Action::LockedOut => None,
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

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum FailKey {
    Ip(IpAddr),
    Login(String),
}

/// A keyed limiter that can be started afresh when it holds too many keys.
struct Keyed<K: std::hash::Hash + Eq + Clone> {
    quota: Quota,
    inner: RwLock<DefaultKeyedRateLimiter<K>>,
}

impl<K: std::hash::Hash + Eq + Clone> Keyed<K> {
    fn new(quota: Quota) -> Keyed<K> {
        Keyed {
            quota,
            inner: RwLock::new(RateLimiter::keyed(quota)),
        }
    }

    fn check(
        &self,
        key: &K,
        max_keys: usize,
    ) -> Result<(), governor::NotUntil<governor::clock::QuantaInstant>> {
        {
            let l = self.inner.read().unwrap_or_else(|p| p.into_inner());
            if l.len() < max_keys {
                return l.check_key(key);
            }
        }
        let mut l = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if l.len() >= max_keys {
            l.retain_recent();
        }
        if l.len() >= max_keys {
            // Only an attacker with more addresses than `max_keys` gets here; forgetting
            // everyone is the price of bounded memory.
            tracing::warn!(
                keys = l.len(),
                "a rate limiter is full even after forgetting idle keys; clearing it"
            );
            *l = RateLimiter::keyed(self.quota);
        }
        l.check_key(key)
    }

    fn housekeeping(&self) {
        let l = self.inner.read().unwrap_or_else(|p| p.into_inner());
        l.retain_recent();
        l.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.inner.read().unwrap_or_else(|p| p.into_inner()).len()
    }
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
    anonymous: Option<Keyed<IpAddr>>,
    /// Failed logins, by address and by login: a bucket of `lockout_failures` that
    /// refills over `lockout_window_s`. An empty bucket locks the key out.
    failures: Option<Keyed<FailKey>>,
    locked: Mutex<HashMap<FailKey, Instant>>,
    rejected: [AtomicU64; 4],
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
        // The bucket holds one failure less than the threshold: the failure that finds
        // it empty is the threshold-th, and locks out.
        let failures = NonZeroU32::new(cfg.lockout_failures).and_then(|n| {
            let period = Duration::from_secs(cfg.lockout_window_s) / n.get();
            let burst = NonZeroU32::new(n.get() - 1).unwrap_or(NonZeroU32::MIN);
            Quota::with_period(period).map(|q| Keyed::new(q.allow_burst(burst)))
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
            anonymous: Action::Anonymous.rate(cfg).and_then(keyed),
            failures,
            locked: Mutex::new(HashMap::new()),
            rejected: Default::default(),
            clock: DefaultClock::default(),
            cfg: cfg.clone(),
        }
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
                    Some(l) => self.keyed_check(l, &login.to_string()),
                    None => Ok(()),
                }
            }
        };
        res.map_err(|n| self.reject(action, n.wait_time_from(self.clock.now())))
    }

    fn keyed_check<K: std::hash::Hash + Eq + Clone>(
        &self,
        l: &Keyed<K>,
        key: &K,
    ) -> Result<(), governor::NotUntil<governor::clock::QuantaInstant>> {
        l.check(key, self.cfg.max_keys)
    }

    /// Takes one request without valid credentials from the source address's bucket.
    pub fn anonymous(&self, peer: IpAddr) -> Result<(), Error> {
        let Some(l) = &self.anonymous else {
            return Ok(());
        };
        self.keyed_check(l, &source_key(peer))
            .map_err(|n| self.reject(Action::Anonymous, n.wait_time_from(self.clock.now())))
    }

    /// Refuses, before any password is checked, an address or a login that is locked out.
    pub fn check_locked(&self, peer: IpAddr, login: &str) -> Result<(), Error> {
        if self.failures.is_none() {
            return Ok(());
        }
        let now = Instant::now();
        let locked = self.locked.lock().unwrap_or_else(|p| p.into_inner());
        let until = [FailKey::Ip(source_key(peer)), FailKey::Login(login.into())]
            .iter()
            .filter_map(|k| locked.get(k))
            .filter(|u| **u > now)
            .max()
            .copied();
        drop(locked);
        match until {
            Some(u) => Err(self.reject(Action::LockedOut, u - now)),
            None => Ok(()),
        }
    }

    /// Counts a failed login from `peer` for `login`; locks either out when its bucket
    /// of failures runs dry. Also counts as a request without valid credentials.
    pub fn failed_login(&self, peer: IpAddr, login: &str) -> Result<(), Error> {
        if let Some(f) = &self.failures {
            for key in [FailKey::Ip(source_key(peer)), FailKey::Login(login.into())] {
                if self.cfg.lockout_failures == 1 || self.keyed_check(f, &key).is_err() {
                    self.lock_out(key);
                }
            }
        }
        self.anonymous(peer)
    }

    fn lock_out(&self, key: FailKey) {
        let now = Instant::now();
        let until = now + Duration::from_secs(self.cfg.lockout_s);
        let mut locked = self.locked.lock().unwrap_or_else(|p| p.into_inner());
        if locked.len() >= self.cfg.max_keys {
            locked.retain(|_, u| *u > now);
        }
        if locked.len() >= self.cfg.max_keys {
            tracing::warn!(keys = locked.len(), "the lock-out table is full");
            return;
        }
        if locked.get(&key).is_none_or(|u| *u <= now) {
            tracing::warn!(
                key = %match &key {
                    FailKey::Ip(ip) => format!("address {ip}"),
                    FailKey::Login(l) => format!("login {l:?}"),
                },
                seconds = self.cfg.lockout_s,
                "locked out after repeated failed logins"
            );
        }
        locked.insert(key, until);
    }

    /// Forgets idle keys: buckets that are full again, lock-outs that are over.
    pub fn housekeeping(&self) {
        for l in [&self.read, &self.order].into_iter().flatten() {
            l.housekeeping();
        }
        if let Some(l) = &self.anonymous {
            l.housekeeping();
        }
        if let Some(l) = &self.failures {
            l.housekeeping();
        }
        let now = Instant::now();
        let mut locked = self.locked.lock().unwrap_or_else(|p| p.into_inner());
        locked.retain(|_, u| *u > now);
        locked.shrink_to_fit();
    }

    /// Keys remembered, over every limiter (for tests and metrics).
    pub fn keys(&self) -> usize {
        let keyed = [&self.read, &self.order]
            .into_iter()
            .flatten()
            .map(|l| l.len())
            .sum::<usize>();
        keyed
            + self.anonymous.as_ref().map_or(0, |l| l.len())
            + self.failures.as_ref().map_or(0, |l| l.len())
            + self.locked.lock().unwrap_or_else(|p| p.into_inner()).len()
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

    #[test]
    fn lockout_by_address_and_by_login() {
        let l = Limiter::new(&LimitsConfig {
            anonymous: Rate {
                per_minute: 0,
                burst: 0,
            },
            ..cfg()
        });
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            l.check_locked(ip, "x").unwrap();
            l.failed_login(ip, "x").unwrap();
        }
        let e = l.check_locked(ip, "other").unwrap_err();
        assert!(e.message.contains("locked out"));
        let e = l
            .check_locked("198.51.100.1".parse().unwrap(), "x")
            .unwrap_err();
        assert!(e.retry_after.unwrap() > 800);
        l.check_locked("198.51.100.1".parse().unwrap(), "y")
            .unwrap();
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
    fn memory_stays_bounded() {
        let l = Limiter::new(&LimitsConfig {
            max_keys: 1000,
            ..cfg()
        });
        for i in 0..50_000u32 {
            let ip = IpAddr::from(i.to_be_bytes());
            let _ = l.anonymous(ip);
        }
        assert!(l.keys() <= 1000, "{} keys", l.keys());
    }
}
