//! The `curl` examples of README.md, `protocol/*.md` and `protocol/native/*.md` are run, as written, by `curl`
//! through `bash`, against a fresh gateway (the documented address replaced by the test
//! server's), in the order of each document.
//!
//! Every example documents its result: either the XML block that follows its code
//! block (the answer, compared byte for byte), or a comment line just above it:
//!
//! ```text
//! # answers 1000 with <client id="1000/RW-P"
//! curl -s -u demo:demo-password http://127.0.0.1:8080/api -d command=client.create …
//! ```
//!
//! (the code, and text the answer must contain). An example with a `request-id` is sent
//! twice: the second answer is the same, marked `Idempotent-Replayed: true` when the
//! first was carried out (a code below 2000, or an answer with `<data>`: a refused order);
//! an error found before anything was done leaves the request-id free, and the same
//! error comes back unmarked, as does the answer of `request.status` and `order.info`,
//! which only ask about a request-id.
//!
//! A `sleep N` line in an example block waits N seconds. A document whose examples need
//! a registry that answers later says so in a comment line of its own,
//! `<!-- examples: sandbox pending_ms=6000 -->`: its gateway's sandbox answers every
//! order "pending" and carries it out that many milliseconds later.

mod common;
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the documents say the gateway listens.
const DOCUMENTED_BASE: &str = "http://127.0.0.1:8080";

#[derive(Debug)]
enum Expect {
    /// The whole answer body.
    Body(String),
    /// A code, and fragments the body must contain.
    Code(u16, Vec<String>),
}

#[derive(Debug)]
struct Example {
    file: String,
    line: usize,
    command: String,
    expect: Option<Expect>,
}

/// `# answers 1000 with <x/>` → code 1000, fragment `<x/>`.
fn answers(comment: &str) -> Option<Expect> {
    let rest = comment
        .trim_start_matches('#')
        .trim()
        .strip_prefix("answers ")?;
    let (code, fragment) = match rest.split_once(" with ") {
        Some((c, f)) => (c, vec![f.trim().to_string()]),
        None => (rest, vec![]),
    };
    Some(Expect::Code(code.trim().parse().ok()?, fragment))
}

/// The `curl` examples of one Markdown document, in order.
fn examples(path: &Path) -> Vec<Example> {
    let text = std::fs::read_to_string(path).unwrap();
    let file = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(path)
        .display()
        .to_string();
    let lines: Vec<&str> = text.lines().collect();
    let mut out: Vec<Example> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        let lang = fence.strip_prefix("```").map(str::trim);
        let Some(lang) = lang else {
            i += 1;
            continue;
        };
        // Find the end of this block.
        let start = i + 1;
        let mut end = start;
        while end < lines.len() && !lines[end].trim_start().starts_with("```") {
            end += 1;
        }
        if run_elsewhere(&lines, i) {
            i = end + 1;
            continue;
        }
        if matches!(lang, "sh" | "bash" | "shell" | "console") {
            let first_here = out.len();
            let mut pending: Option<Expect> = None;
            let mut j = start;
            while j < end {
                let line = lines[j].trim();
                if line.starts_with('#') {
                    pending = answers(line).or(pending);
                    j += 1;
                    continue;
                }
                // One command, with its `\` continuations.
                let at = j;
                let mut command = String::new();
                loop {
                    let l = lines[j].trim_end();
                    match l.strip_suffix('\\') {
                        Some(head) => {
                            command.push_str(head);
                            command.push(' ');
                            j += 1;
                            if j >= end {
                                break;
                            }
                        }
                        None => {
                            command.push_str(l);
                            j += 1;
                            break;
                        }
                    }
                }
                if command.trim_start().starts_with("curl ")
                    || command.trim_start().starts_with("sleep ")
                {
                    out.push(Example {
                        file: file.clone(),
                        line: at + 1,
                        command: command.trim().to_string(),
                        expect: pending.take(),
                    });
                } else {
                    pending = None;
                }
            }
            // An XML block right after a block of one example is its answer.
            let mut next = end + 1;
            while next < lines.len() && lines[next].trim().is_empty() {
                next += 1;
            }
            if out.len() == first_here + 1
                && out[first_here].expect.is_none()
                && lines.get(next).is_some_and(|l| l.trim() == "```xml")
            {
                let mut close = next + 1;
                while close < lines.len() && !lines[close].trim_start().starts_with("```") {
                    close += 1;
                }
                let body: String = lines[next + 1..close]
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect();
                out[first_here].expect = Some(Expect::Body(body));
            }
        }
        i = end + 1;
    }
    out
}

/// Whether the code block opening at `fence` is run by another test, as the line just
/// above it says (`<!-- examples: run by tests/NAME.rs -->`).
fn run_elsewhere(lines: &[&str], fence: usize) -> bool {
    fence > 0
        && lines[fence - 1]
            .trim()
            .starts_with("<!-- examples: run by tests/")
}

/// The curl lines of the blocks another test runs.
fn curls_run_elsewhere(text: &str) -> usize {
    let lines: Vec<&str> = text.lines().collect();
    let mut n = 0;
    let mut inside = false;
    for (i, l) in lines.iter().enumerate() {
        if l.trim_start().starts_with("```") {
            inside = !inside && run_elsewhere(&lines, i);
        } else if inside && l.trim_start().starts_with("curl ") {
            n += 1;
        }
    }
    n
}

/// The gateway a document's examples run against (`<!-- examples: … -->`).
async fn gateway_for(text: &str) -> common::TestServer {
    let directive = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("<!-- examples: sandbox pending_ms="))
        .map(|rest| rest.trim_end_matches("-->").trim().parse::<u64>().unwrap());
    match directive {
        None => common::start().await,
        Some(ms) => {
            common::start_with(|c| {
                c.sandbox.faults.pending_percent = 100;
                c.sandbox.faults.pending_ms = ms;
                c.reconcile_interval_ms = 200;
            })
            .await
        }
    }
}

fn documents() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v = vec![root.join("README.md")];
    let mut protocol: Vec<PathBuf> = ["protocol", "protocol/native"]
        .into_iter()
        .flat_map(|dir| std::fs::read_dir(root.join(dir)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    protocol.sort();
    v.extend(protocol);
    v
}

/// Runs `command` with `bash`; the HTTP status, the headers and the body curl printed.
fn run(command: &str, headers: &Path) -> (u16, String, String) {
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!("{command} -D {}", headers.display()))
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "{command}\nfailed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let head = std::fs::read_to_string(headers).unwrap();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{command}\nno HTTP status in {head:?}"));
    (status, head, String::from_utf8(out.stdout).unwrap())
}

fn code_of(body: &str) -> u16 {
    let a = common::Answer {
        status: 0,
        replayed: false,
        retry_after: None,
        content_type: String::new(),
        body: body.to_string(),
    };
    a.code()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn document_curl_examples_answer_as_documented() {
    let curl = Command::new("curl").arg("--version").output();
    if !curl.is_ok_and(|o| o.status.success()) {
        common::cannot_run(
            "document_curl_examples_answer_as_documented",
            "curl is not installed",
        );
        return;
    }
    let mut total = 0;
    let mut failures = Vec::new();
    for doc in documents() {
        let examples = examples(&doc);
        if examples.is_empty() {
            continue;
        }
        // A fresh gateway for each document: its examples build on one another.
        let s = gateway_for(&std::fs::read_to_string(&doc).unwrap()).await;
        let base = s.url.trim_end_matches("/api").to_string();
        let tmp = tempfile::tempdir().unwrap();
        for ex in examples {
            if let Some(secs) = ex.command.strip_prefix("sleep ") {
                let secs: f64 = secs.trim().parse().expect("sleep N");
                tokio::time::sleep(std::time::Duration::from_secs_f64(secs)).await;
                continue;
            }
            total += 1;
            let at = format!("{}:{}", ex.file, ex.line);
            let Some(expect) = &ex.expect else {
                failures.push(format!(
                    "{at}: the example documents no answer (an XML block after it, or \
                     `# answers CODE` above it)"
                ));
                continue;
            };
            if !ex.command.contains(DOCUMENTED_BASE) {
                failures.push(format!("{at}: the example does not call {DOCUMENTED_BASE}"));
                continue;
            }
            let command = ex.command.replace(DOCUMENTED_BASE, &base);
            let headers = tmp.path().join("headers");
            let c = command.clone();
            let h = headers.clone();
            let (status, _, body) = tokio::task::spawn_blocking(move || run(&c, &h))
                .await
                .unwrap();
            let code = code_of(&body);
            match expect {
                Expect::Body(want) if *want != body => failures.push(format!(
                    "{at}: the answer differs from the document\n--- document\n{want}--- gateway\n{body}"
                )),
                Expect::Code(want, _) if *want != code => failures.push(format!(
                    "{at}: answers {code}, the document says {want}\n{body}"
                )),
                Expect::Code(_, fragments) => {
                    for f in fragments {
                        if !body.contains(f.as_str()) {
                            failures.push(format!("{at}: the answer lacks {f}\n{body}"));
                        }
                    }
                }
                Expect::Body(_) => {}
            }
            if status != support::http_of(code) {
                failures.push(format!("{at}: HTTP {status} for code {code}"));
            }
            // A request-id makes it safe to send again: the same answer, replayed.
            if ex.command.contains("request-id=") {
                let c = command.clone();
                let h = headers.clone();
                let (again_status, head, again) = tokio::task::spawn_blocking(move || run(&c, &h))
                    .await
                    .unwrap();
                if again != body || again_status != status {
                    failures.push(format!(
                        "{at}: sent again, the answer changed\n{body}\n{again}"
                    ));
                }
                // `request.status` and `order.info` ask about a request-id: read-only.
                let asks = ["command=request.status", "command=order.info"]
                    .iter()
                    .any(|c| ex.command.contains(c));
                let carried_out = !asks && (code < 2000 || body.contains("<data>"));
                let marked = head
                    .lines()
                    .any(|l| l.eq_ignore_ascii_case("idempotent-replayed: true"));
                if carried_out && !marked {
                    failures.push(format!("{at}: sent again, not marked replayed:\n{head}"));
                }
                if !carried_out && marked {
                    failures.push(format!(
                        "{at}: an error that did nothing, sent again, marked replayed:\n{head}"
                    ));
                }
            }
        }
        let report = s.verify().await;
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        s.stop().await;
    }
    assert!(total >= 4, "only {total} curl examples found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_readme_curl_example_is_found() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let mentioned = text
            .lines()
            .filter(|l| l.trim_start().starts_with("curl "))
            .count()
            - curls_run_elsewhere(&text);
        let curls = examples(&doc)
            .iter()
            .filter(|e| e.command.starts_with("curl "))
            .count();
        assert_eq!(
            curls,
            mentioned,
            "{}: a curl line outside a sh code block, or one the parser missed",
            doc.strip_prefix(root).unwrap().display()
        );
    }
}
