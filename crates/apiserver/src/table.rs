//! `meta.k8s.io/v1 Table` replies: what `kubectl get` prints, built on the server from
//! each kind's columns and cells.

use jiff::Timestamp;
use serde_json::{Value, json};

use crate::resources::ResourceType;

/// What each row carries besides its cells (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(v: Option<&str>) -> Self {
        match v {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

fn row(rt: &ResourceType, obj: &Value, now: Timestamp, include: IncludeObject) -> Value {
    let mut row = json!({ "cells": rt.rules.cells(obj, now) });
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row["object"] = json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj["metadata"],
            });
        }
        IncludeObject::Object if rt.rules.converts() => row["object"] = rt.rules.served_form(rt, obj),
        IncludeObject::Object => row["object"] = obj.clone(),
    }
    row
}

/// A Table of `objects`, with column definitions unless `with_columns` is false (watch events
/// after the first).
pub fn table<'a>(
    rt: &ResourceType,
    objects: impl IntoIterator<Item = &'a Value>,
    resource_version: Option<u64>,
    now: Timestamp,
    include: IncludeObject,
    with_columns: bool,
) -> Value {
    let rows: Vec<Value> = objects.into_iter().map(|o| row(rt, o, now, include)).collect();
    let mut metadata = json!({});
    if let Some(rv) = resource_version {
        metadata["resourceVersion"] = json!(rv.to_string());
    }
    let columns = if with_columns {
        serde_json::to_value(rt.rules.columns()).unwrap_or_else(|_| json!([]))
    } else {
        json!([])
    };
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": columns,
        "rows": rows,
    })
}
