//! A retry past the store's idempotency window is refused with its own
//! reason and writes nothing, from every entry point (they share the handler).

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use clock::ManualClock;
use command_handler::CommandHandler;
use event_store::{IdempotencyWindow, Store, StoreConfig};
use schemas::CommandResult;

fn config(clock: &Arc<ManualClock>) -> StoreConfig {
    StoreConfig {
        clock: clock.clone(),
        index_spill_appends: 20,
        idempotency: IdempotencyWindow {
            days: 1,
            events: 1_000_000,
        },
        ..StoreConfig::default()
    }
}

fn handle(handler: &CommandHandler, line: &str) -> CommandResult {
    handler
        .handle(&schemas::parse_command(line).expect("parses"))
        .expect("the store answers")
}

fn receipt(n: usize) -> String {
    format!(
        r#"{{"command_id":"r-{n}","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":5}}"#
    )
}

#[test]
fn a_retry_past_the_window_is_refused_beyond_idempotency_window_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let start: DateTime<Utc> = "2026-12-01T09:00:00Z".parse().expect("a time");
    let clock = Arc::new(ManualClock::new(start));
    let handler = CommandHandler::new(Store::open(dir.path(), config(&clock)).expect("opens"));
    for line in [
        r#"{"command_id":"m-1","type":"DefineSku","sku":"MUG","description":"Mug","unit_of_measure":"each","standard_cost_cents":300}"#.to_owned(),
        r#"{"command_id":"m-2","type":"DefineLocation","location":"WH1","name":"Bristol","kind":"warehouse"}"#.to_owned(),
    ]
    .into_iter()
    .chain((0..40).map(receipt))
    {
        assert!(matches!(handle(&handler, &line), CommandResult::Accepted { .. }));
    }
    // Two days and a few dozen commands later, the first receipts are past the window.
    clock.advance(Duration::days(2));
    for n in 40..100 {
        assert!(matches!(
            handle(&handler, &receipt(n)),
            CommandResult::Accepted { .. }
        ));
    }
    // Reopening lets the indexer finish every run that was due.
    drop(handler);
    let handler = CommandHandler::new(Store::open(dir.path(), config(&clock)).expect("opens"));
    let head = handler.store().head_position();
    match handle(&handler, &receipt(3)) {
        CommandResult::Rejected {
            reason, message, ..
        } => {
            assert_eq!(reason, "beyond_idempotency_window");
            assert!(message.contains("on 2026-12-01 09:00 UTC"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(handler.store().head_position(), head, "nothing written");
    // Inside the window a retry is still the original outcome.
    match handle(&handler, &receipt(99)) {
        CommandResult::Accepted { duplicate, .. } => assert!(duplicate),
        other => panic!("{other:?}"),
    }
}
