//! Generation bookkeeping on update, as upstream's DaemonSet strategy keeps it: `generation`
//! moves with any change of the spec, the template generation (the
//! `deprecated.daemonset.template.generation` annotation, which pods carry as their
//! `pod-template-generation` label) with a change of the template. The API server applies it
//! to every update; a forecast applies it to the change it proposes.

use k8s_openapi::api::apps::v1::DaemonSet;
use serde_json::{Value, json};

use crate::pod::TEMPLATE_GENERATION_ANNOTATION;

/// Sets `new`'s generation and template generation from `old`'s (both as JSON objects).
pub fn prepare_for_update(new: &mut Value, old: &Value) {
    let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
    let template_generation = old["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION]
        .as_str()
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(generation);
    let template_generation = if new["spec"]["template"] != old["spec"]["template"] {
        template_generation + 1
    } else {
        template_generation
    };
    new["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION] = json!(template_generation.to_string());
    let changed = spec_of(new) != spec_of(old);
    new["metadata"]["generation"] = json!(if changed { generation + 1 } else { generation });
}

/// `changed` as the API server stores it over `live`.
pub fn updated(live: &DaemonSet, changed: DaemonSet) -> DaemonSet {
    let (Ok(old), Ok(mut new)) = (serde_json::to_value(live), serde_json::to_value(&changed)) else {
        return changed;
    };
    prepare_for_update(&mut new, &old);
    serde_json::from_value(new).unwrap_or(changed)
}

/// Everything but the object's metadata, status and type.
fn spec_of(obj: &Value) -> Value {
    let mut o = obj.clone();
    if let Some(m) = o.as_object_mut() {
        for field in ["metadata", "status", "apiVersion", "kind"] {
            m.remove(field);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_change_moves_both_generations_and_a_spec_change_one() {
        let old = json!({"metadata": {"generation": 3, "annotations": {TEMPLATE_GENERATION_ANNOTATION: "2"}},
            "spec": {"minReadySeconds": 0, "template": {"spec": {"containers": [{"name": "c", "image": "a"}]}}}});
        let mut image = old.clone();
        image["spec"]["template"]["spec"]["containers"][0]["image"] = json!("b");
        prepare_for_update(&mut image, &old);
        assert_eq!(image["metadata"]["generation"], 4);
        assert_eq!(image["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION], "3");
        let mut min_ready = old.clone();
        min_ready["spec"]["minReadySeconds"] = json!(5);
        prepare_for_update(&mut min_ready, &old);
        assert_eq!(min_ready["metadata"]["generation"], 4);
        assert_eq!(min_ready["metadata"]["annotations"][TEMPLATE_GENERATION_ANNOTATION], "2");
        let mut labels = old.clone();
        labels["metadata"]["labels"] = json!({"a": "b"});
        prepare_for_update(&mut labels, &old);
        assert_eq!(labels["metadata"]["generation"], 3);
    }
}
