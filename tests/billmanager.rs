//! The BILLmanager processing module (`integrations/billmanager/`) run exactly as
//! BILLmanager runs it — its command lines and stdin — against a real gateway on
//! loopback, with a stand-in `mgrctl` that records every report and answers canned XML.
//! Needs `php` (`.ci/run` installs it).

mod common;
mod external;
mod process;
mod support;

use common::TestServer;
use external::{funcs, orders_of, Call, Mgrctl};
use std::time::{Duration, Instant};
use support::*;

const MODULE: &str = "7";
const PROFILE: &str = "55";

fn module_xml(url: &str, password: &str, license_client: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc><url>{url}</url><login>demo</login>\
         <password>{password}</password><license_client>{license_client}</license_client></doc>\n"
    )
}

/// A domain item as `domain.edit elid=ITEM` answers it.
fn domain_xml(name: &str, expiredate: &str, ns: &[&str]) -> String {
    let mut ns_xml = String::new();
    for (i, n) in ns.iter().enumerate() {
        ns_xml.push_str(&format!("<ns{i}>{n}</ns{i}>"));
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc><domain>{name}</domain><period>12</period>\
         <expiredate>{expiredate}</expiredate><processingmodule>{MODULE}</processingmodule>\
         <service_profile_owner>{PROFILE}</service_profile_owner>{ns_xml}<ns_additional/></doc>\n"
    )
}

const PROFILE_XML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc>\
    <profiletype>1</profiletype><firstname>Ivan</firstname><lastname>Petrov</lastname>\
    <firstname_locale>Иван</firstname_locale><lastname_locale>Петров</lastname_locale>\
    <email>ivan@example.net</email><phone>+7 495 1234567</phone><location_country>182</location_country>\
    <location_postcode>101000</location_postcode><location_city>Moscow</location_city>\
    <location_address>Tverskaya 1</location_address><passport>4500 123456</passport>\
    <slist name=\"location_country\"><val key=\"182\" image=\"/manimg/common/flag/RU.png\">Russia</val></slist>\
    </doc>\n";

/// A stand-in BILLmanager whose module 7 points at `url`.
fn billmanager(url: &str, password: &str) -> Mgrctl {
    let m = Mgrctl::new();
    m.answer(
        "processing.edit",
        Some(MODULE),
        &module_xml(url, password, ""),
    );
    m.answer("service_profile.edit", Some(PROFILE), PROFILE_XML);
    m
}

fn out(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "pmregway exited {}: {}\n{}",
        o.status,
        external::stdout(o),
        external::stderr(o)
    );
    external::stdout(o)
}

fn is_ok(doc: &str) -> bool {
    doc.contains("<doc><ok/></doc>")
}

#[track_caller]
fn assert_ok(doc: &str, m: &Mgrctl) {
    assert!(
        is_ok(doc),
        "not ok:\n{doc}\nmodule log:\n{}",
        m.module_log()
    );
}

fn find<'a>(calls: &'a [Call], func: &str) -> Vec<&'a Call> {
    calls.iter().filter(|c| c.func == func).collect()
}

async fn open(m: &Mgrctl, item: &str, operation: &str) -> String {
    out(&m
        .pmregway(
            &[
                "--command",
                "open",
                "--item",
                item,
                "--runningoperation",
                operation,
            ],
            "",
        )
        .await)
}

/// The demo partner's orders for `domain`, oldest first.
async fn domain_orders(s: &TestServer, domain: &str) -> Vec<El> {
    orders(s)
        .await
        .into_iter()
        .rev()
        .filter(|o| o.opt("domain") == Some(domain))
        .collect()
}

/// How many ledger charges `order` has.
async fn charges(s: &TestServer, order: &str) -> usize {
    ledger(s)
        .await
        .iter()
        .filter(|e| e.get("kind") == "charge" && e.opt("order") == Some(order))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn features_contact_type_and_check_connection() {
    if !external::require("php") {
        return;
    }
    let s = common::start().await;
    let m = billmanager(&s.url, common::PASSWORD);

    let features = out(&m.pmregway(&["--command", "features"], "").await);
    assert!(features
        .contains("<itemtypes><itemtype name=\"domain\"/><itemtype name=\"soft\"/></itemtypes>"));
    assert!(features.contains(
        "<params><param name=\"url\"/><param name=\"login\"/><param name=\"password\" crypted=\"yes\"/>"
    ));
    for f in [
        "check_connection",
        "get_contact_type",
        "open",
        "prolong",
        "update_ns",
        "sync_item",
        "suspend",
        "resume",
        "close",
        "import",
    ] {
        assert!(
            features.contains(&format!("<feature name=\"{f}\"/>")),
            "{f}: {features}"
        );
    }

    let contact = out(&m
        .pmregway(&["--command", "get_contact_type", "--tld", "ru"], "")
        .await);
    assert!(
        contact.contains("<doc ns=\"require\"><contact_type>owner</contact_type></doc>"),
        "{contact}"
    );

    let stdin = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<doc><processingmodule><url>{}</url>\
         <login>demo</login><password>demo-password</password></processingmodule></doc>\n",
        s.url
    );
    let checked = out(&m.pmregway(&["--command", "check_connection"], &stdin).await);
    assert_ok(&checked, &m);
    assert!(m.calls().is_empty(), "{:?}", m.calls());
    s.stop().await;
}

/// `open` run twice: one client, one order, one charge; the second run replays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_twice_charges_once_and_replays() {
    if !external::require("php") {
        return;
    }
    let s = common::start().await;
    let m = billmanager(&s.url, common::PASSWORD);
    m.answer(
        "domain.edit",
        Some("117"),
        &domain_xml(
            "пример-магазина.рф",
            "",
            &["ns1.hosting.net", "ns2.пример-магазина.рф/192.0.2.7"],
        ),
    );

    assert_ok(&open(&m, "117", "900").await, &m);
    let calls = m.take();
    assert_eq!(
        funcs(&calls),
        [
            "domain.edit",
            "processing.edit",
            "service_profile2processingmodule",
            "service_profile.edit",
            "service_profile2processingmodule.edit",
            "domain.open",
            "service.setexpiredate",
        ],
        "{calls:?}"
    );
    let saved = find(&calls, "service_profile2processingmodule.edit")[0];
    assert_eq!(saved.get("service_profile"), PROFILE);
    assert_eq!(saved.get("processingmodule"), MODULE);
    let handle = saved.get("externalid").to_string();
    assert_eq!(find(&calls, "domain.open")[0].get("elid"), "117");
    assert_eq!(find(&calls, "domain.open")[0].get("sok"), "ok");
    assert_eq!(
        find(&calls, "service.setexpiredate")[0].get("expiredate"),
        "2027-01-15"
    );

    let name = "xn----8sbaanjscg7acrpod.xn--p1ai";
    let info = expect(
        s.form(&format!("command=domain.info&domain={name}")).await,
        1000,
    );
    assert_eq!(elem(&info.body, "domain").get("client"), handle);
    assert_eq!(
        elems(&info.body, "ns")
            .iter()
            .map(|n| n.text.clone().unwrap())
            .collect::<Vec<_>>(),
        [
            "ns1.hosting.net",
            "ns2.xn----8sbaanjscg7acrpod.xn--p1ai 192.0.2.7"
        ]
    );
    let client = expect(
        s.form(&format!("command=client.info&client={}", enc(&handle)))
            .await,
        1000,
    );
    assert!(
        client.body.contains("<name>Ivan Petrov</name>"),
        "{}",
        client.body
    );
    assert!(
        client.body.contains("<country>RU</country>"),
        "{}",
        client.body
    );
    assert!(
        client
            .body
            .contains("<address>101000, Moscow, Tverskaya 1</address>"),
        "{}",
        client.body
    );

    // BILLmanager runs the operation again (a re-run by hand): the gateway replays.
    assert_ok(&open(&m, "117", "901").await, &m);
    let again = m.take();
    assert_eq!(
        funcs(&again),
        [
            "domain.edit",
            "processing.edit",
            "service_profile2processingmodule",
            "domain.open",
            "service.setexpiredate",
        ],
        "the saved external id names the client: {again:?}"
    );
    assert!(
        m.module_log()
            .contains("domain.register bm-117-open: 1000 (replayed)"),
        "{}",
        m.module_log()
    );

    let orders = domain_orders(&s, name).await;
    assert_eq!(orders.len(), 1, "{orders:?}");
    assert_eq!(orders[0].get("request-id"), "bm-117-open");
    assert_eq!(charges(&s, orders[0].get("id")).await, 1);
    assert_eq!(balance(&s).await, "9410.00");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// The gateway is killed while `open` waits for the registry; BILLmanager gets a
/// temporary error. After a restart the re-run gets the order's final answer: one order
/// at the gateway, settled once, charged once, and one `domain.open`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_killed_during_open_then_rerun_settles_once() {
    if !external::require("php") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("regway.log");
    let http = reqwest::Client::new();
    // The registry takes 4 s to answer: time to kill the gateway in the middle.
    let server = process::serve_env(
        &data,
        &log,
        &http,
        &[("REGWAY_SANDBOX_LATENCY_MS", "4000".into())],
    )
    .await;
    let m = billmanager(&server.api(), common::PASSWORD);
    m.answer(
        "domain.edit",
        Some("301"),
        &domain_xml(
            "killed-shop.ru",
            "",
            &["ns1.hosting.net", "ns2.hosting.net"],
        ),
    );

    let api = server.api();
    let watcher = http.clone();
    let (first, ()) = tokio::join!(
        m.pmregway(
            &[
                "--command",
                "open",
                "--item",
                "301",
                "--runningoperation",
                "950"
            ],
            "",
        ),
        async move {
            // SIGKILL once the order is at the registry (accepted, paid, submitted).
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(a) = process::post(&watcher, &api, "command=order.list".into()).await {
                    if elems(&a.body, "order")
                        .iter()
                        .any(|o| o.opt("request-id") == Some("bm-301-open"))
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
        }
    );
    let first = out(&first);
    let error = elem(&first, "error");
    assert_eq!(error.get("type"), "regway_temporary", "{first}");
    assert!(first.contains("the gateway did not answer"), "{first}");
    let calls = m.take();
    assert!(find(&calls, "domain.open").is_empty(), "{calls:?}");
    assert!(
        find(&calls, "runningoperation.setmanual").is_empty(),
        "{calls:?}"
    );
    assert_eq!(find(&calls, "runningoperation.edit")[0].get("elid"), "950");

    // A new gateway process on the same data; it settles the interrupted order.
    let server = process::serve(&data, &log, &http).await;
    m.answer(
        "processing.edit",
        Some(MODULE),
        &module_xml(&server.api(), common::PASSWORD, ""),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut runs = 0;
    loop {
        runs += 1;
        let doc = out(&m
            .pmregway(
                &[
                    "--command",
                    "open",
                    "--item",
                    "301",
                    "--runningoperation",
                    "951",
                ],
                "",
            )
            .await);
        if is_ok(&doc) {
            break;
        }
        assert_eq!(elem(&doc, "error").get("type"), "regway_temporary", "{doc}");
        assert!(Instant::now() < deadline, "never settled: {doc}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let calls = m.take();
    assert_eq!(
        find(&calls, "domain.open").len(),
        1,
        "{runs} runs: {calls:?}"
    );

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
        .filter(|o| o.opt("domain") == Some("killed-shop.ru"))
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

/// Every new order pending at the registry: the first `open` reports a temporary error
/// (no manual re-run, no `domain.open`); the re-run once the order has settled succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_order_is_a_temporary_error_then_success_on_rerun() {
    if !external::require("php") {
        return;
    }
    let s = common::start_with(|c| {
        c.sandbox.faults.pending_percent = 100;
        c.sandbox.faults.pending_ms = 1000;
        c.reconcile_interval_ms = 200;
    })
    .await;
    let m = billmanager(&s.url, common::PASSWORD);
    m.answer(
        "domain.edit",
        Some("402"),
        &domain_xml(
            "pending-shop.ru",
            "",
            &["ns1.hosting.net", "ns2.hosting.net"],
        ),
    );

    let first = open(&m, "402", "960").await;
    let error = elem(&first, "error");
    assert_eq!(error.get("type"), "regway_temporary", "{first}");
    assert_eq!(error.get("object"), "domain.register");
    assert!(first.contains("is still pending at the gateway"), "{first}");
    assert!(
        first.contains("<param name=\"code\">1001</param>"),
        "{first}"
    );
    let calls = m.take();
    assert!(find(&calls, "domain.open").is_empty(), "{calls:?}");
    assert!(
        find(&calls, "runningoperation.setmanual").is_empty(),
        "{calls:?}"
    );
    let edit = find(&calls, "runningoperation.edit");
    assert_eq!(edit.len(), 1);
    assert_eq!(edit[0].get("elid"), "960");
    assert!(edit[0].get("errorxml").contains("regway_temporary"));

    // Until the registry has carried it out, a re-run is still temporary.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let a = expect(
            s.form("command=order.info&request-id=bm-402-open").await,
            1000,
        );
        if elem(&a.body, "order").get("state") == "completed" {
            break;
        }
        assert!(Instant::now() < deadline, "the order never completed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_ok(&open(&m, "402", "960").await, &m);
    let calls = m.take();
    assert_eq!(find(&calls, "domain.open").len(), 1, "{calls:?}");
    let orders = domain_orders(&s, "pending-shop.ru").await;
    assert_eq!(orders.len(), 1);
    assert_eq!(charges(&s, orders[0].get("id")).await, 1);
    s.stop().await;
}

/// A wrong password: BILLmanager's error document with the gateway's message, reported
/// to the running operation as needing a person; the password appears nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_gives_the_gateways_message_and_no_secret() {
    if !external::require("php") {
        return;
    }
    let secret = "Wr0ng-S3cret-Passw0rd";
    let s = common::start().await;
    let m = billmanager(&s.url, secret);
    m.answer(
        "domain.edit",
        Some("503"),
        &domain_xml("secret-shop.ru", "", &[]),
    );

    let doc = open(&m, "503", "970").await;
    let error = elem(&doc, "error");
    assert_eq!(error.get("type"), "regway", "{doc}");
    assert_eq!(error.get("object"), "client.create", "{doc}");
    assert!(
        doc.contains("<param name=\"value\">regway: authentication failed (2200)</param>"),
        "{doc}"
    );
    assert!(doc.contains("<param name=\"code\">2200</param>"), "{doc}");
    let calls = m.take();
    assert_eq!(
        funcs(&calls)[funcs(&calls).len() - 4..],
        [
            "runningoperation.edit",
            "runningoperation.setmanual",
            "task.gettype",
            "task.edit"
        ],
        "{calls:?}"
    );
    assert_eq!(
        find(&calls, "runningoperation.setmanual")[0].get("elid"),
        "970"
    );
    let task = find(&calls, "task.edit")[0];
    assert_eq!(
        (
            task.get("item"),
            task.get("runningoperation"),
            task.get("type")
        ),
        ("503", "970", "registrar")
    );
    assert!(find(&calls, "domain.open").is_empty());

    // integrations/README.md shows this error document as it is.
    let readme = std::fs::read_to_string(external::root().join("integrations/README.md")).unwrap();
    let shown = doc.lines().find(|l| l.starts_with("<doc>")).unwrap();
    assert!(
        readme.contains(shown),
        "integrations/README.md should show:\n{shown}"
    );

    let stdin = format!(
        "<doc><processingmodule><url>{}</url><login>demo</login><password>{secret}</password>\
         </processingmodule></doc>",
        s.url
    );
    let checked = out(&m.pmregway(&["--command", "check_connection"], &stdin).await);
    assert!(
        checked.contains("regway: authentication failed (2200)"),
        "{checked}"
    );
    for (what, text) in [
        ("open", doc.as_str()),
        ("check_connection", checked.as_str()),
        ("mgrctl calls", &m.raw()),
        ("module log", &m.module_log()),
    ] {
        assert!(!text.contains(secret), "{what} shows the password:\n{text}");
    }
    s.stop().await;
}

/// The gateway's auto-renewal moved the expiry before BILLmanager's `prolong`: the
/// module renews nothing more and takes the gateway's date. A later `prolong`, run
/// twice, renews once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prolong_after_an_auto_renewal_renews_once() {
    if !external::require("php") {
        return;
    }
    let s = common::start().await;
    let m = billmanager(&s.url, common::PASSWORD);
    m.answer(
        "domain.edit",
        Some("604"),
        &domain_xml("renew-shop.ru", "", &["ns1.hosting.net", "ns2.hosting.net"]),
    );
    assert_ok(&open(&m, "604", "980").await, &m);
    m.take();
    expect(
        s.form(
            "command=domain.set-autorenew&request-id=A-604&domain=renew-shop.ru&auto-renew=true",
        )
        .await,
        1000,
    );

    // 26 days before expiry the gateway renews by itself.
    let s = s.restart_at("2026-12-20T03:00:00Z").await;
    let r = s.engine().daily(30, 3).await.unwrap();
    assert_eq!(r.renewed, 1);
    m.answer(
        "processing.edit",
        Some(MODULE),
        &module_xml(&s.url, common::PASSWORD, ""),
    );
    m.answer(
        "domain.edit",
        Some("604"),
        &domain_xml(
            "renew-shop.ru",
            "2027-01-15",
            &["ns1.hosting.net", "ns2.hosting.net"],
        ),
    );
    for operation in ["981", "982"] {
        let doc = out(&m
            .pmregway(
                &[
                    "--command",
                    "prolong",
                    "--item",
                    "604",
                    "--runningoperation",
                    operation,
                ],
                "",
            )
            .await);
        assert_ok(&doc, &m);
        let calls = m.take();
        assert_eq!(
            funcs(&calls),
            [
                "domain.edit",
                "processing.edit",
                "service.setexpiredate",
                "service.postprolong"
            ],
            "{calls:?}"
        );
        assert_eq!(calls[2].get("expiredate"), "2028-01-15");
        assert_eq!(calls[3].get("elid"), "604");
    }
    let renewals = orders(&s).await;
    let renewals = orders_of(&renewals, "domain.renew");
    assert_eq!(renewals.len(), 1, "only the auto-renewal: {renewals:?}");

    // BILLmanager now knows 2028-01-15; its next prolong renews once, however often it runs.
    m.answer(
        "domain.edit",
        Some("604"),
        &domain_xml(
            "renew-shop.ru",
            "2028-01-15",
            &["ns1.hosting.net", "ns2.hosting.net"],
        ),
    );
    for operation in ["983", "984"] {
        let doc = out(&m
            .pmregway(
                &[
                    "--command",
                    "prolong",
                    "--item",
                    "604",
                    "--runningoperation",
                    operation,
                ],
                "",
            )
            .await);
        assert_ok(&doc, &m);
        let calls = m.take();
        assert_eq!(
            find(&calls, "service.setexpiredate")[0].get("expiredate"),
            "2029-01-15"
        );
        assert_eq!(find(&calls, "service.postprolong").len(), 1);
    }
    let all = orders(&s).await;
    let renewals = orders_of(&all, "domain.renew");
    assert_eq!(renewals.len(), 2, "{renewals:?}");
    assert_eq!(renewals[1].get("request-id"), "bm-604-renew-2028-01-15");
    assert_eq!(charges(&s, renewals[1].get("id")).await, 1);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// update_ns, sync_item, suspend, resume, close and import report what BILLmanager expects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nameservers_sync_status_and_import() {
    if !external::require("php") {
        return;
    }
    let s = common::start().await;
    let m = billmanager(&s.url, common::PASSWORD);
    m.answer(
        "domain.edit",
        Some("705"),
        &domain_xml("ns-shop.ru", "", &["ns1.hosting.net", "ns2.hosting.net"]),
    );
    assert_ok(&open(&m, "705", "990").await, &m);
    m.take();

    m.answer(
        "domain.edit",
        Some("705"),
        &domain_xml(
            "ns-shop.ru",
            "2027-01-15",
            &["ns1.ns-shop.ru/192.0.2.1", "ns2.other.net"],
        ),
    );
    for _ in 0..2 {
        let doc = out(&m
            .pmregway(&["--command", "update_ns", "--item", "705"], "")
            .await);
        assert_ok(&doc, &m);
        let calls = m.take();
        assert_eq!(
            funcs(&calls),
            ["domain.edit", "processing.edit", "service.postupdatens"]
        );
    }
    let info = expect(s.form("command=domain.info&domain=ns-shop.ru").await, 1000);
    assert!(
        info.body.contains("<ns>ns1.ns-shop.ru 192.0.2.1</ns>"),
        "{}",
        info.body
    );
    let set_ns = orders(&s).await;
    assert_eq!(
        orders_of(&set_ns, "domain.set-ns").len(),
        1,
        "the second run replayed"
    );

    let doc = out(&m
        .pmregway(&["--command", "sync_item", "--item", "705"], "")
        .await);
    assert_ok(&doc, &m);
    let calls = m.take();
    assert_eq!(
        find(&calls, "service.setexpiredate")[0].get("expiredate"),
        "2027-01-15"
    );
    assert_eq!(
        find(&calls, "service.setstatus")[0].get("service_status"),
        "2"
    );

    for (command, func) in [
        ("suspend", "service.postsuspend"),
        ("resume", "service.postresume"),
        ("close", "service.postclose"),
    ] {
        let doc = out(&m
            .pmregway(&["--command", command, "--item", "705"], "")
            .await);
        assert_ok(&doc, &m);
        let calls = m.take();
        assert_eq!(funcs(&calls), [func], "{command}");
        assert_eq!(calls[0].get("elid"), "705");
    }

    // import: every domain of the partner whose zone BILLmanager sells.
    let client = s.client("C-IMPORT").await;
    for n in 0..3 {
        expect(
            register(&s, &format!("IMP-{n}"), &format!("import-{n}.com"), &client).await,
            1000,
        );
    }
    m.answer(
        "tld",
        None,
        "<doc><elem><id>11</id><name>ru</name></elem><elem><id>12</id><name>com</name></elem></doc>",
    );
    m.answer(
        "processing.import.service",
        None,
        "<doc><service_id>8001</service_id></doc>",
    );
    m.answer(
        "processing.import.profile",
        None,
        "<doc><profile_id>66</profile_id></doc>",
    );
    let doc = out(&m
        .pmregway(&["--command", "import", "--module", MODULE], "")
        .await);
    assert_ok(&doc, &m);
    let calls = m.take();
    let services = find(&calls, "processing.import.service");
    let names: Vec<_> = services.iter().map(|c| c.get("domain")).collect();
    assert_eq!(
        names,
        ["import-0.com", "import-1.com", "import-2.com", "ns-shop.ru"]
    );
    assert_eq!(services[0].get("import_pricelist_intname"), "12");
    assert_eq!(services[0].get("expiredate"), "2027-01-15");
    assert_eq!(services[3].get("import_pricelist_intname"), "11");
    let profiles = find(&calls, "processing.import.profile");
    assert_eq!(profiles.len(), 2, "one per client: {calls:?}");
    assert_eq!(profiles[0].get("externalid"), client);
    assert_eq!(find(&calls, "service_profile2item.edit").len(), 4);

    let doc = out(&m
        .pmregway(
            &[
                "--command",
                "import",
                "--module",
                MODULE,
                "--searchstring",
                "import-1.com",
            ],
            "",
        )
        .await);
    assert_ok(&doc, &m);
    assert_eq!(find(&m.take(), "processing.import.service").len(), 1);
    s.stop().await;
}

/// Software items: open, prolong and an IP change become license.order, license.renew
/// and license.set-ip.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn licences_open_prolong_and_change_ip() {
    if !external::require("php") {
        return;
    }
    let s = common::start().await;
    let client = s.client("C-LIC").await;
    let m = Mgrctl::new();
    m.answer(
        "processing.edit",
        Some(MODULE),
        &module_xml(&s.url, common::PASSWORD, &client),
    );
    let soft = |ip: &str, expiredate: &str, license: &str| {
        format!(
            "<doc><ip>{ip}</ip><period>1</period><expiredate>{expiredate}</expiredate>\
             <processingmodule>{MODULE}</processingmodule><pricelist>31</pricelist>\
             <regway_license>{license}</regway_license></doc>"
        )
    };
    m.answer("soft.edit", Some("808"), &soft("203.0.113.10", "", ""));
    m.answer(
        "pricelist.edit",
        Some("31"),
        "<doc><intname>ispmanager6-lite</intname></doc>",
    );
    let doc = out(&m
        .pmregway(
            &["--command", "open", "--item", "808", "--itemtype", "soft"],
            "",
        )
        .await);
    assert_ok(&doc, &m);
    let calls = m.take();
    assert_eq!(
        funcs(&calls),
        [
            "soft.edit",
            "processing.edit",
            "pricelist.edit",
            "service.saveparam",
            "soft.open",
            "service.setexpiredate"
        ]
    );
    let license = calls[3].get("value").to_string();
    assert_eq!(calls[3].get("name"), "regway_license");
    assert_eq!(calls[5].get("expiredate"), "2026-02-15");

    // prolong, the licence id found by the order's request-id (nothing saved on the item).
    m.answer(
        "soft.edit",
        Some("808"),
        &soft("203.0.113.10", "2026-02-15", ""),
    );
    for _ in 0..2 {
        let doc = out(&m
            .pmregway(
                &[
                    "--command",
                    "prolong",
                    "--item",
                    "808",
                    "--itemtype",
                    "soft",
                ],
                "",
            )
            .await);
        assert_ok(&doc, &m);
        let calls = m.take();
        assert_eq!(
            find(&calls, "service.setexpiredate")[0].get("expiredate"),
            "2026-03-15"
        );
    }
    let all = orders(&s).await;
    assert_eq!(orders_of(&all, "license.renew").len(), 1);

    m.answer(
        "soft.edit",
        Some("808"),
        &soft("198.51.100.7", "2026-03-15", &license),
    );
    let doc = out(&m
        .pmregway(
            &[
                "--command",
                "setparam",
                "--item",
                "808",
                "--itemtype",
                "soft",
            ],
            "",
        )
        .await);
    assert_ok(&doc, &m);
    assert_eq!(funcs(&m.take()).last(), Some(&"service.postsetparam"));
    let info = expect(
        s.form(&format!("command=license.info&license={license}"))
            .await,
        1000,
    );
    assert_eq!(elem(&info.body, "license").get("ip"), "198.51.100.7");
    s.stop().await;
}
