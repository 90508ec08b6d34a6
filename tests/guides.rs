//! The partner guides of `protocol/` against the gateway: `errors.md` gives an action
//! for every result code and names every `object`; every 2303, 2201 and 2304 the fixtures
//! record names its object, and no other code does; `pending-orders.md` shows its
//! sequence diagram; and a duplicate sent while the first request is still in flight
//! answers 1001 from the record, replayed, with one order and one charge. (The guides'
//! curl examples are run by `tests/readme_examples.rs`.)

mod common;
mod support;

use regway::error::{Code, Object};
use std::path::Path;
use support::*;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The rows of the first Markdown table after `heading`: its cells.
fn table(doc: &str, heading: &str) -> Vec<Vec<String>> {
    let at = doc.find(heading).unwrap_or_else(|| panic!("no {heading}"));
    doc[at..]
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            l.trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

const ACTIONS: [&str; 8] = [
    "done", "poll", "retry", "wait", "fix", "top up", "read", "stop",
];

#[test]
fn errors_guide_gives_an_action_for_every_code() {
    let doc = read("protocol/errors.md");
    let rows = table(&doc, "## What to do, code by code");
    for code in Code::ALL {
        let n = code.number().to_string();
        let mine: Vec<_> = rows.iter().filter(|r| r[0] == n).collect();
        assert!(!mine.is_empty(), "protocol/errors.md: no row for {n}");
        for r in &mine {
            assert!(
                ACTIONS.contains(&r[2].as_str()),
                "protocol/errors.md: {n}: action {:?} is not one of {ACTIONS:?}",
                r[2]
            );
            // Every action is one the page defines.
            assert!(doc.contains(&format!("- **{}**:", r[2])), "{}", r[2]);
        }
    }
    // 2400: one row per HTTP status.
    let statuses: Vec<&str> = rows
        .iter()
        .filter(|r| r[0] == "2400")
        .map(|r| r[1].as_str())
        .collect();
    assert_eq!(statuses, ["500", "502", "503", "504"]);
    // The HTTP status of every single-status row is the gateway's.
    for r in &rows {
        let Ok(n) = r[0].parse::<u16>() else { continue };
        let code = Code::try_from(n).unwrap();
        if code != Code::Failed && code != Code::Syntax {
            assert_eq!(r[1], code.http_status().to_string(), "{n}");
        }
    }
    // Every object the gateway names is documented, with its code.
    let objects = table(&doc, "## One code, several objects");
    for o in Object::ALL {
        assert!(
            objects
                .iter()
                .any(|r| r[1].contains(&format!("`{}`", o.name()))),
            "protocol/errors.md: object {} is not documented",
            o.name()
        );
        // `partner` is the operator channel's, not the partners' protocol.
        assert!(
            o == Object::Partner || read("protocol/native.md").contains(&format!("`{}`", o.name())),
            "protocol/native.md does not name object {}",
            o.name()
        );
    }
}

/// Every 2303, 2201 and 2304 in `fixtures/native/` names its object; no other code has
/// one.
#[test]
fn fixtures_name_the_object_of_2303_and_2201() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/native");
    let mut seen = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().is_none_or(|x| x != "response") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| l.contains("<result code=")) {
            let code: u16 = line.split('"').nth(1).unwrap().parse().unwrap();
            let object = line
                .split_once(" object=\"")
                .map(|(_, rest)| rest.split('"').next().unwrap().to_string());
            match code {
                2303 | 2201 | 2304 => {
                    let o = object
                        .unwrap_or_else(|| panic!("{}: {code} without an object", path.display()));
                    assert!(
                        Object::ALL.iter().any(|x| x.name() == o),
                        "{}: object {o}",
                        path.display()
                    );
                    seen.insert(format!("{code} {o}"));
                }
                _ => assert!(object.is_none(), "{}: {line}", path.display()),
            }
        }
    }
    for want in [
        "2303 domain",
        "2303 client",
        "2303 order",
        "2303 request",
        "2201 domain",
        "2201 client",
        "2201 order",
        "2201 address",
        "2304 client",
        "2304 account",
    ] {
        assert!(seen.contains(want), "no fixture shows {want}: {seen:?}");
    }
}

#[test]
fn pending_guide_has_its_sequence_diagram_and_polling_advice() {
    let doc = read("protocol/pending-orders.md");
    assert!(doc.contains("```mermaid\nsequenceDiagram\n"));
    for needle in [
        "<result code=\"1001\">",
        "object=\"domain\"",
        "state=\"pending\"",
        "state=\"done\"",
        "| first ask |",
        "| back-off |",
        "| call the registrar's operator |",
    ] {
        assert!(doc.contains(needle), "pending-orders.md lacks {needle}");
    }
}

/// Two identical requests at once, the registry taking 1.5 s: the duplicate does not
/// wait for the registry; once the first has accepted the order it answers from the
/// record: 1001 with the order as it stands, replayed. The first answers 1000; one
/// order, one charge; after that the same request gets the final 1000, replayed. With
/// a registry that answers "pending", both answers are 1001.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_in_flight_answers_from_the_record() {
    for pending in [false, true] {
        let s = common::start_with(|c| {
            c.sandbox.faults.latency_ms = 1500;
            c.upstream_timeout_ms = 20_000;
            if pending {
                c.sandbox.faults.pending_percent = 100;
                c.sandbox.faults.pending_ms = 60_000;
            }
            c.reconcile_interval_ms = 3_600_000;
        })
        .await;
        let client = s.client("C-1").await;
        let before = balance(&s).await;
        let (a, b) = tokio::join!(register(&s, "DUP-1", "twice.ru", &client), async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            register(&s, "DUP-1", "twice.ru", &client).await
        });
        let first = if pending { 1001 } else { 1000 };
        let (a, b) = (expect(a, first), expect(b, 1001));
        assert!(!a.replayed && b.replayed, "pending={pending}");
        assert_eq!(b.status, 202);
        let order = elem(&b.body, "order");
        assert_eq!(order.get("id"), elem(&a.body, "order").get("id"));
        assert!(
            ["accepted", "submitted"].contains(&order.get("state")),
            "{}",
            b.body
        );
        // Afterwards the same request gets the first one's answer.
        let again = expect(register(&s, "DUP-1", "twice.ru", &client).await, first);
        assert!(again.replayed);
        assert_eq!(again.body, a.body);
        let all = orders(&s).await;
        assert_eq!(all.len(), 1, "{all:?}");
        let charges = ledger(&s)
            .await
            .iter()
            .filter(|e| e.get("kind") == "charge")
            .count();
        assert_eq!(charges, 1);
        assert_ne!(balance(&s).await, before);
        assert!(s.verify().await.problems.is_empty());
        s.stop().await;
    }
}
