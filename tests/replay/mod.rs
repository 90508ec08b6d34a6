//! Replays the request/response pairs under `fixtures/<dialect>/` against a fresh
//! server, in name order, and compares the answers byte for byte.
//!
//! A request file is the request line (`METHOD /path?query`), header lines, a blank
//! line, then the body (one trailing newline of the file is not part of it). A
//! response file is the HTTP status, every response header but `date` (names in lower
//! case, sorted; `idempotent-replayed` and `content-length` included), a blank line,
//! then the body exactly, as bytes. `<ExecutionTime>` is the one field that varies and
//! is written as `*`. A request without its response, or a response without its
//! request, is an error. With `REGWAY_FIXTURES_RECORD=1` the response files are written
//! instead of compared: do that on purpose, then read the diff.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub struct Pair {
    pub name: String,
    pub request: PathBuf,
    pub response: PathBuf,
}

/// The pairs of `dir`, in name order. A `.response` without its `.request` is an error;
/// so is a `.request` without its `.response`, unless the responses are being written.
pub fn pairs(dir: &Path, update: bool) -> Vec<Pair> {
    let mut requests = Vec::new();
    let mut responses = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix(".request") {
            requests.push(stem.to_string());
        } else if let Some(stem) = name.strip_suffix(".response") {
            responses.push(stem.to_string());
        }
    }
    let orphans: Vec<_> = responses.iter().filter(|r| !requests.contains(r)).collect();
    assert!(
        orphans.is_empty(),
        "{}: responses without a request: {orphans:?}",
        dir.display()
    );
    if !update {
        let orphans: Vec<_> = requests.iter().filter(|r| !responses.contains(r)).collect();
        assert!(
            orphans.is_empty(),
            "{}: requests without a response (write them on purpose): {orphans:?}",
            dir.display()
        );
    }
    requests.sort();
    requests
        .into_iter()
        .map(|name| Pair {
            request: dir.join(format!("{name}.request")),
            response: dir.join(format!("{name}.response")),
            name,
        })
        .collect()
}

fn split_head(bytes: &[u8]) -> (String, &[u8]) {
    let i = bytes
        .windows(2)
        .position(|w| w == b"\n\n")
        .expect("a blank line after the head");
    (
        String::from_utf8(bytes[..i].to_vec()).unwrap(),
        &bytes[i + 2..],
    )
}

/// Redacts what varies from one run to the next.
pub fn redact(body: &[u8]) -> Vec<u8> {
    let s = match std::str::from_utf8(body) {
        Ok(s) => s,
        Err(_) => return body.to_vec(),
    };
    let (Some(i), Some(j)) = (s.find("<ExecutionTime>"), s.find("</ExecutionTime>")) else {
        return body.to_vec();
    };
    format!("{}<ExecutionTime>*{}", &s[..i], &s[j..]).into_bytes()
}

/// Sends one request file to `base` (`http://host:port`); the answer as a response file.
pub async fn send(client: &reqwest::Client, base: &str, request: &[u8]) -> Vec<u8> {
    let (head, body) = split_head(request);
    let body = body.strip_suffix(b"\n").unwrap_or(body);
    let mut lines = head.lines();
    let (method, target) = lines.next().unwrap().split_once(' ').unwrap();
    let mut req = client.request(method.parse().unwrap(), format!("{base}{target}"));
    for l in lines {
        let (k, v) = l.split_once(':').unwrap();
        req = req.header(k.trim(), v.trim());
    }
    let resp = req.body(body.to_vec()).send().await.unwrap();
    let mut out = format!("{}\n", resp.status().as_u16());
    let mut headers: Vec<String> = resp
        .headers()
        .iter()
        .filter(|(k, _)| k.as_str() != "date")
        .map(|(k, v)| format!("{k}: {}\n", v.to_str().unwrap()))
        .collect();
    headers.sort();
    out.extend(headers);
    out.push('\n');
    let mut out = out.into_bytes();
    out.extend(redact(&resp.bytes().await.unwrap()));
    out
}

pub async fn replay(dir: &str, base: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let update = std::env::var("REGWAY_FIXTURES_RECORD").as_deref() == Ok("1");
    let client = reqwest::Client::new();
    let pairs = pairs(&dir, update);
    assert!(!pairs.is_empty(), "no fixtures in {}", dir.display());
    for p in pairs {
        let got = send(&client, base, &std::fs::read(&p.request).unwrap()).await;
        if update {
            std::fs::write(&p.response, &got).unwrap();
            continue;
        }
        let want =
            std::fs::read(&p.response).unwrap_or_else(|_| panic!("{}: no response file", p.name));
        assert!(
            got == want,
            "{}: the answer differs\n--- want\n{}\n--- got\n{}",
            p.name,
            String::from_utf8_lossy(&want),
            String::from_utf8_lossy(&got)
        );
    }
}
