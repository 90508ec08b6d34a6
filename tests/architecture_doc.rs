//! ARCHITECTURE.md against the source tree: every top-level module of `src/` is named
//! in it, every module it names as one exists, and every repository path it names
//! exists, so the document cannot silently fall behind a move or a rename.

use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn architecture() -> String {
    std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap()
}

/// The texts between backticks.
fn quoted(text: &str) -> Vec<&str> {
    text.split('`').skip(1).step_by(2).collect()
}

/// The top-level modules of `src/`: its `.rs` files and its directories.
fn top_level_modules() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(root().join("src")).unwrap() {
        let path = e.unwrap().path();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() || path.extension().is_some_and(|x| x == "rs") {
            out.insert(stem);
        }
    }
    out.remove("lib");
    out
}

/// A quoted text that names a file or directory of the repository: it starts with one
/// of the repository's top-level directories or is a top-level file.
fn is_repo_path(q: &str) -> bool {
    let first = q.split('/').next().unwrap_or_default();
    !q.contains(' ')
        && !q.starts_with('/')
        && (q.contains('/') || q.ends_with(".md") || q.ends_with(".rs"))
        && root().join(first).exists()
}

#[test]
fn every_top_level_module_is_named() {
    let doc = architecture();
    let named: BTreeSet<&str> = quoted(&doc).into_iter().collect();
    let missing: Vec<_> = top_level_modules()
        .into_iter()
        .filter(|m| !named.contains(m.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "modules of src/ that ARCHITECTURE.md does not name: {missing:?}"
    );
}

#[test]
fn every_module_in_the_layer_table_exists() {
    let doc = architecture();
    let modules = top_level_modules();
    let mut unknown = Vec::new();
    let mut rows = 0;
    for line in doc.lines() {
        // `| rank | modules | owns |`: the modules column of the layer table.
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 || !cells[1].starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        rows += 1;
        for m in quoted(cells[2]) {
            if !modules.contains(m) {
                unknown.push(m.to_string());
            }
        }
    }
    assert_eq!(rows, 8, "the layer table has one row per rank, 0 to 7");
    assert!(
        unknown.is_empty(),
        "ARCHITECTURE.md names modules src/ does not have: {unknown:?}"
    );
}

#[test]
fn every_path_named_exists() {
    let doc = architecture();
    let paths: Vec<&str> = quoted(&doc)
        .into_iter()
        .filter(|q| is_repo_path(q))
        .collect();
    assert!(
        paths.iter().any(|p| p.starts_with("src/")),
        "no source paths found: the check would prove nothing"
    );
    let missing: Vec<_> = paths.iter().filter(|p| !root().join(p).exists()).collect();
    assert!(
        missing.is_empty(),
        "paths ARCHITECTURE.md names that do not exist: {missing:?}"
    );
}

#[test]
fn bare_file_names_exist_in_the_directory_last_named() {
    // The document names files of a module's directory by their bare name after the
    // directory (`src/engine/ledger.rs`, then `limits.rs`): each must be in the last
    // `src/` directory named before it on the same line.
    let doc = architecture();
    let mut missing = Vec::new();
    let mut checked = 0;
    for line in doc.lines() {
        let mut dir: Option<std::path::PathBuf> = None;
        for q in quoted(line) {
            if q.starts_with("src/") {
                let p = root().join(q);
                dir = Some(if p.is_dir() {
                    p
                } else {
                    p.parent().unwrap().to_path_buf()
                });
            } else if !q.contains(['/', ' ']) && q.ends_with(".rs")
                || q.ends_with('/') && q.matches('/').count() == 1
            {
                if let Some(d) = &dir {
                    checked += 1;
                    if !d.join(q).exists() && !root().join(q).exists() {
                        missing.push(format!("{q} (after {})", d.display()));
                    }
                }
            }
        }
    }
    assert!(
        checked > 0,
        "no bare file names found: the check would prove nothing"
    );
    assert!(
        missing.is_empty(),
        "files ARCHITECTURE.md names that are not where it says: {missing:?}"
    );
}

/// README's Layout block names every top-level module of `src/`.
#[test]
fn readme_layout_names_every_module() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let layout = readme
        .split("## Layout")
        .nth(1)
        .and_then(|s| s.split("```").nth(1))
        .expect("README.md has a Layout section with a code block");
    let missing: Vec<_> = top_level_modules()
        .into_iter()
        .filter(|m| {
            !layout.contains(&format!("src/{m}.rs")) && !layout.contains(&format!("src/{m}/"))
        })
        .collect();
    assert!(missing.is_empty(), "README's Layout leaves out {missing:?}");
}
