//! The README's commands run in the order written, on a fresh directory,
//! after the demo (its first command): each ends with the exit code the
//! README gives it (`# exit N`, else 0) and prints something.

mod sandbox;

const README: &str = include_str!("../../README.md");

/// The `fulfil` lines of the README's "Using the CLI" block.
fn commands() -> Vec<(String, i32)> {
    let section = &README[README.find("## Using the CLI").unwrap()..];
    let block = &section[section.find("```sh").unwrap() + 5..];
    let block = &block[..block.find("```").unwrap()];
    block
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("fulfil ") || l.starts_with("echo "))
        .map(|l| {
            let (command, comment) = l.split_once(" #").unwrap_or((l, ""));
            let code = comment
                .trim()
                .strip_prefix("exit ")
                .and_then(|c| c.split_whitespace().next())
                .map_or(0, |c| c.trim_end_matches(':').parse().unwrap());
            (command.trim().to_owned(), code)
        })
        .collect()
}

#[test]
fn the_readme_commands_answer_as_written_in_order_on_a_fresh_directory() {
    let sandbox = sandbox::Sandbox::new();
    let run = |line: &str| sandbox.run(line);
    // The README's first command: the demo, which must leave ./data alone.
    let demo = run("fulfil demo");
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
    let commands = commands();
    assert!(commands.len() > 25, "{commands:?}");
    for (line, code) in commands {
        let out = run(&line);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert_eq!(out.status.code(), Some(code), "{line}\n{stdout}\n{stderr}");
        assert!(
            !stdout.trim().is_empty() || !stderr.trim().is_empty(),
            "{line} printed nothing"
        );
    }
}
