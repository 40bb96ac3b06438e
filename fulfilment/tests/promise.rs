//! Property test of the promise at the handoff: random supply (stock and
//! purchase orders by date) and random orders by need date, submitted in
//! random arrival orders through the real command handler and fulfilment
//! process on a real store. Whatever the arrival order: nothing is
//! oversold, ATP equals a netting of supply against what was confirmed
//! (written here independently), no confirmation moves later because of a
//! newer order, and where every order can be met by its need date, every
//! order is, and ATP is the same.

use std::collections::BTreeMap;

use chrono::{Duration, NaiveDate};
use command_handler::CommandHandler;
use event_store::{Store, StoreConfig};
use fulfilment::FulfilmentProcess;
use inventory_aggregate::InventoryItem;
use order_aggregate::Order;
use projections::atp::AtpModel;
use proptest::prelude::*;
use schemas::StreamName;

const LOCATIONS: [&str; 2] = ["A", "B"];

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 6, 1).unwrap()
}

fn week(w: u32) -> NaiveDate {
    today() + Duration::weeks(i64::from(w))
}

#[derive(Debug, Clone)]
struct Supply {
    on_hand: Vec<u64>,
    /// (location, qty, week due)
    pos: Vec<(usize, u64, u32)>,
}

/// (qty, week needed)
type Demand = Vec<(u64, u32)>;

/// A netting row: (day, supply, requirements, discrete ATP, cumulative ATP).
type Row = (NaiveDate, u64, u64, u64, i64);

fn supply(locations: usize) -> impl Strategy<Value = Supply> {
    (
        prop::collection::vec(0..30u64, locations),
        prop::collection::vec((0..locations, 1..30u64, 1..8u32), 0..4),
    )
        .prop_map(|(on_hand, pos)| Supply { on_hand, pos })
}

fn demand() -> impl Strategy<Value = Demand> {
    prop::collection::vec((1..25u64, 0..9u32), 1..8)
}

struct World {
    _dir: tempfile::TempDir,
    handler: CommandHandler,
    process: FulfilmentProcess,
    store: Store,
}

impl World {
    fn submit(&mut self, json: &str) {
        let envelope = schemas::parse_command(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        let result = self.handler.handle(&envelope).unwrap();
        assert_eq!(
            result.outcome(),
            schemas::Outcome::Accepted,
            "{json}: {result:?}"
        );
        self.process.run_until_idle().unwrap();
    }

    fn order(&self, n: usize) -> Order {
        let stream = StreamName::order(&format!("SO-{n}")).unwrap();
        (*self.handler.state::<Order>(&stream).unwrap().0).clone()
    }

    fn item(&self, location: &str) -> InventoryItem {
        let stream = StreamName::inventory("PUMP", location).unwrap();
        (*self.handler.state::<InventoryItem>(&stream).unwrap().0).clone()
    }
}

fn at() -> String {
    format!("{today}T08:00:00Z", today = today())
}

/// The item master, stock and POs of `supply`.
fn world(supply: &Supply, locations: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), StoreConfig::default()).unwrap();
    let handler = CommandHandler::new(store.clone());
    let process = FulfilmentProcess::open(handler.clone()).unwrap();
    let mut w = World {
        _dir: dir,
        handler,
        process,
        store,
    };
    let at = at();
    w.submit(&format!(r#"{{"command_id":"sku","at":"{at}","type":"DefineSku","sku":"PUMP","description":"Pump","unit_of_measure":"each","standard_cost_cents":100}}"#));
    for (n, location) in LOCATIONS[..locations].iter().enumerate() {
        w.submit(&format!(r#"{{"command_id":"loc-{n}","at":"{at}","type":"DefineLocation","location":"{location}","name":"{location}","kind":"warehouse"}}"#));
        w.submit(&format!(r#"{{"command_id":"policy-{n}","at":"{at}","type":"SetReorderPolicy","sku":"PUMP","location":"{location}","reorder_point":0,"safety_stock":0,"order_qty":10,"lead_time_days":7,"service_level_bp":9500,"reserve_inbound":true}}"#));
        if supply.on_hand[n] > 0 {
            w.submit(&format!(r#"{{"command_id":"stock-{n}","at":"{at}","type":"ReceiveStock","sku":"PUMP","location":"{location}","qty":{}}}"#, supply.on_hand[n]));
        }
    }
    for (n, (location, qty, due)) in supply.pos.iter().enumerate() {
        let (location, due) = (LOCATIONS[*location], week(*due));
        w.submit(&format!(r#"{{"command_id":"po-{n}","at":"{at}","type":"PlacePurchaseOrder","po_id":"PO-{n}","supplier_id":"S","ordered_on":"{today}","lines":[{{"line":1,"sku":"PUMP","location":"{location}","qty":{qty},"unit_cost_cents":100,"expected_date":"{due}"}}]}}"#, today = today()));
    }
    w
}

fn place(n: usize, (qty, need): (u64, u32)) -> String {
    format!(
        r#"{{"command_id":"o-{n}","at":"{at}","type":"PlaceOrder","order_id":"SO-{n}","customer_id":"C","lines":[{{"line":1,"sku":"PUMP","qty":{qty},"unit_price_cents":100}}],"ship_to":"x","channel":"web","requested_date":"{need}"}}"#,
        at = at(),
        need = week(need)
    )
}

/// A line's confirmations: units by promise date.
fn confirmed(order: &Order) -> BTreeMap<NaiveDate, u64> {
    let mut by_date = BTreeMap::new();
    for a in order.lines[&1].allocations.values() {
        *by_date.entry(a.promise_date).or_default() += a.qty;
    }
    by_date
}

/// Netting written independently of `projections::phased`: each
/// requirement, in date order, takes the latest supply on or before its
/// day; rows are (day, supply, requirements, unconsumed supply, running
/// sum of unconsumed supply minus what nothing covered).
fn netting(supply: &[(NaiveDate, u64)], requirements: &[(NaiveDate, u64)]) -> Vec<Row> {
    let mut days: BTreeMap<NaiveDate, (u64, u64)> = BTreeMap::new();
    for (d, q) in supply {
        days.entry(*d).or_default().0 += q;
    }
    for (d, q) in requirements {
        days.entry(*d).or_default().1 += q;
    }
    let mut left: BTreeMap<NaiveDate, u64> = days.iter().map(|(d, (s, _))| (*d, *s)).collect();
    let mut uncovered: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for (day, (_, mut need)) in &days {
        for (_, free) in left.range_mut(..=*day).rev() {
            let take = need.min(*free);
            *free -= take;
            need -= take;
        }
        uncovered.insert(*day, need);
    }
    let mut running = 0i64;
    days.iter()
        .map(|(d, (s, r))| {
            running += left[d] as i64 - uncovered[d] as i64;
            (*d, *s, *r, left[d], running)
        })
        .collect()
}

/// Runs the orders in `arrival` order (indexes into `demand`); checks the
/// invariants after each; returns each order's confirmations and the
/// SKU's ATP rows.
fn run(
    supply: &Supply,
    demand: &Demand,
    arrival: &[usize],
    locations: usize,
) -> (Vec<BTreeMap<NaiveDate, u64>>, Vec<Row>) {
    let mut w = world(supply, locations);
    let mut placed: Vec<usize> = Vec::new();
    for &n in arrival {
        let before: Vec<(usize, BTreeMap<NaiveDate, u64>)> = placed
            .iter()
            .map(|&m| (m, confirmed(&w.order(m))))
            .collect();
        w.submit(&place(n, demand[n]));
        placed.push(n);
        // No earlier confirmation gets later, or smaller, because of this order.
        for (m, was) in before {
            let now = confirmed(&w.order(m));
            for day in was.keys() {
                let by =
                    |c: &BTreeMap<NaiveDate, u64>| c.range(..=*day).map(|(_, q)| q).sum::<u64>();
                assert!(
                    by(&now) >= by(&was),
                    "SO-{m} lost units promised by {day} when SO-{n} arrived: {was:?} → {now:?}"
                );
            }
        }
        // Nothing oversold: reservations never exceed what is there or due.
        for location in &LOCATIONS[..locations] {
            let item = w.item(location);
            assert!(item.reserved() <= item.on_hand, "{location}: {item:?}");
            for (po, inbound) in &item.inbound {
                assert!(
                    item.inbound_reserved(po) <= inbound.qty,
                    "{location} {po}: {item:?}"
                );
            }
        }
    }
    // ATP equals the netting of supply against what was confirmed (at the
    // promise date) and what waits (at the need date).
    let mut supply_rows = Vec::new();
    for location in &LOCATIONS[..locations] {
        let item = w.item(location);
        supply_rows.push((today(), item.on_hand));
        supply_rows.extend(item.inbound.values().map(|i| (i.expected_date, i.qty)));
    }
    let mut requirements = Vec::new();
    let mut confirmations = vec![BTreeMap::new(); demand.len()];
    for (n, (_, need)) in demand.iter().enumerate() {
        let order = w.order(n);
        let line = &order.lines[&1];
        requirements.extend(line.allocations.values().map(|a| (a.promise_date, a.qty)));
        requirements.push((week(*need), line.backordered));
        confirmations[n] = confirmed(&order);
    }
    let model = AtpModel::open(&w.store).unwrap();
    model.catch_up().unwrap();
    let atp = model.sku("PUMP", None, today()).unwrap();
    let rows: Vec<Row> = atp
        .phased
        .buckets
        .iter()
        .map(|b| (b.day, b.supply, b.requirements, b.atp, b.cumulative))
        .collect();
    let requirements: Vec<(NaiveDate, u64)> =
        requirements.into_iter().filter(|(_, q)| *q > 0).collect();
    assert_eq!(rows, netting(&supply_rows, &requirements));
    (confirmations, rows)
}

/// Whether every order can be met by its need date from this supply.
fn feasible(supply: &Supply, demand: &Demand) -> bool {
    let mut rows: Vec<(NaiveDate, u64)> = vec![(today(), supply.on_hand.iter().sum())];
    rows.extend(supply.pos.iter().map(|(_, q, w)| (week(*w), *q)));
    let needs: Vec<(NaiveDate, u64)> = demand.iter().map(|(q, w)| (week(*w), *q)).collect();
    netting(&rows, &needs).iter().all(|r| r.4 >= 0)
}

fn arrival_orders(n: usize) -> impl Strategy<Value = Vec<usize>> {
    Just((0..n).collect::<Vec<usize>>()).prop_shuffle()
}

/// Runs the orders as generated and in `arrival` order: where every order
/// can be met by its need date, both runs meet every one on time and give
/// the same ATP.
fn same_promise_whatever_the_arrival_order(
    supply: &Supply,
    demand: &Demand,
    arrival: &[usize],
    locations: usize,
) -> Result<(), TestCaseError> {
    let forward: Vec<usize> = (0..demand.len()).collect();
    let (first, atp_first) = run(supply, demand, &forward, locations);
    let (second, atp_second) = run(supply, demand, arrival, locations);
    if feasible(supply, demand) {
        for (n, (qty, need)) in demand.iter().enumerate() {
            let on_time = BTreeMap::from([(week(*need).max(today()), *qty)]);
            prop_assert_eq!(
                &first[n],
                &on_time,
                "SO-{} in arrival order {:?}",
                n,
                forward
            );
            prop_assert_eq!(
                &second[n],
                &on_time,
                "SO-{} in arrival order {:?}",
                n,
                arrival
            );
        }
        prop_assert_eq!(atp_first, atp_second);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn one_location_promises_the_same_whatever_the_arrival_order(
        (supply, demand, arrival) in (supply(1), demand())
            .prop_flat_map(|(s, d)| { let n = d.len(); (Just(s), Just(d), arrival_orders(n)) })
    ) {
        same_promise_whatever_the_arrival_order(&supply, &demand, &arrival, 1)?;
    }

    #[test]
    fn two_locations_promise_the_same_whatever_the_arrival_order(
        (supply, demand, arrival) in (supply(2), demand())
            .prop_flat_map(|(s, d)| { let n = d.len(); (Just(s), Just(d), arrival_orders(n)) })
    ) {
        same_promise_whatever_the_arrival_order(&supply, &demand, &arrival, 2)?;
    }
}
