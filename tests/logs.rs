//! What a client sends cannot forge log lines: a login with a newline in it, through
//! each dialect, still gives one log line per request, with the newline escaped.

mod common;
mod process;
mod support;

#[tokio::test]
async fn a_login_with_a_newline_gives_one_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("log");
    let http = reqwest::Client::new();
    let server = process::serve(&data, &log, &http).await;
    let base = server.base.clone();
    // No colon: in HTTP Basic, the login ends at the first one.
    let forged = "evil\nINFO regway request partner=demo code=1000\r\n";
    // Native, HTTP Basic.
    let r = http
        .post(server.api())
        .basic_auth(forged, Some("x"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("command=balance.get")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Native, form fields.
    let enc = |s: &str| support::enc(s);
    let r = http
        .post(server.api())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "command=balance.get&login={}&password=x",
            enc(forged)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // Namecheap.
    let r = http
        .get(format!(
            "{base}/xml.response?ApiUser={u}&ApiKey=x&UserName={u}&ClientIp=192.0.2.1\
             &Command=namecheap.users.getBalances",
            u = enc(forged)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    server.kill();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("evil")).collect();
    assert_eq!(lines.len(), 3, "{text}");
    for l in &lines {
        assert!(l.contains("evil\\nINFO regway request"), "{l}");
        assert!(l.contains("code=1000\\r\\n"), "{l}");
    }
    // No line was forged: every line naming partner=demo belongs to the escaped ones.
    let forgeries = text
        .lines()
        .filter(|l| l.contains("partner=demo code=1000") && !l.contains("evil"))
        .count();
    assert_eq!(forgeries, 0, "{text}");
}
