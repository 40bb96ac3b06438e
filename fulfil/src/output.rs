//! Standard output for reports and listings. A reader that stops early
//! (`fulfil events | head`) closes the pipe: the command then ends quietly
//! with exit 0, never with a panic.

use std::io::{ErrorKind, Write};

/// Writes `text` and a newline to standard output.
pub fn line(text: impl std::fmt::Display) -> std::io::Result<()> {
    writeln!(std::io::stdout().lock(), "{text}")
}

/// Writes `text` as it is to standard output.
pub fn text(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Whether `error` comes from standard output being closed under us.
pub fn closed_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                cause
                    .downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            })
            == Some(ErrorKind::BrokenPipe)
    })
}
