//! What the audit reports: broken promises with their evidence, late
//! orders with the side that owns them, and the summaries of both.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use crate::cause::{Cause, Evidence};

/// How a promise broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Break {
    /// The units were taken back from the line.
    Deallocated,
    /// The line was promised a later date.
    Rescheduled,
    /// The picker did not find the units.
    ShortPicked,
    /// The inbound units arrived after the promise.
    ReceivedLate,
    /// Stock was reserved beyond what was free (a fault).
    ReservedBeyondOnHand,
    /// More units promised than the line ordered (a fault).
    AllocatedBeyondOrder,
}

impl Break {
    /// The name reports print.
    pub fn name(self) -> &'static str {
        match self {
            Break::Deallocated => "deallocated",
            Break::Rescheduled => "rescheduled",
            Break::ShortPicked => "short_picked",
            Break::ReceivedLate => "received_late",
            Break::ReservedBeyondOnHand => "reserved_beyond_on_hand",
            Break::AllocatedBeyondOrder => "allocated_beyond_order",
        }
    }
}

/// What became of a line after its promise broke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// Still not promised again (or waiting on a backorder).
    Waiting {
        /// Whether the line waits on a backorder.
        backordered: bool,
    },
    /// Promised again, for `date`.
    Repromised {
        /// The new promise.
        date: NaiveDate,
        /// Where the log says so.
        position: u64,
    },
    /// The late units arrived on `date`.
    Received {
        /// The day they arrived.
        date: NaiveDate,
        /// Where the log says so.
        position: u64,
    },
    /// Shipped on `date`.
    Shipped {
        /// The day it shipped.
        date: NaiveDate,
        /// Where the log says so.
        position: u64,
    },
    /// The line (or order) was cancelled: the sale is lost.
    Cancelled {
        /// Where the log says so.
        position: u64,
    },
    /// A fault of the system: there is nothing to wait for.
    Fault,
}

impl Outcome {
    /// The name reports print.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Waiting { backordered: true } => "backordered",
            Outcome::Waiting { backordered: false } => "waiting",
            Outcome::Repromised { .. } => "repromised",
            Outcome::Received { .. } => "received",
            Outcome::Shipped { .. } => "shipped",
            Outcome::Cancelled { .. } => "cancelled",
            Outcome::Fault => "fault",
        }
    }
}

/// One broken promise.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Finding {
    /// The order.
    pub order_id: String,
    /// Its line.
    pub line: u32,
    /// The SKU.
    pub sku: String,
    /// Where the units were promised from.
    pub location: String,
    /// Units whose promise broke.
    pub qty: u64,
    /// When the promise was made (business time).
    pub promised_at: DateTime<Utc>,
    /// The promise's position in the log.
    pub promise_position: u64,
    /// The date promised.
    pub promise_date: NaiveDate,
    /// When it broke (business time).
    pub broke_at: DateTime<Utc>,
    /// The break's position in the log.
    pub break_position: u64,
    /// How it broke.
    pub how: Break,
    /// Why, and the facts that prove it.
    pub evidence: Evidence,
    /// What became of the line.
    pub outcome: Outcome,
    /// Days past the promise until the outcome (until the end of the
    /// replay while waiting); none when cancelled.
    pub delay_days: Option<i64>,
}

/// Which side owns a late order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// Waiting for stock or supply, or a broken promise.
    Inventory,
    /// Stock was there in time; a step of the flow was slow.
    Flow,
}

impl Owner {
    /// The name reports print.
    pub fn name(self) -> &'static str {
        match self {
            Owner::Inventory => "inventory",
            Owner::Flow => "flow",
        }
    }
}

/// A step of an order's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Placed → payment authorized.
    Payment,
    /// Paid and promised → released to the warehouse.
    Release,
    /// Released → picked.
    Pick,
    /// Picked → packed.
    Pack,
    /// Packed → shipped.
    Ship,
}

impl Step {
    /// The name reports print.
    pub fn name(self) -> &'static str {
        match self {
            Step::Payment => "payment",
            Step::Release => "release",
            Step::Pick => "pick",
            Step::Pack => "pack",
            Step::Ship => "ship",
        }
    }
}

/// An order shipped (or still open) past the date first promised.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LateOrder {
    /// The order.
    pub order_id: String,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// The date first promised (the day asked for when never promised).
    pub due: NaiveDate,
    /// When its last unit shipped; none while open.
    pub shipped_at: Option<DateTime<Utc>>,
    /// Days past due, at shipment or at the end of the replay.
    pub days_late: i64,
    /// Which side owns the delay.
    pub owner: Owner,
    /// The audit's cause, `backorder` or `waiting_for_stock` (inventory),
    /// or the slowest step (flow).
    pub detail: String,
    /// The slowest step's hours (flow).
    pub step_hours: Option<f64>,
    /// The facts: the placement, then the breaks or backorders.
    pub positions: Vec<u64>,
}

/// Findings and units by one grouping.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Tally {
    /// Findings.
    pub findings: usize,
    /// Units whose promise broke.
    pub units: u64,
    /// Share of all findings.
    pub share: f64,
}

/// The findings grouped by cause, SKU, location and supplier.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Summary {
    /// Findings in all.
    pub findings: usize,
    /// Units in all.
    pub units: u64,
    /// By root cause.
    pub by_cause: BTreeMap<String, Tally>,
    /// By SKU.
    pub by_sku: BTreeMap<String, Tally>,
    /// By location.
    pub by_location: BTreeMap<String, Tally>,
    /// By supplier (supplier causes only).
    pub by_supplier: BTreeMap<String, Tally>,
    /// Faults of the system itself: must be zero.
    pub system_faults: usize,
}

impl Summary {
    /// The summary of `findings`.
    pub fn of(findings: &[Finding]) -> Self {
        let mut s = Summary {
            findings: findings.len(),
            ..Summary::default()
        };
        let add = |map: &mut BTreeMap<String, Tally>, key: &str, units: u64| {
            let t = map.entry(key.to_owned()).or_default();
            t.findings += 1;
            t.units += units;
        };
        for f in findings {
            s.units += f.qty;
            add(&mut s.by_cause, f.evidence.cause.name(), f.qty);
            add(&mut s.by_sku, &f.sku, f.qty);
            add(&mut s.by_location, &f.location, f.qty);
            if let Some(supplier) = &f.evidence.supplier {
                add(&mut s.by_supplier, supplier, f.qty);
            }
            s.system_faults += usize::from(f.evidence.cause == Cause::SystemFault);
        }
        let total = s.findings.max(1) as f64;
        for map in [
            &mut s.by_cause,
            &mut s.by_sku,
            &mut s.by_location,
            &mut s.by_supplier,
        ] {
            for t in map.values_mut() {
                t.share = t.findings as f64 / total;
            }
        }
        s
    }
}

/// Late orders by owner and by cause or step.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LateSummary {
    /// Late orders in all.
    pub late_orders: usize,
    /// Owned by inventory.
    pub inventory_owned: usize,
    /// Owned by the flow.
    pub flow_owned: usize,
    /// By owner and detail (`inventory/short_pick`, `flow/pick`).
    pub by_detail: BTreeMap<String, usize>,
    /// Mean days late.
    pub mean_days_late: Option<f64>,
}

impl LateSummary {
    /// The summary of `late`.
    pub fn of(late: &[LateOrder]) -> Self {
        let mut s = LateSummary {
            late_orders: late.len(),
            ..LateSummary::default()
        };
        for o in late {
            match o.owner {
                Owner::Inventory => s.inventory_owned += 1,
                Owner::Flow => s.flow_owned += 1,
            }
            *s.by_detail
                .entry(format!("{}/{}", o.owner.name(), o.detail))
                .or_default() += 1;
        }
        if !late.is_empty() {
            s.mean_days_late =
                Some(late.iter().map(|o| o.days_late as f64).sum::<f64>() / late.len() as f64);
        }
        s
    }
}
