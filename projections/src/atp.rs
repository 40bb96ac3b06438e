use std::collections::BTreeMap;

use chrono::NaiveDate;
use decider::Decider;
use event_store::RecordedEvent;
use inventory_aggregate::InventoryItem;
use schemas::InventoryEvent;
use serde::Serialize;

use crate::phased::{time_phased, Dated, Phased};
use crate::projection::{decode, encode, load, Changes, Model, Projection, ProjectionError};

const NAME: &str = "atp";

/// One location's position and its time-phased ATP.
#[derive(Debug, Clone, Serialize)]
pub struct LocationAtp {
    pub location: String,
    pub on_hand: u64,
    pub reserved: u64,
    /// What can be promised from stock right now.
    pub atp_now: u64,
    pub inbound: Vec<Inbound>,
    pub phased: Phased,
}

/// Units due on one purchase order.
#[derive(Debug, Clone, Serialize)]
pub struct Inbound {
    pub po_id: String,
    pub expected_date: NaiveDate,
    pub due: u64,
    pub promised: u64,
}

/// A SKU's ATP at each location and across them.
#[derive(Debug, Clone, Serialize)]
pub struct SkuAtp {
    pub sku: String,
    /// Rises with every change to the SKU's position anywhere.
    pub version: u64,
    pub today: NaiveDate,
    pub atp_now: u64,
    pub locations: Vec<LocationAtp>,
    /// All locations netted together.
    pub phased: Phased,
}

/// The answer to "can I commit `qty` by `by`?".
#[derive(Debug, Clone, Serialize)]
pub struct Promise {
    pub sku: String,
    pub qty: u64,
    pub by: NaiveDate,
    pub can_promise: bool,
    /// Locations that together cover the quantity by the date (most first).
    pub sources: Vec<(String, u64)>,
    /// The first day from which the quantity can be promised, if any.
    pub earliest: Option<NaiveDate>,
}

/// How the log folds into the ATP model.
#[derive(Debug, Clone, Copy, Default)]
pub struct AtpProjection;

impl Projection for AtpProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    /// The new states of the items `events` change, and the SKUs' versions.
    fn fold(
        &self,
        tree: &sled::Tree,
        events: &[RecordedEvent],
    ) -> Result<Changes, ProjectionError> {
        let mut items: BTreeMap<String, InventoryItem> = BTreeMap::new();
        let mut versions: BTreeMap<String, u64> = BTreeMap::new();
        for e in events {
            let Some(item) = e.stream.as_str().strip_prefix("inventory-") else {
                continue;
            };
            let Some(event) = decode::<InventoryEvent>(NAME, e) else {
                continue;
            };
            let state = match items.remove(item) {
                Some(state) => state,
                None => load(NAME, tree, &format!("item/{item}"))?.unwrap_or_default(),
            };
            items.insert(item.to_owned(), InventoryItem::evolve(state, &event));
            let sku = item.split('@').next().unwrap_or(item).to_owned();
            let v = match versions.get(&sku) {
                Some(v) => *v,
                None => version(tree, &sku)?,
            };
            versions.insert(sku, v + 1);
        }
        let mut changes = Changes::new();
        for (item, state) in items {
            let key = format!("item/{item}");
            let value = encode(NAME, &key, &state)?;
            changes.insert(key.into_bytes(), Some(value));
        }
        for (sku, v) in versions {
            changes.insert(
                format!("version/{sku}").into_bytes(),
                Some(v.to_be_bytes().to_vec()),
            );
        }
        Ok(changes)
    }
}

fn version(tree: &sled::Tree, sku: &str) -> Result<u64, ProjectionError> {
    let raw = tree.get(format!("version/{sku}").as_bytes())?;
    Ok(raw
        .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0))
}

/// The ATP read model and its queries.
pub type AtpModel = Model<AtpProjection>;

impl AtpModel {
    /// The SKU's version (0 when nothing was ever recorded).
    pub fn version(&self, sku: &str) -> Result<u64, ProjectionError> {
        version(&self.tree(), sku)
    }

    /// Every location's state of the SKU.
    pub fn items(&self, sku: &str) -> Result<Vec<(String, InventoryItem)>, ProjectionError> {
        self.scan(&format!("item/{sku}@"))
    }

    /// The SKU's ATP now and by day, at each location (or only `location`) and in total.
    pub fn sku(
        &self,
        sku: &str,
        location: Option<&str>,
        today: NaiveDate,
    ) -> Result<SkuAtp, ProjectionError> {
        let items: Vec<(String, InventoryItem)> = self
            .items(sku)?
            .into_iter()
            .filter(|(l, _)| location.is_none_or(|want| want == l))
            .collect();
        if items.is_empty() {
            return Err(ProjectionError::UnknownSku(sku.to_owned()));
        }
        let mut supply = Vec::new();
        let mut requirements = Vec::new();
        let locations: Vec<LocationAtp> = items
            .iter()
            .map(|(location, item)| {
                let (s, r) = supply_and_requirements(item, today);
                supply.extend(&s);
                requirements.extend(&r);
                LocationAtp {
                    location: location.clone(),
                    on_hand: item.on_hand,
                    reserved: item.reserved(),
                    atp_now: item.free(),
                    inbound: item
                        .inbound
                        .iter()
                        .map(|(po, i)| Inbound {
                            po_id: po.clone(),
                            expected_date: i.expected_date,
                            due: i.qty,
                            promised: item.inbound_reserved(po),
                        })
                        .collect(),
                    phased: time_phased(&s, &r),
                }
            })
            .collect();
        Ok(SkuAtp {
            sku: sku.to_owned(),
            version: self.version(sku)?,
            today,
            atp_now: locations.iter().map(|l| l.atp_now).sum(),
            phased: time_phased(&supply, &requirements),
            locations,
        })
    }

    /// Can `qty` of `sku` (at `location`, or anywhere) be committed by `by`?
    pub fn promise(
        &self,
        sku: &str,
        qty: u64,
        by: NaiveDate,
        location: Option<&str>,
        today: NaiveDate,
    ) -> Result<Promise, ProjectionError> {
        let atp = self.sku(sku, location, today)?;
        let mut candidates: Vec<(String, u64)> = atp
            .locations
            .iter()
            .map(|l| {
                (
                    l.location.clone(),
                    u64::try_from(l.phased.cumulative_on(by)).unwrap_or(0),
                )
            })
            .filter(|(_, q)| *q > 0)
            .collect();
        candidates.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut left = qty;
        let mut sources = Vec::new();
        for (location, available) in candidates {
            if left == 0 {
                break;
            }
            let take = available.min(left);
            sources.push((location, take));
            left -= take;
        }
        Ok(Promise {
            sku: sku.to_owned(),
            qty,
            by,
            can_promise: left == 0
                && atp.phased.cumulative_on(by) >= i64::try_from(qty).unwrap_or(i64::MAX),
            sources,
            earliest: atp.phased.earliest(qty),
        })
    }
}

/// An item's supply (stock today, units due by PO date) and requirements
/// (reservations against each), as (day, quantity). A PO already late is
/// counted as arriving today.
fn supply_and_requirements(item: &InventoryItem, today: NaiveDate) -> (Dated, Dated) {
    let mut supply = vec![(today, item.on_hand)];
    let mut requirements = vec![(today, item.reserved())];
    for (po, inbound) in &item.inbound {
        let day = inbound.expected_date.max(today);
        supply.push((day, inbound.qty));
        requirements.push((day, item.inbound_reserved(po)));
    }
    (supply, requirements)
}
