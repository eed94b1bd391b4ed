//! After a build: `{key}.bin` (with its SHA-256 as object metadata; multipart when large)
//! then `{key}.json` (the local metadata file as it is), so that a bucket can be browsed.
//! The binary goes first: a reader that finds the metadata finds the binary too.

use std::os::unix::fs::FileExt;
use std::sync::Arc;

use object_store::{
    Attribute, Attributes, PutMultipartOptions, PutOptions, PutPayload, WriteMultipart,
};

use super::{Failure, RemoteTier, SHA256_METADATA};
use crate::artifact::Artifact;

/// Above this a binary goes up in parts (S3's smallest part is 5 MiB).
const MULTIPART_ABOVE: u64 = 16 << 20;
const PART_SIZE: usize = 8 << 20;
/// Parts in flight at once per upload.
const PARTS_IN_FLIGHT: usize = 2;

impl RemoteTier {
    /// Uploads a stored artifact and its metadata file. Reads the artifact with
    /// positional reads, so the host's offset in the same file is never moved.
    pub(crate) async fn upload(
        &self,
        artifact: &Artifact,
        metadata: Vec<u8>,
    ) -> Result<(), Failure> {
        let key = &artifact.key;
        let mut attributes = Attributes::new();
        attributes.insert(
            Attribute::Metadata(SHA256_METADATA.into()),
            artifact.sha256.clone().into(),
        );
        attributes.insert(Attribute::ContentType, "application/octet-stream".into());
        let bin = self.object(key, ".bin");
        if artifact.size <= MULTIPART_ABOVE {
            let bytes = read_at(artifact.file.clone(), 0, artifact.size as usize).await?;
            let opts = PutOptions {
                attributes,
                ..Default::default()
            };
            self.store
                .put_opts(&bin, PutPayload::from(bytes), opts)
                .await?;
        } else {
            let opts = PutMultipartOptions {
                attributes,
                ..Default::default()
            };
            let upload = self.store.put_multipart_opts(&bin, opts).await?;
            let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            let mut offset = 0u64;
            while offset < artifact.size {
                let len = (artifact.size - offset).min(PART_SIZE as u64) as usize;
                let chunk = match read_at(artifact.file.clone(), offset, len).await {
                    Ok(chunk) => chunk,
                    Err(e) => {
                        let _ = writer.abort().await;
                        return Err(e);
                    }
                };
                if let Err(e) = writer.wait_for_capacity(PARTS_IN_FLIGHT).await {
                    return Err(e.into());
                }
                writer.write(&chunk);
                offset += len as u64;
            }
            writer.finish().await?;
        }
        let mut attributes = Attributes::new();
        attributes.insert(Attribute::ContentType, "application/json".into());
        let opts = PutOptions {
            attributes,
            ..Default::default()
        };
        let json = self.object(key, ".json");
        self.store
            .put_opts(&json, PutPayload::from(metadata), opts)
            .await?;
        Ok(())
    }
}

async fn read_at(file: Arc<std::fs::File>, offset: u64, len: usize) -> Result<Vec<u8>, Failure> {
    tokio::task::spawn_blocking(move || {
        let mut buf = vec![0u8; len];
        file.read_exact_at(&mut buf, offset).map(|()| buf)
    })
    .await
    .map_err(|e| Failure::Local(e.to_string()))?
    .map_err(|e| Failure::Local(format!("read the cached binary: {e}")))
}
