//! docker-compose.yml cannot be run here (no Docker engine), so what makes
//! it work is checked from the files: every volume a service mounts is a
//! directory the image creates and gives to the user it runs as (Docker
//! fills a new named volume with that directory's ownership), and every
//! service's command is one the CLI has.

const COMPOSE: &str = include_str!("../../docker-compose.yml");
const DOCKERFILE: &str = include_str!("../../Dockerfile");

#[test]
fn every_mounted_volume_is_a_directory_the_images_user_owns() {
    let user = DOCKERFILE
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .expect("the image runs as a user of its own")
        .trim();
    assert_ne!(user, "root");
    let mounts: Vec<&str> = COMPOSE
        .lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("- "))
        .filter_map(|l| l.split_once(':'))
        .filter(|(volume, path)| !volume.starts_with('"') && path.starts_with('/'))
        .map(|(_, path)| path)
        .collect();
    assert!(
        mounts.len() >= 2,
        "the writer's and the replica's volumes: {mounts:?}"
    );
    for path in mounts {
        assert!(
            DOCKERFILE.contains(&format!("mkdir -p {path}"))
                && DOCKERFILE.contains(&format!("chown {user} {path}")),
            "{path} is mounted but the image does not create it owned by {user}"
        );
    }
    // The image's default data directory is the mounted one.
    assert!(DOCKERFILE.contains("FULFIL_DATA_DIR=/var/lib/fulfil"));
}

#[test]
fn every_services_command_is_one_the_cli_has() {
    let commands: Vec<Vec<String>> = COMPOSE
        .lines()
        .filter_map(|l| l.trim().strip_prefix("command: "))
        .map(|c| serde_json::from_str(c).expect("a JSON list, as compose allows"))
        .collect();
    assert_eq!(commands.len(), 3, "topics, fulfil and replica");
    for command in commands {
        let mut args: Vec<&str> = command.iter().map(String::as_str).collect();
        args.push("--help");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_fulfil"))
            .args(&args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{command:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
