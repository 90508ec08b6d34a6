//! Programmes on real orders: the charge is priced by the partner's programme, the
//! ledger records how, and a programme changed later leaves earlier charges alone.
//! The published examples themselves are tested with time as a parameter in
//! `src/engine/programme.rs`.

mod common;
mod support;

use regway::config::Config;
use std::path::{Path, PathBuf};

/// Payments tiers that discount domains (the published table of programme B has no
/// domain column, so this one is made up for the test).
const PAYMENTS: &str = r#"
name = "turnover"
currency = "RUB"
partners = ["demo"]
metric = { kind = "payments", window_days = 31 }

[[tier]]
name = "Starter"
from = "500.00"
discount = { domains = 3 }

[[tier]]
name = "Ten"
from = "10000.00"
discount = { domains = DISCOUNT }
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn config(data: &Path, programmes: Vec<PathBuf>) -> Config {
    let mut cfg = common::test_config(data);
    cfg.programmes = programmes;
    cfg
}

/// The first `<entry …>` line of a ledger listing.
fn first_entry(body: &str) -> String {
    body.lines()
        .find(|l| l.trim_start().starts_with("<entry"))
        .unwrap()
        .trim()
        .to_string()
}

#[tokio::test]
async fn a_charge_keeps_the_rule_it_was_priced_with() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = write(dir.path(), "p.toml", &PAYMENTS.replace("DISCOUNT", "10"));
    let s = common::start_config(config(&data, vec![file.clone()])).await;
    // The demo partner's starting balance (10000.00) is a payment of today: tier "Ten".
    let client = s.client("C-1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R-1&domain=first.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert!(
        a.body
            .contains("<charged currency=\"RUB\">531.00</charged>"),
        "{}",
        a.body
    );
    let l = s.form("command=ledger.list&limit=1").await;
    assert_eq!(
        first_entry(&l.body),
        r#"<entry id="2" time="2026-01-15T10:00:00Z" kind="charge" amount="-531.00" balance-after="9469.00" currency="RUB" order="1" list-price="590.00" rule="turnover" tier="Ten" discount="10"/>"#
    );
    let p = s.form("command=price.list&zone=com").await;
    assert!(
        p.body.contains(r#"<price zone="com" category="domains" operation="register" period="3" list="3870.00" price="3483.00" currency="RUB" rule="turnover" tier="Ten" discount="10"/>"#),
        "{}",
        p.body
    );
    s.stop().await;

    // The programme changes: later orders get the new discount, the old charge stays.
    std::fs::write(&file, PAYMENTS.replace("DISCOUNT", "12.5")).unwrap();
    let s = common::start_config(config(&data, vec![file])).await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R-2&domain=second.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    // 590.00 less 12.5% = 516.25.
    assert!(
        a.body
            .contains("<charged currency=\"RUB\">516.25</charged>"),
        "{}",
        a.body
    );
    let l = s.form("command=ledger.list").await;
    assert!(l.body.contains(r#"amount="-531.00" balance-after="9469.00" currency="RUB" order="1" list-price="590.00" rule="turnover" tier="Ten" discount="10"/>"#), "{}", l.body);
    assert!(l.body.contains(r#"amount="-516.25" balance-after="8952.75" currency="RUB" order="2" list-price="590.00" rule="turnover" tier="Ten" discount="12.5"/>"#), "{}", l.body);
    let st = s.form("command=programme.status").await;
    assert!(
        st.body.contains(r#"<programme name="turnover" metric="payments" value="10000.00" currency="RUB" since="2025-12-15" tier="Ten">"#),
        "{}",
        st.body
    );
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn count_tiers_follow_the_partners_active_services() {
    let dir = tempfile::tempdir().unwrap();
    let text = r#"
name = "services"
currency = "RUB"
partners = ["demo"]
exclusive = false
metric = { kind = "active_services", category = "domains" }

[[tier]]
name = "One"
from = 1
discount = { domains = 5 }

[[tier]]
name = "Two"
from = 2
discount = { domains = 7 }
"#;
    let file = write(dir.path(), "c.toml", text);
    let s = common::start_with(|cfg| cfg.programmes = vec![file]).await;
    let st = s.form("command=programme.status").await;
    assert!(
        st.body.contains(r#"<programme name="services" metric="active_services" value="0" next-tier="One" next-from="1" missing="1"/>"#),
        "{}",
        st.body
    );
    let client = s.client("C-1").await;
    let mut charged = Vec::new();
    for (i, name) in ["a-one.ru", "a-two.ru", "a-three.ru"].iter().enumerate() {
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R-{i}&domain={name}&client={client}"
            ))
            .await;
        assert_eq!(a.code(), 1000, "{}", a.body);
        charged.push(a.body.split("<charged currency=\"RUB\">").nth(1).unwrap()[..6].to_string());
    }
    // 0 active → list price; 1 → 5% off; 2 → 7% off (590 × 0.93 = 548.70).
    assert_eq!(charged, ["590.00", "560.50", "548.70"]);
    let l = s.form("command=ledger.list&limit=1").await;
    assert_eq!(
        first_entry(&l.body),
        r#"<entry id="4" time="2026-01-15T10:00:00Z" kind="charge" amount="-548.70" balance-after="8300.80" currency="RUB" order="3" list-price="590.00" rule="services" tier="Two" discount="7"/>"#
    );
    let st = s.form("command=programme.status").await;
    assert!(st.body.contains(r#"value="3" tier="Two">"#), "{}", st.body);
}

#[tokio::test]
async fn programme_e_levels_show_in_programme_status() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::programme_for(dir.path(), "e-clients.toml", "demo");
    let s = common::start_with(|cfg| cfg.programmes = vec![file]).await;
    for i in 0..3 {
        let client = s.client(&format!("C-{i}")).await;
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R-{i}&domain=client-{i}.ru&client={client}"
            ))
            .await;
        // Commissions change no price.
        assert!(
            a.body
                .contains("<charged currency=\"RUB\">590.00</charged>"),
            "{}",
            a.body
        );
    }
    let st = s.form("command=programme.status").await;
    assert!(
        st.body.contains(r#"<programme name="e-clients" metric="active_clients" value="3" tier="Bronze" next-tier="Silver" next-from="6" missing="3">"#),
        "{}",
        st.body
    );
    assert!(st
        .body
        .contains(r#"<commission category="hosting" percent="10"/>"#));
}

#[tokio::test]
async fn bad_programmes_refuse_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.toml",
        "name = \"x\"\ncurrency = \"RUB\"\nmetric = { kind = \"payments\", window_days = 31 }\n\
         [[tier]]\nname = \"a\"\nfrom = \"500\"\ndiscount = { ships = 5 }\n",
    );
    let mut cfg = common::test_config(&dir.path().join("d1"));
    cfg.programmes = vec![bad.clone()];
    let e = regway::app::start(cfg).await.err().expect("refused");
    assert!(
        e.message
            .contains(&format!("{}:7: unknown category \"ships\"", bad.display())),
        "{}",
        e.message
    );
    // A programme in EUR that lists the RUB demo partner.
    let eur = write(
        dir.path(),
        "eur.toml",
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/programmes/d-licences.toml"),
        )
        .unwrap()
        .replace("\npartners = []\n", "\npartners = [\"demo\"]\n"),
    );
    let data = dir.path().join("d2");
    common::start_config(common::test_config(&data))
        .await
        .stop()
        .await;
    let mut cfg = common::test_config(&data);
    cfg.programmes = vec![eur];
    let e = regway::app::start(cfg).await.err().expect("refused");
    assert!(
        e.message
            .contains("partner demo keeps its account in RUB, the programme is in EUR"),
        "{}",
        e.message
    );
}

#[test]
fn programme_check_prints_the_resolved_tiers() {
    let cfg = Config::default();
    let out = regway::engine::pricing::check_file(
        &cfg,
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/programmes/b-turnover.toml"),
    )
    .unwrap();
    assert!(
        out.contains("metric: payments over the last 31 days\n"),
        "{out}"
    );
    assert!(out.contains("tier \"Partner #8\": from 50000.00 below 100000.00; discount dedicated 7%, ssl 3%, vps 19%\n"), "{out}");
    assert!(out.contains("tier \"Partner #16\": from 1000000.00 and above; discount dedicated 15%, ssl 10%, vps 35%\n"), "{out}");
    for f in [
        "a-special-prices.toml",
        "c-services.toml",
        "d-licences.toml",
        "e-clients.toml",
    ] {
        regway::engine::pricing::check_file(
            &cfg,
            &Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/programmes")
                .join(f),
        )
        .unwrap_or_else(|e| panic!("{f}: {}", e.message));
    }
}

#[tokio::test]
async fn special_prices_from_the_payment_that_reaches_the_minimum() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::programme_for(dir.path(), "a-special-prices.toml", "early");
    let s = common::start_with(|cfg| cfg.programmes = vec![file]).await;
    let eng = s.engine();
    // A partner listed by a programme keeps its account in the programme's currency.
    let e = eng
        .add_partner(regway::engine::operator::NewPartner {
            login: "early".into(),
            currency: Some("USD".into()),
            ..Default::default()
        })
        .await
        .expect_err("refused");
    assert!(
        e.message
            .contains("programme a-special-prices lists early and is in RUB, not USD"),
        "{}",
        e.message
    );
    eng.add_partner(regway::engine::operator::NewPartner {
        login: "early".into(),
        password: Some("early-password".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    eng.topup("early", "2000.00", "").await.unwrap();
    let ask = |body: &'static str| s.form_as("early", "early-password", body);
    let st = ask("command=programme.status").await;
    assert!(
        st.body.contains(r#"<programme name="a-special-prices" metric="promotion_payments" value="2000.00" currency="RUB" since="2026-01-01" next-from="2800.00" missing="800.00" qualified="false"/>"#),
        "{}",
        st.body
    );
    let p = ask("command=price.list&zone=su").await;
    assert!(p.body.contains(r#"operation="register" period="1" list="790.00" price="790.00" currency="RUB" rule="catalogue"/>"#), "{}", p.body);
    eng.topup("early", "800.00", "").await.unwrap();
    let p = ask("command=price.list&zone=su").await;
    assert!(p.body.contains(r#"operation="register" period="1" list="790.00" price="480.00" currency="RUB" rule="a-special-prices"/>"#), "{}", p.body);
}

/// A postpay programme: any programme file with a `[postpay]` section.
const POSTPAY: &str = r#"
name = "postpay"
currency = "RUB"
partners = ["late"]
exclusive = false
metric = { kind = "payments", window_days = 31 }
postpay = { due_days = 10 }

[[tier]]
name = "Any"
from = "1000000.00"
discount = { domains = 1 }
"#;

#[tokio::test]
async fn an_overdue_statement_blocks_orders_until_it_is_paid() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = write(dir.path(), "post.toml", POSTPAY);
    let at = |now: &str| {
        let mut cfg = config(&data, vec![file.clone()]);
        cfg.sandbox.clock = Some(now.parse().unwrap());
        cfg
    };
    let s = common::start_config(at("2025-12-10T10:00:00Z")).await;
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "late".into(),
            password: Some("late-password".into()),
            credit_limit: Some("5000.00".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let client = s
        .form_as(
            "late",
            "late-password",
            "command=client.create&request-id=C-1&type=person&name=Ivan+Petrov\
             &email=ivan%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow",
        )
        .await
        .attr("id")
        .unwrap();
    let register = |rid: &str, name: &str| {
        format!("command=domain.register&request-id={rid}&domain={name}&client={client}")
    };
    let a = s
        .form_as("late", "late-password", &register("R-1", "late-one.ru"))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    s.stop().await;

    // January 5: December's statement is open, due on January 10; orders go on.
    let s = common::start_config(at("2026-01-05T10:00:00Z")).await;
    let l = s
        .form_as("late", "late-password", "command=statement.list")
        .await;
    assert!(
        l.body.contains(r#"<statement month="2025-12" activated="590.00" paid-in-month="0.00" closing-balance="-590.00" owed="590.00" currency="RUB" due="2026-01-10" state="open"/>"#),
        "{}",
        l.body
    );
    s.stop().await;

    // January 11: overdue. New orders and renewals are refused until it is paid.
    let s = common::start_config(at("2026-01-11T00:00:00Z")).await;
    let a = s
        .form_as("late", "late-password", &register("R-2", "late-two.ru"))
        .await;
    assert_eq!((a.status, a.code()), (402, 2104), "{}", a.body);
    assert!(
        a.body.contains("statement 2025-12 (590.00 RUB owed) was due on 2026-01-10 and is not paid: new orders and renewals are blocked until it is"),
        "{}",
        a.body
    );
    let renew = s
        .form_as(
            "late",
            "late-password",
            "command=domain.renew&request-id=R-3&domain=late-one.ru&period=1&expires=2026-12-10",
        )
        .await;
    assert_eq!(renew.code(), 2104, "{}", renew.body);
    let info = s
        .form_as(
            "late",
            "late-password",
            "command=statement.info&month=2025-12",
        )
        .await;
    assert!(info.body.contains(r#"state="overdue">"#), "{}", info.body);
    assert!(
        info.body.contains(r#"kind="charge" amount="-590.00" balance-after="-590.00" currency="RUB" order="1" list-price="590.00" rule="catalogue"/>"#),
        "{}",
        info.body
    );
    // Paying it lifts the block at once.
    s.engine().topup("late", "590.00", "").await.unwrap();
    let a = s
        .form_as("late", "late-password", &register("R-2", "late-two.ru"))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let l = s
        .form_as("late", "late-password", "command=statement.list")
        .await;
    assert!(
        l.body.contains(r#"owed="590.00" currency="RUB" due="2026-01-10" state="paid" paid-at="2026-01-11T00:00:00Z"/>"#),
        "{}",
        l.body
    );
    // A partner not on postpay terms has no statements.
    let d = s.form("command=statement.list").await;
    assert_eq!(d.code(), 2304, "{}", d.body);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn a_partner_price_in_a_currency_the_catalogue_lacks_is_its_list_price() {
    let s = common::start_with(|cfg| {
        cfg.demo.currency = "EUR".into();
        cfg.partner_prices = vec![regway::config::PartnerPrice {
            login: "demo".into(),
            zone: "ru".into(),
            prices: regway::config::catalogue::PriceConfig::named([
                ("register", "7.50".to_string()),
                ("renew", "7.00".to_string()),
            ])
            .unwrap(),
        }];
    })
    .await;
    let p = s.form("command=price.list&zone=ru").await;
    assert!(
        p.body.contains(r#"<price zone="ru" category="domains" operation="register" period="1" list="7.50" price="7.50" currency="EUR" rule="partner-price"/>"#),
        "{}",
        p.body
    );
    let p = s.form("command=price.list&zone=com").await;
    assert_eq!(p.code(), 1000, "{}", p.body);
    assert!(!p.body.contains("<price "), "{}", p.body);
}

/// Programme D as shipped: licences discounted by the previous calendar month's
/// turnover, on postpay terms; an overdue statement blocks licence orders and renewals.
#[tokio::test]
async fn programme_d_prices_licences_by_last_months_turnover() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = common::programme_for(dir.path(), "d-licences.toml", "lic");
    let at = |now: &str| {
        let mut cfg = config(&data, vec![file.clone()]);
        cfg.sandbox.clock = Some(now.parse().unwrap());
        cfg
    };
    let s = common::start_config(at("2025-12-10T10:00:00Z")).await;
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "lic".into(),
            password: Some("lic-password".into()),
            currency: Some("EUR".into()),
            credit_limit: Some("5000.00".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let client = lic(
        &s,
        "command=client.create&request-id=C-1&type=person&name=Ivan+Petrov\
         &email=ivan%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow",
    )
    .await
    .attr("id")
    .unwrap();
    let order = |rid: &str, product: &str| {
        format!(
            "command=license.order&request-id={rid}&product={product}&period=year\
             &ip=203.0.113.7&client={client}"
        )
    };
    // December: the partner joined this month; November's turnover (0.00) puts it in
    // the first tier, 10% off: 690.00 → 621.00.
    let a = lic(&s, &order("L-1", "ispmanager6-business")).await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let l = lic(&s, "command=ledger.list&limit=1").await;
    assert_eq!(
        first_entry(&l.body),
        r#"<entry id="2" time="2025-12-10T10:00:00Z" kind="charge" amount="-621.00" balance-after="-621.00" currency="EUR" order="1" list-price="690.00" rule="d-licences" tier="Reseller" discount="10"/>"#
    );
    s.stop().await;

    // January 5: December's turnover was 621.00, so Silver: 15% off, in price.list too.
    let s = common::start_config(at("2026-01-05T10:00:00Z")).await;
    let p = lic(&s, "command=price.list&product=ispmanager6-pro").await;
    assert!(
        p.body.contains(r#"<price product="ispmanager6-pro" category="licences" operation="order" period="year" list="80.00" price="68.00" currency="EUR" rule="d-licences" tier="Silver" discount="15"/>"#),
        "{}",
        p.body
    );
    let a = lic(&s, &order("L-2", "ispmanager6-pro")).await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let l = lic(&s, "command=ledger.list&limit=1").await;
    assert_eq!(
        first_entry(&l.body),
        r#"<entry id="3" time="2026-01-05T10:00:00Z" kind="charge" amount="-68.00" balance-after="-689.00" currency="EUR" order="2" list-price="80.00" rule="d-licences" tier="Silver" discount="15"/>"#
    );
    s.stop().await;

    // January 11: December's statement (621.00) is overdue: no new licence, no renewal.
    let s = common::start_config(at("2026-01-11T00:00:00Z")).await;
    let a = lic(&s, &order("L-3", "ispmanager6-lite")).await;
    assert_eq!((a.status, a.code()), (402, 2104), "{}", a.body);
    let info = lic(&s, "command=license.info&license=1").await;
    let expires = info.attr("expires").unwrap();
    let renew = lic(
        &s,
        &format!("command=license.renew&request-id=L-4&license=1&period=year&expires={expires}"),
    )
    .await;
    assert_eq!(renew.code(), 2104, "{}", renew.body);
    // Paying it lifts the block at once; the refused request-ids were not spent.
    s.engine().topup("lic", "621.00", "").await.unwrap();
    let a = lic(&s, &order("L-3", "ispmanager6-lite")).await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// Programme C as shipped: from 10 active services in a category, 5% off it.
#[tokio::test]
async fn programme_c_discounts_from_the_tenth_active_service() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::programme_for(dir.path(), "c-services.toml", "demo");
    let s = common::start_with(|cfg| cfg.programmes = vec![file]).await;
    let client = s.client("C-1").await;
    for i in 1..=11 {
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R-{i}&domain=service-{i}.ru&client={client}"
            ))
            .await;
        assert_eq!(a.code(), 1000, "{}", a.body);
        let want = if i <= 10 { "590.00" } else { "560.50" };
        assert!(
            a.body
                .contains(&format!("<charged currency=\"RUB\">{want}</charged>")),
            "order {i}: {}",
            a.body
        );
    }
    let l = s.form("command=ledger.list&limit=1").await;
    assert_eq!(
        first_entry(&l.body),
        r#"<entry id="12" time="2026-01-15T10:00:00Z" kind="charge" amount="-560.50" balance-after="3539.50" currency="RUB" order="11" list-price="590.00" rule="c-services" tier="10 services" discount="5"/>"#
    );
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// Programme B as shipped, on a product in one of its categories (an operator's licence
/// product in `vps`): the starting payment of 10,000.00 is tier "Partner #3", 9% off
/// VPS; a domain, a category B does not discount, is charged its list price.
#[tokio::test]
async fn programme_b_discounts_the_categories_of_its_table() {
    let dir = tempfile::tempdir().unwrap();
    let file = common::programme_for(dir.path(), "b-turnover.toml", "demo");
    let s = common::start_with(|cfg| {
        cfg.programmes = vec![file];
        cfg.licenses.insert(
            "vps-panel".into(),
            toml::from_str(
                r#"name = "VPS control panel"
category = "vps"
prices.RUB = { month = "1000.00", year = "10000.00" }"#,
            )
            .unwrap(),
        );
    })
    .await;
    let client = s.client("C-1").await;
    let a = s
        .form(&format!(
            "command=license.order&request-id=L-1&product=vps-panel&period=month\
             &ip=203.0.113.9&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let l = s.form("command=ledger.list&limit=1").await;
    assert_eq!(
        first_entry(&l.body),
        r#"<entry id="2" time="2026-01-15T10:00:00Z" kind="charge" amount="-910.00" balance-after="9090.00" currency="RUB" order="1" list-price="1000.00" rule="b-turnover" tier="Partner #3" discount="9"/>"#
    );
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R-1&domain=b-domain.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let l = s.form("command=ledger.list&limit=1").await;
    assert_eq!(
        first_entry(&l.body),
        r#"<entry id="3" time="2026-01-15T10:00:00Z" kind="charge" amount="-590.00" balance-after="8500.00" currency="RUB" order="2" list-price="590.00" rule="catalogue"/>"#
    );
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// Count programmes read counts kept with every change of a service: a domain that
/// expires stops counting, one renewed counts again, and a zone moved to another
/// category is counted there from the next start.
#[tokio::test]
async fn service_counts_follow_expiry_renewal_and_a_changed_category() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = write(
        dir.path(),
        "count.toml",
        r#"
name = "count"
currency = "RUB"
partners = ["demo"]
metric = { kind = "active_services", category = "hosting" }

[[tier]]
name = "One"
from = 1
discount = { hosting = 5 }
"#,
    );
    let at = |now: &str, ru_hosting: bool| {
        let mut cfg = config(&data, vec![file.clone()]);
        cfg.sandbox.clock = Some(now.parse().unwrap());
        if ru_hosting {
            cfg.zones.insert(
                "ru".into(),
                toml::from_str(
                    r#"periods = [1, 1]
category = "hosting"
prices.RUB = { register = "590.00", renew = "590.00" }"#,
                )
                .unwrap(),
            );
        }
        cfg
    };
    let s = common::start_config(at("2026-01-15T10:00:00Z", false)).await;
    let client = s.client("C-1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R-1&domain=counted.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    // .ru is in `domains`: nothing in `hosting` yet.
    assert!(status(&s).await.contains(r#"value="0""#));
    s.stop().await;

    // .ru moves to `hosting`: the counts are rebuilt at start.
    let s = common::start_config(at("2026-01-16T10:00:00Z", true)).await;
    assert!(status(&s).await.contains(r#"value="1" tier="One""#));
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;

    // A year on, the domain expires and stops counting; renewed, it counts again.
    let s = common::start_config(at("2027-01-16T10:00:00Z", true)).await;
    s.engine().daily(0, 0).await.unwrap();
    let info = s.form("command=domain.info&domain=counted.ru").await;
    assert!(info.body.contains(r#"state="expired""#), "{}", info.body);
    assert!(status(&s).await.contains(r#"value="0""#));
    assert!(s.verify().await.problems.is_empty());
    let r = s
        .form("command=domain.renew&request-id=N-1&domain=counted.ru&period=1&expires=2027-01-15")
        .await;
    assert_eq!(r.code(), 1000, "{}", r.body);
    assert!(status(&s).await.contains(r#"value="1" tier="One""#));
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

async fn status(s: &common::TestServer) -> String {
    s.form("command=programme.status").await.body
}

/// A request of the licence reseller `lic`.
async fn lic(s: &common::TestServer, body: &str) -> common::Answer {
    s.form_as("lic", "lic-password", body).await
}

// ── The programmes' worked examples (examples/programmes/), through real payments and orders

/// A partner of the worked examples: its login is also its password's prefix.
struct P(&'static str);

impl P {
    fn password(&self) -> String {
        format!("{}-password", self.0)
    }

    async fn ask(&self, s: &common::TestServer, body: &str) -> common::Answer {
        s.form_as(self.0, &self.password(), body).await
    }

    async fn add(&self, s: &common::TestServer, currency: &str) {
        s.engine()
            .add_partner(regway::engine::operator::NewPartner {
                login: self.0.into(),
                password: Some(self.password()),
                currency: Some(currency.into()),
                ..Default::default()
            })
            .await
            .unwrap();
    }

    async fn client(&self, s: &common::TestServer, rid: &str) -> String {
        support::client_as(s, self.0, &self.password(), rid).await
    }

    /// Orders `product` for `client`; the amount charged.
    async fn order(
        &self,
        s: &common::TestServer,
        rid: &str,
        product: &str,
        period: &str,
        ip: &str,
        client: &str,
    ) -> String {
        let a = self
            .ask(
                s,
                &format!(
                    "command=license.order&request-id={rid}&product={product}&period={period}\
                     &ip={ip}&client={}",
                    support::enc(client)
                ),
            )
            .await;
        let a = support::expect(a, 1000);
        support::text(&a.body, "charged").unwrap()
    }

    /// Registers `name` for `client`; the amount charged.
    async fn register(
        &self,
        s: &common::TestServer,
        rid: &str,
        name: &str,
        client: &str,
    ) -> String {
        let body = format!(
            "command=domain.register&request-id={rid}&domain={name}&client={}",
            support::enc(client)
        );
        let a = support::expect(self.ask(s, &body).await, 1000);
        support::text(&a.body, "charged").unwrap()
    }

    /// The newest ledger entry: (amount, tier, discount).
    async fn last_charge(&self, s: &common::TestServer) -> (String, String, String) {
        let l = support::expect(self.ask(s, "command=ledger.list&limit=1").await, 1000);
        let e = support::elem(&l.body, "entry");
        (
            e.get("amount").to_string(),
            e.opt("tier").unwrap_or("").to_string(),
            e.opt("discount").unwrap_or("").to_string(),
        )
    }

    async fn standing(&self, s: &common::TestServer) -> support::El {
        let st = support::expect(self.ask(s, "command=programme.status").await, 1000);
        support::elem(&st.body, "programme")
    }
}

/// A licence product `id` in `category` at `month` / `year` in `currency`.
fn product(cfg: &mut Config, id: &str, category: &str, currency: &str, month: &str, year: &str) {
    cfg.licenses.insert(
        id.into(),
        toml::from_str(&format!(
            "name = \"{id}\"\ncategory = \"{category}\"\nprices.{currency} = {{ month = \"{month}\", year = \"{year}\" }}"
        ))
        .unwrap(),
    );
}

/// A shipped programme listing `logins`, written under `dir`.
fn programme_listing(dir: &Path, file: &str, logins: &[&str]) -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples/programmes")
        .join(file);
    let text = std::fs::read_to_string(shipped).unwrap();
    let list = logins
        .iter()
        .map(|l| format!("{l:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    write(
        dir,
        file,
        &text.replace("\npartners = []\n", &format!("\npartners = [{list}]\n")),
    )
}

/// Programme B, worked example: payments of 52,000 over 20 Dec – 20 Jan give 19% on VPS
/// (7% on dedicated servers, 3% on SSL, Partner #8); the next day, an advance payment of
/// 50,000 makes it 21% / 8% / 5% (Partner #9), and without it, with 3,000 of the 52,000
/// paid on 20 Dec leaving the window, 49,000 make it 17% / 6% / 3% (Partner #7). Real
/// top-ups, real licence orders in the three categories, on a gateway whose clock moves.
#[tokio::test]
async fn programme_b_worked_example_on_real_payments_and_orders() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (advance, lapse) = (P("advance"), P("lapse"));
    let file = programme_listing(dir.path(), "b-turnover.toml", &[advance.0, lapse.0]);
    let at = |now: &str| {
        let mut cfg = config(&data, vec![file.clone()]);
        cfg.sandbox.clock = Some(now.parse().unwrap());
        product(&mut cfg, "cloud-vps", "vps", "RUB", "1000.00", "10000.00");
        product(
            &mut cfg,
            "dedicated-x1",
            "dedicated",
            "RUB",
            "10000.00",
            "100000.00",
        );
        product(&mut cfg, "ssl-dv", "ssl", "RUB", "100.00", "1000.00");
        cfg
    };
    // The payments, each on its day.
    let s = common::start_config(at("2025-12-20T10:00:00Z")).await;
    advance.add(&s, "RUB").await;
    lapse.add(&s, "RUB").await;
    s.engine()
        .topup(lapse.0, "3000.00", "20 Dec")
        .await
        .unwrap();
    s.stop().await;
    let s = common::start_config(at("2025-12-28T10:00:00Z")).await;
    s.engine()
        .topup(advance.0, "52000.00", "28 Dec")
        .await
        .unwrap();
    s.stop().await;
    let s = common::start_config(at("2026-01-05T10:00:00Z")).await;
    s.engine()
        .topup(lapse.0, "49000.00", "5 Jan")
        .await
        .unwrap();
    s.stop().await;

    // 20 January: the window is 20 Dec – 20 Jan; both have paid 52,000 in it.
    let s = common::start_config(at("2026-01-20T12:00:00Z")).await;
    let mut ip = 0;
    let mut next_ip = || {
        ip += 1;
        format!("203.0.113.{ip}")
    };
    for p in [&advance, &lapse] {
        let st = p.standing(&s).await;
        assert_eq!(
            (st.get("value"), st.get("since"), st.get("tier")),
            ("52000.00", "2025-12-20", "Partner #8"),
            "{}",
            p.0
        );
        let client = p.client(&s, "C-1").await;
        let charged = [
            p.order(&s, "B-1", "cloud-vps", "month", &next_ip(), &client)
                .await,
            p.order(&s, "B-2", "dedicated-x1", "month", &next_ip(), &client)
                .await,
            p.order(&s, "B-3", "ssl-dv", "year", &next_ip(), &client)
                .await,
        ];
        // 1000 − 19%, 10000 − 7%, 1000 − 3%.
        assert_eq!(charged, ["810.00", "9300.00", "970.00"], "{}", p.0);
        assert_eq!(
            p.last_charge(&s).await,
            ("-970.00".into(), "Partner #8".into(), "3".into())
        );
    }
    s.stop().await;

    // 21 January: the window is 21 Dec – 21 Jan.
    let s = common::start_config(at("2026-01-21T12:00:00Z")).await;
    // Before its advance payment, `advance` still has its 52,000 of 28 Dec.
    assert_eq!(advance.standing(&s).await.get("tier"), "Partner #8");
    s.engine()
        .topup(advance.0, "50000.00", "advance")
        .await
        .unwrap();
    let st = advance.standing(&s).await;
    assert_eq!(
        (st.get("value"), st.get("tier")),
        ("102000.00", "Partner #9")
    );
    let client = "1000/RW-P";
    let charged = [
        advance
            .order(&s, "B-4", "cloud-vps", "month", "198.51.100.1", client)
            .await,
        advance
            .order(&s, "B-5", "dedicated-x1", "month", "198.51.100.2", client)
            .await,
        advance
            .order(&s, "B-6", "ssl-dv", "year", "198.51.100.3", client)
            .await,
    ];
    // 21% / 8% / 5%.
    assert_eq!(charged, ["790.00", "9200.00", "950.00"]);
    assert_eq!(
        advance.last_charge(&s).await,
        ("-950.00".into(), "Partner #9".into(), "5".into())
    );
    // `lapse` paid nothing more; its 3,000 of 20 Dec left the window: 49,000.
    let st = lapse.standing(&s).await;
    assert_eq!(
        (st.get("value"), st.get("since"), st.get("tier")),
        ("49000.00", "2025-12-21", "Partner #7")
    );
    let client = "1001/RW-P";
    let charged = [
        lapse
            .order(&s, "B-4", "cloud-vps", "month", "198.51.100.4", client)
            .await,
        lapse
            .order(&s, "B-5", "dedicated-x1", "month", "198.51.100.5", client)
            .await,
        lapse
            .order(&s, "B-6", "ssl-dv", "year", "198.51.100.6", client)
            .await,
    ];
    // 17% / 6% / 3%.
    assert_eq!(charged, ["830.00", "9400.00", "970.00"]);
    assert_eq!(
        lapse.last_charge(&s).await,
        ("-970.00".into(), "Partner #7".into(), "3".into())
    );
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// Programme E, every level: Bronze from 3 clients with an active service, Silver from 6,
/// Gold from 11, Platinum above 20; at each level an order in every category earns the
/// commission of the published table.
#[tokio::test]
async fn programme_e_every_level_earns_its_rates_in_every_category() {
    let dir = tempfile::tempdir().unwrap();
    let agent = P("agent");
    let file = programme_listing(dir.path(), "e-clients.toml", &[agent.0]);
    let s = common::start_with(|cfg| {
        cfg.programmes = vec![file];
        product(cfg, "shared-web", "hosting", "RUB", "1000.00", "10000.00");
        product(cfg, "cloud-vps", "vps", "RUB", "1000.00", "10000.00");
        product(
            cfg,
            "dedicated-x1",
            "dedicated",
            "RUB",
            "1000.00",
            "10000.00",
        );
        product(cfg, "ssl-dv", "ssl", "RUB", "1000.00", "10000.00");
    })
    .await;
    agent.add(&s, "RUB").await;
    s.engine().topup(agent.0, "100000.00", "").await.unwrap();
    // (level, clients to reach it, hosting, domains, ssl, vps, dedicated)
    let table = [
        ("Bronze", 3, 10, 10, 10, 5, 5),
        ("Silver", 6, 15, 10, 10, 10, 7),
        ("Gold", 11, 20, 10, 10, 15, 10),
        ("Platinum", 21, 25, 10, 10, 20, 12),
    ];
    let mut clients = Vec::new();
    let mut n = 0;
    for (level, reach, hosting, domains, ssl, vps, dedicated) in table {
        // One client with one domain at a time: the level follows the count.
        while clients.len() < reach {
            let below = table
                .iter()
                .rev()
                .find(|t| clients.len() >= t.1)
                .map(|t| t.0);
            assert_eq!(
                agent.standing(&s).await.opt("tier"),
                below,
                "{} clients",
                clients.len()
            );
            let c = agent.client(&s, &format!("C-{}", clients.len())).await;
            let a = agent
                .ask(
                    &s,
                    &format!(
                        "command=domain.register&request-id=D-{}&domain=client-{}.ru&client={}",
                        clients.len(),
                        clients.len(),
                        support::enc(&c)
                    ),
                )
                .await;
            support::expect(a, 1000);
            clients.push(c);
        }
        let st = agent.standing(&s).await;
        assert_eq!(
            (st.get("value"), st.get("tier")),
            (reach.to_string().as_str(), level)
        );
        // One order in each category, for the first client.
        let client = &clients[0];
        let mut orders = Vec::new();
        for (product, category, percent) in [
            ("shared-web", "hosting", hosting),
            ("ssl-dv", "ssl", ssl),
            ("cloud-vps", "vps", vps),
            ("dedicated-x1", "dedicated", dedicated),
        ] {
            n += 1;
            let charged = agent
                .order(
                    &s,
                    &format!("L-{n}"),
                    product,
                    "month",
                    &format!("203.0.113.{n}"),
                    client,
                )
                .await;
            assert_eq!(charged, "1000.00", "commissions change no price");
            orders.push((category, percent, "1000.00"));
        }
        n += 1;
        let a = agent
            .ask(
                &s,
                &format!(
                    "command=domain.register&request-id=X-{n}&domain=extra-{n}.ru&client={}",
                    support::enc(client)
                ),
            )
            .await;
        support::expect(a, 1000);
        orders.push(("domains", domains, "590.00"));
        // The newest commission entries, one per order, newest first.
        let l = support::expect(agent.ask(&s, "command=commission.list&limit=5").await, 1000);
        let entries = support::elems(&l.body, "commission-entry");
        assert_eq!(entries.len(), 5, "{}", l.body);
        for (e, (category, percent, base)) in entries.iter().zip(orders.iter().rev()) {
            assert_eq!(e.get("kind"), "earned");
            assert_eq!(e.get("category"), *category, "{level}");
            assert_eq!(e.get("percent"), percent.to_string(), "{level} {category}");
            assert_eq!(e.get("tier"), level, "{level} {category}");
            assert_eq!(e.get("base"), *base);
            let cents = support::cents(base) * i64::from(*percent) / 100;
            assert_eq!(support::cents(e.get("amount")), cents, "{level} {category}");
        }
    }
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// Programme A: a partner that prepays 2,800 inside the promotion window registers .ru
/// for 480 (8 c.u.) and renews for 420 (7 c.u.); before that payment, and for a payment
/// outside the window, the catalogue's 590.
#[tokio::test]
async fn programme_a_prices_after_prepaying_2800_for_registration_and_renewal() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (early, outside) = (P("early"), P("outside"));
    let file = programme_listing(dir.path(), "a-special-prices.toml", &[early.0, outside.0]);
    let at = |now: &str| {
        let mut cfg = config(&data, vec![file.clone()]);
        cfg.sandbox.clock = Some(now.parse().unwrap());
        cfg
    };
    // `outside` pays 5,000 in December, before the window opens on 1 January.
    let s = common::start_config(at("2025-12-20T10:00:00Z")).await;
    early.add(&s, "RUB").await;
    outside.add(&s, "RUB").await;
    s.engine().topup(outside.0, "5000.00", "").await.unwrap();
    s.stop().await;

    let s = common::start_config(at("2026-01-15T10:00:00Z")).await;
    // 2,000 inside the window: not yet.
    s.engine().topup(early.0, "2000.00", "").await.unwrap();
    let c = early.client(&s, "C-1").await;
    assert_eq!(early.register(&s, "R-1", "before-a.ru", &c).await, "590.00");
    // 800 more: 2,800 prepaid inside the window. Special prices at once.
    s.engine().topup(early.0, "800.00", "").await.unwrap();
    assert_eq!(early.register(&s, "R-2", "after-a.ru", &c).await, "480.00");
    assert_eq!(early.register(&s, "R-3", "after-a.su", &c).await, "480.00");
    // Renewal: 420 a year, also for the name registered before qualifying.
    for (rid, name) in [("N-1", "after-a.ru"), ("N-2", "before-a.ru")] {
        let a = early
            .ask(
                &s,
                &format!("command=domain.renew&request-id={rid}&domain={name}&period=1&expires=2027-01-15"),
            )
            .await;
        let a = support::expect(a, 1000);
        assert_eq!(
            support::text(&a.body, "charged").unwrap(),
            "420.00",
            "{name}"
        );
    }
    let l = support::expect(early.ask(&s, "command=ledger.list&limit=1").await, 1000);
    let e = support::elem(&l.body, "entry");
    assert_eq!(
        (e.get("amount"), e.get("list-price"), e.get("rule")),
        ("-420.00", "590.00", "a-special-prices")
    );
    // A zone the programme does not list keeps the catalogue price (2,800 − 590 − 2 × 480
    // − 2 × 420 leave 410: one more payment).
    s.engine().topup(early.0, "1000.00", "").await.unwrap();
    assert_eq!(
        early.register(&s, "R-4", "after-a.com", &c).await,
        "1290.00"
    );
    // `outside` paid more, but not inside the window.
    let st = outside.standing(&s).await;
    assert_eq!((st.get("value"), st.get("qualified")), ("0.00", "false"));
    let c = outside.client(&s, "C-1").await;
    assert_eq!(
        outside.register(&s, "R-1", "outside-a.ru", &c).await,
        "590.00"
    );
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// Programme D: the discount rises during the month, as soon as this month's turnover
/// passes the next tier's start, and falls when a month ends below the current tier.
#[tokio::test]
async fn programme_d_rises_within_the_month_and_falls_when_a_month_ends_below() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lic = P("lic");
    let file = programme_listing(dir.path(), "d-licences.toml", &[lic.0]);
    let at = |now: &str| {
        let mut cfg = config(&data, vec![file.clone()]);
        cfg.sandbox.clock = Some(now.parse().unwrap());
        product(&mut cfg, "panel", "licences", "EUR", "100.00", "1000.00");
        cfg
    };
    let s = common::start_config(at("2025-11-10T10:00:00Z")).await;
    lic.add(&s, "EUR").await;
    // Prepaid, so no postpay statement is ever owed.
    s.engine().topup(lic.0, "20000.00", "").await.unwrap();
    let client = lic.client(&s, "C-1").await;
    // November: October's turnover (0.00) is the first tier, 10% off: 100 → 90.
    for (rid, ip) in [("N-1", 1), ("N-2", 2), ("N-3", 3)] {
        assert_eq!(
            lic.order(&s, rid, "panel", "month", &addr(ip), &client)
                .await,
            "90.00"
        );
    }
    s.stop().await;

    // December: November ended at 270.00, "Reseller".
    let s = common::start_config(at("2025-12-05T10:00:00Z")).await;
    let st = lic.standing(&s).await;
    assert_eq!(
        (st.get("value"), st.get("month-to-date"), st.get("tier")),
        ("270.00", "0.00", "Reseller")
    );
    assert_eq!(
        lic.order(&s, "D-1", "panel", "year", &addr(4), &client)
            .await,
        "900.00"
    );
    // December's turnover (900) passed Silver's 500: the next order is Silver, now.
    let st = lic.standing(&s).await;
    assert_eq!(
        (st.get("value"), st.get("month-to-date"), st.get("tier")),
        ("270.00", "900.00", "Silver")
    );
    assert_eq!(
        (st.get("next-tier"), st.get("missing")),
        ("Gold", "1100.00")
    );
    assert_eq!(
        lic.order(&s, "D-2", "panel", "month", &addr(5), &client)
            .await,
        "85.00"
    );
    assert_eq!(
        lic.last_charge(&s).await,
        ("-85.00".into(), "Silver".into(), "15".into())
    );
    let p = support::expect(lic.ask(&s, "command=price.list&product=panel").await, 1000);
    assert!(p.body.contains(r#"period="month" list="100.00" price="85.00" currency="EUR" rule="d-licences" tier="Silver" discount="15"/>"#), "{}", p.body);
    s.stop().await;

    // January: December ended at 985, above Silver's 500: Silver stays all month.
    let s = common::start_config(at("2026-01-02T10:00:00Z")).await;
    let st = lic.standing(&s).await;
    assert_eq!(
        (st.get("value"), st.get("month-to-date"), st.get("tier")),
        ("985.00", "0.00", "Silver")
    );
    assert_eq!(
        lic.order(&s, "J-1", "panel", "month", &addr(6), &client)
            .await,
        "85.00"
    );
    s.stop().await;
    let s = common::start_config(at("2026-01-31T23:00:00Z")).await;
    assert_eq!(lic.standing(&s).await.get("tier"), "Silver");
    s.stop().await;

    // February: January ended at 85, below Silver: back to "Reseller".
    let s = common::start_config(at("2026-02-01T00:00:00Z")).await;
    let st = lic.standing(&s).await;
    assert_eq!(
        (st.get("value"), st.get("tier"), st.get("next-tier")),
        ("85.00", "Reseller", "Silver")
    );
    assert_eq!(
        lic.order(&s, "F-1", "panel", "month", &addr(7), &client)
            .await,
        "90.00"
    );
    assert_eq!(
        lic.last_charge(&s).await,
        ("-90.00".into(), "Reseller".into(), "10".into())
    );
    // Up again within February: 90 + 900 passes Silver (500), then 850 and 850 pass
    // Gold (2000), each order priced at the tier reached before it.
    assert_eq!(
        lic.order(&s, "F-2", "panel", "year", &addr(8), &client)
            .await,
        "900.00"
    );
    assert_eq!(
        lic.order(&s, "F-3", "panel", "year", &addr(9), &client)
            .await,
        "850.00"
    );
    assert_eq!(
        lic.order(&s, "F-4", "panel", "year", &addr(10), &client)
            .await,
        "850.00"
    );
    let st = lic.standing(&s).await;
    assert_eq!(
        (st.get("month-to-date"), st.get("tier")),
        ("2690.00", "Gold")
    );
    assert_eq!(st.opt("next-tier"), None);
    assert_eq!(
        lic.order(&s, "F-5", "panel", "month", &addr(11), &client)
            .await,
        "80.00"
    );
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

fn addr(n: u32) -> String {
    format!("203.0.113.{n}")
}

/// Programme D: a month at the minimum (100 EUR) keeps the status; six months in a row
/// below it lose it (list prices, no tier), and a month back at the minimum restores it.
#[tokio::test]
async fn programme_d_minimum_and_six_months_below_lose_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lic = P("lic");
    let file = programme_listing(dir.path(), "d-licences.toml", &[lic.0]);
    let at = |now: &str| {
        let mut cfg = config(&data, vec![file.clone()]);
        cfg.sandbox.clock = Some(now.parse().unwrap());
        product(&mut cfg, "panel", "licences", "EUR", "100.00", "1000.00");
        product(&mut cfg, "tiny", "licences", "EUR", "50.00", "500.00");
        cfg
    };
    let s = common::start_config(at("2025-06-10T10:00:00Z")).await;
    lic.add(&s, "EUR").await;
    s.engine().topup(lic.0, "5000.00", "").await.unwrap();
    let client = lic.client(&s, "C-1").await;
    // June: one month licence at 10% off, 90.00, and a small one: 45.00. 135 ≥ 100.
    assert_eq!(
        lic.order(&s, "J-1", "panel", "month", "203.0.113.1", &client)
            .await,
        "90.00"
    );
    assert_eq!(
        lic.order(&s, "J-2", "tiny", "month", "203.0.113.2", &client)
            .await,
        "45.00"
    );
    s.stop().await;

    // July: June counted (135.00 at or above the minimum): no month below.
    let s = common::start_config(at("2025-07-03T10:00:00Z")).await;
    let st = lic.standing(&s).await;
    assert_eq!(
        (st.get("value"), st.opt("months-below"), st.opt("status")),
        ("135.00", None, None)
    );
    // July's only order: 45.00, below the minimum.
    assert_eq!(
        lic.order(&s, "Y-1", "tiny", "month", "203.0.113.3", &client)
            .await,
        "45.00"
    );
    s.stop().await;

    // Months below, counted at each month's end: July (45), then August – November (0).
    for (now, below) in [
        ("2025-08-01T00:00:00Z", "1"),
        ("2025-09-15T00:00:00Z", "2"),
        ("2025-12-31T23:59:59Z", "5"),
    ] {
        let s = common::start_config(at(now)).await;
        let st = lic.standing(&s).await;
        assert_eq!(
            (st.get("months-below"), st.opt("status"), st.get("tier")),
            (below, None, "Reseller"),
            "{now}"
        );
        s.stop().await;
    }

    // 1 January: December, the sixth month below, has ended: status lost.
    let s = common::start_config(at("2026-01-01T00:00:00Z")).await;
    let st = lic.standing(&s).await;
    assert_eq!(
        (st.get("months-below"), st.opt("status"), st.opt("tier")),
        ("6", Some("lost"), None)
    );
    let p = support::expect(lic.ask(&s, "command=price.list&product=panel").await, 1000);
    assert!(
        p.body.contains(
            r#"period="month" list="100.00" price="100.00" currency="EUR" rule="catalogue"/>"#
        ),
        "{}",
        p.body
    );
    // Orders are charged list prices, even once this month reaches the minimum: the
    // status comes back only when a month ends at it.
    assert_eq!(
        lic.order(&s, "L-1", "panel", "month", "203.0.113.4", &client)
            .await,
        "100.00"
    );
    assert_eq!(
        lic.order(&s, "L-2", "tiny", "month", "203.0.113.5", &client)
            .await,
        "50.00"
    );
    let (amount, tier, _) = lic.last_charge(&s).await;
    assert_eq!((amount.as_str(), tier.as_str()), ("-50.00", ""));
    assert_eq!(lic.standing(&s).await.opt("status"), Some("lost"));
    s.stop().await;

    // 1 February: January ended at 150, at least the minimum: a reseller again.
    let s = common::start_config(at("2026-02-01T00:00:00Z")).await;
    let st = lic.standing(&s).await;
    assert_eq!(
        (
            st.get("value"),
            st.opt("months-below"),
            st.opt("status"),
            st.get("tier")
        ),
        ("150.00", None, None, "Reseller")
    );
    assert_eq!(
        lic.order(&s, "F-1", "panel", "month", "203.0.113.6", &client)
            .await,
        "90.00"
    );
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}
