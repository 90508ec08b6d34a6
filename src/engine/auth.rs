//! Partner authentication: argon2id password hashes, an IP allow-list per partner.
//!
//! argon2id is slow on purpose (tens of milliseconds), too slow to run on every
//! request of a busy panel. After one successful check the gateway remembers a keyed
//! SHA-256 digest of the password (the key is random per process, so the digest is
//! useless outside it) and compares later passwords against it in constant time. The
//! cache entry is tied to the stored hash, so a changed password is checked afresh.
//!
//! A burst of logins that miss the cache is single-flight per login: one argon2 check
//! runs at a time for a login, and the others wait and then read its result (a right
//! password from the cache, a wrong one from a short list of recent failures), so a
//! flood of first logins or of one bad password costs one argon2 run, not N.

use crate::error::{Error, Result};
use crate::store::records::Partner;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub struct Credentials {
    pub login: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <hidden>)", self.login)
    }
}

pub struct Authenticator {
    key: [u8; 32],
    /// login → (stored hash, digest of the password that matched it).
    verified: Mutex<HashMap<String, (String, [u8; 32])>>,
    /// login → (stored hash, digests of recent wrong passwords).
    refused: Mutex<HashMap<String, Refused>>,
    /// One argon2 check at a time per login. Entries exist only for real partners.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// argon2 runs at once, over all logins: half the cores, so a flood of first
    /// logins for many partners leaves the rest of the machine to the others.
    slow_permits: tokio::sync::Semaphore,
    /// argon2 checks run so far (metrics, tests).
    pub slow_checks: std::sync::atomic::AtomicU64,
}

/// The stored hash, and digests of recent wrong passwords for it.
type Refused = (String, Vec<[u8; 32]>);

/// Wrong passwords remembered per login.
const REFUSED_KEPT: usize = 16;

impl Default for Authenticator {
    fn default() -> Self {
        Authenticator {
            key: rand::random(),
            verified: Mutex::new(HashMap::new()),
            refused: Mutex::new(HashMap::new()),
            flights: Mutex::new(HashMap::new()),
            slow_checks: Default::default(),
            slow_permits: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1)),
            ),
        }
    }
}

pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("hashing: {e}")))
}

/// Logins: 1–64 of `a-z 0-9 . _ -`, starting with a letter or digit.
pub fn check_login(login: &str) -> Result<()> {
    let ok = (1..=64).contains(&login.len())
        && login.as_bytes()[0].is_ascii_alphanumeric()
        && login.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::value(
            "login",
            format!("{login:?}: 1 to 64 of a-z 0-9 . _ -, starting with a letter or digit"),
        ))
    }
}

impl Authenticator {
    fn digest(&self, login: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(login.as_bytes());
        h.update([0]);
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// True when `password` is the partner's. Runs argon2 off the async threads when
    /// the cache cannot answer.
    ///
    /// `still_allowed` runs again after waiting for another check of the same login, so
    /// a lock-out that began meanwhile stops the queue before argon2.
    pub async fn verify(
        &self,
        partner: &Partner,
        password: &str,
        still_allowed: impl Fn() -> Result<()>,
    ) -> Result<bool> {
        let digest = self.digest(&partner.login, password);
        if let Some(known) = self.known(partner, &digest) {
            return Ok(known);
        }
        let flight = self
            .flights
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(partner.login.clone())
            .or_default()
            .clone();
        let _flight = flight.lock().await;
        // The check that ran while this one waited may have answered it.
        if let Some(known) = self.known(partner, &digest) {
            return Ok(known);
        }
        still_allowed()?;
        let _permit = self
            .slow_permits
            .acquire()
            .await
            .map_err(|_| Error::internal("password checks closed"))?;
        self.slow_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let hash = partner.password_hash.clone();
        let pw = password.to_string();
        let ok = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        let entry = (partner.login.clone(), partner.password_hash.clone());
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(entry.0, (entry.1, digest));
        } else {
            let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
            let slot = refused
                .entry(entry.0)
                .or_insert_with(|| (entry.1.clone(), Vec::new()));
            if slot.0 != entry.1 {
                *slot = (entry.1, Vec::new());
            }
            if slot.1.len() >= REFUSED_KEPT {
                slot.1.remove(0);
            }
            slot.1.push(digest);
        }
        Ok(ok)
    }

    /// What the caches know of this password: right, wrong, or nothing.
    fn known(&self, partner: &Partner, digest: &[u8; 32]) -> Option<bool> {
        {
            let cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((hash, d)) = cache.get(&partner.login) {
                // Only one password matches the stored hash: once it is known, any
                // other is wrong without asking argon2.
                if *hash == partner.password_hash {
                    return Some(constant_time_eq(d, digest));
                }
            }
        }
        let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        match refused.get(&partner.login) {
            Some((hash, ds))
                if *hash == partner.password_hash
                    && ds
                        .iter()
                        .fold(false, |acc, d| acc | constant_time_eq(d, digest)) =>
            {
                Some(false)
            }
            _ => None,
        }
    }
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An IPv4 or IPv6 network in CIDR form (`192.0.2.0/24`, `2001:db8::/32`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr> {
        let bad = || {
            Error::value(
                "allow-ip",
                format!("{s:?} is not an IP address or CIDR network"),
            )
        };
        let (a, p) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) if !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()) => {
                p.parse::<u8>().map_err(|_| bad())?
            }
            Some(_) => return Err(bad()),
            None => max,
        };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Whether `ip` may act for `partner` (an empty allow-list allows every address).
pub fn ip_allowed(partner: &Partner, ip: IpAddr) -> bool {
    partner.allow_ips.is_empty()
        || partner
            .allow_ips
            .iter()
            .filter_map(|c| Cidr::parse(c).ok())
            .any(|c| c.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let c = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(c.contains("192.0.2.77".parse().unwrap()));
        assert!(c.contains("::ffff:192.0.2.1".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!c.contains("2001:db9::5".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.1")
            .unwrap()
            .contains("10.0.0.1".parse().unwrap()));
        for bad in ["10.0.0.0/33", "10.0.0.0/", "x", "10.0.0.0/-1", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn logins() {
        assert!(check_login("demo").is_ok());
        assert!(check_login("partner-1.x_y").is_ok());
        assert!(check_login("Demo").is_err());
        assert!(check_login("-x").is_err());
        assert!(check_login("").is_err());
    }
}
