//! Replays the request/response pairs of `fixtures/native/` against one fresh gateway,
//! in lexical order, and compares status, headers and body byte for byte. Also checks
//! that every example in `protocol/*.md` that names a fixture is a copy of it.
//!
//! The format is described in `fixtures/README.md`. To write the `.response` files (and
//! the examples in the documents) from the server's real answers, on purpose:
//!
//! ```text
//! REGWAY_FIXTURES_RECORD=1 cargo test --test fixtures
//! ```
//!
//! then read every change before committing it: a recorded bug is still a bug.

mod common;

use regway::engine::operator::NewPartner;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The headers a `.response` file may list. Each is compared: a header listed in the file
/// must come with that value, a header not listed must not come at all.
const COMPARED_HEADERS: [&str; 3] = ["Content-Type", "Idempotent-Replayed", "Retry-After"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn recording() -> bool {
    std::env::var("REGWAY_FIXTURES_RECORD").is_ok_and(|v| v == "1")
}

/// One `.request` file: `METHOD TARGET`, header lines, a blank line, the body.
struct FixtureRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn split_head(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let i = bytes.windows(2).position(|w| w == b"\n\n")?;
    Some((&bytes[..i], &bytes[i + 2..]))
}

fn parse_request(path: &Path, bytes: &[u8]) -> FixtureRequest {
    let (head, body) = split_head(bytes)
        .unwrap_or_else(|| panic!("{}: no blank line after the head", path.display()));
    let head = std::str::from_utf8(head)
        .unwrap_or_else(|_| panic!("{}: the head is not UTF-8", path.display()));
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let (method, target) = first
        .split_once(' ')
        .unwrap_or_else(|| panic!("{}: first line is not `METHOD TARGET`", path.display()));
    let headers = lines.map(|l| header_line(path, l)).collect();
    // One final newline closes the file; it is not part of the body.
    let body = body.strip_suffix(b"\n").unwrap_or(body).to_vec();
    FixtureRequest {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        body,
    }
}

fn header_line(path: &Path, l: &str) -> (String, String) {
    let (k, v) = l
        .split_once(": ")
        .unwrap_or_else(|| panic!("{}: {l:?} is not `Name: value`", path.display()));
    (k.to_string(), v.to_string())
}

/// One answer, as a `.response` file holds it.
#[derive(Debug, PartialEq)]
struct FixtureResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl FixtureResponse {
    fn parse(path: &Path, text: &str) -> FixtureResponse {
        let (head, body) = text
            .split_once("\n\n")
            .unwrap_or_else(|| panic!("{}: no blank line after the head", path.display()));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.strip_prefix("HTTP "))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{}: first line is not `HTTP <status>`", path.display()));
        let headers = lines.map(|l| header_line(path, l)).collect();
        FixtureResponse {
            status,
            headers,
            body: body.to_string(),
        }
    }

    fn render(&self) -> String {
        let mut s = format!("HTTP {}\n", self.status);
        for (k, v) in &self.headers {
            let _ = writeln!(s, "{k}: {v}");
        }
        s.push('\n');
        s.push_str(&self.body);
        s
    }
}

/// The `NN-name` stems of `fixtures/<dialect>/`, in lexical order.
fn stems(dir: &Path) -> Vec<String> {
    let mut requests = Vec::new();
    let mut responses = Vec::new();
    for e in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if let Some(s) = name.strip_suffix(".request") {
            requests.push(s.to_string());
        } else if let Some(s) = name.strip_suffix(".response") {
            responses.push(s.to_string());
        } else {
            panic!(
                "{}: {name} is neither a .request nor a .response",
                dir.display()
            );
        }
    }
    requests.sort();
    responses.sort();
    if !recording() {
        let orphans: Vec<_> = responses.iter().filter(|r| !requests.contains(r)).collect();
        assert!(
            orphans.is_empty(),
            "responses without a request: {orphans:?}"
        );
    }
    requests
}

/// Partners besides `demo`, created before the first request is replayed
/// (`fixtures/README.md`, "Setup").
async fn setup(s: &common::TestServer) {
    let eng = s.engine();
    eng.add_partner(NewPartner {
        login: "other".into(),
        password: Some("other-password".into()),
        ..NewPartner::default()
    })
    .await
    .unwrap();
    eng.topup("other", "1000.00", "fixtures").await.unwrap();
    eng.add_partner(NewPartner {
        login: "vip".into(),
        password: Some("vip-password".into()),
        ..NewPartner::default()
    })
    .await
    .unwrap();
    eng.topup("vip", "2800.00", "promotion prepayment")
        .await
        .unwrap();
    // A partner in programme E on a credit line: no top-up, so no ledger entry.
    eng.add_partner(NewPartner {
        login: "agent".into(),
        password: Some("agent-password".into()),
        credit_limit: Some("20000.00".into()),
        ..NewPartner::default()
    })
    .await
    .unwrap();
    eng.add_partner(NewPartner {
        login: "locked".into(),
        password: Some("locked-password".into()),
        allow_ips: vec!["192.0.2.0/24".into()],
        ..NewPartner::default()
    })
    .await
    .unwrap();
}

async fn send(s: &common::TestServer, req: &FixtureRequest) -> FixtureResponse {
    let base = s.url.strip_suffix("/api").expect("the API is at /api");
    let method = reqwest::Method::from_bytes(req.method.as_bytes()).expect("an HTTP method");
    let mut b = s.client.request(method, format!("{base}{}", req.target));
    for (k, v) in &req.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    if !req.body.is_empty() {
        b = b.body(req.body.clone());
    }
    let resp = b.send().await.expect("the server answers");
    let status = resp.status().as_u16();
    let headers = COMPARED_HEADERS
        .iter()
        .filter_map(|h| {
            resp.headers()
                .get(*h)
                .map(|v| (h.to_string(), v.to_str().unwrap().to_string()))
        })
        .collect();
    let body = resp.text().await.expect("a UTF-8 body");
    FixtureResponse {
        status,
        headers,
        body,
    }
}

/// A line diff (longest common subsequence), `-` expected, `+` actual.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            let _ = writeln!(out, "  {}", a[i]);
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            let _ = writeln!(out, "- {}", a[i]);
            i += 1;
        } else {
            let _ = writeln!(out, "+ {}", b[j]);
            j += 1;
        }
    }
    if expected.ends_with('\n') != actual.ends_with('\n') {
        out.push_str("(the final newline differs)\n");
    }
    out
}

#[tokio::test]
async fn native_fixtures_replay() {
    let dir = root().join("fixtures/native");
    let programmes = tempfile::tempdir().unwrap();
    let b = common::programme_for(programmes.path(), "b-turnover.toml", "other");
    let a = common::programme_for(programmes.path(), "a-special-prices.toml", "vip");
    let e = common::programme_for(programmes.path(), "e-clients.toml", "agent");
    let s = common::start_with(|cfg| cfg.programmes = vec![b, a, e]).await;
    setup(&s).await;
    let mut failures = Vec::new();
    let stems = stems(&dir);
    assert!(!stems.is_empty(), "no fixtures in {}", dir.display());
    for stem in &stems {
        let req_path = dir.join(format!("{stem}.request"));
        let resp_path = dir.join(format!("{stem}.response"));
        let req = parse_request(&req_path, &std::fs::read(&req_path).unwrap());
        let actual = send(&s, &req).await;
        if recording() {
            std::fs::write(&resp_path, actual.render()).unwrap();
            continue;
        }
        let text = std::fs::read_to_string(&resp_path)
            .unwrap_or_else(|e| panic!("{}: {e} (record it first)", resp_path.display()));
        let expected = FixtureResponse::parse(&resp_path, &text);
        if expected != actual {
            failures.push(format!(
                "── {stem}: the answer differs (- fixture, + server)\n{}",
                diff(&expected.render(), &actual.render())
            ));
        }
    }
    let report = s.verify().await;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    s.stop().await;
    assert!(
        failures.is_empty(),
        "{} of {} fixtures differ; if the new answers are right, record them on purpose with \
         REGWAY_FIXTURES_RECORD=1 and review the change\n\n{}",
        failures.len(),
        stems.len(),
        failures.join("\n")
    );
    if recording() {
        rewrite_doc_examples();
    }
}

/// An example in a document: `<!-- fixture: native/NN-name -->`, then two fenced code
/// blocks (the request, the response). `blocks` are the byte ranges of their contents.
struct DocExample {
    fixture: String,
    line: usize,
    blocks: Vec<std::ops::Range<usize>>,
}

const MARKER: &str = "<!-- fixture: ";

fn doc_examples(path: &Path, text: &str) -> Vec<DocExample> {
    let mut out: Vec<DocExample> = Vec::new();
    let mut offset = 0;
    let mut open: Option<usize> = None;
    let mut current: Option<DocExample> = None;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_end();
        if open.is_none() {
            if let Some(rest) = trimmed.strip_prefix(MARKER) {
                let name = rest
                    .strip_suffix(" -->")
                    .unwrap_or_else(|| panic!("{}:{}: bad marker", path.display(), n + 1));
                if let Some(c) = current.take() {
                    panic!(
                        "{}:{}: marker {} is not followed by two code blocks",
                        path.display(),
                        c.line,
                        c.fixture
                    );
                }
                current = Some(DocExample {
                    fixture: name.to_string(),
                    line: n + 1,
                    blocks: Vec::new(),
                });
                continue;
            }
        }
        if trimmed.starts_with("```") {
            match open.take() {
                None => open = Some(offset),
                Some(body_start) => {
                    if let Some(c) = current.as_mut() {
                        c.blocks.push(body_start..start);
                        if c.blocks.len() == 2 {
                            out.push(current.take().unwrap());
                        }
                    }
                }
            }
        }
    }
    if let Some(c) = current {
        panic!(
            "{}:{}: marker {} is not followed by two code blocks",
            path.display(),
            c.line,
            c.fixture
        );
    }
    out
}

fn doc_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("protocol"))
        .expect("protocol/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    v.sort();
    v
}

fn fixture_files(name: &str) -> [String; 2] {
    ["request", "response"].map(|ext| {
        let p = root().join(format!("fixtures/{name}.{ext}"));
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    })
}

/// Recording mode: copies the fixtures into the examples that name them.
fn rewrite_doc_examples() {
    for path in doc_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut out = text.clone();
        // From the end, so earlier ranges stay valid.
        for ex in doc_examples(&path, &text).iter().rev() {
            let files = fixture_files(&ex.fixture);
            for (range, file) in ex.blocks.iter().zip(files).rev() {
                out.replace_range(range.clone(), &file);
            }
        }
        if out != text {
            std::fs::write(&path, out).unwrap();
        }
    }
}

#[test]
fn doc_examples_are_copies_of_fixtures() {
    if recording() {
        // The replay test rewrites the examples after recording.
        return;
    }
    let mut failures = Vec::new();
    let mut count = 0;
    for path in doc_files() {
        let text = std::fs::read_to_string(&path).unwrap();
        for ex in doc_examples(&path, &text) {
            count += 1;
            let files = fixture_files(&ex.fixture);
            for (range, (file, what)) in ex
                .blocks
                .iter()
                .zip(files.iter().zip(["request", "response"]))
            {
                let shown = &text[range.clone()];
                if shown != file {
                    failures.push(format!(
                        "── {}:{}: the {what} of {} differs (- fixture, + document)\n{}",
                        path.display(),
                        ex.line,
                        ex.fixture,
                        diff(file, shown)
                    ));
                }
            }
        }
    }
    assert!(count > 0, "no document example names a fixture");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
