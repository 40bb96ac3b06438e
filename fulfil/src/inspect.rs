//! Commands in, and what the log and the aggregates hold: `submit`,
//! `state` and `events`.

use std::io::{BufRead, Write};

use anyhow::Context;
use command_handler::CommandHandler;
use event_store::{Store, StreamId};
use fulfil_service::Processes;
use schemas::{CommandResult, Outcomes, StreamName};

/// Applies JSON-lines commands from `file` (- for stdin), the fulfilment
/// and replenishment processes reacting after each; prints one result per line.
pub fn submit(store: &Store, file: &str) -> anyhow::Result<()> {
    let input: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("reading {file}"))?,
        ))
    };
    let handler = CommandHandler::new(store.clone());
    let mut process = Processes::open(&handler, projections::ReadModels::open(store)?)?;
    // Events written before (by an earlier run) are handled first.
    let mut reacted = process.run_until_idle()?;
    let mut out = std::io::stdout().lock();
    let mut outcomes = Outcomes::default();
    for (n, line) in input.lines().enumerate() {
        let line = line.with_context(|| format!("reading line {}", n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let result = match schemas::parse_command(&line) {
            Ok(envelope) => handler.handle(&envelope)?,
            Err(e) => CommandResult::invalid(Some(n + 1), &e),
        };
        outcomes.count(&result);
        serde_json::to_writer(&mut out, &result)?;
        out.write_all(b"\n")?;
        // The process reacts before the next command, as it would live.
        reacted.add(process.run_until_idle()?);
    }
    out.flush()?;
    let refused: Vec<String> = reacted
        .refused
        .iter()
        .map(|(reason, n)| format!("{n} {reason}"))
        .collect();
    eprintln!(
        "{} accepted, {} rejected, {} invalid; the processes issued {} commands ({} accepted{})",
        outcomes.accepted,
        outcomes.rejected,
        outcomes.invalid,
        reacted.commands,
        reacted.accepted,
        if refused.is_empty() {
            String::new()
        } else {
            format!("; refused: {}", refused.join(", "))
        }
    );
    Ok(())
}

/// Prints one aggregate's state, by its stream name: now, or from the
/// facts of `cut` only.
pub fn state(store: &Store, stream: &str, cut: Option<&event_store::Cut>) -> anyhow::Result<()> {
    let name = StreamName::parse(stream)?;
    let handler = CommandHandler::new(store.clone());
    let (json, version) = match cut {
        Some(cut) => handler.state_json_as_of(&name, cut)?,
        None => handler.state_json(&name)?,
    };
    if version == 0 {
        let when = if cut.is_some() { " by then" } else { "" };
        return Err(crate::exit::Exit::nothing(format!("{stream} has no events{when}")).into());
    }
    crate::output::line(format_args!(
        "{}",
        serde_json::json!({ "stream": stream, "version": version, "state": json })
    ))?;
    Ok(())
}

/// Prints the log, or one stream from a version, as JSON lines.
pub fn events(
    store: &Store,
    stream: Option<String>,
    from: u64,
    limit: Option<usize>,
) -> anyhow::Result<()> {
    const PAGE: usize = 1024;
    let mut out = std::io::stdout().lock();
    let mut left = limit.unwrap_or(usize::MAX);
    let mut print = |events: Vec<event_store::RecordedEvent>| -> anyhow::Result<()> {
        for e in events {
            serde_json::to_writer(&mut out, &e)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    };
    if let Some(s) = stream {
        let mut events = store.read_stream(&StreamId::new(s)?, from)?;
        events.truncate(left);
        print(events)?;
    } else {
        // The whole log may not fit in memory: page through it.
        let mut next = from;
        while left > 0 {
            let page = store.read_all(next, left.min(PAGE))?;
            let Some(last) = page.last() else { break };
            next = last.position + 1;
            left -= page.len();
            print(page)?;
        }
    }
    out.flush()?;
    Ok(())
}
