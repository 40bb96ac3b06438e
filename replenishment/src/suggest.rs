//! The suggestions table: every replenished item's position against its
//! policy, and what to order now.

use chrono::NaiveDate;
use inventory_aggregate::InventoryItem;
use projections::demand::Bucket;
use projections::{ProjectionError, ReadModels};
use serde::Serialize;

use crate::plan::{plan, Plan};

/// One replenished item, as it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suggestion {
    /// The SKU.
    pub sku: String,
    /// The location.
    pub location: String,
    /// The supplier.
    pub supplier_id: String,
    /// Units on hand.
    pub on_hand: u64,
    /// Units due on purchase orders.
    pub on_order: u64,
    /// Units reserved for order lines (on hand and inbound).
    pub reserved: u64,
    /// Units backordered (at the SKU's primary location only).
    pub backordered: u64,
    /// On hand + on order − reserved − backordered.
    pub position: i64,
    /// The reorder point in force (none before a policy is set).
    pub reorder_point: Option<u64>,
    /// The safety stock in force.
    pub safety_stock: Option<u64>,
    /// Units to order now (0 when the position is above the reorder point).
    pub order_now: u64,
    /// Whether the process orders it by itself.
    pub auto_order: bool,
    /// The plan from today's history (forecast, policy figures, fill rate).
    pub plan: Option<Plan>,
}

/// Units placed on purchase orders that `item` does not count yet.
pub(crate) fn on_item(item: &InventoryItem, po_id: &str) -> bool {
    let line_prefix = format!("{po_id}#");
    item.inbound
        .keys()
        .any(|k| k == po_id || k.starts_with(&line_prefix))
}

/// On hand + on order − reserved − backordered.
pub(crate) fn position(item: &InventoryItem, unscheduled: u64, backordered: u64) -> i64 {
    item.position() + i64::try_from(unscheduled).unwrap_or(i64::MAX)
        - i64::try_from(backordered).unwrap_or(i64::MAX)
}

/// Units of `sku` backordered, if `location` is its primary location.
pub(crate) fn backordered_at(
    models: &ReadModels,
    sku: &str,
    location: &str,
) -> Result<u64, ProjectionError> {
    if models.demand.primary(sku)?.as_deref() != Some(location) {
        return Ok(0);
    }
    Ok(models.atp.backorders(sku)?.values().map(|b| b.qty).sum())
}

/// Daily demand of the item up to `today`, and its observed lead times.
pub(crate) fn history(
    models: &ReadModels,
    sku: &str,
    location: &str,
    today: NaiveDate,
) -> Result<(Vec<f64>, Vec<f64>), ProjectionError> {
    let daily = models
        .demand
        .history(sku, Some(location), Bucket::Day, today)?
        .iter()
        .map(|p| p.demand as f64)
        .collect();
    let lead = models
        .demand
        .lead_times(sku, location)?
        .iter()
        .map(|l| l.days.max(0) as f64)
        .collect();
    Ok((daily, lead))
}

/// Every item with supplier terms (only `sku` when given), from the read
/// models as they stand, planned as of `today`.
pub fn suggestions(
    models: &ReadModels,
    sku: Option<&str>,
    today: NaiveDate,
) -> Result<Vec<Suggestion>, ProjectionError> {
    let mut out = Vec::new();
    for (key, item) in models.atp.scan::<InventoryItem>("item/")? {
        let Some((item_sku, location)) = key.split_once('@') else {
            continue;
        };
        let Some(terms) = item.supply.clone() else {
            continue;
        };
        if sku.is_some_and(|s| s != item_sku) {
            continue;
        }
        let sku = item_sku;
        let backordered = backordered_at(models, sku, location)?;
        let position = position(&item, 0, backordered);
        let (daily, lead) = history(models, sku, location, today)?;
        let planned = plan(&daily, &lead, &terms).ok();
        let order_now = match (&item.policy, &planned) {
            (Some(policy), Some(p))
                if position <= i64::try_from(policy.reorder_point).unwrap_or(i64::MAX) =>
            {
                crate::runner::quantity(p, &terms, position, policy.reorder_point)
            }
            _ => 0,
        };
        out.push(Suggestion {
            sku: sku.to_owned(),
            location: location.to_owned(),
            supplier_id: terms.supplier_id.clone(),
            on_hand: item.on_hand,
            on_order: item.inbound.values().map(|i| i.qty).sum(),
            reserved: item.reserved()
                + item
                    .inbound_reservations
                    .values()
                    .flat_map(|r| r.values())
                    .sum::<u64>(),
            backordered,
            position,
            reorder_point: item.policy.as_ref().map(|p| p.reorder_point),
            safety_stock: item.policy.as_ref().map(|p| p.safety_stock),
            order_now,
            auto_order: terms.auto_order,
            plan: planned,
        });
    }
    Ok(out)
}
