//! One record of the directory journal (`journal`): fixed size, little endian, with its
//! own magic and CRC-32, so that a reader can tell a whole record from a torn or
//! overwritten one and find the next whole record after garbage.

use crate::request::CacheKey;

/// Bytes per record.
pub(crate) const RECORD_LEN: usize = 128;
const MAGIC: [u8; 4] = *b"vxr1";
/// Bytes covered by the checksum (everything before it).
const BODY: usize = RECORD_LEN - 4;
const HAS_SHA: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `{key}.bin` + `{key}.json` committed with these fields.
    Store,
    /// The entry is gone.
    Evict,
    /// Access statistics (and a content hash computed since the store), merged by max.
    Access,
    /// Something may have changed this key behind the journal (a write in progress when
    /// the writer died, an entry a lookup found on disk): the next holder of the store
    /// lock looks at the files.
    Verify,
}

impl Kind {
    fn code(self) -> u8 {
        match self {
            Kind::Store => 1,
            Kind::Evict => 2,
            Kind::Access => 3,
            Kind::Verify => 4,
        }
    }

    fn from_code(c: u8) -> Option<Kind> {
        Some(match c {
            1 => Kind::Store,
            2 => Kind::Evict,
            3 => Kind::Access,
            4 => Kind::Verify,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    pub kind: Kind,
    pub key: CacheKey,
    pub size: u64,
    pub created_at: i64,
    pub last_accessed: i64,
    pub access_count: u64,
    /// 64 lowercase hex, when known.
    pub sha256: Option<String>,
}

impl Record {
    /// A record that only names `key` (evict, verify).
    pub(crate) fn of_key(kind: Kind, key: &CacheKey) -> Record {
        Record {
            kind,
            key: key.clone(),
            size: 0,
            created_at: 0,
            last_accessed: 0,
            access_count: 0,
            sha256: None,
        }
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        let mut b = [0u8; RECORD_LEN];
        b[0..4].copy_from_slice(&MAGIC);
        b[4] = self.kind.code();
        put_hex(&mut b[8..40], self.key.as_str());
        if let Some(h) = &self.sha256 {
            b[5] = HAS_SHA;
            put_hex(&mut b[40..72], h);
        }
        b[72..80].copy_from_slice(&self.size.to_le_bytes());
        b[80..88].copy_from_slice(&self.created_at.to_le_bytes());
        b[88..96].copy_from_slice(&self.last_accessed.to_le_bytes());
        b[96..104].copy_from_slice(&self.access_count.to_le_bytes());
        let crc = crc32(&b[..BODY]);
        b[BODY..].copy_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&b);
    }

    /// `None` unless `b` starts with one whole, intact record.
    pub(crate) fn decode(b: &[u8]) -> Option<Record> {
        let b = b.get(..RECORD_LEN)?;
        if b[0..4] != MAGIC || crc32(&b[..BODY]).to_le_bytes() != b[BODY..] {
            return None;
        }
        let kind = Kind::from_code(b[4])?;
        let key = CacheKey::parse(&super::content::hex(&b[8..40]))?;
        let sha256 = (b[5] & HAS_SHA != 0).then(|| super::content::hex(&b[40..72]));
        let u = |r: std::ops::Range<usize>| u64::from_le_bytes(b[r].try_into().expect("8 bytes"));
        Some(Record {
            kind,
            key,
            sha256,
            size: u(72..80),
            created_at: u(80..88) as i64,
            last_accessed: u(88..96) as i64,
            access_count: u(96..104),
        })
    }

    /// Whether a whole record starts here (cheaper than decoding while resynchronising).
    pub(crate) fn starts_at(b: &[u8]) -> bool {
        b.len() >= RECORD_LEN
            && b[0..4] == MAGIC
            && crc32(&b[..BODY]).to_le_bytes() == b[BODY..RECORD_LEN]
    }
}

/// Writes 64 hex characters as 32 bytes (keys and hashes are validated lowercase hex).
fn put_hex(out: &mut [u8], hex: &str) {
    if let Some(raw) = super::content::unhex32(hex.as_bytes()) {
        out.copy_from_slice(&raw);
    }
}

/// CRC-32 (IEEE, as zlib): enough to tell a torn or overwritten record from a whole one.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
    }
    !crc
}

const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[i] = c;
        i += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
    }

    #[test]
    fn round_trips_and_refuses_a_flipped_bit() {
        let r = Record {
            kind: Kind::Store,
            key: CacheKey::parse(&"0f".repeat(32)).unwrap(),
            size: 4096,
            created_at: 1_700_000_000,
            last_accessed: -1,
            access_count: 7,
            sha256: Some("a1".repeat(32)),
        };
        let mut buf = Vec::new();
        r.encode(&mut buf);
        assert_eq!(buf.len(), RECORD_LEN);
        assert_eq!(Record::decode(&buf), Some(r));
        buf[77] ^= 1;
        assert_eq!(Record::decode(&buf), None);
        assert!(!Record::starts_at(&buf));
    }
}
