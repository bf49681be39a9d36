//! Server-side printing: the parts every kind's columns and cells are made of (each kind's own
//! columns, as upstream's `pkg/printers/internalversion/printers.go` defines them, live in its
//! room in [`crate::kinds`]). Wide columns (priority 1) are always filled; kubectl shows them
//! with `-o wide`.

use apimachinery::duration::{age, parse_time};
use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

/// One `columnDefinitions` entry of a Table.
#[derive(Clone, Debug, Serialize)]
pub struct ColumnDefinition {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub type_: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    pub priority: i32,
}

pub const fn col(
    name: &'static str,
    type_: &'static str,
    priority: i32,
    description: &'static str,
) -> ColumnDefinition {
    let format = if matches!(name.as_bytes(), b"Name") { "name" } else { "" };
    ColumnDefinition { name, type_, format, description, priority }
}

pub const NAME: ColumnDefinition = col("Name", "string", 0, "Name must be unique within a namespace.");
pub const AGE: ColumnDefinition = col("Age", "string", 0, "Time since the object was created.");

pub fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    path.iter().try_fold(v, |v, k| v.get(*k)).and_then(Value::as_str).unwrap_or_default()
}

pub fn i(v: &Value, path: &[&str]) -> i64 {
    path.iter().try_fold(v, |v, k| v.get(*k)).and_then(Value::as_i64).unwrap_or(0)
}

pub fn or_none(s: &str) -> String {
    if s.is_empty() { "<none>".to_string() } else { s.to_string() }
}

pub fn created(obj: &Value, now: Timestamp) -> String {
    age(parse_time(s(obj, &["metadata", "creationTimestamp"])), now)
}

/// The wide `Containers` column of the kinds that run pods from a template.
pub const CONTAINERS: ColumnDefinition =
    col("Containers", "string", 1, "Names of each container in the template.");
/// The wide `Images` column beside [`CONTAINERS`].
pub const IMAGES: ColumnDefinition =
    col("Images", "string", 1, "Images referenced by each container in the template.");

/// Upstream's `layoutContainerCells`: the names and the images of a pod spec's containers, each
/// joined by `,`.
pub fn container_cells(pod_spec: &Value) -> (String, String) {
    let containers = pod_spec["containers"].as_array().map(Vec::as_slice).unwrap_or_default();
    let join = |field: &str| containers.iter().map(|c| s(c, &[field])).collect::<Vec<_>>().join(",");
    (join("name"), join("image"))
}

/// Upstream's `printBoolPtr`: `True`, `False`, or `<unset>`.
pub fn bool_ptr(v: &Value) -> &'static str {
    match v.as_bool() {
        Some(true) => "True",
        Some(false) => "False",
        None => "<unset>",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kinds::Kind;
    use crate::resources::BUILTIN;
    use serde_json::json;

    pub fn now() -> Timestamp {
        "2026-01-01T01:00:00Z".parse().unwrap()
    }

    /// The headers kubectl prints for a kind (`-o wide` with `wide`).
    pub fn headers(kind: &dyn Kind, wide: bool) -> String {
        kind.columns()
            .iter()
            .filter(|c| wide || c.priority == 0)
            .map(|c| c.name.to_uppercase())
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn every_kind_has_a_cell_per_column() {
        for rt in BUILTIN {
            assert_eq!(rt.rules.columns().len(), rt.rules.cells(&json!({}), now()).len(), "{}", rt.plural);
        }
    }
}
