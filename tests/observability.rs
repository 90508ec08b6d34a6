//! What the operator sees: `/healthz`, `/metrics`, and the log, where every request of
//! every dialect carries partner, command and request-id, and no secret ever appears.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_regway");

#[tokio::test]
async fn healthz_and_metrics() {
    let s = common::start_with(|c| {
        c.limits.order = regway::config::Rate {
            per_minute: 1,
            burst: 2,
        }
    })
    .await;
    let base = s.url.trim_end_matches("/api").to_string();
    let h = s
        .client
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(h.status(), 200);
    let v: serde_json::Value = h.json().await.unwrap();
    assert_eq!(v["store"], "ok");
    assert_eq!(v["upstream"], "ok");
    assert_eq!(v["status"], "ok");
    assert_eq!(s.form("command=balance.get").await.code(), 1000);
    assert_eq!(s.form("command=no.such").await.code(), 2000);
    let client = s.client("C1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=metrics.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R2&domain=metrics2.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 2502);
    assert_eq!(
        s.form("command=domain.check&domain=metrics.ru")
            .await
            .code(),
        1000
    );
    let r = s
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text; version=1.0.0"));
    let t = r.text().await.unwrap();
    for want in [
        "regway_requests_total{dialect=\"native\",command=\"balance.get\",code=\"1000\"} 1\n",
        "regway_requests_total{dialect=\"native\",command=\"other\",code=\"2000\"} 1\n",
        "regway_requests_total{dialect=\"native\",command=\"domain.register\",code=\"2502\"} 1\n",
        "regway_request_seconds_count{dialect=\"native\"} 6\n",
        "regway_rate_limited_total{limit=\"order\"} 1\n",
        "regway_password_checks_total 1\n",
        // /healthz probes the upstream; the check of a name registered here does not
        // ask it.
        "regway_upstream_calls_total{op=\"probe\"} 1\n",
        "regway_upstream_calls_total{op=\"submit\"} 1\n",
        "regway_upstream_errors_total{op=\"probe\"} 0\n",
        "regway_orders_created_total 1\n",
        "regway_open_orders{state=\"unknown\"} 0\n",
        // The demo partner's starting balance, and the charge for metrics.ru.
        "regway_balance_mutations_total 2\n",
        "regway_open_orders{state=\"accepted\"} 0\n",
    ] {
        assert!(t.contains(want), "missing {want:?} in\n{t}");
    }
    s.stop().await;
}

/// Runs `regway serve --json-logs`, sends requests with secrets in every dialect,
/// stops it, and reads its log.
#[tokio::test]
async fn logs_name_partner_command_and_request_id_and_never_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let secret = "S3cret-Pass-Phrase";
    let mut child = Command::new(BIN)
        .args(["serve", "--json-logs"])
        .env_remove("REGWAY_CONFIG")
        .env_remove("REGWAY_LOG")
        .env("REGWAY_DATA", dir.path().join("data"))
        .env("REGWAY_LISTEN", format!("127.0.0.1:{port}"))
        .env("REGWAY_ADMIN_LISTEN", "127.0.0.1:0")
        .env("REGWAY_DEMO_PASSWORD", secret)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !matches!(http.get(format!("{base}/healthz")).send().await, Ok(r) if r.status() == 200) {
        assert!(Instant::now() < deadline, "regway serve did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wrong = "Wr0ng-Guess-Phrase";
    // Native: HTTP Basic (right and wrong), and the password as a form field.
    for pw in [secret, wrong] {
        let r = http
            .post(format!("{base}/api"))
            .basic_auth("demo", Some(pw))
            .body("command=balance.get")
            .header("content-type", "application/x-www-form-urlencoded")
            .send()
            .await
            .unwrap();
        r.text().await.unwrap();
    }
    let r = http
        .post(format!("{base}/api"))
        .body(format!(
            "command=client.create&request-id=LOG-1&login=demo&password={secret}&type=person\
             &name=Ivan&email=ivan%40example.net&phone=%2B7.4951234567&country=RU&address=Moscow"
        ))
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Namecheap: the key in the query.
    let r = http
        .get(format!(
            "{base}/xml.response?ApiUser=demo&ApiKey={secret}&UserName=demo&ClientIp=192.0.2.10\
             &Command=namecheap.users.getBalances&RequestId=NC-LOG-1"
        ))
        .send()
        .await
        .unwrap();
    r.text().await.unwrap();
    // MasterName: the password in the text.
    let text = format!(
        "[request]\nlogin: demo\npassword: {wrong}\naction: request_status\nrequest-id: MN-LOG-1\n"
    );
    let r = http
        .post(format!("{base}/partner_gateway"))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(format!(
            "request={}",
            percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
        ))
        .send()
        .await
        .unwrap();
    r.text().await.unwrap();
    // Stop with SIGTERM so the log is complete.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "regway did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    use base64::Engine as _;
    for s in [secret, wrong] {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("demo:{s}"));
        assert!(!log.contains(s), "a password is in the log:\n{log}");
        assert!(
            !log.contains(&basic),
            "a Basic header is in the log:\n{log}"
        );
    }
    let requests: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON log line"))
        .filter(|v| v["fields"]["message"] == "request")
        .collect();
    let find = |dialect: &str, command: &str, rid: &str| {
        requests.iter().any(|v| {
            let f = &v["fields"];
            f["dialect"] == dialect
                && f["partner"] == "demo"
                && f["command"] == command
                && f["request_id"] == rid
        })
    };
    assert!(find("native", "balance.get", ""), "{log}");
    assert!(find("native", "client.create", "LOG-1"), "{log}");
    // A read carries no request-id in the engine; the Namecheap dialect keeps its
    // RequestId for writes only.
    assert!(find("namecheap", "balance.get", ""), "{log}");
    assert!(find("mastername", "request.status", "MN-LOG-1"), "{log}");
    assert!(
        requests.iter().any(|v| v["fields"]["code"] == 2200),
        "{log}"
    );
}

/// Reads a whole OpenMetrics text exposition: every line is a `# HELP`, `# TYPE` or
/// `# UNIT` of a family declared once, or a sample of the family declared last (by its
/// type's suffixes), with well-formed labels and a number; the last line is `# EOF`.
/// Returns each family's type.
fn parse_exposition(t: &str) -> std::collections::BTreeMap<String, String> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars().enumerate().all(|(i, c)| {
                c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
            })
    };
    let mut types = std::collections::BTreeMap::new();
    let mut current: Option<(String, String)> = None;
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "ends with # EOF");
    for line in &lines[..lines.len() - 1] {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kw, name) = (parts.next().unwrap(), parts.next().expect("a name"));
            assert!(valid_name(name), "{line}");
            match kw {
                "HELP" | "UNIT" => {}
                "TYPE" => {
                    let ty = parts.next().expect("a type").to_string();
                    assert!(
                        [
                            "counter",
                            "gauge",
                            "histogram",
                            "summary",
                            "info",
                            "stateset",
                            "unknown"
                        ]
                        .contains(&ty.as_str()),
                        "{line}"
                    );
                    assert!(
                        types.insert(name.to_string(), ty.clone()).is_none(),
                        "{name} declared twice"
                    );
                    current = Some((name.to_string(), ty));
                }
                _ => panic!("unknown comment: {line}"),
            }
            continue;
        }
        let (family, ty) = current
            .as_ref()
            .unwrap_or_else(|| panic!("a sample before any TYPE: {line}"));
        let (name_labels, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        assert!(value.parse::<f64>().is_ok(), "value of {line}");
        let (name, labels) = match name_labels.split_once('{') {
            Some((n, l)) => (
                n,
                Some(l.strip_suffix('}').unwrap_or_else(|| panic!("{line}"))),
            ),
            None => (name_labels, None),
        };
        let suffixes: &[&str] = match ty.as_str() {
            "counter" => &["_total", "_created"],
            "histogram" => &["_bucket", "_sum", "_count", "_created"],
            _ => &[""],
        };
        assert!(
            suffixes.iter().any(|s| name == format!("{family}{s}")),
            "{name} is not of family {family} ({ty})"
        );
        if let Some(labels) = labels {
            // k="v" pairs, values with \" \\ \n escapes.
            let mut rest = labels;
            while !rest.is_empty() {
                let (k, v) = rest
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("labels of {line}"));
                assert!(valid_name(k), "label {k} of {line}");
                let mut end = None;
                let mut escaped = false;
                for (i, c) in v.char_indices() {
                    match (escaped, c) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = Some(i);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.unwrap_or_else(|| panic!("unterminated label in {line}"));
                rest = &v[end + 1..];
                rest = rest.strip_prefix(',').unwrap_or(rest);
            }
        }
    }
    types
}

#[tokio::test]
async fn the_whole_metrics_output_parses() {
    let s = common::start().await;
    let base = s.url.trim_end_matches("/api").to_string();
    // Something in every family: requests, an upstream call, a health probe.
    let client = s.client("C1").await;
    let a = s
        .form(&format!(
            "command=domain.register&request-id=R1&domain=parsed.ru&client={client}"
        ))
        .await;
    assert_eq!(a.code(), 1000, "{}", a.body);
    assert_eq!(
        s.client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let t = s
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let types = parse_exposition(&t);
    for (family, ty) in [
        ("regway_requests", "counter"),
        ("regway_request_seconds", "histogram"),
        ("regway_upstream_calls", "counter"),
        ("regway_upstream_errors", "counter"),
        ("regway_upstream_seconds", "histogram"),
        ("regway_upstream_rejected", "counter"),
        ("regway_log_lines_dropped", "counter"),
        ("regway_orders_created", "counter"),
        ("regway_open_orders", "gauge"),
        ("regway_balance_mutations", "counter"),
        ("regway_rate_limited", "counter"),
        ("regway_password_checks", "counter"),
        ("regway_rate_limit_keys", "gauge"),
        ("regway_build_info", "gauge"),
        ("regway_upstream_balance", "gauge"),
        ("regway_store_size_bytes", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
    ] {
        assert_eq!(
            types.get(family).map(String::as_str),
            Some(ty),
            "{family} in\n{t}"
        );
    }
    assert!(t.contains(&format!(
        "regway_build_info{{version=\"{}\"}} 1\n",
        env!("CARGO_PKG_VERSION")
    )));
    // The parser refuses what is not an exposition.
    assert!(std::panic::catch_unwind(|| parse_exposition("regway_x 1\n# EOF\n")).is_err());
    assert!(
        std::panic::catch_unwind(|| parse_exposition("# TYPE a counter\na_total 1\n")).is_err()
    );
    s.stop().await;
}
