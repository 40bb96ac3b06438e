//! `forecast` and `replenish`: a SKU's demand, forecast, accuracy and
//! policy; an analyst's own series from a CSV file; the replenishment
//! suggestions.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::{bail, Context};
use chrono::{Datelike, Days, Months, NaiveDate};
use forecasting::{fit, fit_auto, Accuracy, Method};
use replenishment::report::ForecastReport;
use replenishment::Suggestion;
use serde_json::{json, Map, Value};

use crate::cli::Format;

/// Writes `text` to standard output.
fn emit(text: &str) -> anyhow::Result<()> {
    Ok(crate::output::text(text)?)
}

/// The method named on the command line (`auto`: by demand class).
pub fn method(
    name: &str,
    alpha: Option<f64>,
    alpha_d: Option<f64>,
    alpha_p: Option<f64>,
) -> anyhow::Result<Option<Method>> {
    for (flag, value) in [
        ("--alpha", alpha),
        ("--alpha-d", alpha_d),
        ("--alpha-p", alpha_p),
    ] {
        if let Some(v) = value {
            if !(v > 0.0 && v <= 1.0) {
                bail!("{flag} must be above 0 and at most 1, not {v}");
            }
        }
    }
    if name == "auto" {
        if alpha.or(alpha_d).or(alpha_p).is_some() {
            bail!("--alpha, --alpha-d and --alpha-p need a --method that takes them (ses, tsb)");
        }
        return Ok(None);
    }
    let Some(method) = Method::named(name, alpha, alpha_d, alpha_p) else {
        bail!(
            "--method {name}: expected auto or one of {}",
            Method::NAMES.join(", ")
        );
    };
    if alpha.is_some() && name != "ses" {
        bail!("--alpha is for --method ses");
    }
    if (alpha_d.is_some() || alpha_p.is_some()) && name != "tsb" {
        bail!("--alpha-d and --alpha-p are for --method tsb");
    }
    Ok(Some(method))
}

fn round(v: f64) -> String {
    format!("{v:.2}")
}

/// Prints a SKU's report.
pub fn print_report(report: &ForecastReport, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => emit(&format!("{}\n", serde_json::to_string(report)?)),
        Format::Csv => {
            let mut text =
                String::from("start,kind,ordered,backordered,cancelled_by_customer,demand\n");
            for p in &report.history {
                let _ = writeln!(
                    text,
                    "{},history,{},{},{},{}",
                    p.start,
                    p.figures.ordered,
                    p.figures.backordered,
                    p.figures.cancelled_by_customer,
                    p.demand
                );
            }
            for a in &report.ahead {
                let _ = writeln!(text, "{},forecast,,,,{}", a.start, a.forecast);
            }
            emit(&text)
        }
        Format::Table => emit(&table(report)),
    }
}

fn table(r: &ForecastReport) -> String {
    let mut t = String::new();
    let period = serde_json::to_value(r.bucket)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let place = r.location.as_deref().unwrap_or("all locations");
    let _ = writeln!(
        t,
        "{} at {place}, demand per {period}, as of {}",
        r.sku, r.today
    );
    if let Some(note) = r.note {
        let _ = writeln!(t, "{note}");
    }
    let c = &r.classification;
    let class = serde_json::to_value(c.class)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let _ = writeln!(
        t,
        "demand class {class} (ADI {}, CV² {}, {} of {} periods with demand): method {}",
        round(c.adi),
        round(c.cv2),
        c.demands,
        r.history.len(),
        r.method
    );
    let parameters: Vec<String> = r
        .parameters
        .iter()
        .map(|(n, v)| format!("{n} {v:.4}"))
        .collect();
    if !parameters.is_empty() {
        let _ = writeln!(t, "parameters: {}", parameters.join(", "));
    }
    let _ = writeln!(t, "forecast: {} per {period}", round(r.forecast_per_period));
    let _ = writeln!(t, "accuracy in sample: {}", describe_accuracy(&r.in_sample));
    let _ = writeln!(
        t,
        "accuracy as tracked (weekly forecasts made as each week began): {}",
        describe_accuracy(&r.tracked.accuracy)
    );
    match &r.policy {
        Some(p) => {
            let _ = writeln!(
                t,
            "policy in force: reorder point {}, safety stock {}, order quantity {}, lead time {} days, service level {}%",
            p.reorder_point,
            p.safety_stock,
            p.order_qty,
            p.lead_time_days,
            f64::from(p.service_level_bp) / 100.0
            );
        }
        None if r.location.is_some() => t.push_str("policy in force: none\n"),
        None => {}
    }
    if let Some(p) = &r.plan {
        let _ = writeln!(
t,
            "planned from {} days of history: {} a day (± {}), lead time {} days (± {}, {} receipts), safety stock {}, reorder point {}, order quantity {}, expected fill rate {}%",
            p.history_days,
            round(p.demand_per_day),
            round(p.demand_sd_per_day),
            round(p.lead_time_days),
            round(p.lead_time_sd_days),
            p.lead_time_observations,
            p.safety_stock,
            p.reorder_point,
            p.order_qty,
            round(p.expected_fill_rate * 100.0)
        );
    }
    let _ = writeln!(
        t,
        "{:<12} {:>8} {:>12} {:>10} {:>8}",
        period, "ordered", "backordered", "cancelled", "demand"
    );
    for p in &r.history {
        let _ = writeln!(
            t,
            "{:<12} {:>8} {:>12} {:>10} {:>8}",
            p.start.to_string(),
            p.figures.ordered,
            p.figures.backordered,
            p.figures.cancelled_by_customer,
            p.demand
        );
    }
    for a in &r.ahead {
        let _ = writeln!(
            t,
            "{:<12} {:>8} {:>12} {:>10} {:>8}  forecast",
            a.start.to_string(),
            "",
            "",
            "",
            round(a.forecast)
        );
    }
    t
}

fn describe_accuracy(a: &Accuracy) -> String {
    if a.periods == 0 {
        return "no periods to compare yet".into();
    }
    format!(
        "MAE {}, bias {}, MASE {} over {} periods",
        round(a.mae),
        round(a.bias),
        a.mase
            .map_or_else(|| "n/a (demand never changed)".into(), round),
        a.periods
    )
}

/// One row of an analyst's series.
struct Row {
    ds: NaiveDate,
    y: f64,
}

/// Reads a `ds,y` CSV strictly: the two columns in either order and no
/// other, dates (YYYY-MM-DD) strictly increasing, values finite and not
/// negative; an error names the line.
fn read_series(path: &Path) -> anyhow::Result<Vec<Row>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let name = path.display();
    let mut lines = text
        .trim_start_matches('\u{feff}')
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        bail!("{name} is empty: expected a header line `ds,y`");
    };
    let columns: Vec<&str> = header.split(',').map(str::trim).collect();
    let find = |c: &str| columns.iter().position(|h| *h == c);
    let (Some(ds), Some(y)) = (find("ds"), find("y")) else {
        bail!("{name} line 1: expected the columns ds and y, found `{header}`");
    };
    if let Some(extra) = columns.iter().find(|c| **c != "ds" && **c != "y") {
        bail!("{name} line 1: unknown column `{extra}` (expected only ds and y)");
    }
    let mut rows: Vec<Row> = Vec::new();
    for (n, line) in lines {
        let number = n + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != columns.len() {
            bail!(
                "{name} line {number}: {} fields, expected {}",
                fields.len(),
                columns.len()
            );
        }
        let day: NaiveDate = fields[ds].parse().map_err(|_| {
            anyhow::anyhow!(
                "{name} line {number}: ds `{}` is not a date (YYYY-MM-DD)",
                fields[ds]
            )
        })?;
        let value: f64 = fields[y]
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
            .ok_or_else(|| {
                anyhow::anyhow!("{name} line {number}: y `{}` is not a number", fields[y])
            })?;
        if value < 0.0 {
            bail!("{name} line {number}: y {value} is negative (record returns apart from demand)");
        }
        if let Some(last) = rows.last() {
            if day <= last.ds {
                bail!(
                    "{name} line {number}: ds {day} is not after {} (the line before)",
                    last.ds
                );
            }
        }
        rows.push(Row { ds: day, y: value });
    }
    if rows.is_empty() {
        bail!("{name} has a header but no rows");
    }
    Ok(rows)
}

/// The date `n` steps after the last, when the series is evenly spaced
/// (in days, or monthly on one day of the month).
fn future(rows: &[Row], n: usize) -> Option<NaiveDate> {
    let last = rows.last()?.ds;
    if rows.len() < 2 {
        return None;
    }
    let gaps: Vec<i64> = rows
        .windows(2)
        .map(|w| (w[1].ds - w[0].ds).num_days())
        .collect();
    if gaps.iter().all(|g| *g == gaps[0]) {
        return last.checked_add_days(Days::new(gaps[0] as u64 * n as u64));
    }
    let monthly = rows.windows(2).all(|w| {
        w[0].ds.day() == w[1].ds.day()
            && w[0].ds.checked_add_months(Months::new(1)) == Some(w[1].ds)
    });
    if monthly {
        return last.checked_add_months(Months::new(u32::try_from(n).ok()?));
    }
    None
}

/// Forecasts an analyst's series from `path`.
pub fn input(
    path: &Path,
    method: Option<Method>,
    horizon: usize,
    format: Format,
) -> anyhow::Result<()> {
    let rows = read_series(path)?;
    let y: Vec<f64> = rows.iter().map(|r| r.y).collect();
    let classification = forecasting::classify(&y);
    let fitted = match method {
        Some(m) => fit(m, &y),
        None => fit_auto(&y).map(|(_, f)| f),
    }
    .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let forecasts: Vec<Value> = (1..=horizon)
        .map(|h| json!({"h": h, "ds": future(&rows, h), "forecast": fitted.forecast}))
        .collect();
    let in_sample: Vec<Value> = rows
        .iter()
        .zip(&fitted.fitted)
        .map(|(r, f)| json!({"ds": r.ds, "y": r.y, "fitted": f}))
        .collect();
    let parameters: Map<String, Value> = fitted
        .parameters
        .iter()
        .map(|(n, v)| ((*n).to_owned(), json!(v)))
        .collect();
    let accuracy = Accuracy::of(&y, &fitted.fitted);
    match format {
        Format::Json => emit(&format!(
            "{}\n",
            json!({
                "method": fitted.method,
                "classification": classification,
                "horizon": horizon,
                "forecasts": forecasts,
                "fitted": in_sample,
                "parameters": parameters,
                "accuracy": accuracy,
            })
        )),
        Format::Csv | Format::Table => {
            let mut t = String::new();
            if format == Format::Table {
                let p: Vec<String> = parameters.iter().map(|(k, v)| format!("{k} {v}")).collect();
                let _ = writeln!(
                    t,
                    "{} periods, method {}{}; forecast {} per period; in sample {}",
                    rows.len(),
                    fitted.method,
                    if p.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", p.join(", "))
                    },
                    fitted.forecast,
                    describe_accuracy(&accuracy)
                );
            }
            t.push_str("ds,y,fitted,forecast\n");
            for (r, f) in rows.iter().zip(&fitted.fitted) {
                let f = f.map(|v| v.to_string()).unwrap_or_default();
                let _ = writeln!(t, "{},{},{f},", r.ds, r.y);
            }
            for h in 1..=horizon {
                let ds = future(&rows, h).map_or_else(|| format!("+{h}"), |d| d.to_string());
                let _ = writeln!(t, "{ds},,,{}", fitted.forecast);
            }
            emit(&t)
        }
    }
}

/// Prints the replenishment suggestions.
pub fn print_suggestions(table: &[Suggestion], format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        return emit(&format!("{}\n", serde_json::to_string(table)?));
    }
    let header = [
        "sku",
        "location",
        "supplier",
        "on_hand",
        "on_order",
        "reserved",
        "backordered",
        "position",
        "reorder_point",
        "safety_stock",
        "order_now",
        "auto_order",
        "method",
        "forecast_per_day",
        "expected_fill_rate",
    ];
    let rows: Vec<Vec<String>> = table
        .iter()
        .map(|s| {
            let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
            vec![
                s.sku.clone(),
                s.location.clone(),
                s.supplier_id.clone(),
                s.on_hand.to_string(),
                s.on_order.to_string(),
                s.reserved.to_string(),
                s.backordered.to_string(),
                s.position.to_string(),
                opt(s.reorder_point),
                opt(s.safety_stock),
                s.order_now.to_string(),
                s.auto_order.to_string(),
                s.plan
                    .as_ref()
                    .map(|p| p.method.to_owned())
                    .unwrap_or_default(),
                s.plan
                    .as_ref()
                    .map(|p| round(p.demand_per_day))
                    .unwrap_or_default(),
                s.plan
                    .as_ref()
                    .map(|p| round(p.expected_fill_rate))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    if format == Format::Csv {
        return emit(&crate::report::csv_table(&header, &rows));
    }
    if table.is_empty() {
        return emit("no item has supplier terms: set them with SetSupply\n");
    }
    let t = crate::report::aligned(&header, &rows);
    emit(&t)
}
