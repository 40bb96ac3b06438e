//! What the process remembers between batches: the locations to source
//! from and the backorder queue, in priority order. Pure: the runner loads
//! it from, and writes its changes to, the process's own checkpointed store.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use event_store::Changes;
use serde::{Deserialize, Serialize};

/// A backorder waiting for supply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Backorder {
    /// The SKU it waits for.
    pub sku: String,
    /// The order waiting.
    pub order_id: String,
    /// Its line.
    pub line: u32,
}

/// Sorts a SKU's backorders by priority (highest first), then by the
/// position of the order's placement in the log (earliest first).
pub(crate) fn backorder_key(
    sku: &str,
    priority: u8,
    placed_at: u64,
    order_id: &str,
    line: u32,
) -> String {
    format!(
        "{sku}\u{0}{:03}{placed_at:020}{order_id}#{line}",
        255 - u16::from(priority)
    )
}

/// The locations and the backorder queue.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Memory {
    locations: BTreeSet<String>,
    /// Backorder key → entry.
    backorders: BTreeMap<String, Backorder>,
    /// (order, line) → backorder key.
    waiting: HashMap<(String, u32), String>,
    /// Writes for the store since the last checkpoint.
    pending: BTreeMap<String, Option<Vec<u8>>>,
}

/// A stored entry the memory cannot read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreadable(pub(crate) String);

impl Memory {
    /// The memory as stored: `loc/LOCATION` and `bo/KEY` → backorder entries.
    pub(crate) fn load(
        entries: impl IntoIterator<Item = (String, Vec<u8>)>,
    ) -> Result<Self, Unreadable> {
        let mut memory = Self::default();
        for (key, value) in entries {
            if let Some(location) = key.strip_prefix("loc/") {
                memory.locations.insert(location.to_owned());
            } else if let Some(bo) = key.strip_prefix("bo/") {
                let entry: Backorder =
                    serde_json::from_slice(&value).map_err(|_| Unreadable(key.clone()))?;
                memory.insert_backorder(bo.to_owned(), entry);
            }
        }
        Ok(memory)
    }

    /// The changes since the last call, to store with the checkpoint.
    pub(crate) fn take_writes(&mut self) -> Changes {
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|(k, v)| (k.into_bytes(), v))
            .collect()
    }

    /// Every location known, in name order.
    pub fn locations(&self) -> &BTreeSet<String> {
        &self.locations
    }

    /// Remembers a location defined in the item master.
    pub(crate) fn add_location(&mut self, location: &str) {
        if self.locations.insert(location.to_owned()) {
            self.pending
                .insert(format!("loc/{location}"), Some(Vec::new()));
        }
    }

    /// Queues a backorder under `key`, unless the line waits already.
    pub(crate) fn add_backorder(&mut self, key: String, entry: Backorder) {
        if self.is_waiting(&entry.order_id, entry.line) {
            return;
        }
        // A Backorder always encodes; an empty value would be refused at load.
        let value = serde_json::to_vec(&entry).unwrap_or_default();
        self.pending.insert(format!("bo/{key}"), Some(value));
        self.insert_backorder(key, entry);
    }

    fn insert_backorder(&mut self, key: String, entry: Backorder) {
        self.waiting
            .insert((entry.order_id.clone(), entry.line), key.clone());
        self.backorders.insert(key, entry);
    }

    /// Whether the line waits in the queue.
    pub(crate) fn is_waiting(&self, order_id: &str, line: u32) -> bool {
        self.waiting.contains_key(&(order_id.to_owned(), line))
    }

    /// Drops the backorder of one line, or of every line of an order.
    pub(crate) fn drop_backorders(&mut self, order_id: &str, line: Option<u32>) {
        let keys: Vec<String> = self
            .waiting
            .iter()
            .filter(|((o, l), _)| o == order_id && line.is_none_or(|line| line == *l))
            .map(|(_, k)| k.clone())
            .collect();
        for key in keys {
            if let Some(entry) = self.backorders.remove(&key) {
                self.waiting.remove(&(entry.order_id, entry.line));
                self.pending.insert(format!("bo/{key}"), None);
            }
        }
    }

    /// The SKU's backorders, first to be filled first.
    pub(crate) fn backorders_of(&self, sku: &str) -> Vec<Backorder> {
        let from = format!("{sku}\u{0}");
        self.backorders
            .range(from.clone()..)
            .take_while(|(k, _)| k.starts_with(&from))
            .map(|(_, b)| b.clone())
            .collect()
    }
}
