//! The pipeline and the order claim together: a request that does not hold its order's
//! claim never reaches the upstream, and what a request answers once its order is
//! accepted, whatever fails after.

use super::{execute, Action, Request};
use crate::command::params::Params;
use crate::config::Config;
use crate::engine::auth::Credentials;
use crate::engine::orders::{Backoffs, NewOrder, MAX_BACKOFF};
use crate::engine::{Ctx, Engine, Fresh};
use crate::error::{Code, Result};
use crate::outcome::{Data, Outcome};
use crate::store::records::{OrderKind, OrderState};
use crate::types::client::ClientHandle;
use crate::types::money::Money;
use crate::upstream::{Backend, Done};
use crate::upstream::{Trouble, TroubleKind, UpstreamOrder, UpstreamResult};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An upstream that counts its calls and answers as told.
struct Fake {
    submits: AtomicUsize,
    lookups: AtomicUsize,
    answer: fn() -> UpstreamResult,
    /// A submit waits for a permit here (none: it answers at once).
    gate: Option<tokio::sync::Semaphore>,
}

#[async_trait::async_trait]
impl Backend for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    async fn check(&self, names: &[crate::types::names::Name]) -> Result<Vec<bool>> {
        Ok(vec![true; names.len()])
    }
    async fn submit(&self, _o: &UpstreamOrder) -> UpstreamResult {
        self.submits.fetch_add(1, Ordering::SeqCst);
        if let Some(g) = &self.gate {
            let _ = g.acquire().await;
        }
        (self.answer)()
    }
    async fn lookup(&self, _o: &UpstreamOrder) -> UpstreamResult {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        (self.answer)()
    }
}

fn done() -> UpstreamResult {
    UpstreamResult::Done(Done::default())
}

fn no_lookup() -> UpstreamResult {
    UpstreamResult::Unknown(Trouble::new(TroubleKind::NoLookup, "cannot be asked"))
}

async fn engine(answer: fn() -> UpstreamResult) -> (tempfile::TempDir, Engine, Arc<Fake>) {
    engine_gated(answer, None).await
}

async fn engine_gated(
    answer: fn() -> UpstreamResult,
    gate: Option<tokio::sync::Semaphore>,
) -> (tempfile::TempDir, Engine, Arc<Fake>) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        data: dir.path().to_path_buf(),
        ..Config::default()
    };
    let fake = Arc::new(Fake {
        submits: AtomicUsize::new(0),
        lookups: AtomicUsize::new(0),
        answer,
        gate,
    });
    let store = crate::store::Store::open(dir.path()).unwrap();
    let clock = crate::types::clock::Clock::Fixed("2026-01-15T10:00:00Z".parse().unwrap());
    let eng = Engine::new(&cfg, store, fake.clone(), clock).unwrap();
    eng.add_partner(crate::engine::operator::NewPartner {
        login: "shop".into(),
        password: Some("shop-password".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    eng.topup("shop", "10000.00", "").await.unwrap();
    (dir, eng, fake)
}

fn request(command: &str, rid: &str, fields: &[(&str, &str)]) -> Request {
    Request {
        dialect: "native",
        credentials: Some(Credentials {
            login: "shop".into(),
            password: "shop-password".into(),
        }),
        peer: "127.0.0.1".parse().unwrap(),
        action: Action::named(
            command,
            Params::new(
                fields
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        ),
        request_id: Some(rid.into()),
        read_only: false,
    }
}

async fn client(eng: &Engine) -> String {
    let r = execute(
        eng,
        request(
            "client.create",
            "C1",
            &[
                ("type", "person"),
                ("name", "Ivan Petrov"),
                ("email", "ivan@example.net"),
                ("phone", "+7.4951234567"),
                ("country", "RU"),
                ("address", "Moscow"),
            ],
        ),
    )
    .await;
    assert_eq!(r.outcome.code, Code::Completed, "{:?}", r.outcome);
    match r.outcome.data {
        Data::Client(c) => c.id,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_request_without_the_claim_never_dispatches() {
    let (_dir, eng, fake) = engine(done).await;
    let eng = Arc::new(eng);
    let handle = client(&eng).await;
    // Another task (a request with the same request-id, or the reconciler) holds
    // the order's claim.
    let held = eng.claim_order("shop", "R1");
    assert!(held.is_some());
    let e = eng.clone();
    let h = handle.clone();
    let waiting = tokio::spawn(async move {
        execute(
            &e,
            request(
                "domain.register",
                "R1",
                &[("domain", "claimed.ru"), ("client", &h)],
            ),
        )
        .await
    });
    let waited = tokio::time::timeout(Duration::from_millis(300), async {
        while !waiting.is_finished() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(waited.is_err(), "the request did not wait for the claim");
    assert_eq!(fake.submits.load(Ordering::SeqCst), 0);
    drop(held);
    let r = waiting.await.unwrap();
    assert_eq!(r.outcome.code, Code::Completed, "{:?}", r.outcome);
    assert_eq!(fake.submits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_request_without_the_claim_answers_once_the_order_is_accepted() {
    let (_dir, eng, fake) = engine_gated(done, Some(tokio::sync::Semaphore::new(0))).await;
    let eng = Arc::new(eng);
    let handle = client(&eng).await;
    let e = eng.clone();
    let h = handle.clone();
    // The first request is accepted and waits in its upstream call, holding the claim.
    let first = tokio::spawn(async move {
        execute(
            &e,
            request(
                "domain.register",
                "R1",
                &[("domain", "slow.ru"), ("client", &h)],
            ),
        )
        .await
    });
    while fake.submits.load(Ordering::SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    // A second one with the same request-id does not wait for the upstream: it
    // answers from the record (1001 with the order), and sends nothing.
    let partner = std::sync::Arc::new(eng.store.partner("shop").unwrap().unwrap());
    let ctx = Ctx {
        eng: &eng,
        partner,
        request_id: Some("R1".into()),
        fingerprint: String::new(),
    };
    let new = NewOrder {
        domain: "slow.ru".into(),
        kind: OrderKind::SetNs { ns: vec![] },
        amount: Money::zero(crate::types::money::Currency::RUB),
        priced: None,
    };
    let second = tokio::time::timeout(
        Duration::from_secs(5),
        eng.place_order::<Outcome, _>(&ctx, new, |_, _| Ok(())),
    )
    .await
    .expect("the second request waited for the upstream")
    .unwrap();
    assert!(matches!(second, Fresh::Replay(ref r) if r.outcome.is_none()));
    assert_eq!(fake.submits.load(Ordering::SeqCst), 1);
    fake.gate.as_ref().unwrap().add_permits(1);
    let r = first.await.unwrap();
    assert_eq!(r.outcome.code, Code::Completed, "{:?}", r.outcome);
    assert_eq!(fake.submits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn after_the_accepting_write_internal_failures_answer_1001() {
    let (_dir, eng, fake) = engine(done).await;
    let handle = client(&eng).await;
    let partner = std::sync::Arc::new(eng.store.partner("shop").unwrap().unwrap());
    let number = ClientHandle::number_of(&handle).unwrap();
    let order = |domain: &str, kind: OrderKind| NewOrder {
        domain: domain.into(),
        kind,
        amount: Money::parse("amount", "590.00", partner.currency, false).unwrap(),
        priced: None,
    };
    let ctx = Ctx {
        eng: &eng,
        partner: partner.clone(),
        request_id: Some("R1".into()),
        fingerprint: "r1".into(),
    };
    // The registrant disappears in the accepting write: the order cannot be handed
    // upstream, the money is held, and the answer says so.
    let r = eng
        .place_order::<Outcome, _>(
            &ctx,
            order(
                "lost.ru",
                OrderKind::Register {
                    period: 1,
                    client: handle.clone(),
                    ns: vec![],
                    auto_renew: false,
                },
            ),
            move |tx, _| {
                tx.remove_client("shop", number);
                Ok(())
            },
        )
        .await
        .unwrap();
    let Fresh::Done(o) = r else {
        panic!("a replay")
    };
    assert_eq!(o.code, Code::Pending, "{o:?}");
    assert!(matches!(o.data, Data::Order(ref o) if o.state == OrderState::Accepted));
    assert_eq!(fake.submits.load(Ordering::SeqCst), 0);

    // The upstream did it, but the answer cannot be recorded (the domain renewed has
    // no record): 1001 with the order, not "nothing was charged".
    let ctx = Ctx {
        request_id: Some("R2".into()),
        fingerprint: "r2".into(),
        ..ctx
    };
    let r = eng
        .place_order::<Outcome, _>(
            &ctx,
            order(
                "gone.ru",
                OrderKind::Renew {
                    period: 1,
                    expires: "2027-01-15".parse().unwrap(),
                },
            ),
            |_, _| Ok(()),
        )
        .await
        .unwrap();
    let Fresh::Done(o) = r else {
        panic!("a replay")
    };
    assert_eq!(o.code, Code::Pending, "{o:?}");
    assert_eq!(fake.submits.load(Ordering::SeqCst), 1);
    let p = eng.show_partner("shop").unwrap();
    assert_eq!(p.balance, "8820.00");
}

#[tokio::test]
async fn orders_that_cannot_be_looked_up_are_left_alone_longer_and_longer() {
    let (_dir, eng, fake) = engine(no_lookup).await;
    let handle = client(&eng).await;
    let r = execute(
        &eng,
        request(
            "domain.register",
            "R1",
            &[("domain", "stuck.ru"), ("client", &handle)],
        ),
    )
    .await;
    assert_eq!(r.outcome.code, Code::Pending);
    let Data::Order(o) = r.outcome.data else {
        panic!()
    };
    let stored = || eng.store.order("shop", o.id).unwrap();
    let before = stored();
    let batches = eng.store.batches();
    // A full round asks, learns nothing new and writes nothing.
    assert_eq!(eng.reconcile::<Outcome>(Duration::ZERO).await.unwrap(), 1);
    assert_eq!(fake.lookups.load(Ordering::SeqCst), 1);
    assert_eq!(stored(), before);
    assert_eq!(eng.store.batches(), batches, "the order was rewritten");
    // The worker's rounds leave it alone while its back-off runs.
    for _ in 0..10 {
        assert_eq!(
            eng.reconcile_due::<Outcome>(Duration::ZERO, Duration::from_secs(60))
                .await
                .unwrap(),
            1
        );
    }
    assert_eq!(fake.lookups.load(Ordering::SeqCst), 1);
    assert_eq!(eng.store.batches(), batches);
    assert_eq!(eng.backoffs.len(), 1);
    // Growing intervals, capped: long for an upstream that cannot be asked, short
    // for a transient trouble.
    let every = Duration::from_secs(5);
    let waits: Vec<u64> = (1..=6)
        .map(|n| Backoffs::wait(n, every, true).as_secs())
        .collect();
    assert_eq!(waits, [5, 10, 20, 40, 80, 160]);
    assert_eq!(Backoffs::wait(40, every, true), MAX_BACKOFF);
    let waits: Vec<u64> = (1..=6)
        .map(|n| Backoffs::wait(n, every, false).as_secs())
        .collect();
    assert_eq!(waits, [5, 10, 20, 40, 40, 40]);
    let b = Backoffs::default();
    let t0 = std::time::Instant::now();
    b.unclear(7, t0, true);
    b.unclear(7, t0, true);
    assert!(!b.due(7, t0 + Duration::from_secs(9), every));
    assert!(b.due(7, t0 + Duration::from_secs(10), every));
    b.forget(7);
    assert!(b.due(7, t0, every));
}

fn contact(name: &str, email: &str) -> Vec<(String, String)> {
    [
        ("type", "person"),
        ("name", name),
        ("email", email),
        ("phone", "+7.4951234567"),
        ("country", "RU"),
        ("address", "Moscow"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[tokio::test]
async fn a_registration_with_its_contacts_is_one_request() {
    use crate::command::compat::RegisterWithContacts;
    use crate::command::Command;
    let (_dir, eng, fake) = engine(done).await;
    let create = || RegisterWithContacts {
        others: vec![(
            "Tech".into(),
            "x-tech-client".into(),
            contact("Tech Person", "tech@example.net"),
        )],
        registrant: contact("Ivan Petrov", "ivan@example.net"),
        domain: "together.ru".into(),
        rest: vec![("period".into(), "1".into())],
    };
    let built = |rid: &str| Request {
        action: Action::Built(Command::RegisterWithContacts(create())),
        request_id: Some(rid.into()),
        ..request("domain.register", rid, &[])
    };
    let r = execute(&eng, built("NC-1")).await;
    assert_eq!(r.outcome.code, Code::Completed, "{:?}", r.outcome);
    assert!(!r.replayed);
    let Data::DomainOrder { order, .. } = &r.outcome.data else {
        panic!("{:?}", r.outcome)
    };
    let registrant = match &order.kind {
        OrderKind::Register { client, .. } => client.clone(),
        other => panic!("{other:?}"),
    };
    // One pass through the pipeline: one request counted, under the command it placed.
    let metrics = eng.render_metrics();
    let passes: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("regway_requests_total{"))
        .collect();
    assert_eq!(
        passes,
        ["regway_requests_total{dialect=\"native\",command=\"domain.register\",code=\"1000\"} 1"]
    );
    // The same request again is answered from the record; no client is made twice.
    let again = execute(&eng, built("NC-1")).await;
    assert!(again.replayed);
    assert_eq!(again.outcome, r.outcome);
    // The same contacts for another domain give the same registrant client.
    let other = RegisterWithContacts {
        domain: "together2.ru".into(),
        ..create()
    };
    let r2 = execute(
        &eng,
        Request {
            action: Action::Built(Command::RegisterWithContacts(other)),
            ..request("domain.register", "NC-2", &[])
        },
    )
    .await;
    let Data::DomainOrder { order, .. } = &r2.outcome.data else {
        panic!("{:?}", r2.outcome)
    };
    assert!(matches!(&order.kind, OrderKind::Register { client, .. } if *client == registrant));
    assert_eq!(fake.submits.load(Ordering::SeqCst), 2);
}
