//! `protocol/README.md` is the index of the partner documents: it links every document
//! in `protocol/` and every command of the gateway (`command::NAMES`), each to a heading
//! that exists, and names nothing else.

use regway::command::NAMES;
use std::collections::BTreeSet;
use std::path::Path;

fn read(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The anchor a Markdown heading gets: lower case, punctuation other than `-` and `_`
/// dropped, spaces made hyphens (`### license.set-ip` → `licenseset-ip`).
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(doc: &str) -> BTreeSet<String> {
    let mut fenced = false;
    doc.lines()
        .filter(|l| {
            if l.trim_start().starts_with("```") {
                fenced = !fenced;
            }
            !fenced
        })
        .filter_map(|l| {
            let h = l.trim_start_matches('#');
            (h.len() < l.len() && h.starts_with(' ')).then(|| anchor(h))
        })
        .collect()
}

/// Every `[text](target)` link of a Markdown text: (text, target).
fn links(doc: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find("](") {
        let before = &rest[..i];
        let text = before.rfind('[').map(|j| &before[j + 1..]).unwrap_or("");
        let after = &rest[i + 2..];
        let end = after.find(')').unwrap_or(after.len());
        out.push((text.to_string(), after[..end].to_string()));
        rest = &after[end..];
    }
    out
}

#[test]
fn protocol_readme_links_every_document() {
    let index = read("protocol/README.md");
    let linked: BTreeSet<String> = links(&index).into_iter().map(|(_, t)| t).collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol");
    let mut docs = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        if name == "README.md" || !name.ends_with(".md") {
            continue;
        }
        docs += 1;
        assert!(
            linked.contains(&name),
            "protocol/README.md does not link {name}"
        );
    }
    assert!(docs >= 3, "only {docs} documents in protocol/");
    // And nothing that is not there.
    for (_, target) in links(&index) {
        let file = target.split('#').next().unwrap();
        if file.is_empty() || file.contains("://") {
            continue;
        }
        assert!(
            dir.join(file).exists(),
            "protocol/README.md links {target}, which does not exist"
        );
    }
}

#[test]
fn protocol_readme_lists_every_command_once() {
    let index = read("protocol/README.md");
    let native = anchors(&read("protocol/native.md"));
    let mut listed = Vec::new();
    for (text, target) in links(&index) {
        let Some(name) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) else {
            continue;
        };
        let Some(fragment) = target.strip_prefix("native.md#") else {
            continue;
        };
        assert_eq!(
            fragment,
            anchor(name),
            "protocol/README.md links {name} to #{fragment}"
        );
        assert!(
            native.contains(fragment),
            "protocol/native.md has no heading for {name} (#{fragment})"
        );
        listed.push(name.to_string());
    }
    let unique: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    assert_eq!(unique.len(), listed.len(), "a command is listed twice");
    let names: BTreeSet<&str> = NAMES.into_iter().collect();
    let missing: Vec<_> = names.difference(&unique).collect();
    let extra: Vec<_> = unique.difference(&names).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "protocol/README.md misses {missing:?} and lists unknown {extra:?}"
    );
}

#[test]
fn anchors_follow_markdown() {
    assert_eq!(anchor(" license.set-ip"), "licenseset-ip");
    assert_eq!(
        anchor(" 2502: rate limits and the lock-out"),
        "2502-rate-limits-and-the-lock-out"
    );
    assert_eq!(anchor(" Idempotency (extension)"), "idempotency-extension");
}
