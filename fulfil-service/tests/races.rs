//! Many clients compete for scarce stock at several locations while the
//! service's workers source their orders: at no log position does any
//! item hold more reserved than on hand (no oversell), every unit ordered
//! is either promised or backordered, every unit on hand is promised, and
//! every refusal of the process's commands has a reason. Embedded (the
//! clients call the command handler) and through Kafka (they publish to
//! the order command topic, six partitions, and the consumer applies keys
//! concurrently).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use decider::Decider;
use event_store::{Store, StoreConfig};
use inventory_aggregate::InventoryItem;
use schemas::{CommandResult, InventoryEvent, OrderEvent, StreamKind};

const CLIENTS: usize = 16;
const ORDERS_PER_CLIENT: usize = 25;
/// Units on hand at WH1, WH2 and WH3: 40 in all, for about 800 ordered.
const STOCK: [(&str, u64); 3] = [("WH1", 17), ("WH2", 13), ("WH3", 10)];

fn command(line: &str, handler: &command_handler::CommandHandler) -> CommandResult {
    let envelope = schemas::parse_command(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    handler.handle(&envelope).unwrap()
}

/// The item master and the stock at three locations, before the race.
fn stock(handler: &command_handler::CommandHandler) {
    command(
        r#"{"command_id":"m","type":"DefineSku","sku":"MUG","description":"Mug","unit_of_measure":"each","standard_cost_cents":300}"#,
        handler,
    );
    for (location, qty) in STOCK {
        command(
            &format!(
                r#"{{"command_id":"l-{location}","type":"DefineLocation","location":"{location}","name":"{location}","kind":"warehouse"}}"#
            ),
            handler,
        );
        command(
            &format!(
                r#"{{"command_id":"r-{location}","at":"2026-03-02T08:00:00Z","type":"ReceiveStock","sku":"MUG","location":"{location}","qty":{qty}}}"#
            ),
            handler,
        );
    }
}

/// Client `c`'s order `n`: its id, the command and the units it asks for.
fn order(c: usize, n: usize) -> (String, String, u64) {
    let qty = 1 + (c + n) as u64 % 3;
    (
        format!("SO-{c}-{n}"),
        format!(
            r#"{{"command_id":"o-{c}-{n}","at":"2026-03-02T09:00:00Z","type":"PlaceOrder","order_id":"SO-{c}-{n}","customer_id":"C-{c}","ship_to":"X","channel":"web","requested_date":"2026-03-03","lines":[{{"line":1,"sku":"MUG","qty":{qty},"unit_price_cents":900}}]}}"#
        ),
        qty,
    )
}

fn service(store: &Store) -> fulfil_service::Service {
    let clock = clock::ManualClock::new(Utc.with_ymd_and_hms(2026, 3, 2, 12, 0, 0).unwrap());
    fulfil_service::Service::new(store, Arc::new(clock)).unwrap()
}

/// Waits for the workers to settle everything the clients caused, then
/// replays the log: at no position does an item hold more reserved than on
/// hand, every unit on hand is promised once, and every unit `ordered` is
/// promised or backordered. Returns (promised, backordered).
async fn settle_and_replay(
    service: &fulfil_service::Service,
    store: &Store,
    ordered: u64,
) -> (u64, u64) {
    let mut caught_up = service.state.caught_up.subscribe();
    caught_up
        .wait_for(|c| c.is_some_and(|c| c >= store.head_position()))
        .await
        .unwrap();
    let mut items: HashMap<String, InventoryItem> = HashMap::new();
    let (mut promised, mut backordered) = (0u64, 0u64);
    let mut next = 1;
    loop {
        let page = store.read_all(next, 1024).unwrap();
        let Some(last) = page.last().map(|e| e.position) else {
            break;
        };
        next = last + 1;
        for e in page {
            match StreamKind::split(e.stream.as_str()) {
                Some((StreamKind::Inventory, item)) => {
                    let event: InventoryEvent = serde_json::from_value(e.payload).unwrap();
                    let state = items.entry(item.to_owned()).or_default();
                    *state = InventoryItem::evolve(std::mem::take(state), &event);
                    assert!(
                        state.reserved() <= state.on_hand,
                        "position {}: {item} reserves {} of {} on hand",
                        e.position,
                        state.reserved(),
                        state.on_hand
                    );
                }
                Some((StreamKind::Order, _)) => match serde_json::from_value(e.payload).unwrap() {
                    OrderEvent::LineAllocated { qty, .. } => promised += qty,
                    OrderEvent::LineBackordered { qty, .. } => backordered += qty,
                    _ => {}
                },
                _ => {}
            }
        }
    }
    let on_hand: u64 = STOCK.iter().map(|(_, q)| q).sum();
    assert_eq!(
        promised, on_hand,
        "every unit on hand is promised, none twice"
    );
    assert_eq!(
        promised + backordered,
        ordered,
        "every unit ordered is promised or backordered"
    );
    let reserved: u64 = items.values().map(InventoryItem::reserved).sum();
    assert_eq!(reserved, on_hand);
    // The process's refused commands (lost races) each carry a reason.
    let refusals = service.state.telemetry.process_refusals();
    assert!(
        refusals.iter().all(|(reason, _)| !reason.is_empty()),
        "{refusals:?}"
    );
    eprintln!(
        "{CLIENTS} clients, {} orders, {ordered} units for {on_hand}: {promised} promised, {backordered} backordered, 0 oversold; process refusals {refusals:?}",
        CLIENTS * ORDERS_PER_CLIENT
    );
    (promised, backordered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_clients_never_oversell_scarce_stock_across_locations() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let service = service(&store).with_workers();
    let handler = service.state.handler.clone();
    // Appends block: off the runtime's threads.
    tokio::task::block_in_place(|| stock(&handler));

    // The clients race: each places its orders as fast as it can.
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let handler = handler.clone();
        clients.push(tokio::task::spawn_blocking(move || {
            let mut ordered = 0u64;
            for n in 0..ORDERS_PER_CLIENT {
                let (_, line, qty) = order(c, n);
                ordered += qty;
                let result = command(&line, &handler);
                assert!(
                    matches!(result, CommandResult::Accepted { .. }),
                    "{result:?}"
                );
            }
            ordered
        }));
    }
    let mut ordered = 0;
    for c in clients {
        ordered += c.await.unwrap();
    }
    settle_and_replay(&service, &store, ordered).await;
    service.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_racing_through_kafka_partitions_never_oversell() {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::message::Message;
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let cluster = rdkafka::mocking::MockCluster::new(1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let topics = fulfil_kafka::Topics::new("race.");
    for (topic, _) in topics.all() {
        cluster.create_topic(&topic, 6, 1).unwrap();
    }
    let config = fulfil_kafka::KafkaConfig::resolve(
        &fulfil_kafka::KafkaFile::default(),
        Some(brokers.clone()),
        Some("race.".into()),
        &[],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let service = service(&store).with_kafka(&config).unwrap().with_workers();
    let handler = service.state.handler.clone();
    tokio::task::block_in_place(|| stock(&handler));

    // Sixteen producers publish at once, each order keyed by its id: the
    // consumer applies different keys of a batch concurrently.
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let topic = topics.commands("order");
        let producer: FutureProducer = config.client().create().unwrap();
        clients.push(tokio::spawn(async move {
            let mut ordered = 0u64;
            for n in 0..ORDERS_PER_CLIENT {
                let (key, line, qty) = order(c, n);
                ordered += qty;
                producer
                    .send(
                        FutureRecord::to(&topic).key(&key).payload(&line),
                        Duration::from_secs(30),
                    )
                    .await
                    .unwrap();
            }
            ordered
        }));
    }
    let mut ordered = 0;
    for c in clients {
        ordered += c.await.unwrap();
    }
    // Every order is answered on command-results, accepted.
    let results: StreamConsumer = config
        .client()
        .set("group.id", "race-results")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    results.subscribe(&[&topics.results()]).unwrap();
    let mut answered = std::collections::BTreeSet::new();
    while answered.len() < CLIENTS * ORDERS_PER_CLIENT {
        // A safety net, not a synchronisation: each answer ends a wait.
        let m = tokio::time::timeout(Duration::from_mins(1), results.recv())
            .await
            .expect("every order is answered")
            .unwrap();
        let answer: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
        assert_eq!(answer["status"], "accepted", "{answer}");
        answered.insert(answer["command_id"].as_str().unwrap().to_owned());
    }
    settle_and_replay(&service, &store, ordered).await;
    service.stop().await.unwrap();
}
