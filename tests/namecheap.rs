//! The Namecheap-compatible API at `/xml.response`: every command, its errors, and
//! the fixtures under `fixtures/namecheap/`.

mod common;
mod replay;

use common::TestServer;

fn base(s: &TestServer) -> String {
    s.url.trim_end_matches("/api").to_string()
}

const AUTH: &str = "ApiUser=demo&ApiKey=demo-password&UserName=demo&ClientIp=192.0.2.10";

async fn get(s: &TestServer, query: &str) -> String {
    let resp = s
        .client
        .get(format!("{}/xml.response?{query}", base(s)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.text().await.unwrap()
}

async fn call(s: &TestServer, query: &str) -> String {
    get(s, &format!("{AUTH}&{query}")).await
}

async fn post(s: &TestServer, query: &str, body: &str, key: Option<&str>) -> String {
    let mut r = s
        .client
        .post(format!("{}/xml.response?{AUTH}&{query}", base(s)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(k) = key {
        r = r.header("idempotency-key", k);
    }
    let resp = r.send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    resp.text().await.unwrap()
}

fn error_number(body: &str) -> Option<u32> {
    let i = body.find("<Error Number=\"")? + 15;
    body[i..i + body[i..].find('"')?].parse().ok()
}

fn attr(body: &str, name: &str) -> Option<String> {
    let pat = format!(" {name}=\"");
    let i = body.find(&pat)? + pat.len();
    Some(body[i..i + body[i..].find('"')?].to_string())
}

fn contact(prefix: &str) -> String {
    format!(
        "{prefix}FirstName=Jane&{prefix}LastName=Doe&{prefix}Address1=1+Main+St&{prefix}City=Springfield\
         &{prefix}StateProvince=IL&{prefix}PostalCode=62701&{prefix}Country=US&{prefix}Phone=%2B1.2175550100\
         &{prefix}EmailAddress=jane%40example.net"
    )
}

async fn create(s: &TestServer, domain: &str, key: Option<&str>) -> String {
    post(
        s,
        "Command=namecheap.domains.create",
        &format!(
            "DomainName={domain}&Years=1&{}&{}",
            contact("Registrant"),
            contact("Tech")
        ),
        key,
    )
    .await
}

#[tokio::test]
async fn fixtures_replay() {
    let s = common::start().await;
    replay::replay("fixtures/namecheap", &base(&s)).await;
    s.stop().await;
}

#[tokio::test]
async fn create_renew_set_custom_info_balances() {
    let s = common::start().await;
    let a = create(&s, "shop.com", None).await;
    assert!(a.contains("Status=\"OK\""), "{a}");
    assert!(a.contains("xmlns=\"http://api.namecheap.com/xml.response\""));
    assert_eq!(attr(&a, "Registered").as_deref(), Some("true"));
    assert_eq!(attr(&a, "ChargedAmount").as_deref(), Some("1290.00"));
    // The same Registrant again: the engine client is reused, not duplicated.
    let a = create(&s, "shop.net", None).await;
    assert!(a.contains("Status=\"OK\""), "{a}");
    let clients = s.form("command=client.list").await;
    assert_eq!(
        clients.body.matches("<client ").count(),
        1,
        "{}",
        clients.body
    );
    assert!(clients
        .body
        .contains("<extra name=\"x-first-name\">Jane</extra>"));

    // Without a key, a repeated create executes again (and fails: the name is taken).
    let a = create(&s, "shop.com", None).await;
    assert_eq!(error_number(&a), Some(3_052_302), "{a}");
    // With a key, a retry gets the stored answer.
    let first = create(&s, "keyed.com", Some("K1")).await;
    let again = create(&s, "keyed.com", Some("K1")).await;
    assert_eq!(attr(&first, "OrderID"), attr(&again, "OrderID"));
    assert!(again.contains("Status=\"OK\""));
    let other = create(&s, "other.com", Some("K1")).await;
    assert_eq!(error_number(&other), Some(3_052_308), "{other}");

    // renew reads the current expiry itself; with a key, a retry renews nothing more.
    let r = post(
        &s,
        "Command=namecheap.domains.renew&DomainName=shop.com&Years=2",
        "",
        Some("RN1"),
    )
    .await;
    // ExpiredDate with a time of day, as Namecheap's documentation shows it, and the
    // years added (a public client crashes without NumYears).
    assert!(
        r.contains("<ExpiredDate>01/15/2029 12:00:00 AM</ExpiredDate>"),
        "{r}"
    );
    assert!(r.contains("<NumYears>2</NumYears>"), "{r}");
    assert_eq!(attr(&r, "ChargedAmount").as_deref(), Some("2980.00"));
    let r2 = post(
        &s,
        "Command=namecheap.domains.renew&DomainName=shop.com&Years=2",
        "",
        Some("RN1"),
    )
    .await;
    assert!(
        r2.contains("<ExpiredDate>01/15/2029 12:00:00 AM</ExpiredDate>"),
        "{r2}"
    );
    // The same key with another period is not a retry: 3052308, nothing renewed.
    let r2b = post(
        &s,
        "Command=namecheap.domains.renew&DomainName=shop.com&Years=3",
        "",
        Some("RN1"),
    )
    .await;
    assert_eq!(error_number(&r2b), Some(3_052_308), "{r2b}");
    assert!(!r2b.contains("DomainRenewResult"), "{r2b}");
    // Another renewal of the name within the duplicate window (a panel's retry after a
    // lost answer: no key, or a new one) is refused, and the error names the window.
    let r3 = call(&s, "Command=namecheap.domains.renew&DomainName=shop.com").await;
    assert_eq!(error_number(&r3), Some(3_052_105), "{r3}");
    assert!(r3.contains("within 10 minutes"), "{r3}");
    let ns = call(
        &s,
        "Command=namecheap.domains.dns.setCustom&SLD=shop&TLD=com&Nameservers=ns1.example.org,ns2.example.org",
    )
    .await;
    assert_eq!(attr(&ns, "Updated").as_deref(), Some("true"), "{ns}");
    let info = call(&s, "command=NAMECHEAP.DOMAINS.GETINFO&domainname=shop.com").await;
    assert!(
        info.contains("<Nameserver>ns1.example.org</Nameserver>"),
        "{info}"
    );
    assert!(info.contains("<CreatedDate>01/15/2026</CreatedDate>"));
    assert!(info.contains("<ExpiredDate>01/15/2029</ExpiredDate>"));

    let b = call(&s, "Command=namecheap.users.getBalances").await;
    // 10000 − 1290 (shop.com) − 1390 (shop.net) − 1290 (keyed.com) − 2980
    assert_eq!(
        attr(&b, "AvailableBalance").as_deref(),
        Some("3050.00"),
        "{b}"
    );
    assert_eq!(attr(&b, "Currency").as_deref(), Some("RUB"));
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn get_list_pages() {
    let s = common::start_with(|_| {}).await;
    s.engine().topup("demo", "100000.00", "test").await.unwrap();
    let client = s.client("C1").await;
    for n in 0..25 {
        let a = s
            .form(&format!(
                "command=domain.register&request-id=R{n}&domain=list{n:02}.ru&client={client}"
            ))
            .await;
        assert_eq!(a.code(), 1000);
    }
    let page = |n: u32| format!("Command=namecheap.domains.getList&Page={n}&PageSize=10");
    let p1 = call(&s, &page(1)).await;
    assert_eq!(p1.matches("<Domain ").count(), 10, "{p1}");
    assert!(p1.contains("<TotalItems>25</TotalItems>"));
    assert!(p1.contains("Name=\"list00.ru\""));
    let p3 = call(&s, &page(3)).await;
    assert_eq!(p3.matches("<Domain ").count(), 5);
    assert!(p3.contains("Name=\"list24.ru\""));
    let p4 = call(&s, &page(4)).await;
    assert!(p4.contains("Status=\"OK\""));
    assert_eq!(p4.matches("<Domain ").count(), 0);
    let d = call(&s, "Command=namecheap.domains.getList").await;
    assert_eq!(d.matches("<Domain ").count(), 20);
    assert!(d.contains("<PageSize>20</PageSize>"));
    let t = call(&s, "Command=namecheap.domains.getList&SearchTerm=list1").await;
    assert!(t.contains("<TotalItems>10</TotalItems>"), "{t}");
    for bad in ["PageSize=9", "PageSize=101", "Page=0", "SortBy=EXPIREDATE"] {
        let a = call(&s, &format!("Command=namecheap.domains.getList&{bad}")).await;
        assert_eq!(error_number(&a), Some(3_052_004), "{bad}: {a}");
    }
    s.stop().await;
}

#[tokio::test]
async fn errors() {
    let s = common::start().await;
    let cases = [
        ("ApiKey=demo-password&UserName=demo&ClientIp=192.0.2.1&Command=namecheap.users.getBalances", 1_010_101),
        ("ApiUser=demo&UserName=demo&ClientIp=192.0.2.1&Command=namecheap.users.getBalances", 1_010_102),
        ("ApiUser=demo&ApiKey=demo-password&ClientIp=192.0.2.1&Command=namecheap.users.getBalances", 1_010_103),
        ("ApiUser=demo&ApiKey=demo-password&UserName=demo&ClientIp=192.0.2.1", 1_010_104),
        ("ApiUser=demo&ApiKey=demo-password&UserName=demo&Command=namecheap.users.getBalances", 1_010_105),
        ("ApiUser=demo&ApiKey=wrong-key!&UserName=demo&ClientIp=192.0.2.1&Command=namecheap.users.getBalances", 1_011_102),
        ("ApiUser=demo&ApiKey=demo-password&UserName=bob&ClientIp=192.0.2.1&Command=namecheap.users.getBalances", 2_011_166),
        ("ApiUser=demo&ApiKey=demo-password&UserName=demo&ClientIp=nope&Command=namecheap.users.getBalances", 1_011_150),
    ];
    for (q, want) in cases {
        let a = get(&s, q).await;
        assert!(a.contains("Status=\"ERROR\""), "{a}");
        assert_eq!(error_number(&a), Some(want), "{q}: {a}");
    }
    let a = call(
        &s,
        "Command=namecheap.domains.getInfo&DomainName=nobody.com",
    )
    .await;
    assert_eq!(error_number(&a), Some(2_019_166));
    let a = call(&s, "Command=namecheap.domains.getInfo").await;
    assert_eq!(error_number(&a), Some(3_052_003));
    let a = call(&s, "Command=namecheap.domains.fly").await;
    assert_eq!(error_number(&a), Some(3_052_000));
    let a = call(
        &s,
        "Command=namecheap.domains.check&DomainList=a.com&domainlist=b.com",
    )
    .await;
    assert_eq!(error_number(&a), Some(3_052_001));
    // Zone not offered: a failed create, nothing charged.
    let a = create(&s, "shop.xyz", None).await;
    assert_eq!(error_number(&a), Some(3_052_306), "{a}");
    // A bad Registrant field.
    let bad = post(
        &s,
        "Command=namecheap.domains.create",
        &format!(
            "DomainName=a.com&{}",
            contact("Registrant").replace("%2B1.2175550100", "12345")
        ),
        None,
    )
    .await;
    assert_eq!(error_number(&bad), Some(3_052_005), "{bad}");
    assert!(bad.contains("Registrant contact: phone"));
    let b = call(&s, "Command=namecheap.users.getBalances").await;
    assert_eq!(attr(&b, "AccountBalance").as_deref(), Some("10000.00"));

    // Another partner's domain.
    let a = create(&s, "mine.com", None).await;
    assert!(a.contains("Status=\"OK\""), "{a}");
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "other".into(),
            password: Some("other-password".into()),
            currency: None,
            credit_limit: None,
            allow_ips: vec!["203.0.113.0/24".into(), "127.0.0.1/32".into()],
        })
        .await
        .unwrap();
    let other = "ApiUser=other&ApiKey=other-password&UserName=other";
    let a = get(
        &s,
        &format!(
            "{other}&ClientIp=203.0.113.5&Command=namecheap.domains.getInfo&DomainName=mine.com"
        ),
    )
    .await;
    assert_eq!(error_number(&a), Some(2_016_166), "{a}");
    // ClientIp is data (the end customer's address, a placeholder from cron): it is
    // checked for syntax only, never against the allow-list.
    for ip in ["198.51.100.1", "0.0.0.0", "2001:db8::7"] {
        let a = get(
            &s,
            &format!("{other}&ClientIp={ip}&Command=namecheap.users.getBalances"),
        )
        .await;
        assert!(a.contains("Status=\"OK\""), "{ip}: {a}");
    }
    // The connection's own address outside the allow-list is refused, whatever
    // ClientIp says.
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "walled".into(),
            password: Some("walled-password".into()),
            currency: None,
            credit_limit: None,
            allow_ips: vec!["203.0.113.0/24".into()],
        })
        .await
        .unwrap();
    let a = get(
        &s,
        "ApiUser=walled&ApiKey=walled-password&UserName=walled&ClientIp=203.0.113.5&Command=namecheap.users.getBalances",
    )
    .await;
    assert_eq!(error_number(&a), Some(1_011_150), "{a}");
    s.stop().await;
}

/// A renewal without a key executes every time, as on Namecheap, once the duplicate
/// window has passed; the window counts from the last renewal; 0 switches it off.
#[tokio::test]
async fn renewals_without_a_key_and_the_duplicate_window() {
    let s = common::start().await;
    let a = create(&s, "shop.com", None).await;
    assert!(a.contains("Status=\"OK\""), "{a}");
    let renew = "Command=namecheap.domains.renew&DomainName=shop.com&Years=1";
    let r1 = call(&s, renew).await;
    assert!(r1.contains("Renew=\"true\""), "{r1}");
    let r2 = post(&s, renew, "", Some("NEW-KEY")).await;
    assert_eq!(error_number(&r2), Some(3_052_105), "{r2}");
    assert!(r2.contains("within 10 minutes"), "{r2}");
    assert!(r2.contains("try again after 2026-01-15T10:10:00Z"), "{r2}");
    // The refused key stays free: nothing was stored under it.
    let status = s.form("command=request.status&request-id=NEW-KEY").await;
    assert_eq!(status.code(), 2303, "{}", status.body);

    // Eleven minutes later the same call renews again.
    let s = s.restart_at("2026-01-15T10:11:00Z").await;
    let r3 = call(&s, renew).await;
    assert!(r3.contains("Renew=\"true\""), "{r3}");
    let info = s.form("command=domain.info&domain=shop.com").await;
    assert_eq!(info.attr("expires").as_deref(), Some("2029-01-15"));
    // The native protocol names the expiry: no window there.
    let native = s
        .form("command=domain.renew&request-id=N1&domain=shop.com&expires=2029-01-15")
        .await;
    assert_eq!(native.code(), 1000, "{}", native.body);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;

    let s = common::start_with(|c| c.dialect_renew_window_minutes = 0).await;
    let a = create(&s, "shop.com", None).await;
    assert!(a.contains("Status=\"OK\""), "{a}");
    for want in ["01/15/2028", "01/15/2029"] {
        let r = call(&s, renew).await;
        assert!(
            r.contains(&format!("<ExpiredDate>{want} 12:00:00 AM")),
            "{r}"
        );
    }
    s.stop().await;
}

/// Registering with the details of a client the partner deleted makes a new client
/// (the contact's derived request-id names the deleted one); it never fails.
#[tokio::test]
async fn a_deleted_clients_details_make_a_new_client() {
    let s = common::start().await;
    let a = create(&s, "first.com", None).await;
    assert!(a.contains("Status=\"OK\""), "{a}");
    let holder = s.form("command=domain.info&domain=first.com").await;
    let old = holder.attr("client").unwrap();
    let del = s
        .form(&format!(
            "command=client.delete&request-id=D1&client={}",
            old.replace('/', "%2F")
        ))
        .await;
    assert_eq!(del.code(), 1000, "{}", del.body);
    for name in ["second.com", "third.com"] {
        let a = create(&s, name, None).await;
        assert!(a.contains("Status=\"OK\""), "{name}: {a}");
    }
    let second = s.form("command=domain.info&domain=second.com").await;
    let third = s.form("command=domain.info&domain=third.com").await;
    let new = second.attr("client").unwrap();
    assert_ne!(new, old);
    // The new client is used again for the same details, as before.
    assert_eq!(third.attr("client").as_deref(), Some(new.as_str()));
    // Deleted again: yet another one.
    s.form(&format!(
        "command=client.delete&request-id=D2&client={}",
        new.replace('/', "%2F")
    ))
    .await;
    let a = create(&s, "fourth.com", None).await;
    assert!(a.contains("Status=\"OK\""), "{a}");
    let fourth = s.form("command=domain.info&domain=fourth.com").await;
    let newest = fourth.attr("client").unwrap();
    assert!(newest != old && newest != new, "{newest}");
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

/// Parameters nobody documented for a command are ignored; parameters that contradict
/// what regway does are refused with Namecheap's own numbers.
#[tokio::test]
async fn unknown_and_contradicting_parameters() {
    let s = common::start().await;
    let a = post(
        &s,
        "Command=namecheap.domains.create&RegistrantNexus=C11&AddFreePositiveSSL=no&x-panel-order=77",
        &format!("DomainName=shop.com&{}", contact("Registrant")),
        None,
    )
    .await;
    assert!(a.contains("Status=\"OK\""), "{a}");
    let premium = post(
        &s,
        "Command=namecheap.domains.renew&DomainName=shop.com&IsPremiumDomain=True&PremiumPrice=650",
        "",
        None,
    )
    .await;
    assert_eq!(error_number(&premium), Some(2_515_623), "{premium}");
    let promo = post(
        &s,
        "Command=namecheap.domains.create&PromotionCode=SPRING",
        &format!("DomainName=promo.com&{}", contact("Registrant")),
        None,
    )
    .await;
    assert_eq!(error_number(&promo), Some(2_011_170), "{promo}");
    let both = call(
        &s,
        "Command=namecheap.domains.dns.getList&SLD=shop&TLD=com&DomainName=other.com",
    )
    .await;
    assert_eq!(error_number(&both), Some(3_052_001), "{both}");
    let same = call(
        &s,
        "Command=namecheap.domains.dns.getList&SLD=shop&TLD=com&DomainName=SHOP.com",
    )
    .await;
    assert!(same.contains("Status=\"OK\""), "{same}");
    let names: Vec<String> = (0..51).map(|i| format!("n{i}.com")).collect();
    let many = call(
        &s,
        &format!(
            "Command=namecheap.domains.check&DomainList={}",
            names.join(",")
        ),
    )
    .await;
    assert_eq!(error_number(&many), Some(2_011_169), "{many}");
    let fifty = call(
        &s,
        &format!(
            "Command=namecheap.domains.check&DomainList={}",
            names[..50].join(",")
        ),
    )
    .await;
    assert_eq!(fifty.matches("<DomainCheckResult ").count(), 50, "{fifty}");
    // Nothing was charged by the refusals: one registration.
    let b = call(&s, "Command=namecheap.users.getBalances").await;
    assert_eq!(
        attr(&b, "AccountBalance").as_deref(),
        Some("8710.00"),
        "{b}"
    );
    s.stop().await;
}

/// getContacts, dns.getList and getInfo of a domain registered through the native
/// protocol: the client's own fields stand for the four contacts.
#[tokio::test]
async fn sync_of_a_domain_made_elsewhere() {
    let s = common::start().await;
    let client = s.client("C1").await;
    let reg = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=native-shop.ru&client={}&ns=ns1.native-shop.ru+192.0.2.1+2001:db8::1&ns=ns2.hosting.net",
            client.replace('/', "%2F")
        ))
        .await;
    assert_eq!(reg.code(), 1000, "{}", reg.body);
    let info = s
        .form(&format!(
            "command=client.info&client={}",
            client.replace('/', "%2F")
        ))
        .await;
    // FOSSBilling's sync: getInfo, getContacts, dns.getList in a row.
    let i = call(
        &s,
        "Command=namecheap.domains.getInfo&DomainName=native-shop.ru",
    )
    .await;
    assert!(
        i.contains("<Nameserver>ns1.native-shop.ru</Nameserver>"),
        "{i}"
    );
    let c = call(
        &s,
        "Command=namecheap.domains.getContacts&DomainName=native-shop.ru",
    )
    .await;
    assert!(c.contains("Status=\"OK\""), "{c}");
    assert_eq!(c.matches("<EmailAddress>").count(), 4, "{c}");
    let email = info
        .body
        .split("<email>")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap();
    assert!(
        c.contains(&format!("<EmailAddress>{email}</EmailAddress>")),
        "{c}"
    );
    let d = call(
        &s,
        "Command=namecheap.domains.dns.getList&SLD=native-shop&TLD=ru",
    )
    .await;
    assert!(d.contains("IsUsingOurDNS=\"false\""), "{d}");
    assert_eq!(d.matches("<Nameserver>").count(), 2, "{d}");
    // A domain that is not here: 2019166, as for getInfo.
    let nf = call(
        &s,
        "Command=namecheap.domains.getContacts&DomainName=nobody.ru",
    )
    .await;
    assert_eq!(error_number(&nf), Some(2_019_166), "{nf}");
    s.stop().await;
}
