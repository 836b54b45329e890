//! Batches on disk outside RocksDB: append-only segment files, one record
//! per batch, located by a small index entry kept in RocksDB (key–value
//! separation, as in WiscKey).
//!
//! Every byte put into RocksDB goes through its write-ahead log, whose
//! CRC32C the system library computes in software here, then through a
//! memtable, a flush (with compression) and compactions. Batches are the
//! bulk of a node's writes (every transaction, 512 bytes, at every member)
//! and are written once and never changed, so none of that buys anything:
//! at 55k opaque tx/s, leaving the batches out of the WAL alone saved 8% of
//! the CPU per transaction. A record here costs one `write` and a hardware
//! CRC32C.
//!
//! Durability: appends are not synced. The store syncs the log before each
//! commit, so the batches of committed blocks are on disk before the commit
//! is. An uncommitted batch may be lost in a crash while its index entry
//! survives (another synced write made the entry durable); reads check each
//! record's length and checksum and report such a batch as missing, and the
//! node fetches it again from a peer, as it would a batch it never had.
//! After a restart appends go to a new segment, so a torn tail is never
//! written over.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use parity_scale_codec::{Decode, Encode};

use super::StoreError;

/// A record's header: payload length and CRC32C, little-endian.
const HEADER: usize = 8;
/// A new segment is started past this size.
pub const SEGMENT_BYTES: u64 = 256 << 20;

/// Where a record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct RecordLocation {
    pub segment: u32,
    pub offset: u64,
    pub len: u32,
}

/// Where a batch's record is: the value of its entry in the `batches`
/// column family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum BatchPlace {
    Staged(RecordLocation),
    Archived(RecordLocation),
}

/// An entry's encoded size before places existed (a bare location).
const BARE_LOCATION_BYTES: usize = 16;

impl BatchPlace {
    /// Decodes an entry; a bare location (stores written before the
    /// archive existed) is a staged record.
    pub fn decode_entry(bytes: &[u8]) -> Result<BatchPlace, StoreError> {
        let corrupt = |e: parity_scale_codec::Error| StoreError::Corrupt {
            what: "batch location",
            detail: e.to_string(),
        };
        if bytes.len() == BARE_LOCATION_BYTES {
            return RecordLocation::decode(&mut &bytes[..])
                .map(BatchPlace::Staged)
                .map_err(corrupt);
        }
        let mut input = bytes;
        let place = BatchPlace::decode(&mut input).map_err(corrupt)?;
        if !input.is_empty() {
            return Err(StoreError::Corrupt {
                what: "batch location",
                detail: format!("{} trailing bytes", input.len()),
            });
        }
        Ok(place)
    }
}

struct Writer {
    segment: u32,
    file: Arc<File>,
    len: u64,
    /// Segments filled since the last sync.
    unsynced: Vec<Arc<File>>,
    /// A segment was created since the last sync: the directory's entry
    /// for it is synced too (else a power loss could drop the file's name
    /// with its synced contents).
    new_segment: bool,
}

/// The payload of one record (header: length and CRC32C, little-endian),
/// or `None` if the bytes are not a whole record with a matching checksum.
pub fn parse_record(record: &[u8]) -> Option<&[u8]> {
    let (len, rest) = record.split_first_chunk::<4>()?;
    let (crc, payload) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    (payload.len() == len && u32::from_le_bytes(*crc) == crc32c::crc32c(payload)).then_some(payload)
}

/// Only the segment being appended to stays open: a node that runs for
/// days fills thousands of segments, more than its file-descriptor limit,
/// and a read opens its segment (a few µs against reading a whole batch).
pub struct BatchLog {
    dir: PathBuf,
    segment_bytes: u64,
    writer: Mutex<Writer>,
}

fn io(what: &str, e: std::io::Error) -> StoreError {
    StoreError::Backend(format!("batch log: {what}: {e}"))
}

fn segment_name(segment: u32) -> String {
    format!("{segment:08}.seg")
}

fn segment_number(path: &Path) -> Option<u32> {
    path.file_name()?
        .to_str()?
        .strip_suffix(".seg")?
        .parse()
        .ok()
}

impl BatchLog {
    /// Opens the log in `dir` (created if needed). Existing segments are
    /// only read; appends start a new one.
    pub fn open(dir: &Path, segment_bytes: u64) -> Result<BatchLog, StoreError> {
        std::fs::create_dir_all(dir).map_err(|e| io("creating the directory", e))?;
        let mut last = None;
        for entry in std::fs::read_dir(dir).map_err(|e| io("listing segments", e))? {
            let path = entry.map_err(|e| io("listing segments", e))?.path();
            last = last.max(segment_number(&path));
        }
        let next = last.map_or(0, |n| n + 1);
        Ok(BatchLog {
            dir: dir.to_path_buf(),
            segment_bytes,
            writer: Mutex::new(Writer {
                segment: next,
                file: Arc::new(Self::create_segment(dir, next)?),
                len: 0,
                unsynced: Vec::new(),
                new_segment: true,
            }),
        })
    }

    fn create_segment(dir: &Path, segment: u32) -> Result<File, StoreError> {
        OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(dir.join(segment_name(segment)))
            .map_err(|e| io("creating a segment", e))
    }

    fn writer(&self) -> MutexGuard<'_, Writer> {
        // Every field is updated only after its write succeeded.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends one record whose payload `encode` writes.
    pub fn append(&self, encode: impl FnOnce(&mut Vec<u8>)) -> Result<RecordLocation, StoreError> {
        let mut record = vec![0u8; HEADER];
        encode(&mut record);
        let len = u32::try_from(record.len() - HEADER)
            .map_err(|_| StoreError::Backend("batch log: record over 4 GiB".into()))?;
        let crc = crc32c::crc32c(&record[HEADER..]);
        record[..4].copy_from_slice(&len.to_le_bytes());
        record[4..HEADER].copy_from_slice(&crc.to_le_bytes());

        let mut w = self.writer();
        if w.len > 0 && w.len + record.len() as u64 > self.segment_bytes {
            let next = w.segment + 1;
            let file = Arc::new(Self::create_segment(&self.dir, next)?);
            let full = std::mem::replace(&mut w.file, file);
            w.unsynced.push(full);
            w.segment = next;
            w.len = 0;
            w.new_segment = true;
        }
        (&*w.file)
            .write_all(&record)
            .map_err(|e| io("appending", e))?;
        let loc = RecordLocation {
            segment: w.segment,
            offset: w.len,
            len,
        };
        w.len += record.len() as u64;
        Ok(loc)
    }

    /// `decode` applied to the payload at `loc`, or `None` if the record
    /// is not (wholly) there or fails its checksum: an append lost in a
    /// crash.
    pub fn read<T>(
        &self,
        loc: RecordLocation,
        decode: impl FnOnce(&[u8]) -> T,
    ) -> Result<Option<T>, StoreError> {
        let current = {
            let w = self.writer();
            (w.segment == loc.segment).then(|| w.file.clone())
        };
        let file = match current {
            Some(f) => f,
            None => match File::open(self.dir.join(segment_name(loc.segment))) {
                Ok(f) => Arc::new(f),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io("opening a segment", e)),
            },
        };
        let mut record = vec![0u8; HEADER + loc.len as usize];
        match file.read_exact_at(&mut record, loc.offset) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(e) => return Err(io("reading", e)),
        }
        match parse_record(&record) {
            Some(payload) if payload.len() == loc.len as usize => Ok(Some(decode(payload))),
            _ => Ok(None),
        }
    }

    /// The segments no longer appended to, oldest first.
    pub fn sealed_segments(&self) -> Result<Vec<u32>, StoreError> {
        let current = self.writer().segment;
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).map_err(|e| io("listing segments", e))? {
            let path = entry.map_err(|e| io("listing segments", e))?.path();
            out.extend(segment_number(&path).filter(|n| *n < current));
        }
        out.sort_unstable();
        Ok(out)
    }

    /// Bytes in the log's segments.
    pub fn bytes_on_disk(&self) -> Result<u64, StoreError> {
        let mut total = 0u64;
        for entry in std::fs::read_dir(&self.dir).map_err(|e| io("listing segments", e))? {
            let entry = entry.map_err(|e| io("listing segments", e))?;
            if segment_number(&entry.path()).is_some() {
                let len = entry
                    .metadata()
                    .map_err(|e| io("sizing a segment", e))?
                    .len();
                total = total.saturating_add(len);
            }
        }
        Ok(total)
    }

    /// Calls `each` with every whole record of a sealed segment in order,
    /// up to the first record that is torn or fails its checksum (nothing
    /// after a torn record was appended by the same run) or declares more
    /// than `max_len` bytes.
    pub fn scan(
        &self,
        segment: u32,
        max_len: usize,
        mut each: impl FnMut(RecordLocation, &[u8]) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        use std::io::Read;
        let file = match File::open(self.dir.join(segment_name(segment))) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("opening a segment", e)),
        };
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut offset = 0u64;
        let mut record = Vec::new();
        loop {
            let mut header = [0u8; HEADER];
            match reader.read_exact(&mut header) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(io("scanning", e)),
            }
            let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
            if len as usize > max_len {
                return Ok(());
            }
            record.clear();
            record.extend_from_slice(&header);
            record.resize(HEADER + len as usize, 0);
            match reader.read_exact(&mut record[HEADER..]) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(io("scanning", e)),
            }
            let Some(payload) = parse_record(&record) else {
                return Ok(());
            };
            each(
                RecordLocation {
                    segment,
                    offset,
                    len,
                },
                payload,
            )?;
            offset += record.len() as u64;
        }
    }

    /// Deletes a sealed segment (its records must be unreferenced) and
    /// makes the deletion durable.
    pub fn remove(&self, segment: u32) -> Result<(), StoreError> {
        if segment >= self.writer().segment {
            return Err(StoreError::Backend(format!(
                "batch log: segment {segment} is still appended to"
            )));
        }
        match std::fs::remove_file(self.dir.join(segment_name(segment))) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("removing a segment", e)),
        }
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io("syncing the directory", e))
    }

    /// Makes every record appended so far durable.
    pub fn sync(&self) -> Result<(), StoreError> {
        let (current, full, new_segment) = {
            let mut w = self.writer();
            let new_segment = std::mem::take(&mut w.new_segment);
            (w.file.clone(), std::mem::take(&mut w.unsynced), new_segment)
        };
        // Outside the lock: appends go on while the disk catches up.
        for f in full.iter().chain(std::iter::once(&current)) {
            f.sync_data().map_err(|e| io("syncing", e))?;
        }
        if new_segment {
            let synced = File::open(&self.dir).and_then(|d| d.sync_all());
            if let Err(e) = synced {
                self.writer().new_segment = true;
                return Err(io("syncing the directory", e));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(log: &BatchLog, bytes: &[u8]) -> RecordLocation {
        log.append(|buf| buf.extend_from_slice(bytes)).unwrap()
    }

    #[test]
    fn records_read_back_across_segments_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let payloads: Vec<Vec<u8>> = (0..10u8).map(|i| vec![i; 40 + i as usize]).collect();
        let locs: Vec<RecordLocation> = {
            // Segments of 100 bytes: about two records each.
            let log = BatchLog::open(dir.path(), 100).unwrap();
            let locs: Vec<_> = payloads.iter().map(|p| append(&log, p)).collect();
            log.sync().unwrap();
            for (loc, p) in locs.iter().zip(&payloads) {
                assert_eq!(
                    log.read(*loc, <[u8]>::to_vec).unwrap().as_deref(),
                    Some(&p[..])
                );
            }
            locs
        };
        assert!(locs.last().unwrap().segment >= 4, "{locs:?}");
        let log = BatchLog::open(dir.path(), 100).unwrap();
        for (loc, p) in locs.iter().zip(&payloads) {
            assert_eq!(
                log.read(*loc, <[u8]>::to_vec).unwrap().as_deref(),
                Some(&p[..])
            );
        }
        // Appends after a restart go to a new segment.
        let after = append(&log, b"after");
        assert_eq!(after.segment, locs.last().unwrap().segment + 1);
        assert_eq!(after.offset, 0);
    }

    #[test]
    fn a_torn_or_missing_record_reads_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let log = BatchLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        let a = append(&log, b"first record");
        let b = append(&log, b"second record");
        drop(log);
        // A crash kept only part of the second record, and a byte of the
        // first changed on disk.
        let path = dir.path().join(segment_name(a.segment));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.truncate(b.offset as usize + HEADER + 3);
        bytes[HEADER] ^= 1;
        std::fs::write(&path, bytes).unwrap();
        let log = BatchLog::open(dir.path(), SEGMENT_BYTES).unwrap();
        assert_eq!(
            log.read(a, <[u8]>::to_vec).unwrap(),
            None,
            "checksum mismatch"
        );
        assert_eq!(log.read(b, <[u8]>::to_vec).unwrap(), None, "short record");
        let elsewhere = RecordLocation { segment: 99, ..a };
        assert_eq!(
            log.read(elsewhere, <[u8]>::to_vec).unwrap(),
            None,
            "no such segment"
        );
        let wrong_len = RecordLocation {
            len: a.len + 1,
            ..a
        };
        assert_eq!(log.read(wrong_len, <[u8]>::to_vec).unwrap(), None);
    }
}
