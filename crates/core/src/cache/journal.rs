//! `.velox.journal`: the directory's index, shared by every process that opens it. A
//! header (magic, format version, checksum) and then fixed-size records (`record`)
//! appended with `O_APPEND`: stores, evictions and verifications under the store lock,
//! access statistics and lookups' hints without it. Each process remembers how far it
//! has read and applies only what was appended since (`shared`).
//!
//! The journal is derived: the entries (`{key}.bin` + `{key}.json`) stay the truth, and
//! a journal that is missing, unreadable or of another version is rebuilt from them.
//! Compaction writes the live entries to `.velox.journal.new` and renames it over the
//! journal; a process notices the new file (another inode) and reads it from the start.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::layout::{JOURNAL_FILE, JOURNAL_NEW_FILE};
use super::open;
use super::record::{crc32, Record, RECORD_LEN};

const MAGIC: [u8; 8] = *b"VXMJRNL\n";
/// Bumped when the record layout changes; another version is rebuilt, never read.
pub(crate) const VERSION: u32 = 1;
pub(crate) const HEADER_LEN: u64 = 16;
/// Far above what a compacted journal of a million entries and its growth until the next
/// compaction take; a larger file is not ours to read into memory.
const MAX_LEN: u64 = 1 << 30;

/// The directory's journal, as this process knows it. No descriptor is kept between
/// calls: each read or append opens the file (a few microseconds next to a store), so an
/// engine holds nothing open in the cache directory while idle (a read-only remount or
/// an unmount of the volume is not blocked by it) and a leak check sees no stray file.
pub(crate) struct Journal {
    path: PathBuf,
    /// (device, inode) of the file this process read, to notice a compaction by another
    /// process.
    id: (u64, u64),
}

/// Why a journal cannot be used as it is.
#[derive(Debug)]
pub(crate) enum OpenError {
    Missing,
    /// Not a regular file, bad header, other version: rebuild it.
    Invalid(String),
    Io(io::Error),
}

/// What `read_from` found after an offset.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    pub records: Vec<Record>,
    /// Where the next read starts: after the last whole record (a torn record at the
    /// end may still be being written, or was left by a crash; it is read again).
    pub end: u64,
    /// Bytes that were not a whole record but were followed by whole records.
    pub skipped: u64,
}

impl Journal {
    /// Opens the directory's journal for reading and appending, refusing anything but a
    /// regular file with our header.
    pub(crate) fn open(dir: &Path) -> Result<Journal, OpenError> {
        let file = match open_file(&dir.join(JOURNAL_FILE), false) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(OpenError::Missing),
            Err(e) if open::is_not_regular(&e) => {
                let path = dir.join(JOURNAL_FILE);
                open::foreign(&path, "a journal that is a link or not a regular file");
                return Err(OpenError::Invalid("not a regular file".into()));
            }
            Err(e) => return Err(OpenError::Io(e)),
        };
        let len = file.metadata().map_err(OpenError::Io)?.len();
        if len > MAX_LEN {
            open::foreign(
                &dir.join(JOURNAL_FILE),
                "larger than the cache ever writes it",
            );
            return Err(OpenError::Invalid(format!("{len} bytes")));
        }
        let mut header = [0u8; HEADER_LEN as usize];
        match file.read_exact_at(&mut header, 0) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(OpenError::Invalid("shorter than its header".into()))
            }
            Err(e) => return Err(OpenError::Io(e)),
        }
        if header[..8] != MAGIC || crc32(&header[..12]).to_le_bytes() != header[12..] {
            return Err(OpenError::Invalid("not a journal header".into()));
        }
        let version = u32::from_le_bytes(header[8..12].try_into().expect("4 bytes"));
        if version != VERSION {
            return Err(OpenError::Invalid(format!("format version {version}")));
        }
        Journal::wrap(dir, &file).map_err(OpenError::Io)
    }

    /// Writes a new journal holding `records` and renames it over the current one.
    /// Only under the store lock (one writer of `.velox.journal.new` at a time).
    pub(crate) fn replace(dir: &Path, records: &[Record]) -> io::Result<Journal> {
        let new = dir.join(JOURNAL_NEW_FILE);
        super::layout::remove_if_exists(&new)?;
        let file = open_file(&new, true)?;
        let mut buf = Vec::with_capacity(HEADER_LEN as usize + records.len() * RECORD_LEN);
        buf.extend_from_slice(&MAGIC);
        buf.extend_from_slice(&VERSION.to_le_bytes());
        let crc = crc32(&buf[..12]);
        buf.extend_from_slice(&crc.to_le_bytes());
        for r in records {
            r.encode(&mut buf);
        }
        // No fsync: the journal is derived, and one lost to a power cut is rebuilt.
        let written = (&file)
            .write_all(&buf)
            .and_then(|()| std::fs::rename(&new, dir.join(JOURNAL_FILE)));
        if let Err(e) = written {
            let _ = super::layout::remove_if_exists(&new);
            return Err(e);
        }
        Journal::wrap(dir, &file)
    }

    fn wrap(dir: &Path, file: &File) -> io::Result<Journal> {
        let m = file.metadata()?;
        Ok(Journal {
            path: dir.join(JOURNAL_FILE),
            id: (m.dev(), m.ino()),
        })
    }

    /// The journal this process knows, opened for this call; an error if another process
    /// has replaced it since (the caller opens the new one).
    fn file(&self) -> io::Result<File> {
        let file = open_file(&self.path, false)?;
        let m = file.metadata()?;
        if (m.dev(), m.ino()) != self.id {
            return Err(io::Error::other(
                "the journal was replaced by another process",
            ));
        }
        Ok(file)
    }

    /// Whether `.velox.journal` is still this file (no compaction or rebuild since).
    pub(crate) fn is_current(&self, dir: &Path) -> bool {
        std::fs::symlink_metadata(dir.join(JOURNAL_FILE))
            .is_ok_and(|m| m.file_type().is_file() && (m.dev(), m.ino()) == self.id)
    }

    /// One `write` for all of them, at the end of the file whoever else appends.
    pub(crate) fn append(&self, records: &[Record]) -> io::Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(records.len() * RECORD_LEN);
        for r in records {
            r.encode(&mut buf);
        }
        (&self.file()?).write_all(&buf)
    }

    /// The whole records after `offset` (at least `HEADER_LEN`).
    pub(crate) fn read_from(&self, offset: u64) -> io::Result<Tail> {
        let file = self.file()?;
        let len = file.metadata()?.len();
        let mut buf = vec![0u8; len.saturating_sub(offset) as usize];
        let mut got = 0;
        while got < buf.len() {
            match file.read_at(&mut buf[got..], offset + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(got);
        Ok(parse(&buf, offset))
    }

    pub(crate) fn len(&self) -> io::Result<u64> {
        Ok(self.file()?.metadata()?.len())
    }
}

fn parse(buf: &[u8], offset: u64) -> Tail {
    let mut tail = Tail::default();
    let mut at = 0;
    while buf.len() - at >= RECORD_LEN {
        if let Some(r) = Record::decode(&buf[at..]) {
            tail.records.push(r);
            at += RECORD_LEN;
            continue;
        }
        // Garbage: whole records may follow it (appended after a torn one).
        match (at + 1..=buf.len() - RECORD_LEN).find(|&p| Record::starts_at(&buf[p..])) {
            Some(next) => {
                tail.skipped += (next - at) as u64;
                at = next;
            }
            None => break,
        }
    }
    tail.end = offset + at as u64;
    tail
}

/// Read and append, through the one way cache files are opened; `create` makes a new
/// file (never one that exists).
fn open_file(path: &Path, create: bool) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).append(true).create_new(create).mode(0o644);
    open::open_with(&mut opts, path).map(|(file, _)| file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::record::Kind;
    use crate::request::CacheKey;

    fn rec(n: u8) -> Record {
        Record::of_key(
            Kind::Verify,
            &CacheKey::parse(&format!("{n:02x}").repeat(32)).unwrap(),
        )
    }

    #[test]
    fn reads_past_a_torn_record_once_whole_ones_follow() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::replace(dir.path(), &[rec(1)]).unwrap();
        let torn = {
            let mut b = Vec::new();
            rec(2).encode(&mut b);
            b.truncate(50);
            b
        };
        (&j.file().unwrap()).write_all(&torn).unwrap();
        let t = j.read_from(HEADER_LEN).unwrap();
        assert_eq!(t.records, vec![rec(1)]);
        assert_eq!(t.end, HEADER_LEN + RECORD_LEN as u64);
        assert_eq!(t.skipped, 0);

        j.append(&[rec(3)]).unwrap();
        let t = j.read_from(t.end).unwrap();
        assert_eq!(t.records, vec![rec(3)]);
        assert_eq!(t.skipped, 50);
    }

    proptest::proptest! {
        /// Whatever the bytes (a hostile or damaged file), reading never panics and only
        /// whole records come out, in order, ending where a record ends.
        #[test]
        fn any_bytes_read_as_whole_records_only(
            noise in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            at in 0usize..600,
        ) {
            let mut buf = Vec::new();
            rec(1).encode(&mut buf);
            rec(2).encode(&mut buf);
            let at = at.min(buf.len());
            buf.splice(at..at, noise.iter().copied());
            let tail = parse(&buf, HEADER_LEN);
            proptest::prop_assert!(tail.end <= HEADER_LEN + buf.len() as u64);
            proptest::prop_assert!(tail.records.len() <= 2 + noise.len() / RECORD_LEN);
            if noise.is_empty() {
                proptest::prop_assert_eq!(tail.records, vec![rec(1), rec(2)]);
            }
        }
    }

    #[test]
    fn another_version_is_invalid() {
        let dir = tempfile::tempdir().unwrap();
        drop(Journal::replace(dir.path(), &[]).unwrap());
        let path = dir.path().join(JOURNAL_FILE);
        let mut b = std::fs::read(&path).unwrap();
        b[8] = 9;
        std::fs::write(&path, b).unwrap();
        assert!(matches!(
            Journal::open(dir.path()),
            Err(OpenError::Invalid(_))
        ));
    }
}
