//! The examples in docs/ run in the order written, each page on a fresh
//! directory, on any day: every command ends with exit 0 (or the `exit N`
//! its comment gives), and prints what the page shows, where it shows it
//! (a plain or `text` block right after the commands, or a `# {…}` line
//! after one).

mod sandbox;

/// One command of a page, with its exit code and the output shown for it.
struct Example {
    command: String,
    code: i32,
    shown: Option<String>,
}

fn examples(page: &str) -> Vec<Example> {
    let mut out: Vec<Example> = Vec::new();
    let lines: Vec<&str> = page.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        if lines[i] != "```sh" {
            i += 1;
            continue;
        }
        i += 1;
        while i < lines.len() && lines[i] != "```" {
            let line = lines[i].trim();
            if line.starts_with("fulfil ") || line.starts_with("echo ") {
                let (command, comment) = line.split_once(" #").unwrap_or((line, ""));
                let code = comment
                    .split("exit ")
                    .nth(1)
                    .and_then(|c| c.split(|ch: char| !ch.is_ascii_digit()).next())
                    .map_or(0, |c| c.parse().unwrap());
                out.push(Example {
                    command: command.trim().to_owned(),
                    code,
                    shown: None,
                });
            } else if let Some(json) = line
                .strip_prefix("# ")
                .filter(|l| l.starts_with('{') || l.starts_with('['))
            {
                if let Some(last) = out.last_mut() {
                    last.shown = Some(json.to_owned() + "\n");
                }
            }
            i += 1;
        }
        // A plain block right after the commands is what the last one prints.
        let mut j = i + 1;
        while j < lines.len() && lines[j].trim().is_empty() {
            j += 1;
        }
        if matches!(lines.get(j), Some(&("```" | "```text"))) {
            let end = (j + 1..lines.len()).find(|k| lines[*k] == "```").unwrap();
            if let Some(last) = out.last_mut() {
                last.shown = Some(lines[j + 1..end].join("\n") + "\n");
            }
            i = end;
        }
        i += 1;
    }
    out
}

fn run_page(name: &str) {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let page = std::fs::read_to_string(format!("{root}/docs/{name}")).unwrap();
    let sandbox = sandbox::Sandbox::new();
    let examples = examples(&page);
    assert!(!examples.is_empty(), "{name} has no examples");
    for e in examples {
        let out = sandbox.run(&e.command);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(e.code),
            "{name}: {}\n{stdout}\n{}",
            e.command,
            String::from_utf8_lossy(&out.stderr)
        );
        if let Some(shown) = e.shown.as_deref().filter(|s| s.starts_with(['{', '['])) {
            // JSON is compared as JSON: the order of an object's keys is not shown.
            let parsed = |t: &str| serde_json::from_str::<serde_json::Value>(t).unwrap();
            assert_eq!(parsed(&stdout), parsed(shown), "{name}: {}", e.command);
        } else if let Some(shown) = e.shown {
            let trimmed = |t: &str| t.lines().map(str::trim_end).collect::<Vec<_>>().join("\n");
            assert_eq!(
                trimmed(&stdout),
                trimmed(&shown),
                "{name}: {} prints what the page shows",
                e.command
            );
        }
    }
}

#[test]
fn the_atp_pages_examples_answer_as_shown() {
    run_page("atp.md");
}

#[test]
fn the_audit_pages_examples_answer_as_shown() {
    run_page("audit.md");
}

#[test]
fn the_forecasting_pages_examples_answer_as_shown() {
    run_page("forecasting.md");
}

#[test]
fn the_commands_pages_examples_answer_as_shown() {
    run_page("commands.md");
}
