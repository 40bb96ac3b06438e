//! Purchase orders as buyers look for them: open, overdue, by supplier.
//!
//! One record per PO is folded from its events, with an index of the open
//! ones (`open/…`), so the questions a buyer asks every day walk the open
//! POs only. A PO is open while a line still waits for units; it is
//! overdue when such a line's expected date has passed.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use event_store::RecordedEvent;
use schemas::{PurchaseOrderEvent, StreamKind};
use serde::{Deserialize, Serialize};

use crate::projection::{events_of, load, Folded, Model, Projection, ProjectionError, Working};

const NAME: &str = "purchases";

/// What the model keeps of one purchase order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PurchaseRecord {
    /// The PO.
    pub po_id: String,
    /// The supplier.
    pub supplier_id: String,
    /// When it was ordered.
    pub ordered_on: Option<NaiveDate>,
    /// Whether the supplier confirmed it.
    pub confirmed: bool,
    /// Whether it was closed (nothing more will come).
    pub closed: bool,
    /// Whether the replenishment process placed it.
    pub automatic: bool,
    /// Its lines.
    pub lines: BTreeMap<u32, PurchaseLine>,
}

/// One PO line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PurchaseLine {
    /// The SKU.
    pub sku: String,
    /// Where it is to be delivered.
    pub location: String,
    /// Units ordered.
    pub qty: u64,
    /// Units received.
    pub received: u64,
    /// When the rest is expected.
    pub expected_date: Option<NaiveDate>,
    /// Whether the rest will not come (cancelled, or closed short).
    pub cancelled: bool,
}

impl PurchaseLine {
    /// Units still to come.
    pub fn open(&self) -> u64 {
        if self.cancelled {
            0
        } else {
            self.qty.saturating_sub(self.received)
        }
    }
}

impl PurchaseRecord {
    fn evolve(&mut self, event: &PurchaseOrderEvent) {
        match event {
            PurchaseOrderEvent::PurchaseOrderPlaced {
                po_id,
                supplier_id,
                ordered_on,
                lines,
                basis,
                ..
            } => {
                self.po_id.clone_from(po_id);
                self.supplier_id.clone_from(supplier_id);
                self.ordered_on = Some(*ordered_on);
                self.automatic = basis.is_some();
                for l in lines {
                    self.lines.insert(
                        l.line,
                        PurchaseLine {
                            sku: l.sku.clone(),
                            location: l.location.clone(),
                            qty: l.qty,
                            received: 0,
                            expected_date: Some(l.expected_date),
                            cancelled: false,
                        },
                    );
                }
            }
            PurchaseOrderEvent::PurchaseOrderConfirmed { .. } => self.confirmed = true,
            PurchaseOrderEvent::PurchaseOrderLineRedated {
                line,
                expected_date,
                ..
            } => {
                if let Some(l) = self.lines.get_mut(line) {
                    l.expected_date = Some(*expected_date);
                }
            }
            PurchaseOrderEvent::PurchaseOrderReceived { line, qty, .. } => {
                if let Some(l) = self.lines.get_mut(line) {
                    l.received += qty;
                }
            }
            PurchaseOrderEvent::PurchaseOrderLineCancelled { open, .. } => {
                if let Some(l) = self.lines.get_mut(&open.line) {
                    l.cancelled = true;
                }
            }
            PurchaseOrderEvent::PurchaseOrderClosed { .. } => {
                self.closed = true;
                for l in self.lines.values_mut() {
                    l.cancelled |= l.open() > 0;
                }
            }
        }
    }

    /// Whether a line still waits for units.
    pub fn is_open(&self) -> bool {
        !self.closed && self.lines.values().any(|l| l.open() > 0)
    }

    /// The earliest date a line still open was expected by, if it has passed on `today`.
    pub fn overdue_since(&self, today: NaiveDate) -> Option<NaiveDate> {
        self.lines
            .values()
            .filter(|l| l.open() > 0)
            .filter_map(|l| l.expected_date)
            .filter(|d| *d < today)
            .min()
            .filter(|_| self.is_open())
    }

    /// The PO as one row of a listing, on `today`.
    pub fn summary(&self, today: NaiveDate) -> PurchaseSummary {
        let open = self.lines.values().filter(|l| l.open() > 0);
        PurchaseSummary {
            po_id: self.po_id.clone(),
            supplier_id: self.supplier_id.clone(),
            ordered_on: self.ordered_on,
            status: if self.is_open() {
                if self.overdue_since(today).is_some() {
                    PurchaseStatus::Overdue
                } else {
                    PurchaseStatus::Open
                }
            } else {
                PurchaseStatus::Done
            },
            confirmed: self.confirmed,
            automatic: self.automatic,
            lines: self.lines.len(),
            ordered: self.lines.values().map(|l| l.qty).sum(),
            received: self.lines.values().map(|l| l.received).sum(),
            open: self.lines.values().map(PurchaseLine::open).sum(),
            next_expected: open.filter_map(|l| l.expected_date).min(),
            skus: {
                let mut skus: Vec<&str> = self.lines.values().map(|l| l.sku.as_str()).collect();
                skus.dedup();
                skus.join(" ")
            },
        }
    }
}

/// Where a PO stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseStatus {
    /// Units still to come, none past their date.
    Open,
    /// Units still to come past their expected date.
    Overdue,
    /// Everything received, cancelled or closed.
    Done,
}

/// One PO in a listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PurchaseSummary {
    /// The PO.
    pub po_id: String,
    /// The supplier.
    pub supplier_id: String,
    /// When it was ordered.
    pub ordered_on: Option<NaiveDate>,
    /// Where it stands.
    pub status: PurchaseStatus,
    /// Whether the supplier confirmed it.
    pub confirmed: bool,
    /// Whether the replenishment process placed it.
    pub automatic: bool,
    /// Its SKUs, separated by spaces.
    pub skus: String,
    /// Lines.
    pub lines: usize,
    /// Units ordered.
    pub ordered: u64,
    /// Units received.
    pub received: u64,
    /// Units still to come.
    pub open: u64,
    /// The earliest date units still to come are expected.
    pub next_expected: Option<NaiveDate>,
}

/// Which POs a listing shows.
#[derive(Debug, Clone, Default)]
pub struct PurchaseQuery {
    /// Only POs in this status (`open` takes overdue ones too).
    pub status: Option<PurchaseStatus>,
    /// Only this supplier's.
    pub supplier: Option<String>,
    /// Only POs with a line of this SKU.
    pub sku: Option<String>,
    /// Only POs with a line to this location.
    pub location: Option<String>,
}

/// How the log folds into the PO records.
#[derive(Debug, Clone, Copy, Default)]
pub struct PurchasesProjection;

impl Projection for PurchasesProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fold(&self, working: &mut Working<'_>, events: &[RecordedEvent]) -> Folded {
        for (id, event, _) in
            events_of::<PurchaseOrderEvent>(NAME, StreamKind::PurchaseOrder, events)
        {
            let record = working.get::<PurchaseRecord>(&format!("po/{id}"))?;
            let was_open = record.is_open();
            record.evolve(&event);
            match (was_open, record.is_open()) {
                (false, true) => working.put(format!("open/{id}"), true),
                (true, false) => working.remove(format!("open/{id}")),
                _ => {}
            }
        }
        Ok(())
    }
}

/// The purchase-order read model and its queries.
pub type PurchasesModel = Model<PurchasesProjection>;

impl PurchasesModel {
    /// One PO's record, if it was placed.
    pub fn po(&self, po_id: &str) -> Result<Option<PurchaseRecord>, ProjectionError> {
        load(NAME, &self.values(), &format!("po/{po_id}"))
    }

    /// The POs `query` asks for, by PO id, with statuses on `today`; open
    /// and overdue ones from the index of open POs.
    pub fn list(
        &self,
        query: &PurchaseQuery,
        today: NaiveDate,
    ) -> Result<Vec<PurchaseSummary>, ProjectionError> {
        let records: Vec<PurchaseRecord> = match query.status {
            Some(PurchaseStatus::Open | PurchaseStatus::Overdue) => {
                let ids: Vec<(String, bool)> = self.scan("open/")?;
                let mut records = Vec::with_capacity(ids.len());
                for (id, _) in ids {
                    records.extend(self.po(&id)?);
                }
                records
            }
            _ => self.scan("po/")?.into_iter().map(|(_, r)| r).collect(),
        };
        Ok(records
            .iter()
            .filter(|r| query.supplier.as_ref().is_none_or(|s| *s == r.supplier_id))
            .filter(|r| {
                query
                    .sku
                    .as_ref()
                    .is_none_or(|s| r.lines.values().any(|l| l.sku == *s))
            })
            .filter(|r| {
                query
                    .location
                    .as_ref()
                    .is_none_or(|at| r.lines.values().any(|l| l.location == *at))
            })
            .map(|r| r.summary(today))
            .filter(|s| match query.status {
                None => true,
                Some(PurchaseStatus::Open) => s.status != PurchaseStatus::Done,
                Some(status) => s.status == status,
            })
            .collect())
    }
}
