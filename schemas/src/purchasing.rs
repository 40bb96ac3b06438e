//! Commands and events of a purchase order: one stream per PO.

// The wire types' fields are described in docs/events.md: a doc comment
// here would change the text of the published JSON Schemas.
#![allow(missing_docs)]

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One PO line as ordered from the supplier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PoLineInput {
    pub line: u32,
    pub sku: String,
    /// Where the units are to be delivered.
    pub location: String,
    pub qty: u64,
    pub unit_cost_cents: u64,
    pub expected_date: NaiveDate,
}

/// What remains open on a PO line that will not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OpenLine {
    pub line: u32,
    pub sku: String,
    pub location: String,
    pub open_qty: u64,
}

/// What an automatic purchase order was computed from: the forecast, the
/// policy and the inventory position, as the replenishment process saw them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReplenishmentBasis {
    /// The forecasting method (`croston-sba`, `ses-optimized`, …).
    pub method: String,
    /// The demand class that chose it (`smooth`, `erratic`, `intermittent`, `lumpy`, `none`).
    pub demand_class: String,
    /// Forecast demand per day, in thousandths of a unit.
    pub forecast_milli_per_day: u64,
    /// Days of demand history behind the forecast.
    pub history_days: u32,
    /// Lead time used, in days (observed mean, else the supplier's).
    pub lead_time_days: u32,
    pub safety_stock: u64,
    pub reorder_point: u64,
    pub order_qty: u64,
    /// On hand + on order − reserved − backordered when the order was placed.
    pub position: i64,
    pub service_level_bp: u16,
    /// The fill rate the policy is expected to give, in basis points.
    pub expected_fill_rate_bp: u16,
}

fn default_tolerance() -> u8 {
    10
}

/// What can be asked of a purchase order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum PurchaseOrderCommand {
    PlacePurchaseOrder {
        po_id: String,
        supplier_id: String,
        ordered_on: NaiveDate,
        lines: Vec<PoLineInput>,
        /// How far above the ordered quantity a receipt may go, in percent.
        #[serde(default = "default_tolerance")]
        over_receipt_tolerance_pct: u8,
        /// Set by the replenishment process on the orders it places.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        basis: Option<ReplenishmentBasis>,
    },
    /// The supplier accepted the order as placed.
    ConfirmPurchaseOrder {
        po_id: String,
    },
    /// The supplier gave a new date for a line.
    RedatePurchaseOrderLine {
        po_id: String,
        line: u32,
        expected_date: NaiveDate,
    },
    ReceivePurchaseOrderLine {
        po_id: String,
        line: u32,
        qty: u64,
        received_on: NaiveDate,
    },
    CancelPurchaseOrderLine {
        po_id: String,
        line: u32,
    },
    /// Nothing more will come; open quantities are dropped.
    ClosePurchaseOrder {
        po_id: String,
    },
}

impl PurchaseOrderCommand {
    /// The `type` values of these commands.
    pub const TYPES: [&'static str; 6] = [
        "PlacePurchaseOrder",
        "ConfirmPurchaseOrder",
        "RedatePurchaseOrderLine",
        "ReceivePurchaseOrderLine",
        "CancelPurchaseOrderLine",
        "ClosePurchaseOrder",
    ];

    pub fn po_id(&self) -> &str {
        match self {
            Self::PlacePurchaseOrder { po_id, .. }
            | Self::ConfirmPurchaseOrder { po_id }
            | Self::RedatePurchaseOrderLine { po_id, .. }
            | Self::ReceivePurchaseOrderLine { po_id, .. }
            | Self::CancelPurchaseOrderLine { po_id, .. }
            | Self::ClosePurchaseOrder { po_id } => po_id,
        }
    }
}

/// What happened to a purchase order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum PurchaseOrderEvent {
    PurchaseOrderPlaced {
        po_id: String,
        supplier_id: String,
        ordered_on: NaiveDate,
        lines: Vec<PoLineInput>,
        over_receipt_tolerance_pct: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        basis: Option<ReplenishmentBasis>,
    },
    PurchaseOrderConfirmed {
        po_id: String,
    },
    PurchaseOrderLineRedated {
        po_id: String,
        line: u32,
        sku: String,
        location: String,
        expected_date: NaiveDate,
        open_qty: u64,
    },
    /// Units arrived, at the line's unit cost (for turnover), `lead_time_days`
    /// after the order and `days_late` after the date expected then.
    PurchaseOrderReceived {
        po_id: String,
        line: u32,
        sku: String,
        location: String,
        qty: u64,
        unit_cost_cents: u64,
        received_on: NaiveDate,
        lead_time_days: i64,
        days_late: i64,
        /// Units beyond the ordered quantity (within tolerance).
        over_received: u64,
    },
    PurchaseOrderLineCancelled {
        po_id: String,
        #[serde(flatten)]
        open: OpenLine,
    },
    PurchaseOrderClosed {
        po_id: String,
        /// Lines closed with units still open.
        short: Vec<OpenLine>,
    },
}

crate::event_types!(PurchaseOrderEvent {
    PurchaseOrderPlaced,
    PurchaseOrderConfirmed,
    PurchaseOrderLineRedated,
    PurchaseOrderReceived,
    PurchaseOrderLineCancelled,
    PurchaseOrderClosed,
});
