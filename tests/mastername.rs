//! The MasterName partner gateway at `/partner_gateway`: every action, its errors,
//! charsets, and the fixtures under `fixtures/mastername/`.

mod common;
mod replay;

use common::TestServer;
use encoding_rs::{UTF_8, WINDOWS_1251};

struct Mn {
    status: u16,
    content_type: String,
    text: String,
}

fn base(s: &TestServer) -> String {
    s.url.trim_end_matches("/api").to_string()
}

/// Sends `bytes` as the `request` field with the given Content-Type.
async fn send_raw(s: &TestServer, content_type: &str, bytes: &[u8]) -> Mn {
    let body = format!(
        "request={}",
        percent_encoding::percent_encode(bytes, percent_encoding::NON_ALPHANUMERIC)
    );
    let resp = s
        .client
        .post(format!("{}/partner_gateway", base(s)))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let bytes = resp.bytes().await.unwrap();
    let enc = if content_type.ends_with("charset=utf-8") {
        UTF_8
    } else {
        WINDOWS_1251
    };
    let (text, _, bad) = enc.decode(&bytes);
    assert!(!bad, "the answer is not in its declared charset");
    Mn {
        status,
        content_type,
        text: text.into_owned(),
    }
}

/// Sends `text` in CP1251 with no charset declared, as the panels do.
async fn send(s: &TestServer, text: &str) -> Mn {
    let (bytes, _, bad) = WINDOWS_1251.encode(text);
    assert!(!bad);
    send_raw(s, "application/x-www-form-urlencoded", &bytes).await
}

fn head(action: &str, rid: &str) -> String {
    format!(
        "[request]\nlogin: demo\npassword: demo-password\naction: {action}\nrequest-id: {rid}\n"
    )
}

/// The code the way the panels find it: trim, then `status:\s([0-9]+)\s`.
fn code(m: &Mn) -> u16 {
    let t = m.text.trim();
    let i = t.find("status: ").expect("a status line") + 8;
    let rest = &t[i..];
    let end = rest.find(char::is_whitespace).expect("text after the code");
    rest[..end].parse().unwrap()
}

fn value(m: &Mn, key: &str) -> Option<String> {
    m.text
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")).map(String::from))
}

const PERSON: &str = "\n[client]\nclient-type: ФИЗЛИЦО\nresident:\nperson-r: Иванов Иван\nperson: Ivan Ivanov\nemail: ivan@example.ru\nphone: +7 495 1234567\npost-country: RU\npost-zip-code: 101000\npost-city: Москва\npost-street: ул. Тверская, 1\n";

async fn make_client(s: &TestServer, rid: &str) -> String {
    let a = send(s, &format!("{}{PERSON}", head("create_client", rid))).await;
    assert_eq!(code(&a), 200, "{}", a.text);
    let st = send(
        s,
        &format!("[request]\nlogin: demo\npassword: demo-password\naction: request_status\nrequest-id: {rid}\n"),
    )
    .await;
    assert_eq!(code(&st), 202, "{}", st.text);
    value(&st, "client").unwrap()
}

async fn status_of(s: &TestServer, rid: &str) -> Mn {
    send(
        s,
        &format!("[request]\nlogin: demo\npassword: demo-password\naction: request_status\nrequest-id: {rid}\n"),
    )
    .await
}

#[tokio::test]
async fn fixtures_replay() {
    let s = common::start().await;
    replay::replay("fixtures/mastername", &base(&s)).await;
    s.stop().await;
}

#[tokio::test]
async fn client_fields_survive_and_status_lines_parse() {
    let s = common::start().await;
    let a = send(&s, &format!("{}{PERSON}", head("create_client", "C1"))).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.content_type, "text/plain; charset=windows-1251");
    assert_eq!(a.text, "status: 200 Request accepted\nrequest-id: C1\n");
    // A retry gets the same answer and makes no second client.
    let again = send(&s, &format!("{}{PERSON}", head("create_client", "C1"))).await;
    assert_eq!(again.text, a.text);
    let st = status_of(&s, "C1").await;
    assert_eq!(code(&st), 202);
    // The client line is followed by a newline and is not the last line.
    assert!(st.text.contains("\nclient: 1000/RW-P\n"), "{}", st.text);
    assert!(!st.text.trim_end().ends_with("1000/RW-P"));
    let info = s.form("command=client.info&client=1000%2FRW-P").await;
    for want in [
        "<name>Ivan Ivanov</name>",
        "<email>ivan@example.ru</email>",
        "<phone>+7 495 1234567</phone>",
        "<country>RU</country>",
        "<address>101000, RU, Москва, ул. Тверская, 1</address>",
        "<extra name=\"x-person-r\">Иванов Иван</extra>",
        "<extra name=\"x-resident\"></extra>",
        "<extra name=\"x-post-city\">Москва</extra>",
    ] {
        assert!(info.body.contains(want), "{want} missing in {}", info.body);
    }
    let list = s.form("command=client.list").await;
    assert_eq!(list.body.matches("<client ").count(), 1);
    s.stop().await;
}

#[tokio::test]
async fn register_prolong_update_and_their_status() {
    let s = common::start().await;
    let client = make_client(&s, "C1").await;
    let reg = format!(
        "{}\n[domain]\nclient: {client}\ndomain: mydomain.ru\nnserver: ns1.mydomain.ru 192.0.2.1\nnserver: ns2.example.net\n",
        head("register_domain", "R1")
    );
    assert_eq!(code(&send(&s, &reg).await), 200);
    let st = status_of(&s, "R1").await;
    assert_eq!(code(&st), 202, "{}", st.text);
    assert_eq!(value(&st, "expires").as_deref(), Some("2027-01-15"));

    // prolong without cur-exp-date: the gateway reads the expiry first.
    let pro = format!(
        "{}\n[domain]\ndomain: mydomain.ru\n",
        head("prolong_domain", "P1")
    );
    let a = send(&s, &pro).await;
    assert_eq!(code(&a), 200, "{}", a.text);
    assert_eq!(
        value(&status_of(&s, "P1").await, "expires").as_deref(),
        Some("2028-01-15")
    );
    // A retry of the same request-id renews nothing more.
    assert_eq!(code(&send(&s, &pro).await), 200);
    let info = s.form("command=domain.info&domain=mydomain.ru").await;
    assert_eq!(info.attr("expires").as_deref(), Some("2028-01-15"));
    // The same request-id for another domain is refused.
    let other = format!(
        "{}\n[domain]\ndomain: other.ru\n",
        head("prolong_domain", "P1")
    );
    assert_eq!(code(&send(&s, &other).await), 405);

    // prolong with cur-exp-date: a stale date is refused, nothing charged.
    let stale = format!(
        "{}\n[domain]\ndomain: mydomain.ru\ncur-exp-date: 2027-01-15\n",
        head("prolong_domain", "P2")
    );
    let a = send(&s, &stale).await;
    assert_eq!(code(&a), 405, "{}", a.text);
    let ok = format!(
        "{}\n[domain]\ndomain: mydomain.ru\ncur-exp-date: 2028-01-15\n",
        head("prolong_domain", "P3")
    );
    assert_eq!(code(&send(&s, &ok).await), 200);
    // The same request-id with another period is not a retry: 405, nothing renewed.
    let other_period = format!(
        "{}\n[domain]\ndomain: mydomain.ru\nperiod: 2\n",
        head("prolong_domain", "P1")
    );
    let a = send(&s, &other_period).await;
    assert_eq!(code(&a), 405, "{}", a.text);
    assert!(a.text.contains("request-id P1"), "{}", a.text);
    // A prolong that does not name the expiry, within the duplicate window of another
    // renewal (P3): 405, and the error names the window.
    let again = format!(
        "{}\n[domain]\ndomain: mydomain.ru\n",
        head("prolong_domain", "P4")
    );
    let a = send(&s, &again).await;
    assert_eq!(code(&a), 405, "{}", a.text);
    assert!(a.text.contains("within 10 minutes"), "{}", a.text);
    assert_eq!(
        s.form("command=domain.info&domain=mydomain.ru")
            .await
            .attr("expires")
            .as_deref(),
        Some("2029-01-15")
    );

    let upd = format!(
        "{}\n[domain]\ndomain: mydomain.ru\nnserver: ns3.example.net\nnserver: ns4.example.net\n",
        head("update_domain", "U1")
    );
    assert_eq!(code(&send(&s, &upd).await), 200);
    let st = status_of(&s, "U1").await;
    assert_eq!(code(&st), 202);
    assert!(st
        .text
        .contains("nserver: ns3.example.net\nnserver: ns4.example.net\n"));

    let bal = s.form("command=balance.get").await;
    assert!(bal.body.contains(">8230.00</balance>"), "{}", bal.body);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}

#[tokio::test]
async fn errors() {
    let s = common::start().await;
    let client = make_client(&s, "C1").await;
    let cases: Vec<(String, u16)> = vec![
        // No [request] section.
        ("[domain]\ndomain: a.ru\n".into(), 400),
        // A key outside a section, a line without a colon.
        ("login: demo\n".into(), 400),
        (format!("{}garbage\n", head("request_status", "C1")), 400),
        // Unknown action, unknown section, missing section.
        (format!("{}\n[domain]\ndomain: a.ru\n", head("transfer_domain", "T1")), 400),
        (format!("{}\n[zone]\nx: y\n", head("register_domain", "T2")), 400),
        (head("register_domain", "T3"), 400),
        // Bad auth, no credentials.
        ("[request]\nlogin: demo\npassword: nope-nope\naction: request_status\nrequest-id: C1\n".into(), 401),
        ("[request]\naction: request_status\nrequest-id: C1\n".into(), 401),
        // Zone not offered, bad name, unknown key, missing request-id.
        (format!("{}\n[domain]\nclient: {client}\ndomain: example.xyz\n", head("register_domain", "T4")), 402),
        (format!("{}\n[domain]\nclient: {client}\ndomain: -bad-.ru\n", head("register_domain", "T5")), 402),
        // A [domain] key of another action contradicts this one.
        (format!("{}\n[domain]\nclient: {client}\ndomain: a.ru\ncur-exp-date: 2027-01-15\n", head("register_domain", "T6")), 402),
        (format!("{}\n[domain]\ndomain: a.ru\nperiod: 1\nnserver: a.example.net\nnserver: b.example.net\n", head("update_domain", "T6b")), 402),
        (format!("[request]\nlogin: demo\npassword: demo-password\naction: register_domain\n\n[domain]\nclient: {client}\ndomain: a.ru\n"), 402),
        // Client fields: unknown client type, bad e-mail.
        (format!("{}\n[client]\nclient-type: ИП\n", head("create_client", "T7")), 402),
        (head("create_client", "T8") + &PERSON.replace("ivan@example.ru", "not-an-email"), 402),
        // Objects that are not there.
        (format!("{}\n[domain]\ndomain: nobody.ru\nnserver: a.example.net\nnserver: b.example.net\n", head("update_domain", "T9")), 404),
        (format!("{}\n[domain]\nclient: 9999/RW-P\ndomain: a.ru\n", head("register_domain", "T10")), 404),
        ("[request]\nlogin: demo\npassword: demo-password\naction: request_status\nrequest-id: NOPE\n".into(), 404),
    ];
    for (text, want) in cases {
        let a = send(&s, &text).await;
        assert_eq!(code(&a), want, "{text}\n→ {}", a.text);
        assert_eq!(a.status, 200);
        assert!(a.text.contains("\nerror: "), "{}", a.text);
    }

    // Another partner's client handle.
    s.engine()
        .add_partner(regway::engine::operator::NewPartner {
            login: "other".into(),
            password: Some("other-password".into()),
            currency: None,
            credit_limit: None,
            allow_ips: vec![],
        })
        .await
        .unwrap();
    let text = format!(
        "[request]\nlogin: other\npassword: other-password\naction: register_domain\nrequest-id: X1\n\n[domain]\nclient: {client}\ndomain: theirs.ru\n"
    );
    assert_eq!(code(&send(&s, &text).await), 403);
    s.stop().await;
}

#[tokio::test]
async fn charsets() {
    let s = common::start().await;
    let text = format!("{}{PERSON}", head("create_client", "C1"));
    // UTF-8 when declared; the answer declares it too.
    let a = send_raw(
        &s,
        "application/x-www-form-urlencoded; charset=UTF-8",
        text.as_bytes(),
    )
    .await;
    assert_eq!(code(&a), 200, "{}", a.text);
    assert_eq!(a.content_type, "text/plain; charset=utf-8");
    // CP1251 bytes declared as UTF-8: refused, not guessed at.
    let (cp, _, _) = WINDOWS_1251.encode(&text);
    let a = send_raw(&s, "application/x-www-form-urlencoded; charset=utf-8", &cp).await;
    assert_eq!(code(&a), 400, "{}", a.text);
    // CP1251 declared by name.
    let a = send_raw(
        &s,
        "application/x-www-form-urlencoded; charset=windows-1251",
        &cp,
    )
    .await;
    assert_eq!(code(&a), 200);
    assert_eq!(a.content_type, "text/plain; charset=windows-1251");
    // An unknown charset, a control byte, a wrong Content-Type.
    let a = send_raw(&s, "application/x-www-form-urlencoded; charset=koi8-r", &cp).await;
    assert_eq!(code(&a), 400);
    let a = send_raw(&s, "application/x-www-form-urlencoded", b"[request]\x01\n").await;
    assert_eq!(code(&a), 400);
    let a = send_raw(&s, "text/plain", &cp).await;
    assert_eq!(code(&a), 400);
    // Cyrillic in the answer comes back in CP1251.
    let a = send(
        &s,
        &format!(
            "{}\n[client]\nclient-type: ФИЗЛИЦО\nperson: Ivan\nemail: x\n",
            head("create_client", "C9")
        ),
    )
    .await;
    assert_eq!(code(&a), 402);
    s.stop().await;
}

/// The raw body of an answer, as bytes, and its Content-Type.
async fn send_bytes(s: &TestServer, content_type: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let body = format!(
        "request={}",
        percent_encoding::percent_encode(bytes, percent_encoding::NON_ALPHANUMERIC)
    );
    let resp = s
        .client
        .post(format!("{}/partner_gateway", base(s)))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    (ct, resp.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn answers_in_cp1251_are_bytes_in_cp1251() {
    let s = common::start().await;
    let text = format!(
        "{}\n[client]\nclient-type: ФИЗЛИЦО\nperson: Sidor\nemail: сидор@почта\nphone: +7 495 1112233\npost-country: RU\n",
        head("create_client", "C1")
    );
    let (cp, _, _) = WINDOWS_1251.encode(&text);
    let (ct, body) = send_bytes(&s, "application/x-www-form-urlencoded", &cp).await;
    assert_eq!(ct, "text/plain; charset=windows-1251");
    // "сидор@почта" in Windows-1251, written out byte by byte.
    let mut want = b"status: 402 Error in request data\nerror: email: \"".to_vec();
    want.extend([
        0xF1, 0xE8, 0xE4, 0xEE, 0xF0, b'@', 0xEF, 0xEE, 0xF7, 0xF2, 0xE0,
    ]);
    want.extend(b"\" is not an e-mail address\nrequest-id: C1\n");
    assert_eq!(body, want, "{}", String::from_utf8_lossy(&body));
    // The same request in UTF-8 is answered in UTF-8 bytes.
    let (ct, body) = send_bytes(
        &s,
        "application/x-www-form-urlencoded; charset=utf-8",
        text.as_bytes(),
    )
    .await;
    assert_eq!(ct, "text/plain; charset=utf-8");
    let mut want = b"status: 402 Error in request data\nerror: email: \"".to_vec();
    want.extend("сидор@почта".as_bytes());
    want.extend(b"\" is not an e-mail address\nrequest-id: C1\n");
    assert_eq!(body, want);
    s.stop().await;
}

/// 201 while the registry has not finished, 203 (with `error-status:`) when the order
/// failed, 500 for a failure answered at once, 405 when the money is not there.
#[tokio::test]
async fn statuses_201_203_405_and_500() {
    use regway::config::SandboxFaults;
    let pending = common::start_with(|c| {
        c.sandbox.faults = SandboxFaults {
            pending_percent: 100,
            pending_ms: 3_600_000,
            ..Default::default()
        };
        c.reconcile_interval_ms = 3_600_000;
    })
    .await;
    let client = make_client(&pending, "C1").await;
    let reg = format!(
        "{}\n[domain]\nclient: {client}\ndomain: slow.ru\n",
        head("register_domain", "R1")
    );
    let a = send(&pending, &reg).await;
    assert_eq!(code(&a), 200, "{}", a.text);
    let st = status_of(&pending, "R1").await;
    assert_eq!(code(&st), 201, "{}", st.text);
    assert!(st.text.starts_with("status: 201 "), "{}", st.text);
    assert!(st.text.contains("\ndomain: slow.ru\n"), "{}", st.text);
    pending.stop().await;

    let failing = common::start_with(|c| {
        c.sandbox.faults = SandboxFaults {
            fail_percent: 100,
            ..Default::default()
        };
    })
    .await;
    let client = make_client(&failing, "C1").await;
    let reg = format!(
        "{}\n[domain]\nclient: {client}\ndomain: refused.ru\n",
        head("register_domain", "R1")
    );
    let a = send(&failing, &reg).await;
    assert_eq!(code(&a), 500, "{}", a.text);
    assert!(a.text.contains("\nerror: "), "{}", a.text);
    assert!(a.text.ends_with("request-id: R1\n"), "{}", a.text);
    let st = status_of(&failing, "R1").await;
    assert_eq!(code(&st), 203, "{}", st.text);
    assert_eq!(
        value(&st, "error-status").as_deref(),
        Some("500"),
        "{}",
        st.text
    );
    assert!(value(&st, "error").is_some(), "{}", st.text);
    let bal = failing.form("command=balance.get").await;
    assert!(bal.body.contains(">10000.00</balance>"), "{}", bal.body);
    failing.stop().await;

    let s = common::start().await;
    let client = make_client(&s, "C1").await;
    s.engine()
        .withdraw("demo", "9500.00", "test", false)
        .await
        .unwrap();
    let reg = format!(
        "{}\n[domain]\nclient: {client}\ndomain: costly.ru\n",
        head("register_domain", "R1")
    );
    let a = send(&s, &reg).await;
    assert_eq!(code(&a), 405, "{}", a.text);
    assert!(a.text.contains("\nerror: "), "{}", a.text);
    s.stop().await;
}

/// Keys nobody documented are ignored; keys of another action are refused.
#[tokio::test]
async fn unknown_keys_are_ignored() {
    let s = common::start().await;
    let text = format!(
        "[request]\nlogin: demo\npassword: demo-password\naction: create_client\nrequest-id: C1\nlang: ru\n{PERSON}nickname: vanya\n"
    );
    let a = send(&s, &text).await;
    assert_eq!(code(&a), 200, "{}", a.text);
    let client = value(&status_of(&s, "C1").await, "client").unwrap();
    let info = s
        .form(&format!(
            "command=client.info&client={}",
            client.replace('/', "%2F")
        ))
        .await;
    assert!(!info.body.contains("vanya"), "{}", info.body);
    let reg = format!(
        "{}\n[domain]\nclient: {client}\ndomain: mine.ru\ncolour: red\n",
        head("register_domain", "R1")
    );
    assert_eq!(code(&send(&s, &reg).await), 200);
    s.stop().await;
}

/// The MasterName flow of the public PHP billing module (protocol/mastername.md), as it
/// sends it: a fresh `UniqID('ID')` request-id for every call, `client:` in `[domain]`
/// of every domain action, `prolong_domain` with only `client` and `domain`, glue after
/// the name on `nserver`. It reads only the status code (`status:\s([0-9]+)\s` after
/// trimming), the `client:` line with its newline, and the request-id.
#[tokio::test]
async fn the_php_module_flow() {
    let s = common::start().await;
    let mut n = 0x65a4_f3c2_b1d0_u64;
    let mut uniqid = || {
        n += 1;
        format!("ID{n:013x}")
    };
    // What the module takes from an answer.
    fn status_code(m: &Mn) -> u16 {
        let t = m.text.trim();
        let i = t.find("status: ").unwrap() + 8;
        let rest = &t[i..];
        let end = rest
            .find(|c: char| c.is_whitespace())
            .expect("the code is followed by white space");
        rest[..end].parse().unwrap()
    }
    fn client_line(m: &Mn) -> Option<String> {
        let t = m.text.trim();
        let i = t.find("client: ")? + 8;
        let end = t[i..].find('\n')?;
        Some(t[i..i + end].to_string())
    }
    let status = |rid: &str| {
        format!("[request]\nlogin: demo\npassword: demo-password\naction: request_status\nrequest-id: {rid}\n")
    };

    let rid = uniqid();
    let a = send(&s, &format!("{}{PERSON}", head("create_client", &rid))).await;
    assert_eq!(status_code(&a), 200, "{}", a.text);
    let st = send(&s, &status(&rid)).await;
    assert_eq!(status_code(&st), 202);
    let client = client_line(&st).expect("a client line followed by a newline");

    let rid = uniqid();
    let reg = format!(
        "{}\n[domain]\nclient: {client}\ndomain: panel-shop.ru\nperiod: 1\nnserver: ns1.panel-shop.ru 192.0.2.1 2001:db8::1\nnserver: ns2.panel-shop.ru 192.0.2.2\n",
        head("register_domain", &rid)
    );
    assert_eq!(status_code(&send(&s, &reg).await), 200);
    assert_eq!(status_code(&send(&s, &status(&rid)).await), 202);

    let rid = uniqid();
    let prolong = |rid: &str| {
        format!(
            "{}\n[domain]\nclient: {client}\ndomain: panel-shop.ru\n",
            head("prolong_domain", rid)
        )
    };
    let a = send(&s, &prolong(&rid)).await;
    assert_eq!(status_code(&a), 200, "{}", a.text);
    assert_eq!(status_code(&send(&s, &status(&rid)).await), 202);
    // The module retries a lost answer as a new request: refused within the window.
    let retry = send(&s, &prolong(&uniqid())).await;
    assert_eq!(status_code(&retry), 405, "{}", retry.text);

    let rid = uniqid();
    let upd = format!(
        "{}\n[domain]\nclient: {client}\ndomain: panel-shop.ru\nnserver: ns1.panel-shop.ru 192.0.2.10\nnserver: ns2.hosting.example.net\n",
        head("update_domain", &rid)
    );
    assert_eq!(status_code(&send(&s, &upd).await), 200);
    let st = send(&s, &status(&rid)).await;
    assert_eq!(status_code(&st), 202, "{}", st.text);

    // What the panel did, seen through the native protocol: one registration, one
    // renewal, the new glue kept.
    let info = s.form("command=domain.info&domain=panel-shop.ru").await;
    assert_eq!(info.attr("expires").as_deref(), Some("2028-01-15"));
    assert!(
        info.body.contains("<ns>ns1.panel-shop.ru 192.0.2.10</ns>"),
        "{}",
        info.body
    );
    let bal = s.form("command=balance.get").await;
    // 10000 − 590 (registration) − 590 (renewal)
    assert!(bal.body.contains(">8820.00</balance>"), "{}", bal.body);
    assert!(s.verify().await.problems.is_empty());
    s.stop().await;
}
