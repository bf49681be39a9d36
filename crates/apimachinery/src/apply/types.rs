//! The shape of upstream's structured-merge-diff schema: what server-side apply needs to know
//! of a type to merge it and to name its fields — which maps are structs (with named fields)
//! or string-keyed maps, which are atomic, and whether a list is atomic, a set, or a map keyed
//! by some of its items' fields.

use std::collections::HashMap;
use std::sync::OnceLock;

/// A type expression.
#[derive(Clone, Copy, Debug)]
pub enum T {
    /// A string, number or boolean.
    Scalar,
    /// Anything, managed as a whole.
    Atomic,
    /// Anything, its maps managed key by key and its lists as a whole (upstream's "deduced").
    Untyped,
    /// A named type of the table.
    Named(&'static str),
    /// A list of items.
    List(&'static T, L),
    /// A string-keyed map of values; `true` when it is managed as a whole.
    Map(&'static T, bool),
    /// A struct given inline (a custom resource's schema): its fields, and whether it is
    /// managed as a whole.
    Fields(&'static [F], bool),
}

/// How a list's items are told apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L {
    /// Not at all: the list is one value.
    Atomic,
    /// By their (scalar) value.
    Set,
    /// By these fields of each item (`x-kubernetes-list-map-keys`).
    Map(&'static [&'static str]),
}

/// A struct's field: its name, type and the default its value has when left out (JSON text;
/// only used for list-map keys, such as a port's `protocol`).
#[derive(Clone, Copy, Debug)]
pub struct F(pub &'static str, pub T, pub Option<&'static str>);

/// A named type's definition.
#[derive(Clone, Copy, Debug)]
pub enum D {
    /// A struct: its fields, and whether it is managed as a whole (`x-kubernetes-map-type:
    /// atomic`).
    Struct(&'static [F], bool),
    /// Another type expression.
    Of(T),
}

/// A named type's definition, if the table has it.
pub fn named(name: &str) -> Option<&'static D> {
    static INDEX: OnceLock<HashMap<&'static str, &'static D>> = OnceLock::new();
    INDEX.get_or_init(|| super::schema::TYPES.iter().map(|(n, d)| (*n, d)).collect()).get(name).copied()
}

/// A type expression with names resolved one level: what a value of it is.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    Scalar,
    /// Managed as a whole, whatever it holds.
    Atomic,
    /// A struct's fields (the rest of its keys unknown: [`T::Untyped`]).
    Struct(&'static [F]),
    /// A map of values of one type.
    Map(T),
    List(T, L),
}

impl T {
    /// What a value of this type is. Unknown names are untyped.
    pub fn shape(self) -> Shape {
        match self {
            T::Scalar => Shape::Scalar,
            T::Atomic => Shape::Atomic,
            T::Untyped => Shape::Map(T::Untyped),
            T::List(item, kind) => Shape::List(*item, kind),
            T::Map(_, true) => Shape::Atomic,
            T::Map(value, false) => Shape::Map(*value),
            T::Fields(_, true) => Shape::Atomic,
            T::Fields(fields, false) => Shape::Struct(fields),
            T::Named(name) => match named(name) {
                Some(D::Struct(_, true)) => Shape::Atomic,
                Some(D::Struct(fields, false)) => Shape::Struct(fields),
                Some(D::Of(t)) => t.shape(),
                None => Shape::Map(T::Untyped),
            },
        }
    }

    /// The type of a field or map value under this type.
    pub fn child(self, name: &str) -> T {
        match self.shape() {
            Shape::Struct(fields) => fields.iter().find(|f| f.0 == name).map_or(T::Untyped, |f| f.1),
            Shape::Map(value) => value,
            _ => T::Untyped,
        }
    }

    /// The default of a struct field, as JSON text.
    pub fn default_of(self, name: &str) -> Option<&'static str> {
        match self.shape() {
            Shape::Struct(fields) => fields.iter().find(|f| f.0 == name).and_then(|f| f.2),
            _ => None,
        }
    }
}

/// The type a CustomResourceDefinition's structural schema (`openAPIV3Schema`) gives its
/// objects, from upstream's extensions: `x-kubernetes-list-type` (`map` with
/// `x-kubernetes-list-map-keys`, `set`, `atomic`, the default), `x-kubernetes-map-type` and
/// `x-kubernetes-preserve-unknown-fields`; `apiVersion`, `kind` and `metadata` are the usual
/// ones. Built once per served definition: the type lives as long as the process.
pub fn from_structural_schema(schema: &serde_json::Value) -> T {
    let mut top = leaked(schema);
    if let T::Fields(fields, atomic) = top {
        let mut all: Vec<F> =
            fields.iter().filter(|f| !matches!(f.0, "apiVersion" | "kind" | "metadata")).copied().collect();
        all.push(F("apiVersion", T::Scalar, None));
        all.push(F("kind", T::Scalar, None));
        all.push(F("metadata", T::Named("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"), Some("{}")));
        top = T::Fields(Box::leak(all.into_boxed_slice()), atomic);
    }
    top
}

fn leak_str(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn leaked(schema: &serde_json::Value) -> T {
    let ext = |k: &str| schema.get(k).and_then(serde_json::Value::as_str);
    let atomic_map = ext("x-kubernetes-map-type") == Some("atomic");
    match schema.get("type").and_then(serde_json::Value::as_str) {
        _ if schema.get("x-kubernetes-int-or-string").and_then(serde_json::Value::as_bool) == Some(true) => {
            T::Scalar
        }
        Some("array") => {
            let item = schema.get("items").map_or(T::Untyped, leaked);
            let kind = match ext("x-kubernetes-list-type") {
                Some("map") => {
                    let keys: Vec<&'static str> = schema["x-kubernetes-list-map-keys"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(serde_json::Value::as_str)
                        .map(leak_str)
                        .collect();
                    L::Map(Box::leak(keys.into_boxed_slice()))
                }
                Some("set") => L::Set,
                _ => L::Atomic,
            };
            T::List(Box::leak(Box::new(item)), kind)
        }
        Some("object") | None => {
            match (schema.get("properties").and_then(|p| p.as_object()), schema.get("additionalProperties")) {
                (Some(props), _) => {
                    let fields: Vec<F> = props
                        .iter()
                        .map(|(name, prop)| {
                            let default = prop.get("default").map(|d| leak_str(&d.to_string()));
                            F(leak_str(name), leaked(prop), default)
                        })
                        .collect();
                    T::Fields(Box::leak(fields.into_boxed_slice()), atomic_map)
                }
                (None, Some(values)) if values.is_object() => {
                    T::Map(Box::leak(Box::new(leaked(values))), atomic_map)
                }
                _ if atomic_map => T::Atomic,
                _ => T::Untyped,
            }
        }
        Some(_) => T::Scalar,
    }
}

/// The type of a top-level object of `kind` in `group`/`version`, if upstream's table has it
/// (custom resources and unknown kinds are untyped).
pub fn of_kind(group: &str, version: &str, kind: &str) -> T {
    let group = if group.is_empty() { "core" } else { group.split('.').next().unwrap_or(group) };
    let name = format!("io.k8s.api.{group}.{version}.{kind}");
    match super::schema::TYPES.binary_search_by(|(n, _)| (*n).cmp(name.as_str())) {
        Ok(i) => T::Named(super::schema::TYPES[i].0),
        Err(_) => T::Untyped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_facts_are_there() {
        let ds = of_kind("apps", "v1", "DaemonSet");
        let pod_spec = ds.child("spec").child("template").child("spec");
        assert!(matches!(pod_spec.child("containers").shape(), Shape::List(_, L::Map(&["name"]))));
        assert!(matches!(pod_spec.child("tolerations").shape(), Shape::List(_, L::Atomic)));
        let ports = pod_spec.child("containers");
        let Shape::List(container, _) = ports.shape() else { panic!() };
        let Shape::List(port, keys) = container.child("ports").shape() else { panic!() };
        assert_eq!(keys, L::Map(&["containerPort", "protocol"]));
        assert_eq!(port.default_of("protocol"), Some("\"TCP\""));
        assert!(
            matches!(ds.child("spec").child("selector").shape(), Shape::Atomic),
            "LabelSelector is atomic"
        );
        assert!(matches!(ds.child("metadata").child("finalizers").shape(), Shape::List(_, L::Set)));
        assert!(matches!(ds.child("metadata").child("labels").shape(), Shape::Map(T::Scalar)));
        assert!(matches!(
            of_kind("", "v1", "Pod").child("spec").child("nodeSelector").shape(),
            Shape::Atomic
        ));
        assert!(matches!(of_kind("example.com", "v1", "Widget"), T::Untyped));
        assert!(matches!(of_kind("rbac.authorization.k8s.io", "v1", "ClusterRole"), T::Named(_)));
    }

    #[test]
    fn a_definitions_schema_gives_its_types() {
        let schema = serde_json::json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "ports": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["port", "protocol"],
                      "items": {"type": "object", "properties": {"port": {"type": "integer"}, "protocol": {"type": "string", "default": "TCP"}}}},
            "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
            "args": {"type": "array", "items": {"type": "string"}},
            "selector": {"type": "object", "x-kubernetes-map-type": "atomic", "properties": {"app": {"type": "string"}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}});
        let t = from_structural_schema(&schema);
        let spec = t.child("spec");
        let Shape::List(port, kind) = spec.child("ports").shape() else { panic!() };
        assert_eq!(kind, L::Map(&["port", "protocol"]));
        assert_eq!(port.default_of("protocol"), Some("\"TCP\""));
        assert!(matches!(spec.child("tags").shape(), Shape::List(_, L::Set)));
        assert!(matches!(spec.child("args").shape(), Shape::List(_, L::Atomic)));
        assert!(matches!(spec.child("selector").shape(), Shape::Atomic));
        assert!(matches!(spec.child("labels").shape(), Shape::Map(T::Scalar)));
        assert!(matches!(t.child("metadata").child("finalizers").shape(), Shape::List(_, L::Set)));
    }
}
