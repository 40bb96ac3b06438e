//! How `fulfil` ends. Exit codes: 0 done; 1 failed; 2 bad input (clap's
//! usage errors too, a time in the future, a SKU or location the item
//! master does not define, a `submit` with any line rejected or invalid);
//! 3 nothing recorded for what was asked (no store in the data directory,
//! an empty store, a period or stream with no events); 4 the audit found a
//! fault of the system itself.

/// An ending with its own exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Exit {
    /// The process's exit code.
    pub code: u8,
    /// What to tell the user.
    pub message: String,
}

impl Exit {
    /// Bad input: exit 2.
    pub fn bad_input(message: String) -> Self {
        Self { code: 2, message }
    }

    /// Commands refused (by a rule, or as not commands): exit 2.
    pub fn refused(message: String) -> Self {
        Self { code: 2, message }
    }

    /// Nothing recorded for what was asked: exit 3.
    pub fn nothing(message: String) -> Self {
        Self { code: 3, message }
    }
}

/// The exit code of `error`.
pub fn code(error: &anyhow::Error) -> u8 {
    if let Some(exit) = error.downcast_ref::<Exit>() {
        exit.code
    } else if let Some(refused) = error.downcast_ref::<audit::AuditError>() {
        match refused {
            audit::AuditError::Store(_) | audit::AuditError::Projection(_) => 1,
            audit::AuditError::Reversed { .. }
            | audit::AuditError::Future { .. }
            | audit::AuditError::Unknown { .. } => 2,
            audit::AuditError::EmptyStore
            | audit::AuditError::NoEventsInRange { .. }
            | audit::AuditError::UnknownOrder(_) => 3,
        }
    } else if let Some(
        projections::ProjectionError::UnknownSku(_)
        | projections::ProjectionError::UnknownLocation(_),
    ) = error.downcast_ref::<projections::ProjectionError>()
    {
        2
    } else {
        1
    }
}
