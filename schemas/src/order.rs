//! Commands and events of a customer order: one stream per order.
//!
//! Money is in minor units of the order's currency (cents), so sums are exact.

// The wire types' fields are described in docs/events.md: a doc comment
// here would change the text of the published JSON Schemas.
#![allow(missing_docs)]

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// One line as the customer ordered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct OrderLineInput {
    /// Line number, unique within the order.
    pub line: u32,
    pub sku: String,
    pub qty: u64,
    pub unit_price_cents: u64,
    /// When the customer needs this line; the order's `requested_date` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub need_date: Option<NaiveDate>,
}

/// Where an allocation's units come from.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SupplySource {
    /// Units on hand at a location.
    Stock { location: String },
    /// Units due on an open purchase order line, to arrive at a location.
    Inbound {
        po_id: String,
        location: String,
        /// The PO line, where the PO has several for this SKU and location.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
    },
}

impl SupplySource {
    /// The location the units are (or will be) at.
    pub fn location(&self) -> &str {
        match self {
            Self::Stock { location } | Self::Inbound { location, .. } => location,
        }
    }

    /// The purchase order the units are due on, for inbound supply.
    pub fn po_id(&self) -> Option<&str> {
        match self {
            Self::Stock { .. } => None,
            Self::Inbound { po_id, .. } => Some(po_id),
        }
    }

    /// The purchase order line, for inbound supply that names one.
    pub fn po_line(&self) -> Option<u32> {
        match self {
            Self::Stock { .. } => None,
            Self::Inbound { po_line, .. } => *po_line,
        }
    }
}

impl std::fmt::Display for SupplySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Stock { location } => write!(f, "stock at {location}"),
            Self::Inbound {
                po_id,
                location,
                po_line: None,
            } => write!(f, "{po_id} due at {location}"),
            Self::Inbound {
                po_id,
                location,
                po_line: Some(line),
            } => write!(f, "{po_id} line {line} due at {location}"),
        }
    }
}

/// A quantity of one line, in shipments and returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LineQty {
    pub line: u32,
    pub qty: u64,
}

/// The state of returned goods on arrival.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnCondition {
    /// Can go back into stock.
    Resellable,
    /// Cannot be sold again.
    Damaged,
}

/// What the customer is told, at each step they can see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Notice {
    OrderConfirmed,
    PaymentFailed,
    LineBackordered,
    LinePromised,
    Shipped,
    Delivered,
    OrderCancelled,
    LineCancelled,
    ReturnAuthorized,
    ReturnReceived,
    Refunded,
}

/// What can be asked of an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum OrderCommand {
    PlaceOrder {
        order_id: String,
        customer_id: String,
        lines: Vec<OrderLineInput>,
        ship_to: String,
        channel: String,
        requested_date: NaiveDate,
        /// Higher is served first when supply is short.
        #[serde(default)]
        priority: u8,
    },
    AuthorizePayment {
        order_id: String,
        amount_cents: u64,
        reference: String,
    },
    CapturePayment {
        order_id: String,
    },
    FailPayment {
        order_id: String,
        reason: String,
    },
    /// Promise `qty` of a line from `source` by `promise_date`.
    AllocateLine {
        order_id: String,
        line: u32,
        qty: u64,
        source: SupplySource,
        promise_date: NaiveDate,
    },
    /// Move `qty` of a line's units from one source to another without
    /// changing what the customer was promised: the process frees on-hand
    /// stock for an earlier need by covering this line from supply that
    /// still arrives by its own date.
    RepinLine {
        order_id: String,
        line: u32,
        qty: u64,
        from: SupplySource,
        to: SupplySource,
    },
    /// The supply behind an allocation moved: the units from `source` are
    /// now promised for `promise_date`, and the customer is told.
    RescheduleLine {
        order_id: String,
        line: u32,
        source: SupplySource,
        promise_date: NaiveDate,
        reason: String,
    },
    /// `qty` of a line waits for supply.
    BackorderLine {
        order_id: String,
        line: u32,
        qty: u64,
    },
    /// Supply promised to a line is gone (a PO will not bring it): the
    /// units go back to open, to be sourced again.
    DeallocateLine {
        order_id: String,
        line: u32,
        source: SupplySource,
        qty: u64,
        reason: String,
    },
    /// `qty` inbound units allocated to a line arrived: they are now stock.
    ReceiveInboundAllocation {
        order_id: String,
        line: u32,
        po_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
        location: String,
        qty: u64,
    },
    ReleaseToWarehouse {
        order_id: String,
    },
    /// The warehouse picked `qty` of the line's released stock; fewer than
    /// expected is a short pick.
    RecordPick {
        order_id: String,
        line: u32,
        qty: u64,
    },
    PackOrder {
        order_id: String,
    },
    ShipOrder {
        order_id: String,
        shipment_id: String,
        carrier: String,
        tracking: String,
        lines: Vec<LineQty>,
    },
    ConfirmDelivery {
        order_id: String,
        shipment_id: String,
    },
    CancelOrder {
        order_id: String,
        reason: String,
    },
    CancelLine {
        order_id: String,
        line: u32,
        reason: String,
    },
    RequestReturn {
        order_id: String,
        rma_id: String,
        lines: Vec<LineQty>,
    },
    ReceiveReturn {
        order_id: String,
        rma_id: String,
        condition: ReturnCondition,
    },
    RefundReturn {
        order_id: String,
        rma_id: String,
        amount_cents: u64,
    },
}

impl OrderCommand {
    /// The `type` values of these commands.
    pub const TYPES: [&'static str; 20] = [
        "PlaceOrder",
        "AuthorizePayment",
        "CapturePayment",
        "FailPayment",
        "AllocateLine",
        "RepinLine",
        "RescheduleLine",
        "BackorderLine",
        "DeallocateLine",
        "ReceiveInboundAllocation",
        "ReleaseToWarehouse",
        "RecordPick",
        "PackOrder",
        "ShipOrder",
        "ConfirmDelivery",
        "CancelOrder",
        "CancelLine",
        "RequestReturn",
        "ReceiveReturn",
        "RefundReturn",
    ];

    /// The order the command is for.
    pub fn order_id(&self) -> &str {
        match self {
            Self::PlaceOrder { order_id, .. }
            | Self::AuthorizePayment { order_id, .. }
            | Self::CapturePayment { order_id }
            | Self::FailPayment { order_id, .. }
            | Self::AllocateLine { order_id, .. }
            | Self::RepinLine { order_id, .. }
            | Self::RescheduleLine { order_id, .. }
            | Self::BackorderLine { order_id, .. }
            | Self::DeallocateLine { order_id, .. }
            | Self::ReceiveInboundAllocation { order_id, .. }
            | Self::ReleaseToWarehouse { order_id }
            | Self::RecordPick { order_id, .. }
            | Self::PackOrder { order_id }
            | Self::ShipOrder { order_id, .. }
            | Self::ConfirmDelivery { order_id, .. }
            | Self::CancelOrder { order_id, .. }
            | Self::CancelLine { order_id, .. }
            | Self::RequestReturn { order_id, .. }
            | Self::ReceiveReturn { order_id, .. }
            | Self::RefundReturn { order_id, .. } => order_id,
        }
    }
}

/// What happened to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "type")]
pub enum OrderEvent {
    OrderPlaced {
        order_id: String,
        customer_id: String,
        lines: Vec<OrderLineInput>,
        ship_to: String,
        channel: String,
        requested_date: NaiveDate,
        priority: u8,
    },
    PaymentAuthorized {
        order_id: String,
        amount_cents: u64,
        reference: String,
    },
    PaymentCaptured {
        order_id: String,
        amount_cents: u64,
    },
    PaymentFailed {
        order_id: String,
        reason: String,
    },
    LineAllocated {
        order_id: String,
        line: u32,
        sku: String,
        qty: u64,
        source: SupplySource,
        promise_date: NaiveDate,
        /// Of `qty`, units that were waiting on a backorder (absent in
        /// events recorded before it was carried).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backorder_filled: Option<u64>,
    },
    /// Units moved from one source to another; the promise date holds.
    LineRepinned {
        order_id: String,
        line: u32,
        sku: String,
        qty: u64,
        from: SupplySource,
        to: SupplySource,
        promise_date: NaiveDate,
    },
    /// The units from `source` are now promised for `promise_date`
    /// (they were promised for `previous_date`).
    LineRescheduled {
        order_id: String,
        line: u32,
        sku: String,
        qty: u64,
        source: SupplySource,
        previous_date: NaiveDate,
        promise_date: NaiveDate,
        reason: String,
    },
    LineBackordered {
        order_id: String,
        line: u32,
        sku: String,
        qty: u64,
        /// When the line is needed: the date the backorder is a requirement at.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        need_date: Option<NaiveDate>,
    },
    LineDeallocated {
        order_id: String,
        line: u32,
        sku: String,
        source: SupplySource,
        qty: u64,
        reason: String,
    },
    InboundAllocationReceived {
        order_id: String,
        line: u32,
        po_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        po_line: Option<u32>,
        location: String,
        qty: u64,
    },
    OrderReleased {
        order_id: String,
        /// Per line, the stock units the warehouse is asked to pick.
        lines: Vec<LineQty>,
    },
    LinePicked {
        order_id: String,
        line: u32,
        qty: u64,
    },
    /// Fewer units found than allocated: a stock-accuracy signal. The
    /// missing units go back to be allocated again.
    PickShort {
        order_id: String,
        line: u32,
        sku: String,
        location: String,
        short: u64,
    },
    OrderPacked {
        order_id: String,
        lines: Vec<LineQty>,
    },
    OrderShipped {
        order_id: String,
        shipment_id: String,
        carrier: String,
        tracking: String,
        /// Per line, with the location each unit leaves from.
        lines: Vec<ShippedLine>,
    },
    ShipmentDelivered {
        order_id: String,
        shipment_id: String,
    },
    OrderCancelled {
        order_id: String,
        reason: String,
        /// The allocations given back, for inventory to release.
        released: Vec<ReleasedAllocation>,
    },
    LineCancelled {
        order_id: String,
        line: u32,
        reason: String,
        released: Vec<ReleasedAllocation>,
    },
    ReturnRequested {
        order_id: String,
        rma_id: String,
        lines: Vec<LineQty>,
    },
    ReturnReceived {
        order_id: String,
        rma_id: String,
        condition: ReturnCondition,
        /// Per line: the SKU, where it was shipped from, and the quantity.
        lines: Vec<ShippedLine>,
    },
    ReturnRefunded {
        order_id: String,
        rma_id: String,
        amount_cents: u64,
    },
    /// What the customer is told; an outbox consumer delivers it.
    CustomerNotified {
        order_id: String,
        customer_id: String,
        notice: Notice,
        message: String,
    },
}

/// A quantity of a line that left (or came back to) a location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ShippedLine {
    pub line: u32,
    pub sku: String,
    pub location: String,
    pub qty: u64,
}

/// An allocation given back when a line or order is cancelled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ReleasedAllocation {
    pub line: u32,
    pub sku: String,
    pub source: SupplySource,
    pub qty: u64,
}

crate::event_types!(OrderEvent {
    OrderPlaced,
    PaymentAuthorized,
    PaymentCaptured,
    PaymentFailed,
    LineAllocated,
    LineRepinned,
    LineRescheduled,
    LineBackordered,
    LineDeallocated,
    InboundAllocationReceived,
    OrderReleased,
    LinePicked,
    PickShort,
    OrderPacked,
    OrderShipped,
    ShipmentDelivered,
    OrderCancelled,
    LineCancelled,
    ReturnRequested,
    ReturnReceived,
    ReturnRefunded,
    CustomerNotified,
});
