//! The cache key: byte-for-byte the seed plugin's SHA-256 of
//! `rr_version|os|arch|module@tag|...` (plugins sorted by module, then tag).

/// 64 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    /// Accepts exactly 64 lowercase hex characters (what a cache file name holds).
    pub fn parse(s: &str) -> Option<CacheKey> {
        (s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| CacheKey(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
