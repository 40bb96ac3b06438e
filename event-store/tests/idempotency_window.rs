//! The idempotency window: command ids are remembered for a window of days
//! and events; a retry inside it is a duplicate, a retry past it is refused
//! clearly (never applied again) while the id is remembered as forgotten,
//! and what the index holds of commands stays bounded by the window.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use clock::ManualClock;
use event_store::{
    AppendRequest, ExpectedVersion, IdempotencyWindow, NewEvent, Store, StoreConfig, StoreError,
    StreamId,
};
use serde_json::json;

fn request(n: u64) -> AppendRequest {
    AppendRequest::new(
        StreamId::new(format!("sku-{}@WH1", n % 7)).unwrap(),
        ExpectedVersion::Any,
        vec![NewEvent::new("StockReceived", json!({ "qty": n }))],
    )
    .command_id(format!("c-{n}"))
}

fn open(dir: &std::path::Path, window: IdempotencyWindow, clock: &Arc<ManualClock>) -> Store {
    Store::open(
        dir,
        StoreConfig {
            index_spill_appends: 50,
            idempotency: window,
            clock: clock.clone(),
            ..StoreConfig::default()
        },
    )
    .unwrap()
}

/// Closes and opens the store again: the indexer has written every run
/// due, and the reopen stages and spills what was left, so the runs are
/// settled when the test looks.
fn settled(store: Store, window: IdempotencyWindow, clock: &Arc<ManualClock>) -> Store {
    let dir = store.path().to_path_buf();
    drop(store);
    open(&dir, window, clock)
}

/// What a retry of command `n` gets now.
#[derive(Debug, Clone, Copy)]
enum Retry {
    Duplicate,
    Forgotten,
    AppliedAnew,
}

fn retry(store: &Store, n: u64) -> Retry {
    match store.append_blocking(request(n)) {
        Ok(o) if o.duplicate => Retry::Duplicate,
        Ok(_) => Retry::AppliedAnew,
        Err(StoreError::ForgottenCommand {
            command_id,
            position,
            recorded_at,
        }) => {
            assert_eq!(command_id, format!("c-{n}"));
            assert_eq!(position, n + 1, "the position it was recorded at");
            assert!(recorded_at.is_some());
            Retry::Forgotten
        }
        Err(e) => panic!("c-{n}: {e}"),
    }
}

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-06-01T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn past_the_window_in_events_a_retry_is_refused_and_the_index_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let window = IdempotencyWindow {
        days: 365,
        events: 200,
    };
    let mut store = open(dir.path(), window, &clock);
    let total = 5_000;
    for n in 0..total {
        store.append_blocking(request(n)).unwrap();
    }
    store = settled(store, window, &clock);
    let counts = store.command_counts();
    eprintln!("{total} commands, window of 200 events: {counts:?}");
    // Bounded by the window, not by the log: the remembered ids are the
    // window and what a run keeps until half of it has passed; the
    // forgotten ones four windows and the same slack.
    assert!(
        counts.remembered + counts.staged <= 2 * 200 + 50,
        "{counts:?}"
    );
    assert!(counts.forgotten <= 2 * 4 * 200 + 50, "{counts:?}");

    // Command n was recorded at position n + 1; the head is 5,000.
    let mut answers = [0; 3];
    for n in (0..total).rev() {
        let position = n + 1;
        let answer = retry(&store, n);
        match (&answer, position) {
            // Inside the window: always the original outcome.
            (Retry::Duplicate, _) => {}
            (_, p) if p > total - 200 => panic!("c-{n} is inside the window"),
            // Up to four windows back: never applied again.
            (Retry::AppliedAnew, p) if p > total - 4 * 200 => {
                panic!("c-{n} was applied again while it is remembered")
            }
            _ => {}
        }
        answers[answer as usize] += 1;
        if matches!(answer, Retry::AppliedAnew) {
            // Past every window the id is new again; stop before the
            // retries themselves move the head and the windows.
            break;
        }
    }
    eprintln!("retries from the newest: duplicate, forgotten, applied anew = {answers:?}");
    assert!(
        answers[Retry::Forgotten as usize] >= 3 * 200 - 100,
        "{answers:?}"
    );
}

#[test]
fn past_the_window_in_days_a_retry_is_refused_then_forgotten_altogether() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(t0()));
    let window = IdempotencyWindow {
        days: 2,
        events: 1_000_000,
    };
    let mut store = open(dir.path(), window, &clock);
    for n in 0..100 {
        store.append_blocking(request(n)).unwrap();
    }
    store = settled(store, window, &clock);
    assert!(matches!(retry(&store, 7), Retry::Duplicate));

    // Three days on, a day's commands later: the first day's ids are past the window.
    clock.advance(Duration::days(3));
    for n in 100..400 {
        store.append_blocking(request(n)).unwrap();
    }
    store = settled(store, window, &clock);
    assert!(matches!(retry(&store, 7), Retry::Forgotten));
    let message = store.append_blocking(request(8)).unwrap_err().to_string();
    assert!(
        message.contains(
            "c-8 was recorded at position 9 on 2026-06-01 08:00 UTC, before the idempotency window"
        ) && message.contains("send it under a new command id"),
        "{message}"
    );
    assert!(matches!(retry(&store, 399), Retry::Duplicate));

    // Past four windows the id is unknown: the records are gone.
    clock.advance(Duration::days(6));
    for n in 400..700 {
        store.append_blocking(request(n)).unwrap();
    }
    store = settled(store, window, &clock);
    let counts = store.command_counts();
    eprintln!("after 9 days: {counts:?}");
    assert_eq!(counts.forgotten, 300, "{counts:?}");
    assert!(counts.remembered + counts.staged <= 350, "{counts:?}");
    assert!(matches!(retry(&store, 7), Retry::AppliedAnew));
}
