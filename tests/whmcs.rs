//! The WHMCS registrar module (`integrations/whmcs/modules/registrars/regway/`) called
//! as WHMCS calls it — each function with WHMCS's `$params` array, under a minimal
//! bootstrap (`tests/harness/whmcs.php`) — against a real gateway on loopback. Needs
//! `php` (`.ci/run` installs it).

mod common;
mod external;
mod process;
mod support;

use common::TestServer;
use external::orders_of;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use support::*;

/// WHMCS's parameters for one domain: the module's settings, the domain, its contact.
fn params(url: &str, password: &str, domainid: u32, sld: &str, tld: &str) -> Value {
    json!({
        "ApiUrl": url,
        "Login": "demo",
        "Password": password,
        "domainid": domainid,
        "userid": 7,
        "sld": sld,
        "tld": tld,
        "regperiod": 1,
        "ns1": "ns1.hosting.net",
        "ns2": "ns2.hosting.net",
        "ns3": "",
        "ns4": "",
        "ns5": "",
        "firstname": "Anna",
        "lastname": "Smirnova",
        "fullname": "Anna Smirnova",
        "companyname": "",
        "email": "anna@example.net",
        "address1": "Lenina 1",
        "address2": "",
        "city": "Kazan",
        "state": "Tatarstan",
        "fullstate": "Tatarstan",
        "postcode": "420000",
        "countrycode": "RU",
        "countryname": "Russia",
        "phonenumber": "8431234567",
        "phonecc": "7",
        "fullphonenumber": "+7.8431234567",
    })
}

fn success(result: &Value) -> bool {
    result == &json!({"success": true})
}

/// The module-log entry of one gateway command.
fn logged<'a>(log: &'a [Value], action: &str) -> &'a Value {
    log.iter()
        .find(|e| e[1] == action)
        .unwrap_or_else(|| panic!("no {action} in {log:?}"))
}

async fn domain_orders(s: &TestServer, domain: &str) -> Vec<El> {
    orders(s)
        .await
        .into_iter()
        .rev()
        .filter(|o| o.opt("domain") == Some(domain))
        .collect()
}

async fn charges(s: &TestServer, order: &str) -> usize {
    ledger(s)
        .await
        .iter()
        .filter(|e| e.get("kind") == "charge" && e.opt("order") == Some(order))
        .count()
}

/// RegisterDomain run twice: one charge, and the second is a replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_twice_charges_once_and_replays() {
    if !external::require("php") {
        return;
    }
    let s = common::start().await;
    let p = params(&s.url, common::PASSWORD, 42, "whmcs-shop", "ru");
    let (result, log) = external::whmcs("RegisterDomain", &p, None).await;
    assert!(success(&result), "{result}");
    let register = logged(&log, "RegisterDomain domain.register");
    assert_eq!(register[0], "regway");
    assert!(
        register[2].as_str().unwrap().starts_with(
            "command=domain.register&request-id=whmcs-42-reg&domain=whmcs-shop.ru&period=1&client="
        ),
        "{register}"
    );
    assert_eq!(register[4], "1000 Command completed successfully");

    let (result, log) = external::whmcs("RegisterDomain", &p, None).await;
    assert!(success(&result), "{result}");
    assert_eq!(
        logged(&log, "RegisterDomain domain.register")[4],
        "1000 Command completed successfully (replayed)"
    );
    assert_eq!(
        logged(&log, "RegisterDomain client.create")[4],
        "1000 Command completed successfully (replayed)"
    );

    let orders = domain_orders(&s, "whmcs-shop.ru").await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0].get("request-id"), "whmcs-42-reg");
    assert_eq!(charges(&s, orders[0].get("id")).await, 1);
    let info = expect(
        s.form("command=domain.info&domain=whmcs-shop.ru").await,
        1000,
    );
    let client = elem(&info.body, "domain").get("client").to_string();
    let c = expect(
        s.form(&format!("command=client.info&client={}", enc(&client)))
            .await,
        1000,
    );
    assert!(c.body.contains("<name>Anna Smirnova</name>"), "{}", c.body);
    assert!(
        c.body.contains("<phone>+7.8431234567</phone>"),
        "{}",
        c.body
    );
    assert!(
        c.body
            .contains("<address>Lenina 1, Kazan, Tatarstan, 420000</address>"),
        "{}",
        c.body
    );
    assert_eq!(balance(&s).await, "9410.00");
    s.stop().await;
}

/// The gateway is killed while RegisterDomain waits for the registry; WHMCS gets an
/// error. After a restart, running Register again gets the order's final answer: one
/// order at the gateway, settled once, charged once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_killed_during_register_then_rerun_settles_once() {
    if !external::require("php") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("regway.log");
    let http = reqwest::Client::new();
    let server = process::serve_env(
        &data,
        &log,
        &http,
        &[("REGWAY_SANDBOX_LATENCY_MS", "4000".into())],
    )
    .await;
    let p = params(&server.api(), common::PASSWORD, 43, "killed-whmcs", "ru");
    let api = server.api();
    let watcher = http.clone();
    let ((first, _), ()) = tokio::join!(external::whmcs("RegisterDomain", &p, None), async move {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(a) = process::post(&watcher, &api, "command=order.list".into()).await {
                if elems(&a.body, "order")
                    .iter()
                    .any(|o| o.opt("request-id") == Some("whmcs-43-reg"))
                {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the order never reached the gateway"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.kill();
    });
    let text = first["error"].as_str().unwrap_or_else(|| panic!("{first}"));
    assert!(
        text.starts_with("regway: the gateway did not answer"),
        "{text}"
    );
    assert!(text.contains("it will not be charged twice"), "{text}");

    let server = process::serve(&data, &log, &http).await;
    let p = params(&server.api(), common::PASSWORD, 43, "killed-whmcs", "ru");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (result, _) = external::whmcs("RegisterDomain", &p, None).await;
        if success(&result) {
            break;
        }
        assert!(
            result["error"]
                .as_str()
                .unwrap()
                .contains("still pending at the gateway"),
            "{result}"
        );
        assert!(Instant::now() < deadline, "never settled: {result}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let orders = process::walk_as(
        &http,
        &server.api(),
        common::LOGIN,
        common::PASSWORD,
        "order.list",
        "order",
    )
    .await;
    let mine: Vec<_> = orders
        .iter()
        .filter(|o| o.opt("domain") == Some("killed-whmcs.ru"))
        .collect();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].get("state"), "completed");
    let state_of = orders
        .iter()
        .filter(|o| o.get("amount") != "0.00")
        .map(|o| (o.get("id").to_string(), o.get("state").to_string()))
        .collect();
    let paid = process::audit_money(
        &http,
        &server.api(),
        common::LOGIN,
        common::PASSWORD,
        &state_of,
        cents("10000.00"),
    )
    .await;
    assert_eq!(paid, cents("590.00"));
    drop(server);
}

/// Every new order pending: RegisterDomain answers an error first, and succeeds when run
/// again after the order has settled; Sync meanwhile says it is pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_order_is_an_error_then_success_on_rerun() {
    if !external::require("php") {
        return;
    }
    let s = common::start_with(|c| {
        c.sandbox.faults.pending_percent = 100;
        c.sandbox.faults.pending_ms = 1000;
        c.reconcile_interval_ms = 200;
    })
    .await;
    let p = params(&s.url, common::PASSWORD, 44, "pending-whmcs", "ru");
    let (result, _) = external::whmcs("RegisterDomain", &p, None).await;
    let text = result["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{result}"));
    assert!(
        text.starts_with("regway: order ") && text.contains("(request-id whmcs-44-reg) is still pending at the gateway; run the action again later"),
        "{text}"
    );
    let (sync, _) = external::whmcs("Sync", &p, None).await;
    assert_eq!(
        sync,
        json!({"error": "regway: the registration is still pending at the gateway"})
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = expect(
            s.form("command=order.info&request-id=whmcs-44-reg").await,
            1000,
        );
        if elem(&a.body, "order").get("state") == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "the order never completed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (result, _) = external::whmcs("RegisterDomain", &p, None).await;
    assert!(success(&result), "{result}");
    let orders = domain_orders(&s, "pending-whmcs.ru").await;
    assert_eq!(orders.len(), 1);
    assert_eq!(charges(&s, orders[0].get("id")).await, 1);
    s.stop().await;
}

/// A wrong password: WHMCS's error shape with the gateway's message; the password is
/// only in the list WHMCS masks, never in the result or a logged request or answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_gives_the_gateways_message_and_no_secret() {
    if !external::require("php") {
        return;
    }
    let secret = "Wr0ng-S3cret-Passw0rd";
    let s = common::start().await;
    let p = params(&s.url, secret, 45, "secret-whmcs", "ru");
    for function in ["RegisterDomain", "RenewDomain", "GetNameservers", "Sync"] {
        let (result, log) = external::whmcs(function, &p, None).await;
        assert_eq!(
            result,
            json!({"error": "regway: authentication failed (2200)"}),
            "{function}"
        );
        assert!(!log.is_empty());
        for entry in &log {
            for field in &entry.as_array().unwrap()[..5] {
                assert!(
                    !field.to_string().contains(secret),
                    "{function} logs the password: {entry}"
                );
            }
            assert_eq!(entry[5], json!([secret]), "WHMCS is told to mask it");
        }
    }
    s.stop().await;
}

/// The gateway's auto-renewal moved the expiry before WHMCS's renewal: RenewDomain
/// renews nothing more. A later renewal, run twice, renews once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn renew_after_an_auto_renewal_renews_once() {
    if !external::require("php") {
        return;
    }
    let s = common::start().await;
    let p = params(&s.url, common::PASSWORD, 46, "renew-whmcs", "com");
    let (result, _) = external::whmcs("RegisterDomain", &p, None).await;
    assert!(success(&result), "{result}");
    expect(
        s.form(
            "command=domain.set-autorenew&request-id=A-46&domain=renew-whmcs.com&auto-renew=true",
        )
        .await,
        1000,
    );
    let s = s.restart_at("2026-12-20T03:00:00Z").await;
    assert_eq!(s.engine().daily(30, 3).await.unwrap().renewed, 1);

    let p = params(&s.url, common::PASSWORD, 46, "renew-whmcs", "com");
    for _ in 0..2 {
        let (result, log) = external::whmcs("RenewDomain", &p, Some("2027-01-15")).await;
        assert!(success(&result), "{result}");
        assert!(
            log.iter().all(|e| e[1] != "RenewDomain domain.renew"),
            "{log:?}"
        );
    }
    let all = orders(&s).await;
    assert_eq!(
        orders_of(&all, "domain.renew").len(),
        1,
        "only the auto-renewal"
    );
    let (sync, _) = external::whmcs("Sync", &p, None).await;
    assert_eq!(
        sync,
        json!({"expirydate": "2028-01-15", "active": true, "expired": false, "transferredAway": false})
    );

    for _ in 0..2 {
        let (result, _) = external::whmcs("RenewDomain", &p, Some("2028-01-15")).await;
        assert!(success(&result), "{result}");
    }
    let all = orders(&s).await;
    let renewals = orders_of(&all, "domain.renew");
    assert_eq!(renewals.len(), 2, "{renewals:?}");
    assert_eq!(renewals[1].get("request-id"), "whmcs-46-renew-2028-01-15");
    assert_eq!(charges(&s, renewals[1].get("id")).await, 1);
    let info = expect(
        s.form("command=domain.info&domain=renew-whmcs.com").await,
        1000,
    );
    assert_eq!(elem(&info.body, "domain").get("expires"), "2029-01-15");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// GetNameservers, SaveNameservers (twice: one change), Sync and CheckAvailability.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nameservers_sync_and_availability() {
    if !external::require("php") {
        return;
    }
    let s = common::start().await;
    let mut p = params(&s.url, common::PASSWORD, 47, "ns-whmcs", "ru");
    let (result, _) = external::whmcs("RegisterDomain", &p, None).await;
    assert!(success(&result), "{result}");

    let (ns, _) = external::whmcs("GetNameservers", &p, None).await;
    assert_eq!(
        ns,
        json!({"ns1": "ns1.hosting.net", "ns2": "ns2.hosting.net", "ns3": "", "ns4": "", "ns5": ""})
    );

    p["ns1"] = json!("ns1.ns-whmcs.ru 192.0.2.10");
    p["ns2"] = json!("ns2.other.net");
    p["ns3"] = json!("ns3.other.net");
    for _ in 0..2 {
        let (result, _) = external::whmcs("SaveNameservers", &p, None).await;
        assert!(success(&result), "{result}");
    }
    let all = orders(&s).await;
    assert_eq!(orders_of(&all, "domain.set-ns").len(), 1);
    let (ns, _) = external::whmcs("GetNameservers", &p, None).await;
    assert_eq!(
        ns,
        json!({"ns1": "ns1.ns-whmcs.ru", "ns2": "ns2.other.net", "ns3": "ns3.other.net", "ns4": "", "ns5": ""})
    );

    let (sync, _) = external::whmcs("Sync", &p, None).await;
    assert_eq!(
        sync,
        json!({"expirydate": "2027-01-15", "active": true, "expired": false, "transferredAway": false})
    );

    p["searchTerm"] = json!("ns-whmcs");
    p["punyCodeSearchTerm"] = json!("ns-whmcs");
    p["isIdnDomain"] = json!(false);
    p["tldsToInclude"] = json!([".ru", ".com", ".io"]);
    let (lookup, _) = external::whmcs("CheckAvailability", &p, None).await;
    assert_eq!(
        lookup,
        json!({"lookup": [
            {"sld": "ns-whmcs", "tld": ".ru", "status": "registered"},
            {"sld": "ns-whmcs", "tld": ".com", "status": "available for registration"},
            {"sld": "ns-whmcs", "tld": ".io", "status": "invalid tld"},
        ]})
    );

    let (gone, _) = external::whmcs(
        "GetNameservers",
        &params(&s.url, common::PASSWORD, 48, "never-registered", "ru"),
        None,
    )
    .await;
    assert_eq!(
        gone,
        json!({"error": "regway: never-registered.ru is not registered here (2303)"})
    );
    s.stop().await;
}
