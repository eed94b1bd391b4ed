//! What to do after a failed call, decided by the kind of failure, and the loop that
//! keeps asking within the build budget.
//!
//! | failure | verdict |
//! | --- | --- |
//! | transport error, `unavailable`, `resource_exhausted`, `aborted`, `deadline_exceeded`, bare 429/502/503/504 | retry after exponential backoff with jitter; uses an attempt |
//! | `already_exists` (Velox builds the same thing right now) | wait (same backoff, capped at `max_delay`) and ask again until `build_timeout`; uses no attempt |
//! | attempt cut by `request_timeout` | ask again at once; uses no attempt (see below) |
//! | `internal`, `unknown`, `data_loss`, a malformed answer | one more attempt at most (Velox says `internal` for compile errors too, which a retry will not fix) |
//! | `invalid_argument` and the other client errors, `unimplemented` | never retried |
//!
//! # Timeouts
//!
//! `build_timeout` bounds the whole resolve; `request_timeout` bounds one HTTP attempt,
//! which is given `min(request_timeout, time left)` and tells the server so in
//! `Connect-Timeout-Ms`. The seed's defaults (180 s per attempt inside a 5 min build)
//! would cut a long build short if a cut attempt were a failure. It is not: Velox keeps
//! building after the client hangs up, answers `already_exists` to the identical
//! request while it does, and serves the finished binary from its own cache afterwards.
//! So an attempt cut by `request_timeout` is asked again at once without using up an
//! attempt, the next call waits on `already_exists`, and a build that takes longer than
//! `request_timeout` still completes as long as it fits in `build_timeout`. What
//! `request_timeout` still buys is recovery from a connection that silently died.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::codes::Code;
use super::connect::{BuildOutput, Failure, VeloxClient};
use crate::config::RetryConfig;
use crate::error::{Error, Result};

/// How many bytes of a server's message or build logs an error keeps (the end of a
/// build log is where the compiler's complaint is).
pub const LOG_TAIL: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Retry after a backoff; uses an attempt.
    Backoff,
    /// Retry at most once over the whole resolve; uses an attempt.
    Once,
    /// The same build runs upstream: wait and ask again; uses no attempt.
    Wait,
    /// The attempt ran out of its own time: ask again; uses no attempt.
    Reask,
    /// Give up now.
    Stop,
}

pub fn verdict(failure: &Failure) -> Verdict {
    match failure {
        Failure::Transport(_) => Verdict::Backoff,
        Failure::AttemptTimedOut(_) => Verdict::Reask,
        Failure::Malformed(_) => Verdict::Once,
        // The same answer would come again.
        Failure::Redirect { .. } => Verdict::Stop,
        Failure::Status { code, .. } => match code {
            Code::Unavailable
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::DeadlineExceeded => Verdict::Backoff,
            Code::AlreadyExists => Verdict::Wait,
            Code::Internal | Code::Unknown | Code::DataLoss => Verdict::Once,
            Code::Canceled
            | Code::InvalidArgument
            | Code::NotFound
            | Code::PermissionDenied
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unimplemented
            | Code::Unauthenticated => Verdict::Stop,
        },
    }
}

/// The failures [`verdict`] answers with [`Verdict::Backoff`], in words, for the README's
/// `retry.max_attempts` row: derived from `verdict` so that the two cannot disagree.
pub fn backoff_failures() -> String {
    let backs_off = |code: Code| {
        verdict(&Failure::Status {
            http: 0,
            code,
            message: String::new(),
            from_body: true,
            logs: String::new(),
        }) == Verdict::Backoff
    };
    let mut words = Vec::new();
    if verdict(&Failure::Transport(String::new())) == Verdict::Backoff {
        words.push("transport errors".to_owned());
    }
    words.extend(
        (Code::all().into_iter())
            .filter(|c| backs_off(*c))
            .map(|c| format!("`{c}`")),
    );
    let bare: Vec<String> = (100..600)
        .filter(|s| backs_off(Code::from_http_status(*s)))
        .map(|s: u16| s.to_string())
        .collect();
    if !bare.is_empty() {
        words.push(format!("bare {}", bare.join("/")));
    }
    words.join(", ")
}

/// The error a resolve ends with when `failure` was the last word.
pub fn final_error(failure: Failure, calls: u32) -> Error {
    match failure {
        // Only the server's own words reject a request or report a failed build; a bare
        // status came from something in between and means "could not get an answer".
        Failure::Status {
            code,
            message,
            from_body: true,
            logs,
            ..
        } => match code {
            Code::Internal | Code::Unknown | Code::DataLoss | Code::Canceled => {
                Error::BuildFailed {
                    code: code.as_str().to_owned(),
                    message: super::tail(&message, LOG_TAIL),
                    logs: super::tail(&logs, LOG_TAIL),
                }
            }
            Code::InvalidArgument
            | Code::NotFound
            | Code::AlreadyExists
            | Code::PermissionDenied
            | Code::FailedPrecondition
            | Code::OutOfRange
            | Code::Unauthenticated => Error::UpstreamRejected {
                code: code.as_str().to_owned(),
                message: super::tail(&message, LOG_TAIL),
            },
            Code::Unimplemented
            | Code::Unavailable
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::DeadlineExceeded => Error::UpstreamUnavailable {
                attempts: calls,
                message: format!("{code}: {}", super::tail(&message, LOG_TAIL)),
            },
        },
        other => Error::UpstreamUnavailable {
            attempts: calls,
            message: other.to_string(),
        },
    }
}

/// Exponential delays from `initial_delay`, times `backoff_multiplier`, capped at
/// `max_delay`, each drawn from `[d/2, d]` ("equal jitter") so that many callers that
/// failed together do not come back together.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
    multiplier: f64,
}

impl Backoff {
    pub fn new(cfg: &RetryConfig) -> Backoff {
        Backoff {
            next: cfg.initial_delay.min(cfg.max_delay),
            max: cfg.max_delay,
            multiplier: cfg.backoff_multiplier.max(1.0),
        }
    }

    /// The next delay, jittered.
    pub fn next_delay(&mut self) -> Duration {
        let nominal = self.next;
        // Saturating: a product beyond what a Duration holds is simply `max`, so no
        // multiplier can make this panic (`Duration::mul_f64` would).
        self.next = Duration::try_from_secs_f64(nominal.as_secs_f64() * self.multiplier)
            .map_or(self.max, |d| d.min(self.max));
        let half = nominal / 2;
        let spread = (nominal - half).as_nanos() as u64;
        let extra = if spread == 0 {
            0
        } else {
            rand::thread_rng().gen_range(0..=spread)
        };
        half + Duration::from_nanos(extra)
    }
}

/// Asks `client` until it answers, a failure is final, or `deadline` passes.
pub async fn build_with_retries(
    client: &VeloxClient,
    body: &serde_json::Value,
    retry: &RetryConfig,
    request_timeout: Duration,
    deadline: Instant,
    build_timeout: Duration,
) -> Result<BuildOutput> {
    let call = |timeout| client.build_once(body, timeout);
    retry_loop(call, retry, request_timeout, deadline, build_timeout).await
}

/// The loop behind [`build_with_retries`], over any `call(attempt_timeout)`, so that the
/// policy can be run on tokio's paused clock with the seed's real durations.
pub async fn retry_loop<F, Fut>(
    mut call: F,
    retry: &RetryConfig,
    request_timeout: Duration,
    deadline: Instant,
    build_timeout: Duration,
) -> Result<BuildOutput>
where
    F: FnMut(Duration) -> Fut,
    Fut: std::future::Future<Output = std::result::Result<BuildOutput, Failure>>,
{
    let timeout = || Error::Timeout {
        seconds: build_timeout.as_secs(),
    };
    let max_attempts = retry.max_attempts.max(1);
    let mut backoff = Backoff::new(retry);
    let mut busy_wait = Backoff::new(retry);
    let mut counted = 0u32;
    let mut once_used = false;
    let mut calls = 0u32;
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Err(timeout());
        }
        let this_attempt = request_timeout.min(deadline - now);
        calls += 1;
        tracing::debug!(
            attempt = calls,
            timeout_ms = this_attempt.as_millis() as u64,
            "calling velox"
        );
        let failure = match call(this_attempt).await {
            Ok(output) => {
                tracing::debug!(attempt = calls, path = %output.path, "velox answered");
                return Ok(output);
            }
            Err(failure) => failure,
        };
        let verdict = verdict(&failure);
        let delay = match verdict {
            Verdict::Stop => return Err(final_error(failure, calls)),
            Verdict::Reask if this_attempt < request_timeout => return Err(timeout()),
            Verdict::Reask => Duration::ZERO,
            Verdict::Wait => busy_wait.next_delay(),
            Verdict::Backoff | Verdict::Once => {
                counted += 1;
                if verdict == Verdict::Once && std::mem::replace(&mut once_used, true) {
                    return Err(final_error(failure, calls));
                }
                if counted >= max_attempts {
                    return Err(final_error(failure, calls));
                }
                backoff.next_delay()
            }
        };
        let left = deadline.saturating_duration_since(Instant::now());
        if delay >= left && matches!(verdict, Verdict::Backoff | Verdict::Once) {
            // No room for another attempt: the last failure says more than "timeout".
            return Err(final_error(failure, calls));
        }
        tracing::warn!(
            attempt = calls,
            code = failure.code().as_str(),
            delay_ms = delay.as_millis() as u64,
            error = %failure,
            "velox call failed; asking again"
        );
        tokio::time::sleep(delay.min(left)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(initial_ms: u64, max_ms: u64, mult: f64) -> RetryConfig {
        RetryConfig {
            max_attempts: 3,
            initial_delay: Duration::from_millis(initial_ms),
            max_delay: Duration::from_millis(max_ms),
            backoff_multiplier: mult,
        }
    }

    #[test]
    fn the_backoff_list_names_every_retried_code_and_bare_status() {
        assert_eq!(
            backoff_failures(),
            "transport errors, `deadline_exceeded`, `resource_exhausted`, `aborted`, \
             `unavailable`, bare 429/502/503/504"
        );
    }

    fn status(code: Code, from_body: bool) -> Failure {
        Failure::Status {
            http: 500,
            code,
            message: "m".into(),
            from_body,
            logs: String::new(),
        }
    }

    #[test]
    fn backoff_grows_caps_and_jitters_within_half_to_full() {
        let mut b = Backoff::new(&cfg(100, 500, 2.0));
        let nominal = [100u64, 200, 400, 500, 500, 500];
        for n in nominal {
            let d = b.next_delay().as_millis() as u64;
            assert!(d >= n / 2 && d <= n, "delay {d} outside [{}, {n}]", n / 2);
        }
    }

    #[test]
    fn backoff_saturates_instead_of_panicking() {
        // Accepted by no config today, but the arithmetic must not rely on that.
        let mut b = Backoff::new(&RetryConfig {
            max_attempts: 3,
            initial_delay: Duration::from_secs(1),
            max_delay: Duration::MAX,
            backoff_multiplier: 1e300,
        });
        for _ in 0..4 {
            b.next_delay();
        }
        let mut b = Backoff::new(&cfg(1000, 10_000, 1e300));
        b.next_delay();
        let d = b.next_delay();
        assert!(
            d >= Duration::from_secs(5) && d <= Duration::from_secs(10),
            "{d:?}"
        );
    }

    #[test]
    fn backoff_with_zero_initial_delay_never_sleeps() {
        let mut b = Backoff::new(&cfg(0, 0, 2.0));
        assert_eq!(b.next_delay(), Duration::ZERO);
        assert_eq!(b.next_delay(), Duration::ZERO);
    }

    #[test]
    fn verdicts_follow_the_error_kind() {
        assert_eq!(verdict(&Failure::Transport("x".into())), Verdict::Backoff);
        assert_eq!(
            verdict(&Failure::AttemptTimedOut(Duration::from_secs(1))),
            Verdict::Reask
        );
        assert_eq!(verdict(&status(Code::Unavailable, false)), Verdict::Backoff);
        assert_eq!(
            verdict(&status(Code::ResourceExhausted, true)),
            Verdict::Backoff
        );
        assert_eq!(verdict(&status(Code::AlreadyExists, true)), Verdict::Wait);
        assert_eq!(verdict(&status(Code::Internal, true)), Verdict::Once);
        assert_eq!(verdict(&Failure::Malformed("x".into())), Verdict::Once);
        assert_eq!(verdict(&status(Code::InvalidArgument, true)), Verdict::Stop);
        assert_eq!(
            verdict(&status(Code::PermissionDenied, true)),
            Verdict::Stop
        );
        assert_eq!(verdict(&status(Code::Unimplemented, false)), Verdict::Stop);
    }

    #[test]
    fn final_errors_map_to_the_design_table() {
        let e = final_error(status(Code::InvalidArgument, true), 1);
        assert!(matches!(e, Error::UpstreamRejected { .. }));
        assert_eq!(e.http_status(), 422);
        let e = final_error(status(Code::Internal, true), 2);
        assert!(matches!(e, Error::BuildFailed { .. }));
        assert_eq!(e.http_status(), 502);
        // A bare 401 is a proxy in the way, not Velox judging the request.
        let e = final_error(status(Code::Unauthenticated, false), 1);
        assert!(matches!(e, Error::UpstreamUnavailable { attempts: 1, .. }));
        let e = final_error(Failure::Transport("refused".into()), 3);
        assert!(matches!(e, Error::UpstreamUnavailable { attempts: 3, .. }));
    }

    #[test]
    fn build_failure_keeps_only_a_bounded_tail_of_the_logs() {
        let long = format!("{}the compiler error", "x".repeat(100_000));
        let e = final_error(
            Failure::Status {
                http: 500,
                code: Code::Internal,
                message: long.clone(),
                from_body: true,
                logs: long,
            },
            2,
        );
        let Error::BuildFailed { message, logs, .. } = e else {
            panic!("not BuildFailed")
        };
        assert!(message.len() <= LOG_TAIL && message.ends_with("the compiler error"));
        assert!(logs.len() <= LOG_TAIL && logs.ends_with("the compiler error"));
    }

    /// The seed's defaults, on tokio's paused clock: minutes pass in microseconds.
    mod paused {
        use super::*;
        use std::sync::{Arc, Mutex};

        const S: Duration = Duration::from_secs(1);

        fn seed_retry() -> RetryConfig {
            RetryConfig {
                max_attempts: 3,
                initial_delay: S,
                max_delay: 10 * S,
                backoff_multiplier: 2.0,
            }
        }

        type Log = Arc<Mutex<Vec<(Duration, Duration)>>>;

        /// A scripted server: `answer(elapsed, attempt_timeout)` decides each call;
        /// every call is logged as (when, its timeout).
        fn server<A, Fut>(
            start: Instant,
            log: Log,
            answer: A,
        ) -> impl FnMut(
            Duration,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = std::result::Result<BuildOutput, Failure>>>,
        >
        where
            A: Fn(Duration, Duration) -> Fut + Clone + 'static,
            Fut: std::future::Future<Output = std::result::Result<BuildOutput, Failure>> + 'static,
        {
            move |timeout| {
                let at = start.elapsed();
                log.lock().unwrap().push((at, timeout));
                Box::pin(answer.clone()(at, timeout))
            }
        }

        /// One build under the seed's settings (3 attempts of at most 180 s, 300 s in all)
        /// against `answer`; gives the outcome and the server's log of calls.
        async fn seed_build<A, Fut>(
            start: Instant,
            answer: A,
        ) -> (Result<BuildOutput>, Vec<(Duration, Duration)>)
        where
            A: Fn(Duration, Duration) -> Fut + Clone + 'static,
            Fut: std::future::Future<Output = std::result::Result<BuildOutput, Failure>> + 'static,
        {
            let log: Log = Default::default();
            let call = server(start, log.clone(), answer);
            let out = retry_loop(call, &seed_retry(), 180 * S, start + 300 * S, 300 * S).await;
            let log = log.lock().unwrap().clone();
            (out, log)
        }

        fn ok() -> std::result::Result<BuildOutput, Failure> {
            Ok(BuildOutput {
                path: "/tmp/h/rr".into(),
                logs: String::new(),
            })
        }

        fn busy() -> std::result::Result<BuildOutput, Failure> {
            Err(status(Code::AlreadyExists, true))
        }

        #[tokio::test(start_paused = true)]
        async fn a_build_longer_than_request_timeout_still_completes_within_build_timeout() {
            // Velox takes 4 minutes: the first call is cut at 180 s, Velox goes on
            // building and answers already_exists until it is done.
            let start = Instant::now();
            let (out, log) = seed_build(start, |at, timeout| async move {
                if at.is_zero() {
                    tokio::time::sleep(timeout).await;
                    return Err(Failure::AttemptTimedOut(timeout));
                }
                if at < 240 * S {
                    busy()
                } else {
                    ok()
                }
            })
            .await;
            assert!(out.is_ok(), "{out:?}");
            assert_eq!(log[0], (Duration::ZERO, 180 * S));
            assert_eq!(log[1].0, 180 * S, "a cut attempt is asked again at once");
            let done = log.last().unwrap().0;
            assert!(done >= 240 * S && done <= 250 * S, "{done:?}");
            for pair in log[1..].windows(2) {
                assert!(pair[1].0 - pair[0].0 <= 10 * S, "waited past max_delay");
            }
        }

        #[tokio::test(start_paused = true)]
        async fn already_exists_forever_times_out_exactly_at_build_timeout() {
            let start = Instant::now();
            let (out, log) = seed_build(start, |_, _| async { busy() }).await;
            let err = out.unwrap_err();
            assert!(matches!(err, Error::Timeout { seconds: 300 }), "{err:?}");
            assert_eq!(start.elapsed(), 300 * S);
            let n = log.len();
            // Backoff 1, 2, 4, 8 s then every 5..10 s: between 30 and 65 asks in 5 min.
            assert!((30..=65).contains(&n), "{n} asks");
        }

        #[tokio::test(start_paused = true)]
        async fn unavailable_backs_off_exponentially_then_gives_up() {
            let start = Instant::now();
            let (out, log) =
                seed_build(start, |_, _| async { Err(status(Code::Unavailable, true)) }).await;
            let err = out.unwrap_err();
            assert!(
                matches!(err, Error::UpstreamUnavailable { attempts: 3, .. }),
                "{err:?}"
            );
            let at: Vec<Duration> = log.iter().map(|c| c.0).collect();
            assert_eq!(at.len(), 3);
            let (d1, d2) = (at[1] - at[0], at[2] - at[1]);
            assert!(d1 >= S / 2 && d1 <= S, "{d1:?}");
            assert!(d2 >= S && d2 <= 2 * S, "{d2:?}");
            // No sleep after the last attempt.
            assert_eq!(start.elapsed(), at[2]);
        }

        #[tokio::test(start_paused = true)]
        async fn the_last_attempt_gets_only_the_time_left() {
            let start = Instant::now();
            let (out, log) = seed_build(start, |_, timeout| async move {
                tokio::time::sleep(timeout).await;
                Err(Failure::AttemptTimedOut(timeout))
            })
            .await;
            let err = out.unwrap_err();
            assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
            assert_eq!(log, vec![(Duration::ZERO, 180 * S), (180 * S, 120 * S)]);
            assert_eq!(start.elapsed(), 300 * S);
        }

        #[tokio::test(start_paused = true)]
        async fn a_backoff_that_does_not_fit_returns_the_last_error_at_once() {
            let start = Instant::now();
            let log: Log = Default::default();
            let call = server(start, log.clone(), |_, _| async {
                Err(status(Code::Unavailable, true))
            });
            let retry = RetryConfig {
                max_attempts: 10,
                initial_delay: S,
                max_delay: 60 * S,
                backoff_multiplier: 4.0,
            };
            let deadline = start + Duration::from_millis(1200);
            let err = retry_loop(call, &retry, 180 * S, deadline, S)
                .await
                .unwrap_err();
            assert!(
                matches!(err, Error::UpstreamUnavailable { attempts: 2, .. }),
                "{err:?}"
            );
            assert!(start.elapsed() < Duration::from_millis(1200));
        }
    }
}
