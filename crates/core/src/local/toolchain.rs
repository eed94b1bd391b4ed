//! The check made when an engine with local builds starts: `go_binary` is found and
//! runs. Without it the first download would fail minutes later, on a user's request,
//! with an error about a missing file; this fails the engine's creation (RoadRunner's
//! Init) at once, naming the key.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long `go version` may take: it reads no modules, but a loaded host or a cold
/// file cache can make the first start of the toolchain slow.
pub const GO_VERSION_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs `<go_binary> version` and returns what it printed (`go version go1.26.8 ...`).
/// Fails with an `InvalidConfig` error for `go_binary` when it cannot be started, exits
/// with an error, or does not finish within `timeout` (it is killed then).
pub fn check_go(go_binary: &Path, timeout: Duration) -> Result<String> {
    let fail = |reason: String| {
        Error::config(
            "go_binary",
            format!(
                "{}: {reason}; local_build_enabled is true, so builds run this command: \
                 install Go or set go_binary to its path",
                go_binary.display()
            ),
        )
    };
    let mut child = Command::new(go_binary)
        .arg("version")
        // As the builds run it: never download another toolchain to answer.
        .env("GOTOOLCHAIN", "local")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot be run: {e}")))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!("`version` did not finish within {timeout:?}")));
            }
            Err(e) => return Err(fail(format!("waiting for `version`: {e}"))),
        }
    };
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    if !status.success() {
        let said = err.trim();
        return Err(fail(format!("`version` failed ({status}): {said}")));
    }
    Ok(out.trim().to_owned())
}
