//! A partner's users (`PARTNER.NAME`): the rights matrix (every group against every
//! registered command), their life (create, rights, password, delete), their own
//! lock-outs and allow-lists, the login recorded on orders and ledger entries, and the
//! partner changing its own password.

mod common;

use common::{Answer, TestServer, LOGIN, PASSWORD};
use regway::command::{Command, NAMES};
use regway::config::{LimitsConfig, Rate};
use std::net::IpAddr;

const GROUPS: [&str; 5] = ["domains", "licences", "clients", "finance", "read"];

/// What the issue gives every command, written out here on its own (not read from the
/// gateway): a name missing from this table fails the matrix, so a new command cannot
/// slip past the rights groups.
fn expected(name: &str) -> &'static str {
    match name {
        "domain.check"
        | "domain.register"
        | "domain.transfer"
        | "domain.set-ns"
        | "domain.set-autorenew"
        | "domain.info"
        | "domain.list" => "domains",
        "license.order" | "license.set-ip" | "license.info" | "license.list" => "licences",
        "client.create" | "client.update" | "client.delete" | "client.info" | "client.list" => {
            "clients"
        }
        "domain.renew"
        | "license.renew"
        | "balance.get"
        | "ledger.list"
        | "statement.list"
        | "statement.info"
        | "commission.list"
        | "commission.transfer"
        | "programme.status" => "finance",
        "order.info" | "order.list" | "request.status" | "price.list" => "any",
        "user.create"
        | "user.list"
        | "user.set-rights"
        | "user.set-password"
        | "user.delete"
        | "partner.set-password"
        | "webhook.set"
        | "webhook.list"
        | "webhook.delete"
        | "webhook.test"
        | "webhook.deliveries" => "main",
        other => panic!(
            "{other}: no rights group in the matrix; give it one here and in src/command/user.rs"
        ),
    }
}

fn object(a: &Answer) -> Option<String> {
    let i = a.body.find("<result ")?;
    let head = &a.body[i..i + a.body[i..].find('>')?];
    let j = head.find("object=\"")? + 8;
    Some(head[j..j + head[j..].find('"')?].to_string())
}

async fn create(s: &TestServer, rid: &str, user: &str, rights: &str) -> Answer {
    s.form(&format!(
        "command=user.create&request-id={rid}&user={user}&new-password={user}-pw&rights={rights}"
    ))
    .await
}

async fn as_user(s: &TestServer, user: &str, body: &str) -> Answer {
    s.form_as(user, &format!("{user}-pw"), body).await
}

#[tokio::test]
async fn every_group_against_every_command() {
    let s = common::start().await;
    for g in GROUPS {
        let a = create(&s, &format!("U-{g}"), &format!("demo.{g}"), g).await;
        assert_eq!(a.code(), 1000, "{}", a.body);
    }
    let mut checked = 0;
    for (i, name) in NAMES.iter().enumerate() {
        let read_only = !Command::name_is_mutating(name).unwrap();
        let group = expected(name);
        for g in GROUPS {
            let a = as_user(
                &s,
                &format!("demo.{g}"),
                &format!("command={name}&request-id=M-{i}-{g}"),
            )
            .await;
            let allowed =
                group == "any" || group == g || (g == "read" && read_only && group != "main");
            let refused = a.code() == 2201 && object(&a).as_deref() == Some("rights");
            assert_eq!(!allowed, refused, "{name} as {g}: {}", a.body);
            if refused {
                let missing = if group == "main" { "main login" } else { group };
                assert!(a.body.contains(missing), "{name} as {g}: {}", a.body);
                assert_eq!(a.status, 403, "{name} as {g}");
            }
            checked += 1;
        }
        // The main login runs everything (a refusal here is about parameters).
        let a = s
            .form(&format!("command={name}&request-id=M-{i}-main"))
            .await;
        assert_ne!(object(&a).as_deref(), Some("rights"), "{name}: {}", a.body);
    }
    assert_eq!(checked, NAMES.len() * GROUPS.len());
    // The gateway's own table covers every registered command.
    for name in NAMES {
        assert!(regway::command::user::need(name).is_some(), "{name}");
    }
}

#[tokio::test]
async fn a_user_is_created_changed_and_deleted_by_the_main_login_only() {
    let s = common::start().await;
    let a = create(&s, "U1", "demo.alice", "domains,clients").await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert!(
        a.body
            .contains(r#"<user login="demo.alice" rights="domains,clients""#),
        "{}",
        a.body
    );
    // A retry answers the same; the login is taken.
    let r = create(&s, "U1", "demo.alice", "domains,clients").await;
    assert!(r.replayed && r.body == a.body, "{}", r.body);
    let a = create(&s, "U2", "demo.alice", "read").await;
    assert_eq!(a.code(), 2302, "{}", a.body);
    // Another partner's prefix, a bad name, a bad group.
    for other in ["other.alice", "demo.a.b"] {
        let a = create(&s, "U3", other, "read").await;
        assert_eq!(
            (a.code(), object(&a).as_deref()),
            (2201, Some("user")),
            "{}",
            a.body
        );
    }
    for bad in [
        "demo",
        "demo.",
        "demo.Alice",
        "demo.-x",
        "demo.a%20b",
        "demo.a-name-of-thirty-three-characters",
    ] {
        let a = create(&s, "U4", bad, "read").await;
        assert_eq!(a.code(), 2005, "{bad}: {}", a.body);
        assert!(a.body.contains("user"), "{}", a.body);
    }
    for bad in ["", "admin", "read,,domains", "Domains"] {
        let a = create(&s, "U5", "demo.bob", bad).await;
        assert_eq!(a.code(), 2005, "{bad:?}: {}", a.body);
    }
    let a = s
        .form("command=user.create&request-id=U6&user=demo.bob&new-password=short&rights=read")
        .await;
    assert_eq!(a.code(), 2005, "{}", a.body);

    // The user acts within its groups.
    let c = as_user(
        &s,
        "demo.alice",
        "command=client.create&request-id=A1&type=person&name=Ivan+Petrov\
         &email=ivan%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow",
    )
    .await;
    assert_eq!(c.code(), 1000, "{}", c.body);
    let a = as_user(&s, "demo.alice", "command=balance.get").await;
    assert_eq!(a.code(), 2201, "{}", a.body);
    assert!(a.body.contains("finance"), "{}", a.body);
    // It manages no users, not even itself.
    for cmd in [
        "command=user.list",
        "command=user.set-rights&request-id=A2&user=demo.alice&rights=domains,finance",
    ] {
        let a = as_user(&s, "demo.alice", cmd).await;
        assert_eq!(
            (a.code(), object(&a).as_deref()),
            (2201, Some("rights")),
            "{}",
            a.body
        );
    }

    let a = s
        .form("command=user.set-rights&request-id=U7&user=demo.alice&rights=finance")
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = as_user(&s, "demo.alice", "command=balance.get").await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = as_user(&s, "demo.alice", "command=client.list").await;
    assert_eq!(a.code(), 2201, "{}", a.body);

    let a = s
        .form("command=user.set-password&request-id=U8&user=demo.alice&new-password=second-pw-1")
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert_eq!(
        as_user(&s, "demo.alice", "command=balance.get")
            .await
            .code(),
        2200
    );
    let a = s
        .form_as("demo.alice", "second-pw-1", "command=balance.get")
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    // No request record keeps a password.
    let rec = s
        .engine()
        .store
        .request_bytes(LOGIN, "U8")
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&rec).contains("second-pw-1"));
    let rec = s
        .engine()
        .store
        .request_bytes(LOGIN, "U1")
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&rec).contains("demo.alice-pw"));

    let l = s.form("command=user.list").await;
    assert_eq!(l.code(), 1000, "{}", l.body);
    assert!(
        l.body.contains(r#"login="demo.alice" rights="finance""#),
        "{}",
        l.body
    );

    let a = s
        .form("command=user.delete&request-id=U9&user=demo.alice")
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = s
        .form_as("demo.alice", "second-pw-1", "command=balance.get")
        .await;
    assert_eq!(a.code(), 2200, "a deleted user is refused: {}", a.body);
    let a = s
        .form("command=user.delete&request-id=U10&user=demo.alice")
        .await;
    assert_eq!(
        (a.code(), object(&a).as_deref()),
        (2303, Some("user")),
        "{}",
        a.body
    );
    let l = s.form("command=user.list").await;
    assert!(!l.body.contains("demo.alice"), "{}", l.body);

    // A partner cannot be added under a user's login, nor a user under a partner's.
    create(&s, "U11", "demo.carol", "read").await;
    let e = s
        .engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "demo.carol".into(),
            password: Some("carol-password".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code.number(), 2302, "{e}");
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "demo.dave".into(),
            password: Some("dave-password".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let a = create(&s, "U12", "demo.dave", "read").await;
    assert_eq!(a.code(), 2302, "{}", a.body);
}

#[tokio::test]
async fn orders_and_ledger_entries_record_the_user_that_caused_them() {
    let s = common::start().await;
    create(&s, "U1", "demo.ops", "domains,clients,finance").await;
    let c = as_user(
        &s,
        "demo.ops",
        "command=client.create&request-id=O1&type=person&name=Ivan+Petrov\
         &email=ivan%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow",
    )
    .await;
    let client = c.attr("id").unwrap();
    let a = as_user(
        &s,
        "demo.ops",
        &format!("command=domain.register&request-id=O2&domain=by-user.ru&client={client}"),
    )
    .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    // The main login's own order says nothing of a user.
    let b = s
        .form(&format!(
            "command=domain.register&request-id=O3&domain=by-main.ru&client={client}"
        ))
        .await;
    assert_eq!(b.code(), 1000, "{}", b.body);
    let o = s.form("command=order.info&request-id=O2").await;
    assert!(o.body.contains(r#"by="demo.ops""#), "{}", o.body);
    let o = s.form("command=order.info&request-id=O3").await;
    assert!(!o.body.contains("by="), "{}", o.body);
    let l = s.form("command=ledger.list").await;
    assert_eq!(l.body.matches(r#"by="demo.ops""#).count(), 1, "{}", l.body);
    // The CSV of the same ledger names the user in its last column, on that entry only.
    let csv = s.form("command=ledger.list&format=csv").await;
    let lines: Vec<&str> = csv.body.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].ends_with(",note,by"), "{}", csv.body);
    let by_user: Vec<&&str> = lines[1..]
        .iter()
        .filter(|l| l.ends_with(",demo.ops"))
        .collect();
    assert_eq!(by_user.len(), 1, "{}", csv.body);
    assert_eq!(
        lines[1..].iter().filter(|l| l.ends_with(',')).count(),
        lines.len() - 2,
        "{}",
        csv.body
    );
    // The user reads it too (its order follow-ups are open to every user).
    let o = as_user(&s, "demo.ops", "command=order.list").await;
    assert!(o.body.contains(r#"by="demo.ops""#), "{}", o.body);
    assert!(s.verify().await.problems.is_empty());
}

fn from(addr: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(addr.parse::<IpAddr>().unwrap())
        .build()
        .unwrap()
}

async fn balance(s: &TestServer, client: &reqwest::Client, login: &str, pw: &str) -> Answer {
    s.raw(
        client
            .post(&s.url)
            .basic_auth(login, Some(pw))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("command=balance.get"),
    )
    .await
}

/// Lock-outs count per login: guessing one user's password locks that user out at the
/// address, not the partner nor its other users.
#[tokio::test]
async fn a_user_is_locked_out_on_its_own() {
    let s = common::start_with(|c| {
        c.limits = LimitsConfig {
            lockout_failures: 3,
            anonymous: Rate {
                per_minute: 0,
                burst: 0,
            },
            ..LimitsConfig::off()
        }
    })
    .await;
    create(&s, "U1", "demo.alice", "finance").await;
    create(&s, "U2", "demo.bob", "finance").await;
    let attacker = from("127.0.0.2");
    for i in 0..3 {
        let a = balance(&s, &attacker, "demo.alice", &format!("guess-{i}")).await;
        assert_eq!(a.code(), 2200, "{}", a.body);
    }
    let a = balance(&s, &attacker, "demo.alice", "demo.alice-pw").await;
    assert_eq!(a.code(), 2502, "{}", a.body);
    let a = balance(&s, &attacker, "demo.bob", "demo.bob-pw").await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = balance(&s, &attacker, LOGIN, PASSWORD).await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = balance(&s, &from("127.0.0.1"), "demo.alice", "demo.alice-pw").await;
    assert_eq!(a.code(), 1000, "{}", a.body);
}

/// A user's allow-list holds on top of the partner's.
#[tokio::test]
async fn a_users_allow_list_is_its_own() {
    let s = common::start().await;
    let a = s
        .form(
            "command=user.create&request-id=U1&user=demo.fenced&new-password=demo.fenced-pw\
             &rights=finance&allow-ip=192.0.2.0%2F24&allow-ip=127.0.0.3",
        )
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert!(
        a.body.contains("<allow-ip>192.0.2.0/24</allow-ip>"),
        "{}",
        a.body
    );
    let a = balance(&s, &from("127.0.0.2"), "demo.fenced", "demo.fenced-pw").await;
    assert_eq!(
        (a.code(), object(&a).as_deref()),
        (2201, Some("address")),
        "{}",
        a.body
    );
    let a = balance(&s, &from("127.0.0.3"), "demo.fenced", "demo.fenced-pw").await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = s
        .form("command=user.create&request-id=U2&user=demo.x&new-password=demo.x-pw&rights=read&allow-ip=10.0.0.0%2F33")
        .await;
    assert_eq!(a.code(), 2005, "{}", a.body);
}

#[tokio::test]
async fn the_partner_changes_its_own_password_giving_the_old_one() {
    let s = common::start().await;
    let a = s
        .form("command=partner.set-password&request-id=P1&old-password=wrong-one&new-password=new-password-1")
        .await;
    assert_eq!(a.code(), 2306, "{}", a.body);
    assert!(a.body.contains("old-password"), "{}", a.body);
    let a = s
        .form("command=partner.set-password&request-id=P1&new-password=new-password-1")
        .await;
    assert_eq!(a.code(), 2003, "{}", a.body);
    let body = format!(
        "command=partner.set-password&request-id=P2&old-password={PASSWORD}&new-password=new-password-1"
    );
    let a = s.form(&body).await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert_eq!(s.form("command=balance.get").await.code(), 2200);
    let a = s
        .form_as(LOGIN, "new-password-1", "command=balance.get")
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    // A retry with the new password answers from the record.
    let r = s.form_as(LOGIN, "new-password-1", &body).await;
    assert!(r.replayed, "{}", r.body);
    let rec = s
        .engine()
        .store
        .request_bytes(LOGIN, "P2")
        .unwrap()
        .unwrap();
    assert!(!String::from_utf8_lossy(&rec).contains("new-password-1"));
    // A user cannot change the partner's password.
    s.form_as(
        LOGIN,
        "new-password-1",
        "command=user.create&request-id=U1&user=demo.alice&new-password=demo.alice-pw&rights=finance,read",
    )
    .await;
    let a = as_user(
        &s,
        "demo.alice",
        "command=partner.set-password&request-id=P3&old-password=new-password-1&new-password=taken-over-1",
    )
    .await;
    assert_eq!(
        (a.code(), object(&a).as_deref()),
        (2201, Some("rights")),
        "{}",
        a.body
    );
}

/// Rate limits count per login: a user that spends its read bucket leaves the partner's
/// and the other users' alone.
#[tokio::test]
async fn a_users_rate_limit_is_its_own() {
    let s = common::start_with(|c| {
        c.limits = LimitsConfig {
            read: Rate {
                per_minute: 1,
                burst: 2,
            },
            ..LimitsConfig::off()
        }
    })
    .await;
    create(&s, "U1", "demo.alice", "finance").await;
    create(&s, "U2", "demo.bob", "finance").await;
    for _ in 0..2 {
        let a = as_user(&s, "demo.alice", "command=balance.get").await;
        assert_eq!(a.code(), 1000, "{}", a.body);
    }
    let a = as_user(&s, "demo.alice", "command=balance.get").await;
    assert_eq!(a.code(), 2502, "{}", a.body);
    assert_eq!(
        as_user(&s, "demo.bob", "command=balance.get").await.code(),
        1000
    );
    assert_eq!(s.form("command=balance.get").await.code(), 1000);
}

/// Two requests creating the same login at once: one creates it, the other gets 2302.
#[tokio::test]
async fn racing_creations_of_one_login_make_one_user() {
    let s = common::start().await;
    let (a, b) = tokio::join!(
        create(&s, "R1", "demo.twin", "read"),
        create(&s, "R2", "demo.twin", "finance"),
    );
    let mut codes = [a.code(), b.code()];
    codes.sort();
    assert_eq!(codes, [1000, 2302], "{}\n{}", a.body, b.body);
    let l = s.form("command=user.list").await;
    assert_eq!(l.body.matches("demo.twin").count(), 1, "{}", l.body);
}

/// A user survives a restart; removing the partner removes its users.
#[tokio::test]
async fn users_are_kept_and_go_with_their_partner() {
    let s = common::start().await;
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "shop".into(),
            password: Some("shop-password".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let a = s
        .form_as(
            "shop",
            "shop-password",
            "command=user.create&request-id=S1&user=shop.clerk&new-password=clerk-password&rights=read",
        )
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let s = s.restart().await;
    let a = s
        .form_as("shop.clerk", "clerk-password", "command=balance.get")
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert_eq!(s.engine().store.users("shop").count(), 1);
    let removed = s
        .engine()
        .store
        .write(|tx| tx.remove_partner("shop"))
        .await
        .unwrap();
    assert!(!removed.open);
    assert_eq!(s.engine().store.users("shop").count(), 0);
    let a = s
        .form_as("shop.clerk", "clerk-password", "command=balance.get")
        .await;
    assert_eq!(a.code(), 2200, "{}", a.body);
}
