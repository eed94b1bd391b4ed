//! docs/ABI.md's status table says what the code does: each status's code and HTTP
//! status are those of the error it stands for, in the header's order.

use std::path::{Path, PathBuf};

use velox_middleware::Error;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|p| p.join("Cargo.lock").is_file())
        .expect("Cargo.lock above the crate")
        .to_path_buf()
}

/// (status, code, HTTP) of every row of the guide's status table.
fn guide_rows() -> Vec<(String, String, String)> {
    let guide = std::fs::read_to_string(root().join("docs/ABI.md")).expect("docs/ABI.md");
    let strip = |cell: &str| cell.trim().trim_matches('`').to_owned();
    guide
        .lines()
        .skip_while(|l| !l.starts_with("| status | code | HTTP |"))
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').collect();
            (strip(cells[1]), strip(cells[2]), strip(cells[3]))
        })
        .collect()
}

/// The status names in the header's enum, in order.
fn header_statuses() -> Vec<String> {
    let header = std::fs::read_to_string(root().join("include/velox_middleware.h"))
        .expect("include/velox_middleware.h");
    header
        .lines()
        .filter_map(|l| l.trim().strip_prefix("VXM_STATUS_"))
        .filter_map(|l| l.split_once(" = ").map(|(name, _)| name.to_owned()))
        .collect()
}

#[test]
fn the_status_table_follows_the_header_and_the_code() {
    let rows = guide_rows();
    let names: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    assert_eq!(names, header_statuses(), "docs/ABI.md's statuses, in order");
    let errors = [
        Error::NullArgument("x"),
        Error::config("k", "r"),
        Error::request("f", "r"),
        Error::NotFound,
        Error::UpstreamRejected {
            code: "invalid_argument".into(),
            message: String::new(),
        },
        Error::BuildFailed {
            code: "internal".into(),
            message: String::new(),
            logs: String::new(),
        },
        Error::UpstreamUnavailable {
            attempts: 1,
            message: String::new(),
        },
        Error::Timeout { seconds: 1 },
        Error::Cancelled,
        Error::UnsafePath {
            path: PathBuf::new(),
            reason: String::new(),
        },
        Error::io("x", std::io::Error::other("x")),
        Error::ShuttingDown,
        Error::Panic(String::new()),
    ];
    assert_eq!(errors.len() + 1, rows.len(), "one error per status but OK");
    for e in errors {
        let status = e.code().to_ascii_uppercase();
        let row = rows.iter().find(|r| r.0 == status);
        let row = row.unwrap_or_else(|| panic!("docs/ABI.md has no row for {status}"));
        assert_eq!(row.1, e.code(), "{status}'s code");
        assert_eq!(row.2, e.http_status().to_string(), "{status}'s HTTP status");
    }
}
