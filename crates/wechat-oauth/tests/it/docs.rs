//! The docs stand alone: no source file cites a reference file outside the repository, and
//! every `docs/protocol.md §N` citation names a section that exists.

use std::path::{Path, PathBuf};

/// Files that live outside the repository (the team's reference notes): citing them from
/// code or docs leaves readers on docs.rs with a dead reference. The folder's path is
/// assembled so that this file does not itself read as a citation.
const OUTSIDE: [&str; 6] = [
    "wechat-protocol.md",
    "wechat-oa-server.md",
    "node-wechat-oauth.md",
    "peer-sdks.md",
    "rust-stack.md",
    concat!("..", "/", "shared"),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources_of_every_crate() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let crates = std::fs::read_dir(workspace().join("crates")).unwrap();
    for krate in crates.flatten() {
        rust_files(&krate.path().join("src"), &mut files);
    }
    files.sort();
    files
}

#[test]
fn no_source_cites_a_file_outside_the_repository() {
    let files = sources_of_every_crate();
    assert!(files.len() > 50, "found only {} source files", files.len());
    let mut hits = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if let Some(name) = OUTSIDE.iter().find(|name| line.contains(*name)) {
                let shown = file.strip_prefix(workspace()).unwrap_or(file);
                hits.push(format!("{}:{}: cites {name}", shown.display(), n + 1));
            }
        }
    }
    assert!(
        hits.is_empty(),
        "{} citations of files outside the repository (cite docs/protocol.md or WeChat's \
         pages instead):\n{}",
        hits.len(),
        hits.join("\n")
    );
}

#[test]
fn every_protocol_citation_names_an_existing_section() {
    let protocol = std::fs::read_to_string(workspace().join("docs/protocol.md")).unwrap();
    // "## 4. Mini Program" is §4, "### 4.2 Decrypting" is §4.2.
    let sections: Vec<String> = protocol
        .lines()
        .filter(|l| l.starts_with("## ") || l.starts_with("### "))
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|n| n.trim_end_matches('.').to_owned())
        .collect();
    assert!(sections.contains(&"4.2".to_owned()), "{sections:?}");
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut cited = 0;
    let mut missing = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        // "docs/protocol.md §3.1, §3.2" and "docs/protocol.md\n//! §2.1" both cite.
        for citation in text.split("docs/protocol.md").skip(1) {
            let citation: String = citation
                .chars()
                .take_while(|c| !matches!(c, ')' | '.' | ':' | ';') || c.is_ascii_digit())
                .collect();
            for part in citation.split('§').skip(1) {
                let number: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                let number = number.trim_end_matches('.');
                cited += 1;
                if !sections.iter().any(|s| s == number) {
                    missing.push(format!("{}: §{number}", file.display()));
                }
            }
        }
    }
    assert!(cited > 20, "only {cited} citations found");
    assert!(
        missing.is_empty(),
        "cited sections that do not exist:\n{}",
        missing.join("\n")
    );
}
