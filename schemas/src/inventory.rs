//! Commands and events of an inventory item: one SKU at one location.

// The wire types' fields are described in docs/events.md: a doc comment
// here would change the text of the published JSON Schemas.
#![allow(missing_docs)]

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What can be asked of an inventory item. Every command names the item
/// by `sku` and `location`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum InventoryCommand {
    /// Stock arrived, from purchase order `po_id` or otherwise. Inbound
    /// reservations on that PO become on-hand reservations.
    ReceiveStock {
        sku: String,
        location: String,
        qty: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_id: Option<String>,
        /// The purchase order line, where the PO has several for this item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
    },
    /// On-hand changes for a reason other than receipt or shipment.
    AdjustStock {
        sku: String,
        location: String,
        /// Positive adds, negative removes.
        delta: i64,
        reason: AdjustmentReason,
    },
    /// A cycle count: `counted` units were found.
    CountStock {
        sku: String,
        location: String,
        counted: u64,
    },
    /// Set stock aside for an order line, against on-hand stock (adds to
    /// the line's reservation here, if it has one).
    ReserveStock {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        qty: u64,
        /// When the line needs the units: ATP counts the reservation then.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        need_date: Option<NaiveDate>,
    },
    /// Set aside units due on purchase order `po_id`, when the policy allows.
    ReserveInbound {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        qty: u64,
        po_id: String,
        /// The purchase order line, where the PO has several for this item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        need_date: Option<NaiveDate>,
    },
    /// Give back an order line's reservation (`qty` of it, or all): on
    /// hand, or on `po_id`.
    ReleaseReservation {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_id: Option<String>,
        /// The purchase order line, where the PO has several for this item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qty: Option<u64>,
    },
    /// Reserved units left in a shipment.
    ShipReserved {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        qty: u64,
    },
    /// The warehouse could not find `short` reserved units of a line.
    ReportPickShort {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        short: u64,
    },
    /// A resellable return goes back on the shelf.
    RestockReturn {
        sku: String,
        location: String,
        qty: u64,
        rma_id: String,
    },
    /// Units due on a PO line, by date (again to re-date or re-size it).
    ScheduleInbound {
        sku: String,
        location: String,
        po_id: String,
        /// The purchase order line, where the PO has several for this item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
        qty: u64,
        expected_date: NaiveDate,
    },
    /// Units on `po_id` will not come.
    CancelInbound {
        sku: String,
        location: String,
        po_id: String,
        /// The purchase order line, where the PO has several for this item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
    },
    SetReorderPolicy {
        sku: String,
        location: String,
        #[serde(flatten)]
        policy: ReorderPolicy,
    },
    /// How the item is bought (item-master data): the replenishment
    /// process keeps the reorder policy current from these terms.
    SetSupply {
        sku: String,
        location: String,
        #[serde(flatten)]
        terms: SupplyTerms,
    },
    /// The item is at its reorder point and its terms do not let the
    /// replenishment process order: `qty` should be ordered, for the reasons in `basis`.
    SuggestReplenishment {
        sku: String,
        location: String,
        qty: u64,
        basis: crate::purchasing::ReplenishmentBasis,
    },
}

/// How order quantities are sized.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum LotSizing {
    /// The economic order quantity (from order cost and holding rate).
    #[default]
    Eoq,
    /// Order up to the reorder point plus the EOQ (min/max).
    MinMax,
}

fn one() -> u64 {
    1
}

fn default_holding_rate_bp() -> u32 {
    2500
}

/// Supplier terms of one SKU at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct SupplyTerms {
    pub supplier_id: String,
    /// The supplier's quoted lead time, used until receipts show one.
    pub lead_time_days: u32,
    /// Minimum order quantity.
    #[serde(default = "one")]
    pub moq: u64,
    /// Orders are whole packs of this many units.
    #[serde(default = "one")]
    pub pack_size: u64,
    pub unit_cost_cents: u64,
    /// The cost of placing one order, for the EOQ.
    #[serde(default)]
    pub order_cost_cents: u64,
    /// Yearly cost of holding a unit, in basis points of its cost (2500 = 25 %).
    #[serde(default = "default_holding_rate_bp")]
    pub holding_rate_bp: u32,
    /// Target cycle service level, in basis points (9500 = 95 %).
    pub service_level_bp: u16,
    #[serde(default)]
    pub sizing: LotSizing,
    /// Whether the replenishment process places purchase orders itself
    /// (otherwise it suggests them).
    #[serde(default)]
    pub auto_order: bool,
}

/// When and how much to reorder, and whether inbound supply may be promised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReorderPolicy {
    /// Reorder when the inventory position falls to this.
    pub reorder_point: u64,
    pub safety_stock: u64,
    pub order_qty: u64,
    pub lead_time_days: u32,
    /// Target cycle service level, in basis points (9500 = 95 %).
    pub service_level_bp: u16,
    /// Whether order lines may reserve units still on purchase orders.
    #[serde(default)]
    pub reserve_inbound: bool,
}

impl InventoryCommand {
    /// The `type` values of these commands.
    pub const TYPES: [&'static str; 14] = [
        "ReceiveStock",
        "AdjustStock",
        "CountStock",
        "ReserveStock",
        "ReserveInbound",
        "ReleaseReservation",
        "ShipReserved",
        "ReportPickShort",
        "RestockReturn",
        "ScheduleInbound",
        "CancelInbound",
        "SetReorderPolicy",
        "SetSupply",
        "SuggestReplenishment",
    ];

    /// The item the command is for: (sku, location).
    pub fn item(&self) -> (&str, &str) {
        match self {
            Self::ReceiveStock { sku, location, .. }
            | Self::AdjustStock { sku, location, .. }
            | Self::CountStock { sku, location, .. }
            | Self::ReserveStock { sku, location, .. }
            | Self::ReserveInbound { sku, location, .. }
            | Self::ReleaseReservation { sku, location, .. }
            | Self::ShipReserved { sku, location, .. }
            | Self::ReportPickShort { sku, location, .. }
            | Self::RestockReturn { sku, location, .. }
            | Self::ScheduleInbound { sku, location, .. }
            | Self::CancelInbound { sku, location, .. }
            | Self::SetReorderPolicy { sku, location, .. }
            | Self::SetSupply { sku, location, .. }
            | Self::SuggestReplenishment { sku, location, .. } => (sku, location),
        }
    }
}

/// Why on-hand was adjusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AdjustmentReason {
    Damage,
    Shrinkage,
    Found,
    Correction,
}

/// What happened to an inventory item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum InventoryEvent {
    /// On-hand rose by `qty`.
    StockReceived {
        sku: String,
        location: String,
        qty: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_id: Option<String>,
        /// The purchase order line, where the PO has several for this item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
    },
    /// On-hand changed by `delta` for `reason`.
    StockAdjusted {
        sku: String,
        location: String,
        delta: i64,
        reason: AdjustmentReason,
    },
    /// A cycle count found `counted` where the records said `expected`;
    /// on-hand is now `counted`.
    StockCounted {
        sku: String,
        location: String,
        expected: u64,
        counted: u64,
        variance: i64,
    },
    /// On-hand fell below what is reserved: `short` units promised to orders are not there.
    ShortageRecorded {
        sku: String,
        location: String,
        on_hand: u64,
        reserved: u64,
        short: u64,
    },
    /// `qty` more set aside for an order line, from on-hand.
    StockReserved {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        qty: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        need_date: Option<NaiveDate>,
    },
    /// `qty` of purchase order `po_id` set aside for an order line.
    InboundReserved {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        qty: u64,
        po_id: String,
        /// The purchase order line, where the PO has several for this item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
        expected_date: NaiveDate,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        need_date: Option<NaiveDate>,
    },
    /// An order line's reservation given back (on `po_id` when inbound).
    ReservationReleased {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        qty: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_id: Option<String>,
        /// The purchase order line, where the PO has several for this item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
    },
    /// PO units reserved for a line arrived: the reservation is now on hand.
    ReservationMovedToStock {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        qty: u64,
        po_id: String,
        /// The purchase order line, where the PO has several for this item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
    },
    /// A PO's units will not come (or fewer will): this reservation is gone.
    InboundReservationLost {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        qty: u64,
        po_id: String,
        /// The purchase order line, where the PO has several for this item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
    },
    /// Reserved units left: on-hand and the reservation fall by `qty`.
    StockShipped {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        qty: u64,
    },
    /// Reserved units were not found at pick: on-hand and the reservation
    /// fall by `short`. A stock-accuracy signal.
    PickShortRecorded {
        sku: String,
        location: String,
        order_id: String,
        line: u32,
        short: u64,
    },
    ReturnRestocked {
        sku: String,
        location: String,
        qty: u64,
        rma_id: String,
    },
    /// `qty` units due on `po_id` by `expected_date` (replaces an earlier schedule).
    InboundScheduled {
        sku: String,
        location: String,
        po_id: String,
        /// The purchase order line, where the PO has several for this item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
        qty: u64,
        expected_date: NaiveDate,
    },
    InboundCancelled {
        sku: String,
        location: String,
        po_id: String,
        /// The purchase order line, where the PO has several for this item.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
        qty: u64,
    },
    ReorderPolicySet {
        sku: String,
        location: String,
        #[serde(flatten)]
        policy: ReorderPolicy,
    },
    SupplySet {
        sku: String,
        location: String,
        #[serde(flatten)]
        terms: SupplyTerms,
    },
    /// The replenishment process suggests ordering `qty` (the item's terms
    /// do not let it order by itself), for the reasons in `basis`.
    ReplenishmentSuggested {
        sku: String,
        location: String,
        qty: u64,
        basis: crate::purchasing::ReplenishmentBasis,
    },
    /// The inventory position (on hand + inbound − reserved) fell to the
    /// reorder point: time to order `order_qty`.
    ReorderPointReached {
        sku: String,
        location: String,
        position: i64,
        reorder_point: u64,
        order_qty: u64,
    },
}

crate::event_types!(InventoryEvent {
    StockReceived,
    StockAdjusted,
    StockCounted,
    ShortageRecorded,
    StockReserved,
    InboundReserved,
    ReservationReleased,
    ReservationMovedToStock,
    InboundReservationLost,
    StockShipped,
    PickShortRecorded,
    ReturnRestocked,
    InboundScheduled,
    InboundCancelled,
    ReorderPolicySet,
    SupplySet,
    ReplenishmentSuggested,
    ReorderPointReached,
});
