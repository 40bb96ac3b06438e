//! Commands and events of an inventory item: one SKU at one location.

use serde::{Deserialize, Serialize};

/// What can be asked of an inventory item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum InventoryCommand {
    /// Stock arrived (from a purchase order or otherwise).
    ReceiveStock {
        sku: String,
        location: String,
        qty: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// On-hand changes for a reason other than receipt or shipment.
    AdjustStock {
        sku: String,
        location: String,
        /// Positive adds, negative removes.
        delta: i64,
        reason: AdjustmentReason,
    },
    /// Set stock aside for an order line, against on-hand stock.
    ReserveStock {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        qty: u64,
    },
    /// Give back an order line's reservation.
    ReleaseReservation {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
    },
}

impl InventoryCommand {
    /// The `type` values of these commands.
    pub const TYPES: [&'static str; 4] = [
        "ReceiveStock",
        "AdjustStock",
        "ReserveStock",
        "ReleaseReservation",
    ];

    /// The item the command is for: (sku, location).
    pub fn item(&self) -> (&str, &str) {
        match self {
            Self::ReceiveStock { sku, location, .. }
            | Self::AdjustStock { sku, location, .. }
            | Self::ReserveStock { sku, location, .. }
            | Self::ReleaseReservation { sku, location, .. } => (sku, location),
        }
    }
}

/// Why on-hand was adjusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentReason {
    Damage,
    Shrinkage,
    Found,
    Correction,
}

/// What happened to an inventory item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum InventoryEvent {
    /// On-hand rose by `qty`.
    StockReceived {
        sku: String,
        location: String,
        qty: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
    },
    /// On-hand changed by `delta` for `reason`.
    StockAdjusted {
        sku: String,
        location: String,
        delta: i64,
        reason: AdjustmentReason,
    },
    /// On-hand fell below what is reserved: `short` units promised to orders are not there.
    ShortageRecorded {
        sku: String,
        location: String,
        on_hand: u64,
        reserved: u64,
        short: u64,
    },
    /// `qty` set aside for an order line.
    StockReserved {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        qty: u64,
    },
    /// An order line's reservation given back.
    ReservationReleased {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        qty: u64,
    },
}

impl InventoryEvent {
    /// The event's type name, as stored and published.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::StockReceived { .. } => "StockReceived",
            Self::StockAdjusted { .. } => "StockAdjusted",
            Self::ShortageRecorded { .. } => "ShortageRecorded",
            Self::StockReserved { .. } => "StockReserved",
            Self::ReservationReleased { .. } => "ReservationReleased",
        }
    }
}
