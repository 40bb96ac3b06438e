//! Finding things: orders, one order's story, the item master, purchase
//! orders and stock, as tables, CSV or JSON.

use event_store::Store;
use projections::orders::{OrderFilter, OrderQuery};
use projections::purchases::PurchaseQuery;

use crate::cli::{Cmd, Format};
use crate::report::print_rows;

/// Runs a listing command on `store`: orders, order, skus, locations, pos or stock.
pub fn run(store: &Store, command: Cmd, today: chrono::NaiveDate) -> anyhow::Result<()> {
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
            let page = models.orders.list(&query, today)?;
            if format == Format::Json {
                crate::output::line(format_args!("{}", serde_json::to_string(&page)?))?;
            } else {
                print_rows(&page.orders, ORDER_COLUMNS, format)?;
            }
            if let (Some(next), false) = (&page.next, format == Format::Json) {
                eprintln!("more orders: add --after {next}");
            }
            Ok(())
        }
        Cmd::Order { order_id, format } => {
            let story = audit::story(store, &models.orders, &order_id, today)?;
            if format == Format::Json {
                crate::output::line(format_args!("{}", serde_json::to_string(&story)?))?;
                return Ok(());
            }
            if format == Format::Csv {
                return print_rows(&story.events, EVENT_COLUMNS, format);
            }
            print_rows(std::slice::from_ref(&story.order), ORDER_COLUMNS, format)?;
            crate::output::line("\nlines")?;
            print_rows(&story.lines, LINE_COLUMNS, format)?;
            crate::output::line(
                "\nevents (by: outside, or the process reacting to the fact at reacting_to)",
            )?;
            print_rows(&story.events, EVENT_COLUMNS, format)?;
            if !story.refused.is_empty() {
                crate::output::line("\ncommands the fulfilment process was refused")?;
                print_rows(&story.refused, REFUSED_COLUMNS, format)?;
            }
            Ok(())
        }
        Cmd::Skus { format } => print_rows(
            &models.atp.skus()?,
            &[
                "sku",
                "description",
                "unit_of_measure",
                "standard_cost_cents",
            ],
            format,
        ),
        Cmd::Locations { format } => print_rows(
            &models.atp.locations()?,
            &["location", "name", "kind"],
            format,
        ),
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
            print_rows(&models.purchases.list(&query, today)?, PO_COLUMNS, format)
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
            print_rows(&models.atp.stock(&query)?, STOCK_COLUMNS, format)
        }
        _ => anyhow::bail!("fulfil: this command is not a listing"),
    }
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
