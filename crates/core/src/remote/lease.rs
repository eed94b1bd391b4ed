//! One build per key across hosts: `{key}.lease`, created only if absent
//! (`If-None-Match: *`, object_store's `PutMode::Create`; the store answers 412 when
//! another host holds it). It names its holder and when it expires; an expired lease is
//! taken over with `If-Match` on its ETag, so two hosts cannot both take it.
//!
//! A lease is a few hundred bytes of JSON; one longer than [`LEASE_MAX_BYTES`] is no
//! lease this code wrote: it is not read past that bound (whatever its length header
//! says) and counts as unreadable, which is taken over like an expired one.

use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{bounded, Failure, RemoteTier};
use crate::request::CacheKey;

/// The most of a lease object that is read: ours are ~150 bytes.
pub(crate) const LEASE_MAX_BYTES: usize = 4096;

#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LeaseBody {
    pub holder: String,
    pub pid: u32,
    /// Unix seconds.
    pub started_at: u64,
    pub expires_at: u64,
}

/// A lease this process holds; [`RemoteTier::release`] deletes it.
pub(crate) struct Lease {
    pub path: ObjectPath,
}

pub(crate) enum Acquired {
    Held(Lease),
    /// Another host holds a live lease.
    Busy,
}

fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl RemoteTier {
    fn lease_body(&self) -> PutPayload {
        let now = now_unix();
        let body = LeaseBody {
            holder: self.holder.clone(),
            pid: std::process::id(),
            started_at: now,
            expires_at: now + self.lease_ttl.as_secs(),
        };
        PutPayload::from(serde_json::to_vec(&body).unwrap_or_default())
    }

    /// Creates the lease, or takes it over when the one there has expired.
    pub(crate) async fn try_lease(
        &self,
        key: &CacheKey,
        until: Instant,
    ) -> Result<Acquired, Failure> {
        let path = self.object(key, ".lease");
        let create = PutOptions {
            mode: PutMode::Create,
            ..Default::default()
        };
        match bounded(until, self.store.put_opts(&path, self.lease_body(), create)).await {
            Ok(_) => return Ok(Acquired::Held(Lease { path })),
            Err(Failure::Store(object_store::Error::AlreadyExists { .. })) => {}
            Err(e) => return Err(e),
        }
        let Some((body, e_tag)) = self.read_lease(&path, until).await? else {
            // Released between our create and our read: the next round creates it.
            return Ok(Acquired::Busy);
        };
        if body.as_ref().is_some_and(|b| b.expires_at > now_unix()) {
            return Ok(Acquired::Busy);
        }
        // Expired (or unreadable, which no live holder writes): take it over, if nobody
        // else did since we read it.
        let update = PutOptions {
            mode: PutMode::Update(UpdateVersion {
                e_tag,
                version: None,
            }),
            ..Default::default()
        };
        match bounded(until, self.store.put_opts(&path, self.lease_body(), update)).await {
            Ok(_) => {
                self.count("lease_taken_over");
                tracing::warn!(key = %key, previous = ?body, "took over an expired remote lease");
                Ok(Acquired::Held(Lease { path }))
            }
            Err(Failure::Store(object_store::Error::Precondition { .. })) => Ok(Acquired::Busy),
            Err(e) => Err(e),
        }
    }

    /// The lease's body (`None` inside when it cannot be parsed) and ETag; `None` when
    /// there is no lease.
    pub(crate) async fn read_lease(
        &self,
        path: &ObjectPath,
        until: Instant,
    ) -> Result<Option<(Option<LeaseBody>, Option<String>)>, Failure> {
        let got = match bounded(until, self.store.get(path)).await {
            Ok(got) => got,
            Err(Failure::Store(object_store::Error::NotFound { .. })) => return Ok(None),
            Err(e) => return Err(e),
        };
        let e_tag = got.meta.e_tag.clone();
        let bytes = if got.meta.size > LEASE_MAX_BYTES as u64 {
            None
        } else {
            read_capped(got, until).await?
        };
        if bytes.is_none() {
            self.count("lease_too_large");
            tracing::warn!(lease = %path, "a remote lease longer than any lease; not reading it");
        }
        let body = bytes.and_then(|b| serde_json::from_slice(&b).ok());
        Ok(Some((body, e_tag)))
    }

    /// Whether a live lease for `key` is there (`false` when absent or expired).
    pub(crate) async fn lease_live(&self, key: &CacheKey, until: Instant) -> Result<bool, Failure> {
        let path = self.object(key, ".lease");
        Ok(match self.read_lease(&path, until).await? {
            None => false,
            Some((body, _)) => body.is_some_and(|b| b.expires_at > now_unix()),
        })
    }

    /// Deletes a lease this process holds. A failure leaves it to expire.
    pub(crate) async fn release(&self, lease: Lease) {
        let until = Instant::now() + super::OP_TIMEOUT;
        match bounded(until, self.store.delete(&lease.path)).await {
            Ok(()) | Err(Failure::Store(object_store::Error::NotFound { .. })) => {}
            Err(e) => {
                self.count("error");
                tracing::warn!(error = %e, lease = %lease.path, "could not delete the remote lease; it will expire");
            }
        }
    }
}

/// The object's bytes, or `None` as soon as they pass [`LEASE_MAX_BYTES`].
async fn read_capped(
    got: object_store::GetResult,
    until: Instant,
) -> Result<Option<Vec<u8>>, Failure> {
    let mut stream = got.into_stream();
    let read = async {
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
            if bytes.len() > LEASE_MAX_BYTES {
                return Ok(None);
            }
        }
        Ok(Some(bytes))
    };
    bounded(until, read).await
}
