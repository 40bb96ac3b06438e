//! A fresh directory where documented commands run as a reader runs them:
//! `scenarios/` and `docs/` at hand, `fulfil` on the PATH (as the README's
//! alias makes it), and no client settings from the environment.

use std::process::{Command, Output};

/// A fresh working directory for documented commands.
pub struct Sandbox {
    dir: tempfile::TempDir,
    path: String,
}

impl Sandbox {
    pub fn new() -> Self {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let dir = tempfile::tempdir().unwrap();
        for shared in ["scenarios", "docs"] {
            std::os::unix::fs::symlink(format!("{root}/{shared}"), dir.path().join(shared))
                .unwrap();
        }
        let bin = dir.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_fulfil"), bin.join("fulfil")).unwrap();
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Self { dir, path }
    }

    /// Runs one shell line there.
    pub fn run(&self, line: &str) -> Output {
        Command::new("sh")
            .args(["-c", line])
            .current_dir(self.dir.path())
            .env("PATH", &self.path)
            .env_remove("FULFIL_DATA_DIR")
            .env_remove("FULFIL_SERVER")
            .output()
            .unwrap()
    }
}
