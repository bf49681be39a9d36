//! Values read through their type: the fields a value sets, what changed between two values,
//! merging an applied configuration into an object, and removing fields — upstream's
//! structured-merge-diff `typed` operations, for JSON values and the schema of
//! [`super::types`].

use serde_json::{Map, Value};

use super::fieldpath::{FieldSet, Path, PathElement};
use super::types::{L, Shape, T};

/// The key element of a list-map item: its key fields, defaulted where the schema defaults
/// them (a port's `protocol` is `TCP` when left out).
fn item_key(item: &Value, item_type: T, keys: &[&str]) -> PathElement {
    let mut fields = Map::new();
    for k in keys {
        let v = match item.get(*k) {
            Some(v) if !v.is_null() => Some(v.clone()),
            _ => item_type.default_of(k).and_then(|d| serde_json::from_str(d).ok()),
        };
        if let Some(v) = v {
            fields.insert((*k).to_string(), v);
        }
    }
    PathElement::key(&fields)
}

/// The element naming a list item, and the item's type.
fn item_element(item: &Value, item_type: T, kind: L, index: usize) -> PathElement {
    match kind {
        L::Map(keys) => item_key(item, item_type, keys),
        L::Set => PathElement::value(item),
        L::Atomic => PathElement::Index(index),
    }
}

/// The fields `v` sets (upstream `ToFieldSet`): its scalars, atomic values and list items,
/// map entries that are not a struct's declared fields, and fields holding null or an empty
/// map.
pub fn field_set(v: &Value, ty: T) -> FieldSet {
    let mut out = FieldSet::new();
    let mut path = Vec::new();
    if let Value::Object(m) = v {
        walk_object(m, ty, &mut path, &mut out);
    }
    out
}

fn walk_object(m: &Map<String, Value>, ty: T, path: &mut Path, out: &mut FieldSet) {
    let declared = |k: &str| matches!(ty.shape(), Shape::Struct(fields) if fields.iter().any(|f| f.0 == k));
    for (k, child) in m {
        path.push(PathElement::field(k));
        walk(child, ty.child(k), path, out);
        let empty = child.is_null() || child.as_object().is_some_and(Map::is_empty);
        if empty || !declared(k) {
            out.insert(path);
        }
        path.pop();
    }
}

fn walk(v: &Value, ty: T, path: &mut Path, out: &mut FieldSet) {
    match (ty.shape(), v) {
        (Shape::Struct(_) | Shape::Map(_), Value::Object(m)) => walk_object(m, ty, path, out),
        (Shape::Struct(_) | Shape::Map(_), _) => {}
        (Shape::List(item_type, kind @ (L::Map(_) | L::Set)), Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                path.push(item_element(item, item_type, kind, i));
                walk(item, item_type, path, out);
                out.insert(path);
                path.pop();
            }
        }
        (Shape::List(_, L::Map(_) | L::Set), _) => {}
        _ => out.insert(path),
    }
}

/// What changed from one value to another, field by field.
#[derive(Debug, Default, PartialEq)]
pub struct Comparison {
    pub added: FieldSet,
    pub modified: FieldSet,
    pub removed: FieldSet,
}

/// Compares two objects of type `ty` (upstream `Compare`): changed leaves (scalars, atomic
/// values, empty maps and lists) are modified; anything that appears or goes — a leaf, a map,
/// a list item — is added or removed, with everything under it. A struct Go always writes (its
/// schema default is `{}`) is there on both sides even when one leaves it out.
pub fn compare(old: &Value, new: &Value, ty: T) -> Comparison {
    let mut c = Comparison::default();
    compare_at(Some(old), Some(new), ty, &mut Vec::new(), &mut c);
    c
}

fn is_empty(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::Object(m)) => m.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        _ => false,
    }
}

/// A change at a leaf.
fn leaf(old: Option<&Value>, new: Option<&Value>, path: &Path, c: &mut Comparison) {
    match (old, new) {
        (None, Some(_)) => c.added.insert(path),
        (Some(_), None) => c.removed.insert(path),
        (Some(a), Some(b)) if a != b => c.modified.insert(path),
        _ => {}
    }
}

/// A list's items, each with the element that names it.
fn keyed(items: &[Value], item_type: T, kind: L) -> Vec<(PathElement, &Value)> {
    items.iter().enumerate().map(|(i, v)| (item_element(v, item_type, kind, i), v)).collect()
}

fn compare_at(old: Option<&Value>, new: Option<&Value>, ty: T, path: &mut Path, c: &mut Comparison) {
    let mut in_leaf = false;
    match ty.shape() {
        Shape::Struct(_) | Shape::Map(_)
            if old.is_none_or(Value::is_object) && new.is_none_or(Value::is_object) =>
        {
            if is_empty(old) && is_empty(new) {
                leaf(old, new, path, c);
                in_leaf = true;
            } else {
                let empty = Map::new();
                let (a, b) = (old.and_then(Value::as_object), new.and_then(Value::as_object));
                let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
                let always = Value::Object(Map::new());
                for (k, v) in a {
                    if b.get(k) == Some(v) {
                        continue;
                    }
                    let child = ty.child(k);
                    let there = (ty.default_of(k) == Some("{}")).then_some(&always);
                    path.push(PathElement::field(k));
                    compare_at(Some(v), b.get(k).or(there), child, path, c);
                    path.pop();
                }
                for (k, v) in b {
                    if !a.contains_key(k) {
                        let there = (ty.default_of(k) == Some("{}")).then_some(&always);
                        path.push(PathElement::field(k));
                        compare_at(there, Some(v), ty.child(k), path, c);
                        path.pop();
                    }
                }
            }
        }
        Shape::List(item_type, kind @ (L::Map(_) | L::Set))
            if old.is_none_or(Value::is_array) && new.is_none_or(Value::is_array) =>
        {
            if is_empty(old) && is_empty(new) {
                leaf(old, new, path, c);
                in_leaf = true;
            } else {
                let no_items = Vec::new();
                let (a, b) = (old.and_then(Value::as_array), new.and_then(Value::as_array));
                let (a, b) = (a.unwrap_or(&no_items), b.unwrap_or(&no_items));
                let (olds, news) = (keyed(a, item_type, kind), keyed(b, item_type, kind));
                for (e, o) in &olds {
                    let n = news.iter().find(|(k, _)| k == e).map(|(_, v)| *v);
                    if n == Some(*o) {
                        continue;
                    }
                    path.push(e.clone());
                    compare_at(Some(o), n, item_type, path, c);
                    path.pop();
                }
                for (e, n) in &news {
                    if !olds.iter().any(|(k, _)| k == e) {
                        path.push(e.clone());
                        compare_at(None, Some(n), item_type, path, c);
                        path.pop();
                    }
                }
            }
        }
        _ => {
            leaf(old, new, path, c);
            in_leaf = true;
        }
    }
    if !in_leaf && !path.is_empty() {
        match (old, new) {
            (None, Some(_)) => c.added.insert(path),
            (Some(_), None) => c.removed.insert(path),
            _ => {}
        }
    }
}

/// `config` merged into `live`: structs and granular maps field by field, list maps and sets
/// item by item (live's order, new items after), anything else replaced.
pub fn merge(live: &Value, config: &Value, ty: T) -> Value {
    match (ty.shape(), live, config) {
        (Shape::Struct(_) | Shape::Map(_), Value::Object(a), Value::Object(b)) => {
            let mut out = a.clone();
            for (k, v) in b {
                let merged = match a.get(k) {
                    Some(old) => merge(old, v, ty.child(k)),
                    None => v.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Shape::List(item_type, kind @ (L::Map(_) | L::Set)), Value::Array(a), Value::Array(b)) => {
            let key = |v: &Value, i: usize| item_element(v, item_type, kind, i);
            let mut out: Vec<Value> = Vec::with_capacity(a.len() + b.len());
            for (i, old) in a.iter().enumerate() {
                let k = key(old, i);
                match b.iter().enumerate().find(|(j, v)| key(v, *j) == k) {
                    Some((_, new)) if matches!(kind, L::Map(_)) => out.push(merge(old, new, item_type)),
                    _ => out.push(old.clone()),
                }
            }
            for (j, new) in b.iter().enumerate() {
                let k = key(new, j);
                if !a.iter().enumerate().any(|(i, old)| key(old, i) == k) {
                    out.push(new.clone());
                }
            }
            Value::Array(out)
        }
        _ => config.clone(),
    }
}

/// `v` without the members of `set`: fields removed from their maps, items from their lists.
pub fn remove(v: &Value, set: &FieldSet, ty: T) -> Value {
    match (ty.shape(), v) {
        (Shape::Struct(_) | Shape::Map(_), Value::Object(m)) => {
            let mut out = Map::new();
            for (k, child) in m {
                let e = PathElement::field(k);
                if set.contains(std::slice::from_ref(&e)) {
                    continue;
                }
                match set.child(&e) {
                    Some(sub) => {
                        out.insert(k.clone(), remove(child, sub, ty.child(k)));
                    }
                    None => {
                        out.insert(k.clone(), child.clone());
                    }
                }
            }
            Value::Object(out)
        }
        (Shape::List(item_type, kind @ (L::Map(_) | L::Set)), Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                let e = item_element(item, item_type, kind, i);
                if set.contains(std::slice::from_ref(&e)) {
                    continue;
                }
                match set.child(&e) {
                    Some(sub) => out.push(remove(item, sub, item_type)),
                    None => out.push(item.clone()),
                }
            }
            Value::Array(out)
        }
        _ => v.clone(),
    }
}

/// The fields `a` sets that `b` holds with the same value.
pub fn agreeing_fields(a: &Value, b: &Value, ty: T) -> FieldSet {
    let mut out = FieldSet::new();
    for path in field_set(a, ty).paths() {
        if value_at(a, &path, ty).is_some() && value_at(a, &path, ty) == value_at(b, &path, ty) {
            out.insert(&path);
        }
    }
    out
}

/// The value at `path` in `v`, if there is one.
pub fn value_at<'a>(v: &'a Value, path: &[PathElement], ty: T) -> Option<&'a Value> {
    let Some((first, rest)) = path.split_first() else { return Some(v) };
    match (first, ty.shape(), v) {
        (PathElement::Field(k), _, Value::Object(m)) => value_at(m.get(k)?, rest, ty.child(k)),
        (_, Shape::List(item_type, kind), Value::Array(items)) => {
            let (i, item) = items
                .iter()
                .enumerate()
                .find(|(i, item)| item_element(item, item_type, kind, *i) == *first)?;
            let _ = i;
            value_at(item, rest, item_type)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::fieldpath::path;
    use super::super::types::of_kind;
    use super::*;
    use serde_json::json;

    fn ds() -> T {
        of_kind("apps", "v1", "DaemonSet")
    }

    fn daemonset(image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d", "labels": {"app": "d"}},
               "spec": {"selector": {"matchLabels": {"app": "d"}},
                        "template": {"metadata": {"labels": {"app": "d"}},
                                     "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 80}]}],
                                              "tolerations": [{"operator": "Exists"}]}}}})
    }

    #[test]
    fn field_sets_follow_the_schema() {
        let set = field_set(&daemonset("nginx:1"), ds());
        let fields = set.to_fields_v1();
        let c = &fields["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"];
        assert_eq!(c["."], json!({}));
        assert_eq!(c["f:image"], json!({}));
        assert_eq!(
            c["f:ports"]["k:{\"containerPort\":80,\"protocol\":\"TCP\"}"]["f:containerPort"],
            json!({})
        );
        assert_eq!(fields["f:spec"]["f:selector"], json!({}), "an atomic selector is one leaf");
        assert_eq!(
            fields["f:spec"]["f:template"]["f:spec"]["f:tolerations"],
            json!({}),
            "an atomic list too"
        );
        assert_eq!(fields["f:metadata"]["f:labels"]["f:app"], json!({}));
    }

    #[test]
    fn comparisons_name_what_changed() {
        let mut new = daemonset("nginx:2");
        new["metadata"]["labels"]["tier"] = json!("web");
        new["spec"]["template"]["spec"].as_object_mut().unwrap().remove("tolerations");
        let c = compare(&daemonset("nginx:1"), &new, ds());
        let image =
            path(&["f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"]);
        assert_eq!(c.modified.paths(), vec![image]);
        assert_eq!(c.added.paths(), vec![path(&["f:metadata", "f:labels", "f:tier"])]);
        assert_eq!(c.removed.paths(), vec![path(&["f:spec", "f:template", "f:spec", "f:tolerations"])]);
        assert_eq!(compare(&new, &new, ds()), Comparison::default());
    }

    #[test]
    fn merging_and_removing_follow_the_schema() {
        let live = daemonset("nginx:1");
        let config = json!({"spec": {"template": {"spec": {
            "containers": [{"name": "sidecar", "image": "envoy"}, {"name": "web", "image": "nginx:2"}],
            "tolerations": [{"key": "a", "operator": "Exists"}]}}}});
        let merged = merge(&live, &config, ds());
        let containers = &merged["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "nginx:2", "merged by name, live's order kept");
        assert_eq!(containers[0]["ports"][0]["containerPort"], 80, "fields the config leaves out stay");
        assert_eq!(containers[1]["name"], "sidecar");
        assert_eq!(
            merged["spec"]["template"]["spec"]["tolerations"],
            json!([{"key": "a", "operator": "Exists"}])
        );

        let mut gone = FieldSet::new();
        gone.insert(&path(&["f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"sidecar\"}"]));
        gone.insert(&path(&["f:metadata", "f:labels", "f:app"]));
        let trimmed = remove(&merged, &gone, ds());
        assert_eq!(trimmed["spec"]["template"]["spec"]["containers"].as_array().unwrap().len(), 1);
        assert_eq!(trimmed["metadata"]["labels"], json!({}));
        let image =
            path(&["f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"]);
        assert_eq!(value_at(&trimmed, &image, ds()), Some(&json!("nginx:2")));
    }
}
