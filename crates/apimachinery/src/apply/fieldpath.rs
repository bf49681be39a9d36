//! Sets of fields, as `metadata.managedFields` records them (upstream's structured-merge-diff
//! `fieldpath.Set`): a tree whose edges are path elements — a struct or map field, a list item
//! told apart by its key fields or by its value — and whose members are the paths a manager
//! owns. `FieldsV1` is its JSON form: `{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":
//! {".":{},"f:image":{}}}}}`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

/// One step of a path. Keys and values are kept as canonical JSON text (object keys sorted),
/// which is how `FieldsV1` spells them and makes equal ones compare equal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathElement {
    /// A struct field or map key: `f:name`.
    Field(String),
    /// A list item told apart by its key fields: `k:{"name":"web"}`.
    Key(String),
    /// A set's item: `v:"finalizer"`.
    Value(String),
    /// A list item by position: `i:0` (lists without keys that are not atomic).
    Index(usize),
}

/// JSON text with object keys sorted, whatever order the value keeps them in.
pub fn canonical_json(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&m[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!("[{}]", a.iter().map(canonical_json).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

impl PathElement {
    pub fn field(name: &str) -> Self {
        PathElement::Field(name.to_string())
    }

    /// A key element from an item's key fields (name → value).
    pub fn key(fields: &Map<String, Value>) -> Self {
        PathElement::Key(canonical_json(&Value::Object(fields.clone())))
    }

    pub fn value(v: &Value) -> Self {
        PathElement::Value(canonical_json(v))
    }

    /// Its `FieldsV1` spelling.
    pub fn encode(&self) -> String {
        match self {
            PathElement::Field(name) => format!("f:{name}"),
            PathElement::Key(k) => format!("k:{k}"),
            PathElement::Value(v) => format!("v:{v}"),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    fn decode(s: &str) -> Result<Self, String> {
        let (kind, rest) = s.split_once(':').ok_or_else(|| format!("invalid path element {s:?}"))?;
        let json = |rest: &str| -> Result<String, String> {
            let v: Value =
                serde_json::from_str(rest).map_err(|e| format!("invalid path element {s:?}: {e}"))?;
            Ok(canonical_json(&v))
        };
        match kind {
            "f" => Ok(PathElement::Field(rest.to_string())),
            "k" => Ok(PathElement::Key(json(rest)?)),
            "v" => Ok(PathElement::Value(json(rest)?)),
            "i" => rest.parse().map(PathElement::Index).map_err(|_| format!("invalid path element {s:?}")),
            _ => Err(format!("invalid path element {s:?}")),
        }
    }
}

/// How upstream prints an element in a path: `.name`, `[name="web"]`, `[="v"]`, `[0]`.
impl fmt::Display for PathElement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(k) => {
                let fields: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
                let mut parts: Vec<String> = fields.iter().map(|(k, v)| format!("{k}={v}")).collect();
                parts.sort();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(v) => write!(f, "[={v}]"),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the object's root.
pub type Path = Vec<PathElement>;

/// A path as upstream prints it in conflict messages.
pub fn display(path: &[PathElement]) -> String {
    path.iter().map(ToString::to_string).collect()
}

/// A set of paths.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> Self {
        FieldSet::default()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds `path` (a non-empty path).
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => self.children.entry(first.clone()).or_default().insert(rest),
        }
    }

    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// The set under `element`, if any.
    pub fn child(&self, element: &PathElement) -> Option<&FieldSet> {
        self.children.get(element)
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (k, c) in &other.children {
            let merged = match out.children.get(k) {
                Some(mine) => mine.union(c),
                None => c.clone(),
            };
            out.children.insert(k.clone(), merged);
        }
        out
    }

    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.difference(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            let rest = match other.children.get(k) {
                Some(theirs) => c.difference(theirs),
                None => c.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(k.clone(), rest);
            }
        }
        out
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet {
            members: self.members.intersection(&other.members).cloned().collect(),
            children: BTreeMap::new(),
        };
        for (k, c) in &self.children {
            if let Some(theirs) = other.children.get(k) {
                let both = c.intersection(theirs);
                if !both.is_empty() {
                    out.children.insert(k.clone(), both);
                }
            }
        }
        out
    }

    /// Every member, as a full path, in order.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        let mut elements: BTreeSet<&PathElement> = self.members.iter().collect();
        elements.extend(self.children.keys());
        for e in elements {
            prefix.push(e.clone());
            if self.members.contains(e) {
                out.push(prefix.clone());
            }
            if let Some(c) = self.children.get(e) {
                c.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    /// The first elements of the set's paths.
    pub fn top_elements(&self) -> impl Iterator<Item = &PathElement> {
        let extra = self.children.keys().filter(|k| !self.members.contains(*k));
        self.members.iter().chain(extra)
    }

    /// The set without the paths under (or at) `prefix`.
    /// The paths at or under the element `first`.
    pub fn only_under(&self, first: &PathElement) -> FieldSet {
        let mut out = FieldSet::new();
        if self.members.contains(first) {
            out.members.insert(first.clone());
        }
        if let Some(c) = self.children.get(first).filter(|c| !c.is_empty()) {
            out.children.insert(first.clone(), c.clone());
        }
        out
    }

    pub fn without_prefix(&self, prefix: &[PathElement]) -> FieldSet {
        let mut out = self.clone();
        out.remove_prefix(prefix);
        out
    }

    /// Removes the paths under (or at) `prefix`.
    pub fn remove_prefix(&mut self, prefix: &[PathElement]) {
        match prefix {
            [] => *self = FieldSet::new(),
            [last] => {
                self.members.remove(last);
                self.children.remove(last);
            }
            [first, rest @ ..] => {
                if let Some(c) = self.children.get_mut(first) {
                    c.remove_prefix(rest);
                    if c.is_empty() {
                        self.children.remove(first);
                    }
                }
            }
        }
    }

    /// The `FieldsV1` JSON of the set.
    pub fn to_fields_v1(&self) -> Value {
        let mut map = Map::new();
        let mut elements: BTreeSet<&PathElement> = self.members.iter().collect();
        elements.extend(self.children.keys());
        for e in elements {
            let mut inner = match self.children.get(e) {
                Some(c) => match c.to_fields_v1() {
                    Value::Object(m) => m,
                    _ => Map::new(),
                },
                None => Map::new(),
            };
            if self.members.contains(e) && !inner.is_empty() {
                inner.insert(".".into(), Value::Object(Map::new()));
            }
            map.insert(e.encode(), Value::Object(inner));
        }
        Value::Object(map)
    }

    /// The set's `FieldsV1` JSON as text: what `to_fields_v1().to_string()` writes, without
    /// building the tree first.
    pub fn to_fields_v1_text(&self) -> String {
        let mut out = String::with_capacity(128);
        out.push('{');
        self.write_fields_v1_entries(&mut out);
        out.push('}');
        out
    }

    /// The entries of the set's `FieldsV1` object, keys in order.
    fn write_fields_v1_entries(&self, out: &mut String) {
        let mut elements: Vec<(String, &PathElement)> =
            self.members.iter().chain(self.children.keys()).map(|e| (e.encode(), e)).collect();
        elements.sort_by(|a, b| a.0.cmp(&b.0));
        elements.dedup_by(|a, b| a.0 == b.0);
        for (i, (key, e)) in elements.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&Value::String(key.clone()).to_string());
            out.push(':');
            let mut inner = String::new();
            if let Some(c) = self.children.get(e) {
                c.write_fields_v1_entries(&mut inner);
            }
            if inner.is_empty() {
                out.push_str("{}");
            } else {
                // "." sorts before every encoded element ("f:", "k:", "v:", "i:").
                out.push_str(if self.members.contains(e) { "{\".\":{}," } else { "{" });
                out.push_str(&inner);
                out.push('}');
            }
        }
    }

    /// A set from its `FieldsV1` JSON.
    pub fn from_fields_v1(v: &Value) -> Result<FieldSet, String> {
        let map = v.as_object().ok_or("FieldsV1 must be an object")?;
        let mut set = FieldSet::new();
        for (k, inner) in map {
            if k == "." {
                continue;
            }
            let element = PathElement::decode(k)?;
            let inner_map = inner.as_object().ok_or("FieldsV1 entries must be objects")?;
            if inner_map.is_empty() || inner_map.contains_key(".") {
                set.members.insert(element.clone());
            }
            if inner_map.keys().any(|k| k != ".") {
                let child = FieldSet::from_fields_v1(inner)?;
                set.children.insert(element, child);
            }
        }
        Ok(set)
    }
}

/// Whether a `FieldsV1` document holds `path`, read in place (no set is built).
pub fn fields_v1_contains(v: &Value, path: &[PathElement]) -> bool {
    let mut node = v;
    for (i, e) in path.iter().enumerate() {
        let Some(next) = node.get(e.encode()) else { return false };
        if i + 1 == path.len() {
            return next.as_object().is_some_and(|m| m.is_empty() || m.contains_key("."));
        }
        node = next;
    }
    false
}

/// Builds a path from its elements' `FieldsV1` spellings (tests and callers that name paths).
pub fn path(elements: &[&str]) -> Path {
    elements.iter().map(|e| PathElement::decode(e).expect("a valid path element")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_v1_round_trips() {
        let v = json!({"f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                       "f:spec": {"f:containers": {"k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}},
                                  "f:finalizers": {"v:\"a\"": {}}}});
        let set = FieldSet::from_fields_v1(&v).unwrap();
        assert!(set.contains(&path(&["f:metadata", "f:labels"])));
        assert!(set.contains(&path(&["f:spec", "f:containers", "k:{\"name\":\"web\"}"])));
        assert!(set.contains(&path(&["f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"])));
        assert!(!set.contains(&path(&["f:spec", "f:containers"])));
        assert_eq!(set.to_fields_v1(), v);
        assert_eq!(set.to_fields_v1_text(), v.to_string(), "the text is the tree's, written at once");
        assert_eq!(FieldSet::new().to_fields_v1_text(), "{}");
        assert_eq!(set.paths().len(), 6);
    }

    #[test]
    fn keys_are_canonical_and_print_as_upstream() {
        let a = PathElement::decode("k:{\"protocol\":\"TCP\",\"containerPort\":80}").unwrap();
        let b = PathElement::decode("k:{\"containerPort\":80,\"protocol\":\"TCP\"}").unwrap();
        assert_eq!(a, b);
        let p =
            path(&["f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"nginx\"}", "f:image"]);
        assert_eq!(display(&p), ".spec.template.spec.containers[name=\"nginx\"].image");
        assert_eq!(display(&[a]), "[containerPort=80,protocol=\"TCP\"]");
        assert_eq!(
            display(&path(&["f:metadata", "f:finalizers", "v:\"x\""])),
            ".metadata.finalizers[=\"x\"]"
        );
    }

    #[test]
    fn set_operations() {
        let mut a = FieldSet::new();
        a.insert(&path(&["f:spec", "f:replicas"]));
        a.insert(&path(&["f:spec", "f:paused"]));
        let mut b = FieldSet::new();
        b.insert(&path(&["f:spec", "f:replicas"]));
        b.insert(&path(&["f:metadata", "f:labels", "f:app"]));
        assert_eq!(a.intersection(&b).paths(), vec![path(&["f:spec", "f:replicas"])]);
        assert_eq!(a.difference(&b).paths(), vec![path(&["f:spec", "f:paused"])]);
        assert_eq!(a.union(&b).paths().len(), 3);
        assert!(a.difference(&a).is_empty());
        assert_eq!(
            a.union(&b).without_prefix(&path(&["f:spec"])).paths(),
            vec![path(&["f:metadata", "f:labels", "f:app"])]
        );
    }
}
