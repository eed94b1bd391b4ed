//! No file may point outside the repository: a reader of a checkout has only the
//! checkout, so a path into a sibling directory, a machine's scratch path, a tracker's
//! issue number or a document that is not in the tree leaves them with nothing.

use std::path::{Path, PathBuf};

/// Directories that hold build output or other repositories' files, not ours.
const SKIPPED_DIRS: &[&str] = &[".git", "target", "node_modules", "vendor", "build", "dist"];

/// The repository's root: the directory holding Cargo.lock.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|p| p.join("Cargo.lock").is_file())
        .expect("Cargo.lock above the crate")
        .to_path_buf()
}

fn text_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        // `.git` is a file in a linked worktree.
        if SKIPPED_DIRS.iter().any(|s| name == *s) {
            continue;
        }
        if kind.is_dir() {
            text_files(&path, out);
        } else if kind.is_file() {
            out.push(path);
        }
    }
}

/// What is wrong with `line`, if it points outside the repository.
fn outside_reference(line: &str) -> Option<&'static str> {
    if line.contains("../shared") {
        return Some("a path into a sibling directory");
    }
    if line.contains("/work/") {
        return Some("a machine's scratch path");
    }
    if line.contains("DESIGN.md") {
        return Some("a design document that is not in the repository");
    }
    let abi_outside_docs = line
        .match_indices("ABI.md")
        .any(|(at, _)| !line[..at].ends_with("docs/"));
    if abi_outside_docs {
        return Some("the ABI guide by a name that is not its path (docs/ABI.md)");
    }
    let lower = line.to_ascii_lowercase();
    let numbered = lower.match_indices("issue ").any(|(at, word)| {
        let rest = lower[at + word.len()..].trim_start_matches('#');
        rest.starts_with(|c: char| c.is_ascii_digit())
    });
    if numbered {
        return Some("a tracker's issue number");
    }
    None
}

#[test]
fn no_file_points_outside_the_repository() {
    let root = root();
    let mut files = Vec::new();
    text_files(&root, &mut files);
    assert!(
        files.len() > 50,
        "walked {} files from {root:?}",
        files.len()
    );
    let mut found = Vec::new();
    // This file names what it looks for.
    files.retain(|f| !f.ends_with(file!()));
    for file in files {
        // Binary and non-UTF-8 files (images, fuzz corpora) are not read by people.
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(why) = outside_reference(line) {
                let shown = file.strip_prefix(&root).unwrap_or(&file).display();
                found.push(format!("{shown}:{}: {why}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(found.is_empty(), "{}", found.join("\n"));
}

#[test]
fn each_kind_of_outside_reference_is_caught() {
    for bad in [
        "see ../shared/notes",
        "a checkout in /work/main",
        "as DESIGN.md says",
        "names fixed by ABI.md",
        "fixed in issue 6",
        "Issue #12 asked for it",
    ] {
        assert!(outside_reference(bad).is_some(), "{bad}");
    }
    for good in [
        "see docs/ABI.md",
        "an issue with the cache",
        "the issues list",
    ] {
        assert_eq!(outside_reference(good), None, "{good}");
    }
}
