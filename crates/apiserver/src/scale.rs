//! The `scale` subresource (`autoscaling/v1 Scale`), as `kubectl scale` and autoscalers use
//! it: a view of an object's desired and current replicas and its selector. Each kind with one
//! says where those live ([`ScalePaths`], from [`crate::kinds::Kind::scale`]): Deployments,
//! ReplicaSets, StatefulSets and ReplicationControllers at upstream's fixed places, custom
//! resources where their definition's `subresources.scale` points.

use apimachinery::jsonpath::JsonPath;
use apimachinery::labels::Selector;
use apimachinery::validation::{FieldError, Path};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::kinds::Typed;
use crate::resources::ResourceType;

/// `autoscaling/v1 Scale`, for decoding bodies and naming it in errors.
pub static SCALE: ResourceType = ResourceType {
    group: "autoscaling",
    version: "v1",
    plural: "scale",
    singular: "scale",
    kind: "Scale",
    rules: &Typed::<k8s_openapi::api::autoscaling::v1::Scale>::NEW,
    key: "autoscaling/scale",
    ..ResourceType::DEFAULTS
};

/// Where the selector a Scale reports comes from.
#[derive(Clone, Debug)]
pub enum ScaleSelector {
    /// A `LabelSelector` object (`spec.selector` of the apps workloads).
    LabelSelector(JsonPath),
    /// A map of labels (a ReplicationController's `spec.selector`).
    Labels(JsonPath),
    /// A selector already in string form (a custom resource's `labelSelectorPath`).
    Text(JsonPath),
    None,
}

/// Where an object keeps what its Scale shows.
#[derive(Clone, Debug)]
pub struct ScalePaths {
    pub spec_replicas: JsonPath,
    pub status_replicas: JsonPath,
    pub selector: ScaleSelector,
}

fn path(p: &str) -> JsonPath {
    JsonPath::parse(p).expect("a built-in scale path parses")
}

impl ScalePaths {
    /// Deployments, ReplicaSets and StatefulSets.
    pub fn apps_workload() -> ScalePaths {
        ScalePaths {
            spec_replicas: path(".spec.replicas"),
            status_replicas: path(".status.replicas"),
            selector: ScaleSelector::LabelSelector(path(".spec.selector")),
        }
    }

    /// ReplicationControllers.
    pub fn replication_controller() -> ScalePaths {
        ScalePaths {
            spec_replicas: path(".spec.replicas"),
            status_replicas: path(".status.replicas"),
            selector: ScaleSelector::Labels(path(".spec.selector")),
        }
    }

    fn selector(&self, obj: &Value) -> String {
        match &self.selector {
            ScaleSelector::LabelSelector(p) => p
                .find(obj)
                .and_then(|v| LabelSelector::deserialize(v).ok())
                .and_then(|s| Selector::from_label_selector(Some(&s)).ok())
                .map(|s| s.to_string())
                .unwrap_or_default(),
            ScaleSelector::Labels(p) => {
                let labels: Vec<String> = p
                    .find(obj)
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                    .collect();
                labels.join(",")
            }
            ScaleSelector::Text(p) => p.find(obj).and_then(Value::as_str).unwrap_or_default().to_string(),
            ScaleSelector::None => String::new(),
        }
    }

    /// The Scale of `obj`.
    pub fn scale_of(&self, obj: &Value) -> Value {
        let meta = &obj["metadata"];
        let mut metadata = json!({});
        for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
            if let Some(v) = meta.get(field) {
                metadata[field] = v.clone();
            }
        }
        let replicas = |p: &JsonPath| p.find(obj).and_then(Value::as_i64).unwrap_or(0);
        let mut status = json!({"replicas": replicas(&self.status_replicas)});
        let selector = self.selector(obj);
        if !selector.is_empty() {
            status["selector"] = json!(selector);
        }
        json!({
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": metadata,
            "spec": {"replicas": replicas(&self.spec_replicas)},
            "status": status,
        })
    }

    /// `obj` with the replicas `scale` asks for, after upstream's checks: the Scale names the
    /// object, its resourceVersion (when given) is the object's, and replicas are not negative.
    pub fn apply(&self, obj: &Value, scale: &Value) -> ApiResult<Value> {
        let name = obj["metadata"]["name"].as_str().unwrap_or_default();
        if let Some(given) = scale["metadata"]["name"].as_str()
            && given != name
        {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({given}) does not match the name on the URL ({name})"
            )));
        }
        let rv = scale["metadata"]["resourceVersion"].as_str().unwrap_or_default();
        if !rv.is_empty() && rv != obj["metadata"]["resourceVersion"].as_str().unwrap_or_default() {
            return Err(ApiError::stale(&SCALE, name));
        }
        let replicas = scale["spec"]["replicas"].as_i64().unwrap_or(0);
        if replicas < 0 {
            return Err(ApiError::invalid(
                &SCALE,
                name,
                &[FieldError::invalid(
                    &Path::new("spec").child("replicas"),
                    replicas,
                    "must be greater than or equal to 0",
                )],
            ));
        }
        let mut new = obj.clone();
        set_at(&mut new, &self.spec_replicas, json!(replicas));
        Ok(new)
    }
}

/// Sets the value at a simple path, making the objects on the way.
fn set_at(obj: &mut Value, path: &JsonPath, value: Value) {
    let mut target = obj;
    for step in path.steps() {
        target = match step {
            apimachinery::jsonpath::Step::Field(f) => &mut target[f.as_str()],
            apimachinery::jsonpath::Step::Index(i) => &mut target[*i],
        };
    }
    *target = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deployments_scale_and_a_new_replica_count() {
        let d = json!({"metadata": {"name": "web", "namespace": "default", "resourceVersion": "7"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web", "tier": "fe"}}},
            "status": {"replicas": 1}});
        let paths = ScalePaths::apps_workload();
        let scale = paths.scale_of(&d);
        assert_eq!(scale["spec"]["replicas"], 2);
        assert_eq!(scale["status"], json!({"replicas": 1, "selector": "app=web,tier=fe"}));
        let scaled = paths.apply(&d, &json!({"metadata": {"name": "web"}, "spec": {"replicas": 5}})).unwrap();
        assert_eq!(scaled["spec"]["replicas"], 5);
        let stale = paths.apply(&d, &json!({"metadata": {"resourceVersion": "6"}, "spec": {"replicas": 5}}));
        assert_eq!(stale.unwrap_err().code, 409);
        let negative = paths.apply(&d, &json!({"spec": {"replicas": -1}})).unwrap_err();
        assert_eq!(
            negative.message,
            "Scale.autoscaling \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
    }
}
