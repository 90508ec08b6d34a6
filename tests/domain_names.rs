//! The domain-name rules as one table: each input, and the ASCII form it is kept
//! under or the reason it is refused. Refused names are also sent to the gateway,
//! which answers 2005 for each and stores nothing.

mod common;

use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use regway::config::catalogue::{Confusables, PriceConfig, ZoneConfig};
use regway::types::names::parse_name;

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// `Ok(ascii)`: accepted and kept as `ascii`; `Err(why)`: refused, the message names `why`.
fn table() -> Vec<(String, Result<&'static str, &'static str>)> {
    let a = |n: usize| "a".repeat(n);
    let l63 = a(63);
    let name253 = format!("{l63}.{l63}.{l63}.{}.ru", "b".repeat(58));
    let name254 = format!("{l63}.{l63}.{l63}.{}.ru", "b".repeat(59));
    let ok = |s: &str, ascii: &'static str| (s.to_string(), Ok(ascii));
    let no = |s: &str, why: &'static str| (s.to_string(), Err(why));
    let mut t = vec![
        // Plain names and case.
        ok("example.ru", "example.ru"),
        ok("Example.RU", "example.ru"),
        ok("EXAMPLE.COM", "example.com"),
        ok("a.ru", "a.ru"),
        ok("1.ru", "1.ru"),
        ok("123.com", "123.com"),
        ok("a-b.ru", "a-b.ru"),
        ok("a-b-c.ru", "a-b-c.ru"),
        ok("sub.example.ru", "sub.example.ru"),
        ok("a.b.c.d.e.ru", "a.b.c.d.e.ru"),
        // Internationalised names.
        ok("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ok("ПРИМЕР.РФ", "xn--e1afmkfd.xn--p1ai"),
        ok("xn--e1afmkfd.xn--p1ai", "xn--e1afmkfd.xn--p1ai"),
        // DNS is case-blind: an upper-case xn-- label is the same label.
        ok("xn--E1AFMKFD.xn--p1ai", "xn--e1afmkfd.xn--p1ai"),
        ok("пример.com", "xn--e1afmkfd.com"),
        ok("münchen.de", "xn--mnchen-3ya.de"),
        ok("xn--mnchen-3ya.de", "xn--mnchen-3ya.de"),
        ok("пример-1.рф", "xn---1-mlcluqhd.xn--p1ai"),
        ok("例え.jp", "xn--r8jz45g.jp"),
        ok("ελληνικά.gr", "xn--hxargifdar.gr"),
        // Mixed scripts in one label: refused (a Cyrillic а in a Latin word, …).
        no("pаypal.com", "mixes"),
        no("xn--pypal-4ve.com", "mixes"),
        no("приmer.ru", "mixes"),
        no("αbc.com", "mixes"),
        no("пαример.рф", "mixes"),
        // Beyond Latin, Cyrillic and Greek: any two scripts (UTS 39), Armenian `օ` here.
        no("gօօgle.com", "mixes"),
        no("xn--ggle-vifa.com", "mixes"),
        // Characters UTS 39 does not recommend in identifiers: Latin alpha `ɑ`.
        no("ɑpple.com", "identifiers"),
        // Latin goes with Han and Kana (UTS 39 "highly restrictive").
        ok("日本abc.jp", "xn--abc-s08fl0d.jp"),
        // All Cyrillic that reads as Latin is a valid name; whether a zone registers
        // it is the zone's policy (`whole_script_confusables_follow_the_zone`).
        ok("аррӏе.com", "xn--80ak6aa92e.com"),
        // Lengths: 63/64-octet labels, 253/254-octet names.
        (format!("{l63}.ru"), Ok("")),
        (format!("{}.ru", a(64)), Err("63")),
        (format!("{}.ru", a(200)), Err("63")),
        (name253, Ok("")),
        (name254, Err("253")),
        (format!("{}.ru", "я".repeat(60)), Err("63")),
        // Dots and empty labels.
        no("example.ru.", "trailing dot"),
        no(".example.ru", "empty label"),
        no("example..ru", "empty label"),
        // The full stops UTS 46 maps to `.` are dots: no empty label through them.
        no("a\u{3002}\u{3002}ru", "empty label"),
        no("ns1\u{ff0e}\u{ff0e}evil.net", "empty label"),
        no("a.\u{ff61}ru", "empty label"),
        no("shop.ru\u{3002}", "trailing dot"),
        no("\u{3002}shop.ru", "empty label"),
        ok("пример\u{3002}рф", "xn--e1afmkfd.xn--p1ai"),
        ok("shop\u{ff0e}ru", "shop.ru"),
        // Other fullwidth forms UTS 46 maps: checked as what they map to.
        ok("\u{ff45}\u{ff58}.ru", "ex.ru"),
        no("ex\u{ff3f}ample.ru", "IDNA"),
        no("ex\u{3000}ample.ru", "spaces"),
        no(
            "\u{ff11}\u{ff12}\u{ff17}\u{ff0e}\u{ff10}\u{ff0e}\u{ff10}\u{ff0e}\u{ff11}",
            "IP address",
        ),
        no(".", "trailing dot"),
        no("", "empty"),
        // Hyphens.
        no("-example.ru", "hyphen"),
        no("example-.ru", "hyphen"),
        no("ex--ample.ru", "hyphen"),
        no("example.-ru", "hyphen"),
        no("-.ru", "hyphen"),
        // xn-- labels that do not decode or are not canonical.
        no("xn--zz.ru", "xn--"),
        no("xn--a.ru", "xn--"),
        no("xn--.ru", "xn--"),
        no("xn---.ru", "xn--"),
        no("xn--example.ru", "xn--"),
        // Characters that are not allowed.
        no("ex_ample.ru", "underscores"),
        no("_dmarc.example.ru", "underscores"),
        no("exa mple.ru", "spaces"),
        no("example.ru\n", "control"),
        no("exam\u{0}ple.ru", "control"),
        no("exam\tple.ru", "spaces"),
        no("example!.ru", "IDNA"),
        no("ex@mple.ru", "IDNA"),
        no("ex/ample.ru", "IDNA"),
        no("ex:ample.ru", "IDNA"),
        // Invisible characters UTS 46 would drop: refused, not dropped.
        no("example\u{200b}.ru", "invisible"),
        no("exa\u{ad}mple.ru", "invisible"),
        no("\u{feff}example.ru", "invisible"),
        no("exam\u{200d}ple.ru", "invisible"),
        // IP literals and single labels.
        no("127.0.0.1", "IP address"),
        no("192.0.2.300", "all digits"),
        no("[::1]", "IP address"),
        no("::1", "IP address"),
        no("2001:db8::1", "IP address"),
        no("ru", "single label"),
        no("localhost", "single label"),
        no("example.123", "all digits"),
    ];
    // Over-long input is refused without being processed.
    t.push((format!("{}.ru", "a.".repeat(600)), Err("253")));
    t
}

#[test]
fn the_table() {
    let t = table();
    assert!(t.len() >= 60, "{} cases", t.len());
    for (input, want) in &t {
        match (parse_name("domain", input), want) {
            (Ok(n), Ok(ascii)) => {
                if !ascii.is_empty() {
                    assert_eq!(n.ascii(), *ascii, "{input:?}");
                }
            }
            (Err(e), Err(why)) => {
                assert_eq!(e.code.number(), 2005, "{input:?}: {e}");
                assert!(
                    e.message.contains(why),
                    "{input:?}: {:?} lacks {why:?}",
                    e.message
                );
            }
            (got, want) => panic!("{input:?}: got {got:?}, wanted {want:?}"),
        }
    }
}

#[tokio::test]
async fn refused_names_are_2005_at_the_gateway() {
    let s = common::start().await;
    let started = std::time::Instant::now();
    for (input, want) in table() {
        if want.is_ok() {
            continue;
        }
        let body = format!(
            "command=domain.check&domain={}",
            percent_encoding::utf8_percent_encode(&input, percent_encoding::NON_ALPHANUMERIC)
        );
        let a = s.form(&body).await;
        assert_eq!(a.code(), 2005, "{input:?}: {}", a.body);
        assert_eq!(a.status, 400);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(20));
    s.stop().await;
}

/// Ideographic and fullwidth full stops are dots wherever a name is taken: a name
/// checked, registered, or given as a nameserver never has an empty label, and a
/// trailing `。` is a trailing dot. Nothing is charged or stored.
#[tokio::test]
async fn unicode_full_stops_make_no_empty_label() {
    let s = common::start().await;
    let client = s.client("C-1").await;
    let before = s.form("command=balance.get").await.body;
    for (i, (name, why)) in [
        ("a\u{3002}\u{3002}ru", "empty label"),
        ("shop.ru\u{3002}", "trailing dot"),
        ("shop\u{ff0e}\u{ff0e}ru", "empty label"),
    ]
    .into_iter()
    .enumerate()
    {
        let a = s
            .form(&format!("command=domain.check&domain={}", enc(name)))
            .await;
        assert_eq!(a.code(), 2005, "{name:?}: {}", a.body);
        assert!(a.body.contains(why), "{name:?}: {}", a.body);
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R-{i}&domain={}&client={client}",
                enc(name)
            ))
            .await;
        assert_eq!(a.code(), 2005, "{name:?}: {}", a.body);
        assert!(a.body.contains(why), "{name:?}: {}", a.body);
    }
    for ns in [
        "ns1\u{3002}\u{3002}evil.net",
        "ns1.evil.net\u{3002}",
        "ns1\u{ff61}\u{ff61}evil.net",
    ] {
        let a = s
            .form(&format!(
                "command=domain.register&request-id=N-1&domain=dots.ru&client={client}\
                 &ns={}&ns=ns2.evil.net",
                enc(ns)
            ))
            .await;
        assert_eq!(a.code(), 2005, "{ns:?}: {}", a.body);
        assert!(a.body.contains("ns: "), "{ns:?}: {}", a.body);
    }
    assert_eq!(s.form("command=balance.get").await.body, before);
    // Registered with good nameservers; the same dots are refused by set-ns.
    let a = s
        .form(&format!(
            "command=domain.register&request-id=N-2&domain=dots.ru&client={client}\
             &ns=ns1.good.net&ns=ns2.good.net"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = s
        .form(&format!(
            "command=domain.set-ns&request-id=S-1&domain=dots.ru&ns={}&ns=ns2.evil.net",
            enc("ns1\u{3002}\u{3002}evil.net")
        ))
        .await;
    assert_eq!(a.code(), 2005, "{}", a.body);
    let a = s.form("command=domain.info&domain=dots.ru").await;
    assert!(
        a.body.contains("ns1.good.net") && !a.body.contains(".."),
        "{}",
        a.body
    );
    // A fullwidth dot between good labels is an ordinary dot.
    let a = s
        .form(&format!(
            "command=domain.check&domain={}",
            enc("fresh\u{ff0e}ru")
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert!(a.body.contains("name=\"fresh.ru\""), "{}", a.body);
    // The Namecheap dialect takes names through the same rules.
    let nc = format!(
        "{}/xml.response?ApiUser=demo&ApiKey=demo-password&UserName=demo&ClientIp=192.0.2.10\
         &Command=namecheap.domains.check&DomainList={}",
        s.url.trim_end_matches("/api"),
        enc("a\u{3002}\u{3002}ru")
    );
    let body = s.client.get(nc).send().await.unwrap().text().await.unwrap();
    assert!(
        body.contains("Status=\"ERROR\"") && body.contains("empty label"),
        "{body}"
    );
    s.stop().await;
}

/// A whole-script confusable of a Latin name (`аррӏе`, all Cyrillic) is refused where
/// the zone's policy says so: by default in zones with an ASCII name (`com`, `ru`), not
/// in internationalised ones (`рф`); `whole_script_confusables` sets it per zone.
#[tokio::test]
async fn whole_script_confusables_follow_the_zone() {
    let s = common::start_with(|cfg| {
        let prices = [(
            "RUB".to_string(),
            PriceConfig::named([
                ("register", "100.00".to_string()),
                ("renew", "100.00".to_string()),
            ])
            .unwrap(),
        )]
        .into();
        let mut open = ZoneConfig {
            periods: [1, 1],
            horizon_years: 10,
            prices,
            upstream: None,
            category: "domains".into(),
            whole_script_confusables: Some(Confusables::Allow),
        };
        cfg.zones.insert("open".into(), open.clone());
        open.whole_script_confusables = Some(Confusables::Refuse);
        cfg.zones.insert("xn--j1amh".into(), open);
    })
    .await;
    let client = s.client("C-1").await;
    let check = |name: &'static str| {
        let s = &s;
        async move {
            let a = s
                .form(&format!("command=domain.check&domain={}", enc(name)))
                .await;
            assert_eq!(a.code(), 1000, "{name}: {}", a.body);
            (a.attr("available").unwrap(), a.attr("reason"))
        }
    };
    // Refused by default in .com and .ru; the reason names the script and the look.
    for (i, name) in ["аррӏе.com", "ѕсоре.ru"].into_iter().enumerate() {
        let (available, reason) = check(name).await;
        assert_eq!(available, "false", "{name}");
        let reason = reason.unwrap();
        assert!(
            reason.contains("Cyrillic") && reason.contains("whole-script confusable"),
            "{name}: {reason}"
        );
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R-{i}&domain={}&client={client}",
                enc(name)
            ))
            .await;
        assert_eq!((a.status, a.code()), (400, 2306), "{name}: {}", a.body);
    }
    // Allowed in .рф by default, and in a zone configured to allow them.
    for name in ["сор.рф", "аррӏе.open"] {
        assert_eq!(check(name).await.0, "true", "{name}");
    }
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R-ok&domain={}&client={client}",
            enc("сор.рф")
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    // An internationalised zone configured to refuse them.
    let (available, reason) = check("аррӏе.укр").await;
    assert_eq!(available, "false");
    assert!(reason.unwrap().contains("whole-script confusable"));
    // Names that do not read as Latin pass everywhere.
    for name in ["пример.com", "сайт.ru", "ελληνικά.com"] {
        assert_eq!(check(name).await.0, "true", "{name}");
    }
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// The README's example of the setting is a configuration the gateway takes, and does
/// what the README says.
#[test]
fn the_readme_example_of_the_setting_is_valid() {
    let readme = include_str!("../README.md");
    let section = &readme[readme.find("### Scripts in domain names").unwrap()..];
    let start = section.find("```toml\n").unwrap() + 8;
    let toml_text = &section[start..start + section[start..].find("```").unwrap()];
    let cfg: regway::config::Config = toml::from_str(toml_text).unwrap();
    cfg.validate().unwrap();
    let cat = regway::engine::catalogue::Catalogue::new(true, &cfg.zones, &[]).unwrap();
    let name = |s: &str| parse_name("domain", s).unwrap();
    let zone = cat.zone_of(&name("аррӏе.укр")).unwrap();
    assert_eq!(zone.whole_script_confusables, Confusables::Refuse);
    assert!(zone.check_registrable(&name("аррӏе.укр")).is_err());
    assert!(zone.check_registrable(&name("пример.укр")).is_ok());
    let rf = cat.zone_of(&name("аррӏе.рф")).unwrap();
    assert!(rf.check_registrable(&name("аррӏе.рф")).is_ok());
}
