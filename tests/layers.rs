//! The import direction of `src/`, read from the code's own `crate::` paths.
//!
//! The layers, from the top: wiring (server, app, admin, bench, logging, main) →
//! dialect → gateway → command → engine → store and upstream → config and metrics →
//! types. A module may import its own layer or any layer below it, never one above.
//! The README's "Layout" says what each part owns.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The rank of each top-level module of `src/`: a module imports only modules of a
/// rank at or below its own.
const LAYERS: &[(&str, u8)] = &[
    ("types", 0),
    ("error", 0),
    ("config", 1),
    ("metrics", 1),
    ("store", 2),
    ("upstream", 2),
    ("engine", 3),
    ("command", 4),
    ("outcome", 4),
    ("gateway", 5),
    ("dialect", 6),
    ("server", 7),
    ("app", 7),
    ("admin", 7),
    ("control", 7),
    ("bench", 7),
    ("logging", 7),
    ("main", 7),
];

/// Imports against the direction that the refactoring toward the layers above has not
/// removed yet, as (file under `src/`, module it imports). The list only shrinks: an
/// entry that no longer occurs fails the test too, so that it is taken out.
const PENDING: &[(&str, &str)] = &[];

fn rank(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, r)| *r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a source text names through `crate::`, comments left out.
fn imported_modules(text: &str) -> BTreeSet<String> {
    let mut code = String::new();
    for line in text.lines() {
        let line = match line.find("//") {
            Some(i) => &line[..i],
            None => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    let mut found = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::x, b, c::{y, z}}`: the first segment of each top-level item.
            let mut depth = 0usize;
            let mut item_start = true;
            let mut word = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && (c.is_alphanumeric() || c == '_') => word.push(c),
                    _ => {
                        if item_start && !word.is_empty() {
                            found.insert(std::mem::take(&mut word));
                            item_start = false;
                        }
                    }
                }
            }
            if !word.is_empty() {
                found.insert(word);
            }
        } else {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !word.is_empty() {
                found.insert(word);
            }
        }
    }
    found
}

#[test]
fn src_imports_only_downward() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut against = Vec::new();
    let mut unknown = Vec::new();
    let mut seen_pending = BTreeSet::new();
    for file in &files {
        let rel = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        if rel == "lib.rs" {
            continue;
        }
        let own = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        let Some(own_rank) = rank(&own) else {
            unknown.push(format!("{rel}: module `{own}` has no layer in LAYERS"));
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for module in imported_modules(&text) {
            if module == own {
                continue;
            }
            let Some(their_rank) = rank(&module) else {
                unknown.push(format!("{rel}: imports `{module}`, which has no layer"));
                continue;
            };
            if their_rank > own_rank {
                if PENDING.contains(&(rel.as_str(), module.as_str())) {
                    seen_pending.insert((rel.clone(), module.clone()));
                } else {
                    against.push(format!(
                        "{rel} (layer {own_rank}) imports {module} (layer {their_rank})"
                    ));
                }
            }
        }
    }
    let stale: Vec<_> = PENDING
        .iter()
        .filter(|(f, m)| !seen_pending.contains(&(f.to_string(), m.to_string())))
        .collect();
    assert!(
        unknown.is_empty(),
        "modules without a layer:\n{}",
        unknown.join("\n")
    );
    assert!(
        against.is_empty(),
        "imports against the layer direction:\n{}",
        against.join("\n")
    );
    assert!(
        stale.is_empty(),
        "PENDING lists imports that are gone; take them out: {stale:?}"
    );
}

#[test]
fn the_reader_sees_grouped_and_plain_paths() {
    let found = imported_modules(
        "use crate::{engine::Ctx, error::{Error, Result}, store};\n\
         // use crate::dialect::x;\n\
         let x = crate::config::Config::default();\n\
         macro_rules! m { () => { $crate::gateway::x } }\n",
    );
    let found: Vec<_> = found.into_iter().collect();
    assert_eq!(found, ["config", "engine", "error", "store"]);
}
