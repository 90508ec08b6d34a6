//! The licence catalogue: each product has a name, a category (programmes discount by
//! it) and, per currency, a price per month and per year. Built in: ISPmanager 6 Lite,
//! Pro, Host and Business in RUB and EUR; `[licenses.ID]` in the configuration adds a
//! product or replaces a built-in one.
//!
//! Also the addresses a licence may be bound to ([`IpRules`]): a licence is checked
//! against the public address its server reaches the licensing service from, so an
//! address no server can have there is refused before anything is charged.

use crate::config::licenses::{self, LicenseConfig};
use crate::error::{Error, Result};
use crate::store::records::LicensePeriod;
use crate::types::money::{Currency, Money};
use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone)]
pub struct Product {
    pub id: String,
    pub name: String,
    pub category: String,
    prices: HashMap<Currency, (Money, Money)>,
}

impl Product {
    /// The price of one period in `currency`: 2306 when the product is not sold in it.
    pub fn price(&self, period: LicensePeriod, currency: Currency) -> Result<Money> {
        let (month, year) = self.prices.get(&currency).ok_or_else(|| {
            Error::policy(
                "product",
                format!("{} is not offered in {currency}", self.id),
            )
        })?;
        Ok(match period {
            LicensePeriod::Month => *month,
            LicensePeriod::Year => *year,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Licenses {
    products: BTreeMap<String, Product>,
    /// The addresses licences may be bound to.
    pub ip_rules: IpRules,
}

/// Which addresses a licence may be bound to, beyond those it never may (loopback,
/// unspecified, link-local, multicast, broadcast, reserved).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IpRules {
    /// The documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
    /// 2001:db8::/32, 3fff::/20): allowed with the sandbox, where harnesses use them;
    /// refused with a real licensing service.
    pub documentation: bool,
    /// Private and shared ranges (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7,
    /// fec0::/10): the `license_allow_private_ips` setting.
    pub private: bool,
}

impl IpRules {
    /// The rules of a configuration: documentation ranges when the licence upstream is
    /// the sandbox, private ranges when the operator allows them.
    pub fn of(cfg: &crate::config::Config) -> IpRules {
        let sandbox = match cfg.license_upstream.as_deref() {
            None | Some("sandbox") => true,
            Some(n) => cfg
                .upstreams
                .get(n)
                .is_some_and(|u| u.kind == crate::config::UpstreamKind::Sandbox),
        };
        IpRules {
            documentation: sandbox,
            private: cfg.license_allow_private_ips,
        }
    }

    /// Refuses (2306) an address a licence may not be bound to under these rules.
    /// `ip` is in canonical form ([`parse_ip`]: no IPv4-mapped IPv6).
    pub fn check(&self, ip: IpAddr) -> Result<()> {
        let kind = match ip {
            IpAddr::V4(v4) => v4_kind(v4),
            IpAddr::V6(v6) => v6_kind(v6),
        };
        let allowed = match kind {
            None => true,
            Some(Kind::Documentation) => self.documentation,
            Some(Kind::Private) => self.private,
            Some(_) => false,
        };
        if allowed {
            return Ok(());
        }
        let what = match kind {
            Some(Kind::Unspecified) => "an unspecified address",
            Some(Kind::Loopback) => "a loopback address",
            Some(Kind::LinkLocal) => "a link-local address",
            Some(Kind::Multicast) => "a multicast address",
            Some(Kind::Broadcast) => "the broadcast address",
            Some(Kind::Reserved) => "a reserved address",
            Some(Kind::Documentation) => "a documentation address (allowed only with the sandbox)",
            Some(Kind::Private) => "a private address (not allowed by this gateway)",
            None => "",
        };
        Err(Error::policy(
            "ip",
            format!("{ip} is {what}: a licence is bound to the public address of a server"),
        ))
    }
}

/// Parses an address (2005 when it is not one) into the form it is kept and sent in:
/// an IPv4-mapped (`::ffff:192.0.2.1`) or IPv4-compatible (`::192.0.2.1`) IPv6 address
/// is the IPv4 address it carries, so the rules see what it really is.
pub fn parse_ip(field: &str, s: &str) -> Result<IpAddr> {
    let ip: IpAddr = s
        .parse()
        .map_err(|_| Error::value(field, format!("{s:?} is not an IP address")))?;
    Ok(match ip {
        IpAddr::V6(v6) if !v6.is_unspecified() && !v6.is_loopback() => {
            v6.to_ipv4().map_or(ip, IpAddr::V4)
        }
        _ => ip,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unspecified,
    Loopback,
    LinkLocal,
    Multicast,
    Broadcast,
    Reserved,
    Documentation,
    Private,
}

fn v4_kind(ip: Ipv4Addr) -> Option<Kind> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip.is_broadcast() => Kind::Broadcast,
        (0, _, _) => Kind::Unspecified,
        (127, _, _) => Kind::Loopback,
        (169, 254, _) => Kind::LinkLocal,
        (224..=239, _, _) => Kind::Multicast,
        (240..=255, _, _) => Kind::Reserved,
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Kind::Documentation,
        (10, _, _) | (192, 168, _) => Kind::Private,
        (172, 16..=31, _) | (100, 64..=127, _) => Kind::Private,
        _ => return None,
    })
}

fn v6_kind(ip: Ipv6Addr) -> Option<Kind> {
    let s = ip.segments();
    Some(match s[0] {
        _ if ip.is_unspecified() => Kind::Unspecified,
        _ if ip.is_loopback() => Kind::Loopback,
        0xfe80..=0xfebf => Kind::LinkLocal,
        0xff00..=0xffff => Kind::Multicast,
        0x2001 if s[1] == 0x0db8 => Kind::Documentation,
        0x3fff if s[1] <= 0x0fff => Kind::Documentation,
        0xfc00..=0xfdff | 0xfec0..=0xfeff => Kind::Private,
        _ => return None,
    })
}

impl Licenses {
    /// The built-in products (when `builtin` is true) with the configured ones over them.
    pub fn new(builtin: bool, configured: &BTreeMap<String, LicenseConfig>) -> Result<Licenses> {
        let products = licenses::products(builtin, configured)?
            .into_iter()
            .map(|(id, p)| {
                let product = Product {
                    id: p.id,
                    name: p.name,
                    category: p.category,
                    prices: p.prices,
                };
                (id, product)
            })
            .collect();
        Ok(Licenses {
            products,
            ip_rules: IpRules::default(),
        })
    }

    pub fn products(&self) -> impl Iterator<Item = &Product> {
        self.products.values()
    }

    /// The product `id`: 2306 when the catalogue has no such product.
    pub fn product(&self, id: &str) -> Result<&Product> {
        self.products.get(id).ok_or_else(|| {
            let known: Vec<&str> = self.products.keys().map(String::as_str).collect();
            Error::policy(
                "product",
                format!("{id:?} is not offered: {}", known.join(", ")),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::licenses::LicensePriceConfig;

    #[test]
    fn licence_addresses() {
        let sandbox = IpRules {
            documentation: true,
            private: false,
        };
        let real = IpRules::default();
        let check = |rules: IpRules, s: &str| rules.check(parse_ip("ip", s).unwrap());
        for ok in [
            "8.8.8.8",
            "2a00:1450::1",
            "::ffff:8.8.8.8",
            "100.128.0.1",
            "172.32.0.1",
        ] {
            assert!(check(real, ok).is_ok(), "{ok}");
        }
        for (bad, what) in [
            ("127.0.0.1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::127.0.0.1", "loopback"),
            ("::1", "loopback"),
            ("0.0.0.0", "unspecified"),
            ("::ffff:0.0.0.0", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("::ffff:224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("169.254.169.254", "link-local"),
            ("fe80::1", "link-local"),
            ("240.0.0.1", "reserved"),
        ] {
            for rules in [real, sandbox] {
                let e = check(rules, bad).unwrap_err();
                assert_eq!(e.code, crate::error::Code::Policy, "{bad}");
                assert!(e.message.contains(what), "{bad}: {e}");
            }
        }
        for doc in [
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.10",
            "2001:db8::1",
            "::ffff:203.0.113.10",
        ] {
            assert!(check(sandbox, doc).is_ok(), "{doc}");
            assert!(check(real, doc)
                .unwrap_err()
                .message
                .contains("documentation"));
        }
        let private = IpRules {
            documentation: false,
            private: true,
        };
        for p in [
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "fd00::1",
            "::ffff:10.1.2.3",
        ] {
            assert!(
                check(real, p).unwrap_err().message.contains("private"),
                "{p}"
            );
            assert!(check(private, p).is_ok(), "{p}");
        }
        assert_eq!(
            parse_ip("ip", "::ffff:203.0.113.10").unwrap().to_string(),
            "203.0.113.10"
        );
        assert_eq!(parse_ip("ip", "::1").unwrap().to_string(), "::1");
        for bad in [
            "127.1",
            "0127.0.0.1",
            "fe80::1%eth0",
            "1.2.3.4 ",
            "",
            "::ffff:1.2.3",
        ] {
            assert_eq!(
                parse_ip("ip", bad).unwrap_err().code,
                crate::error::Code::ValueSyntax,
                "{bad:?}"
            );
        }
    }

    #[test]
    fn builtin_and_configured_products() {
        let mut cfg = BTreeMap::new();
        cfg.insert(
            "panel-pro".to_string(),
            LicenseConfig {
                name: "Panel Pro".into(),
                category: "hosting".into(),
                prices: [(
                    "USD".to_string(),
                    LicensePriceConfig {
                        month: "5.00".into(),
                        year: "50.00".into(),
                    },
                )]
                .into(),
            },
        );
        let l = Licenses::new(true, &cfg).unwrap();
        let lite = l.product("ispmanager6-lite").unwrap();
        assert_eq!(lite.category, "licences");
        assert_eq!(
            lite.price(LicensePeriod::Year, Currency::parse("EUR").unwrap())
                .unwrap()
                .amount_str(),
            "40.00"
        );
        let p = l.product("panel-pro").unwrap();
        assert_eq!(
            p.price(LicensePeriod::Month, Currency::parse("USD").unwrap())
                .unwrap()
                .amount_str(),
            "5.00"
        );
        assert_eq!(
            p.price(LicensePeriod::Month, Currency::RUB)
                .unwrap_err()
                .code,
            crate::error::Code::Policy
        );
        assert_eq!(
            l.product("nope").unwrap_err().code,
            crate::error::Code::Policy
        );
        let only = Licenses::new(false, &cfg).unwrap();
        assert_eq!(only.products().count(), 1);
        let mut bad = cfg.clone();
        bad.get_mut("panel-pro").unwrap().prices.insert(
            "USD".into(),
            LicensePriceConfig {
                month: "5.001".into(),
                year: "50".into(),
            },
        );
        let e = Licenses::new(true, &bad).unwrap_err();
        assert!(
            e.message.contains("licenses.panel-pro.prices.USD.month"),
            "{e}"
        );
    }
}
