//! Partner authentication: argon2id password hashes, an IP allow-list per partner.
//!
//! argon2id is slow on purpose (tens of milliseconds), too slow to run on every
//! request of a busy panel. After one successful check the gateway remembers a keyed
//! SHA-256 digest of the password (the key is random per process, so the digest is
//! useless outside it) and compares later passwords against it in constant time. The
//! cache entry is tied to the stored hash, so a changed password is checked afresh.
//!
//! A password that is neither the remembered right one nor a recently refused one runs
//! argon2, for a login that exists and for one that does not alike: an unknown login is
//! checked against a fixed dummy hash with the same parameters, under the same limits,
//! the same caches and the same single flight, so it takes as long as a wrong password
//! and the answer's timing does not tell which logins exist.
//!
//! A burst of checks that miss the cache is single-flight per login: one argon2 check
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
use std::sync::{Arc, Mutex, OnceLock};

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
    /// login (by [`Authenticator::login_key`]) → (stored hash, digests of recent wrong
    /// passwords), for logins that exist and logins that do not alike; at most
    /// [`REFUSED_LOGINS`] logins.
    refused: Mutex<HashMap<LoginKey, Refused>>,
    /// One argon2 check at a time per login; an entry lives while a check runs.
    flights: Mutex<HashMap<LoginKey, Arc<tokio::sync::Mutex<()>>>>,
    /// argon2 runs at once, over all logins: half the cores, so a flood of first
    /// logins for many partners leaves the rest of the machine to the others.
    slow_permits: tokio::sync::Semaphore,
    /// argon2 checks run so far (metrics, tests).
    pub slow_checks: std::sync::atomic::AtomicU64,
}

/// The stored hash, and digests of recent wrong passwords for it.
type Refused = (String, Vec<[u8; 32]>);

/// A claimed login as the caches keep it: a keyed digest, one size whatever was sent.
type LoginKey = [u8; 32];

/// Wrong passwords remembered per login.
const REFUSED_KEPT: usize = 16;

/// Logins whose wrong passwords are remembered; past this the list starts again empty
/// (it is a cache: forgetting costs argon2 runs, which the limits bound, never safety).
const REFUSED_LOGINS: usize = 10_000;

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

/// The hash an unknown login is checked against: made once per process, with the same
/// parameters as every partner's, of a random password nobody knows.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let password: [u8; 32] = rand::random();
        let password: String = password.iter().map(|b| format!("{b:02x}")).collect();
        hash_password(&password).unwrap_or_default()
    })
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
        h.update((login.len() as u64).to_be_bytes());
        h.update(login.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    fn login_key(&self, login: &str) -> LoginKey {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(b"login\0");
        h.update(login.as_bytes());
        h.finalize().into()
    }

    /// True when `password` is the one `hash` was made from; `hash` is the partner's,
    /// or [`dummy_hash`] for a login that does not exist. Runs argon2 off the async
    /// threads when the cache cannot answer.
    ///
    /// `still_allowed` runs again after waiting for another check of the same login, so
    /// a lock-out that began meanwhile stops the queue before argon2.
    pub async fn verify(
        &self,
        login: &str,
        hash: &str,
        password: &str,
        still_allowed: impl Fn() -> Result<()>,
    ) -> Result<bool> {
        let digest = self.digest(login, password);
        if let Some(known) = self.known(login, hash, &digest) {
            return Ok(known);
        }
        let lk = self.login_key(login);
        let flight = Flight {
            lock: self
                .flights
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .entry(lk)
                .or_default()
                .clone(),
            flights: &self.flights,
            login: lk,
        };
        {
            let _flight = flight.lock.lock().await;
            // The check that ran while this one waited may have answered it.
            if let Some(known) = self.known(login, hash, &digest) {
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
            let h = hash.to_string();
            let pw = password.to_string();
            let ok = tokio::task::spawn_blocking(move || {
                PasswordHash::new(&h)
                    .map(|h| Argon2::default().verify_password(pw.as_bytes(), &h).is_ok())
                    .unwrap_or(false)
            })
            .await
            .unwrap_or(false);
            self.remember(login, hash, digest, ok);
            Ok(ok)
        }
    }

    fn remember(&self, login: &str, hash: &str, digest: [u8; 32], ok: bool) {
        if ok {
            self.verified
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(login.to_string(), (hash.to_string(), digest));
            return;
        }
        let lk = self.login_key(login);
        let mut refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        if refused.len() >= REFUSED_LOGINS && !refused.contains_key(&lk) {
            refused.clear();
        }
        let slot = refused
            .entry(lk)
            .or_insert_with(|| (hash.to_string(), Vec::new()));
        if slot.0 != hash {
            *slot = (hash.to_string(), Vec::new());
        }
        if slot.1.len() >= REFUSED_KEPT {
            slot.1.remove(0);
        }
        slot.1.push(digest);
    }

    /// What the caches know of this password: the remembered right one, a recently
    /// refused one, or nothing. Any other password runs argon2, so a wrong password
    /// costs the same whether or not the right one is known (and whether or not the
    /// login exists).
    fn known(&self, login: &str, hash: &str, digest: &[u8; 32]) -> Option<bool> {
        {
            let cache = self.verified.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((h, d)) = cache.get(login) {
                if h == hash && constant_time_eq(d, digest) {
                    return Some(true);
                }
            }
        }
        let lk = self.login_key(login);
        let refused = self.refused.lock().unwrap_or_else(|p| p.into_inner());
        match refused.get(&lk) {
            Some((h, ds))
                if h == hash
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

/// A place in a login's single flight. The last one out (or cancelled) takes the
/// login's entry away, so the table holds only the checks running now.
struct Flight<'a> {
    lock: Arc<tokio::sync::Mutex<()>>,
    flights: &'a Mutex<HashMap<LoginKey, Arc<tokio::sync::Mutex<()>>>>,
    login: LoginKey,
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if Arc::strong_count(&self.lock) == 2 {
            flights.remove(&self.login);
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

/// The address a request came from, for allow-lists, limits, lock-outs and logs: the
/// connection's `peer`, unless it is one of the `trusted` proxies; then the nearest
/// address in the forwarding chain (`Forwarded: for=…`, RFC 7239, or else
/// `X-Forwarded-For`, read from the right) that is not a trusted proxy. An entry that is
/// not an address (`unknown`, an obfuscated name, garbage) ends the walk at the last
/// proxy that was trusted, so a client cannot hide behind a made-up address.
pub fn client_address(
    peer: IpAddr,
    trusted: &[Cidr],
    forwarded: &[&str],
    x_forwarded_for: &[&str],
) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if trusted.is_empty() || !is_trusted(peer) {
        return peer;
    }
    let chain: Vec<&str> = if !forwarded.is_empty() {
        forwarded
            .iter()
            .flat_map(|h| h.split(','))
            .map(|element| {
                element
                    .split(';')
                    .find_map(|pair| {
                        let (k, v) = pair.trim().split_once('=')?;
                        k.trim().eq_ignore_ascii_case("for").then_some(v.trim())
                    })
                    .unwrap_or("")
            })
            .collect()
    } else {
        x_forwarded_for
            .iter()
            .flat_map(|h| h.split(','))
            .map(str::trim)
            .collect()
    };
    let mut client = peer;
    for hop in chain.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            return client;
        };
        client = ip;
        if !is_trusted(ip) {
            return ip;
        }
    }
    client
}

/// An address of a forwarding chain: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`, quoted or not.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let h = hop.trim().trim_matches('"');
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = h.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    let (a, port) = h.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    a.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod forwarded_tests {
    use super::*;

    #[test]
    fn a_forwarded_address_is_believed_only_from_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let proxies = [Cidr::parse("10.0.0.0/8").unwrap()];
        // Not from a trusted proxy: the header is ignored.
        assert_eq!(
            client_address(ip("192.0.2.9"), &proxies, &[], &["198.51.100.7"]),
            ip("192.0.2.9")
        );
        // No proxy configured: ignored.
        assert_eq!(
            client_address(ip("10.0.0.1"), &[], &[], &["198.51.100.7"]),
            ip("10.0.0.1")
        );
        // From the proxy: the nearest untrusted hop, whatever the client put before.
        assert_eq!(
            client_address(
                ip("10.0.0.1"),
                &proxies,
                &[],
                &["203.0.113.66, 198.51.100.7", "10.0.0.2"]
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(
                ip("10.0.0.1"),
                &proxies,
                &["for=203.0.113.66, for=\"[2001:db8::7]:4711\";proto=https"],
                &["198.51.100.7"]
            ),
            ip("2001:db8::7")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), &proxies, &["for=198.51.100.7:80"], &[]),
            ip("198.51.100.7")
        );
        // Garbage or `unknown` ends the walk at the last trusted hop.
        assert_eq!(
            client_address(ip("10.0.0.1"), &proxies, &[], &["198.51.100.7, bogus"]),
            ip("10.0.0.1")
        );
        assert_eq!(
            client_address(ip("10.0.0.1"), &proxies, &["for=unknown"], &[]),
            ip("10.0.0.1")
        );
        // No header from the proxy: the proxy.
        assert_eq!(
            client_address(ip("10.0.0.1"), &proxies, &[], &[]),
            ip("10.0.0.1")
        );
    }
}
