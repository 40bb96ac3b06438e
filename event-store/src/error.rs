use std::path::PathBuf;

/// Everything that can go wrong in the event store, in the store's own words.
///
/// Rejections of an append (`WrongExpectedVersion`, `IdempotencyConflict`,
/// `ForgottenCommand`,
/// the validation variants) write nothing; the store stays usable.
#[derive(Debug, thiserror::Error)]
// Each variant's #[error] message says what it and its fields mean.
#[allow(missing_docs)]
pub enum StoreError {
    /// The stream is not at the version the appender expected.
    #[error("stream {stream} is at version {actual}, expected {expected}")]
    WrongExpectedVersion {
        stream: String,
        expected: String,
        actual: u64,
    },
    /// The command id was used before with a different body.
    #[error("command {command_id} was already applied with a different body")]
    IdempotencyConflict { command_id: String },
    /// The command id was used before the idempotency window: its outcome
    /// is no longer kept, so it is refused rather than applied again.
    #[error("command {command_id} was recorded at position {position}{}, before the idempotency window; its outcome is no longer kept, so it is not applied again: if it is a new command, send it under a new command id", recorded_at.map(|t| format!(" on {}", t.format("%Y-%m-%d %H:%M UTC"))).unwrap_or_default())]
    ForgottenCommand {
        command_id: String,
        position: u64,
        recorded_at: Option<chrono::DateTime<chrono::Utc>>,
    },
    /// An event's encoded size is above the configured limit.
    #[error("event of {size} bytes is above the limit of {limit} bytes")]
    EventTooLarge { size: usize, limit: usize },
    /// A stream id that cannot be stored.
    #[error("invalid stream id {stream:?}: {reason}")]
    InvalidStreamId {
        stream: String,
        reason: &'static str,
    },
    /// A command id that cannot be stored.
    #[error("invalid command id {command_id:?}: {reason}")]
    InvalidCommandId {
        command_id: String,
        reason: &'static str,
    },
    /// An expected version that is neither `any`, `no-stream` nor a number.
    #[error("unknown expected version {0:?}: use \"any\", \"no-stream\" or a version number")]
    UnknownExpectedVersion(String),
    /// An append with no events.
    #[error("an append needs at least one event")]
    EmptyAppend,
    /// An event type that is empty or too long.
    #[error("invalid event type {event_type:?}: {reason}")]
    InvalidEventType {
        event_type: String,
        reason: &'static str,
    },
    /// Another process holds the data directory.
    #[error("data directory {path} is locked by another running process")]
    Locked { path: PathBuf },
    /// The directory holds files that are not a fulfil event store.
    #[error("{path} is not a fulfil data directory (it is not empty and has no {marker} marker)")]
    ForeignDirectory { path: PathBuf, marker: &'static str },
    /// The directory was written by an incompatible format version.
    #[error("{path} holds store format {found:?}, this build reads {expected:?}")]
    UnsupportedFormat {
        path: PathBuf,
        found: String,
        expected: &'static str,
    },
    /// The data on disk cannot be read back.
    #[error("data directory {path} is corrupt: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// A stored record did not decode.
    #[error("stored record {what} does not decode: {source}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    /// An upcaster refused an old event.
    #[error("upcasting {event_type} from schema version {schema_version} failed: {reason}")]
    Upcast {
        event_type: String,
        schema_version: u32,
        reason: String,
    },
    /// A failed flush left the store in an unknown durable state; reopen it.
    #[error("the store stopped accepting appends after a failed write: {0}")]
    Failed(String),
    /// The writer has shut down.
    #[error("the store is closed")]
    Closed,
    /// I/O outside sled (marker file, directory creation).
    #[error("i/o on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// sled reported an error.
    #[error("storage error: {0}")]
    Storage(#[from] sled::Error),
    /// A value could not be encoded.
    #[error("encoding failed: {0}")]
    Encode(#[source] serde_json::Error),
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// The refusal of a retry of `command_id`, forgotten after being recorded at `stamp`.
    pub(crate) fn forgotten(command_id: &str, stamp: crate::index::Stamp) -> Self {
        Self::ForgottenCommand {
            command_id: command_id.to_owned(),
            position: stamp.position,
            recorded_at: stamp
                .recorded_ms
                .and_then(chrono::DateTime::from_timestamp_millis),
        }
    }
}
