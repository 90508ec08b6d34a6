//! Many requests at once: the balance is never overspent, a request-id executes once,
//! and one domain never has two orders in flight.

mod common;
mod support;

use common::{Answer, TestServer};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use support::*;

/// Sends every body at once as `login` and returns the answers in the same order.
async fn all_at_once(
    s: &Arc<TestServer>,
    login: &str,
    password: &str,
    bodies: Vec<String>,
) -> Vec<Answer> {
    let mut tasks = Vec::new();
    for b in bodies {
        let s = s.clone();
        let (l, p) = (login.to_string(), password.to_string());
        tasks.push(tokio::spawn(async move { s.form_as(&l, &p, &b).await }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("request task"));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_registrations_against_money_for_fifty() {
    let s = Arc::new(common::start().await);
    bounded(90, async {
        // 50 × 590.00
        add_partner(&s, "fifty", "fifty-password", Some("29500.00")).await;
        let c = client_as(&s, "fifty", "fifty-password", "C-1").await;
        let bodies: Vec<String> = (0..200)
            .map(|i| register_form(&format!("R{i:03}"), &format!("race{i:03}.ru"), &c, ""))
            .collect();
        let answers = all_at_once(&s, "fifty", "fifty-password", bodies).await;
        let mut by_code: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
        for (i, a) in answers.iter().enumerate() {
            assert!(!a.replayed);
            assert_eq!(a.status, http_of(a.code()), "{}", a.body);
            by_code.entry(a.code()).or_default().push(i);
        }
        let counts: BTreeMap<u16, usize> = by_code.iter().map(|(k, v)| (*k, v.len())).collect();
        assert_eq!(counts, BTreeMap::from([(1000, 50), (2104, 150)]));
        assert_eq!(balance_as(&s, "fifty", "fifty-password").await, "0.00");

        // Each success names its own order and the balance right after it.
        let mut order_ids = BTreeSet::new();
        let mut balances = BTreeSet::new();
        for &i in &by_code[&1000] {
            let a = &answers[i];
            assert_eq!(text(&a.body, "request-id").unwrap(), format!("R{i:03}"));
            assert_eq!(
                elem(&a.body, "domain").get("name"),
                format!("race{i:03}.ru")
            );
            assert_eq!(text(&a.body, "charged").unwrap(), "590.00");
            assert!(order_ids.insert(elem(&a.body, "order").get("id").to_string()));
            balances.insert(cents(&text(&a.body, "balance").unwrap()));
        }
        // The balance an answer shows is the balance when its order settled: its own
        // charge is in it, and it never goes below zero.
        for b in &balances {
            assert!(
                (0..=49 * 59000).contains(b) && b % 59000 == 0,
                "balance {b}"
            );
        }
        // Refused requests left nothing, not even their request-ids.
        for &i in &by_code[&2104] {
            let a = s
                .form_as(
                    "fifty",
                    "fifty-password",
                    &format!("command=request.status&request-id=R{i:03}"),
                )
                .await;
            expect(a, 2303);
        }

        // The ledger: one top-up, fifty charges, each of one order, summing to zero.
        let (entries, _) = {
            let mut rows = Vec::new();
            let mut cursor = String::new();
            loop {
                let a = s
                    .form_as(
                        "fifty",
                        "fifty-password",
                        &format!("command=ledger.list&limit=7{cursor}"),
                    )
                    .await;
                let a = expect(a, 1000);
                rows.extend(elems(&a.body, "entry"));
                match text(&a.body, "next-cursor") {
                    Some(c) => cursor = format!("&cursor={c}"),
                    None => break (rows, ()),
                }
            }
        };
        assert_eq!(entries.len(), 51);
        assert_eq!(
            entries.iter().filter(|e| e.get("kind") == "topup").count(),
            1
        );
        let charged: BTreeSet<String> = entries
            .iter()
            .filter(|e| e.get("kind") == "charge")
            .map(|e| {
                assert_eq!(e.get("amount"), "-590.00");
                e.get("order").to_string()
            })
            .collect();
        assert_eq!(charged, order_ids);
        let mut sum = 0;
        for e in entries.iter().rev() {
            sum += cents(e.get("amount"));
            assert_eq!(cents(e.get("balance-after")), sum);
        }
        assert_eq!(sum, 0);
        let r = s.verify().await;
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.open_orders, 0);
        let p = s.engine().show_partner("fifty").unwrap();
        assert_eq!((p.orders, p.domains), (50, 50));
    })
    .await;
    Arc::into_inner(s).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_id_sent_twenty_times_at_once_executes_once() {
    let s = Arc::new(common::start().await);
    bounded(60, async {
        let c = s.client("C-1").await;
        let body = register_form("SAME", "same.ru", &c, "");
        let answers = all_at_once(&s, "demo", "demo-password", vec![body.clone(); 20]).await;
        let fresh: Vec<&Answer> = answers.iter().filter(|a| !a.replayed).collect();
        assert_eq!(fresh.len(), 1, "executed more than once");
        let first = fresh[0];
        expect_http(
            Answer {
                status: first.status,
                replayed: false,
                retry_after: None,
                content_type: first.content_type.clone(),
                body: first.body.clone(),
            },
            1000,
        );
        let order = elem(&first.body, "order").get("id").to_string();
        for a in &answers {
            match a.code() {
                1000 => assert_eq!(a.body, first.body),
                // A retry that arrives while the order is being carried out.
                1001 => {
                    assert_eq!(a.status, 202);
                    assert_eq!(elem(&a.body, "order").get("id"), order);
                }
                _ => panic!("unexpected answer:\n{}", a.body),
            }
        }
        let again = s.form(&body).await;
        assert!(again.replayed);
        assert_eq!(again.body, first.body);
        assert_eq!(balance(&s).await, "9410.00");
        assert_eq!(orders(&s).await.len(), 1);
        let charges = ledger(&s)
            .await
            .into_iter()
            .filter(|e| e.get("kind") == "charge")
            .count();
        assert_eq!(charges, 1);

        // The same for a command without an order.
        let cbody = "command=client.create&request-id=CSAME&type=person&name=A&email=a%40b.ru\
                     &phone=%2B7.4951234567&country=RU&address=M"
            .to_string();
        let answers = all_at_once(&s, "demo", "demo-password", vec![cbody; 20]).await;
        assert_eq!(answers.iter().filter(|a| !a.replayed).count(), 1);
        assert!(answers.iter().all(|a| a.body == answers[0].body));
        assert_eq!(s.engine().show_partner("demo").unwrap().clients, 2);
        assert!(s.verify().await.problems.is_empty());
    })
    .await;
    Arc::into_inner(s).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_domain_never_has_two_orders_at_once() {
    let s = Arc::new(common::start().await);
    bounded(60, async {
        let c = s.client("C-1").await;
        // Twenty registrations of one name under different request-ids.
        let bodies: Vec<String> = (0..20)
            .map(|i| register_form(&format!("D{i}"), "contested.ru", &c, ""))
            .collect();
        let answers = all_at_once(&s, "demo", "demo-password", bodies).await;
        let ok = answers.iter().filter(|a| a.code() == 1000).count();
        assert_eq!(ok, 1);
        for a in &answers {
            assert!(
                matches!(a.code(), 1000 | 2302 | 2304),
                "unexpected answer:\n{}",
                a.body
            );
        }
        assert_eq!(balance(&s).await, "9410.00");

        // Twenty renewals of it, each naming the current expiry: one year added, once.
        let bodies: Vec<String> = (0..20)
            .map(|i| {
                format!(
                    "command=domain.renew&request-id=N{i}&domain=contested.ru&expires=2027-01-15"
                )
            })
            .collect();
        let answers = all_at_once(&s, "demo", "demo-password", bodies).await;
        assert_eq!(answers.iter().filter(|a| a.code() == 1000).count(), 1);
        for a in &answers {
            assert!(
                matches!(a.code(), 1000 | 2105 | 2304),
                "unexpected answer:\n{}",
                a.body
            );
        }
        let info = expect(
            s.form("command=domain.info&domain=contested.ru").await,
            1000,
        );
        assert_eq!(elem(&info.body, "domain").get("expires"), "2028-01-15");
        assert_eq!(balance(&s).await, "8820.00");
        let o = orders(&s).await;
        let failed = o.iter().filter(|o| o.get("state") == "failed").count();
        assert_eq!(o.len() - failed, 2, "two orders carried out");
        let r = s.verify().await;
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.domains, 1);
    })
    .await;
    Arc::into_inner(s).unwrap().stop().await;
}
