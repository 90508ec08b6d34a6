//! The PostgreSQL store: configuration, migrations, TLS, and several nodes on one
//! database racing for the same money and the same request-ids. Each test has a
//! database of its own (tests/common/postgres.rs).

mod common;
mod process;
mod support;

use common::postgres::{query_text, TestDatabase};
use common::{Answer, TestServer};
use regway::config::{Config, DatabaseUrl, StoreKind};
use regway::store::Store;
use std::collections::BTreeMap;
use std::sync::Arc;
use support::*;

fn database(test: &str) -> Option<Arc<TestDatabase>> {
    TestDatabase::create(test).map(Arc::new)
}

/// Sends each (node, body) at once as `login` and returns the answers in order.
async fn all_at_once(
    jobs: Vec<(Arc<TestServer>, String)>,
    login: &str,
    password: &str,
) -> Vec<Answer> {
    let tasks: Vec<_> = jobs
        .into_iter()
        .map(|(s, b)| {
            let (l, p) = (login.to_string(), password.to_string());
            tokio::spawn(async move { s.form_as(&l, &p, &b).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.expect("request task"));
    }
    out
}

#[test]
fn the_store_is_sled_unless_a_database_is_named() {
    let mut cfg = Config::default();
    assert_eq!(cfg.store_kind(), StoreKind::Sled);
    cfg.apply_env(|k| (k == "REGWAY_DATABASE_URL").then(|| "postgres://h/db".to_string()))
        .unwrap();
    assert_eq!(cfg.store_kind(), StoreKind::Postgres);
    cfg.validate().unwrap();
    // The URL may carry a password: never printed.
    cfg.database_url = Some(DatabaseUrl("postgres://u:secret@h/db".into()));
    assert!(!format!("{cfg:?}").contains("secret"));

    let mut cfg = Config::default();
    cfg.apply_env(|k| (k == "REGWAY_STORE").then(|| "postgres".to_string()))
        .unwrap();
    let e = cfg.validate().unwrap_err();
    assert!(e.message.contains("database_url"), "{e}");
    cfg.store = Some(StoreKind::Sled);
    cfg.database_url = Some(DatabaseUrl("postgres://h/db".into()));
    assert!(cfg.validate().is_err());
    let bad = Config::default().apply_env(|k| (k == "REGWAY_STORE").then(|| "mysql".into()));
    assert!(bad.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_run_at_start_and_a_newer_schema_is_refused() {
    let Some(db) = database("migrations_run_at_start_and_a_newer_schema_is_refused") else {
        return;
    };
    let store = Store::open_postgres(&db.url, 64).unwrap();
    let id = store.id().to_string();
    let latest = regway::store::postgres_schema_version();
    assert_eq!(
        query_text(&db.url, "SELECT max(version) FROM regway_schema").unwrap(),
        latest.to_string()
    );
    drop(store);
    // Opened again: nothing to migrate, the same store.
    let store = Store::open_postgres(&db.url, 64).unwrap();
    assert_eq!(store.id(), id);
    drop(store);

    query_text(
        &db.url,
        &format!(
            "INSERT INTO regway_schema (version) VALUES ({}) RETURNING version",
            latest + 1
        ),
    )
    .unwrap();
    let e = Store::open_postgres(&db.url, 64).err().expect("refused");
    assert!(e.message.contains("newer than this regway knows"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_a_clear_error_at_start() {
    let started = std::time::Instant::now();
    let e = Store::open_postgres("postgres://postgres@127.0.0.1:1/regway", 64)
        .err()
        .expect("no database there");
    assert!(e.message.starts_with("database: "), "{e}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    let e = Store::open_postgres("mysql://nowhere", 64)
        .err()
        .expect("not a PostgreSQL URL");
    assert!(e.message.contains("database_url"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_connects_over_tls() {
    let Some(db) = database("sslmode_require_connects_over_tls") else {
        return;
    };
    let store = Store::open_postgres(&db.url_with("sslmode=require"), 64).unwrap();
    store.write(|tx| tx.set_counter("tls", 7)).await.unwrap();
    assert_eq!(store.counter("tls").unwrap(), 7);
    let encrypted = query_text(
        &db.url,
        &format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = '{}' AND s.ssl",
            db.name
        ),
    )
    .unwrap();
    assert_ne!(encrypted, "0", "no connection of the store is encrypted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_jobs_are_atomic_and_see_the_jobs_before_them() {
    let Some(db) = database("write_jobs_are_atomic_and_see_the_jobs_before_them") else {
        return;
    };
    let store = Store::open_postgres(&db.url, 64).unwrap();
    let mut handles = Vec::new();
    for i in 0..100u64 {
        let s = store.clone();
        handles.push(tokio::spawn(async move {
            s.write(move |tx| {
                let n = tx.next_id("c")?;
                tx.set_counter(&format!("k{i}"), n)?;
                if i % 2 == 0 {
                    return Err(regway::error::Error::billing("odd one out"));
                }
                Ok(n)
            })
            .await
        }));
    }
    let mut ok = Vec::new();
    for h in handles {
        if let Ok(n) = h.await.unwrap() {
            ok.push(n);
        }
    }
    ok.sort();
    assert_eq!(ok, (1..=50).collect::<Vec<u64>>());
    let count = (0..100)
        .filter(|i| store.counter(&format!("k{i}")).unwrap() > 0)
        .count();
    assert_eq!(count, 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_two_hundred_registrations_against_money_for_fifty() {
    let Some(db) = database("two_nodes_two_hundred_registrations_against_money_for_fifty") else {
        return;
    };
    let a = Arc::new(common::start_node(&db, |_| {}).await);
    let b = Arc::new(common::start_node(&db, |_| {}).await);
    bounded(120, async {
        // 50 × 590.00
        add_partner(&a, "fifty", "fifty-password", Some("29500.00")).await;
        let c = client_as(&b, "fifty", "fifty-password", "C-1").await;
        let jobs = (0..200)
            .map(|i| {
                let node = if i % 2 == 0 { a.clone() } else { b.clone() };
                let body = register_form(&format!("R{i:03}"), &format!("race{i:03}.ru"), &c, "");
                (node, body)
            })
            .collect();
        let answers = all_at_once(jobs, "fifty", "fifty-password").await;
        let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
        for a in &answers {
            assert!(!a.replayed);
            assert_eq!(a.status, http_of(a.code()), "{}", a.body);
            *counts.entry(a.code()).or_default() += 1;
        }
        assert_eq!(counts, BTreeMap::from([(1000, 50), (2104, 150)]));
        assert_eq!(balance_as(&a, "fifty", "fifty-password").await, "0.00");
        assert_eq!(balance_as(&b, "fifty", "fifty-password").await, "0.00");
        let shown = b.engine().show_partner("fifty").unwrap();
        assert_eq!(shown.orders, 50);
        for s in [&a, &b] {
            let r = s.verify().await;
            assert!(r.problems.is_empty(), "{:?}", r.problems);
        }
    })
    .await;
    for s in [a, b] {
        Arc::into_inner(s).unwrap().stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_id_sent_to_two_nodes_at_once_executes_once() {
    let Some(db) = database("one_request_id_sent_to_two_nodes_at_once_executes_once") else {
        return;
    };
    let a = Arc::new(common::start_node(&db, |_| {}).await);
    let b = Arc::new(common::start_node(&db, |_| {}).await);
    bounded(60, async {
        let c = a.client("C-1").await;
        let body = register_form("SAME", "same.ru", &c, "");
        let jobs = (0..20)
            .map(|i| (if i % 2 == 0 { a.clone() } else { b.clone() }, body.clone()))
            .collect();
        let answers = all_at_once(jobs, common::LOGIN, common::PASSWORD).await;
        let fresh: Vec<&Answer> = answers.iter().filter(|a| !a.replayed).collect();
        assert_eq!(fresh.len(), 1, "executed more than once");
        let first = fresh[0];
        assert_eq!(first.code(), 1000, "{}", first.body);
        let order = elem(&first.body, "order").get("id").to_string();
        for x in &answers {
            match x.code() {
                1000 => assert_eq!(x.body, first.body),
                1001 => assert_eq!(elem(&x.body, "order").get("id"), order),
                _ => panic!("unexpected answer:\n{}", x.body),
            }
        }
        // Byte for byte the same replay, from either node.
        for s in [&a, &b] {
            let again = s.form(&body).await;
            assert!(again.replayed);
            assert_eq!(again.body, first.body);
        }
        assert_eq!(balance(&b).await, "9410.00");
        assert_eq!(orders(&a).await.len(), 1);
        let charges = ledger(&b)
            .await
            .into_iter()
            .filter(|e| e.get("kind") == "charge")
            .count();
        assert_eq!(charges, 1);
        // An order made on one node is read on the other.
        let info = expect(b.form("command=domain.info&domain=same.ru").await, 1000);
        assert_eq!(elem(&info.body, "domain").get("name"), "same.ru");
    })
    .await;
    for s in [a, b] {
        Arc::into_inner(s).unwrap().stop().await;
    }
}

fn verify_cli(data: &std::path::Path, url: &str) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_regway"))
        .arg("verify")
        .env("REGWAY_DATA", data)
        .env("REGWAY_DATABASE_URL", url)
        .env_remove("REGWAY_TEST_STORE")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_runs_on_postgres_and_names_a_tampered_balance() {
    let Some(db) = database("verify_runs_on_postgres_and_names_a_tampered_balance") else {
        return;
    };
    let s = common::start_node(&db, |_| {}).await;
    let client = s.client("C1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=verify-me.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let data = s.data.clone();
    let (ok, text) = verify_cli(&data, &db.url);
    assert!(ok, "{text}");
    assert!(text.contains("verify: OK"), "{text}");
    assert!(text.contains("orders: 1 (0 open)"), "{text}");
    s.stop().await;

    // No gateway: the CLI opens the database itself, from any machine's directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let (ok, text) = verify_cli(elsewhere.path(), &db.url);
    assert!(ok, "{text}");
    {
        let store = Store::open_postgres(&db.url, 64).unwrap();
        store
            .write(|tx| {
                let mut p: regway::store::records::Partner = tx.partner("demo")?.unwrap();
                p.balance += rust_decimal::Decimal::ONE;
                tx.put_partner(&p)
            })
            .await
            .unwrap();
    }
    let (ok, text) = verify_cli(elsewhere.path(), &db.url);
    assert!(!ok, "verify passed on a tampered store: {text}");
    assert!(
        text.contains("MISMATCH: demo: balance 9411.00 but ledger sums to 9410.00"),
        "{text}"
    );
}

fn migrate_cli(from: &std::path::Path, to: &str) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_regway"))
        .args(["migrate", "--from-sled"])
        .arg(from)
        .args(["--to", to])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// The counts line of `regway verify`.
fn counts(text: &str) -> String {
    text.lines()
        .find(|l| l.starts_with("partners: "))
        .unwrap_or_else(|| panic!("no counts in {text}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_store_moves_into_an_empty_database() {
    let Some(db) = database("a_sled_store_moves_into_an_empty_database") else {
        return;
    };
    // A sled gateway with a bit of everything.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let s = common::start_config(common::test_config(&data)).await;
    add_partner(&s, "acme", "acme-password", Some("5000.00")).await;
    let mut names = Vec::new();
    for (login, password) in [("demo", "demo-password"), ("acme", "acme-password")] {
        let c = client_as(&s, login, password, "C-1").await;
        for i in 0..3 {
            let name = format!("{login}-move{i}.ru");
            let a = s
                .form_as(
                    login,
                    password,
                    &register_form(&format!("R{i}"), &name, &c, ""),
                )
                .await;
            assert_eq!(a.code(), 1000, "{}", a.body);
            names.push((login, password, name));
        }
    }
    let c = s.client("C-2").await;
    expect(
        s.form(&format!(
            "command=license.order&request-id=L1&product=ispmanager6-lite&period=month\
             &ip=203.0.113.10&client={}",
            enc(&c)
        ))
        .await,
        1000,
    );
    let before_info = s
        .form("command=domain.info&domain=demo-move1.ru")
        .await
        .body;
    s.stop().await;

    let (ok, text) = migrate_cli(&data, &db.url);
    assert!(ok, "{text}");
    assert!(text.contains("moved "), "{text}");
    // Again: the database is no longer empty, and nothing changes.
    let (ok, text) = migrate_cli(&data, &db.url);
    assert!(!ok, "moved into a database that holds records: {text}");
    assert!(text.contains("not empty"), "{text}");

    let elsewhere = tempfile::tempdir().unwrap();
    let (ok_sled, on_sled) = verify_cli(&data, "");
    let (ok_pg, on_pg) = verify_cli(elsewhere.path(), &db.url);
    assert!(ok_sled, "{on_sled}");
    assert!(ok_pg, "{on_pg}");
    assert_eq!(counts(&on_sled), counts(&on_pg));
    assert!(counts(&on_pg).starts_with("partners: 2 "), "{on_pg}");

    // A node on the database serves what the sled gateway held, and goes on from it.
    let n = common::start_node(&db, |_| {}).await;
    assert_eq!(
        n.form("command=domain.info&domain=demo-move1.ru")
            .await
            .body,
        before_info
    );
    for (login, password, name) in &names {
        let a = n
            .form_as(
                login,
                password,
                &format!("command=domain.info&domain={name}"),
            )
            .await;
        assert_eq!(a.code(), 1000, "{}", a.body);
    }
    let c = n.client("C-3").await;
    let a = n
        .form(&register_form("R-after", "after-move.ru", &c, ""))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let r = n.verify().await;
    assert!(r.problems.is_empty(), "{:?}", r.problems);
    n.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_one_nodes_until_it_ends_or_is_given_up() {
    let Some(db) = database("a_lease_is_one_nodes_until_it_ends_or_is_given_up") else {
        return;
    };
    let a = Store::open_postgres(&db.url, 64).unwrap();
    let b = Store::open_postgres(&db.url, 64).unwrap();
    let short = std::time::Duration::from_millis(600);
    assert!(a.lease("order:4:demo:R1", short).unwrap());
    assert!(!b.lease("order:4:demo:R1", short).unwrap());
    // Renewed by its holder; another name is free.
    assert!(a.lease("order:4:demo:R1", short).unwrap());
    assert!(b.lease("daily:2026-01-15", short).unwrap());
    // A holder that stops renewing (a node that died) loses it when it ends.
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    assert!(b.lease("order:4:demo:R1", short).unwrap());
    assert!(!a.lease("order:4:demo:R1", short).unwrap());
    // Given up: at once free for another.
    b.release("order:4:demo:R1");
    assert!(a.lease("order:4:demo:R1", short).unwrap());
    // Only its holder gives it up.
    b.release("order:4:demo:R1");
    assert!(!b.lease("order:4:demo:R1", short).unwrap());
}

/// README's "Several nodes on PostgreSQL" example, run as written: its database and
/// ports replaced by the test's, `cargo run --release --` by the built binary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_example_of_several_nodes_runs() {
    let Some(db) = database("the_readme_example_of_several_nodes_runs") else {
        return;
    };
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let section = readme
        .split("\n## Several nodes on PostgreSQL\n")
        .nth(1)
        .expect("the section")
        .split("\n## ")
        .next()
        .unwrap();
    let block = section
        .split("<!-- examples: run by tests/postgres.rs -->\n```sh\n")
        .nth(1)
        .expect("its example")
        .split("\n```")
        .next()
        .unwrap();
    assert!(block.contains("createdb -h 127.0.0.1 -U postgres regway\n"));
    let (a, b) = (
        process::free_port().to_string(),
        process::free_port().to_string(),
    );
    let script = block
        .replace("createdb -h 127.0.0.1 -U postgres regway\n", "")
        .replace(
            "127.0.0.1:5432/regway",
            &format!("127.0.0.1:5432/{}", db.name),
        )
        .replace("cargo run --release --", process::BIN)
        .replace("127.0.0.1:8080", &format!("127.0.0.1:{a}"))
        .replace("127.0.0.1:8081", &format!("127.0.0.1:{b}"));
    let dir = tempfile::tempdir().unwrap();
    let out = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || {
            // A node that does not start would leave the script waiting for it.
            std::process::Command::new("timeout")
                .args(["120", "bash", "-c"])
                .arg(format!(
                    "set -e\ntrap 'kill $(jobs -p) 2>/dev/null; wait' EXIT\n{script}"
                ))
                .current_dir(dir)
                .env_remove("REGWAY_DATABASE_URL")
                .env_remove("REGWAY_TEST_STORE")
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The last answer, node B's, shows node A's order.
    let last = stdout.rsplit("<?xml").next().unwrap();
    assert!(last.contains(r#"<result code="1000""#), "{stdout}");
    assert!(last.contains(r#"name="two-nodes.ru""#), "{stdout}");
    assert_eq!(
        stdout.matches(r#"<result code="1000""#).count(),
        3,
        "{stdout}"
    );
}

/// What a server restart does to a node's connections: every one of them is cut. Requests
/// meanwhile get a clear 2400 (HTTP 503) or succeed on a new connection; nothing is
/// half done, and the node goes on without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_database_connections_give_clear_errors_and_the_node_recovers() {
    let Some(db) = database("cut_database_connections_give_clear_errors_and_the_node_recovers")
    else {
        return;
    };
    let s = Arc::new(common::start_node(&db, |c| c.reconcile_interval_ms = 200).await);
    bounded(120, async {
        // 40 × 590.00
        add_partner(&s, "cut", "cut-password", Some("23600.00")).await;
        let c = client_as(&s, "cut", "cut-password", "C-1").await;
        let cut = format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.name
        );
        let mut tasks = Vec::new();
        for i in 0..40 {
            let s = s.clone();
            let body = register_form(&format!("R{i}"), &format!("cut{i}.ru"), &c, "");
            tasks.push(tokio::spawn(async move {
                let a = s.form_as("cut", "cut-password", &body).await;
                (body, a)
            }));
            if i % 10 == 5 {
                query_text(&format!("{}/postgres", common::postgres::server()), &cut).unwrap();
            }
        }
        let mut ok = 0;
        for t in tasks {
            let (body, a) = t.await.unwrap();
            match a.code() {
                1000 => ok += 1,
                // Accepted, and its settling write cut: the reconciler settles it.
                1001 => ok += 1,
                2400 => {
                    assert_eq!(a.status, 503, "{}", a.body);
                    assert!(a.body.contains("the store is unavailable"), "{}", a.body);
                    assert!(!a.body.contains("database"), "{}", a.body);
                    // Nothing was done: the same request again is carried out now.
                    let mut again = s.form_as("cut", "cut-password", &body).await;
                    for _ in 0..20 {
                        if again.code() != 2400 {
                            break;
                        }
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                        again = s.form_as("cut", "cut-password", &body).await;
                    }
                    assert!(matches!(again.code(), 1000 | 1001), "{}", again.body);
                    assert!(!again.replayed, "{}", again.body);
                    ok += 1;
                }
                _ => panic!("unexpected answer:\n{}", a.body),
            }
        }
        assert_eq!(ok, 40);
        let mut open = usize::MAX;
        for _ in 0..100 {
            open = s.engine().store.open_orders().count();
            if open == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        assert_eq!(open, 0, "orders left open");
        assert_eq!(s.engine().show_partner("cut").unwrap().orders, 40);
        assert_eq!(balance_as(&s, "cut", "cut-password").await, "0.00");
        let r = s.verify().await;
        assert!(r.problems.is_empty(), "{:?}", r.problems);
    })
    .await;
    Arc::into_inner(s).unwrap().stop().await;
}
