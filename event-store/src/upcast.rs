use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use serde_json::Value;

use crate::error::{Result, StoreError};
use crate::model::RecordedEvent;

type Step = Arc<dyn Fn(Value) -> Result<Value, String> + Send + Sync>;

/// A chain of payload migrations keyed by (event type, schema version).
///
/// Events are stored as written and never rewritten; reads pass them through
/// here, so a version-1 event comes out at the newest version its type has a
/// step for, and old histories stay readable by new code.
#[derive(Clone, Default)]
pub struct Upcasters {
    steps: HashMap<(String, u32), Step>,
}

impl Upcasters {
    /// An empty chain: events are read as stored.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers the step lifting `event_type` from `from_version` to `from_version + 1`.
    pub fn register(
        mut self,
        event_type: impl Into<String>,
        from_version: u32,
        step: impl Fn(Value) -> Result<Value, String> + Send + Sync + 'static,
    ) -> Self {
        self.steps
            .insert((event_type.into(), from_version), Arc::new(step));
        self
    }

    /// Lifts `event` through every step that applies to it.
    pub fn apply(&self, mut event: RecordedEvent) -> Result<RecordedEvent> {
        if self.steps.is_empty() {
            return Ok(event);
        }
        while let Some(step) = self
            .steps
            .get(&(event.event_type.clone(), event.schema_version))
        {
            let payload = std::mem::take(&mut event.payload);
            event.payload = step(payload).map_err(|reason| StoreError::Upcast {
                event_type: event.event_type.clone(),
                schema_version: event.schema_version,
                reason,
            })?;
            event.schema_version += 1;
        }
        Ok(event)
    }
}

impl fmt::Debug for Upcasters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut steps: Vec<_> = self.steps.keys().collect();
        steps.sort();
        f.debug_struct("Upcasters").field("steps", &steps).finish()
    }
}
