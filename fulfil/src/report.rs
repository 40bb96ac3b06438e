//! Reports as people and tools read them: a table, JSON or CSV.

use crate::cli::Format;

/// ATP by location and day: one row per day with supply or requirements,
/// per location and for all of them.
pub fn print_atp(atp: &projections::atp::SkuAtp, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        crate::output::line(format_args!("{}", serde_json::to_string(atp)?))?;
        return Ok(());
    }
    let mut rows: Vec<(&str, &projections::phased::Bucket)> = Vec::new();
    for l in &atp.locations {
        rows.extend(l.phased.buckets.iter().map(|b| (l.location.as_str(), b)));
    }
    rows.extend(atp.phased.buckets.iter().map(|b| ("all", b)));
    let header = [
        "location",
        "day",
        "supply",
        "requirements",
        "atp",
        "cumulative",
    ];
    if format == Format::Csv {
        crate::output::line(format_args!("{}", header.join(",")))?;
        for (location, b) in rows {
            crate::output::line(format_args!(
                "{location},{},{},{},{},{}",
                b.day, b.supply, b.requirements, b.atp, b.cumulative
            ))?;
        }
    } else {
        crate::output::line(format_args!(
            "{} (version {}): {} available to promise now; the plan by day starts {}",
            atp.sku, atp.version, atp.atp_now, atp.today
        ))?;
        if atp.backordered > 0 {
            crate::output::line(format_args!(
                "{} backordered: requirements on their need dates (in the 'all' rows)",
                atp.backordered
            ))?;
        }
        for l in &atp.locations {
            for i in l.inbound.iter().filter(|i| i.overdue) {
                let line = i.po_line.map(|n| format!(" line {n}")).unwrap_or_default();
                crate::output::line(format_args!(
                    "overdue: {}{line} at {}, {} due {} not received; not promised from until re-dated or received",
                    i.po_id, l.location, i.due, i.expected_date
                ))?;
            }
        }
        crate::output::line(format_args!(
            "{:<10} {:<10} {:>8} {:>12} {:>8} {:>10}",
            header[0], header[1], header[2], header[3], header[4], header[5]
        ))?;
        for (location, b) in rows {
            crate::output::line(format_args!(
                "{location:<10} {:<10} {:>8} {:>12} {:>8} {:>10}",
                b.day.to_string(),
                b.supply,
                b.requirements,
                b.atp,
                b.cumulative
            ))?;
        }
    }
    Ok(())
}

/// A promise: yes or no, what can be confirmed by the date, from where,
/// and the earliest day for all of it.
pub fn print_promise(p: &projections::atp::Promise, format: Format) -> anyhow::Result<()> {
    let sources = p
        .sources
        .iter()
        .map(|(l, n)| format!("{l}:{n}"))
        .collect::<Vec<_>>()
        .join(" ");
    let earliest = p.earliest.map(|d| d.to_string()).unwrap_or_default();
    match format {
        Format::Json => crate::output::line(serde_json::to_string(p)?)?,
        Format::Csv => {
            crate::output::line("sku,qty,by,can_promise,confirmable,earliest,sources")?;
            crate::output::line(format_args!(
                "{},{},{},{},{},{earliest},{}",
                csv_field(&p.sku),
                p.qty,
                p.by,
                p.can_promise,
                p.confirmable,
                csv_field(&sources)
            ))?;
        }
        Format::Table => {
            let answer = if p.can_promise { "yes" } else { "no" };
            let earliest = p.earliest.map_or_else(
                || "no day yet has all of it".to_owned(),
                |d| format!("all of it from {d}"),
            );
            crate::output::line(format_args!(
                "{} × {} by {}: {answer}; {} can be confirmed by then; {earliest}",
                p.qty, p.sku, p.by, p.confirmable
            ))?;
            if !p.sources.is_empty() {
                print_rows(
                    &p.sources
                        .iter()
                        .map(|(location, units)| serde_json::json!({ "location": location, "units": units }))
                        .collect::<Vec<_>>(),
                    &["location", "units"],
                    format,
                )?;
            }
        }
    }
    Ok(())
}

/// Prints records as a table for people (a header, aligned columns, one
/// row each), CSV for tools (a header row, one row per record) or JSON
/// (the records as they are). `columns` names the fields shown, in order.
pub fn print_rows<T: serde::Serialize>(
    rows: &[T],
    columns: &[&str],
    format: Format,
) -> anyhow::Result<()> {
    if format == Format::Json {
        crate::output::line(format_args!("{}", serde_json::to_string(rows)?))?;
        return Ok(());
    }
    let mut cells: Vec<Vec<String>> = Vec::with_capacity(rows.len());
    for row in rows {
        let value = serde_json::to_value(row)?;
        cells.push(columns.iter().map(|c| cell(&value[*c])).collect());
    }
    let text = if format == Format::Csv {
        csv_table(columns, &cells)
    } else {
        aligned(columns, &cells)
    };
    crate::output::text(&text)?;
    Ok(())
}

/// Columns aligned under a header, two spaces apart.
pub fn aligned(header: &[&str], rows: &[Vec<String>]) -> String {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r.get(i).map_or(0, |c| c.chars().count()))
                .chain([header[i].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        text.join("  ").trim_end().to_owned() + "\n"
    };
    let mut out = line(header.to_vec());
    for r in rows {
        out += &line(r.iter().map(String::as_str).collect());
    }
    out
}

/// A CSV table: a header row, then one row per record.
pub fn csv_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = header.join(",") + "\n";
    for r in rows {
        out += &r.iter().map(|c| csv_field(c)).collect::<Vec<_>>().join(",");
        out.push('\n');
    }
    out
}

/// A JSON value as a table cell: text as it is, nothing for null, yes or
/// no for a flag, numbers with at most two decimals.
fn cell(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Bool(b) => if *b { "yes" } else { "no" }.to_owned(),
        serde_json::Value::Number(n) if n.is_f64() => {
            let text = format!("{:.2}", n.as_f64().unwrap_or_default());
            text.trim_end_matches('0').trim_end_matches('.').to_owned()
        }
        other => other.to_string(),
    }
}

/// A CSV field, quoted when it holds a comma, a quote or a line break.
pub fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
