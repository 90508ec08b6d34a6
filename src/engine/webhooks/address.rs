//! Which addresses an endpoint may reach: a partner's URL must not make the gateway
//! talk to itself, its neighbours or a cloud metadata service (SSRF). Loopback,
//! private, shared, link-local, metadata, multicast, reserved and IPv4-mapped addresses
//! are refused unless the operator lists them (`webhooks.allow_addresses`). The check
//! runs when an endpoint is set and again at every delivery, on the addresses the name
//! resolves to then; the connection goes to an address that passed it.

use crate::config::WebhooksConfig;
use crate::error::{Code, Error, Result};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Why an address is not reachable unless allowed; `None` for a public address.
pub fn special(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => special_v4(v4),
        IpAddr::V6(v6) => special_v6(v6),
    }
}

fn special_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let o = ip.octets();
    let n = u32::from(ip);
    let within = |net: u32, bits: u32| n >> (32 - bits) == net >> (32 - bits);
    Some(match o {
        [169, 254, 169, 254] | [100, 100, 100, 200] | [192, 0, 0, 192] => "metadata",
        [127, ..] => "loopback",
        [0, ..] => "unspecified",
        [10, ..] => "private",
        [172, b, ..] if (16..32).contains(&b) => "private",
        [192, 168, ..] => "private",
        [169, 254, ..] => "link-local",
        _ if within(0x6440_0000, 10) => "shared (carrier-grade NAT)",
        [192, 0, 0, _] => "reserved",
        [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => "documentation",
        [198, 18 | 19, ..] => "reserved",
        [255, 255, 255, 255] => "broadcast",
        [224..=239, ..] => "multicast",
        [240..=255, ..] => "reserved",
        _ => return None,
    })
}

fn special_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_loopback() {
        return Some("loopback");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.to_ipv4_mapped().is_some() {
        return Some("IPv4-mapped");
    }
    Some(match s {
        // ::a.b.c.d, deprecated IPv4-compatible addresses.
        [0, 0, 0, 0, 0, 0, _, _] => "IPv4-compatible",
        // NAT64 and 6to4 reach the IPv4 address they carry.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => return special_v4(v4_of(hi, lo)),
        [0x2002, hi, lo, ..] => return special_v4(v4_of(hi, lo)),
        [0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254] => "metadata",
        [a, ..] if a & 0xfe00 == 0xfc00 => "private",
        [a, ..] if a & 0xffc0 == 0xfe80 => "link-local",
        [a, ..] if a & 0xffc0 == 0xfec0 => "private",
        [a, ..] if a & 0xff00 == 0xff00 => "multicast",
        [0x2001, 0x0db8, ..] => "documentation",
        [0x0100, 0, 0, 0, ..] => "reserved",
        _ => return None,
    })
}

fn v4_of(hi: u16, lo: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo))
}

/// An address or a network (`10.0.0.0/8`, `::1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    addr: IpAddr,
    bits: u8,
}

impl Net {
    pub fn parse(s: &str) -> Option<Net> {
        let (a, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u8>().ok()?)),
            None => (s, None),
        };
        let addr: IpAddr = a.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(Net { addr, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let (n, a) = (u32::from(n), u32::from(a));
                self.bits == 0
                    || n >> (32 - u32::from(self.bits)) == a >> (32 - u32::from(self.bits))
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let (n, a) = (u128::from(n), u128::from(a));
                self.bits == 0
                    || n >> (128 - u32::from(self.bits)) == a >> (128 - u32::from(self.bits))
            }
            _ => false,
        }
    }
}

/// The operator's rules for endpoints (`[webhooks]`).
#[derive(Debug, Clone, Default)]
pub struct Policy {
    http_hosts: Vec<String>,
    allow: Vec<Net>,
    hosts: BTreeMap<String, IpAddr>,
}

/// An endpoint's URL, checked: where to connect.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: reqwest::Url,
    /// The host as a name (`None`: an address literal).
    pub name: Option<String>,
    /// The address literal, when the URL names one.
    pub literal: Option<IpAddr>,
    pub port: u16,
}

impl Policy {
    pub fn of(cfg: &WebhooksConfig) -> Result<Policy> {
        let allow = cfg
            .allow_addresses
            .iter()
            .map(|s| {
                Net::parse(s).ok_or_else(|| {
                    Error::syntax(format!(
                        "webhooks.allow_addresses: {s:?} is not an address or network"
                    ))
                })
            })
            .collect::<Result<_>>()?;
        Ok(Policy {
            http_hosts: cfg
                .http_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            allow,
            hosts: cfg
                .hosts
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), *v))
                .collect(),
        })
    }

    /// Whether an address may be reached: `Err` says why not.
    pub fn check_address(&self, ip: IpAddr) -> std::result::Result<(), String> {
        let Some(class) = special(ip) else {
            return Ok(());
        };
        if self.allow.iter().any(|n| n.contains(ip)) {
            return Ok(());
        }
        Err(format!("{ip}, a {class} address"))
    }

    /// Checks an endpoint's URL as a partner gives it (2306 on the field `url`).
    pub fn check_url(&self, url: &str) -> Result<Target> {
        let bad = |why: &str| Error::value("url", why);
        let refused = |why: &str| Error::new(Code::Policy, format!("url: {why}"));
        if url.len() > 500 {
            return Err(Error::range("url", "at most 500 characters"));
        }
        let u = reqwest::Url::parse(url).map_err(|_| bad("not a URL"))?;
        if !u.username().is_empty() || u.password().is_some() {
            return Err(refused("a URL may not carry credentials; use the secret"));
        }
        if u.fragment().is_some() {
            return Err(bad("a URL may not carry a fragment"));
        }
        let (name, literal) = match u.host() {
            Some(url::Host::Domain(d)) => (Some(d.to_ascii_lowercase()), None),
            Some(url::Host::Ipv4(a)) => (None, Some(IpAddr::V4(a))),
            Some(url::Host::Ipv6(a)) => (None, Some(IpAddr::V6(a))),
            None => return Err(bad("a URL with a host is needed")),
        };
        let host = u.host_str().unwrap_or_default().to_ascii_lowercase();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        match u.scheme() {
            "https" => {}
            "http" if self.http_hosts.iter().any(|h| h == host) => {}
            "http" => {
                return Err(refused(
                    "https:// is needed (http:// only to hosts the operator lists)",
                ))
            }
            _ => return Err(refused("https:// is needed")),
        }
        if let Some(ip) = literal {
            self.check_address(ip)
                .map_err(|e| refused(&format!("refused: {e}")))?;
        }
        let port = u.port_or_known_default().unwrap_or(443);
        Ok(Target {
            url: u,
            name,
            literal,
            port,
        })
    }

    /// The addresses `name` resolves to that may be reached (the operator's `hosts`
    /// first, then DNS); `Err` when there is none, saying why.
    pub async fn resolve(
        &self,
        name: &str,
        port: u16,
    ) -> std::result::Result<Vec<SocketAddr>, String> {
        let found: Vec<SocketAddr> = match self.hosts.get(&name.to_ascii_lowercase()) {
            Some(ip) => vec![SocketAddr::new(*ip, port)],
            None => tokio::net::lookup_host((name, port))
                .await
                .map_err(|_| format!("{name} does not resolve"))?
                .collect(),
        };
        self.allowed(name, found)
    }

    fn allowed(
        &self,
        name: &str,
        found: Vec<SocketAddr>,
    ) -> std::result::Result<Vec<SocketAddr>, String> {
        let mut refused = None;
        let ok: Vec<SocketAddr> = found
            .into_iter()
            .filter(|a| match self.check_address(a.ip()) {
                Ok(()) => true,
                Err(e) => {
                    refused.get_or_insert(e);
                    false
                }
            })
            .collect();
        if ok.is_empty() {
            return Err(match refused {
                Some(e) => format!("refused: {name} resolves to {e}"),
                None => format!("{name} does not resolve"),
            });
        }
        Ok(ok)
    }
}

/// reqwest's name resolution through [`Policy::resolve`]: the client connects only to
/// addresses that passed the check, at the moment it connects.
pub struct Checked(pub std::sync::Arc<Policy>);

impl reqwest::dns::Resolve for Checked {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        Box::pin(async move {
            let addrs = policy
                .resolve(name.as_str(), 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn classifies_without_connecting() {
        for (a, class) in [
            ("127.0.0.1", "loopback"),
            ("127.0.0.2", "loopback"),
            ("::1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.1", "private"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("169.254.1.1", "link-local"),
            ("169.254.169.254", "metadata"),
            ("100.100.100.200", "metadata"),
            ("fd00:ec2::254", "metadata"),
            ("fe80::1", "link-local"),
            ("fc00::1", "private"),
            ("fd12:3456::1", "private"),
            ("::ffff:127.0.0.1", "IPv4-mapped"),
            ("::ffff:8.8.8.8", "IPv4-mapped"),
            ("::ffff:169.254.169.254", "IPv4-mapped"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("64:ff9b::7f00:1", "loopback"),
            ("64:ff9b::a9fe:a9fe", "metadata"),
            ("2002:7f00:1::", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("192.0.2.1", "documentation"),
            ("2001:db8::1", "documentation"),
        ] {
            assert_eq!(special(ip(a)), Some(class), "{a}");
        }
        for a in [
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "100.128.0.1",
            "169.253.0.1",
            "2a00:1450:4010::65",
            "64:ff9b::808:808",
            "2002:808:808::",
        ] {
            assert_eq!(special(ip(a)), None, "{a}");
        }
    }

    #[test]
    fn the_operator_allows_listed_networks_only() {
        let cfg = WebhooksConfig {
            allow_addresses: vec!["127.0.0.1".into(), "10.0.0.0/8".into(), "fd00::/8".into()],
            http_hosts: vec!["127.0.0.1".into()],
            ..WebhooksConfig::default()
        };
        let p = Policy::of(&cfg).unwrap();
        assert!(p.check_address(ip("127.0.0.1")).is_ok());
        assert!(p.check_address(ip("10.200.0.1")).is_ok());
        assert!(p.check_address(ip("fd00::5")).is_ok());
        assert_eq!(
            p.check_address(ip("127.0.0.2")).unwrap_err(),
            "127.0.0.2, a loopback address"
        );
        assert!(p.check_address(ip("::1")).is_err());
        assert!(p.check_address(ip("::ffff:127.0.0.1")).is_err());
        assert!(p.check_address(ip("169.254.169.254")).is_err());
        assert!(p.check_address(ip("8.8.8.8")).is_ok());
        assert!(Net::parse("10.0.0.0/33").is_none());
        assert!(Net::parse("nonsense").is_none());
        assert!(Policy::of(&WebhooksConfig {
            allow_addresses: vec!["x".into()],
            ..WebhooksConfig::default()
        })
        .is_err());
    }

    #[test]
    fn urls_are_https_unless_the_host_is_listed() {
        let p = Policy::of(&WebhooksConfig {
            allow_addresses: vec!["127.0.0.1".into()],
            http_hosts: vec!["127.0.0.1".into()],
            ..WebhooksConfig::default()
        })
        .unwrap();
        assert!(p.check_url("https://hooks.example.net/x").is_ok());
        assert!(p.check_url("http://127.0.0.1:9000/x").is_ok());
        for bad in [
            "http://hooks.example.net/x",
            "ftp://hooks.example.net/x",
            "https://user:pw@hooks.example.net/",
            "https://127.0.0.2/x",
            "https://[::1]/x",
            "https://169.254.169.254/latest",
            "https://[::ffff:127.0.0.1]/",
            "https://hooks.example.net/#f",
            "not a url",
        ] {
            assert!(p.check_url(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn names_are_checked_after_resolution() {
        let mut hosts = BTreeMap::new();
        hosts.insert("inside.test".to_string(), ip("127.0.0.2"));
        hosts.insert("fine.test".to_string(), ip("127.0.0.1"));
        let p = Policy::of(&WebhooksConfig {
            allow_addresses: vec!["127.0.0.1".into()],
            hosts,
            ..WebhooksConfig::default()
        })
        .unwrap();
        assert_eq!(
            p.resolve("inside.test", 443).await.unwrap_err(),
            "refused: inside.test resolves to 127.0.0.2, a loopback address"
        );
        assert_eq!(
            p.resolve("fine.test", 8080).await.unwrap(),
            vec!["127.0.0.1:8080".parse::<SocketAddr>().unwrap()]
        );
        // A mixed answer keeps only what may be reached.
        let mixed = vec![
            "127.0.0.2:1".parse().unwrap(),
            "127.0.0.1:1".parse().unwrap(),
        ];
        assert_eq!(p.allowed("x", mixed).unwrap().len(), 1);
    }
}
