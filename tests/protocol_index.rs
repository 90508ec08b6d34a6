//! `protocol/README.md` is the index of the partner documents: it links every document
//! in `protocol/` and `protocol/native/` and every command of the gateway
//! (`command::NAMES`), each to a heading that exists in its command document, and names
//! nothing else. `protocol/native.md` indexes the command documents the same way.

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

/// The Markdown documents of `protocol/` and `protocol/native/`, as paths relative to
/// `protocol/` (`native/domains.md`).
fn documents() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol");
    let mut out = Vec::new();
    for sub in ["", "native/"] {
        for e in std::fs::read_dir(dir.join(sub)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".md") {
                out.push(format!("{sub}{name}"));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn protocol_readme_links_every_document() {
    let index = read("protocol/README.md");
    let linked: BTreeSet<String> = links(&index)
        .into_iter()
        .map(|(_, t)| t.split('#').next().unwrap().to_string())
        .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol");
    let mut docs = 0;
    for name in documents() {
        if name == "README.md" {
            continue;
        }
        docs += 1;
        assert!(
            linked.contains(&name),
            "protocol/README.md does not link {name}"
        );
    }
    assert!(docs >= 8, "only {docs} documents in protocol/");
    // And nothing that is not there, in any document of protocol/.
    for doc in documents() {
        let text = read(&format!("protocol/{doc}"));
        let base = dir.join(doc.rsplit_once('/').map_or("", |(d, _)| d));
        for (_, target) in links(&text) {
            let (file, fragment) = target.split_once('#').unwrap_or((&target, ""));
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let path = if file.is_empty() {
                dir.join(&doc)
            } else {
                base.join(file)
            };
            assert!(
                path.exists(),
                "protocol/{doc} links {target}, which does not exist"
            );
            if !fragment.is_empty() && path.extension().is_some_and(|x| x == "md") {
                let there = anchors(&std::fs::read_to_string(&path).unwrap());
                assert!(
                    there.contains(fragment),
                    "protocol/{doc} links {target}: no such heading"
                );
            }
        }
    }
}

/// The commands an index links, each to the heading of its name in a command document
/// (`native/domains.md#domainregister`, relative to `protocol/`, after `prefix`).
fn listed_commands(index: &str, prefix: &str, what: &str) -> Vec<String> {
    let mut listed = Vec::new();
    for (text, target) in links(index) {
        let Some(name) = text.strip_prefix('`').and_then(|t| t.strip_suffix('`')) else {
            continue;
        };
        let Some((file, fragment)) = target
            .strip_prefix(prefix)
            .and_then(|t| t.strip_prefix("native/"))
            .and_then(|t| t.split_once(".md#"))
        else {
            continue;
        };
        assert_eq!(fragment, anchor(name), "{what} links {name} to #{fragment}");
        let doc = anchors(&read(&format!("protocol/native/{file}.md")));
        assert!(
            doc.contains(fragment),
            "protocol/native/{file}.md has no heading for {name} (#{fragment})"
        );
        listed.push(name.to_string());
    }
    listed
}

fn every_command_once(listed: &[String], what: &str) {
    let unique: BTreeSet<&str> = listed.iter().map(String::as_str).collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "{what}: a command is listed twice"
    );
    let names: BTreeSet<&str> = NAMES.into_iter().collect();
    let missing: Vec<_> = names.difference(&unique).collect();
    let extra: Vec<_> = unique.difference(&names).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{what} misses {missing:?} and lists unknown {extra:?}"
    );
}

#[test]
fn protocol_readme_lists_every_command_once() {
    let index = read("protocol/README.md");
    let listed = listed_commands(&index, "", "protocol/README.md");
    every_command_once(&listed, "protocol/README.md");
}

/// native.md's index of the command documents names every command once, and each
/// command has its section in exactly one command document.
#[test]
fn native_index_lists_every_command_once() {
    let index = read("protocol/native.md");
    let listed = listed_commands(&index, "", "protocol/native.md");
    every_command_once(&listed, "protocol/native.md");
    for name in NAMES {
        let holders: Vec<String> = documents()
            .into_iter()
            .filter(|d| anchors(&read(&format!("protocol/{d}"))).contains(&anchor(name)))
            .collect();
        assert_eq!(
            holders.len(),
            1,
            "{name} has a section in {holders:?}, not in exactly one document"
        );
        assert!(holders[0].starts_with("native/"), "{name}: {holders:?}");
    }
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
