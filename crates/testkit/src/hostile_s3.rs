//! An S3 endpoint on 127.0.0.1 that lies in size: it speaks just enough HTTP/1.1 for
//! object_store's GET, PUT and DELETE, and serves a `{key}.bin` and a `{key}.lease` of
//! whatever length it is given, as zeros, counting what it managed to send. For the
//! remote tier's bounds; SeaweedFS (`seaweedfs.rs`) covers the happy paths.
//!
//! Signatures are not checked. A conditional create (`If-None-Match: *`) of a lease
//! answers 412 when a hostile lease is configured; every other PUT succeeds.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// What the server holds; `None` = that object is absent (404; a lease create succeeds).
#[derive(Debug, Clone, Copy, Default)]
pub struct Objects {
    pub bin_len: Option<u64>,
    pub lease_len: Option<u64>,
}

#[derive(Default)]
struct Sent {
    bin: AtomicU64,
    lease: AtomicU64,
}

pub struct HostileS3 {
    addr: std::net::SocketAddr,
    sent: Arc<Sent>,
}

impl HostileS3 {
    /// Listens on an ephemeral port; one thread per connection, for the test's lifetime.
    pub fn start(objects: Objects) -> HostileS3 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sent = Arc::new(Sent::default());
        let counters = sent.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let counters = counters.clone();
                std::thread::spawn(move || serve(conn, objects, &counters));
            }
        });
        HostileS3 { addr, sent }
    }

    /// For `cache.remote.endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Body bytes of `.bin` objects written into sockets so far.
    pub fn bin_bytes_sent(&self) -> u64 {
        self.sent.bin.load(Ordering::Relaxed)
    }

    /// Body bytes of `.lease` objects written into sockets so far.
    pub fn lease_bytes_sent(&self) -> u64 {
        self.sent.lease.load(Ordering::Relaxed)
    }
}

/// Requests on one connection until it closes (object_store keeps connections alive).
fn serve(conn: TcpStream, objects: Objects, sent: &Sent) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut body_len = 0usize;
        let mut create_only = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            let (name, value) = header.split_once(':').unwrap_or((header, ""));
            match name.to_ascii_lowercase().as_str() {
                "content-length" => body_len = value.trim().parse().unwrap_or(0),
                "if-none-match" => create_only = true,
                _ => {}
            }
        }
        let mut body = vec![0; body_len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let lease = path.ends_with(".lease");
        let len = if lease {
            objects.lease_len
        } else if path.ends_with(".bin") {
            objects.bin_len
        } else {
            None
        };
        let ok = match method.as_str() {
            "GET" | "HEAD" => match len {
                None => reply(&mut out, "404 Not Found", 0, ""),
                Some(len) => {
                    let headers = "Last-Modified: Tue, 08 Dec 2026 00:00:00 GMT\r\n\
                                   ETag: \"hostile\"\r\n\
                                   x-amz-meta-sha256: 00\r\n";
                    let counter = if lease { &sent.lease } else { &sent.bin };
                    reply(&mut out, "200 OK", len, headers)
                        && (method == "HEAD" || zeros(&mut out, len, counter))
                }
            },
            "PUT" if lease && create_only && objects.lease_len.is_some() => {
                reply(&mut out, "412 Precondition Failed", 0, "")
            }
            "PUT" => reply(&mut out, "200 OK", 0, "ETag: \"put\"\r\n"),
            "DELETE" => reply(&mut out, "204 No Content", 0, ""),
            _ => reply(&mut out, "405 Method Not Allowed", 0, ""),
        };
        if !ok {
            return;
        }
    }
}

fn reply(out: &mut TcpStream, status: &str, len: u64, headers: &str) -> bool {
    let head = format!("HTTP/1.1 {status}\r\nContent-Length: {len}\r\n{headers}\r\n");
    out.write_all(head.as_bytes()).is_ok()
}

/// Writes `len` zeros until the client stops reading; false when it went away.
fn zeros(out: &mut TcpStream, len: u64, counter: &AtomicU64) -> bool {
    let chunk = [0u8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        match out.write(&chunk[..n]) {
            Ok(0) | Err(_) => return false,
            Ok(w) => {
                counter.fetch_add(w as u64, Ordering::Relaxed);
                left -= w as u64;
            }
        }
    }
    true
}
