//! Finding things: orders, one order's story, the item master, purchase
//! orders and stock, as tables, CSV or JSON.

use event_store::Store;
use projections::orders::{OrderFilter, OrderQuery};
use projections::purchases::PurchaseQuery;

use serde_json::Value;

use crate::cli::{Cmd, Format};
use crate::people::Currency;
use crate::report::print_rows;

/// Runs a listing command on `store`: orders, order, skus, locations, pos or stock.
pub fn run(
    store: &Store,
    command: Cmd,
    today: chrono::NaiveDate,
    currency: &Currency,
) -> anyhow::Result<()> {
    let models = crate::read_models(store)?;
    match command {
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
            if let (Some(from), Some(to)) = (from, to) {
                if from > to {
                    return Err(crate::exit::Exit::bad_input(format!(
                        "--from {from} is after --to {to}"
                    ))
                    .into());
                }
            }
            let query = OrderQuery {
                filter: OrderFilter {
                    from,
                    to,
                    channel,
                    sku,
                    location,
                },
                status: status.map(Into::into),
                customer,
                after,
                limit: usize::from(limit),
            };
            print_page(
                &serde_json::to_value(models.orders.list(&query, today)?)?,
                format,
            )
        }
        Cmd::Order { order_id, format } => print_story(
            &serde_json::to_value(audit::story(store, &models.orders, &order_id, today)?)?,
            format,
        ),
        Cmd::Skus { format } => {
            print_skus(&serde_json::to_value(models.atp.skus()?)?, format, currency)
        }
        Cmd::Locations { format } => {
            print_locations(&serde_json::to_value(models.atp.locations()?)?, format)
        }
        Cmd::Pos {
            status,
            supplier,
            sku,
            location,
            format,
        } => {
            let query = PurchaseQuery {
                status: status.map(Into::into),
                supplier,
                sku,
                location,
            };
            print_pos(
                &serde_json::to_value(models.purchases.list(&query, today)?)?,
                format,
            )
        }
        Cmd::Stock {
            sku,
            location,
            at_reorder_point,
            format,
        } => {
            let query = projections::atp::StockQuery {
                sku,
                location,
                at_reorder_point,
            };
            print_stock(&serde_json::to_value(models.atp.stock(&query)?)?, format)
        }
        _ => anyhow::bail!("fulfil: this command is not a listing"),
    }
}

/// The records of a JSON array.
fn records(value: &Value) -> &[Value] {
    value.as_array().map_or(&[], Vec::as_slice)
}

/// A page of orders; the cursor of the next one is said on standard error.
pub fn print_page(page: &Value, format: Format) -> anyhow::Result<()> {
    if format == Format::Json {
        crate::output::line(page)?;
        return Ok(());
    }
    print_rows(records(&page["orders"]), ORDER_COLUMNS, format)?;
    if let Some(next) = page["next"].as_str() {
        eprintln!("more orders: add --after {next}");
    }
    Ok(())
}

/// One order's story: the order, its lines, its events, and what the process was refused.
pub fn print_story(story: &Value, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            crate::output::line(story)?;
        }
        Format::Csv => print_rows(records(&story["events"]), EVENT_COLUMNS, format)?,
        Format::Table => {
            print_rows(std::slice::from_ref(&story["order"]), ORDER_COLUMNS, format)?;
            crate::output::line("\nlines")?;
            print_rows(records(&story["lines"]), LINE_COLUMNS, format)?;
            crate::output::line(
                "\nevents (by: outside, or the process reacting to the fact at reacting_to)",
            )?;
            print_rows(records(&story["events"]), EVENT_COLUMNS, format)?;
            let refused = records(&story["refused"]);
            if !refused.is_empty() {
                crate::output::line("\ncommands the fulfilment process was refused")?;
                print_rows(refused, REFUSED_COLUMNS, format)?;
            }
        }
    }
    Ok(())
}

/// The SKUs of the item master; for people, the standard cost in the
/// store's currency.
pub fn print_skus(skus: &Value, format: Format, currency: &Currency) -> anyhow::Result<()> {
    if format != Format::Table {
        return print_rows(
            records(skus),
            &[
                "sku",
                "description",
                "unit_of_measure",
                "standard_cost_cents",
            ],
            format,
        );
    }
    let rows: Vec<Value> = records(skus)
        .iter()
        .map(|s| {
            let mut s = s.clone();
            let cents = s["standard_cost_cents"].as_f64().unwrap_or_default();
            s["standard_cost"] = Value::String(currency.money(cents));
            s
        })
        .collect();
    print_rows(
        &rows,
        &["sku", "description", "unit_of_measure", "standard_cost"],
        format,
    )
}

/// The locations of the item master.
pub fn print_locations(locations: &Value, format: Format) -> anyhow::Result<()> {
    print_rows(records(locations), &["location", "name", "kind"], format)
}

/// Purchase orders.
pub fn print_pos(pos: &Value, format: Format) -> anyhow::Result<()> {
    print_rows(records(pos), PO_COLUMNS, format)
}

/// Stock by item.
pub fn print_stock(stock: &Value, format: Format) -> anyhow::Result<()> {
    print_rows(records(stock), STOCK_COLUMNS, format)
}

const ORDER_COLUMNS: &[&str] = &[
    "order_id",
    "status",
    "customer_id",
    "channel",
    "placed_at",
    "due",
    "skus",
    "units",
    "allocated",
    "backordered",
    "shipped",
];
const LINE_COLUMNS: &[&str] = &[
    "line",
    "sku",
    "qty",
    "allocated",
    "backordered",
    "shipped",
    "promise_date",
    "cancelled",
];
const EVENT_COLUMNS: &[&str] = &[
    "position",
    "at",
    "event_type",
    "by",
    "reacting_to",
    "command_id",
];
const REFUSED_COLUMNS: &[&str] = &["command_id", "command_type", "at", "reason", "message"];
const PO_COLUMNS: &[&str] = &[
    "po_id",
    "status",
    "supplier_id",
    "ordered_on",
    "skus",
    "ordered",
    "received",
    "open",
    "next_expected",
    "confirmed",
    "automatic",
];
const STOCK_COLUMNS: &[&str] = &[
    "sku",
    "location",
    "on_hand",
    "reserved",
    "free",
    "inbound",
    "position",
    "reorder_point",
    "at_reorder_point",
    "supplier_id",
];
