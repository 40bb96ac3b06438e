//! Messages on the wire: a JSON payload, and headers after the `CloudEvents`
//! Kafka binary binding (`ce_id`, `ce_type`, `ce_source`, `ce_time`, ...),
//! with fulfil's own extensions for the stream, its version, the log
//! position and the schema version, so a consumer can deduplicate by
//! (stream, version) without reading the payload.

use chrono::{DateTime, Utc};
use event_store::{RecordedEvent, StreamId};
use serde_json::{Map, Value};

use crate::topics::Topics;

/// One message to produce.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    /// The topic it goes to.
    pub topic: String,
    /// Its key.
    pub key: String,
    /// Its bytes.
    pub payload: Vec<u8>,
    /// Its headers.
    pub headers: Vec<(&'static str, String)>,
}

/// Why a message is not an event fulfil published.
#[derive(Debug, thiserror::Error, PartialEq)]
// Each variant's #[error] message says what it and its fields mean.
#[allow(missing_docs)]
pub enum WireError {
    #[error("header {0} is missing")]
    Missing(&'static str),
    #[error("header {name}: {problem}")]
    Invalid { name: &'static str, problem: String },
    #[error("payload is not JSON: {0}")]
    Payload(String),
}

/// The message for an event: on its kind's event topic, keyed by aggregate id.
pub fn event_message(topics: &Topics, e: &RecordedEvent) -> Outgoing {
    let (kind, id) = schemas::StreamKind::split(e.stream.as_str())
        .map_or(("unknown", e.stream.as_str()), |(k, id)| {
            (k.topic_kind(), id)
        });
    let mut headers = vec![
        ("ce_specversion", "1.0".to_owned()),
        ("ce_id", e.event_id.to_string()),
        ("ce_source", format!("fulfil/{kind}")),
        ("ce_type", e.event_type.clone()),
        ("ce_subject", e.stream.as_str().to_owned()),
        ("ce_time", e.at.to_rfc3339()),
        ("content-type", "application/json".to_owned()),
        ("ce_recordedtime", e.recorded_at.to_rfc3339()),
        ("ce_streamversion", e.version.to_string()),
        ("ce_position", e.position.to_string()),
        ("ce_schemaversion", e.schema_version.to_string()),
    ];
    if let Some(c) = &e.correlation_id {
        headers.push(("ce_correlationid", c.clone()));
    }
    if let Some(c) = &e.causation_id {
        headers.push(("ce_causationid", c.clone()));
    }
    if !e.metadata.is_empty() {
        headers.push(("ce_metadata", Value::Object(e.metadata.clone()).to_string()));
    }
    Outgoing {
        topic: topics.events(kind),
        key: id.to_owned(),
        payload: e.payload.to_string().into_bytes(),
        headers,
    }
}

/// The event a message published by [`event_message`] carries.
pub fn recorded_event(
    header: impl Fn(&str) -> Option<String>,
    payload: &[u8],
) -> Result<RecordedEvent, WireError> {
    let need = |name: &'static str| header(name).ok_or(WireError::Missing(name));
    let invalid = |name: &'static str, problem: String| WireError::Invalid { name, problem };
    let number = |name: &'static str| -> Result<u64, WireError> {
        need(name)?
            .parse()
            .map_err(|e: std::num::ParseIntError| invalid(name, e.to_string()))
    };
    let time = |name: &'static str| -> Result<DateTime<Utc>, WireError> {
        DateTime::parse_from_rfc3339(&need(name)?)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| invalid(name, e.to_string()))
    };
    let metadata = match header("ce_metadata") {
        Some(m) => serde_json::from_str::<Map<String, Value>>(&m)
            .map_err(|e| invalid("ce_metadata", e.to_string()))?,
        None => Map::new(),
    };
    Ok(RecordedEvent {
        event_id: need("ce_id")?
            .parse()
            .map_err(|e: uuid::Error| invalid("ce_id", e.to_string()))?,
        stream: StreamId::new(need("ce_subject")?)
            .map_err(|e| invalid("ce_subject", e.to_string()))?,
        version: number("ce_streamversion")?,
        position: number("ce_position")?,
        event_type: need("ce_type")?,
        schema_version: u32::try_from(number("ce_schemaversion")?)
            .map_err(|e| invalid("ce_schemaversion", e.to_string()))?,
        recorded_at: time("ce_recordedtime")?,
        at: time("ce_time")?,
        correlation_id: header("ce_correlationid"),
        causation_id: header("ce_causationid"),
        metadata,
        payload: serde_json::from_slice(payload).map_err(|e| WireError::Payload(e.to_string()))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_survives_the_trip_through_a_message() {
        let mut metadata = Map::new();
        metadata.insert("channel".into(), Value::from("web"));
        let e = RecordedEvent {
            event_id: uuid::Uuid::now_v7(),
            stream: StreamId::new("inventory-MUG@WH1").unwrap(),
            version: 3,
            position: 17,
            event_type: "StockReceived".into(),
            schema_version: 1,
            recorded_at: "2026-03-02T08:00:01Z".parse().unwrap(),
            at: "2026-03-02T08:00:00Z".parse().unwrap(),
            correlation_id: Some("flow-1".into()),
            causation_id: None,
            metadata,
            payload: serde_json::json!({"type": "StockReceived", "qty": 4}),
        };
        let m = event_message(&Topics::new("fulfil."), &e);
        assert_eq!(
            (m.topic.as_str(), m.key.as_str()),
            ("fulfil.events.inventory", "MUG@WH1")
        );
        let header = |n: &str| {
            m.headers
                .iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(recorded_event(header, &m.payload).unwrap(), e);
        assert_eq!(
            recorded_event(|_| None, &m.payload),
            Err(WireError::Missing("ce_id"))
        );
    }
}
