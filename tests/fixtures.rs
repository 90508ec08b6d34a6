//! Replays the request/response pairs of `fixtures/native/` against one fresh gateway,
//! in lexical order, and compares status, headers and body byte for byte. Also checks
//! that every example in `protocol/*.md` and `protocol/native/*.md` that names a fixture
//! is a copy of it.
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

/// The one response header a `.response` file leaves out: it changes with every answer.
/// Every other header is compared, by name (case-insensitive) and value: a header listed
/// in the file must come with that value, and a header not listed must not come at all.
const UNCOMPARED_HEADER: &str = "date";

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
#[derive(Debug)]
struct FixtureResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl PartialEq for FixtureResponse {
    /// The same status, the same headers in any order (names case-insensitive), and the
    /// same body, byte for byte.
    fn eq(&self, other: &FixtureResponse) -> bool {
        let set = |h: &[(String, String)]| {
            let mut v: Vec<(String, String)> = h
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            v.sort();
            v
        };
        self.status == other.status
            && set(&self.headers) == set(&other.headers)
            && self.body == other.body
    }
}

/// `content-length` → `Content-Length`: how the files spell header names.
fn title_case(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

impl FixtureResponse {
    fn parse(path: &Path, bytes: &[u8]) -> FixtureResponse {
        let (head, body) = split_head(bytes)
            .unwrap_or_else(|| panic!("{}: no blank line after the head", path.display()));
        let head = std::str::from_utf8(head)
            .unwrap_or_else(|_| panic!("{}: the head is not UTF-8", path.display()));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.strip_prefix("HTTP "))
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{}: first line is not `HTTP <status>`", path.display()));
        let headers: Vec<(String, String)> = lines.map(|l| header_line(path, l)).collect();
        assert!(
            !headers
                .iter()
                .any(|(k, _)| k.eq_ignore_ascii_case(UNCOMPARED_HEADER)),
            "{}: lists {UNCOMPARED_HEADER}, which is never compared",
            path.display()
        );
        FixtureResponse {
            status,
            headers,
            body: body.to_vec(),
        }
    }

    fn head(&self) -> String {
        let mut s = format!("HTTP {}\n", self.status);
        for (k, v) in &self.headers {
            let _ = writeln!(s, "{k}: {v}");
        }
        s.push('\n');
        s
    }

    fn render(&self) -> Vec<u8> {
        let mut out = self.head().into_bytes();
        out.extend_from_slice(&self.body);
        out
    }

    /// For a diff: the head, and the body as text (bytes that are not UTF-8 shown as
    /// U+FFFD; such a body still compares byte for byte).
    fn text(&self) -> String {
        self.head() + &String::from_utf8_lossy(&self.body)
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
    let orphans: Vec<_> = responses.iter().filter(|r| !requests.contains(r)).collect();
    assert!(
        orphans.is_empty(),
        "{}: responses without a request: {orphans:?}",
        dir.display()
    );
    if !recording() {
        let orphans: Vec<_> = requests.iter().filter(|r| !responses.contains(r)).collect();
        assert!(
            orphans.is_empty(),
            "{}: requests without a response (record them on purpose): {orphans:?}",
            dir.display()
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
    let headers = resp
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str() != UNCOMPARED_HEADER)
        .map(|(k, v)| {
            let v = v.to_str().expect("an ASCII header value");
            (title_case(k.as_str()), v.to_string())
        })
        .collect();
    let body = resp.bytes().await.expect("a body").to_vec();
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
    let s = common::start_with(|cfg| {
        cfg.programmes = vec![b, a, e];
        // The webhook pairs (d…) name hooks.example.net: it resolves to a documentation
        // address, and the queue is looked at only at start, so their deliveries stay
        // pending and nothing leaves the machine.
        cfg.webhooks
            .hosts
            .insert("hooks.example.net".into(), "192.0.2.10".parse().unwrap());
        cfg.webhooks.poll_ms = 3_600_000;
    })
    .await;
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
        let bytes = std::fs::read(&resp_path)
            .unwrap_or_else(|e| panic!("{}: {e} (record it first)", resp_path.display()));
        let expected = FixtureResponse::parse(&resp_path, &bytes);
        if expected != actual {
            let mut d = diff(&expected.text(), &actual.text());
            if d.lines().all(|l| l.starts_with("  ")) {
                d.push_str("(the bodies differ in bytes that are not UTF-8)\n");
            }
            failures.push(format!(
                "── {stem}: the answer differs (- fixture, + server)\n{d}"
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
    let mut v: Vec<PathBuf> = ["protocol", "protocol/native"]
        .into_iter()
        .flat_map(|dir| std::fs::read_dir(root().join(dir)).expect("protocol/"))
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

/// `fixtures/README.md`, "The pairs": every pair falls in a row of the table, every row
/// has pairs, and the balance it gives for pair 90 is the one the fixture shows.
#[test]
fn fixtures_readme_lists_every_pair() {
    let readme = std::fs::read_to_string(root().join("fixtures/README.md")).unwrap();
    let table = &readme[readme.find("## The pairs").expect("a section of the pairs")..];
    let rows: Vec<(String, String, String)> = table
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let first = *cells.get(1)?;
            if first == "pair" || first.starts_with("---") {
                return None;
            }
            let (lo, hi) = first.split_once('–').unwrap_or((first, first));
            Some((lo.to_string(), hi.to_string(), cells.get(2)?.to_string()))
        })
        .collect();
    assert!(!rows.is_empty(), "no rows in the table of pairs");
    let stems = stems(&root().join("fixtures/native"));
    for stem in &stems {
        let number = &stem[..2];
        assert!(
            rows.iter()
                .any(|(lo, hi, _)| lo.as_str() <= number && number <= hi.as_str()),
            "fixtures/README.md: no row of the table of pairs covers {stem}"
        );
    }
    for (lo, hi, _) in &rows {
        assert!(
            stems
                .iter()
                .any(|s| lo.as_str() <= &s[..2] && &s[..2] <= hi.as_str()),
            "fixtures/README.md: the row {lo}–{hi} names no pair"
        );
    }
    let (_, _, shows) = rows
        .iter()
        .find(|(lo, _, _)| lo == "90")
        .expect("a row for pair 90");
    let said = shows.rsplit(' ').next().unwrap();
    let answer =
        std::fs::read_to_string(root().join("fixtures/native/90-balance-get.response")).unwrap();
    assert!(
        answer.contains(&format!("<balance currency=\"RUB\">{said}</balance>")),
        "fixtures/README.md gives {said} for pair 90; the fixture shows\n{answer}"
    );
}
