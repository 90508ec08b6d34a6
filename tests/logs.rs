//! What a client sends cannot forge log lines: a login with a newline in it, through
//! each dialect, still gives one log line per request, with the newline escaped. The
//! lines are queued and written by a thread of their own; a graceful stop writes every
//! one of them out, and none was dropped.

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
    let metrics = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("\nregway_log_lines_dropped_total 0\n"),
        "{metrics}"
    );
    assert!(server.stop(), "regway did not exit 0 after SIGTERM");
    let text = std::fs::read_to_string(&log).unwrap();
    // Lines logged during the graceful stop, the last just before the process ends, are
    // there too.
    assert!(
        text.lines()
            .last()
            .unwrap_or("")
            .contains("store flushed; bye"),
        "{text}"
    );
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

/// Nobody reads the gateway's stderr while it answers 2,000 requests, far more lines
/// than a pipe holds: the requests are answered all the same (their lines wait in the
/// queue). Then a SIGTERM, and the log is read slowly (about 0.4 s for all of it, longer
/// than the graceful stop takes): the process waits until every line is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_log_reader_delays_no_request_and_a_stop_writes_every_line() {
    use std::io::Read;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    const N: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    let port = process::free_port();
    let mut child = process::cli(dir.path())
        .arg("serve")
        .env_remove("REGWAY_LOG")
        .env("REGWAY_LISTEN", format!("127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(http.get(format!("{base}/healthz")).send().await, Ok(r) if r.status() == 200) {
        assert!(Instant::now() < deadline, "regway serve did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (http, api) = (http.clone(), format!("{base}/api"));
        tasks.push(tokio::spawn(async move {
            for n in (t..N).step_by(8) {
                let a = process::post(&http, &api, format!("command=balance.get&request-id=L{n}"))
                    .await
                    .unwrap();
                assert_eq!(a.code(), 1000, "{}", a.body);
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), async {
        for t in tasks {
            t.await.unwrap();
        }
    })
    .await
    .expect("the requests wait for the log's reader");
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let text = tokio::task::spawn_blocking(move || {
        let mut bytes = Vec::new();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let n = stderr.read(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            bytes.extend_from_slice(&chunk[..n]);
            std::thread::sleep(Duration::from_millis(20));
        }
        String::from_utf8(bytes).unwrap()
    })
    .await
    .unwrap();
    assert!(child.wait().unwrap().success());
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" request ") && l.contains("request_id=\"L"))
        .collect();
    assert_eq!(lines.len(), N, "{} lines", text.lines().count());
    assert!(text
        .lines()
        .last()
        .unwrap_or("")
        .contains("store flushed; bye"));
}
