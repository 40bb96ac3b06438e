//! Questions about another time: `--as-of` reads the facts dated up to a
//! business time, `--known-at` only what the log held at a time.

use chrono::{DateTime, Utc};
use event_store::{Cut, Store};

use crate::cli::Past;
use crate::exit::Exit;

/// How a time after the clock is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Later {
    /// Refused (exit 2): there is no state of the future.
    Refused,
    /// Every fact, counted to that time (metrics: ages and open stockouts).
    EveryFact,
}

/// The cut of the log `past` asks for, or none for now and every fact.
pub fn cut(
    store: &Store,
    past: Past,
    now: DateTime<Utc>,
    later: Later,
) -> anyhow::Result<Option<Cut>> {
    let past = match later {
        Later::Refused => past,
        Later::EveryFact => Past {
            as_of: past.as_of.filter(|t| *t <= now),
            known_at: past.known_at.filter(|t| *t <= now),
        },
    };
    for (flag, time) in [("--as-of", past.as_of), ("--known-at", past.known_at)] {
        if let Some(time) = time.filter(|t| *t > now) {
            return Err(Exit::bad_input(format!(
                "{flag} {} is in the future (the clock says {})",
                time.to_rfc3339(),
                now.to_rfc3339()
            ))
            .into());
        }
    }
    if past.as_of.is_none() && past.known_at.is_none() {
        return Ok(None);
    }
    let until_position = past
        .known_at
        .map(|t| store.position_recorded_by(t))
        .transpose()?;
    Ok(Some(Cut {
        until_position,
        dated_by: past.as_of,
    }))
}
