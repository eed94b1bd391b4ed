//! The Connect client and its retry policy against a real HTTP fake of `vx server`.
//! Real sockets, so real (short) time: tokio's paused clock would fire the timeouts
//! while the runtime waits on the socket.

use velox_testkit::fake_velox;

use std::time::Duration;

use fake_velox::{FakeVelox, Reply};
use tokio::time::Instant;
use velox_core::config::RetryConfig;
use velox_core::upstream::{Upstream, VeloxClient};
use velox_core::Error;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

struct Setup {
    max_attempts: u32,
    request_timeout: Duration,
    build_timeout: Duration,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            max_attempts: 3,
            request_timeout: Duration::from_secs(5),
            build_timeout: Duration::from_secs(10),
        }
    }
}

impl Setup {
    fn attempts(max_attempts: u32) -> Setup {
        Setup {
            max_attempts,
            ..Setup::default()
        }
    }
}

fn upstream(url: &str, s: Setup) -> (Upstream, Instant) {
    let mut config = test_config();
    config.server_url = Some(url.to_owned());
    config.retry = RetryConfig {
        max_attempts: s.max_attempts,
        initial_delay: ms(5),
        max_delay: ms(20),
        backoff_multiplier: 2.0,
    };
    config.request_timeout = s.request_timeout;
    config.build_timeout = s.build_timeout;
    let up = Upstream::from_config(&config).unwrap().unwrap();
    (up, Instant::now() + s.build_timeout)
}

fn test_config() -> velox_core::Config {
    // Parsed, then adjusted: the parser insists on whole seconds, these tests do not.
    velox_core::Config::from_json(br#"{"cache": {"enabled": false}}"#).unwrap()
}

fn body() -> serde_json::Value {
    serde_json::json!({
        "request_id": "0b6a3e0c-5d43-4a8e-9d53-7b8b3f3f0c11",
        "rr_version": "v2025.1.5",
        "target_platform": {"os": "linux", "arch": "amd64"},
        "plugins": [{"module_name": "github.com/roadrunner-server/http/v5", "tag": "v5.3.0"}],
        "force_rebuild": false
    })
}

/// One build against a fake that answers `replies` in turn, then success: the calls it took.
async fn calls_to_succeed(replies: impl IntoIterator<Item = Reply>, s: Setup) -> usize {
    let fake = FakeVelox::start(Reply::success("/tmp/rr-bin")).await;
    fake.script(replies);
    let (up, deadline) = upstream(&fake.url(), s);
    up.build(&body(), deadline).await.unwrap();
    fake.call_count()
}

/// One build against a fake that always answers `reply`: the error and the calls it took.
async fn failure(reply: Reply, s: Setup) -> (Error, usize) {
    let fake = FakeVelox::start(reply).await;
    let (up, deadline) = upstream(&fake.url(), s);
    let err = up.build(&body(), deadline).await.unwrap_err();
    (err, fake.call_count())
}

#[tokio::test]
async fn success_sends_connect_headers_and_the_body() {
    let fake = FakeVelox::start(Reply::success("/tmp/rr-bin")).await;
    let (up, deadline) = upstream(&fake.url(), Setup::default());
    let out = up.build(&body(), deadline).await.unwrap();
    assert_eq!(out.path, "/tmp/rr-bin");
    assert_eq!(out.logs, "build ok");
    let calls = fake.calls();
    assert_eq!(calls.len(), 1);
    let c = &calls[0];
    assert_eq!(c.method, "POST");
    assert_eq!(c.path, "/api.service.v1.BuildService/Build");
    assert_eq!(c.header("content-type"), Some("application/json"));
    assert_eq!(c.header("connect-protocol-version"), Some("1"));
    let timeout: u64 = c.header("connect-timeout-ms").unwrap().parse().unwrap();
    assert!(timeout > 0 && timeout <= 5000, "{timeout}");
    assert_eq!(c.body, body());
}

#[tokio::test]
async fn connect_timeout_header_is_the_time_left_when_that_is_shorter() {
    let fake = FakeVelox::start(Reply::success("/tmp/rr-bin")).await;
    let (up, deadline) = upstream(
        &fake.url(),
        Setup {
            request_timeout: Duration::from_secs(60),
            build_timeout: ms(800),
            ..Setup::default()
        },
    );
    up.build(&body(), deadline).await.unwrap();
    let timeout: u64 = fake.calls()[0]
        .header("connect-timeout-ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!(timeout <= 800, "{timeout}");
}

#[tokio::test]
async fn unavailable_is_retried_until_it_succeeds() {
    let busy = || Reply::connect("unavailable", "busy");
    assert_eq!(
        calls_to_succeed([busy(), busy()], Setup::default()).await,
        3
    );
}

#[tokio::test]
async fn unavailable_gives_up_after_max_attempts() {
    let (err, calls) = failure(Reply::connect("unavailable", "busy"), Setup::default()).await;
    assert!(
        matches!(err, Error::UpstreamUnavailable { attempts: 3, .. }),
        "{err:?}"
    );
    assert_eq!(err.http_status(), 502);
    assert_eq!(calls, 3);
}

/// A busy server, a transport error and Velox's one retried `internal` each cost one more
/// call, and the build then succeeds.
#[tokio::test]
async fn one_transient_failure_then_success_takes_two_calls() {
    let cases = [
        (
            "resource_exhausted",
            Reply::connect("resource_exhausted", "too many builds"),
        ),
        ("reset mid-body", Reply::ResetMidBody),
        (
            "internal once",
            Reply::connect("internal", "downloading template: EOF"),
        ),
    ];
    for (what, reply) in cases {
        let calls = calls_to_succeed([reply], Setup::default()).await;
        assert_eq!(calls, 2, "{what}");
    }
}

#[tokio::test]
async fn bare_502_503_504_are_retried() {
    let replies = [Reply::bare(502), Reply::bare(503), Reply::bare(504)];
    assert_eq!(calls_to_succeed(replies, Setup::attempts(4)).await, 4);
}

#[tokio::test]
async fn bare_502_forever_ends_unavailable_with_the_status_in_the_message() {
    let (err, calls) = failure(Reply::bare(502), Setup::default()).await;
    let Error::UpstreamUnavailable { attempts, message } = err else {
        panic!("{err:?}")
    };
    assert_eq!(attempts, 3);
    assert!(message.contains("502"), "{message}");
    assert_eq!(calls, 3);
}

#[tokio::test]
async fn an_unreachable_server_ends_unavailable_after_the_attempts() {
    // A port that was just free: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (up, deadline) = upstream(&format!("http://127.0.0.1:{port}"), Setup::default());
    let started = std::time::Instant::now();
    let err = up.build(&body(), deadline).await.unwrap_err();
    assert!(
        matches!(err, Error::UpstreamUnavailable { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn already_exists_waits_without_using_attempts() {
    let fake = FakeVelox::start(Reply::success("/tmp/rr-bin")).await;
    fake.script((0..5).map(|_| Reply::connect("already_exists", "build is already in progress")));
    let (up, deadline) = upstream(&fake.url(), Setup::attempts(1));
    up.build(&body(), deadline).await.unwrap();
    assert_eq!(fake.call_count(), 6);
    // Each ask after a 409 came after a wait, not at once.
    let calls = fake.calls();
    for pair in calls.windows(2) {
        assert!(pair[1].started - pair[0].started >= ms(2));
    }
}

#[tokio::test]
async fn already_exists_until_build_timeout_is_a_timeout() {
    let fake = FakeVelox::start(Reply::connect("already_exists", "in progress")).await;
    let (up, deadline) = upstream(
        &fake.url(),
        Setup {
            build_timeout: ms(300),
            ..Setup::default()
        },
    );
    let started = std::time::Instant::now();
    let err = up.build(&body(), deadline).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert_eq!(err.http_status(), 504);
    let took = started.elapsed();
    assert!(took >= ms(280) && took < ms(1500), "{took:?}");
    assert!(fake.call_count() >= 5, "{}", fake.call_count());
}

#[tokio::test]
async fn internal_is_retried_once_then_build_failed() {
    let reply = Reply::connect(
        "internal",
        "building plugins: exit status 1: undefined: foo",
    );
    let (err, calls) = failure(reply, Setup::attempts(5)).await;
    let Error::BuildFailed { code, message, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(code, "internal");
    assert!(message.contains("undefined: foo"), "{message}");
    assert_eq!(err.http_status(), 502);
    assert_eq!(calls, 2);
}

#[tokio::test]
async fn invalid_argument_is_never_retried() {
    let reply = Reply::connect(
        "invalid_argument",
        "validating request: rr_version: must be a semantic version",
    );
    let (err, calls) = failure(reply, Setup::default()).await;
    let Error::UpstreamRejected { code, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(code, "invalid_argument");
    assert!(message.contains("rr_version"));
    assert_eq!(err.http_status(), 422);
    assert_eq!(calls, 1);
}

#[tokio::test]
async fn other_client_errors_are_never_retried() {
    for code in [
        "permission_denied",
        "failed_precondition",
        "unauthenticated",
    ] {
        let (err, calls) = failure(Reply::connect(code, "no"), Setup::default()).await;
        assert!(matches!(err, Error::UpstreamRejected { .. }), "{err:?}");
        assert_eq!(calls, 1, "{code}");
    }
}

#[tokio::test]
async fn a_wrong_server_path_is_unimplemented_and_not_retried() {
    let fake = FakeVelox::start(Reply::success("/tmp/rr-bin")).await;
    let (up, deadline) = upstream(&format!("{}/not-velox", fake.url()), Setup::default());
    let err = up.build(&body(), deadline).await.unwrap_err();
    assert!(
        matches!(err, Error::UpstreamUnavailable { attempts: 1, .. }),
        "{err:?}"
    );
    assert_eq!(fake.call_count(), 1);
}

#[tokio::test]
async fn malformed_json_is_retried_once_then_unavailable() {
    let (err, calls) = failure(Reply::Malformed, Setup::attempts(5)).await;
    let Error::UpstreamUnavailable { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(message.contains("malformed"), "{message}");
    assert_eq!(calls, 2);
}

#[tokio::test]
async fn an_attempt_cut_by_request_timeout_is_asked_again_without_using_an_attempt() {
    let fake = FakeVelox::start(Reply::success("/tmp/rr-bin")).await;
    fake.script([Reply::Hang, Reply::Hang]);
    let (up, deadline) = upstream(
        &fake.url(),
        Setup {
            max_attempts: 1,
            request_timeout: ms(100),
            build_timeout: Duration::from_secs(5),
        },
    );
    up.build(&body(), deadline).await.unwrap();
    fake.wait_for(ms(2000), "both hung calls dropped", |c| {
        c.len() == 3 && c[0].dropped && c[1].dropped
    })
    .await;
}

#[tokio::test]
async fn a_hanging_server_ends_in_timeout_at_build_timeout() {
    let fake = FakeVelox::start(Reply::Hang).await;
    let (up, deadline) = upstream(
        &fake.url(),
        Setup {
            request_timeout: Duration::from_secs(60),
            build_timeout: ms(300),
            ..Setup::default()
        },
    );
    let started = std::time::Instant::now();
    let err = up.build(&body(), deadline).await.unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < ms(1500));
    fake.wait_for(ms(2000), "the hung call dropped", |c| {
        c.len() == 1 && c[0].dropped
    })
    .await;
}

#[tokio::test]
async fn dropping_the_call_closes_the_connection_upstream() {
    let fake = FakeVelox::start(Reply::Hang).await;
    let (up, deadline) = upstream(&fake.url(), Setup::default());
    let task = tokio::spawn(async move { up.build(&body(), deadline).await });
    fake.wait_for(ms(2000), "the call arrived", |c| c.len() == 1)
        .await;
    task.abort();
    fake.wait_for(ms(2000), "the call dropped", |c| c[0].dropped)
        .await;
}

#[test]
fn the_client_refuses_a_non_http_server_url() {
    assert!(VeloxClient::new("unix:///run/velox.sock").is_err());
}
