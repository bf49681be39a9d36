//! Who owns which fields (`metadata.managedFields`), and the two operations that change it as
//! upstream's field manager does: an *update* (create, replace, any patch) gives its manager
//! the fields it changed and takes them from everyone else; an *apply* (server-side apply)
//! merges a configuration, conflicts where it would change fields others own, and removes the
//! fields its manager applied before and no longer does, unless someone else owns them.

use std::borrow::Cow;

use serde_json::{Value, json};

use super::fieldpath::fields_v1_contains;
use super::fieldpath::{FieldSet, Path, PathElement, display};
use super::typed::{self, Comparison, compare, field_set, merge};
use super::types::T;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `managedFields` entry.
#[derive(Clone, Debug, PartialEq)]
pub struct Manager {
    pub name: String,
    pub operation: Operation,
    pub api_version: String,
    /// RFC 3339, seconds.
    pub time: String,
    /// `""` for the main resource.
    pub subresource: String,
    pub fields: FieldSet,
}

impl Manager {
    /// Upstream's manager identity: appliers by name and subresource, updaters by version too.
    fn same(&self, other: &Manager) -> bool {
        self.name == other.name
            && self.operation == other.operation
            && self.subresource == other.subresource
            && (self.operation == Operation::Apply || self.api_version == other.api_version)
    }

    /// How upstream names it in a conflict.
    fn describe(&self) -> String {
        let mut s = format!("{:?}", self.name);
        if !self.subresource.is_empty() {
            s = format!("{s} with subresource {:?}", self.subresource);
        }
        if self.operation == Operation::Update {
            s = format!("{s} using {}", self.api_version);
        }
        s
    }
}

/// Fields no manager owns: identity and bookkeeping the server sets (upstream's stripped
/// metadata).
const IGNORED: [&[&str]; 10] = [
    &["apiVersion"],
    &["kind"],
    &["metadata", "name"],
    &["metadata", "namespace"],
    &["metadata", "creationTimestamp"],
    &["metadata", "selfLink"],
    &["metadata", "uid"],
    &["metadata", "generation"],
    &["metadata", "managedFields"],
    &["metadata", "resourceVersion"],
];

/// What one write is: by whom, through which version and subresource, when, on what type.
#[derive(Clone, Copy, Debug)]
pub struct Write<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    /// `""` for the main resource; `status` for the status subresource.
    pub subresource: &'a str,
    pub time: &'a str,
    pub ty: T,
    /// Whether the kind has a status subresource: then the main resource's writes own no
    /// status and status writes own nothing else (upstream's reset fields).
    pub split_status: bool,
}

impl Write<'_> {
    /// `set` without what this write cannot own.
    fn ownable(&self, set: &FieldSet) -> FieldSet {
        let status = PathElement::field("status");
        let status_only = self.split_status && self.subresource == "status";
        let mut out = if status_only { set.only_under(&status) } else { set.clone() };
        for p in IGNORED {
            let path: Path = p.iter().map(|f| PathElement::field(f)).collect();
            out.remove_prefix(&path);
        }
        if self.split_status && !status_only {
            out.remove_prefix(&[status]);
        }
        out
    }

    /// Whether a stored `managedFields` entry is this write's manager's `Update` entry.
    fn is_entry_of(&self, e: &Value) -> bool {
        e["manager"].as_str() == Some(self.manager)
            && e["operation"] == "Update"
            && e["apiVersion"].as_str() == Some(self.api_version)
            && e["subresource"].as_str().unwrap_or_default() == self.subresource
    }

    fn entry(&self, operation: Operation, fields: FieldSet) -> Manager {
        Manager {
            name: self.manager.to_string(),
            operation,
            api_version: self.api_version.to_string(),
            time: self.time.to_string(),
            subresource: self.subresource.to_string(),
            fields,
        }
    }
}

/// Whether an update changes nobody's fields (the common case of a controller or kubelet
/// writing the fields it already owns alone), read from `managedFields` as stored, without
/// decoding it: nothing ownable removed, and every ownable field added or changed already
/// owned by the writer's entry and by no other. Then the managed fields stay as they are.
pub fn update_keeps_ownership(managed: &Value, c: &Comparison, write: &Write<'_>) -> bool {
    let mine = |e: &Value| write.is_entry_of(e);
    let entries = managed.as_array().map(Vec::as_slice).unwrap_or_default();
    let own = entries.iter().find(|e| mine(e));
    if !write.ownable(&c.removed).is_empty() {
        return false;
    }
    let changed = write.ownable(&c.modified.union(&c.added));
    let paths = changed.paths();
    if paths.is_empty() {
        return true;
    }
    let Some(own) = own else { return false };
    fn doc(e: &Value) -> Cow<'_, Value> {
        fields_document(e).ok().flatten().unwrap_or(Cow::Owned(Value::Null))
    }
    let own = doc(own);
    let others: Vec<Cow<'_, Value>> = entries.iter().filter(|e| !mine(e)).map(doc).collect();
    paths.iter().all(|p| fields_v1_contains(&own, p) && others.iter().all(|o| !fields_v1_contains(o, p)))
}

/// Records an update in `managedFields` as stored (each `fieldsV1` packed as its text, or as
/// JSON), packed, as [`ManagedFields::update_with`] would, but decoding only the entries the
/// write can touch: the writer's own, and those whose sets name a top-level field the write
/// changed or removed. The others cannot change and are kept as they are.
pub fn update_stored(
    managed: &Value,
    c: &Comparison,
    write: &Write<'_>,
) -> Result<Value, ManagedFieldsError> {
    let entries = managed.as_array().map(Vec::as_slice).unwrap_or_default();
    let changed = write.ownable(&c.added.union(&c.modified).union(&c.removed));
    let tops: Vec<String> = changed.top_elements().map(|e| Value::String(e.encode()).to_string()).collect();
    let mine = |e: &Value| write.is_entry_of(e);
    let touches = |e: &Value| {
        let text = match e.get("fieldsV1") {
            Some(Value::String(text)) => Cow::Borrowed(text.as_str()),
            Some(v) => Cow::Owned(v.to_string()),
            None => return false,
        };
        tops.iter().any(|t| text.contains(t.as_str()))
    };
    let (touched, kept): (Vec<&Value>, Vec<&Value>) = entries.iter().partition(|e| mine(e) || touches(e));
    let mut decoded = ManagedFields::decode(&Value::Array(touched.into_iter().cloned().collect()))?;
    decoded.update_with(c, write);
    let mut out: Vec<Value> = match decoded.encode_packed() {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    out.extend(kept.into_iter().cloned());
    out.sort_by(|a, b| entry_order(a).cmp(&entry_order(b)));
    Ok(Value::Array(out))
}

/// Upstream's order of entries: appliers first, then by time, manager, version and
/// subresource.
fn entry_order(e: &Value) -> (&str, &str, &str, &str, &str) {
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
    (s("operation"), s("time"), s("manager"), s("apiVersion"), s("subresource"))
}

/// An entry's `fieldsV1` document, whether it is kept as JSON or (as a server may keep it) as
/// its JSON text; `None` when it has none.
fn fields_document(entry: &Value) -> Result<Option<Cow<'_, Value>>, String> {
    match entry.get("fieldsV1") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => {
            serde_json::from_str(text).map(|v| Some(Cow::Owned(v))).map_err(|e| e.to_string())
        }
        Some(v) => Ok(Some(Cow::Borrowed(v))),
    }
}

/// An object's managers.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ManagedFields(pub Vec<Manager>);

/// `metadata.managedFields` that cannot be read: where, and what is wrong (`[0].operation: …`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ManagedFieldsError(pub String);

impl ManagedFields {
    /// Reads `metadata.managedFields` (absent or null is none).
    pub fn decode(v: &Value) -> Result<ManagedFields, ManagedFieldsError> {
        Self::decoded(v).map_err(ManagedFieldsError)
    }

    fn decoded(v: &Value) -> Result<ManagedFields, String> {
        let Some(entries) = v.as_array() else {
            return if v.is_null() { Ok(ManagedFields::default()) } else { Err("must be a list".into()) };
        };
        let mut out = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            let operation = match e["operation"].as_str() {
                Some("Apply") => Operation::Apply,
                Some("Update") => Operation::Update,
                other => return Err(format!("[{i}].operation: must be Apply or Update, not {other:?}")),
            };
            if e["fieldsType"].as_str().is_some_and(|t| t != "FieldsV1") {
                return Err(format!("[{i}].fieldsType: must be FieldsV1"));
            }
            let fields = match fields_document(e).map_err(|m| format!("[{i}].fieldsV1: {m}"))? {
                Some(f) => FieldSet::from_fields_v1(&f).map_err(|m| format!("[{i}].fieldsV1: {m}"))?,
                None => FieldSet::new(),
            };
            out.push(Manager {
                name: s("manager"),
                operation,
                api_version: s("apiVersion"),
                time: s("time"),
                subresource: s("subresource"),
                fields,
            });
        }
        Ok(ManagedFields(out))
    }

    /// `metadata.managedFields`, in upstream's order (appliers first, then by time, manager,
    /// version and subresource).
    pub fn encode(&self) -> Value {
        self.encode_as(FieldSet::to_fields_v1)
    }

    /// The same with each `fieldsV1` as its JSON text (one string, as a server may keep it).
    pub fn encode_packed(&self) -> Value {
        self.encode_as(|f| Value::String(f.to_fields_v1_text()))
    }

    fn encode_as(&self, fields_v1: impl Fn(&FieldSet) -> Value) -> Value {
        let mut entries: Vec<Value> = self
            .0
            .iter()
            .filter(|m| !m.fields.is_empty())
            .map(|m| {
                let mut e = json!({"manager": m.name, "operation": m.operation.as_str(),
                                   "apiVersion": m.api_version, "time": m.time,
                                   "fieldsType": "FieldsV1", "fieldsV1": fields_v1(&m.fields)});
                if !m.subresource.is_empty() {
                    e["subresource"] = json!(m.subresource);
                }
                e
            })
            .collect();
        entries.sort_by(|a, b| entry_order(a).cmp(&entry_order(b)));
        Value::Array(entries)
    }

    fn position(&self, m: &Manager) -> Option<usize> {
        self.0.iter().position(|x| x.same(m))
    }

    /// Records an update from `old` to `new` by `write`'s manager (upstream `Updater.Update`):
    /// it gains what was added or changed and loses what was removed; everyone else loses all
    /// three. A manager's time moves only when its fields do.
    pub fn update(&mut self, old: &Value, new: &Value, write: &Write<'_>) {
        self.update_with(&compare(old, new, write.ty), write);
    }

    /// [`ManagedFields::update`] with the comparison already made.
    pub fn update_with(&mut self, c: &Comparison, write: &Write<'_>) {
        let (added, modified, removed) =
            (write.ownable(&c.added), write.ownable(&c.modified), write.ownable(&c.removed));
        let me = write.entry(Operation::Update, FieldSet::new());
        let changed = if modified.is_empty() { added } else { modified.union(&added) };
        for m in &mut self.0 {
            if !m.same(&me) {
                m.fields = m.fields.difference(&changed).difference(&removed);
            }
        }
        let mine = match self.position(&me) {
            Some(i) => self.0[i].fields.difference(&removed).union(&changed),
            None => changed,
        };
        self.set_own(me, mine, write.time);
        self.0.retain(|m| !m.fields.is_empty());
    }

    /// Sets a manager's fields, its time moving only when they change.
    fn set_own(&mut self, mut me: Manager, fields: FieldSet, time: &str) {
        match self.position(&me) {
            Some(i) => {
                let entry = &mut self.0[i];
                if entry.fields != fields {
                    entry.time = time.to_string();
                    entry.fields = fields;
                }
                entry.api_version = me.api_version;
            }
            None => {
                me.fields = fields;
                self.0.push(me);
            }
        }
    }

    /// Applies `config` to `live` as `write`'s manager (upstream `Updater.Apply`): merged, the
    /// fields it applied before and no longer does removed unless someone else owns them, then
    /// checked like an update — a field another manager owns that the result adds or changes is
    /// a conflict, taken over instead with `force`. The applier owns exactly what it sent.
    pub fn apply(
        &mut self,
        live: &Value,
        config: &Value,
        write: &Write<'_>,
        force: bool,
    ) -> Result<Value, Conflicts> {
        let applied = write.ownable(&field_set(config, write.ty));
        let merged = merge(live, config, write.ty);
        let me = write.entry(Operation::Apply, FieldSet::new());
        let before = self.position(&me).map(|i| self.0[i].fields.clone()).unwrap_or_default();
        let others =
            self.0.iter().filter(|m| !m.same(&me)).fold(FieldSet::new(), |acc, m| acc.union(&m.fields));
        // A map or list the applier no longer names as a whole stays while anyone still owns
        // something in it (upstream adds such owned items back after pruning).
        let owned = applied.union(&others).paths();
        let mut dropped = FieldSet::new();
        for p in before.difference(&applied).difference(&others).paths() {
            if !owned.iter().any(|q| q.len() > p.len() && q.starts_with(&p)) {
                dropped.insert(&p);
            }
        }
        let result = typed::remove(&merged, &dropped, write.ty);

        let c = compare(live, &result, write.ty);
        let changed = write.ownable(&c.modified.union(&c.added));
        let removed = write.ownable(&c.removed);
        let mut conflicts = Vec::new();
        for m in self.0.iter().filter(|m| !m.same(&me)) {
            for path in m.fields.intersection(&changed).paths() {
                conflicts.push(Conflict { manager: m.describe(), path });
            }
        }
        if !conflicts.is_empty() && !force {
            return Err(Conflicts(conflicts));
        }
        for m in &mut self.0 {
            if !m.same(&me) {
                m.fields = m.fields.difference(&changed).difference(&removed);
            }
        }
        self.set_own(me, applied, write.time);
        self.0.retain(|m| !m.fields.is_empty());
        Ok(result)
    }
}

/// A field an apply would change that another manager owns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// The manager as upstream names it (`"kubectl-client-side-apply" using apps/v1`).
    pub manager: String,
    pub path: Path,
}

/// An apply's conflicts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflicts(pub Vec<Conflict>);

impl Conflicts {
    /// Upstream's message: `Apply failed with 1 conflict: conflict with "m": .spec.x`, or, for
    /// several, each manager's fields listed under it.
    pub fn message(&self) -> String {
        if let [one] = self.0.as_slice() {
            return format!(
                "Apply failed with 1 conflict: conflict with {}: {}",
                one.manager,
                display(&one.path)
            );
        }
        let mut managers: Vec<&str> = self.0.iter().map(|c| c.manager.as_str()).collect();
        managers.sort();
        managers.dedup();
        let mut lines = Vec::new();
        for m in managers {
            lines.push(format!("conflicts with {m}:"));
            for c in self.0.iter().filter(|c| c.manager == m) {
                lines.push(format!("- {}", display(&c.path)));
            }
        }
        format!("Apply failed with {} conflicts: {}", self.0.len(), lines.join("\n"))
    }

    /// The `Status` causes: one `FieldManagerConflict` per field.
    pub fn causes(&self) -> Vec<Value> {
        self.0
            .iter()
            .map(|c| {
                json!({"reason": "FieldManagerConflict", "message": format!("conflict with {}", c.manager),
                       "field": display(&c.path)})
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::fieldpath::path;
    use super::super::types::of_kind;
    use super::*;

    fn write<'a>(manager: &'a str, time: &'a str) -> Write<'a> {
        Write {
            manager,
            api_version: "apps/v1",
            subresource: "",
            time,
            ty: of_kind("apps", "v1", "DaemonSet"),
            split_status: true,
        }
    }

    fn ds(image: &str, extra_label: Option<&str>) -> Value {
        let mut v = json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "d", "labels": {"app": "d"}},
               "spec": {"selector": {"matchLabels": {"app": "d"}},
                        "template": {"metadata": {"labels": {"app": "d"}},
                                     "spec": {"containers": [{"name": "web", "image": image}]}}}});
        if let Some(l) = extra_label {
            v["metadata"]["labels"][l] = json!("x");
        }
        v
    }

    const IMAGE: [&str; 6] =
        ["f:spec", "f:template", "f:spec", "f:containers", "k:{\"name\":\"web\"}", "f:image"];

    #[test]
    fn an_apply_owns_what_it_sends_and_removes_what_it_stops_sending() {
        let mut mf = ManagedFields::default();
        let created =
            mf.apply(&json!({}), &ds("nginx:1", Some("tier")), &write("kubectl", "t1"), false).unwrap();
        assert_eq!(mf.0.len(), 1);
        assert!(mf.0[0].fields.contains(&path(&IMAGE)));
        assert!(!mf.0[0].fields.contains(&path(&["f:metadata", "f:name"])), "identity is nobody's");
        // The label is dropped from the configuration: it goes.
        let same = mf.apply(&created, &ds("nginx:1", Some("tier")), &write("kubectl", "t2"), false).unwrap();
        assert_eq!(same, created);
        assert_eq!(mf.0[0].time, "t1", "nothing changed: the time stays");
        let again = mf.apply(&created, &ds("nginx:1", None), &write("kubectl", "t2"), false).unwrap();
        assert!(again["metadata"]["labels"].get("tier").is_none(), "{again}");
        assert_eq!(mf.0[0].time, "t2");
        let encoded = mf.encode();
        assert_eq!(encoded[0]["operation"], "Apply");
        assert_eq!(ManagedFields::decode(&encoded).unwrap(), mf);
    }

    #[test]
    fn an_update_takes_fields_and_an_apply_then_conflicts_unless_forced() {
        let mut mf = ManagedFields::default();
        let live = mf.apply(&json!({}), &ds("nginx:1", None), &write("kubectl", "t1"), false).unwrap();
        let edited = ds("nginx:2", None);
        mf.update(&live, &edited, &write("kubectl-edit", "t2"));
        let editor = mf.0.iter().find(|m| m.name == "kubectl-edit").expect("an Update entry");
        assert_eq!(editor.fields.paths(), vec![path(&IMAGE)]);
        assert!(!mf.0.iter().find(|m| m.name == "kubectl").unwrap().fields.contains(&path(&IMAGE)));

        // Applying the old image again changes a field the editor owns.
        let err =
            mf.clone().apply(&edited, &ds("nginx:1", None), &write("kubectl", "t3"), false).unwrap_err();
        assert_eq!(
            err.message(),
            "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.template.spec.containers[name=\"web\"].image"
        );
        assert_eq!(err.causes()[0]["reason"], "FieldManagerConflict");
        // The same value as live is shared, not a conflict.
        let mut shared = mf.clone();
        shared.apply(&edited, &ds("nginx:2", None), &write("kubectl", "t3"), false).unwrap();
        assert!(shared.0.iter().all(|m| m.fields.contains(&path(&IMAGE))));
        // Forced, the applier takes it over.
        let forced = mf.apply(&edited, &ds("nginx:1", None), &write("kubectl", "t3"), true).unwrap();
        assert_eq!(forced["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1");
        assert!(mf.0.iter().all(|m| m.name != "kubectl-edit"), "the editor owned nothing else: {mf:?}");
    }

    #[test]
    fn a_field_another_manager_owns_stays_when_the_applier_drops_it() {
        let mut mf = ManagedFields::default();
        let live = mf.apply(&json!({}), &ds("nginx:1", Some("tier")), &write("a", "t1"), false).unwrap();
        mf.apply(&live, &ds("nginx:1", Some("tier")), &write("b", "t2"), false).unwrap();
        let after = mf.apply(&live, &ds("nginx:1", None), &write("a", "t3"), false).unwrap();
        assert_eq!(after["metadata"]["labels"]["tier"], "x", "b still applies it");
    }

    #[test]
    fn status_writes_own_only_status() {
        let mut mf = ManagedFields::default();
        let old = ds("nginx:1", None);
        let mut new = old.clone();
        new["status"] = json!({"numberReady": 2});
        new["spec"]["minReadySeconds"] = json!(5);
        let mut w = write("controller", "t1");
        w.subresource = "status";
        mf.update(&old, &new, &w);
        assert_eq!(mf.0[0].fields.paths(), vec![path(&["f:status", "f:numberReady"])]);
        assert_eq!(mf.encode()[0]["subresource"], "status");
    }

    #[test]
    fn sets_and_granular_maps_merge_atomic_values_replace() {
        // Two appliers of one object, as the upstream documentation's merge strategies show.
        let mut mf = ManagedFields::default();
        let a = json!({"metadata": {"name": "d", "finalizers": ["a.example/x"], "labels": {"team": "a"}},
                       "spec": {"selector": {"matchLabels": {"app": "d"}}}});
        let live = mf.apply(&json!({}), &a, &write("a", "t1"), false).unwrap();
        let b = json!({"metadata": {"name": "d", "finalizers": ["b.example/y"], "labels": {"owner": "b"}}});
        let live = mf.apply(&live, &b, &write("b", "t2"), false).unwrap();
        assert_eq!(live["metadata"]["finalizers"], json!(["a.example/x", "b.example/y"]), "a set merges");
        assert_eq!(live["metadata"]["labels"], json!({"team": "a", "owner": "b"}), "a granular map merges");
        // An atomic value another manager set is a conflict, not a merge.
        let c = json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "other"}}}});
        let err = mf.clone().apply(&live, &c, &write("c", "t3"), false).unwrap_err();
        assert_eq!(err.0[0].path, path(&["f:spec", "f:selector"]));
        // b stops applying its finalizer: it goes; a's stays.
        let b2 = json!({"metadata": {"name": "d", "labels": {"owner": "b"}}});
        let live = mf.apply(&live, &b2, &write("b", "t4"), false).unwrap();
        assert_eq!(live["metadata"]["finalizers"], json!(["a.example/x"]));
    }

    #[test]
    fn an_update_of_ones_own_fields_keeps_the_managed_fields_as_stored() {
        let mut mf = ManagedFields::default();
        let old = ds("nginx:1", None);
        let mut w = write("kubelet", "t1");
        w.subresource = "status";
        let mut first = old.clone();
        first["status"] = json!({"numberReady": 1});
        mf.update(&old, &first, &w);
        let stored = mf.encode();
        let mut second = first.clone();
        second["status"]["numberReady"] = json!(2);
        let c = compare(&first, &second, w.ty);
        assert!(update_keeps_ownership(&stored, &c, &w), "the kubelet owns numberReady alone");
        let mut third = second.clone();
        third["status"]["numberAvailable"] = json!(2);
        let c = compare(&second, &third, w.ty);
        assert!(!update_keeps_ownership(&stored, &c, &w), "a new field changes its set");
        let mut other = write("other", "t2");
        other.subresource = "status";
        assert!(!update_keeps_ownership(&stored, &compare(&first, &second, w.ty), &other));
    }

    #[test]
    fn an_update_of_the_stored_entries_decodes_only_what_it_touches_and_agrees_with_the_full_one() {
        // A creator owning the spec and labels, a status writer, then writes of each kind.
        let mut mf = ManagedFields::default();
        let v0 = ds("nginx:1", None);
        mf.update(&json!({}), &v0, &write("creator", "t0"));
        let mut status_writer = write("kubelet", "t1");
        status_writer.subresource = "status";
        let mut v1 = v0.clone();
        v1["status"] = json!({"numberReady": 1});
        mf.update(&v0, &v1, &status_writer);
        let stored = mf.encode_packed();
        let mut v2 = v1.clone();
        v2["metadata"]["labels"]["tier"] = json!("x");
        v2["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
        let mut v3 = v1.clone();
        v3["status"] = json!({"numberReady": 2, "numberAvailable": 2});
        let cases = [
            (v1.clone(), v2.clone(), write("editor", "t2")),
            (v1.clone(), v2, write("creator", "t2")),
            (v1.clone(), v3, status_writer),
            (v1.clone(), v0.clone(), write("remover", "t2")),
        ];
        for (old, new, w) in cases {
            let c = compare(&old, &new, w.ty);
            let mut full = ManagedFields::decode(&stored).unwrap();
            full.update_with(&c, &w);
            assert_eq!(update_stored(&stored, &c, &w).unwrap(), full.encode_packed(), "{}", w.manager);
        }
        // A status write leaves the creator's entry as stored: the very same text.
        let mut v4 = v1.clone();
        v4["status"]["numberReady"] = json!(3);
        let other_status = Write { manager: "other", ..status_writer };
        let out = update_stored(&stored, &compare(&v1, &v4, other_status.ty), &other_status).unwrap();
        let creator = |m: &Value| m.as_array().unwrap().iter().find(|e| e["manager"] == "creator").cloned();
        assert_eq!(creator(&out), creator(&stored));
    }
}
