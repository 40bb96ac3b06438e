//! The reaction table: given what the process remembers and one event,
//! the tasks to run. Pure: what it needs to know of an order (its
//! placement, how much of a line still waits) it asks through the [`Port`];
//! it issues nothing itself.

use chrono::{DateTime, Utc};
use event_store::{RecordedEvent, StoreError};
use schemas::catalog::CatalogEvent;
use schemas::inventory::{InventoryCommand, InventoryEvent};
use schemas::order::{OrderCommand, OrderEvent, ReleasedAllocation, ReturnCondition, SupplySource};
use schemas::purchasing::{OpenLine, PurchaseOrderEvent};
use schemas::{Command, StreamKind, StreamName};

use crate::memory::{backorder_key, Backorder, Memory};
use crate::port::Port;

/// One piece of work a reaction hands to the runner.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// A command whose rejection is part of normal flow (counted, not retried).
    Send(Command),
    /// Source a line's units that have neither supply nor a backorder.
    Source {
        /// The order.
        order_id: String,
        /// Its line.
        line: u32,
    },
    /// Fill a backordered line from supply that arrived, and pull in units
    /// confirmed later than needed when supply now arrives in time.
    FillBackorder {
        /// The order.
        order_id: String,
        /// Its line.
        line: u32,
    },
    /// Re-evaluate the lines promised from a PO's units that were scheduled anew.
    InboundMoved {
        /// The SKU.
        sku: String,
        /// Where the units are due.
        location: String,
        /// The purchase order.
        po_id: String,
        /// Its line, where the schedule names one.
        po_line: Option<u32>,
    },
    /// Give back and source again the units a shortage left uncovered.
    StockShort {
        /// The SKU.
        sku: String,
        /// Where stock was found short.
        location: String,
        /// Units reserved beyond on-hand.
        short: u64,
    },
    /// Release the order to the warehouse if it is paid and has allocated
    /// stock the warehouse does not have yet.
    Release {
        /// The order.
        order_id: String,
    },
}

/// The tasks one event asks for, under the key that orders them.
#[derive(Debug, Clone, PartialEq)]
pub struct Reaction {
    /// Whether the event is an order's placement.
    pub placement: bool,
    /// The event's log position: the commands' ids derive from it.
    pub position: u64,
    /// The event's business time, which the commands carry.
    pub at: DateTime<Utc>,
    /// The flow the event belongs to, which the commands carry.
    pub correlation_id: Option<String>,
    /// Reactions sharing a key run in log order; others run concurrently.
    pub key: String,
    /// What to do, in order.
    pub tasks: Vec<Task>,
}

/// Updates `memory` from one event and says what to do about it (nothing
/// for events the process does not react to, or cannot read).
pub fn react(
    memory: &mut Memory,
    port: &dyn Port,
    event: &RecordedEvent,
) -> Result<Option<Reaction>, StoreError> {
    let Ok(stream) = StreamName::parse(event.stream.as_str()) else {
        return Ok(None);
    };
    let reaction = match stream.kind() {
        StreamKind::Order => decode(event).map(|e| order_reaction(memory, port, e)),
        StreamKind::Inventory => decode(event).map(|e| Ok(inventory_reaction(memory, e))),
        StreamKind::PurchaseOrder => decode(event).map(|e| Ok(purchase_order_reaction(e))),
        StreamKind::Location => {
            if let Some(CatalogEvent::LocationDefined(d)) = decode(event) {
                memory.add_location(&d.location);
            }
            None
        }
        StreamKind::Sku => None,
    };
    let Some((key, tasks)) = reaction.transpose()? else {
        return Ok(None);
    };
    Ok((!tasks.is_empty()).then(|| Reaction {
        placement: event.event_type == "OrderPlaced",
        position: event.position,
        at: event.at,
        correlation_id: event.correlation_id.clone(),
        key,
        tasks,
    }))
}

/// The event's payload, or `None` (logged) when this build cannot read it:
/// the process leaves it alone rather than act on a guess.
fn decode<E: serde::de::DeserializeOwned>(event: &RecordedEvent) -> Option<E> {
    event.decode("the fulfilment process")
}

fn order_reaction(
    memory: &mut Memory,
    port: &dyn Port,
    event: OrderEvent,
) -> Result<(String, Vec<Task>), StoreError> {
    let release = |order_id: &str| Task::Release {
        order_id: order_id.to_owned(),
    };
    Ok(match event {
        OrderEvent::OrderPlaced {
            order_id, lines, ..
        } => {
            let tasks = lines
                .iter()
                .map(|l| Task::Source {
                    order_id: order_id.clone(),
                    line: l.line,
                })
                .collect();
            (order_id, tasks)
        }
        OrderEvent::LineBackordered {
            order_id,
            line,
            sku,
            ..
        } => {
            if let Some((priority, placed_at)) = port.placement(&order_id)? {
                let key = backorder_key(&sku, priority, placed_at, &order_id, line);
                let entry = Backorder {
                    sku,
                    order_id: order_id.clone(),
                    line,
                };
                memory.add_backorder(key, entry);
            } else {
                tracing::warn!(%order_id, "backorder of an order never placed");
            }
            (order_id, Vec::new())
        }
        OrderEvent::LineAllocated {
            order_id,
            line,
            source,
            sku,
            ..
        } => {
            settle_backorder(memory, port, &order_id, line)?;
            // Confirmed later than needed: it waits, like a backorder, for
            // supply that arrives in time.
            if matches!(source, SupplySource::Inbound { .. }) {
                wait_if_late(memory, port, &order_id, line, sku)?;
            }
            let tasks = match source {
                SupplySource::Stock { .. } => vec![release(&order_id)],
                SupplySource::Inbound { .. } => Vec::new(),
            };
            (order_id, tasks)
        }
        OrderEvent::LineRescheduled { order_id, line, .. } => {
            settle_backorder(memory, port, &order_id, line)?;
            (order_id, Vec::new())
        }
        OrderEvent::PaymentAuthorized { order_id, .. }
        | OrderEvent::PaymentCaptured { order_id, .. }
        | OrderEvent::InboundAllocationReceived { order_id, .. } => {
            let tasks = vec![release(&order_id)];
            (order_id, tasks)
        }
        OrderEvent::PickShort {
            order_id,
            line,
            sku,
            location,
            short,
        } => {
            let tasks = vec![
                Task::Send(Command::Inventory(InventoryCommand::ReportPickShort {
                    sku,
                    location,
                    order_id: order_id.clone(),
                    line,
                    short,
                })),
                Task::Source {
                    order_id: order_id.clone(),
                    line,
                },
            ];
            (order_id, tasks)
        }
        OrderEvent::OrderShipped {
            order_id, lines, ..
        } => {
            let tasks = send_each(lines, |l| InventoryCommand::ShipReserved {
                sku: l.sku,
                location: l.location,
                order_id: order_id.clone(),
                line: l.line,
                qty: l.qty,
            });
            (order_id, tasks)
        }
        OrderEvent::OrderCancelled {
            order_id, released, ..
        } => {
            memory.drop_backorders(&order_id, None);
            (order_id.clone(), release_all(&order_id, released))
        }
        OrderEvent::LineCancelled {
            order_id,
            line,
            released,
            ..
        } => {
            memory.drop_backorders(&order_id, Some(line));
            (order_id.clone(), release_all(&order_id, released))
        }
        OrderEvent::ReturnReceived {
            order_id,
            rma_id,
            condition: ReturnCondition::Resellable,
            lines,
        } => {
            let tasks = send_each(lines, |l| InventoryCommand::RestockReturn {
                sku: l.sku,
                location: l.location,
                qty: l.qty,
                rma_id: rma_id.clone(),
            });
            (order_id, tasks)
        }
        _ => (String::new(), Vec::new()),
    })
}

fn inventory_reaction(memory: &Memory, event: InventoryEvent) -> (String, Vec<Task>) {
    use InventoryEvent as I;
    let fill = |memory: &Memory, sku: &str| -> (String, Vec<Task>) {
        let tasks = memory
            .backorders_of(sku)
            .into_iter()
            .map(|b| Task::FillBackorder {
                order_id: b.order_id,
                line: b.line,
            })
            .collect();
        (format!("sku/{sku}"), tasks)
    };
    match event {
        I::InboundScheduled {
            sku,
            location,
            po_id,
            po_line,
            ..
        } => {
            let (key, mut tasks) = fill(memory, &sku);
            tasks.insert(
                0,
                Task::InboundMoved {
                    sku,
                    location,
                    po_id,
                    po_line,
                },
            );
            (key, tasks)
        }
        I::ShortageRecorded {
            sku,
            location,
            short,
            ..
        } => {
            let key = format!("sku/{sku}");
            let task = Task::StockShort {
                sku,
                location,
                short,
            };
            (key, vec![task])
        }
        I::StockReceived { sku, .. }
        | I::ReturnRestocked { sku, .. }
        | I::ReservationReleased {
            sku, po_id: None, ..
        } => fill(memory, &sku),
        I::StockAdjusted { sku, delta, .. } if delta > 0 => fill(memory, &sku),
        I::StockCounted { sku, variance, .. } if variance > 0 => fill(memory, &sku),
        I::ReservationMovedToStock {
            location,
            order_id,
            line,
            po_id,
            po_line,
            qty,
            ..
        } => {
            let task = Task::Send(Command::Order(OrderCommand::ReceiveInboundAllocation {
                order_id: order_id.clone(),
                line,
                po_id,
                po_line,
                location,
                qty,
            }));
            (order_id, vec![task])
        }
        I::InboundReservationLost {
            location,
            order_id,
            line,
            qty,
            po_id,
            po_line,
            ..
        } => {
            let tasks = vec![
                Task::Send(Command::Order(OrderCommand::DeallocateLine {
                    order_id: order_id.clone(),
                    line,
                    source: SupplySource::Inbound {
                        po_id: po_id.clone(),
                        location,
                        po_line,
                    },
                    qty,
                    reason: format!("purchase order {po_id} will not bring these units"),
                })),
                Task::Source {
                    order_id: order_id.clone(),
                    line,
                },
            ];
            (order_id, tasks)
        }
        _ => (String::new(), Vec::new()),
    }
}

/// A line leaves the queue once nothing of it waits for supply.
fn settle_backorder(
    memory: &mut Memory,
    port: &dyn Port,
    order_id: &str,
    line: u32,
) -> Result<(), StoreError> {
    if !memory.is_waiting(order_id, line) {
        return Ok(());
    }
    if !port
        .order(order_id)?
        .is_some_and(|o| o.waits_for_supply(line))
    {
        memory.drop_backorders(order_id, Some(line));
    }
    Ok(())
}

/// Queues a line confirmed later than it is needed, to be pulled in when
/// supply arrives in time.
fn wait_if_late(
    memory: &mut Memory,
    port: &dyn Port,
    order_id: &str,
    line: u32,
    sku: String,
) -> Result<(), StoreError> {
    if memory.is_waiting(order_id, line)
        || !port
            .order(order_id)?
            .is_some_and(|o| o.waits_for_supply(line))
    {
        return Ok(());
    }
    if let Some((priority, placed_at)) = port.placement(order_id)? {
        let key = backorder_key(&sku, priority, placed_at, order_id, line);
        let entry = Backorder {
            sku,
            order_id: order_id.to_owned(),
            line,
        };
        memory.add_backorder(key, entry);
    }
    Ok(())
}

/// Releases the reservations behind a cancelled order's or line's allocations.
fn release_all(order_id: &str, released: Vec<ReleasedAllocation>) -> Vec<Task> {
    send_each(released, |r| {
        crate::sourcing::release_command(&r.sku, order_id, r.line, &r.source, r.qty)
    })
}

/// One inventory command per item, each sent as it is.
fn send_each<T>(items: Vec<T>, command: impl FnMut(T) -> InventoryCommand) -> Vec<Task> {
    items
        .into_iter()
        .map(command)
        .map(|c| Task::Send(Command::Inventory(c)))
        .collect()
}

fn purchase_order_reaction(event: PurchaseOrderEvent) -> (String, Vec<Task>) {
    use InventoryCommand as I;
    use PurchaseOrderEvent as P;
    let inv = Command::Inventory;
    match event {
        P::PurchaseOrderPlaced { po_id, lines, .. } => {
            // Each PO line is supply of its own: a PO may bring one SKU to
            // one location on several lines with different dates.
            let tasks = send_each(lines, |l| I::ScheduleInbound {
                sku: l.sku,
                location: l.location,
                po_id: po_id.clone(),
                po_line: Some(l.line),
                qty: l.qty,
                expected_date: l.expected_date,
            });
            (po_id, tasks)
        }
        P::PurchaseOrderLineRedated {
            po_id,
            line,
            sku,
            location,
            expected_date,
            open_qty,
        } => {
            let task = Task::Send(inv(I::ScheduleInbound {
                sku,
                location,
                po_id: po_id.clone(),
                po_line: Some(line),
                qty: open_qty,
                expected_date,
            }));
            (po_id, vec![task])
        }
        P::PurchaseOrderReceived {
            po_id,
            line,
            sku,
            location,
            qty,
            ..
        } => {
            let task = Task::Send(inv(I::ReceiveStock {
                sku,
                location,
                qty,
                reference: Some(po_id.clone()),
                po_id: Some(po_id.clone()),
                po_line: Some(line),
            }));
            (po_id, vec![task])
        }
        P::PurchaseOrderLineCancelled { po_id, open } => {
            let tasks = cancel_inbound(&po_id, vec![open]);
            (po_id, tasks)
        }
        P::PurchaseOrderClosed { po_id, short } => {
            let tasks = cancel_inbound(&po_id, short);
            (po_id, tasks)
        }
        P::PurchaseOrderConfirmed { po_id } => (po_id, Vec::new()),
    }
}

/// Cancels the inbound supply of a PO's open lines.
fn cancel_inbound(po_id: &str, open: Vec<OpenLine>) -> Vec<Task> {
    send_each(open, |open| InventoryCommand::CancelInbound {
        sku: open.sku,
        location: open.location,
        po_id: po_id.to_owned(),
        po_line: Some(open.line),
    })
}
