//! What happens to a build when its last waiter leaves before the end.
//!
//! Real clients sit behind proxies that give up long before a cold build ends (nginx's
//! `proxy_read_timeout` is 60 s, Cloudflare's 100 s). Cancelling the build when such a
//! client leaves means its retry starts from zero and, behind a 60 s proxy, a longer
//! build can never finish. So by default a build lingers for `build_linger` after its
//! last waiter left: a retry inside that window joins it, and if it ends meanwhile its
//! result is cached. Nobody back by then: it is cancelled. The build's own deadline
//! (`build_timeout`) bounds all of this; shutdown cancels it whatever the policy.

use std::time::Duration;

use crate::config::Config;

/// The fate of a build nobody waits for any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abandon {
    /// Cancel at once (`build_linger: 0`): the behaviour before lingering existed.
    Cancel,
    /// Keep running for this long, then cancel unless someone came back.
    Linger(Duration),
    /// Always finish into the cache (`keep_abandoned_builds: true`).
    Keep,
}

impl Abandon {
    pub fn from_config(config: &Config) -> Abandon {
        if config.keep_abandoned_builds {
            Abandon::Keep
        } else if config.build_linger.is_zero() {
            Abandon::Cancel
        } else {
            Abandon::Linger(config.build_linger)
        }
    }
}

/// Runs `expire` after `linger` on the current tokio runtime (the library's own when
/// called from a host thread). It gets `None` when the build map is already gone.
pub(crate) fn after<T: Send + Sync + 'static>(
    linger: Duration,
    target: std::sync::Weak<T>,
    expire: impl FnOnce(&T) + Send + 'static,
) {
    let timer = async move {
        tokio::time::sleep(linger).await;
        if let Some(target) = target.upgrade() {
            expire(&target);
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => drop(handle.spawn(timer)),
        Err(_) => drop(crate::runtime::runtime().spawn(timer)),
    }
}
