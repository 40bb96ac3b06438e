use std::collections::VecDeque;

use tokio::sync::watch;

use crate::error::{Result, StoreError};
use crate::model::RecordedEvent;
use crate::store::Store;

const PAGE: usize = 512;

/// Reads the log from a position on: first the history (catch-up), then each
/// new event as it is acknowledged. Waiting is by notification from the
/// writer after each flush, never by polling.
#[derive(Debug)]
pub struct Subscription {
    store: Store,
    next: u64,
    buffer: VecDeque<RecordedEvent>,
    head: watch::Receiver<u64>,
}

impl Subscription {
    pub(crate) fn new(store: Store, from: u64, head: watch::Receiver<u64>) -> Self {
        Self {
            store,
            next: from.max(1),
            buffer: VecDeque::new(),
            head,
        }
    }

    /// The position the next event will have.
    pub fn position(&self) -> u64 {
        self.next
    }

    /// The next event in log order; waits for one when caught up.
    /// Fails with [`StoreError::Closed`] when the store shuts down.
    pub async fn next(&mut self) -> Result<RecordedEvent> {
        loop {
            if let Some(event) = self.buffer.pop_front() {
                self.next = event.position + 1;
                return Ok(event);
            }
            // Mark the head seen before reading, so an append that lands
            // after the read still wakes `changed()`.
            self.head.borrow_and_update();
            let page = self.store.read_all(self.next, PAGE)?;
            if !page.is_empty() {
                self.buffer.extend(page);
                continue;
            }
            if self.head.changed().await.is_err() {
                return Err(StoreError::Closed);
            }
        }
    }
}
