//! Key layouts of the store's sled trees. All numbers are big-endian so that
//! sled's byte order is numeric order.

use crate::model::StreamId;

pub(crate) fn position(p: u64) -> [u8; 8] {
    p.to_be_bytes()
}

pub(crate) fn read_u64(bytes: &[u8]) -> Option<u64> {
    let arr: [u8; 8] = bytes.get(..8)?.try_into().ok()?;
    Some(u64::from_be_bytes(arr))
}

/// `stream ++ 0x00`: every index entry of the stream starts with it.
/// Stream ids never contain control characters, so no other stream shares it.
pub(crate) fn stream_prefix(stream: &StreamId) -> Vec<u8> {
    let mut k = Vec::with_capacity(stream.as_str().len() + 9);
    k.extend_from_slice(stream.as_str().as_bytes());
    k.push(0);
    k
}

/// `stream ++ 0x01`: the first key past the stream's entries.
pub(crate) fn stream_end(stream: &StreamId) -> Vec<u8> {
    let mut k = stream_prefix(stream);
    if let Some(last) = k.last_mut() {
        *last = 1;
    }
    k
}

/// `stream ++ 0x00 ++ first_version`: one index entry per append.
pub(crate) fn stream_entry(stream: &StreamId, first_version: u64) -> Vec<u8> {
    let mut k = stream_prefix(stream);
    k.extend_from_slice(&first_version.to_be_bytes());
    k
}

/// An index entry: the append's events sit at positions `first_position ..
/// first_position + count` (one append's events are contiguous in the log),
/// in the segment keyed `segment`, at bytes `start..end` of its value
/// (an append never spans two segments).
pub(crate) fn index_value(entry: &IndexEntry) -> [u8; 32] {
    let mut v = [0u8; 32];
    v[..8].copy_from_slice(&entry.first_position.to_be_bytes());
    v[8..16].copy_from_slice(&entry.count.to_be_bytes());
    v[16..24].copy_from_slice(&entry.segment.to_be_bytes());
    v[24..28].copy_from_slice(&entry.start.to_be_bytes());
    v[28..].copy_from_slice(&entry.end.to_be_bytes());
    v
}

pub(crate) fn decode_index(key: &[u8], value: &[u8]) -> Option<IndexEntry> {
    let first_version = read_u64(key.get(key.len().checked_sub(8)?..)?)?;
    let u32_at = |at: usize| Some(u32::from_be_bytes(value.get(at..at + 4)?.try_into().ok()?));
    Some(IndexEntry {
        first_version,
        first_position: read_u64(value)?,
        count: read_u64(value.get(8..)?)?,
        segment: read_u64(value.get(16..)?)?,
        start: u32_at(24)?,
        end: u32_at(28)?,
    })
}

/// Where one append's events are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct IndexEntry {
    pub first_version: u64,
    pub first_position: u64,
    pub count: u64,
    pub segment: u64,
    pub start: u32,
    pub end: u32,
}

impl IndexEntry {
    pub fn last_version(&self) -> u64 {
        self.first_version + self.count - 1
    }

    pub fn outcome(&self) -> crate::model::AppendOutcome {
        crate::model::AppendOutcome {
            first_version: self.first_version,
            last_version: self.last_version(),
            first_position: self.first_position,
            last_position: self.first_position + self.count - 1,
            duplicate: false,
        }
    }
}
