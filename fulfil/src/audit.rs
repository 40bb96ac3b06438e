//! `fulfil audit oversells` and `fulfil diagnose late-orders`: the audit
//! replay, a progress line on a terminal, and the reports.

use std::io::{IsTerminal, Write};

use audit::{Audit, Scope};
use chrono::{DateTime, Utc};
use event_store::Store;

use crate::cli::{AuditScope, Format};

fn replay(
    store: &Store,
    scope: &Scope,
    format: Format,
    now: DateTime<Utc>,
) -> anyhow::Result<Audit> {
    // A progress line only for a person watching, never inside JSON or CSV.
    let show = format == Format::Table && std::io::stderr().is_terminal();
    let mut shown = 0;
    let mut progress = |read: u64, head: u64| {
        let percent = read * 100 / head.max(1);
        if show && percent != shown {
            shown = percent;
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\rreplaying the log: {read}/{head} events ({percent}%)"
            );
            let _ = err.flush();
        }
    };
    let result = audit::audit(store, scope, now, &mut progress);
    if show {
        eprint!("\r\x1b[2K");
    }
    Ok(result?)
}

fn scope_of(s: &AuditScope, sku: Option<String>, location: Option<String>) -> Scope {
    Scope {
        from: s.from,
        to: s.to,
        sku,
        location,
    }
}

fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

fn positions(p: &[u64]) -> String {
    p.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
}

/// `fulfil audit oversells`.
pub fn oversells(
    store: &Store,
    s: &AuditScope,
    sku: Option<String>,
    location: Option<String>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let report = replay(store, &scope_of(s, sku, location), s.format, now)?.promises;
    match s.format {
        Format::Json => crate::output::line(format_args!("{}", serde_json::to_string(&report)?))?,
        Format::Csv => {
            crate::output::line(format_args!("order_id,line,sku,location,qty,promised_at,promise_date,broke_at,how,cause,detail,supplier,outcome,delay_days,evidence_positions,promise_position,break_position"))?;
            for f in &report.findings {
                crate::output::line(format_args!(
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    csv(&f.order_id),
                    f.line,
                    csv(&f.sku),
                    csv(&f.location),
                    f.qty,
                    f.promised_at.to_rfc3339(),
                    f.promise_date,
                    f.broke_at.to_rfc3339(),
                    f.how.name(),
                    f.evidence.cause.name(),
                    csv(&f.evidence.detail),
                    csv(f.evidence.supplier.as_deref().unwrap_or("")),
                    f.outcome.name(),
                    f.delay_days.map(|d| d.to_string()).unwrap_or_default(),
                    positions(&f.evidence.positions),
                    f.promise_position,
                    f.break_position,
                ))?;
            }
        }
        Format::Table => {
            let s = &report.summary;
            crate::output::line(format_args!(
                "Broken promises: {} ({} units), replaying {} events up to position {}",
                s.findings, s.units, report.cut.events, report.cut.head
            ))?;
            if !report.findings.is_empty() {
                crate::output::line(format_args!(
                    "{:<10} {:>4} {:<8} {:<6} {:>4} {:<10} {:<10} {:<14} {:<22} {:<11} {:>5}  evidence",
                    "order", "line", "sku", "at", "qty", "promised", "broke", "how", "cause", "outcome", "delay"
                ))?;
            }
            for f in &report.findings {
                crate::output::line(format_args!(
                    "{:<10} {:>4} {:<8} {:<6} {:>4} {:<10} {:<10} {:<14} {:<22} {:<11} {:>5}  {}: {}",
                    f.order_id,
                    f.line,
                    f.sku,
                    f.location,
                    f.qty,
                    f.promise_date.to_string(),
                    f.broke_at.date_naive().to_string(),
                    f.how.name(),
                    f.evidence.cause.name(),
                    f.outcome.name(),
                    f.delay_days.map_or_else(|| "-".into(), |d| format!("{d}d")),
                    positions(&f.evidence.positions),
                    f.evidence.detail
                ))?;
            }
            for (title, map) in [
                ("By cause", &s.by_cause),
                ("By SKU", &s.by_sku),
                ("By location", &s.by_location),
                ("By supplier", &s.by_supplier),
            ] {
                if map.is_empty() {
                    continue;
                }
                crate::output::line(format_args!("{title}:"))?;
                for (key, t) in map {
                    crate::output::line(format_args!(
                        "  {key:<24} {:>4} findings {:>6} units {:>6.1}%",
                        t.findings,
                        t.units,
                        t.share * 100.0
                    ))?;
                }
            }
        }
    }
    if report.summary.system_faults > 0 {
        return Err(crate::exit::Exit {
            code: 4,
            message: format!(
                "{} broken promise(s) caused by the system itself: see system_fault above",
                report.summary.system_faults
            ),
        }
        .into());
    }
    Ok(())
}

/// `fulfil diagnose late-orders`.
pub fn late_orders(store: &Store, s: &AuditScope, now: DateTime<Utc>) -> anyhow::Result<()> {
    let report = replay(store, &scope_of(s, None, None), s.format, now)?.late;
    match s.format {
        Format::Json => crate::output::line(format_args!("{}", serde_json::to_string(&report)?))?,
        Format::Csv => {
            crate::output::line(format_args!("order_id,placed_at,due,shipped_at,days_late,owner,detail,step_hours,evidence_positions"))?;
            for o in &report.late_orders {
                crate::output::line(format_args!(
                    "{},{},{},{},{},{},{},{},{}",
                    csv(&o.order_id),
                    o.placed_at.to_rfc3339(),
                    o.due,
                    o.shipped_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    o.days_late,
                    o.owner.name(),
                    o.detail,
                    o.step_hours.map(|h| format!("{h:.1}")).unwrap_or_default(),
                    positions(&o.positions),
                ))?;
            }
        }
        Format::Table => {
            let s = &report.summary;
            crate::output::line(format_args!(
                "Late orders: {} ({} inventory-owned, {} flow-owned), replaying {} events up to position {}",
                s.late_orders, s.inventory_owned, s.flow_owned, report.cut.events, report.cut.head
            ))?;
            if !report.late_orders.is_empty() {
                crate::output::line(format_args!(
                    "{:<10} {:<10} {:<10} {:>5} {:<9} {:<22} {:>7}  evidence",
                    "order", "due", "shipped", "late", "owner", "cause or step", "hours"
                ))?;
            }
            for o in &report.late_orders {
                crate::output::line(format_args!(
                    "{:<10} {:<10} {:<10} {:>5} {:<9} {:<22} {:>7}  {}",
                    o.order_id,
                    o.due.to_string(),
                    o.shipped_at
                        .map_or_else(|| "open".to_owned(), |t| t.date_naive().to_string()),
                    format!("{}d", o.days_late),
                    o.owner.name(),
                    o.detail,
                    o.step_hours
                        .map_or_else(|| "-".into(), |h| format!("{h:.1}")),
                    positions(&o.positions),
                ))?;
            }
            if !s.by_detail.is_empty() {
                crate::output::line(format_args!("By owner and cause or step:"))?;
                for (key, n) in &s.by_detail {
                    crate::output::line(format_args!("  {key:<32} {n:>4}"))?;
                }
            }
        }
    }
    Ok(())
}

/// `fulfil audit promises ORDER`.
pub fn promises(
    store: &Store,
    atp: &projections::atp::AtpModel,
    order_id: &str,
    format: Format,
) -> anyhow::Result<()> {
    let views = audit::promises(store, atp, order_id)?;
    if format == Format::Json {
        crate::output::line(format_args!("{}", serde_json::to_string(&views)?))?;
        return Ok(());
    }
    let room = |r: Option<i64>| r.map_or_else(|| "-".to_owned(), |r| r.to_string());
    if format == Format::Csv {
        crate::output::line(format_args!(
            "line,sku,qty,location,promise_date,promised_at,position,held_atp,known_now_atp,verdict"
        ))?;
    } else {
        crate::output::line(format_args!(
            "{order_id}: {} promise(s); cumulative ATP at the location on the promise date, the promise counted: as held then, and from the facts known now dated up to it",
            views.len()
        ))?;
        crate::output::line(format_args!(
            "{:>4} {:<8} {:>4} {:<6} {:<10} {:<20} {:>8} {:>5} {:>9}  verdict",
            "line", "sku", "qty", "at", "promised", "promised at", "position", "held", "known now"
        ))?;
    }
    for v in &views {
        let (held, now) = (room(v.held), room(v.known_now));
        if format == Format::Csv {
            crate::output::line(format_args!(
                "{},{},{},{},{},{},{},{held},{now},{}",
                v.line,
                csv(&v.sku),
                v.qty,
                csv(v.source.location()),
                v.promise_date,
                v.promised_at.to_rfc3339(),
                v.position,
                v.verdict
            ))?;
        } else {
            crate::output::line(format_args!(
                "{:>4} {:<8} {:>4} {:<6} {:<10} {:<20} {:>8} {held:>5} {now:>9}  {}",
                v.line,
                v.sku,
                v.qty,
                v.source.location(),
                v.promise_date.to_string(),
                v.promised_at.format("%Y-%m-%d %H:%M").to_string(),
                v.position,
                v.verdict
            ))?;
        }
    }
    Ok(())
}
