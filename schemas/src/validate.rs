//! Checks a command against its published JSON Schema before it is
//! decoded, so that what the schema files say is exactly what is refused:
//! a field the command does not have (a typo such as `priorty` would
//! otherwise be dropped and its default taken), a value of the wrong kind,
//! an integer out of range, an impossible date. Each problem names the
//! field by its path (`lines[1].qty`), the value and what was expected.
//!
//! Only the parts of JSON Schema the generated schemas use are read:
//! `$ref`, `allOf`, `anyOf`, `oneOf` (tagged enums and string enums),
//! `enum`, `type`, `format`, `minimum`, `maximum`, `properties`,
//! `required`, `additionalProperties` and `items`.

use serde_json::{Map, Value};

/// What is wrong with one field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// The field's path in the message, for example `lines[1].qty`.
    pub field: String,
    /// What is wrong, naming the value and what was expected.
    pub problem: String,
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "field `{}`: {}", self.field, self.problem)
    }
}

/// Checks `value` against `schema`, whose `$ref`s point into `definitions`.
pub fn check(
    schema: &Value,
    definitions: &Map<String, Value>,
    value: &Value,
) -> Result<(), FieldProblem> {
    Checker { definitions }.node(schema, value, "")
}

struct Checker<'a> {
    definitions: &'a Map<String, Value>,
}

fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

fn problem(path: &str, problem: String) -> FieldProblem {
    FieldProblem {
        field: if path.is_empty() {
            "(message)".into()
        } else {
            path.to_owned()
        },
        problem,
    }
}

/// A value as it is shown in a problem: short, and quoted when it is text.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 40 {
        format!("{}…", text.chars().take(40).collect::<String>())
    } else {
        text
    }
}

impl Checker<'_> {
    fn node(&self, schema: &Value, value: &Value, path: &str) -> Result<(), FieldProblem> {
        let Some(s) = schema.as_object() else {
            return Ok(());
        };
        if let Some(target) = s.get("$ref").and_then(Value::as_str) {
            let name = target.trim_start_matches("#/definitions/");
            if let Some(def) = self.definitions.get(name) {
                self.node(def, value, path)?;
            }
        }
        if let Some(all) = s.get("allOf").and_then(Value::as_array) {
            for sub in all {
                self.node(sub, value, path)?;
            }
        }
        if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
            self.any_of(any, value, path)?;
        }
        if let Some(one) = s.get("oneOf").and_then(Value::as_array) {
            self.one_of(one, value, path)?;
        }
        if let Some(allowed) = s.get("enum").and_then(Value::as_array) {
            if !allowed.contains(value) {
                return Err(problem(
                    path,
                    format!("{} is not one of {}", shown(value), list(allowed)),
                ));
            }
        }
        if let Some(kinds) = s.get("type") {
            Self::kind(kinds, value, path)?;
        }
        if let Some(format) = s.get("format").and_then(Value::as_str) {
            format_of(format, value, path)?;
        }
        if let Some(n) = value.as_f64() {
            if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
                if n < min {
                    return Err(problem(
                        path,
                        format!("{} is below the minimum {min}", shown(value)),
                    ));
                }
            }
            if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
                if n > max {
                    return Err(problem(
                        path,
                        format!("{} is above the maximum {max}", shown(value)),
                    ));
                }
            }
        }
        if let Some(object) = value.as_object() {
            self.object(s, object, path)?;
        }
        if let (Some(items), Some(array)) = (s.get("items"), value.as_array()) {
            for (i, item) in array.iter().enumerate() {
                self.node(items, item, &format!("{path}[{i}]"))?;
            }
        }
        Ok(())
    }

    fn object(
        &self,
        s: &Map<String, Value>,
        object: &Map<String, Value>,
        path: &str,
    ) -> Result<(), FieldProblem> {
        let empty = Map::new();
        let properties = s
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        if let Some(required) = s.get("required").and_then(Value::as_array) {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    return Err(problem(&at(path, name), "is required".into()));
                }
            }
        }
        for (name, value) in object {
            match properties.get(name) {
                Some(field) => self.node(field, value, &at(path, name))?,
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    let names: Vec<&str> = properties.keys().map(String::as_str).collect();
                    let hint = closest(name, &names)
                        .map(|n| format!("did you mean `{n}`? "))
                        .unwrap_or_default();
                    return Err(problem(
                        &at(path, name),
                        format!(
                            "is not a field here; {hint}the fields are {}",
                            names.join(", ")
                        ),
                    ));
                }
                None => {}
            }
        }
        Ok(())
    }

    fn any_of(&self, options: &[Value], value: &Value, path: &str) -> Result<(), FieldProblem> {
        let mut first = None;
        for option in options {
            match self.node(option, value, path) {
                Ok(()) => return Ok(()),
                // The problem with the option that is not `null` says most.
                Err(e) if option.get("type") != Some(&Value::String("null".into())) => {
                    first.get_or_insert(e);
                }
                Err(_) => {}
            }
        }
        first.map_or(Ok(()), Err)
    }

    /// A tagged enum picks its variant by the tag's value; a string enum
    /// is one of its variants' values.
    fn one_of(&self, variants: &[Value], value: &Value, path: &str) -> Result<(), FieldProblem> {
        if let Some(object) = value.as_object() {
            let mut tags: Vec<(&str, &Value)> = Vec::new();
            for variant in variants {
                let Some(properties) = variant.get("properties").and_then(Value::as_object) else {
                    continue;
                };
                for (name, field) in properties {
                    let Some([tag]) = field
                        .get("enum")
                        .and_then(Value::as_array)
                        .map(Vec::as_slice)
                    else {
                        continue;
                    };
                    tags.push((name, tag));
                    if object.get(name) == Some(tag) {
                        return self.node(variant, value, path);
                    }
                }
            }
            let Some((name, _)) = tags.first() else {
                return Ok(());
            };
            let allowed: Vec<Value> = tags.iter().map(|(_, t)| (*t).clone()).collect();
            return Err(match object.get(*name) {
                None => problem(
                    &at(path, name),
                    format!("is required: one of {}", list(&allowed)),
                ),
                Some(v) => problem(
                    &at(path, name),
                    format!("{} is not one of {}", shown(v), list(&allowed)),
                ),
            });
        }
        let mut allowed = Vec::new();
        for variant in variants {
            match variant.get("enum").and_then(Value::as_array) {
                Some(values) if values.contains(value) => return Ok(()),
                Some(values) => allowed.extend(values.iter().cloned()),
                None => {
                    if self.node(variant, value, path).is_ok() {
                        return Ok(());
                    }
                }
            }
        }
        Err(problem(
            path,
            format!("{} is not one of {}", shown(value), list(&allowed)),
        ))
    }

    fn kind(kinds: &Value, value: &Value, path: &str) -> Result<(), FieldProblem> {
        let kinds: Vec<&str> = match kinds {
            Value::String(k) => vec![k.as_str()],
            Value::Array(ks) => ks.iter().filter_map(Value::as_str).collect(),
            _ => return Ok(()),
        };
        let fits = |kind: &str| match kind {
            "string" => value.is_string(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            "null" => value.is_null(),
            _ => true,
        };
        if kinds.iter().any(|k| fits(k)) {
            return Ok(());
        }
        let expected: Vec<&str> = kinds
            .iter()
            .map(|k| match *k {
                "string" => "a string",
                "integer" => "a whole number",
                "number" => "a number",
                "boolean" => "true or false",
                "array" => "a list",
                "object" => "an object",
                "null" => "null",
                other => other,
            })
            .collect();
        Err(problem(
            path,
            format!("{} is not {}", shown(value), expected.join(" or ")),
        ))
    }
}

fn format_of(format: &str, value: &Value, path: &str) -> Result<(), FieldProblem> {
    let range = |min: i128, max: i128| -> Result<(), FieldProblem> {
        let n = value
            .as_i64()
            .map(i128::from)
            .or_else(|| value.as_u64().map(i128::from));
        match n {
            Some(n) if n < min || n > max => Err(problem(
                path,
                format!("{n} is out of range ({min} to {max})"),
            )),
            _ => Ok(()),
        }
    };
    match format {
        "uint8" => range(0, u8::MAX.into()),
        "uint16" => range(0, u16::MAX.into()),
        "uint32" => range(0, u32::MAX.into()),
        "uint64" | "uint" => range(0, u64::MAX.into()),
        "int64" => range(i64::MIN.into(), i64::MAX.into()),
        "date" => match value.as_str() {
            Some(s) if s.parse::<chrono::NaiveDate>().is_err() => Err(problem(
                path,
                format!(
                    "{} is not a date (YYYY-MM-DD, a day that exists)",
                    shown(value)
                ),
            )),
            _ => Ok(()),
        },
        "date-time" => match value.as_str() {
            Some(s) if chrono::DateTime::parse_from_rfc3339(s).is_err() => Err(problem(
                path,
                format!(
                    "{} is not an RFC 3339 time such as 2026-03-01T09:30:00Z",
                    shown(value)
                ),
            )),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

fn list(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The name `name` was most likely meant to be: at most two edits away.
fn closest<'n>(name: &str, names: &[&'n str]) -> Option<&'n str> {
    names
        .iter()
        .map(|n| (edits(name, n), *n))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, n)| n)
}

/// Edits between two names (insertions, deletions, substitutions and
/// swaps of two neighbours: `qyt` is one from `qty`), for the hint on a
/// misspelt field.
fn edits(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_name_is_matched_to_the_field_it_was_meant_to_be() {
        assert_eq!(
            closest("priorty", &["priority", "channel"]),
            Some("priority")
        );
        assert_eq!(closest("poid", &["po_id", "qty"]), Some("po_id"));
        assert_eq!(closest("zebra", &["po_id", "qty"]), None);
        assert_eq!(edits("kitten", "sitting"), 3);
        assert_eq!(closest("qyt", &["at", "qty"]), Some("qty"));
    }
}
