//! A real S3 server (SeaweedFS `weed mini`) on 127.0.0.1, started and stopped through
//! `scripts/seaweedfs.sh`. Tests that need it are skipped (with a line saying so) unless
//! `VXM_S3_TESTS=1`; `make e2e-s3` sets it after building the weed binary once.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;

pub const ACCESS_KEY: &str = "velox-test-key";
pub const SECRET_KEY: &str = "velox-test-secret-0123456789";

pub fn enabled() -> bool {
    let on = std::env::var("VXM_S3_TESTS").is_ok_and(|v| v == "1");
    if !on {
        eprintln!("skipped: set VXM_S3_TESTS=1 (make e2e-s3) to run against SeaweedFS");
    }
    on
}

pub struct Seaweed {
    dir: tempfile::TempDir,
    pub port: u16,
    running: bool,
}

fn script() -> PathBuf {
    crate::repo_root().join("scripts/seaweedfs.sh")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Seaweed {
    pub fn start() -> Seaweed {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let status = Command::new(script())
            .args(["start", dir.path().to_str().unwrap(), &port.to_string()])
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .status()
            .expect("run scripts/seaweedfs.sh");
        assert!(status.success(), "seaweedfs.sh start failed");
        Seaweed {
            dir,
            port,
            running: true,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if self.running {
            let _ = Command::new(script())
                .args(["stop", self.dir.path().to_str().unwrap()])
                .status();
            self.running = false;
        }
    }
}

impl Drop for Seaweed {
    fn drop(&mut self) {
        self.stop();
    }
}
