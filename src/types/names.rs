//! Domain names and host names: IDNA 2008 / UTS 46 through the `idna` crate, plus the
//! DNS limits a registry enforces (label ≤ 63 octets, name ≤ 253 octets).
//!
//! Names are kept and answered in their ASCII (punycode) form; the Unicode form is
//! derived for display. Nothing is guessed: a trailing dot, an empty label, an
//! undecodable `xn--` label or an IP literal is refused, not repaired. UTS 46 maps the
//! ideographic and fullwidth full stops (`。` `．` `｡`) to `.`; they are dots here too,
//! so `a。。ru` has an empty label and `shop.ru。` a trailing dot.
//!
//! Scripts (UTS 39, through the `unicode-security` crate and Unicode's script data):
//! every label must be "highly restrictive" — its characters recommended for
//! identifiers, and its letters of one script, or Latin with Han and the Japanese,
//! Chinese or Korean scripts that go with it. `pаypal` with a Cyrillic `а` and
//! `gօօgle` with Armenian `օ` are refused; digits and hyphens go with any script, and
//! different labels may use different scripts (`пример.com`). Whether a label written
//! wholly in another script that looks like Latin (`аррӏе`, all Cyrillic) may be
//! registered is the zone's policy ([`Name::latin_lookalike`]).

use crate::error::{Error, Result};
use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use std::net::IpAddr;
use unicode_script::{Script, UnicodeScript};
use unicode_security::{
    skeleton, GeneralSecurityProfile, RestrictionLevel, RestrictionLevelDetection,
};

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

    /// The first label written wholly in one script other than Latin that looks like
    /// a Latin label: its UTS 39 skeleton is all ASCII (`аррӏе`, all Cyrillic, has the
    /// skeleton `apple`). Such a name is a whole-script confusable of a Latin one;
    /// zones refuse it or not (`whole_script_confusables` in the zone configuration).
    pub fn latin_lookalike(&self) -> Option<Lookalike> {
        self.labels()
            .filter(|l| l.starts_with("xn--"))
            .map(|l| idna::domain_to_unicode(l).0)
            .find_map(|u| {
                let mut letters = u
                    .chars()
                    .map(|c| c.script())
                    .filter(|s| !matches!(s, Script::Common | Script::Inherited | Script::Unknown));
                let script = letters.next().filter(|f| *f != Script::Latin)?;
                if !letters.all(|s| s == script) {
                    return None;
                }
                let looks_like: String = skeleton(&u).collect();
                looks_like
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    .then(|| Lookalike {
                        label: u.clone(),
                        script: script.full_name(),
                        looks_like,
                    })
            })
    }

    /// True when `self` is `other` or a name below it.
    pub fn is_within(&self, other: &Name) -> bool {
        self.0 == other.0
            || (self.0.len() > other.0.len()
                && self.0.ends_with(&other.0)
                && self.0.as_bytes()[self.0.len() - other.0.len() - 1] == b'.')
    }
}

/// A label in one script that reads as a Latin one ([`Name::latin_lookalike`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lookalike {
    /// The label, in Unicode.
    pub label: String,
    /// The script it is written in (`Cyrillic`).
    pub script: &'static str,
    /// The Latin label it looks like, as UTS 39 sees it (its skeleton).
    pub looks_like: String,
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
    // The full stops UTS 46 maps to `.` are label separators: checked as dots.
    let dotted: String = input
        .chars()
        .map(|c| if FULL_STOPS.contains(&c) { '.' } else { c })
        .collect();
    let input = dotted.as_str();
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
    // Whatever the mapping did (fullwidth dots and digits), the name kept has no empty
    // label and is no IP address.
    if ascii.is_empty() || ascii.split('.').any(str::is_empty) {
        return Err(bad("empty label"));
    }
    if ascii.parse::<IpAddr>().is_ok() {
        return Err(bad("an IP address is not a name"));
    }
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
    for label in ascii.split('.').filter(|l| l.starts_with("xn--")) {
        let unicode = idna::domain_to_unicode(label).0;
        check_scripts(&unicode).map_err(|why| bad(&why))?;
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

/// The characters UTS 46 maps to `.` (ideographic, fullwidth and halfwidth full stops).
const FULL_STOPS: [char; 3] = ['\u{3002}', '\u{FF0E}', '\u{FF61}'];

/// UTS 39 restriction level "highly restrictive" for one label (in Unicode form): its
/// characters are recommended for identifiers and its letters are of one script, or of
/// Latin with Han and Hiragana/Katakana, Bopomofo or Hangul.
fn check_scripts(label: &str) -> std::result::Result<(), String> {
    if label.detect_restriction_level() <= RestrictionLevel::HighlyRestrictive {
        return Ok(());
    }
    if let Some(c) = label.chars().find(|c| !c.identifier_allowed()) {
        return Err(format!(
            "label {:?} has {c:?} (U+{:04X}), which Unicode does not recommend in identifiers (UTS 39)",
            truncate(label),
            c as u32
        ));
    }
    let mut scripts: Vec<&str> = Vec::new();
    for s in label.chars().map(|c| c.script()) {
        if !matches!(s, Script::Common | Script::Inherited | Script::Unknown)
            && !scripts.contains(&s.full_name())
        {
            scripts.push(s.full_name());
        }
    }
    Err(format!(
        "label {:?} mixes scripts ({}): one script per label, or Latin with Han, Kana, Bopomofo or Hangul (UTS 39)",
        truncate(label),
        scripts.join(", ")
    ))
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
    fn latin_lookalikes() {
        let l = |s: &str| parse_name("d", s).unwrap().latin_lookalike();
        let apple = l("аррӏе.com").unwrap();
        assert_eq!(
            (
                apple.label.as_str(),
                apple.script,
                apple.looks_like.as_str()
            ),
            ("аррӏе", "Cyrillic", "apple")
        );
        assert_eq!(l("ѕсоре.ru").unwrap().looks_like, "scope");
        assert_eq!(l("ορ.com").unwrap().script, "Greek");
        for not in [
            "apple.com",
            "пример.com",
            "сайт.рф",
            "münchen.de",
            "例え.jp",
        ] {
            assert_eq!(l(not), None, "{not}");
        }
    }

    #[test]
    fn unicode_full_stops_are_dots() {
        assert_eq!(
            parse_name("d", "shop\u{3002}ru").unwrap().ascii(),
            "shop.ru"
        );
        for bad in [
            "a\u{3002}\u{3002}ru",
            "a\u{ff0e}\u{ff61}ru",
            "shop.ru\u{3002}",
        ] {
            let e = parse_name("d", bad).unwrap_err();
            assert!(
                e.message.contains("empty label") || e.message.contains("trailing dot"),
                "{bad:?}: {e}"
            );
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
