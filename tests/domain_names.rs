//! The domain-name rules as one table: each input, and the ASCII form it is kept
//! under or the reason it is refused. Refused names are also sent to the gateway,
//! which answers 2005 for each and stores nothing.

mod common;

use regway::engine::names::parse_name;

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
