//! Figures as people read them: shares as percentages, hours as hours or
//! days, money in the store's currency, and the order and inventory
//! metrics as designed reports; their CSV is a header row and one row per
//! record.

use std::fmt::Write;

use projections::orders::{CycleTimes, OrderMetrics};
use projections::stats::Percentiles;
use projections::stock::StockMetrics;

use crate::cli::Format;
use crate::report::{aligned as table, csv_table};

/// The store-wide currency amounts are kept in (minor units, cents).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Currency(String);

impl Currency {
    /// An ISO 4217 code: three capital letters.
    pub fn new(code: &str) -> anyhow::Result<Self> {
        anyhow::ensure!(
            code.len() == 3 && code.chars().all(|c| c.is_ascii_uppercase()),
            "currency {code:?}: expected an ISO 4217 code such as USD or EUR"
        );
        Ok(Self(code.to_owned()))
    }

    /// `cents` as money: `1,234.50 USD`.
    pub fn money(&self, cents: f64) -> String {
        let sign = if cents < 0.0 { "-" } else { "" };
        let cents = cents.abs().round();
        let whole = format!("{:.0}", (cents / 100.0).trunc());
        let mut grouped = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{sign}{grouped}.{:02.0} {}", cents % 100.0, self.0)
    }
}

impl Default for Currency {
    fn default() -> Self {
        Self("USD".into())
    }
}

/// A share as a percentage with one decimal, or `n/a`.
pub fn percent(share: Option<f64>) -> String {
    share.map_or_else(|| "n/a".into(), |s| format!("{:.1} %", s * 100.0))
}

/// Hours as people say them: `45 min`, `5.2 h`, `3.4 d`.
pub fn hours(h: Option<f64>) -> String {
    match h {
        None => String::new(),
        Some(h) if h < 1.0 => format!("{:.0} min", h * 60.0),
        Some(h) if h < 48.0 => format!("{h:.1} h"),
        Some(h) => format!("{:.1} d", h / 24.0),
    }
}

/// A plain number with at most two decimals, or `n/a`.
fn number(n: Option<f64>) -> String {
    n.map_or_else(|| "n/a".into(), |n| format!("{n:.2}"))
}

/// Label-value lines, the labels padded to one width.
fn pairs(rows: &[(&str, String)]) -> String {
    let width = rows
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (l, v) in rows {
        let _ = writeln!(out, "{l:<width$}  {v}");
    }
    out
}

/// A header row and one row of values.
fn csv(columns: &[(String, String)]) -> String {
    let header: Vec<&str> = columns.iter().map(|(c, _)| c.as_str()).collect();
    csv_table(&header, &[columns.iter().map(|(_, v)| v.clone()).collect()])
}

fn opt(n: Option<f64>) -> String {
    n.map(|n| format!("{n:.4}")).unwrap_or_default()
}

fn cycle_row(name: &str, p: &Percentiles) -> Vec<String> {
    vec![
        name.to_owned(),
        p.count.to_string(),
        hours(p.p50),
        hours(p.p90),
        hours(p.p99),
        hours(p.max),
    ]
}

fn cycle_rows(prefix: &str, c: &CycleTimes) -> Vec<Vec<String>> {
    [
        ("placed → shipped", &c.placed_to_shipped),
        ("placed → delivered", &c.placed_to_delivered),
        ("payment wait", &c.payment_wait),
        ("stock wait", &c.stock_wait),
        ("warehouse flow", &c.warehouse_flow),
    ]
    .iter()
    .map(|(n, p)| cycle_row(&format!("{prefix}{n}"), p))
    .collect()
}

/// The order metrics: a report for people, one CSV row, or JSON.
pub fn order_metrics(m: &OrderMetrics, format: Format) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string(m)? + "\n",
        Format::Csv => {
            let mut columns: Vec<(String, String)> = [
                ("orders", m.orders.to_string()),
                ("shipped", m.shipped.to_string()),
                ("delivered", m.delivered.to_string()),
                ("cancelled", m.cancelled.to_string()),
                ("payment_failed", m.payment_failed.to_string()),
                ("shipped_on_time", m.shipped_on_time.to_string()),
                ("on_time_rate", opt(m.on_time_rate)),
                ("perfect", m.perfect.to_string()),
                ("perfect_order_rate", opt(m.perfect_order_rate)),
                ("lines", m.lines.to_string()),
                ("lines_filled_first", m.lines_filled_first.to_string()),
                ("line_fill_rate", opt(m.line_fill_rate)),
                ("units", m.units.to_string()),
                ("units_filled_first", m.units_filled_first.to_string()),
                ("unit_fill_rate", opt(m.unit_fill_rate)),
                ("backorder_lines", m.backorders.lines.to_string()),
                ("backorder_units", m.backorders.units.to_string()),
                ("backorder_age_p50_hours", opt(m.backorders.age_hours.p50)),
            ]
            .into_iter()
            .map(|(c, v)| (c.to_owned(), v))
            .collect();
            let c = &m.cycle_hours;
            for (name, p) in [
                ("placed_to_shipped", &c.placed_to_shipped),
                ("placed_to_delivered", &c.placed_to_delivered),
                ("payment_wait", &c.payment_wait),
                ("stock_wait", &c.stock_wait),
                ("warehouse_flow", &c.warehouse_flow),
            ] {
                columns.push((format!("{name}_p50_hours"), opt(p.p50)));
                columns.push((format!("{name}_p90_hours"), opt(p.p90)));
            }
            csv(&columns)
        }
        Format::Table => {
            let of = |n: usize, d: usize, what: &str| format!("({n} of {d} {what})");
            let mut out = pairs(&[
                (
                    "orders",
                    format!(
                        "{} placed: {} shipped, {} delivered, {} cancelled, {} payment failed",
                        m.orders, m.shipped, m.delivered, m.cancelled, m.payment_failed
                    ),
                ),
                (
                    "on time",
                    format!(
                        "{} {}",
                        percent(m.on_time_rate),
                        of(m.shipped_on_time, m.shipped, "shipped")
                    ),
                ),
                (
                    "perfect orders",
                    format!(
                        "{} {}",
                        percent(m.perfect_order_rate),
                        of(m.perfect, m.shipped, "shipped")
                    ),
                ),
                (
                    "line fill rate",
                    format!(
                        "{} {}",
                        percent(m.line_fill_rate),
                        of(
                            m.lines_filled_first,
                            m.lines,
                            "lines from stock at the first attempt"
                        )
                    ),
                ),
                (
                    "unit fill rate",
                    format!(
                        "{} ({} of {} units)",
                        percent(m.unit_fill_rate),
                        m.units_filled_first,
                        m.units
                    ),
                ),
                (
                    "backorders",
                    format!(
                        "{} lines, {} units waiting; waited p50 {}, max {}",
                        m.backorders.lines,
                        m.backorders.units,
                        hours(m.backorders.age_hours.p50),
                        hours(m.backorders.age_hours.max)
                    ),
                ),
            ]);
            let mut rows = cycle_rows("", &m.cycle_hours);
            for (channel, c) in &m.cycle_hours_by_channel {
                rows.extend(cycle_rows(&format!("{channel}: "), c));
            }
            out += "\n";
            out += &table(&["cycle time", "orders", "p50", "p90", "p99", "max"], &rows);
            out
        }
    })
}

/// The inventory metrics: a report for people, CSV (one row per day), or JSON.
pub fn inventory_metrics(
    m: &StockMetrics,
    currency: &Currency,
    format: Format,
) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string(m)? + "\n",
        Format::Csv => {
            let days: Vec<Vec<String>> = m
                .daily
                .iter()
                .map(|d| {
                    vec![
                        d.date.to_string(),
                        d.close_units.to_string(),
                        format!("{:.0}", d.close_value_cents),
                        d.shipped_units.to_string(),
                        format!("{:.0}", d.cogs_cents),
                    ]
                })
                .collect();
            csv_table(
                &[
                    "date",
                    "close_units",
                    "close_value_cents",
                    "shipped_units",
                    "cogs_cents",
                ],
                &days,
            )
        }
        Format::Table => {
            let period = match (m.from, m.to) {
                (Some(f), Some(t)) => format!("{f} to {t} ({} days), {} items", m.days, m.items),
                _ => format!("{} days, {} items", m.days, m.items),
            };
            let mut out = pairs(&[
                ("period", period),
                (
                    "turnover",
                    format!(
                        "{} turns; {} days of inventory",
                        number(m.turnover),
                        number(m.days_of_inventory)
                    ),
                ),
                (
                    "average inventory",
                    currency.money(m.average_inventory_cents),
                ),
                (
                    "cost of goods shipped",
                    format!(
                        "{} ({} units)",
                        currency.money(m.cogs_cents),
                        m.units_shipped
                    ),
                ),
                (
                    "stock accuracy",
                    format!(
                        "{} ({} of {} counts within tolerance); value-weighted variance {}",
                        percent(m.stock_accuracy),
                        m.counts_within_tolerance,
                        m.counts,
                        percent(m.value_weighted_variance)
                    ),
                ),
                (
                    "stockouts",
                    format!(
                        "{} stockouts, {} out of stock in all",
                        m.stockouts,
                        hours(Some(m.stockout_hours))
                    ),
                ),
                (
                    "shortages",
                    format!(
                        "{} of reserved stock, {} short picks, {} units short",
                        m.shortages_of_reserved_stock, m.short_picks, m.units_short
                    ),
                ),
            ]);
            let days: Vec<Vec<String>> = m
                .daily
                .iter()
                .map(|d| {
                    vec![
                        d.date.to_string(),
                        d.close_units.to_string(),
                        currency.money(d.close_value_cents),
                        d.shipped_units.to_string(),
                        currency.money(d.cogs_cents),
                    ]
                })
                .collect();
            out += "\n";
            out += &table(
                &["day", "closing units", "closing value", "shipped", "COGS"],
                &days,
            );
            if !m.dead_stock.is_empty() {
                let dead: Vec<Vec<String>> = m
                    .dead_stock
                    .iter()
                    .map(|d| {
                        vec![
                            d.item.clone(),
                            d.on_hand.to_string(),
                            d.free.to_string(),
                            currency.money(d.value_cents),
                            d.last_demand.map(|d| d.to_string()).unwrap_or_default(),
                        ]
                    })
                    .collect();
                out += "\ndead stock: free units nobody reserved lately\n";
                out += &table(
                    &["item", "on hand", "free", "value", "last reserved"],
                    &dead,
                );
            }
            out
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_written_for_people() {
        let usd = Currency::default();
        assert_eq!(usd.money(123_456_789.0), "1,234,567.89 USD");
        assert_eq!(usd.money(5.0), "0.05 USD");
        assert_eq!(usd.money(-1_000.0), "-10.00 USD");
        assert_eq!(Currency::new("EUR").unwrap().money(99_900.0), "999.00 EUR");
        assert!(Currency::new("euro").is_err());
        assert_eq!(percent(Some(0.768_115_942_028_985_5)), "76.8 %");
        assert_eq!(percent(None), "n/a");
        assert_eq!(hours(Some(0.333_333)), "20 min");
        assert_eq!(hours(Some(5.25)), "5.2 h");
        assert_eq!(hours(Some(6305.77)), "262.7 d");
    }
}
