//! A graceful restart keeps everything: balances, clients, domains, orders, the ledger
//! and every request-id with its stored answer.

mod common;
mod support;

use support::*;

const READS: [&str; 10] = [
    "command=balance.get",
    "command=domain.list",
    "command=domain.info&domain=kept.ru",
    "command=client.list",
    "command=order.list",
    "command=ledger.list",
    "command=order.info&request-id=R2",
    "command=request.status&request-id=R1",
    "command=request.status&request-id=R2",
    "command=request.status&request-id=C-1",
];

/// `Running::shutdown` returns with the store closed, so the same process opens it again
/// at once.
#[tokio::test]
async fn state_and_request_ids_survive_an_immediate_restart() {
    survives().await;
}

async fn survives() {
    let s = common::start().await;
    let (s, c, replays, reads_before, snap) = bounded(30, async {
        let c = s.client("C-1").await;
        let mut replays = Vec::new();
        let r1 = register_form(
            "R1",
            "kept.ru",
            &c,
            "&ns=ns1.example.net&ns=ns2.example.net",
        );
        replays.push((r1.clone(), expect(s.form(&r1).await, 1000)));
        let r2 = register_form("R2", "taken.ru", &c, "");
        replays.push((r2.clone(), expect(s.form(&r2).await, 2302)));
        let r3 = "command=domain.renew&request-id=R3&domain=kept.ru&expires=2027-01-15".to_string();
        replays.push((r3.clone(), expect(s.form(&r3).await, 1000)));
        let r4 =
            "command=domain.set-autorenew&request-id=R4&domain=kept.ru&auto-renew=true".to_string();
        replays.push((r4.clone(), expect(s.form(&r4).await, 1000)));
        let mut reads = Vec::new();
        for q in READS {
            reads.push(expect(s.form(q).await, 1000).body);
        }
        let snap = snapshot(&s).await;
        (s, c, replays, reads, snap)
    })
    .await;

    let s = bounded(30, s.restart()).await;
    bounded(30, async {
        assert_eq!(snapshot(&s).await, snap);
        for (q, before) in READS.iter().zip(&reads_before) {
            let a = expect(s.form(q).await, 1000);
            assert_eq!(&a.body, before, "{q} answers differently after the restart");
        }
        // Replays still answer the stored bytes and charge nothing.
        for (body, first) in &replays {
            let again = s.form(body).await;
            assert!(again.replayed, "{body}");
            assert_eq!(again.status, first.status);
            assert_eq!(again.body, first.body, "{body}");
        }
        assert_eq!(snapshot(&s).await, snap);
        // Reuse with other parameters is still refused.
        expect(register(&s, "R1", "other.ru", &c).await, 2308);
        // New work continues the numbering: no id is handed out twice.
        let c2 = s.client("C-2").await;
        assert_eq!(c2, "1001/RW-P");
        let a = expect(register(&s, "R5", "after.ru", &c2).await, 1000);
        assert_eq!(elem(&a.body, "order").get("id"), "4");
        let l = ledger(&s).await;
        let ids: Vec<u64> = l.iter().map(|e| e.get("id").parse().unwrap()).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable_by(|a, b| b.cmp(a));
        sorted.dedup();
        assert_eq!(ids, sorted, "ledger ids unique, newest first");
        assert_eq!(balance(&s).await, "8230.00");
        let r = s.verify().await;
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!((r.orders, r.domains, r.open_orders), (4, 2, 0));
    })
    .await;

    // And a second restart, after more writes.
    let s = bounded(30, s.restart()).await;
    bounded(30, async {
        let a = register(&s, "R5", "after.ru", "1001/RW-P").await;
        assert!(a.replayed);
        assert_eq!(balance(&s).await, "8230.00");
        assert!(s.verify().await.problems.is_empty());
    })
    .await;
    s.stop().await;
}
