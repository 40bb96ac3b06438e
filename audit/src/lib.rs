//! The audit: replays the event log to find every broken promise with its
//! root cause and the events that prove it, and to tell, for each order
//! shipped or still open past its first promise, whether inventory or the
//! flow owns the delay.
//!
//! - `cause`: the root causes ([`Cause`]) and their [`Evidence`];
//! - `replay`: the one pass over the log ([`Replay`]), which remembers
//!   only open orders, items and the causes the processes react to, so its
//!   memory follows the work in flight, not the history's length;
//! - `report`: [`Finding`], [`LateOrder`] and their summaries;
//! - `promises`: one order's promises as the system held them then and as
//!   the facts known now say ([`promises`]);
//! - `story`: one order's story: where it stands, its lines, every fact
//!   with who caused it, and the process's refused commands ([`story`]).
//!
//! What it guarantees: [`audit`] reads a consistent cut of the log (every
//! event up to the head when it started, or up to the last event recorded
//! by a given time), so it can run beside a live service; a finding cites
//! the log positions of the promise, the break and every fact of its
//! cause; a break no fact explains is reported as a [`Cause::SystemFault`],
//! never left out.

mod cause;
mod promises;
mod replay;
mod report;
mod story;

use chrono::{DateTime, Utc};
use event_store::{Store, StoreError};
use serde::Serialize;

pub use cause::{Cause, Evidence};
pub use promises::{promises, PromiseView};
pub use replay::Replay;
pub use report::{Break, Finding, LateOrder, LateSummary, Outcome, Owner, Step, Summary, Tally};
pub use story::{caused_by, story, Story, StoryEvent, StoryLine};

/// Events read from the store at a time.
const BATCH: usize = 4096;

/// Why an audit cannot answer.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A read model failed.
    #[error(transparent)]
    Projection(#[from] projections::ProjectionError),
    /// Nothing was ever recorded.
    #[error("the store holds no events: nothing to audit")]
    EmptyStore,
    /// `--from` is after `--to`.
    #[error("--from {from} is after --to {to}")]
    Reversed {
        /// The start asked for.
        from: DateTime<Utc>,
        /// The end asked for.
        to: DateTime<Utc>,
    },
    /// A time after the clock.
    #[error("{field} {at} is in the future (the clock says {now})")]
    Future {
        /// The option.
        field: &'static str,
        /// The time asked for.
        at: DateTime<Utc>,
        /// The clock.
        now: DateTime<Utc>,
    },
    /// The item master defines no such SKU or location.
    #[error("{what} {id} is not defined in the item master")]
    Unknown {
        /// `SKU` or `location`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// No such order was ever recorded.
    #[error("order {0} has no events")]
    UnknownOrder(String),
    /// No fact in the history is dated within the period.
    #[error("no event is dated between {from} and {to}: nothing to audit")]
    NoEventsInRange {
        /// The start.
        from: String,
        /// The end.
        to: String,
    },
}

/// What an audit is about: broken promises (or late orders) dated within
/// `from..=to` (business time), of a SKU, at a location.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// From this time.
    pub from: Option<DateTime<Utc>>,
    /// Up to this time.
    pub to: Option<DateTime<Utc>>,
    /// Only this SKU.
    pub sku: Option<String>,
    /// Only this location.
    pub location: Option<String>,
}

impl Scope {
    fn admits(&self, at: DateTime<Utc>) -> bool {
        self.from.is_none_or(|f| at >= f) && self.to.is_none_or(|t| at <= t)
    }

    fn admits_finding(&self, f: &Finding) -> bool {
        self.admits(f.broke_at)
            && self.sku.as_deref().is_none_or(|s| s == f.sku)
            && self.location.as_deref().is_none_or(|l| l == f.location)
    }
}

/// The part of the log an audit read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Cut {
    /// The last position read.
    pub head: u64,
    /// Events replayed.
    pub events: u64,
    /// Events dated within the scope.
    pub in_scope: u64,
}

/// The broken promises in a scope, with their summary.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct AuditReport {
    /// What was read.
    pub cut: Cut,
    /// Findings by cause, SKU, location and supplier.
    pub summary: Summary,
    /// Every broken promise, in log order.
    pub findings: Vec<Finding>,
}

/// The late orders in a scope, with their summary.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct LateReport {
    /// What was read.
    pub cut: Cut,
    /// Late orders by owner and cause or step.
    pub summary: LateSummary,
    /// Every late order, by placement.
    pub late_orders: Vec<LateOrder>,
}

/// Both answers of one replay.
#[derive(Debug, Clone, PartialEq)]
pub struct Audit {
    /// The broken promises.
    pub promises: AuditReport,
    /// The late orders.
    pub late: LateReport,
}

/// Replays `store` up to its head now and reports on `scope`;
/// `progress(read, head)` is called after each batch.
pub fn audit(
    store: &Store,
    scope: &Scope,
    now: DateTime<Utc>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Audit, AuditError> {
    for (field, at) in [("--from", scope.from), ("--to", scope.to)] {
        if let Some(at) = at.filter(|at| *at > now) {
            return Err(AuditError::Future { field, at, now });
        }
    }
    if let (Some(from), Some(to)) = (scope.from, scope.to) {
        if from > to {
            return Err(AuditError::Reversed { from, to });
        }
    }
    // The cut: what was recorded when the audit began.
    let head = store.head_position();
    if head == 0 {
        return Err(AuditError::EmptyStore);
    }
    let mut replay = Replay::new();
    let mut cut = Cut {
        head,
        ..Cut::default()
    };
    for page in store.pages(1, head, BATCH) {
        let events = page?;
        for e in &events {
            cut.in_scope += u64::from(scope.admits(e.at));
            replay.apply(e);
        }
        cut.events = replay.events();
        progress(events.last().map_or(head, |e| e.position), head);
    }
    for (what, id, defined) in [
        ("SKU", &scope.sku, replay.defines_sku(scope.sku.as_deref())),
        (
            "location",
            &scope.location,
            replay.defines_location(scope.location.as_deref()),
        ),
    ] {
        if let (Some(id), false) = (id, defined) {
            return Err(AuditError::Unknown {
                what,
                id: id.clone(),
            });
        }
    }
    if cut.in_scope == 0 {
        let show =
            |t: Option<DateTime<Utc>>, none: &str| t.map_or(none.to_owned(), |t| t.to_rfc3339());
        return Err(AuditError::NoEventsInRange {
            from: show(scope.from, "the start"),
            to: show(scope.to, "the end"),
        });
    }
    let (findings, late) = replay.finish(scope.to.or(Some(now)).filter(|t| *t <= now));
    let findings: Vec<Finding> = findings
        .into_iter()
        .filter(|f| scope.admits_finding(f))
        .collect();
    let late: Vec<LateOrder> = late
        .into_iter()
        .filter(|o| {
            let at = o.shipped_at.unwrap_or(now);
            scope.admits(at) || scope.admits(o.placed_at)
        })
        .collect();
    Ok(Audit {
        promises: AuditReport {
            cut: cut.clone(),
            summary: Summary::of(&findings),
            findings,
        },
        late: LateReport {
            cut,
            summary: LateSummary::of(&late),
            late_orders: late,
        },
    })
}
