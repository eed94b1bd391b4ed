//! What is in the bucket, for `velox-cache remote-ls`, `remote-verify`, `remote-prune`:
//! the objects under the prefix grouped by key, a content check of each binary against
//! its `sha256` metadata, and deletion by age (lifecycle rules are the usual way).

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{Attribute, ObjectMeta};
use sha2::{Digest, Sha256};

use super::{RemoteTier, SHA256_METADATA};
use crate::request::CacheKey;

/// One key's objects in the bucket.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RemoteEntry {
    pub key: String,
    /// Size of `{key}.bin`; `None` when only metadata or a lease is there.
    pub size: Option<u64>,
    /// Unix seconds of the binary's (else the newest object's) last change.
    pub last_modified: i64,
    pub metadata: bool,
    pub lease: bool,
    /// Objects under the prefix whose names are not `{key}.bin|json|lease`.
    #[serde(skip)]
    pub objects: Vec<ObjectPath>,
}

/// A binary checked against its recorded hash.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Verdict {
    Ok,
    HashMismatch { expected: String, actual: String },
    NoHash,
}

impl RemoteTier {
    /// Every key with an object directly under the prefix, sorted by key.
    pub async fn entries(&self) -> object_store::Result<Vec<RemoteEntry>> {
        let prefix = (!self.prefix.is_empty()).then(|| ObjectPath::from(self.prefix.as_str()));
        let mut listing = self.store.list(prefix.as_ref());
        let mut by_key: BTreeMap<String, RemoteEntry> = BTreeMap::new();
        while let Some(meta) = listing.next().await {
            let meta: ObjectMeta = meta?;
            let Some(name) = meta.location.filename().map(str::to_owned) else {
                continue;
            };
            let Some((stem, ext)) = name.rsplit_once('.') else {
                continue;
            };
            // Only this tier's objects: a key, directly under the prefix.
            if CacheKey::parse(stem).is_none() || meta.location != self.named(&name) {
                continue;
            }
            let e = by_key
                .entry(stem.to_owned())
                .or_insert_with(|| RemoteEntry {
                    key: stem.to_owned(),
                    ..Default::default()
                });
            let modified = meta.last_modified.timestamp();
            match ext {
                "bin" => {
                    e.size = Some(meta.size);
                    e.last_modified = modified;
                }
                "json" => e.metadata = true,
                "lease" => e.lease = true,
                _ => continue,
            }
            if e.size.is_none() {
                e.last_modified = e.last_modified.max(modified);
            }
            e.objects.push(meta.location);
        }
        Ok(by_key.into_values().collect())
    }

    /// Reads `{key}.bin` whole and hashes it against its `sha256` metadata.
    pub async fn verify(&self, key: &CacheKey) -> object_store::Result<Verdict> {
        let got = self.store.get(&self.object(key, ".bin")).await?;
        let expected = got
            .attributes
            .get(&Attribute::Metadata(SHA256_METADATA.into()))
            .map(|v| v.to_string());
        let mut hasher = Sha256::new();
        let mut stream = got.into_stream();
        while let Some(chunk) = stream.next().await {
            hasher.update(&chunk?);
        }
        let actual = crate::cache::content::hex(&hasher.finalize());
        Ok(match expected {
            None => Verdict::NoHash,
            Some(e) if e == actual => Verdict::Ok,
            Some(expected) => Verdict::HashMismatch { expected, actual },
        })
    }

    /// Deletes every object of the keys last changed more than `age` ago; returns them.
    pub async fn prune_older_than(&self, age: Duration) -> object_store::Result<Vec<RemoteEntry>> {
        let cutoff = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
            - age.as_secs() as i64;
        let mut pruned = Vec::new();
        for entry in self.entries().await? {
            if entry.last_modified >= cutoff {
                continue;
            }
            for path in &entry.objects {
                match self.store.delete(path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
            pruned.push(entry);
        }
        Ok(pruned)
    }
}
