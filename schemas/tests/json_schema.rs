//! The JSON Schemas under `schemas/json/` are what the Rust types say.

use schemas::json_schema::{check_or_write, json_schemas};

#[test]
fn checked_in_json_schemas_match_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("json");
    let write = std::env::var_os("UPDATE_SCHEMAS").is_some();
    let problems: Vec<String> = json_schemas()
        .iter()
        .filter_map(|(name, value)| check_or_write(&dir, name, value, write).err())
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_command_schemas_name_the_envelope_and_every_command() {
    let schemas = json_schemas();
    let inventory = &schemas
        .iter()
        .find(|(n, _)| *n == "commands.inventory.schema.json")
        .unwrap()
        .1;
    // Every command requires the envelope's command_id and takes no field it does not name.
    for variant in inventory["oneOf"].as_array().unwrap() {
        assert!(variant["required"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("command_id")));
        assert!(variant["properties"]["at"].is_object(), "{variant}");
        assert_eq!(variant["additionalProperties"], serde_json::json!(false));
    }
    let text = inventory.to_string();
    for command in [
        "ReceiveStock",
        "ReserveStock",
        "CountStock",
        "SetReorderPolicy",
    ] {
        assert!(text.contains(command), "{command} is in the schema");
    }
}
