//! A cancellation token a host creates before a long call and triggers from any thread.

use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Default)]
pub struct Cancel {
    token: CancellationToken,
}

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn trigger(&self) {
        self.token.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.token.is_cancelled()
    }

    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}
