//! Commands in, and what the log and the aggregates hold: `submit`,
//! `state` and `events`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::Context;
use command_handler::CommandHandler;
use event_store::{Store, StreamId};
use fulfil_service::Processes;
use schemas::{CommandEnvelope, CommandResult, Outcomes, StreamName};

use crate::client::Server;

/// Where `submit` sends commands.
pub enum Target<'a> {
    /// The embedded store: applied, the processes reacting after each.
    Store(&'a Store),
    /// The embedded store, or an empty one: decided, nothing written.
    Trial(&'a Store),
    /// A running service's `POST /commands`.
    Server(&'a Server, bool),
}

/// A file of commands this long shows its progress on a terminal.
const PROGRESS_OVER: usize = 300;

/// Applies (or tries) JSON-lines commands from `file` (- for stdin);
/// prints one result per line and a summary. Any line refused, by a rule
/// or as not a command, makes the exit code 2.
pub fn submit(target: &Target<'_>, file: &str) -> anyhow::Result<()> {
    let mut input: Box<dyn BufRead> = if file == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::io::BufReader::new(
            std::fs::File::open(file).with_context(|| format!("reading {file}"))?,
        ))
    };
    let total = match file {
        "-" => None,
        path => Some(count_lines(path)?),
    };
    let mut progress = Progress::new(total);
    let mut apply = Applier::new(target)?;
    let mut out = std::io::stdout().lock();
    let mut outcomes = Outcomes::default();
    let mut line = Vec::new();
    let mut n = 0;
    while let Some(read) =
        next_line(&mut input, &mut line).with_context(|| format!("reading line {}", n + 1))?
    {
        n += 1;
        if read == Line::Whole && line.trim_ascii().is_empty() {
            continue;
        }
        // A line is a command as a Kafka message is: one too long is not
        // read, bytes that are not UTF-8 are not JSON.
        let parsed = match read {
            Line::Whole => schemas::parse_command_bytes(&line),
            Line::TooLong => Err(schemas::InvalidCommand::TooLarge {
                limit: schemas::MAX_COMMAND_BYTES,
            }),
        };
        let result = match parsed {
            Ok(envelope) => apply.apply(&envelope, &String::from_utf8_lossy(&line))?,
            Err(e) => CommandResult::invalid(Some(n), &e),
        };
        outcomes.count(&result);
        serde_json::to_writer(&mut out, &result)?;
        out.write_all(b"\n")?;
        progress.step(n);
    }
    out.flush()?;
    progress.finish();
    let done = match target {
        Target::Store(_) => "",
        Target::Trial(_) | Target::Server(_, true) => " (a dry run: nothing was written)",
        Target::Server(_, false) => " (by the service)",
    };
    let summary = format!(
        "{} accepted, {} rejected, {} invalid{done}",
        outcomes.accepted, outcomes.rejected, outcomes.invalid
    );
    eprintln!("{summary}{}", apply.note());
    if outcomes.rejected + outcomes.invalid > 0 {
        return Err(crate::exit::Exit::refused(format!(
            "{} of {} commands were refused: {summary}",
            outcomes.rejected + outcomes.invalid,
            outcomes.accepted + outcomes.rejected + outcomes.invalid
        ))
        .into());
    }
    Ok(())
}

/// How a line was read.
#[derive(Debug, PartialEq, Eq)]
enum Line {
    /// All of it, without its end of line.
    Whole,
    /// Over [`schemas::MAX_COMMAND_BYTES`]: the rest of it was passed over.
    TooLong,
}

/// Reads the next line into `line` as bytes, keeping at most
/// [`schemas::MAX_COMMAND_BYTES`] + 1 of them; `None` at the end.
fn next_line(input: &mut dyn BufRead, line: &mut Vec<u8>) -> std::io::Result<Option<Line>> {
    line.clear();
    let mut any = false;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            return Ok(any.then(|| fits(line)));
        }
        any = true;
        let (take, ended) = match memchr::memchr(b'\n', chunk) {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        let room = (schemas::MAX_COMMAND_BYTES + 1).saturating_sub(line.len());
        line.extend_from_slice(&chunk[..take.min(room)]);
        input.consume(take + usize::from(ended));
        if ended {
            return Ok(Some(fits(line)));
        }
    }
}

/// Whether `line` is whole, dropping a Windows line end.
fn fits(line: &mut Vec<u8>) -> Line {
    if line.len() > schemas::MAX_COMMAND_BYTES {
        return Line::TooLong;
    }
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Line::Whole
}

/// The lines in the file at `path`, counted without holding it.
fn count_lines(path: &str) -> anyhow::Result<usize> {
    let mut input = std::io::BufReader::new(std::fs::File::open(path)?);
    let (mut lines, mut last) = (0, b'\n');
    loop {
        let chunk = input.fill_buf()?;
        let Some(&end) = chunk.last() else {
            return Ok(lines + usize::from(last != b'\n'));
        };
        lines += memchr::memchr_iter(b'\n', chunk).count();
        last = end;
        let used = chunk.len();
        input.consume(used);
    }
}

/// How one command is applied, tried or sent.
enum Applier<'a> {
    Store {
        handler: CommandHandler,
        process: Box<Processes>,
        reacted: fulfilment::Progress,
    },
    Trial {
        handler: CommandHandler,
        trial: command_handler::Trial,
    },
    Server {
        server: &'a Server,
        query: Vec<(&'static str, String)>,
        reasons: std::collections::HashMap<String, &'static str>,
    },
}

impl<'a> Applier<'a> {
    fn new(target: &Target<'a>) -> anyhow::Result<Self> {
        Ok(match target {
            Target::Store(store) => {
                let handler = CommandHandler::new((*store).clone());
                let mut process = Processes::open(&handler, projections::ReadModels::open(store)?)?;
                // Events written before (by an earlier run) are handled first.
                let reacted = process.run_until_idle()?;
                Self::Store {
                    handler,
                    process: Box::new(process),
                    reacted,
                }
            }
            Target::Trial(store) => Self::Trial {
                handler: CommandHandler::new((*store).clone()),
                trial: command_handler::Trial::default(),
            },
            Target::Server(server, dry_run) => Self::Server {
                server,
                query: if *dry_run {
                    vec![("dry_run", "true".to_owned())]
                } else {
                    Vec::new()
                },
                reasons: std::collections::HashMap::new(),
            },
        })
    }

    fn apply(&mut self, envelope: &CommandEnvelope, line: &str) -> anyhow::Result<CommandResult> {
        match self {
            Self::Store {
                handler,
                process,
                reacted,
            } => {
                let result = handler.handle(envelope)?;
                // The process reacts before the next command, as it would live.
                reacted.add(process.run_until_idle()?);
                Ok(result)
            }
            Self::Trial { handler, trial } => Ok(handler.try_command(envelope, trial)?),
            Self::Server {
                server,
                query,
                reasons,
            } => {
                let (status, body) = server.post("/commands", query, line.to_owned())?;
                match serde_json::from_value::<ResultOnWire>(body.clone()) {
                    Ok(r) => Ok(r.into_result(reasons)),
                    Err(_) => anyhow::bail!("POST /commands answered {status}: {body}"),
                }
            }
        }
    }

    /// What the processes did, for the summary.
    fn note(&self) -> String {
        let Self::Store { reacted, .. } = self else {
            return String::new();
        };
        let refused: Vec<String> = reacted
            .refused
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        format!(
            "; the processes issued {} commands ({} accepted{})",
            reacted.commands,
            reacted.accepted,
            if refused.is_empty() {
                String::new()
            } else {
                format!("; refused: {}", refused.join(", "))
            }
        )
    }
}

/// A result as the service sends it, read back into the CLI's own.
#[derive(serde::Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
enum ResultOnWire {
    Accepted {
        command_id: String,
        stream: String,
        events: Vec<String>,
        first_position: u64,
        last_position: u64,
        version: u64,
        duplicate: bool,
    },
    WouldAccept {
        command_id: String,
        stream: String,
        events: Vec<String>,
        version: u64,
    },
    Rejected {
        command_id: String,
        reason: String,
        message: String,
    },
    Invalid {
        command_id: Option<String>,
        reason: String,
        message: String,
    },
}

impl ResultOnWire {
    fn into_result(
        self,
        reasons: &mut std::collections::HashMap<String, &'static str>,
    ) -> CommandResult {
        match self {
            Self::Accepted {
                command_id,
                stream,
                events,
                first_position,
                last_position,
                version,
                duplicate,
            } => CommandResult::Accepted {
                command_id,
                stream,
                events,
                first_position,
                last_position,
                version,
                duplicate,
            },
            Self::WouldAccept {
                command_id,
                stream,
                events,
                version,
            } => CommandResult::WouldAccept {
                command_id,
                stream,
                events,
                version,
            },
            Self::Rejected {
                command_id,
                reason,
                message,
            } => CommandResult::Rejected {
                command_id,
                reason: interned(reasons, reason),
                message,
            },
            Self::Invalid {
                command_id,
                reason,
                message,
            } => CommandResult::Invalid {
                line: None,
                command_id,
                reason: interned(reasons, reason),
                message,
            },
        }
    }
}

/// Reason codes are static in results: each distinct code from the
/// service is kept once for the run.
fn interned(
    reasons: &mut std::collections::HashMap<String, &'static str>,
    reason: String,
) -> &'static str {
    reasons
        .entry(reason)
        .or_insert_with_key(|r| Box::leak(r.clone().into_boxed_str()))
}

/// A count on standard error while a long file is submitted on a terminal.
struct Progress {
    total: Option<usize>,
    shown: bool,
    last: std::time::Instant,
}

impl Progress {
    fn new(total: Option<usize>) -> Self {
        let on = std::io::stderr().is_terminal() && total.is_none_or(|t| t > PROGRESS_OVER);
        let now = std::time::Instant::now();
        Self {
            total,
            shown: on,
            // The first line shows at once; then at most five a second.
            last: now
                .checked_sub(std::time::Duration::from_secs(1))
                .unwrap_or(now),
        }
    }

    fn step(&mut self, done: usize) {
        if !self.shown || self.last.elapsed() < std::time::Duration::from_millis(200) {
            return;
        }
        self.last = std::time::Instant::now();
        match self.total {
            Some(total) => {
                let width = 30;
                let filled = done * width / total.max(1);
                eprint!(
                    "\r[{}{}] {done}/{total} lines",
                    "#".repeat(filled),
                    " ".repeat(width - filled.min(width))
                );
            }
            None => eprint!("\r{done} lines"),
        }
    }

    fn finish(&self) {
        if self.shown {
            eprint!("\r\x1b[2K");
        }
    }
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

/// Prints the log as JSON lines: one stream from a version (`query.from`),
/// or the events `query` asks for, a page at a time.
pub fn events(
    store: &Store,
    stream: Option<String>,
    mut query: event_store::EventQuery,
) -> anyhow::Result<()> {
    const PAGE: usize = 1024;
    let mut out = std::io::stdout().lock();
    let mut print = |events: Vec<event_store::RecordedEvent>| -> anyhow::Result<()> {
        for e in events {
            serde_json::to_writer(&mut out, &e)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    };
    if let Some(s) = stream {
        let events = store
            .read_stream(&StreamId::new(s)?, query.from)?
            .into_iter()
            .filter(|e| query.to.is_none_or(|to| e.position <= to))
            .filter(|e| query.event_type.as_ref().is_none_or(|t| *t == e.event_type))
            .filter(|e| query.correlation_id.is_none() || e.correlation_id == query.correlation_id)
            .take(query.limit);
        print(events.collect())?;
    } else {
        // The whole log may not fit in memory: page through it.
        let mut left = query.limit;
        while left > 0 {
            query.limit = left.min(PAGE);
            let page = store.find(&query)?;
            left -= page.events.len();
            print(page.events)?;
            match page.next {
                Some(next) => query.from = next,
                None => break,
            }
        }
    }
    out.flush()?;
    Ok(())
}
