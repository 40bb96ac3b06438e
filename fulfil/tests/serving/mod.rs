//! A `fulfil serve` the CLI tests talk to: started on a free port of
//! loopback, waited for without sleeping, and killed when the test ends.
#![allow(dead_code)]

use std::io::{BufRead, Read, Write};
use std::process::{Child, Command, Stdio};

/// A running `fulfil serve`, killed when dropped, passed or not.
pub struct Serving {
    pub child: Child,
    pub url: String,
    /// Kept open: a service writing to a closed pipe would fail to stop cleanly.
    _stderr: std::io::BufReader<std::process::ChildStderr>,
}

impl Serving {
    /// Starts `fulfil serve` on `dir` with `env`; returns once it has bound.
    pub fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_fulfil"))
            .arg("--data-dir")
            .arg(dir)
            .args(["serve", "--http", "127.0.0.1:0"])
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The first line names the address it bound.
        let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
        let mut first = String::new();
        stderr.read_line(&mut first).unwrap();
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("{first}"))
            .to_owned();
        Self {
            child,
            url,
            _stderr: stderr,
        }
    }

    /// Waits until the read models hold log `position` (`GET /readyz?position=`).
    pub fn ready(&self, position: usize) {
        let address = self.url.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        write!(
            stream,
            "GET /readyz?position={position}&timeout_ms=60000 HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        stream.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    /// Stops it with SIGTERM; true when it exited cleanly.
    pub fn stop(&mut self) -> bool {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        killed.success() && self.child.wait().unwrap().success()
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
