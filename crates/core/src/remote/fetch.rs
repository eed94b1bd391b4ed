//! Remote hit -> local entry: stream `{key}.bin` into a temp file in the cache directory
//! while hashing it, compare with the object's `sha256` metadata, then commit it through
//! the cache's usual store. A mismatch is refused and counted, never served; so is an
//! intact object whose build information does not answer the request (`verify_builds`).

use std::io::Write;
use std::sync::Arc;

use futures::StreamExt;
use object_store::{Attribute, GetOptions};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{bounded, Failure, RemoteTier, SHA256_METADATA};
use crate::artifact::{Artifact, Source};
use crate::cache::{layout, Cache};
use crate::error::Error;
use crate::provenance::Provenance;
use crate::request::{BuildRequest, CacheKey};

pub(crate) enum Fetched {
    Found(Artifact),
    Absent,
}

impl RemoteTier {
    /// Looks `key` up remotely and, when it is there and intact, stores it locally and
    /// returns it with `Source::Remote`. The transfer ends by `until`.
    pub(crate) async fn fetch_into(
        &self,
        cache: &Arc<Cache>,
        req: &BuildRequest,
        key: &CacheKey,
        until: Instant,
    ) -> Result<Fetched, Failure> {
        let path = self.object(key, ".bin");
        let got = match bounded(until, self.store.get_opts(&path, GetOptions::default())).await {
            Ok(got) => got,
            Err(Failure::Store(object_store::Error::NotFound { .. })) => {
                return Ok(Fetched::Absent)
            }
            Err(e) => return Err(e),
        };
        let expected = got
            .attributes
            .get(&Attribute::Metadata(SHA256_METADATA.into()))
            .map(|v| v.to_string())
            .unwrap_or_default();
        let tmp = layout::temp_path(cache.directory(), layout::BIN_EXT);
        let result = self.stream_to(got, &tmp, &expected, until).await;
        let verified = match result {
            Ok(file) => file,
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
        };
        // The usual commit: the cache copies the verified file into an entry of its own.
        let (cache, req, key2, tmp2) = (cache.clone(), req.clone(), key.clone(), tmp.clone());
        let verify = self.verify;
        let stored = tokio::task::spawn_blocking(move || {
            let stored = provenance_of(&verified, &req, verify).and_then(|provenance| {
                cache
                    .store_verified(&req, &key2, &verified, &tmp2, 0, provenance.as_ref())
                    .map_err(|e| Failure::Local(e.to_string()))
            });
            let _ = std::fs::remove_file(&tmp2);
            stored
        })
        .await
        .map_err(|e| Failure::Local(e.to_string()))??;
        if stored.sha256 != expected {
            // The copy differs from what was verified: a local fault, never served.
            return Err(Failure::Local(format!(
                "the cached copy hashes to {}, not {expected}",
                stored.sha256
            )));
        }
        Ok(Fetched::Found(stored.with_source(Source::Remote)))
    }

    /// Writes the object's bytes to `tmp` and returns it open, if the SHA-256 of what was
    /// written is `expected`.
    async fn stream_to(
        &self,
        got: object_store::GetResult,
        tmp: &std::path::Path,
        expected: &str,
        until: Instant,
    ) -> Result<std::fs::File, Failure> {
        let local = |e: std::io::Error| Failure::Local(format!("{}: {e}", tmp.display()));
        let mut file = std::fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(tmp)
            .map_err(local)?;
        let mut hasher = Sha256::new();
        let mut stream = got.into_stream();
        let copy = async {
            while let Some(chunk) = stream.next().await {
                let chunk = chunk?;
                hasher.update(&chunk);
                // A page-cache write; small next to the network read it follows.
                file.write_all(&chunk)
                    .map_err(|e| object_store::Error::Generic {
                        store: "local",
                        source: Box::new(e),
                    })?;
            }
            Ok::<(), object_store::Error>(())
        };
        match tokio::time::timeout_at(until, copy).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(Failure::Store(e)),
            Err(_) => return Err(Failure::Timeout),
        }
        let actual = crate::cache::content::hex(&hasher.finalize());
        if actual != expected {
            return Err(Failure::Corrupt {
                expected: expected.to_owned(),
                actual,
            });
        }
        Ok(file)
    }
}

/// Whoever can write the bucket can put any intact object under any key: its build
/// information must answer the request, as a fresh build's must.
fn provenance_of(
    file: &std::fs::File,
    req: &BuildRequest,
    verify: bool,
) -> Result<Option<Provenance>, Failure> {
    if !verify {
        return Ok(None);
    }
    match crate::provenance::check(file, req) {
        Ok(provenance) => Ok(Some(provenance)),
        Err(Error::BuildMismatch { message }) => Err(Failure::Mismatch(message)),
        Err(e) => Err(Failure::Local(e.to_string())),
    }
}
