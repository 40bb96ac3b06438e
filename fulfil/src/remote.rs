//! Read commands through a running service (`--server URL`): the same
//! question asked of its HTTP API, and the answer printed as the command
//! prints it from the store.

use serde_json::Value;

use crate::cli::{AuditCmd, Cmd, DiagnoseCmd, Format, MetricsCmd};
use crate::client::Server;
use crate::exit::Exit;

type Query = Vec<(&'static str, String)>;

/// Adds `name=value` when there is a value.
fn put<T: ToString>(query: &mut Query, name: &'static str, value: Option<T>) {
    if let Some(v) = value {
        query.push((name, v.to_string()));
    }
}

fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

/// Asks `server` for `path`: the JSON answer, or the exit the CLI gives
/// for the same refusal from the store (2 bad input or an item the item
/// master does not define, 3 nothing recorded).
fn ask(server: &Server, path: &str, query: &Query) -> anyhow::Result<Value> {
    let (status, body) = server.get(path, query)?;
    let message = body["error"]
        .as_str()
        .map_or_else(|| body.to_string(), str::to_owned);
    match status {
        200 => Ok(body),
        400 => Err(Exit::bad_input(message).into()),
        404 if message.contains("is not defined in the item master") => {
            Err(Exit::bad_input(message).into())
        }
        404 => Err(Exit::nothing(message).into()),
        _ => anyhow::bail!("the service answered {status}: {message}"),
    }
}

/// JSON as the service sent it, on one line.
fn json(value: &Value) -> anyhow::Result<()> {
    crate::output::line(value)?;
    Ok(())
}

/// Runs a read command against `server`.
pub fn run(
    server: &Server,
    command: Cmd,
    currency: &crate::people::Currency,
) -> anyhow::Result<()> {
    match command {
        Cmd::State { stream, past } => {
            let mut q = Query::new();
            put(&mut q, "as_of", past.as_of.map(time));
            put(&mut q, "known_at", past.known_at.map(time));
            json(&ask(server, &format!("/state/{stream}"), &q)?)
        }
        Cmd::Events {
            stream,
            event_type,
            correlation_id,
            from,
            to,
            limit,
        } => {
            // With --stream, --from is a version: filtered here, as the API pages by position.
            let by_version = stream.is_some();
            let mut q = Query::new();
            put(&mut q, "stream", stream);
            put(&mut q, "type", event_type);
            put(&mut q, "correlation_id", correlation_id);
            put(&mut q, "to", to);
            let mut next = if by_version { 1 } else { from };
            let mut left = limit.unwrap_or(usize::MAX);
            while left > 0 {
                let mut page = q.clone();
                page.push(("from", next.to_string()));
                page.push(("limit", left.min(1000).to_string()));
                let answer = ask(server, "/events", &page)?;
                for e in answer["events"].as_array().into_iter().flatten() {
                    if by_version && e["version"].as_u64().unwrap_or(0) < from {
                        continue;
                    }
                    if left == 0 {
                        break;
                    }
                    left -= 1;
                    json(e)?;
                }
                match answer["next"].as_u64() {
                    Some(n) => next = n,
                    None => break,
                }
            }
            Ok(())
        }
        Cmd::Atp {
            sku,
            location,
            format,
            plan_from,
            past,
        } => {
            let mut q = Query::new();
            put(&mut q, "location", location);
            put(&mut q, "plan_from", plan_from);
            put(&mut q, "as_of", past.as_of.map(time));
            put(&mut q, "known_at", past.known_at.map(time));
            let atp = serde_json::from_value(ask(server, &format!("/atp/{sku}"), &q)?)?;
            crate::report::print_atp(&atp, format)
        }
        Cmd::Promise {
            sku,
            qty,
            by,
            location,
            plan_from,
            format,
        } => {
            let mut q = vec![("qty", qty.to_string()), ("by", by.to_string())];
            put(&mut q, "location", location);
            put(&mut q, "plan_from", plan_from);
            let promise = serde_json::from_value(ask(server, &format!("/promise/{sku}"), &q)?)?;
            crate::report::print_promise(&promise, format)
        }
        Cmd::Metrics {
            which:
                MetricsCmd::Orders {
                    from,
                    to,
                    channel,
                    sku,
                    location,
                    as_of,
                    known_at,
                    format,
                },
        } => {
            let mut q = Query::new();
            put(&mut q, "from", from);
            put(&mut q, "to", to);
            put(&mut q, "channel", channel);
            put(&mut q, "sku", sku);
            put(&mut q, "location", location);
            put(&mut q, "as_of", as_of.map(time));
            put(&mut q, "known_at", known_at.map(time));
            let m = serde_json::from_value(ask(server, "/metrics/orders", &q)?)?;
            crate::output::text(&crate::people::order_metrics(&m, format)?)?;
            Ok(())
        }
        Cmd::Metrics {
            which:
                MetricsCmd::Inventory {
                    from,
                    to,
                    sku,
                    location,
                    tolerance,
                    dead_after_days,
                    as_of,
                    known_at,
                    format,
                },
        } => {
            let mut q = vec![
                ("tolerance", tolerance.to_string()),
                ("dead_after_days", dead_after_days.to_string()),
            ];
            put(&mut q, "from", from);
            put(&mut q, "to", to);
            put(&mut q, "sku", sku);
            put(&mut q, "location", location);
            put(&mut q, "as_of", as_of.map(time));
            put(&mut q, "known_at", known_at.map(time));
            let m = serde_json::from_value(ask(server, "/metrics/inventory", &q)?)?;
            crate::output::text(&crate::people::inventory_metrics(&m, currency, format)?)?;
            Ok(())
        }
        Cmd::Orders {
            status,
            customer,
            sku,
            location,
            channel,
            from,
            to,
            after,
            limit,
            format,
        } => {
            let mut q = vec![("limit", limit.to_string())];
            put(&mut q, "status", status.map(|s| status_name(&s)));
            put(&mut q, "customer", customer);
            put(&mut q, "sku", sku);
            put(&mut q, "location", location);
            put(&mut q, "channel", channel);
            put(&mut q, "from", from);
            put(&mut q, "to", to);
            put(&mut q, "after", after);
            let page = ask(server, "/orders", &q)?;
            crate::listing::print_page(&page, format)
        }
        Cmd::Order { order_id, format } => {
            let story = ask(server, &format!("/orders/{order_id}"), &Query::new())?;
            crate::listing::print_story(&story, format)
        }
        Cmd::Skus { format } => {
            crate::listing::print_skus(&ask(server, "/skus", &Query::new())?, format, currency)
        }
        Cmd::Locations { format } => {
            crate::listing::print_locations(&ask(server, "/locations", &Query::new())?, format)
        }
        Cmd::Pos {
            status,
            supplier,
            sku,
            location,
            format,
        } => {
            let mut q = Query::new();
            put(&mut q, "status", status.map(|s| status_name(&s)));
            put(&mut q, "supplier", supplier);
            put(&mut q, "sku", sku);
            put(&mut q, "location", location);
            crate::listing::print_pos(&ask(server, "/purchase-orders", &q)?, format)
        }
        Cmd::Stock {
            sku,
            location,
            at_reorder_point,
            format,
        } => {
            let mut q = vec![("at_reorder_point", at_reorder_point.to_string())];
            put(&mut q, "sku", sku);
            put(&mut q, "location", location);
            crate::listing::print_stock(&ask(server, "/stock", &q)?, format)
        }
        Cmd::Audit {
            which: AuditCmd::Oversells { scope, sku, location },
        } => {
            json_only(scope.format, "audit oversells")?;
            let mut q = Query::new();
            put(&mut q, "from", scope.from.map(time));
            put(&mut q, "to", scope.to.map(time));
            put(&mut q, "sku", sku);
            put(&mut q, "location", location);
            json(&ask(server, "/audit/oversells", &q)?)
        }
        Cmd::Audit {
            which: AuditCmd::Promises { order_id, format },
        } => {
            json_only(format, "audit promises")?;
            json(&ask(server, &format!("/audit/promises/{order_id}"), &Query::new())?)
        }
        Cmd::Diagnose {
            which: DiagnoseCmd::LateOrders { scope },
        } => {
            json_only(scope.format, "diagnose late-orders")?;
            let mut q = Query::new();
            put(&mut q, "from", scope.from.map(time));
            put(&mut q, "to", scope.to.map(time));
            json(&ask(server, "/diagnose/late-orders", &q)?)
        }
        Cmd::Forecast {
            sku: Some(sku),
            input: None,
            location,
            bucket,
            horizon,
            method,
            alpha,
            alpha_d,
            alpha_p,
            today,
            format,
        } => {
            json_only(format, "forecast")?;
            let mut q = vec![
                ("bucket", status_name(&bucket)),
                ("horizon", horizon.to_string()),
                ("method", method),
            ];
            put(&mut q, "location", location);
            put(&mut q, "alpha", alpha);
            put(&mut q, "alpha_d", alpha_d);
            put(&mut q, "alpha_p", alpha_p);
            put(&mut q, "today", today);
            json(&ask(server, &format!("/forecast/{sku}"), &q)?)
        }
        Cmd::Replenish { sku, today, format } => {
            json_only(format, "replenish")?;
            let mut q = Query::new();
            put(&mut q, "sku", sku);
            put(&mut q, "today", today);
            json(&ask(server, "/replenish", &q)?)
        }
        _ => anyhow::bail!(
            "--server: this command works on a store of its own (demo, serve, project, topics, forecast --input)"
        ),
    }
}

/// The status as the API names it (`open`, `overdue`, …).
fn status_name<T: clap::ValueEnum>(status: &T) -> String {
    status
        .to_possible_value()
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default()
}

/// Through a service, the audit's answer is its JSON.
fn json_only(format: Format, what: &str) -> anyhow::Result<()> {
    if format == Format::Json {
        return Ok(());
    }
    Err(Exit::bad_input(format!(
        "--server: {what} answers JSON through the service; add --format json (its tables are printed from the store)"
    ))
    .into())
}
