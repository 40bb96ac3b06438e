//! Searching the log: one stream through its index, or the whole log
//! between two positions, by event type and correlation id, a page at a
//! time.

use serde::Serialize;

use crate::{RecordedEvent, Result, Store, StreamId};

/// Which events a search returns.
#[derive(Debug, Clone)]
pub struct EventQuery {
    /// Only this stream (read through the stream index).
    pub stream: Option<StreamId>,
    /// Only events of this type.
    pub event_type: Option<String>,
    /// Only events of this business flow.
    pub correlation_id: Option<String>,
    /// From this global position.
    pub from: u64,
    /// Up to this global position (default: the head).
    pub to: Option<u64>,
    /// At most this many events.
    pub limit: usize,
}

impl Default for EventQuery {
    fn default() -> Self {
        Self {
            stream: None,
            event_type: None,
            correlation_id: None,
            from: 1,
            to: None,
            limit: usize::MAX,
        }
    }
}

impl EventQuery {
    fn admits(&self, e: &RecordedEvent) -> bool {
        e.position >= self.from
            && self.to.is_none_or(|to| e.position <= to)
            && self.event_type.as_ref().is_none_or(|t| *t == e.event_type)
            && self
                .correlation_id
                .as_ref()
                .is_none_or(|c| e.correlation_id.as_ref() == Some(c))
    }
}

/// One page of a search: the events in log order and, when the page is
/// full, the position to search on from.
#[derive(Debug, Clone, Serialize)]
pub struct EventPage {
    /// The events.
    pub events: Vec<RecordedEvent>,
    /// Pass as `from` for the next page.
    pub next: Option<u64>,
}

/// Events read from the log per step of a search.
const STEP: usize = 1024;

impl Store {
    /// The events `query` asks for, a page at a time. A stream is read
    /// through its index; otherwise the log is read from `from` to `to`
    /// (or the head), so a filter by type or correlation id costs the
    /// positions it passes over.
    pub fn find(&self, query: &EventQuery) -> Result<EventPage> {
        let mut page = EventPage {
            events: Vec::new(),
            next: None,
        };
        if query.limit == 0 {
            return Ok(page);
        }
        let push = |e: RecordedEvent, page: &mut EventPage| -> bool {
            if page.events.len() == query.limit {
                page.next = Some(e.position);
                return false;
            }
            page.events.push(e);
            true
        };
        if let Some(stream) = &query.stream {
            for e in self
                .read_stream(stream, 1)?
                .into_iter()
                .filter(|e| query.admits(e))
            {
                if !push(e, &mut page) {
                    break;
                }
            }
            return Ok(page);
        }
        let to = query.to.unwrap_or(u64::MAX).min(self.head_position());
        let mut next = query.from.max(1);
        while next <= to {
            let batch = self.read_all(next, STEP)?;
            let Some(last) = batch.last().map(|e| e.position) else {
                break;
            };
            next = last + 1;
            for e in batch.into_iter().filter(|e| query.admits(e)) {
                if !push(e, &mut page) {
                    return Ok(page);
                }
            }
        }
        Ok(page)
    }
}
