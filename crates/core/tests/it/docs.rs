//! The repository's documents agree with the code, and no file points outside the
//! repository: README.md's key table is the key table's rendering (docs/ABI.md's status
//! table is checked by the C ABI's own tests), and nothing names a sibling directory, a machine's
//! scratch path, a tracker's issue number or a document that is not in the tree (a
//! reader of a checkout has only the checkout).

use std::path::{Path, PathBuf};

use velox_core::config::keys;
use velox_core::upstream::retry::backoff_failures;

/// The repository's root: the directory holding Cargo.lock.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|p| p.join("Cargo.lock").is_file())
        .expect("Cargo.lock above the crate")
        .to_path_buf()
}

/// README.md's configuration table, rows in [`keys::KEYS`] order. Rendered here, not in
/// the library: only this test and `make readme` need Markdown.
fn markdown_table() -> String {
    let mut out = String::from("| key | default | meaning |\n| --- | --- | --- |\n");
    for k in keys::KEYS {
        let default = match k.default {
            keys::DefaultIs::Literal(v) => format!("`{v}`"),
            keys::DefaultIs::Absent(text) => text.to_owned(),
        };
        let doc = k.doc.replace("{retryable}", &backoff_failures());
        let limits = keys::limits(&k.kind, &doc);
        let meaning = if limits.is_empty() {
            doc
        } else {
            format!("{doc}; {limits}")
        };
        out.push_str(&format!("| `{}` | {default} | {meaning} |\n", k.name));
    }
    out
}

/// README.md's table of keys is rendered from the key table; `VXM_WRITE_README=1`
/// (`make readme`) rewrites it.
#[test]
fn readme_key_table_is_current() {
    const BEGIN: &str =
        "<!-- config-keys:begin (generated from crates/core/src/config/keys.rs: make readme) -->\n";
    const END: &str = "<!-- config-keys:end -->";
    let path = root().join("README.md");
    let readme = std::fs::read_to_string(&path).expect("README.md exists");
    let start = readme.find(BEGIN).expect("README.md has the begin marker") + BEGIN.len();
    let end = readme.find(END).expect("README.md has the end marker");
    let fresh = markdown_table();
    if std::env::var_os("VXM_WRITE_README").is_some_and(|v| v == "1") {
        let updated = format!("{}{fresh}{}", &readme[..start], &readme[end..]);
        std::fs::write(&path, updated).expect("README.md is writable");
        return;
    }
    assert!(
        readme[start..end] == fresh,
        "README.md's configuration table is stale: run `make readme` and commit it"
    );
}

/// Directories that hold build output or other repositories' files, not ours.
const SKIPPED_DIRS: &[&str] = &[".git", "target", "node_modules", "vendor", "build", "dist"];

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

/// The sibling directory and the machine's scratch directory, spelt in pieces so that
/// this file does not itself carry the paths every other file is checked for.
const SIBLING_DIR: &str = concat!("..", "/shared");
const SCRATCH_DIR: &str = concat!("/", "work", "/");

/// What is wrong with `line`, if it points outside the repository.
fn outside_reference(line: &str) -> Option<&'static str> {
    if line.contains(SIBLING_DIR) {
        return Some("a path into a sibling directory");
    }
    if line.contains(SCRATCH_DIR) {
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
        format!("see {SIBLING_DIR}/notes"),
        format!("a checkout in {SCRATCH_DIR}main"),
        "as DESIGN.md says".to_owned(),
        "names fixed by ABI.md".to_owned(),
        "fixed in issue 6".to_owned(),
        "Issue #12 asked for it".to_owned(),
    ] {
        assert!(outside_reference(&bad).is_some(), "{bad}");
    }
    for good in [
        "see docs/ABI.md",
        "an issue with the cache",
        "the issues list",
    ] {
        assert_eq!(outside_reference(good), None, "{good}");
    }
}
