//! The runner: reads the log from the process's checkpoint in batches,
//! asks the reaction table what to do, plans and orders through the
//! command path, and stores the memory with the checkpoint.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Days;
use event_store::{Changes, Checkpointed, Store, StoreError};
use fulfilment::{Issued, Issuer, Port, Progress};
use inventory_aggregate::InventoryItem;
use projections::{ProjectionError, ReadModels};
use schemas::inventory::{InventoryCommand, LotSizing, ReorderPolicy, SupplyTerms};
use schemas::purchasing::{PoLineInput, PurchaseOrderCommand, ReplenishmentBasis};
use schemas::Command;

use crate::memory::{item_key, Memory};
use crate::plan::{plan, Plan};
use crate::reactions::{react, Reaction};
use crate::suggest::{backordered_at, history, on_item, position};

/// The store holding the process's checkpoint and memory.
const MEMORY: &str = "replenishment-process";
const MEMORY_KEY: &[u8] = b"memory";
/// Events read and handled together.
const EVENTS_PER_BATCH: usize = 1024;

/// What can stop the process.
#[derive(Debug, thiserror::Error)]
pub enum ReplenishmentError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A read model failed.
    #[error(transparent)]
    Projection(#[from] ProjectionError),
}

/// The replenishment process over a store, reading the read models and
/// sending commands through `P`. Before it plans, it catches the read
/// models up with the log, so the plans see the demand the batch reacts
/// to: whoever else folds the same models must not run at the same time.
pub struct ReplenishmentProcess<P: Port> {
    store: Store,
    port: P,
    models: ReadModels,
    saved: Checkpointed,
    memory: Memory,
    /// Purchase orders placed since last taken.
    placed: Vec<String>,
}

impl<P: Port> ReplenishmentProcess<P> {
    /// The process reading `store`'s log and `models`, acting through `port`.
    pub fn open(store: Store, port: P, models: ReadModels) -> Result<Self, ReplenishmentError> {
        let saved = store.checkpointed(MEMORY)?;
        let memory = match saved.get(MEMORY_KEY)? {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| StoreError::Failed(format!("{MEMORY}: unreadable memory: {e}")))?,
            None => Memory::default(),
        };
        Ok(Self {
            store,
            port,
            models,
            saved,
            memory,
            placed: Vec::new(),
        })
    }

    /// The purchase orders placed since the last call.
    pub fn take_placed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.placed)
    }

    /// Handles every event past the checkpoint, including those its own
    /// commands append, until it has caught up with the log.
    pub fn run_until_idle(&mut self) -> Result<Progress, ReplenishmentError> {
        Progress::until_idle(|| self.run_batch())
    }

    /// Handles up to one batch of events past the checkpoint.
    pub fn run_batch(&mut self) -> Result<Progress, ReplenishmentError> {
        let from = self.saved.checkpoint()?.map_or(1, |c| c + 1);
        let events = self.store.read_all(from, EVENTS_PER_BATCH)?;
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(Progress::default());
        };
        // One piece of work per item: the first event that asked for it
        // names its commands, so a re-run of a longer batch names them alike.
        let mut work: BTreeMap<String, (usize, Reaction)> = BTreeMap::new();
        for event in &events {
            for (index, r) in react(&mut self.memory, event).into_iter().enumerate() {
                work.entry(item_key(&r.sku, &r.location))
                    .and_modify(|(_, w)| {
                        w.refresh |= r.refresh;
                        w.review |= r.review;
                    })
                    .or_insert((index, r));
            }
        }
        let mut progress = Progress {
            events: events.len(),
            ..Progress::default()
        };
        if !work.is_empty() {
            self.models.catch_up()?;
        }
        for (index, reaction) in work.values() {
            self.perform(reaction, *index, &mut progress)?;
        }
        let memory = serde_json::to_vec(&self.memory).map_err(StoreError::Encode)?;
        let mut changes = Changes::new();
        changes.insert(MEMORY_KEY.to_vec(), Some(memory));
        self.saved.apply_changes(last, &[], &changes)?;
        Ok(progress)
    }

    fn perform(
        &mut self,
        reaction: &Reaction,
        index: usize,
        progress: &mut Progress,
    ) -> Result<(), ReplenishmentError> {
        let (sku, location) = (reaction.sku.as_str(), reaction.location.as_str());
        let Some(item) = self.port.item(sku, location)? else {
            return Ok(());
        };
        let Some(terms) = item.supply.clone() else {
            return Ok(());
        };
        let key = item_key(sku, location);
        if !reaction.refresh && {
            let position = self.position(&item, &key)?;
            !due(&mut self.memory.suggested, &key, &item, position)
        } {
            // Nothing to plan and nothing to order: no forecast is needed.
            return Ok(());
        }
        let today = reaction.at.date_naive();
        let (daily, lead) = history(&self.models, sku, location, today)?;
        let planned = match plan(&daily, &lead, &terms) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(sku, location, error = %e, "replenishment could not plan the item");
                *progress.refused.entry("plan_failed").or_default() += 1;
                return Ok(());
            }
        };
        let mut issuer = Issuer::new(
            &self.port,
            format!("rp-{}-{index}", reaction.position),
            reaction.at,
            reaction.correlation_id.clone(),
            progress,
        );
        if reaction.refresh {
            let policy = ReorderPolicy {
                reorder_point: planned.reorder_point,
                safety_stock: planned.safety_stock,
                order_qty: planned.order_qty,
                lead_time_days: planned.lead_time_days.ceil() as u32,
                service_level_bp: terms.service_level_bp,
                reserve_inbound: item.policy.as_ref().is_some_and(|p| p.reserve_inbound),
            };
            if item.policy.as_ref() != Some(&policy) {
                issuer.issue(Command::Inventory(InventoryCommand::SetReorderPolicy {
                    sku: sku.to_owned(),
                    location: location.to_owned(),
                    policy,
                }))?;
            }
        }
        if !reaction.review {
            return Ok(());
        }
        // Read again: the policy may have just changed.
        let Some(item) = self.port.item(sku, location)? else {
            return Ok(());
        };
        let Some(policy) = item.policy.clone() else {
            return Ok(());
        };
        let position = self.position(&item, &key)?;
        if !due(&mut self.memory.suggested, &key, &item, position) {
            return Ok(());
        }
        let qty = quantity(&planned, &terms, position, policy.reorder_point);
        let basis = ReplenishmentBasis {
            method: planned.method.to_owned(),
            demand_class: serde_json::to_value(planned.demand_class)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            forecast_milli_per_day: (planned.demand_per_day * 1000.0).round() as u64,
            history_days: u32::try_from(planned.history_days).unwrap_or(u32::MAX),
            lead_time_days: policy.lead_time_days,
            safety_stock: policy.safety_stock,
            reorder_point: policy.reorder_point,
            order_qty: qty,
            position,
            service_level_bp: terms.service_level_bp,
            expected_fill_rate_bp: (planned.expected_fill_rate * 10_000.0).round() as u16,
        };
        if !terms.auto_order {
            // Suggested once per crossing; the planner orders (or not).
            if !self.memory.suggested.contains(&key) {
                let issued =
                    issuer.issue(Command::Inventory(InventoryCommand::SuggestReplenishment {
                        sku: sku.to_owned(),
                        location: location.to_owned(),
                        qty,
                        basis,
                    }))?;
                if let Issued::Accepted { .. } = issued {
                    self.memory.suggested.insert(key);
                }
            }
            return Ok(());
        }
        let po_id = format!("RP-{}-{index}", reaction.position);
        let expected_date = today
            .checked_add_days(Days::new(u64::from(terms.lead_time_days)))
            .unwrap_or(today);
        let issued = issuer.issue(Command::PurchaseOrder(
            PurchaseOrderCommand::PlacePurchaseOrder {
                po_id: po_id.clone(),
                supplier_id: terms.supplier_id.clone(),
                ordered_on: today,
                lines: vec![PoLineInput {
                    line: 1,
                    sku: sku.to_owned(),
                    location: location.to_owned(),
                    qty,
                    unit_cost_cents: terms.unit_cost_cents,
                    expected_date,
                }],
                over_receipt_tolerance_pct: 10,
                basis: Some(basis),
            },
        ))?;
        if let Issued::Accepted { .. } = issued {
            tracing::info!(sku, location, %po_id, qty, position, "replenishment placed a purchase order");
            self.memory
                .on_order
                .entry(key)
                .or_default()
                .insert(po_id.clone(), qty);
            self.placed.push(po_id);
        }
        Ok(())
    }
}

impl<P: Port> ReplenishmentProcess<P> {
    /// On hand + on order (placed orders the item does not count yet
    /// included) − reserved − backordered.
    fn position(&self, item: &InventoryItem, key: &str) -> Result<i64, ReplenishmentError> {
        let unscheduled: u64 = self.memory.on_order.get(key).map_or(0, |o| {
            o.iter()
                .filter(|(po, _)| !on_item(item, po))
                .map(|(_, q)| *q)
                .sum()
        });
        let (sku, location) = key.split_once('@').unwrap_or((key, ""));
        let backordered = backordered_at(&self.models, sku, location)?;
        Ok(position(item, unscheduled, backordered))
    }
}

/// Whether `item`, at `position`, is at or below its reorder point. Above
/// it, an open suggestion is closed: a later crossing is suggested afresh.
fn due(suggested: &mut BTreeSet<String>, key: &str, item: &InventoryItem, position: i64) -> bool {
    let Some(policy) = &item.policy else {
        return false;
    };
    if position > i64::try_from(policy.reorder_point).unwrap_or(i64::MAX) {
        suggested.remove(key);
        return false;
    }
    true
}

/// Units to order at `position`: the plan's order quantity (whole
/// multiples of it until the position is above the reorder point), or
/// up to the maximum for min/max.
pub(crate) fn quantity(plan: &Plan, terms: &SupplyTerms, position: i64, reorder_point: u64) -> u64 {
    let rop = i64::try_from(reorder_point).unwrap_or(i64::MAX);
    let qty = match terms.sizing {
        LotSizing::MinMax => plan.order_for(terms, position),
        LotSizing::Eoq => {
            let q = plan.order_qty.max(1);
            let short = u64::try_from(rop - position + 1).unwrap_or(1).max(1);
            short.div_ceil(q) * q
        }
    };
    qty.min(schemas::MAX_QTY)
}
