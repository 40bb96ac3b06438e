use chrono::NaiveDate;
use decider::Decider;
use event_store::RecordedEvent;
use inventory_aggregate::InventoryItem;
use schemas::InventoryEvent;
use schemas::StreamKind;
use serde::Serialize;

use crate::phased::{time_phased, Dated, Phased};
use crate::projection::{events_of, Folded, Model, Projection, ProjectionError, Working};

const NAME: &str = "atp";

/// One location's position and its time-phased ATP.
#[derive(Debug, Clone, Serialize)]
pub struct LocationAtp {
    /// The location.
    pub location: String,
    /// Units on hand.
    pub on_hand: u64,
    /// Units reserved for order lines from on-hand.
    pub reserved: u64,
    /// What can be promised from stock right now.
    pub atp_now: u64,
    /// Purchase order lines due here.
    pub inbound: Vec<Inbound>,
    /// Supply and requirements by day, with ATP and cumulative ATP.
    pub phased: Phased,
}

/// Units due on one purchase order.
#[derive(Debug, Clone, Serialize)]
pub struct Inbound {
    /// The purchase order.
    pub po_id: String,
    /// When it is due.
    pub expected_date: NaiveDate,
    /// Units due.
    pub due: u64,
    /// Of those, units already promised to orders.
    pub promised: u64,
}

/// A SKU's ATP at each location and across them.
#[derive(Debug, Clone, Serialize)]
pub struct SkuAtp {
    /// The SKU.
    pub sku: String,
    /// Rises with every change to the SKU's position anywhere.
    pub version: u64,
    /// The day ATP is counted from.
    pub today: NaiveDate,
    /// What can be promised from stock now, over all locations.
    pub atp_now: u64,
    /// Each location.
    pub locations: Vec<LocationAtp>,
    /// All locations netted together.
    pub phased: Phased,
}

/// The answer to "can I commit `qty` by `by`?".
#[derive(Debug, Clone, Serialize)]
pub struct Promise {
    /// The SKU asked about.
    pub sku: String,
    /// Units asked for.
    pub qty: u64,
    /// The day they are needed by.
    pub by: NaiveDate,
    /// Whether they can be promised by then.
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
    fn fold(&self, working: &mut Working<'_>, events: &[RecordedEvent]) -> Folded {
        for (item, event, _) in events_of::<InventoryEvent>(NAME, StreamKind::Inventory, events) {
            let state = working.get::<InventoryItem>(&format!("item/{item}"))?;
            *state = InventoryItem::evolve(std::mem::take(state), &event);
            let sku = item.split('@').next().unwrap_or(item);
            let key = format!("version/{sku}");
            let v = version(working.raw(&key)?);
            working.put_raw(key, (v + 1).to_be_bytes().to_vec());
        }
        Ok(())
    }
}

/// A SKU's version as stored (big-endian), 0 when there is none.
fn version(raw: Option<impl AsRef<[u8]>>) -> u64 {
    raw.and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0)
}

/// The ATP read model and its queries.
pub type AtpModel = Model<AtpProjection>;

impl AtpModel {
    /// The SKU's version (0 when nothing was ever recorded).
    pub fn version(&self, sku: &str) -> Result<u64, ProjectionError> {
        Ok(version(
            self.values().get(format!("version/{sku}").as_bytes())?,
        ))
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
