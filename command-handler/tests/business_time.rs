//! A fact from outside is dated within the business-time window around the
//! clock, and a refused one writes nothing.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use clock::ManualClock;
use command_handler::{BusinessTimeWindow, CommandHandler};
use event_store::{Store, StoreConfig};
use schemas::CommandResult;

fn now() -> DateTime<Utc> {
    "2026-12-03T12:00:00Z".parse().expect("a time")
}

fn handler(dir: &std::path::Path) -> CommandHandler {
    let config = StoreConfig {
        clock: Arc::new(ManualClock::new(now())),
        ..StoreConfig::default()
    };
    let handler = CommandHandler::new(Store::open(dir, config).expect("store opens"));
    for line in [
        r#"{"command_id":"m-1","type":"DefineSku","sku":"MUG","description":"Mug","unit_of_measure":"each","standard_cost_cents":300}"#,
        r#"{"command_id":"m-2","type":"DefineLocation","location":"WH1","name":"Bristol","kind":"warehouse"}"#,
    ] {
        let result = handler.handle(&schemas::parse_command(line).expect("parses"));
        assert!(
            matches!(result, Ok(CommandResult::Accepted { .. })),
            "{result:?}"
        );
    }
    handler
}

fn receive(handler: &CommandHandler, id: &str, at: DateTime<Utc>) -> CommandResult {
    let line = format!(
        r#"{{"command_id":"{id}","at":"{}","type":"ReceiveStock","sku":"MUG","location":"WH1","qty":5}}"#,
        at.to_rfc3339()
    );
    handler
        .handle(&schemas::parse_command(&line).expect("parses"))
        .expect("the store answers")
}

fn refused_as_out_of_range(result: &CommandResult) -> bool {
    matches!(
        result,
        CommandResult::Rejected {
            reason: "business_time_out_of_range",
            ..
        }
    )
}

#[test]
fn a_fact_dated_in_1970_or_2099_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handler = handler(dir.path());
    let head = handler.store().head_position();
    for at in ["1970-01-01T00:00:00Z", "2099-01-01T00:00:00Z"] {
        let result = receive(&handler, at, at.parse().expect("a time"));
        assert!(refused_as_out_of_range(&result), "{at}: {result:?}");
    }
    assert_eq!(handler.store().head_position(), head);
}

#[test]
fn a_late_fact_within_the_window_is_recorded_with_its_own_time() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handler = handler(dir.path());
    let window = BusinessTimeWindow::default();
    let two_weeks_ago = now() - Duration::days(14);
    assert!(matches!(
        receive(&handler, "late", two_weeks_ago),
        CommandResult::Accepted { .. }
    ));
    let oldest = now() - window.back;
    assert!(matches!(
        receive(&handler, "oldest", oldest),
        CommandResult::Accepted { .. }
    ));
    let older = oldest - Duration::seconds(1);
    assert!(refused_as_out_of_range(&receive(&handler, "older", older)));
    let skewed = now() + window.ahead;
    assert!(matches!(
        receive(&handler, "skewed", skewed),
        CommandResult::Accepted { .. }
    ));
    let ahead = skewed + Duration::seconds(1);
    assert!(refused_as_out_of_range(&receive(&handler, "ahead", ahead)));
    let events = handler.store().read_all(1, usize::MAX).expect("reads");
    let late = events
        .iter()
        .find(|e| e.event_type == "StockReceived")
        .expect("the late receipt");
    assert_eq!(late.at, two_weeks_ago);
}

#[test]
fn a_narrower_window_is_the_operators_choice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handler = handler(dir.path()).with_window(BusinessTimeWindow {
        back: Duration::days(7),
        ahead: Duration::zero(),
    });
    let result = receive(&handler, "late", now() - Duration::days(14));
    let CommandResult::Rejected { message, .. } = &result else {
        panic!("refused: {result:?}");
    };
    assert!(message.contains("more than 7 days"), "{message}");
}
