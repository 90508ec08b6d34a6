//! Domain names and host names: IDNA 2008 / UTS 46 through the `idna` crate, plus the
//! DNS limits a registry enforces (label ≤ 63 octets, name ≤ 253 octets).
//!
//! Names are kept and answered in their ASCII (punycode) form; the Unicode form is
//! derived for display. Nothing is guessed: a trailing dot, an empty label, an
//! undecodable `xn--` label or an IP literal is refused, not repaired.
//!
//! Mixed scripts: one label may not mix letters of Latin, Cyrillic and Greek (the
//! scripts whose look-alike letters make `pаypal` with a Cyrillic `а` a homograph).
//! Digits and hyphens go with any script; different labels may use different scripts
//! (`пример.com`).

use crate::error::{Error, Result};
use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use std::net::IpAddr;

/// A syntactically valid name in its canonical ASCII form (lower case, punycode).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Name(String);

impl Name {
    pub fn ascii(&self) -> &str {
        &self.0
    }

    /// The Unicode form, when it differs from the ASCII one.
    pub fn unicode(&self) -> Option<String> {
        if !self.0.split('.').any(|l| l.starts_with("xn--")) {
            return None;
        }
        let (u, r) = idna::domain_to_unicode(&self.0);
        (r.is_ok() && u != self.0).then_some(u)
    }

    /// The Unicode form of a stored ASCII name, when it differs.
    pub fn unicode_of(ascii: &str) -> Option<String> {
        Name(ascii.to_string()).unicode()
    }

    pub fn labels(&self) -> std::str::Split<'_, char> {
        self.0.split('.')
    }

    /// True when `self` is `other` or a name below it.
    pub fn is_within(&self, other: &Name) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.ends_with(&other.0)
                && self.0.as_bytes()[self.0.len() - other.0.len() - 1] == b'.')
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses a name as a partner typed it (Unicode or ASCII, any case) into its
/// canonical ASCII form. `field` names the parameter in error messages.
pub fn parse_name(field: &str, input: &str) -> Result<Name> {
    let bad = |why: &str| Error::value(field, format!("{input:?} is not a valid name: {why}"));
    if input.is_empty() {
        return Err(bad("empty"));
    }
    if input.len() > 1024 {
        return Err(bad("longer than 253 octets"));
    }
    if input.ends_with('.') {
        return Err(bad("trailing dot"));
    }
    if input.split('.').any(str::is_empty) {
        return Err(bad("empty label"));
    }
    if input.parse::<IpAddr>().is_ok() || input.starts_with('[') {
        return Err(bad("an IP address is not a name"));
    }
    if input
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '_')
    {
        return Err(bad(
            "spaces, control characters and underscores are not allowed",
        ));
    }
    // UTS 46 drops these silently (`exa\u{AD}mple` would become `example`): the name
    // kept would not be the one sent, so they are refused.
    if input.chars().any(invisible) {
        return Err(bad(
            "invisible characters (soft hyphen, zero-width, joiners, variation selectors) are not allowed",
        ));
    }
    let ascii = Uts46::new()
        .to_ascii(
            input.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Check,
            DnsLength::Ignore,
        )
        .map_err(|_| {
            bad("not allowed by IDNA 2008 / UTS 46 (disallowed character, hyphen in 3rd-4th or first/last position, or an xn-- label that does not decode)")
        })?
        .into_owned();
    if let Some(label) = ascii.split('.').find(|l| l.len() > 63) {
        return Err(bad(&format!(
            "label {:?} is {} octets long, the limit is 63",
            truncate(label),
            label.len()
        )));
    }
    if ascii.len() > 253 {
        return Err(bad(&format!(
            "{} octets long in ASCII form, the limit is 253",
            ascii.len()
        )));
    }
    if ascii.split('.').count() < 2 {
        return Err(bad("a single label is not a domain name"));
    }
    let tld = ascii.rsplit('.').next().unwrap_or_default();
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the top-level label cannot be all digits"));
    }
    // xn-- labels must be in canonical form: decoding and encoding again gives them back.
    for label in ascii.split('.').filter(|l| l.starts_with("xn--")) {
        let (u, r) = idna::domain_to_unicode(label);
        let round = Uts46::new().to_ascii(
            u.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Check,
            DnsLength::Ignore,
        );
        if r.is_err() || round.as_deref().ok() != Some(label) {
            return Err(bad(&format!("{label:?} is not a canonical punycode label")));
        }
    }
    for label in ascii.split('.') {
        let unicode = if label.starts_with("xn--") {
            idna::domain_to_unicode(label).0
        } else {
            label.to_string()
        };
        if mixed_scripts(&unicode) {
            return Err(bad(&format!(
                "label {:?} mixes Latin, Cyrillic or Greek letters",
                truncate(&unicode)
            )));
        }
    }
    Ok(Name(ascii))
}

/// Default-ignorable code points: invisible, and mapped to nothing by UTS 46.
fn invisible(c: char) -> bool {
    matches!(c as u32,
        0xAD | 0x34F | 0x61C | 0x115F | 0x1160 | 0x17B4 | 0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0000..=0xE0FFF)
}

/// Whether a label has letters of more than one of Latin, Cyrillic and Greek.
fn mixed_scripts(label: &str) -> bool {
    let mut seen = [false; 3];
    for c in label.chars() {
        let script = match c as u32 {
            0x41..=0x5A | 0x61..=0x7A | 0xC0..=0x24F | 0x1E00..=0x1EFF => 0,
            0x400..=0x52F | 0x1C80..=0x1C8F | 0x2DE0..=0x2DFF | 0xA640..=0xA69F => 1,
            0x370..=0x3FF | 0x1F00..=0x1FFF => 2,
            _ => continue,
        };
        seen[script] = true;
    }
    seen.iter().filter(|s| **s).count() > 1
}

/// The first 20 characters (never cut inside one).
fn truncate(s: &str) -> String {
    if s.chars().count() > 20 {
        format!("{}…", s.chars().take(20).collect::<String>())
    } else {
        s.to_string()
    }
}

/// Most glue addresses one nameserver may carry (IPv4 and IPv6 together).
pub const MAX_GLUE: usize = 8;

/// A nameserver as given to `domain.register` / `domain.set-ns`: `host`, or `host`
/// followed by its glue addresses, all separated by spaces.
///
/// ```text
/// ns1.example.net
/// ns1.shop.ru 192.0.2.1
/// ns1.shop.ru 192.0.2.1 2001:db8::1
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Nameserver {
    pub host: Name,
    /// In the order given; IPv6 in its canonical (compressed) form on the wire.
    pub ips: Vec<IpAddr>,
}

impl Nameserver {
    pub fn parse(input: &str) -> Result<Nameserver> {
        let mut parts = input.split(' ').filter(|p| !p.is_empty());
        let host = parts
            .next()
            .ok_or_else(|| Error::value("ns", "empty nameserver"))?;
        let host = parse_name("ns", host)?;
        let mut ips = Vec::new();
        for ip in parts {
            let ip = ip.parse::<IpAddr>().map_err(|_| {
                Error::value("ns", format!("{ip:?} is not an IPv4 or IPv6 address"))
            })?;
            if ips.contains(&ip) {
                return Err(Error::policy(
                    "ns",
                    format!("{ip} is given twice for {host}"),
                ));
            }
            ips.push(ip);
        }
        if ips.len() > MAX_GLUE {
            return Err(Error::policy(
                "ns",
                format!("{host}: {} addresses given, at most {MAX_GLUE}", ips.len()),
            ));
        }
        Ok(Nameserver { host, ips })
    }

    /// The wire form, `host` or `host ip ip…`.
    pub fn wire(&self) -> String {
        let mut s = self.host.to_string();
        for ip in &self.ips {
            s.push(' ');
            s.push_str(&ip.to_string());
        }
        s
    }
}

/// Checks a domain's nameserver list: `min`..=13 distinct hosts, glue only for
/// hosts inside the domain and required for them.
pub fn check_nameservers(domain: &Name, ns: &[Nameserver], min: usize) -> Result<()> {
    // 0 (for a registration without delegation) or 2 to 13: one alone is never enough.
    let n = ns.len();
    if n < min || n > 13 || n == 1 {
        let want = if min == 0 { "0 or 2 to 13" } else { "2 to 13" };
        let s = if n == 1 { "" } else { "s" };
        return Err(Error::policy(
            "ns",
            format!("{n} nameserver{s} given, {want} allowed"),
        ));
    }
    for (i, n) in ns.iter().enumerate() {
        if ns[..i].iter().any(|m| m.host == n.host) {
            return Err(Error::policy("ns", format!("{} is listed twice", n.host)));
        }
        let inside = n.host.is_within(domain);
        match (inside, n.ips.is_empty()) {
            (true, true) => {
                return Err(Error::policy(
                    "ns",
                    format!("{} is inside {domain}: give its IP address (`host ip`)", n.host),
                ))
            }
            (false, false) => {
                return Err(Error::policy(
                    "ns",
                    format!(
                        "{} is outside {domain}: an IP address is accepted only for hosts inside the domain",
                        n.host
                    ),
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_forms() {
        assert_eq!(parse_name("d", "Example.RU").unwrap().ascii(), "example.ru");
        let n = parse_name("d", "пример.рф").unwrap();
        assert_eq!(n.ascii(), "xn--e1afmkfd.xn--p1ai");
        assert_eq!(n.unicode().as_deref(), Some("пример.рф"));
        assert_eq!(parse_name("d", "xn--e1afmkfd.xn--p1ai").unwrap(), n);
        assert_eq!(parse_name("d", "example.com").unwrap().unicode(), None);
    }

    #[test]
    fn limits_and_refusals() {
        let l63 = "a".repeat(63);
        let l64 = "a".repeat(64);
        assert!(parse_name("d", &format!("{l63}.ru")).is_ok());
        assert!(parse_name("d", &format!("{l64}.ru")).is_err());
        // 253 octets: 3 × 63 + 61 + dots.
        let name253 = format!("{l63}.{l63}.{l63}.{}.ru", "b".repeat(58));
        assert_eq!(name253.len(), 253);
        assert!(parse_name("d", &name253).is_ok());
        let name254 = format!("{l63}.{l63}.{l63}.{}.ru", "b".repeat(59));
        assert!(parse_name("d", &name254).is_err());
        for bad in [
            "",
            "example.ru.",
            "-example.ru",
            "example-.ru",
            "ex--ample.ru",
            "exa mple.ru",
            "ex_ample.ru",
            "example..ru",
            "xn--zz.ru",
            "xn--a.ru",
            "127.0.0.1",
            "[::1]",
            "ru",
            "example.123",
        ] {
            assert!(parse_name("d", bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn glue_rules() {
        let d = parse_name("d", "example.ru").unwrap();
        let ns = |s: &str| Nameserver::parse(s).unwrap();
        assert!(check_nameservers(&d, &[ns("ns1.example.net"), ns("ns2.example.net")], 2).is_ok());
        assert!(check_nameservers(
            &d,
            &[ns("ns1.example.ru 192.0.2.1"), ns("ns2.example.net")],
            2
        )
        .is_ok());
        assert!(check_nameservers(&d, &[ns("ns1.example.ru"), ns("ns2.example.net")], 2).is_err());
        assert!(check_nameservers(
            &d,
            &[ns("ns1.example.net 192.0.2.1"), ns("ns2.example.net")],
            2
        )
        .is_err());
        assert!(check_nameservers(&d, &[ns("ns1.example.net")], 0).is_err());
        assert!(check_nameservers(&d, &[], 0).is_ok());
        assert!(check_nameservers(&d, &[], 2).is_err());
        assert!(Nameserver::parse("ns1.example.ru 999.1.1.1").is_err());
    }

    #[test]
    fn several_glue_addresses() {
        let d = parse_name("d", "example.ru").unwrap();
        let n = Nameserver::parse("ns1.example.ru  192.0.2.1 2001:DB8:0:0::1").unwrap();
        assert_eq!(n.ips.len(), 2);
        assert_eq!(n.wire(), "ns1.example.ru 192.0.2.1 2001:db8::1");
        assert!(
            check_nameservers(&d, &[n, Nameserver::parse("ns2.example.net").unwrap()], 2).is_ok()
        );
        let outside = Nameserver::parse("ns1.example.net 192.0.2.1 192.0.2.2").unwrap();
        assert!(check_nameservers(
            &d,
            &[outside, Nameserver::parse("ns2.example.net").unwrap()],
            2
        )
        .is_err());
        let twice = Nameserver::parse("ns1.example.ru 192.0.2.1 192.0.2.1").unwrap_err();
        assert_eq!(twice.code, crate::error::Code::Policy);
        let many = (1..=MAX_GLUE + 1)
            .map(|i| format!("192.0.2.{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert!(Nameserver::parse(&format!("ns1.example.ru {many}")).is_err());
    }
}
