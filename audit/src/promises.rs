//! Bitemporal promises: for each promise of an order, what the system held
//! when it promised (the log as it stood then) beside what is known now of
//! the same business time (with the facts from outside recorded since but
//! dated before the promise).

use chrono::{DateTime, NaiveDate, Utc};
use event_store::{RecordedEvent, Store};
use projections::atp::AtpModel;
use projections::ProjectionError;
use schemas::order::SupplySource;
use schemas::{OrderEvent, StreamName};
use serde::Serialize;

use crate::AuditError;

/// One promise, as held then and as known now.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct PromiseView {
    /// The order line.
    pub line: u32,
    /// The SKU.
    pub sku: String,
    /// Units promised.
    pub qty: u64,
    /// Where they were to come from.
    pub source: SupplySource,
    /// The date promised.
    pub promise_date: NaiveDate,
    /// When it was promised (business time).
    pub promised_at: DateTime<Utc>,
    /// The promise's position in the log.
    pub position: u64,
    /// Cumulative ATP at the location on the promise date, with the
    /// promise counted, as the log stood when it was made: below zero, the
    /// system promised what it did not hold.
    pub held: Option<i64>,
    /// The same from every fact known now that is dated up to the promise
    /// (late-recorded counts, adjustments and receipts included).
    pub known_now: Option<i64>,
    /// `honest` (both at or above zero), `facts_recorded_later` (what was
    /// held allowed it; facts recorded since, dated before it, do not),
    /// `beyond_what_was_held` (a fault of the system), or `unknown`.
    pub verdict: &'static str,
}

/// Cumulative ATP of `sku` at `location` on `day`, from the events `admits` keeps.
fn room(
    atp: &AtpModel,
    admits: &dyn Fn(&RecordedEvent) -> bool,
    sku: &str,
    location: &str,
    day: NaiveDate,
    today: NaiveDate,
) -> Result<Option<i64>, AuditError> {
    let at = match atp
        .as_of_where(None, admits)?
        .sku(sku, Some(location), today)
    {
        Ok(at) => at,
        Err(ProjectionError::UnknownSku(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    Ok(at
        .locations
        .iter()
        .find(|l| l.location == location)
        .map(|l| {
            l.phased
                .buckets
                .iter()
                .take_while(|b| b.day <= day)
                .last()
                .map_or(0, |b| b.cumulative)
        }))
}

/// Whether a process (fulfilment, replenishment) recorded `e` in reaction to another event.
fn is_reaction(e: &RecordedEvent) -> bool {
    e.causation_id
        .as_deref()
        .is_some_and(|id| id.starts_with("fp-") || id.starts_with("rp-"))
}

/// Every promise of `order_id`, held then and known now. Each is two
/// rebuilds of the ATP model from the log: meant for one order at a time.
pub fn promises(
    store: &Store,
    atp: &AtpModel,
    order_id: &str,
) -> Result<Vec<PromiseView>, AuditError> {
    let stream = StreamName::order(order_id)
        .ok()
        .and_then(|s| event_store::StreamId::new(s.to_string()).ok())
        .ok_or_else(|| AuditError::UnknownOrder(order_id.to_owned()))?;
    let events = store.read_stream(&stream, 1)?;
    if events.is_empty() {
        return Err(AuditError::UnknownOrder(order_id.to_owned()));
    }
    let mut views = Vec::new();
    for e in &events {
        let Some(OrderEvent::LineAllocated {
            line,
            sku,
            qty,
            source,
            promise_date,
            ..
        }) = e.decode::<OrderEvent>("audit")
        else {
            continue;
        };
        let today = e.at.date_naive();
        let location = source.location().to_owned();
        // What the log held: everything before the promise (the
        // reservation behind it is recorded just before it).
        let held = |x: &RecordedEvent| x.position < e.position;
        // Known now: the same, and the facts from outside recorded since
        // but dated up to the promise (the processes' reactions to them
        // are decisions made later, so they are left out).
        let known = |x: &RecordedEvent| held(x) || (x.at <= e.at && !is_reaction(x));
        let held = room(atp, &held, &sku, &location, promise_date, today)?;
        let known_now = room(atp, &known, &sku, &location, promise_date, today)?;
        let verdict = match (held, known_now) {
            (Some(h), Some(n)) if h >= 0 && n >= 0 => "honest",
            (Some(h), _) if h >= 0 => "facts_recorded_later",
            (Some(_), _) => "beyond_what_was_held",
            (None, _) => "unknown",
        };
        views.push(PromiseView {
            line,
            sku,
            qty,
            source,
            promise_date,
            promised_at: e.at,
            position: e.position,
            held,
            known_now,
            verdict,
        });
    }
    Ok(views)
}
