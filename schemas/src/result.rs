//! What became of a command: the answer on `command-results`, over HTTP
//! and from `fulfil submit`, one JSON object per command.

use serde::Serialize;

use crate::InvalidCommand;

/// What became of one command; printed as one JSON line.
// The fields are the wire contract, described in docs/events.md; doc
// comments here would change the checked-in JSON Schema's text.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CommandResult {
    /// The events are durable in the log.
    Accepted {
        command_id: String,
        stream: String,
        events: Vec<String>,
        first_position: u64,
        last_position: u64,
        version: u64,
        /// A retry of a command applied before: nothing new was written.
        duplicate: bool,
    },
    /// A dry run: the command would record these events, at this version
    /// of its stream; nothing was written.
    WouldAccept {
        command_id: String,
        stream: String,
        events: Vec<String>,
        version: u64,
    },
    /// The command was understood and refused; nothing changed.
    Rejected {
        command_id: String,
        reason: &'static str,
        message: String,
    },
    /// The message is not a command; nothing changed.
    Invalid {
        #[serde(skip_serializing_if = "Option::is_none")]
        line: Option<usize>,
        #[serde(skip_serializing_if = "Option::is_none")]
        command_id: Option<String>,
        reason: &'static str,
        message: String,
    },
}

/// What kind of answer a result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Durable (or a duplicate of something durable).
    Accepted,
    /// Refused by a rule; nothing changed.
    Rejected,
    /// Not a command; nothing changed.
    Invalid,
}

/// How many results of each outcome, as `submit`, the consumer and the
/// service count them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Outcomes {
    /// Commands whose events are durable (duplicates included).
    pub accepted: u64,
    /// Commands refused by a rule.
    pub rejected: u64,
    /// Messages that were not commands.
    pub invalid: u64,
}

impl Outcomes {
    /// Counts one more result.
    pub fn count(&mut self, result: &CommandResult) {
        match result.outcome() {
            Outcome::Accepted => self.accepted += 1,
            Outcome::Rejected => self.rejected += 1,
            Outcome::Invalid => self.invalid += 1,
        }
    }
}

impl CommandResult {
    /// The result for a message that did not parse.
    pub fn invalid(line: Option<usize>, error: &InvalidCommand) -> Self {
        Self::Invalid {
            line,
            command_id: error.command_id().map(str::to_owned),
            reason: error.code(),
            message: error.to_string(),
        }
    }

    /// The result for a command refused with `reason`.
    pub fn rejected(command_id: &str, reason: &'static str, message: impl ToString) -> Self {
        Self::Rejected {
            command_id: command_id.to_owned(),
            reason,
            message: message.to_string(),
        }
    }

    /// What kind of answer this is.
    pub fn outcome(&self) -> Outcome {
        match self {
            Self::Accepted { .. } | Self::WouldAccept { .. } => Outcome::Accepted,
            Self::Rejected { .. } => Outcome::Rejected,
            Self::Invalid { .. } => Outcome::Invalid,
        }
    }
}
