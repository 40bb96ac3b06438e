//! The value format of the events tree.
//!
//! A segment holds the events at positions `first .. first + n` (its key is
//! `first`) as JSON lines, followed by one more line: the [`SegmentIndex`]
//! of its appends. `serde_json` escapes newlines inside strings, so `\n` only
//! ever separates lines. A segment is cut only between appends, so each
//! append's events sit in one segment, at the byte range its index entry names.

use crate::error::{Result, StoreError};
use crate::index::SegmentIndex;
use crate::keys;
use crate::model::RecordedEvent;

pub(crate) struct Segment {
    pub first: u64,
    bytes: sled::IVec,
    /// Byte ranges of the event lines; the index line follows the last.
    spans: Vec<(usize, usize)>,
    index_start: usize,
}

impl Segment {
    pub fn new(key: &[u8], bytes: sled::IVec) -> Result<Self> {
        let first = keys::read_u64(key).ok_or_else(|| StoreError::Decode {
            what: "log segment key".into(),
            source: serde::de::Error::custom("key is not a position"),
        })?;
        let mut spans = Vec::new();
        let mut start = 0;
        for (i, b) in bytes.iter().enumerate() {
            if *b == b'\n' {
                spans.push((start, i));
                start = i + 1;
            }
        }
        Ok(Self {
            first,
            bytes,
            spans,
            index_start: start,
        })
    }

    /// One past the last position in the segment.
    pub fn end(&self) -> u64 {
        self.first + self.spans.len() as u64
    }

    pub fn event(&self, position: u64) -> Result<Option<RecordedEvent>> {
        let Some(&(start, end)) = position
            .checked_sub(self.first)
            .and_then(|i| self.spans.get(usize::try_from(i).ok()?))
        else {
            return Ok(None);
        };
        decode_event(&self.bytes[start..end], position).map(Some)
    }

    pub fn last(&self) -> Result<Option<RecordedEvent>> {
        self.event(self.end().saturating_sub(1))
    }

    /// The record of the segment's appends.
    pub fn index(&self) -> Result<SegmentIndex> {
        serde_json::from_slice(&self.bytes[self.index_start..]).map_err(|source| {
            StoreError::Decode {
                what: format!("index line of the segment at position {}", self.first),
                source,
            }
        })
    }
}

pub(crate) fn decode_event(bytes: &[u8], near_position: u64) -> Result<RecordedEvent> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
        what: format!("event near position {near_position}"),
        source,
    })
}
