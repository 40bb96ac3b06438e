use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::{Result, StoreError};

const MAX_ID_BYTES: usize = 256;

/// The id of one stream: one aggregate instance (an order, a SKU at a location, a PO).
///
/// Printable UTF-8 without whitespace or control characters, 1..=256 bytes,
/// so that `stream ++ 0x00 ++ version` keys sort per stream without collisions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamId(String);

impl StreamId {
    /// Validates `id` as a stream id.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        let reason = check_id(&id);
        match reason {
            None => Ok(Self(id)),
            Some(reason) => Err(StoreError::InvalidStreamId { stream: id, reason }),
        }
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_id(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("it is empty")
    } else if id.len() > MAX_ID_BYTES {
        Some("it is longer than 256 bytes")
    } else if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        Some("it contains whitespace or control characters")
    } else {
        None
    }
}

pub(crate) fn validate_command_id(id: &str) -> Result<()> {
    match check_id(id) {
        None => Ok(()),
        Some(reason) => Err(StoreError::InvalidCommandId {
            command_id: id.to_owned(),
            reason,
        }),
    }
}

impl TryFrom<String> for StreamId {
    type Error = StoreError;
    fn try_from(value: String) -> Result<Self> {
        Self::new(value)
    }
}

impl From<StreamId> for String {
    fn from(value: StreamId) -> Self {
        value.0
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the appender believes the stream's version is; the optimistic-concurrency check.
///
/// Versions count events in a stream from 1; a stream that does not exist is at 0.
/// On the wire it is `"any"`, `"no-stream"` or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Value", into = "Value")]
pub enum ExpectedVersion {
    /// Append whatever the current version is.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version.
    Exact(u64),
}

impl ExpectedVersion {
    pub(crate) fn admits(self, current: u64) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => current == 0,
            Self::Exact(v) => current == v,
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::NoStream => f.write_str("no-stream"),
            Self::Exact(v) => write!(f, "{v}"),
        }
    }
}

impl FromStr for ExpectedVersion {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "any" => Ok(Self::Any),
            "no-stream" => Ok(Self::NoStream),
            n => n
                .parse::<u64>()
                .map(Self::Exact)
                .map_err(|_| StoreError::UnknownExpectedVersion(s.to_owned())),
        }
    }
}

impl TryFrom<Value> for ExpectedVersion {
    type Error = StoreError;
    fn try_from(value: Value) -> Result<Self> {
        match &value {
            Value::String(s) => s.parse(),
            Value::Number(n) => n
                .as_u64()
                .map(Self::Exact)
                .ok_or_else(|| StoreError::UnknownExpectedVersion(value.to_string())),
            _ => Err(StoreError::UnknownExpectedVersion(value.to_string())),
        }
    }
}

impl From<ExpectedVersion> for Value {
    fn from(v: ExpectedVersion) -> Self {
        match v {
            ExpectedVersion::Exact(n) => Value::from(n),
            other => Value::from(other.to_string()),
        }
    }
}

/// An event as a decider produced it, before the store gives it a place in the log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewEvent {
    /// The event's type name, such as `StockReserved`.
    pub event_type: String,
    /// The version of the payload's schema; upcasters lift older versions.
    pub schema_version: u32,
    /// Business time: when it happened in the world. `None` means "now" by the store's clock.
    pub at: Option<DateTime<Utc>>,
    /// The event's body.
    pub payload: Value,
    /// Free-form context (source system, user, ...).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
}

impl NewEvent {
    /// An event of `event_type` at schema version 1 with `payload`.
    pub fn new(event_type: impl Into<String>, payload: Value) -> Self {
        Self {
            event_type: event_type.into(),
            schema_version: 1,
            at: None,
            payload,
            metadata: Map::new(),
        }
    }

    /// Sets the business time.
    pub fn at(mut self, at: DateTime<Utc>) -> Self {
        self.at = Some(at);
        self
    }
}

/// One atomic append to one stream.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendRequest {
    /// The stream appended to.
    pub stream: StreamId,
    /// The optimistic-concurrency check.
    pub expected: ExpectedVersion,
    /// The events, in order; all or none are appended.
    pub events: Vec<NewEvent>,
    /// The command that caused the events; retries with the same id are idempotent.
    pub command_id: Option<String>,
    /// Ties together everything one business flow caused.
    pub correlation_id: Option<String>,
    /// The command as received. When present, idempotency compares this
    /// instead of the events: a retried command decided against newer state
    /// may produce other events or another expected version, yet is the same.
    pub command_body: Option<Value>,
}

impl AppendRequest {
    /// An append of `events` to `stream`, with no command id.
    pub fn new(stream: StreamId, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        Self {
            stream,
            expected,
            events,
            command_id: None,
            correlation_id: None,
            command_body: None,
        }
    }

    /// Sets the command id that makes retries idempotent.
    pub fn command_id(mut self, id: impl Into<String>) -> Self {
        self.command_id = Some(id.into());
        self
    }

    /// Sets the correlation id.
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets the command body that idempotency compares (see the field).
    pub fn command_body(mut self, body: Value) -> Self {
        self.command_body = Some(body);
        self
    }
}

/// Where an acknowledged append landed. Acknowledged means flushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppendOutcome {
    /// The stream version of the first appended event.
    pub first_version: u64,
    /// The stream version of the last appended event (the stream's new version).
    pub last_version: u64,
    /// The global position of the first appended event.
    pub first_position: u64,
    /// The global position of the last appended event.
    pub last_position: u64,
    /// True when this is a retry of a command applied before: nothing new was written.
    #[serde(default)]
    pub duplicate: bool,
}

/// An event as the log holds it: the envelope around the payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedEvent {
    /// Unique id of this event (UUID v7, time-ordered).
    pub event_id: Uuid,
    /// The stream it belongs to.
    pub stream: StreamId,
    /// Its version within the stream, from 1, gapless.
    pub version: u64,
    /// Its position in the global log, from 1, gapless.
    pub position: u64,
    /// The event's type name.
    pub event_type: String,
    /// The payload's schema version (after upcasting, when read through upcasters).
    pub schema_version: u32,
    /// When the store recorded it; never decreases along the log.
    pub recorded_at: DateTime<Utc>,
    /// Business time: when it happened in the world.
    pub at: DateTime<Utc>,
    /// The business flow it belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// The command that caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// Free-form context.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    /// The event's body.
    pub payload: Value,
}

impl RecordedEvent {
    /// The payload as `T`, or nothing (logged at warn level, naming
    /// `reader`) when it does not read as one: a consumer passes over a
    /// payload this build cannot read rather than act on a guess or stop.
    pub fn decode<T: serde::de::DeserializeOwned>(&self, reader: &str) -> Option<T> {
        match serde_json::from_value(self.payload.clone()) {
            Ok(v) => Some(v),
            Err(error) => {
                tracing::warn!(reader, position = self.position, event_type = %self.event_type, %error, "skipping an event it cannot read");
                None
            }
        }
    }
}

/// [`RecordedEvent`] borrowed from the request, so the writer encodes without
/// copying payloads. Field names and skips must match `RecordedEvent`.
#[derive(Serialize)]
pub(crate) struct RecordedEventRef<'a> {
    pub event_id: Uuid,
    pub stream: &'a StreamId,
    pub version: u64,
    pub position: u64,
    pub event_type: &'a str,
    pub schema_version: u32,
    pub recorded_at: DateTime<Utc>,
    pub at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: &'a Map<String, Value>,
    pub payload: &'a Value,
}

/// Which facts a question about another time reads: those recorded up to
/// `until_position` (what the system knew then) and dated by `dated_by`
/// (business time), each when given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cut {
    /// The last log position read.
    pub until_position: Option<u64>,
    /// The latest business time read.
    pub dated_by: Option<DateTime<Utc>>,
}

impl Cut {
    /// Whether `e` is one of the cut's facts.
    pub fn admits(&self, e: &RecordedEvent) -> bool {
        self.until_position.is_none_or(|p| e.position <= p)
            && self.dated_by.is_none_or(|t| e.at <= t)
    }
}
