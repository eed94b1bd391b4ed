//! A Velox-compatible fake build server for the tests: real HTTP/1.1 on 127.0.0.1
//! (port 0), speaking Connect's unary JSON like `vx server`, with scripted faults.
//!
//! Hand-written on tokio rather than on a framework so that faults the real world has
//! (a reset in the middle of a body, a peer that never answers) are easy to produce and
//! a client hanging up is seen and recorded.

use std::collections::VecDeque;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub const BUILD_PATH: &str = "/api.service.v1.BuildService/Build";

/// What the fake answers to one call.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 `{path, logs}` after `delay`.
    Success {
        delay: Duration,
        path: String,
        logs: String,
    },
    /// A Connect error: `http` status and `{"code", "message"}` body, after `delay`.
    Connect {
        delay: Duration,
        http: u16,
        code: String,
        message: String,
    },
    /// A status with a non-Connect body (what a proxy says).
    Bare { http: u16, body: String },
    /// Never answers; the call is recorded as dropped when the client hangs up.
    Hang,
    /// Headers and part of a 200 body, then a TCP reset.
    ResetMidBody,
    /// 200 with a body that is not JSON.
    Malformed,
    /// A redirect (`http` 3xx) to `location`, as a misconfigured proxy would send.
    Redirect { http: u16, location: String },
}

impl Reply {
    pub fn success(path: impl Into<String>) -> Reply {
        Reply::success_after(Duration::ZERO, path)
    }

    pub fn success_after(delay: Duration, path: impl Into<String>) -> Reply {
        Reply::Success {
            delay,
            path: path.into(),
            logs: "build ok".into(),
        }
    }

    /// The error Velox itself sends, with the status the Connect protocol gives the code.
    pub fn connect(code: &str, message: &str) -> Reply {
        Reply::connect_after(Duration::ZERO, code, message)
    }

    /// A failure that takes `delay`, so that several callers wait on the same build.
    pub fn connect_after(delay: Duration, code: &str, message: &str) -> Reply {
        Reply::Connect {
            delay,
            http: connect_status(code),
            code: code.into(),
            message: message.into(),
        }
    }

    pub fn bare(http: u16) -> Reply {
        Reply::Bare {
            http,
            body: format!("<html><body>{http}</body></html>"),
        }
    }
}

/// The Connect code table both fakes answer with (the Go fake embeds the same file).
pub const CONNECT_CODES_JSON: &str =
    include_str!("../../../go-shim/tests/fakevelox/connect_codes.json");

/// The HTTP status a Connect server answers with `code`.
pub fn connect_status(code: &str) -> u16 {
    static TABLE: OnceLock<serde_json::Value> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        serde_json::from_str(CONNECT_CODES_JSON).expect("connect_codes.json is JSON")
    });
    let status = table["code_to_http"]
        .get(code)
        .unwrap_or(&table["unknown_code_http"]);
    status
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .expect("connect_codes.json: statuses are numbers")
}

/// One call as the fake saw it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// Lowercased names.
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
    pub started: Instant,
    /// When the answer was written, or when the client hung up.
    pub ended: Option<Instant>,
    /// The client closed the connection before the answer was written.
    pub dropped: bool,
}

impl Call {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Chooses an answer from the request body.
type Responder = Arc<dyn Fn(&serde_json::Value) -> Reply + Send + Sync>;

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    responder: Option<Responder>,
    fallback: Option<Reply>,
    calls: Vec<Call>,
    journal: Option<PathBuf>,
}

/// The server. Dropping it stops accepting; connections in progress end with the
/// test's runtime.
pub struct FakeVelox {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    changed: watch::Receiver<u64>,
    accept: tokio::task::JoinHandle<()>,
}

impl Drop for FakeVelox {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl FakeVelox {
    /// Starts on 127.0.0.1 with `fallback` as the answer once the script is used up.
    pub async fn start(fallback: Reply) -> FakeVelox {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(Mutex::new(State {
            fallback: Some(fallback),
            ..State::default()
        }));
        let (tx, changed) = watch::channel(0u64);
        let tx = Arc::new(tx);
        let accept = {
            let state = state.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    tokio::spawn(serve(stream, state.clone(), tx.clone()));
                }
            })
        };
        FakeVelox {
            addr,
            state,
            changed,
            accept,
        }
    }

    /// Answers to the next calls, in order, before the fallback applies.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.lock().unwrap().script.extend(replies);
    }

    /// Answers with what `f` says for the request body once the script is used up, in
    /// place of the fallback: for a client that picks the fault per request.
    pub fn respond_with(&self, f: impl Fn(&serde_json::Value) -> Reply + Send + Sync + 'static) {
        self.state.lock().unwrap().responder = Some(Arc::new(f));
    }

    /// Appends `call <tag>` to `path` when a call arrives and `dropped <tag>` when its
    /// client hangs up before the answer, the tag being the request's first plugin's: a
    /// client in another process (a C program) cannot call [`FakeVelox::wait_for`].
    pub fn journal_to(&self, path: impl Into<PathBuf>) {
        self.state.lock().unwrap().journal = Some(path.into());
    }

    pub fn set_fallback(&self, reply: Reply) {
        self.state.lock().unwrap().fallback = Some(reply);
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    pub fn call_count(&self) -> usize {
        self.state.lock().unwrap().calls.len()
    }

    /// Waits (woken by the server, no polling) until `cond` holds for the calls seen so
    /// far; panics after `limit`.
    pub async fn wait_for(&self, limit: Duration, what: &str, cond: impl Fn(&[Call]) -> bool) {
        let mut changed = self.changed.clone();
        let state = self.state.clone();
        let waited = tokio::time::timeout(limit, async move {
            loop {
                if cond(&state.lock().unwrap().calls) {
                    return;
                }
                if changed.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "fake velox: gave up after {limit:?} waiting for {what}; calls: {:#?}",
            self.calls()
        );
    }
}

/// One line in the journal, if there is one; a line is written whole, in one append.
fn note(journal: Option<&Path>, event: &str, tag: &str) {
    let Some(path) = journal else { return };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("fake velox: open the journal");
    file.write_all(format!("{event} {tag}\n").as_bytes())
        .expect("fake velox: write the journal");
}

fn bump(tx: &watch::Sender<u64>) {
    tx.send_modify(|n| *n += 1);
}

async fn serve(mut stream: TcpStream, state: Arc<Mutex<State>>, tx: Arc<watch::Sender<u64>>) {
    let Some((method, path, headers, body)) = read_request(&mut stream).await else {
        return;
    };
    let body_json: serde_json::Value =
        serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let tag = body_json["plugins"][0]["tag"]
        .as_str()
        .unwrap_or("-")
        .to_owned();
    let (index, scripted, responder, fallback, journal) = {
        let mut st = state.lock().unwrap();
        let scripted = if method != "POST" || path != BUILD_PATH {
            Some(Reply::connect("unimplemented", "no such procedure"))
        } else {
            st.script.pop_front()
        };
        st.calls.push(Call {
            method,
            path,
            headers,
            body: body_json.clone(),
            started: Instant::now(),
            ended: None,
            dropped: false,
        });
        let index = st.calls.len() - 1;
        (
            index,
            scripted,
            st.responder.clone(),
            st.fallback.clone(),
            st.journal.clone(),
        )
    };
    // Outside the lock: a responder may write the artifact it answers with.
    let reply = scripted
        .or_else(|| responder.map(|f| f(&body_json)))
        .or(fallback)
        .expect("fake velox has a fallback");
    note(journal.as_deref(), "call", &tag);
    bump(&tx);

    let delay = match &reply {
        Reply::Success { delay, .. } | Reply::Connect { delay, .. } => Some(*delay),
        Reply::Hang => None,
        _ => Some(Duration::ZERO),
    };
    let hung_up = wait_or_hangup(&mut stream, delay).await;
    let record = |dropped: bool| {
        let mut st = state.lock().unwrap();
        st.calls[index].ended = Some(Instant::now());
        st.calls[index].dropped = dropped;
        drop(st);
        bump(&tx);
    };
    if hung_up {
        record(true);
        note(journal.as_deref(), "dropped", &tag);
        return;
    }
    match reply {
        Reply::Success { path, logs, .. } => {
            let body = serde_json::json!({ "path": path, "logs": logs }).to_string();
            let _ = write_response(&mut stream, 200, "application/json", &body).await;
        }
        Reply::Connect {
            http,
            code,
            message,
            ..
        } => {
            let body = serde_json::json!({ "code": code, "message": message }).to_string();
            let _ = write_response(&mut stream, http, "application/json", &body).await;
        }
        Reply::Bare { http, body } => {
            let _ = write_response(&mut stream, http, "text/html", &body).await;
        }
        Reply::Redirect { http, location } => {
            let head = format!(
                "HTTP/1.1 {http} Redirect\r\nlocation: {location}\r\n\
                 content-length: 0\r\nconnection: close\r\n\r\n"
            );
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.flush().await;
        }
        Reply::Malformed => {
            let _ = write_response(&mut stream, 200, "application/json", "{\"path\": ").await;
        }
        Reply::ResetMidBody => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                        content-length: 400\r\nconnection: close\r\n\r\n{\"path\": \"/tm";
            let _ = stream.write_all(head.as_bytes()).await;
            let _ = stream.flush().await;
            // SO_LINGER 0: closing sends RST instead of FIN, and never blocks (the
            // deprecation is about lingering with a non-zero time).
            #[allow(deprecated)]
            let _ = stream.set_linger(Some(Duration::ZERO));
            drop(stream);
            record(false);
            return;
        }
        Reply::Hang => unreachable!("a hang never answers"),
    }
    record(false);
}

/// Sleeps for `delay` (forever when `None`) unless the client hangs up first; true when
/// it did. A request body was read completely, so any readable byte or EOF here is the
/// client's doing.
async fn wait_or_hangup(stream: &mut TcpStream, delay: Option<Duration>) -> bool {
    let sleep = async {
        match delay {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let mut probe = [0u8; 1];
    tokio::select! {
        _ = sleep => false,
        read = stream.read(&mut probe) => matches!(read, Ok(0) | Err(_)),
    }
}

type Request = (String, String, Vec<(String, String)>, Vec<u8>);

async fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_owned();
    let path = first.next()?.to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(length);
    Some((method, path, headers, body))
}

async fn write_response(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    body: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    };
    let head = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: {content_type}\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await?;
    stream.shutdown().await
}
