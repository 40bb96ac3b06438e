//! What the replenishment process remembers between batches.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// Replenished items, the week each policy was last refreshed, orders
/// placed that are not yet scheduled on their items, and open suggestions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    /// SKU → the locations with supplier terms.
    pub supplied: BTreeMap<String, BTreeSet<String>>,
    /// Item (`SKU@LOCATION`) → the Monday of the week its policy was last planned in.
    pub refreshed: BTreeMap<String, NaiveDate>,
    /// Item → purchase order → units placed and not yet scheduled on the item.
    pub on_order: BTreeMap<String, BTreeMap<String, u64>>,
    /// Items suggested for ordering since they last crossed their reorder point.
    #[serde(default)]
    pub suggested: BTreeSet<String>,
}

impl Memory {
    /// The replenished locations of `sku`.
    pub fn locations(&self, sku: &str) -> Vec<String> {
        self.supplied
            .get(sku)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Units placed on purchase orders for `item` and not yet scheduled on it.
    pub fn unscheduled(&self, item: &str) -> u64 {
        self.on_order.get(item).map_or(0, |o| o.values().sum())
    }
}

/// The item key of `sku` at `location`.
pub fn item_key(sku: &str, location: &str) -> String {
    format!("{sku}@{location}")
}
