//! Demand history: what customers asked for, per SKU and location per day,
//! by the business time (`at`) of the order's placement, and how well the
//! forecasts made from it did.
//!
//! - **Unconstrained demand**: every unit ordered counts on the day it was
//!   ordered, including units backordered and units later cancelled after
//!   a shortage, so stockouts do not hide demand. Units a customer cancelled
//!   before any shortage are counted apart (`cancelled_by_customer`) and
//!   left out of demand.
//! - **Where**: a line's units count at the location that first served
//!   them (its first allocation, from stock or inbound); units not served
//!   yet count as `unassigned`, and belong to the SKU's *primary* location
//!   (the first location given supplier terms, else the first location
//!   stocked) when a location's history is asked for.
//! - **Lead times**: each purchase-order receipt's days from order to
//!   receipt, per SKU and location.
//! - **Accuracy**, tracked as demand arrives: when an order opens a new
//!   week for its SKU, the forecast for each week that just began is
//!   recorded (the automatic method over the weekly history before it);
//!   actuals are read as they stand now, so a late order corrects the week
//!   it belongs to.

use std::collections::BTreeMap;

use chrono::{Datelike, Days, NaiveDate};
use event_store::RecordedEvent;
use schemas::order::OrderLineInput;
use schemas::{InventoryEvent, OrderEvent, PurchaseOrderEvent, StreamKind};
use serde::{Deserialize, Serialize};

use crate::projection::{decode, load, Folded, Model, Projection, ProjectionError, Working};

const NAME: &str = "demand";
/// The location of units no location has served yet.
pub const UNASSIGNED: &str = "@unassigned";

/// One day's demand for one SKU at one location.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DemandDay {
    /// Units ordered.
    pub ordered: u64,
    /// Of those, units backordered (at least once).
    pub backordered: u64,
    /// Of those, units cancelled by the customer before any shortage.
    pub cancelled_by_customer: u64,
    /// Of those, units cancelled after a shortage (still demand).
    pub cancelled_short: u64,
}

impl DemandDay {
    /// Unconstrained demand: ordered, less what customers cancelled before any shortage.
    pub fn demand(&self) -> u64 {
        self.ordered.saturating_sub(self.cancelled_by_customer)
    }

    fn add(&mut self, other: &DemandDay) {
        self.ordered += other.ordered;
        self.backordered += other.backordered;
        self.cancelled_by_customer += other.cancelled_by_customer;
        self.cancelled_short += other.cancelled_short;
    }
}

/// What the model keeps of an order line.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct LineDemand {
    sku: String,
    qty: u64,
    day: Option<NaiveDate>,
    /// Units by the location that first served them.
    served: BTreeMap<String, u64>,
    short: bool,
    cancelled: bool,
}

impl LineDemand {
    fn unassigned(&self) -> u64 {
        self.qty.saturating_sub(self.served.values().sum())
    }

    /// Where the line's units count now: by location, then unassigned.
    fn places(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> =
            self.served.iter().map(|(l, q)| (l.clone(), *q)).collect();
        if self.unassigned() > 0 {
            out.push((UNASSIGNED.to_owned(), self.unassigned()));
        }
        out
    }
}

/// A forecast for one week, as made when the week began.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeekForecast {
    /// The Monday the week starts on.
    pub week: NaiveDate,
    /// Units forecast for the week.
    pub forecast: f64,
    /// The method that made it.
    pub method: String,
}

/// A SKU's weekly demand (all locations) and the forecasts made for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WeeklyTrack {
    /// The Monday of the first week with demand.
    pub first_week: Option<NaiveDate>,
    /// Demand per week from `first_week`.
    pub weeks: Vec<f64>,
    /// The forecast made as each week began.
    pub made: Vec<WeekForecast>,
}

impl WeeklyTrack {
    fn index(&self, week: NaiveDate) -> Option<usize> {
        let first = self.first_week?;
        usize::try_from((week - first).num_weeks()).ok()
    }

    /// Adds `units` (negative to take away) to `week`, recording the
    /// forecast for every week that begins on the way there.
    fn add(&mut self, week: NaiveDate, units: f64) {
        let Some(first) = self.first_week else {
            self.first_week = Some(week);
            self.weeks.push(units);
            return;
        };
        if week < first {
            // A late fact dated before the history began: the history grows backwards.
            let extra = usize::try_from((first - week).num_weeks()).unwrap_or(0);
            self.weeks.splice(0..0, std::iter::repeat_n(0.0, extra));
            self.first_week = Some(week);
        }
        let index = self.index(week).unwrap_or(0);
        while self.weeks.len() <= index {
            let begins = first_monday_after(self.first_week, self.weeks.len());
            if let Ok((_, fit)) = forecasting::fit_auto(&self.weeks) {
                self.made.push(WeekForecast {
                    week: begins,
                    forecast: fit.forecast,
                    method: fit.method.to_owned(),
                });
            }
            self.weeks.push(0.0);
        }
        self.weeks[index] = (self.weeks[index] + units).max(0.0);
    }
}

fn first_monday_after(first: Option<NaiveDate>, weeks: usize) -> NaiveDate {
    let first = first.unwrap_or_default();
    first
        .checked_add_days(Days::new(7 * weeks as u64))
        .unwrap_or(first)
}

/// The Monday of `day`'s week.
pub fn week_of(day: NaiveDate) -> NaiveDate {
    day - chrono::Duration::days(i64::from(day.weekday().num_days_from_monday()))
}

/// One lead time observed: a purchase-order receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeadTime {
    /// The purchase order.
    pub po_id: String,
    /// Days from the order to the receipt.
    pub days: i64,
    /// The day it arrived.
    pub received_on: NaiveDate,
}

/// How the log folds into demand history.
#[derive(Debug, Clone, Copy, Default)]
pub struct DemandProjection;

impl Projection for DemandProjection {
    fn name(&self) -> &'static str {
        NAME
    }

    fn fold(&self, working: &mut Working<'_>, events: &[RecordedEvent]) -> Folded {
        for e in events {
            match StreamKind::split(e.stream.as_str()) {
                Some((StreamKind::Order, id)) => {
                    if let Some(event) = decode::<OrderEvent>(NAME, e) {
                        fold_order(working, id, &event, e)?;
                    }
                }
                Some((StreamKind::Inventory, item)) => {
                    let Some((sku, location)) = item.split_once('@') else {
                        continue;
                    };
                    let primary = working.get::<Primary>(&format!("primary/{sku}"))?;
                    match decode::<InventoryEvent>(NAME, e) {
                        Some(InventoryEvent::SupplySet { .. }) if !primary.supplied => {
                            *primary = Primary {
                                location: Some(location.to_owned()),
                                supplied: true,
                            };
                        }
                        Some(_) if primary.location.is_none() => {
                            primary.location = Some(location.to_owned());
                        }
                        _ => {}
                    }
                }
                Some((StreamKind::PurchaseOrder, _)) => {
                    if let Some(PurchaseOrderEvent::PurchaseOrderReceived {
                        po_id,
                        sku,
                        location,
                        lead_time_days,
                        received_on,
                        ..
                    }) = decode(NAME, e)
                    {
                        working.put(
                            format!("leadtime/{sku}@{location}/{:020}", e.position),
                            LeadTime {
                                po_id,
                                days: lead_time_days,
                                received_on,
                            },
                        );
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The SKU's primary location and whether it was chosen by supplier terms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Primary {
    location: Option<String>,
    supplied: bool,
}

fn day_key(sku: &str, location: &str, day: NaiveDate) -> String {
    format!("day/{sku}/{location}/{day}")
}

fn fold_order(
    working: &mut Working<'_>,
    order_id: &str,
    event: &OrderEvent,
    e: &RecordedEvent,
) -> Folded {
    let key = format!("order/{order_id}");
    match event {
        OrderEvent::OrderPlaced { lines, .. } => {
            let day = e.at.date_naive();
            let mut record: BTreeMap<u32, LineDemand> = BTreeMap::new();
            for OrderLineInput { line, sku, qty, .. } in lines {
                working
                    .get::<DemandDay>(&day_key(sku, UNASSIGNED, day))?
                    .ordered += qty;
                track(working, sku, day, *qty as f64)?;
                record.insert(
                    *line,
                    LineDemand {
                        sku: sku.clone(),
                        qty: *qty,
                        day: Some(day),
                        ..LineDemand::default()
                    },
                );
            }
            working.put(key, record);
        }
        OrderEvent::LineAllocated {
            line, qty, source, ..
        } => {
            let mut record = std::mem::take(working.get::<BTreeMap<u32, LineDemand>>(&key)?);
            if let Some(l) = record.get_mut(line) {
                let moved = l.unassigned().min(*qty);
                if let (Some(day), true) = (l.day, moved > 0) {
                    let unassigned = working.get::<DemandDay>(&day_key(&l.sku, UNASSIGNED, day))?;
                    let mut taken = DemandDay {
                        ordered: moved,
                        ..DemandDay::default()
                    };
                    // A backorder moves with the units it was recorded on.
                    if l.short {
                        taken.backordered = moved.min(unassigned.backordered);
                    }
                    unassigned.ordered -= taken.ordered.min(unassigned.ordered);
                    unassigned.backordered -= taken.backordered;
                    working
                        .get::<DemandDay>(&day_key(&l.sku, source.location(), day))?
                        .add(&taken);
                    *l.served.entry(source.location().to_owned()).or_default() += moved;
                }
            }
            working.put(key, record);
        }
        OrderEvent::LineBackordered { line, qty, .. } => {
            let mut record = std::mem::take(working.get::<BTreeMap<u32, LineDemand>>(&key)?);
            if let Some(l) = record.get_mut(line) {
                if let (Some(day), false) = (l.day, l.short) {
                    let counted = (*qty).min(l.unassigned());
                    working
                        .get::<DemandDay>(&day_key(&l.sku, UNASSIGNED, day))?
                        .backordered += counted;
                }
                l.short = true;
            }
            working.put(key, record);
        }
        OrderEvent::LineDeallocated { line, .. } | OrderEvent::PickShort { line, .. } => {
            let record = working.get::<BTreeMap<u32, LineDemand>>(&key)?;
            if let Some(l) = record.get_mut(line) {
                l.short = true;
            }
        }
        OrderEvent::LineCancelled { line, .. } => {
            cancel(working, &key, Some(*line))?;
        }
        OrderEvent::OrderCancelled { .. } => cancel(working, &key, None)?,
        _ => {}
    }
    Ok(())
}

/// Counts a cancelled line (or every line) where its units count.
fn cancel(working: &mut Working<'_>, key: &str, only: Option<u32>) -> Folded {
    let mut record = std::mem::take(working.get::<BTreeMap<u32, LineDemand>>(key)?);
    for (n, l) in &mut record {
        if only.is_some_and(|o| o != *n) || l.cancelled {
            continue;
        }
        l.cancelled = true;
        let Some(day) = l.day else { continue };
        for (location, units) in l.places() {
            let d = working.get::<DemandDay>(&day_key(&l.sku, &location, day))?;
            if l.short {
                d.cancelled_short += units;
            } else {
                d.cancelled_by_customer += units;
            }
        }
        if !l.short {
            track(working, &l.sku, day, -(l.qty as f64))?;
        }
    }
    working.put(key.to_owned(), record);
    Ok(())
}

fn track(working: &mut Working<'_>, sku: &str, day: NaiveDate, units: f64) -> Folded {
    working
        .get::<WeeklyTrack>(&format!("weeks/{sku}"))?
        .add(week_of(day), units);
    Ok(())
}

/// The demand history read model.
pub type DemandModel = Model<DemandProjection>;

/// How a history is summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    /// Per day.
    Day,
    /// Per ISO week (Monday to Sunday).
    Week,
    /// Per calendar month.
    Month,
}

impl Bucket {
    /// The first day of the bucket `day` falls in.
    pub fn start(self, day: NaiveDate) -> NaiveDate {
        match self {
            Self::Day => day,
            Self::Week => week_of(day),
            Self::Month => day.with_day(1).unwrap_or(day),
        }
    }
}

/// One period of a demand history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    /// Its first day.
    pub start: NaiveDate,
    /// Its figures.
    #[serde(flatten)]
    pub figures: DemandDay,
    /// Unconstrained demand.
    pub demand: u64,
}

/// Forecasts as made, against demand as it stands.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tracked {
    /// Weeks compared (complete weeks only).
    pub weeks: Vec<(NaiveDate, f64, f64)>,
    /// Their accuracy.
    pub accuracy: forecasting::Accuracy,
}

impl DemandModel {
    /// Every SKU with demand recorded.
    pub fn skus(&self) -> Result<Vec<String>, ProjectionError> {
        Ok(self
            .scan::<WeeklyTrack>("weeks/")?
            .into_iter()
            .map(|(sku, _)| sku)
            .collect())
    }

    /// The SKU's primary location: the first given supplier terms, else the first stocked.
    pub fn primary(&self, sku: &str) -> Result<Option<String>, ProjectionError> {
        Ok(
            load::<Primary>(NAME, &self.values(), &format!("primary/{sku}"))?
                .and_then(|p| p.location),
        )
    }

    /// Demand for `sku` (at `location`, with the unassigned units when it is
    /// the primary one; everywhere when none) per `bucket`, from the SKU's
    /// first demand to `to`, periods without demand included.
    pub fn history(
        &self,
        sku: &str,
        location: Option<&str>,
        bucket: Bucket,
        to: NaiveDate,
    ) -> Result<Vec<Period>, ProjectionError> {
        let primary = self.primary(sku)?;
        let days: Vec<(String, DemandDay)> = self.scan(&format!("day/{sku}/"))?;
        let mut first: Option<NaiveDate> = None;
        let mut sums: BTreeMap<NaiveDate, DemandDay> = BTreeMap::new();
        for (rest, day) in days {
            let Some((place, date)) = rest.rsplit_once('/') else {
                continue;
            };
            let Ok(date) = date.parse::<NaiveDate>() else {
                continue;
            };
            if day.ordered == 0 || date > to {
                continue;
            }
            first = Some(first.map_or(date, |f| f.min(date)));
            let counts = match location {
                None => true,
                Some(l) => place == l || (place == UNASSIGNED && primary.as_deref() == Some(l)),
            };
            if counts {
                sums.entry(bucket.start(date)).or_default().add(&day);
            }
        }
        let Some(first) = first else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let mut start = bucket.start(first);
        while start <= to {
            let figures = sums.get(&start).copied().unwrap_or_default();
            out.push(Period {
                start,
                figures,
                demand: figures.demand(),
            });
            start = match bucket {
                Bucket::Day => start + Days::new(1),
                Bucket::Week => start + Days::new(7),
                Bucket::Month => start
                    .checked_add_months(chrono::Months::new(1))
                    .unwrap_or(NaiveDate::MAX),
            };
        }
        Ok(out)
    }

    /// Lead times observed for the item, oldest receipt first.
    pub fn lead_times(&self, sku: &str, location: &str) -> Result<Vec<LeadTime>, ProjectionError> {
        Ok(self
            .scan::<LeadTime>(&format!("leadtime/{sku}@{location}/"))?
            .into_iter()
            .map(|(_, l)| l)
            .collect())
    }

    /// The weekly forecasts made for the SKU as its weeks began, against
    /// its weekly demand now, over the weeks complete before `today`'s.
    pub fn accuracy(&self, sku: &str, today: NaiveDate) -> Result<Tracked, ProjectionError> {
        let track =
            load::<WeeklyTrack>(NAME, &self.values(), &format!("weeks/{sku}"))?.unwrap_or_default();
        let current = week_of(today);
        let mut weeks = Vec::new();
        for made in &track.made {
            if made.week >= current {
                continue;
            }
            if let Some(actual) = track.index(made.week).and_then(|i| track.weeks.get(i)) {
                weeks.push((made.week, made.forecast, *actual));
            }
        }
        let actual: Vec<f64> = weeks.iter().map(|w| w.2).collect();
        let forecasts: Vec<Option<f64>> = weeks.iter().map(|w| Some(w.1)).collect();
        Ok(Tracked {
            accuracy: forecasting::Accuracy::of(&actual, &forecasts),
            weeks,
        })
    }
}
