//! The domain contract: aggregates as pure functions.
//!
//! A command is decided against the current state into events (or a
//! rejection); the state is the fold of the events. No I/O happens here:
//! loading, appending and publishing live outside, so every business rule is
//! testable as given-events / when-command / then-events with [`given`].
//!
//! - [`Decider`]: the rules (`decide`, `evolve`);
//! - [`Aggregate`]: what the command path needs beyond the rules: which
//!   stream a command addresses, how states are snapshotted and how events
//!   and rejections are named on the wire.

use std::fmt::Debug;

use schemas::{EventType, InvalidField, StreamKind, StreamName};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// One aggregate's business rules.
pub trait Decider {
    /// What the aggregate knows, rebuilt by folding its events.
    type State: Default + Clone;
    /// What is asked of it.
    type Command;
    /// What happened.
    type Event;
    /// Why a command was refused.
    type Rejection;

    /// Decides `command` against `state`: the events to record, or why not.
    fn decide(
        state: &Self::State,
        command: &Self::Command,
    ) -> Result<Vec<Self::Event>, Self::Rejection>;

    /// The state after `event`.
    fn evolve(state: Self::State, event: &Self::Event) -> Self::State;

    /// The state after all of `events`, from the start.
    fn fold<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self::State
    where
        Self::Event: 'a,
    {
        events
            .into_iter()
            .fold(Self::State::default(), Self::evolve)
    }
}

/// An aggregate as the command path stores and reports it: its stream,
/// its snapshot shape, its event and rejection names. Implemented next to
/// each aggregate's rules.
pub trait Aggregate:
    Decider<State = Self, Event: EventType, Rejection: Reason>
    + Default
    + Clone
    + Serialize
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// The kinds of stream this aggregate's instances live in.
    const KINDS: &'static [StreamKind];
    /// Names the state's shape for snapshots: a new shape gets a new name,
    /// so an old snapshot is replayed past instead of misread.
    const STATE_SCHEMA: &'static str;

    /// The stream of the instance `command` addresses, or why it names none.
    fn stream(command: &Self::Command) -> Result<StreamName, InvalidField>;

    /// The event's type, as stored and published (`StockReceived`).
    fn event_type(event: &Self::Event) -> &'static str {
        event.event_type()
    }

    /// The rejection's stable reason code and its message.
    fn reason(rejection: &Self::Rejection) -> (&'static str, String) {
        (rejection.code(), rejection.to_string())
    }
}

/// Why a command was refused, as the results say it: a stable code and a message.
pub trait Reason: std::fmt::Display {
    /// A stable, machine-readable reason code (`insufficient_stock`).
    fn code(&self) -> &'static str;
}

/// Starts a given/when/then test from a history of events.
pub fn given<D: Decider>(history: impl IntoIterator<Item = D::Event>) -> Given<D> {
    Given {
        state: history
            .into_iter()
            .fold(D::State::default(), |s, e| D::evolve(s, &e)),
    }
}

/// A history, waiting for a command.
pub struct Given<D: Decider> {
    state: D::State,
}

impl<D: Decider> Given<D> {
    /// Decides `command` against the history.
    pub fn when(self, command: D::Command) -> Then<D> {
        Then {
            outcome: D::decide(&self.state, &command),
        }
    }
}

/// The outcome of a decision, to assert on.
pub struct Then<D: Decider> {
    outcome: Result<Vec<D::Event>, D::Rejection>,
}

impl<D: Decider> Then<D>
where
    D::Event: Debug + PartialEq,
    D::Rejection: Debug + PartialEq,
{
    /// Asserts the command was accepted with exactly these events.
    #[track_caller]
    pub fn then(self, expected: impl IntoIterator<Item = D::Event>) {
        assert_eq!(self.outcome, Ok(expected.into_iter().collect()));
    }

    /// Asserts the command was rejected for exactly this reason.
    #[track_caller]
    pub fn then_rejected(self, expected: D::Rejection) {
        assert_eq!(self.outcome, Err(expected));
    }
}
