//! The write verbs with upstream's object semantics — create, update, patch, delete — and the
//! admission rules that need the store (namespace lifecycle here; each kind's own in its room). Synchronous: each
//! call is one store write; the HTTP layer runs it off the async runtime.

use std::sync::Arc;

use apimachinery::duration::format_time;
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::field_manager;
use crate::kinds::Deletion;
use crate::kinds::custom_resource;
use crate::kinds::customresourcedefinition::CLEANUP_FINALIZER;
use crate::resources::{self, Catalog, ResourceType};
use crate::storage::{Mutation, Object, ObjectKey, Pending, Snapshot, Store, Stored};
use crate::strategy::{self, FieldValidation};

/// Upstream's name suffix alphabet for `generateName` (no vowels, no ambiguous characters).
const NAME_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The body of a PATCH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    /// Server-side apply: the body is a configuration, not a patch.
    Apply,
}

impl PatchType {
    pub fn from_content_type(ct: &str) -> Option<Self> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" => Some(PatchType::Apply),
            _ => None,
        }
    }
}

/// Who writes (the field manager), whether for real (`dryRun=All` writes nothing), and what the
/// object to be stored must pass besides validation (RBAC's escalation check).
#[derive(Clone, Copy)]
pub struct Writer<'a> {
    pub manager: &'a str,
    pub dry_run: bool,
    pub guard: Option<&'a crate::authorization::escalation::Guard>,
}

/// A server-side apply's configuration, and whether it takes fields others own.
#[derive(Clone, Copy, Debug)]
pub struct Applied<'a> {
    pub config: &'a Value,
    pub force: bool,
}

/// A PATCH request's body and how to read it.
#[derive(Clone, Debug)]
pub struct Patch {
    pub patch_type: PatchType,
    pub body: Value,
    /// How unknown fields in the patched object are treated.
    pub field_validation: FieldValidation,
}

/// `DeleteOptions`, from the body or the query.
#[derive(Clone, Debug, Default)]
pub struct DeleteOptions {
    pub grace_period_seconds: Option<i64>,
    pub propagation_policy: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_resource_version: Option<String>,
    /// `dryRun=All`: decide and answer as if deleted, change nothing.
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn from_json(v: &Value) -> ApiResult<Self> {
        let mut o = DeleteOptions {
            grace_period_seconds: v.get("gracePeriodSeconds").and_then(Value::as_i64),
            propagation_policy: v.get("propagationPolicy").and_then(Value::as_str).map(str::to_string),
            precondition_uid: v["preconditions"]["uid"].as_str().map(str::to_string),
            precondition_resource_version: v["preconditions"]["resourceVersion"].as_str().map(str::to_string),
            dry_run: false,
        };
        if let Some(values) = v.get("dryRun") {
            let values: Vec<String> = values
                .as_array()
                .map(|a| a.iter().map(|x| x.as_str().unwrap_or_default().to_string()).collect())
                .unwrap_or_default();
            o.dry_run = parse_dry_run("DeleteOptions", &values)?;
        }
        if o.propagation_policy.is_none() {
            match v.get("orphanDependents").and_then(Value::as_bool) {
                Some(true) => o.propagation_policy = Some("Orphan".into()),
                Some(false) => o.propagation_policy = Some("Background".into()),
                None => {}
            }
        }
        if let Some(p) = &o.propagation_policy
            && !["Orphan", "Background", "Foreground"].contains(&p.as_str())
        {
            return Err(ApiError::bad_request(format!(
                "propagationPolicy: Unsupported value: \"{p}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
            )));
        }
        Ok(o)
    }
}

/// What a DELETE did.
#[derive(Debug)]
pub enum DeleteOutcome {
    /// The object is gone; its last state.
    Deleted(Object),
    /// The object stays until finalizers are removed or its grace period ends.
    Pending(Object),
}

pub struct Registry {
    pub store: Arc<Store>,
    /// What this server serves.
    pub catalog: Arc<Catalog>,
}

fn generate_name(prefix: &str) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let suffix: String =
        (0..5).map(|_| NAME_ALPHABET[rng.random_range(0..NAME_ALPHABET.len())] as char).collect();
    format!("{prefix}{suffix}")
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj["metadata"][field].as_str().unwrap_or_default()
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn namespaces() -> &'static ResourceType {
    resources::builtin("", "v1", "namespaces")
}

fn definitions() -> &'static ResourceType {
    resources::builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions")
}

/// The object a single-put write stored.
fn the_object(stored: Stored) -> ApiResult<Object> {
    stored.into_iter().next().flatten().ok_or_else(|| ApiError::internal("the write stored nothing"))
}

/// Reads `dryRun` (upstream's only value is `All`) as upstream validates it, naming the options
/// kind in its `Invalid` Status (`CreateOptions`, `UpdateOptions`, `PatchOptions`,
/// `DeleteOptions`).
pub fn parse_dry_run(options_kind: &str, values: &[String]) -> ApiResult<bool> {
    if values.iter().all(|v| v == "All") {
        return Ok(!values.is_empty());
    }
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    let message = format!(
        "{options_kind}.meta.k8s.io \"\" is invalid: dryRun: Unsupported value: []string{{{}}}: supported values: \"All\"",
        quoted.join(", ")
    );
    Err(ApiError::new(422, "Invalid", message))
}

impl Registry {
    /// A registry over `store`, serving the built-in resources and what its stored
    /// CustomResourceDefinitions define.
    pub fn new(store: Arc<Store>) -> Self {
        let registry = Registry { store, catalog: Arc::new(Catalog::new()) };
        registry.serve_definitions();
        registry
    }

    /// Serves what the stored CustomResourceDefinitions define (called after each write to
    /// one): custom groups in name order, each group's versions in upstream's priority order,
    /// so the first is the preferred one.
    pub fn serve_definitions(&self) {
        let (definitions, _) = self.store.list(definitions(), None);
        let mut custom: Vec<&'static ResourceType> =
            definitions.iter().flat_map(|crd| custom_resource::served(&crd.value())).collect();
        custom.sort_by(|a, b| {
            a.group
                .cmp(b.group)
                .then_with(|| apimachinery::version::compare(a.version, b.version))
                .then_with(|| a.plural.cmp(b.plural))
        });
        self.catalog.serve_custom(custom);
    }

    /// Runs a write's decision, staging its mutations unless `dry_run`.
    fn write<T>(
        &self,
        dry_run: bool,
        decide: impl FnOnce(&Snapshot<'_>) -> ApiResult<(Vec<Mutation>, T)>,
    ) -> ApiResult<Pending<(Stored, T)>> {
        if dry_run { self.store.dry_run(decide) } else { self.store.write(decide) }
    }

    /// Creates `obj` (already decoded) in `namespace`, by `manager`.
    pub fn create(
        &self,
        rt: &'static ResourceType,
        namespace: Option<&str>,
        mut obj: Value,
        now: Timestamp,
        by: Writer<'_>,
    ) -> ApiResult<Pending<Object>> {
        if rt.namespaced {
            let ns = namespace.unwrap_or_default();
            match obj["metadata"]["namespace"].as_str() {
                Some(body_ns) if !body_ns.is_empty() && body_ns != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => obj["metadata"]["namespace"] = json!(ns),
            }
        } else if let Some(m) = obj["metadata"].as_object_mut() {
            m.remove("namespace");
        }
        let meta =
            obj["metadata"].as_object_mut().ok_or_else(|| ApiError::bad_request("metadata is required"))?;
        for server_field in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"]
        {
            meta.remove(server_field);
        }
        meta.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
        meta.insert("creationTimestamp".into(), json!(format_time(now)));
        let generate = meta_str(&obj, "name").is_empty() && !meta_str(&obj, "generateName").is_empty();
        if generate {
            // Generated before the kind's preparation, which may use the name (a Job labels its
            // pods with it); chosen again under the lock only if it is taken.
            obj["metadata"]["name"] = json!(generate_name(meta_str(&obj, "generateName")));
        }
        rt.rules.prepare_for_create(&mut obj);
        strategy::set_defaults(rt, &mut obj)?;
        let errors = strategy::validate_create(rt, &obj)?;
        if !errors.is_empty() {
            let name = if generate { meta_str(&obj, "generateName") } else { meta_str(&obj, "name") };
            return Err(ApiError::invalid(rt, name, &errors));
        }
        field_manager::record_update(rt, None, &mut obj, by.manager, "")?;
        let pending = self.write(by.dry_run, |snap| {
            let ns = meta_str(&obj, "namespace").to_string();
            if generate {
                let prefix = meta_str(&obj, "generateName").to_string();
                while snap.get(rt, &ns, meta_str(&obj, "name")).is_some() {
                    obj["metadata"]["name"] = json!(generate_name(&prefix));
                }
            }
            let name = meta_str(&obj, "name").to_string();
            if rt.namespaced {
                admit_namespace(snap, rt, &ns, &name)?;
            }
            rt.rules.admit(rt, snap, &mut obj, None)?;
            if let Some(guard) = by.guard {
                guard(&obj)?;
            }
            if snap.get(rt, &ns, &name).is_some() {
                return Err(ApiError::already_exists(rt, &name));
            }
            let object = if rt.rules.converts() { rt.rules.stored_form(obj) } else { obj };
            Ok((vec![Mutation::Put { resource: rt, object }], ()))
        })?;
        pending.and_then(|(stored, ())| the_object(stored))
    }

    /// Replaces an object (PUT), with optimistic concurrency on `metadata.resourceVersion`.
    pub fn update(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        new: Value,
        status_only: bool,
        by: Writer<'_>,
    ) -> ApiResult<Pending<Object>> {
        if meta_str(&new, "name") != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&new, "name")
            )));
        }
        self.modify(
            rt,
            namespace,
            name,
            |old| {
                let rv = meta_str(&new, "resourceVersion");
                if !rv.is_empty() && rv != meta_str(old, "resourceVersion") {
                    return Err(ApiError::stale(rt, name));
                }
                Ok(new)
            },
            status_only,
            by,
        )
    }

    /// Applies a patch of the given type.
    pub fn patch(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        patch: &Patch,
        status_only: bool,
        by: Writer<'_>,
    ) -> ApiResult<Pending<Object>> {
        self.modify(
            rt,
            namespace,
            name,
            |old| {
                let patched = apply_patch(rt, old, patch.patch_type, &patch.body)?;
                let rv = meta_str(&patched, "resourceVersion");
                if !rv.is_empty() && rv != meta_str(old, "resourceVersion") {
                    return Err(ApiError::stale(rt, name));
                }
                decode_patched(rt, patched, patch)
            },
            status_only,
            by,
        )
    }

    /// Server-side apply of `config` (decoded) by `manager`: merged into the object, or the
    /// object created from it when there is none. Returns the stored object and whether it
    /// was created.
    pub fn apply(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        applied: Applied<'_>,
        status_only: bool,
        by: Writer<'_>,
    ) -> ApiResult<Pending<(Object, bool)>> {
        let Applied { config, force } = applied;
        if meta_str(config, "name") != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(config, "name")
            )));
        }
        let ns = if rt.namespaced { namespace } else { "" };
        let subresource = if status_only { "status" } else { "" };
        if self.store.get(rt, ns, name).is_none() && !status_only {
            let created = field_manager::apply(rt, None, config, by.manager, "", force)?;
            match self.create(rt, Some(ns), created, Timestamp::now(), by) {
                Ok(pending) => return pending.and_then(|o| Ok((o, true))),
                // Created meanwhile: applied to it below.
                Err(e) if e.reason == "AlreadyExists" => {}
                Err(e) => return Err(e),
            }
        }
        let pending = self.modify(
            rt,
            ns,
            name,
            |live| field_manager::apply(rt, Some(live), config, by.manager, subresource, force),
            status_only,
            by,
        )?;
        pending.and_then(|o| Ok((o, false)))
    }

    /// Changes an object through its `scale` subresource: `change` turns its current Scale
    /// into the one asked for, whose replicas the object then takes (an update of the main
    /// resource otherwise, generation included). Returns the updated object.
    pub fn update_scale(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        change: impl FnOnce(&Value) -> ApiResult<Value>,
        by: Writer<'_>,
    ) -> ApiResult<Pending<Object>> {
        let paths = rt.rules.scale().ok_or_else(|| ApiError::not_found(rt, name))?;
        self.modify(rt, namespace, name, |old| paths.apply(old, &change(&paths.scale_of(old))?), false, by)
    }

    /// The shared path of update and patch: computes the new object from the current one under
    /// the writer lock, applies the strategy, validates, and stores it (or deletes it, when the
    /// last finalizer of an object being deleted goes).
    fn modify(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        compute: impl FnOnce(&Value) -> ApiResult<Value>,
        status_only: bool,
        by: Writer<'_>,
    ) -> ApiResult<Pending<Object>> {
        let ns = if rt.namespaced { namespace } else { "" };
        let pending = self.write(by.dry_run, |snap| {
            let stored = snap.get(rt, ns, name).ok_or_else(|| ApiError::not_found(rt, name))?;
            let stored_value = stored.value();
            let served = rt.rules.converts().then(|| rt.rules.served_form(rt, &stored_value));
            let old = served.as_ref().unwrap_or(&stored_value);
            let mut new = compute(old)?;
            if rt.namespaced {
                new["metadata"]["namespace"] = json!(ns);
            }
            // Field ownership is the request's: recorded before the strategy changes anything
            // itself (a DaemonSet's template-generation annotation is no one's), as upstream's
            // field manager runs before its registry; a status write's is its status.
            if status_only {
                strategy::prepare_for_status_update(&mut new, old);
                field_manager::record_update(rt, Some(old), &mut new, by.manager, "status")?;
            } else {
                field_manager::record_update(rt, Some(old), &mut new, by.manager, "")?;
                strategy::prepare_for_update(rt, &mut new, old);
            }
            if !status_only || rt.rules.defaults_read_status() {
                strategy::set_defaults(rt, &mut new)?;
            }
            let errors = strategy::validate_update(rt, &new, old, status_only)?;
            if !errors.is_empty() {
                return Err(ApiError::invalid(rt, name, &errors));
            }
            if !status_only {
                rt.rules.admit(rt, snap, &mut new, Some(old))?;
                if let Some(guard) = by.guard {
                    guard(&new)?;
                }
            }
            if rt.rules.converts() {
                new = rt.rules.stored_form(new);
            }
            new["metadata"]["resourceVersion"] = stored_value["metadata"]["resourceVersion"].clone();
            // The same resourceVersion now, so equal means the write changes nothing.
            if new == stored_value {
                return Ok((Vec::new(), Some(stored)));
            }
            let key: ObjectKey = (ns.to_string(), name.to_string());
            if old["metadata"].get("deletionTimestamp").is_some()
                && finalizers(&new).is_empty()
                && !rt.rules.awaits_removal(&new)
            {
                // Deleted by removing its last finalizer: the reply is its last state.
                let last = Object::unstored(rt, &new);
                return Ok((vec![Mutation::Delete { resource: rt, key }], Some(last)));
            }
            Ok((vec![Mutation::Put { resource: rt, object: new }], None))
        })?;
        pending.and_then(|(stored, unchanged)| match unchanged {
            Some(old) => Ok(old),
            None => the_object(stored),
        })
    }

    /// A server-internal change that bypasses the update strategy (as upstream's `pods/binding`
    /// does, touching both spec and status).
    pub fn patch_with(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        dry_run: bool,
        compute: impl FnOnce(&Value) -> ApiResult<Value>,
    ) -> ApiResult<Pending<Object>> {
        let pending = self.write(dry_run, |snap| {
            let old = snap.get(rt, namespace, name).ok_or_else(|| ApiError::not_found(rt, name))?;
            let new = compute(&old.value())?;
            Ok((vec![Mutation::Put { resource: rt, object: new }], ()))
        })?;
        pending.and_then(|(stored, ())| the_object(stored))
    }

    /// Deletes an object as upstream does: preconditions, propagation finalizers, graceful pod
    /// termination, and objects held by finalizers.
    pub fn delete(
        &self,
        rt: &'static ResourceType,
        namespace: &str,
        name: &str,
        options: &DeleteOptions,
        now: Timestamp,
    ) -> ApiResult<Pending<DeleteOutcome>> {
        let ns = if rt.namespaced { namespace } else { "" };
        let pending = self.write(options.dry_run, |snap| {
            let old = snap.get(rt, ns, name).ok_or_else(|| ApiError::not_found(rt, name))?;
            if let Some(why) = rt.rules.protected(name) {
                return Err(ApiError::forbidden(rt, name, why));
            }
            let old_value = old.value();
            check_preconditions(rt, name, &old_value, options)?;
            let key: ObjectKey = (ns.to_string(), name.to_string());
            let mut obj = old_value.clone();
            let mut fins = finalizers(&obj);
            match options.propagation_policy.as_deref() {
                Some("Orphan") if !fins.iter().any(|f| f == "orphan") => fins.push("orphan".into()),
                Some("Foreground") if !fins.iter().any(|f| f == "foregroundDeletion") => {
                    fins.push("foregroundDeletion".into())
                }
                _ => {}
            }
            match rt.rules.deletion(&obj, options.grace_period_seconds) {
                Deletion::Terminating => {
                    if obj["metadata"].get("deletionTimestamp").is_none() {
                        obj["metadata"]["deletionTimestamp"] = json!(format_time(now));
                        obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                    }
                    if !fins.is_empty() {
                        obj["metadata"]["finalizers"] = json!(fins);
                    }
                    rt.rules.mark_terminating(&mut obj);
                    if obj == old_value {
                        return Ok((Vec::new(), Some(old)));
                    }
                    return Ok((vec![Mutation::Put { resource: rt, object: obj }], None));
                }
                Deletion::Graceful(grace) => {
                    let deadline = now + jiff::SignedDuration::from_secs(grace);
                    let current = obj["metadata"]["deletionTimestamp"]
                        .as_str()
                        .and_then(|s| s.parse::<Timestamp>().ok());
                    if current.is_none_or(|c| deadline < c) {
                        obj["metadata"]["deletionTimestamp"] = json!(format_time(deadline));
                        obj["metadata"]["deletionGracePeriodSeconds"] = json!(grace);
                    }
                    if !fins.is_empty() {
                        obj["metadata"]["finalizers"] = json!(fins);
                    }
                    // A copy of the current object, resourceVersion included: equal means unchanged.
                    if obj == old_value {
                        return Ok((Vec::new(), Some(old)));
                    }
                    return Ok((vec![Mutation::Put { resource: rt, object: obj }], None));
                }
                Deletion::Immediate => {}
            }
            if !fins.is_empty() {
                if obj["metadata"].get("deletionTimestamp").is_none() {
                    obj["metadata"]["deletionTimestamp"] = json!(format_time(now));
                    obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
                }
                obj["metadata"]["finalizers"] = json!(fins);
                // A copy of the current object, resourceVersion included: equal means unchanged.
                if obj == old_value {
                    return Ok((Vec::new(), Some(old)));
                }
                return Ok((vec![Mutation::Put { resource: rt, object: obj }], None));
            }
            Ok((vec![Mutation::Delete { resource: rt, key }], Some(old)))
        })?;
        pending.and_then(|(stored, last)| match (stored.into_iter().next(), last) {
            (Some(Some(pending)), _) => Ok(DeleteOutcome::Pending(pending)),
            (Some(None), Some(last)) => Ok(DeleteOutcome::Deleted(last)),
            (None, Some(unchanged)) => Ok(DeleteOutcome::Pending(unchanged)),
            _ => Err(ApiError::internal("delete produced no result")),
        })
    }

    /// Finishes terminating namespaces (their contents are removed, then the namespace) and
    /// CustomResourceDefinitions (their resources, then the definition). Pods are not its
    /// business: as upstream, a bound pod being deleted goes when its kubelet says its
    /// containers stopped (or pod GC force-deletes it), however long past its grace period.
    /// Returns how many objects were removed.
    pub fn sweep(&self) -> ApiResult<usize> {
        let (removed, definitions_changed) = self
            .store
            .write(|snap| {
            let mut mutations = Vec::new();
            // Only objects being deleted are decoded.
            for ns in snap.list(namespaces(), None) {
                if ns.deletion_timestamp().is_none() {
                    continue;
                }
                let ns = ns.value();
                let name = meta_str(&ns, "name");
                for &rt in self.catalog.all().iter().filter(|r| r.namespaced) {
                    for obj in snap.list(rt, Some(name)) {
                        let key = obj.key().clone();
                        if !mutations.iter().any(|m| matches!(m, Mutation::Delete { resource, key: k } if resource.storage_key() == rt.key && *k == key)) {
                            mutations.push(Mutation::Delete { resource: rt, key });
                        }
                    }
                }
                if finalizers(&ns).is_empty() {
                    mutations.push(Mutation::Delete { resource: namespaces(), key: (String::new(), name.to_string()) });
                }
            }
            let mut definitions_changed = false;
            for crd in snap.list(definitions(), None) {
                if crd.deletion_timestamp().is_none() {
                    continue;
                }
                let crd = crd.value();
                if !finalizers(&crd).iter().any(|f| f == CLEANUP_FINALIZER)
                {
                    continue;
                }
                // Its custom resources first (every version shares their storage), then the
                // finalizer; the definition goes with it when it was the last.
                let key = format!("{}/{}", crd["spec"]["group"].as_str().unwrap_or_default(), crd["spec"]["names"]["plural"].as_str().unwrap_or_default());
                if let Some(rt) = self.catalog.all().iter().copied().find(|r| r.key == key) {
                    for obj in snap.list(rt, None) {
                        mutations.push(Mutation::Delete { resource: rt, key: obj.key().clone() });
                    }
                }
                definitions_changed = true;
                let mut done = crd.clone();
                let rest: Vec<String> = finalizers(&crd).into_iter().filter(|f| f != CLEANUP_FINALIZER).collect();
                if rest.is_empty() {
                    mutations.push(Mutation::Delete { resource: definitions(), key: crate::storage::object_key(&crd) });
                } else {
                    done["metadata"]["finalizers"] = json!(rest);
                    mutations.push(Mutation::Put { resource: definitions(), object: done });
                }
            }
            Ok((mutations, definitions_changed))
        })?
            .durable_blocking()?;
        if definitions_changed {
            self.serve_definitions();
        }
        Ok(removed.len())
    }

    /// Deletes the Events last written more than `ttl` before `now`, as upstream's etcd lease
    /// (`--event-ttl`, one hour) expires them, so a long run does not keep every event.
    pub fn expire_events(&self, ttl: jiff::SignedDuration, now: Timestamp) -> ApiResult<usize> {
        let Some(rt) = self.catalog.find("", "v1", "events") else { return Ok(0) };
        let expired =
            |event: &crate::storage::Object| last_written(&event.value()).is_some_and(|t| t < now - ttl);
        // Every event is read outside the writer lock; only those found expired are looked at
        // again under it (one written meanwhile is kept).
        let (events, _) = self.store.list(rt, None);
        let candidates: Vec<_> = events.iter().filter(|e| expired(e)).map(|e| e.key().clone()).collect();
        if candidates.is_empty() {
            return Ok(0);
        }
        let removed = self
            .store
            .write(|snap| {
                let mutations: Vec<Mutation> = candidates
                    .into_iter()
                    .filter(|(ns, name)| snap.get(rt, ns, name).is_some_and(|e| expired(&e)))
                    .map(|key| Mutation::Delete { resource: rt, key })
                    .collect();
                Ok((mutations, ()))
            })?
            .durable_blocking()?;
        Ok(removed.0.len())
    }

    /// Creates the objects a fresh cluster has (namespaces, built-in priority classes) and any
    /// given ones that are missing; existing objects are left alone.
    pub fn ensure_exist(
        &self,
        objects: Vec<(&'static ResourceType, Value)>,
        now: Timestamp,
    ) -> ApiResult<()> {
        // Staged one after another, committed together: a new cluster's thousands of nodes
        // take a few fsyncs, not one each.
        let mut created = Vec::new();
        for (rt, obj) in objects {
            let ns = meta_str(&obj, "namespace").to_string();
            if self.store.get(rt, &ns, meta_str(&obj, "name")).is_some() {
                continue;
            }
            let (decoded, _) = strategy::decode(rt, &obj, FieldValidation::Strict, Vec::new())?;
            match self.create(
                rt,
                Some(&ns),
                decoded,
                now,
                Writer { manager: field_manager::SERVER, dry_run: false, guard: None },
            ) {
                Ok(pending) => created.push(pending),
                Err(e) if e.reason == "AlreadyExists" => {}
                Err(e) => return Err(e),
            }
        }
        for pending in created {
            pending.durable_blocking()?;
        }
        Ok(())
    }
}

fn check_preconditions(rt: &ResourceType, name: &str, obj: &Value, options: &DeleteOptions) -> ApiResult<()> {
    if let Some(uid) = &options.precondition_uid
        && uid != meta_str(obj, "uid")
    {
        return Err(ApiError::conflict(
            rt,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(obj, "uid")
            ),
        ));
    }
    if let Some(rv) = &options.precondition_resource_version
        && rv != meta_str(obj, "resourceVersion")
    {
        return Err(ApiError::conflict(
            rt,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta_str(obj, "resourceVersion")
            ),
        ));
    }
    Ok(())
}

/// Refuses objects in a missing or terminating namespace (upstream `NamespaceLifecycle`).
fn admit_namespace(snap: &Snapshot<'_>, rt: &ResourceType, ns: &str, name: &str) -> ApiResult<()> {
    match snap.get(namespaces(), "", ns) {
        None => Err(ApiError::not_found(namespaces(), ns)),
        Some(n) if n.deletion_timestamp().is_some() => Err(ApiError::forbidden(
            rt,
            name,
            &format!("unable to create new content in namespace {ns} because it is being terminated"),
        )),
        Some(_) => Ok(()),
    }
}

/// Decodes a patched object. The top-level fields a merge or strategic merge patch does not
/// name (a kubelet's status patch names only `status`) are the stored object's as it was
/// decoded when written, so they are set aside and taken back as they are, not decoded again;
/// `metadata` always is. When the rest does not decode alone (a kind that requires a field the
/// patch left), the whole object is decoded, so every answer is the whole object's.
fn decode_patched(rt: &ResourceType, mut patched: Value, patch: &Patch) -> ApiResult<Value> {
    let validation = patch.field_validation;
    let (Some(body), Some(fields)) = (patch.body.as_object(), patched.as_object_mut()) else {
        return Ok(strategy::decode(rt, &patched, validation, Vec::new())?.0);
    };
    // A directive at the top (`$patch`, `$retainKeys`) may change any field; a kind served in
    // another form than it stores is decoded whole.
    let merges = matches!(patch.patch_type, PatchType::Merge | PatchType::Strategic)
        && !body.keys().any(|k| k.starts_with('$'))
        && !rt.rules.converts();
    let left: Vec<String> = if merges {
        fields
            .keys()
            .filter(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata") && !body.contains_key(*k))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let set_aside: Vec<(String, Value)> =
        left.into_iter().filter_map(|k| fields.remove(&k).map(|v| (k, v))).collect();
    match strategy::decode(rt, &patched, validation, Vec::new()) {
        Ok((mut decoded, _)) => {
            for (k, v) in set_aside {
                decoded[k] = v;
            }
            Ok(decoded)
        }
        Err(_) if !set_aside.is_empty() => {
            for (k, v) in set_aside {
                patched[k] = v;
            }
            Ok(strategy::decode(rt, &patched, validation, Vec::new())?.0)
        }
        Err(e) => Err(e),
    }
}

/// Applies a patch body to an object's JSON.
pub fn apply_patch(rt: &ResourceType, old: &Value, patch_type: PatchType, patch: &Value) -> ApiResult<Value> {
    let mut doc = old.clone();
    match patch_type {
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            doc = apply_json_patch(&doc, &p).map_err(|e| patch_failed(rt, old, e))?;
        }
        PatchType::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "error decoding patch: a merge patch must be a JSON object",
                ));
            }
            json_patch::merge(&mut doc, patch);
        }
        // Applied configurations go through `Registry::apply`, never as a patch of this kind.
        PatchType::Apply => return Err(ApiError::unsupported_media_type("patch")),
        PatchType::Strategic => {
            if !rt.rules.strategic_merge() {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                ));
            }
            if !patch.is_object() {
                return Err(ApiError::bad_request(
                    "error decoding patch: a strategic merge patch must be a JSON object",
                ));
            }
            doc = apimachinery::strategic_merge::strategic_merge_patch(old, patch, rt.rules.merge_schema())
                .map_err(|e| patch_failed(rt, old, e))?;
        }
    }
    Ok(doc)
}

/// A JSON patch (RFC 6902) applied to a copy of `doc`. The copy is scratch: a patch that fails
/// halfway leaves it for the caller to drop. (`json_patch::patch` undoes a failed patch
/// instead, and its undo panics on some operations it applied itself, which the json_patch
/// fuzzer found: a `move` onto a path below an index an earlier `add` created.)
pub fn apply_json_patch(
    doc: &Value,
    operations: &json_patch::Patch,
) -> Result<Value, json_patch::PatchError> {
    let mut scratch = doc.clone();
    json_patch::patch_unsafe(&mut scratch, operations)?;
    Ok(scratch)
}

fn patch_failed(rt: &ResourceType, old: &Value, e: impl std::fmt::Display) -> ApiError {
    let name = meta_str(old, "name");
    let mut err = ApiError::invalid(rt, name, &[]);
    err.message = format!("{} \"{name}\" is invalid: the patch does not apply: {e}", rt.qualified_kind());
    err
}

/// When an Event was last written: the latest of its timestamps and its managed fields' times.
fn last_written(event: &Value) -> Option<Timestamp> {
    let times = [
        &event["lastTimestamp"],
        &event["eventTime"],
        &event["series"]["lastObservedTime"],
        &event["firstTimestamp"],
        &event["metadata"]["creationTimestamp"],
    ];
    let managed = event["metadata"]["managedFields"].as_array().into_iter().flatten().map(|m| &m["time"]);
    times.into_iter().chain(managed).filter_map(|t| t.as_str()?.parse::<Timestamp>().ok()).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources;
    use serde_json::json;

    fn decoded_whole(rt: &ResourceType, old: &Value, patch: &Patch) -> ApiResult<Value> {
        let patched = apply_patch(rt, old, patch.patch_type, &patch.body)?;
        Ok(strategy::decode(rt, &patched, patch.field_validation, Vec::new())?.0)
    }

    fn patch(patch_type: PatchType, body: Value) -> Patch {
        Patch { patch_type, body, field_validation: FieldValidation::Strict }
    }

    #[test]
    fn a_patch_decodes_to_what_decoding_the_whole_object_gives() {
        let pods = resources::builtin("", "v1", "pods");
        let stored = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "labels": {"a": "b"}},
            "spec": {"nodeName": "n", "containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Pending"}});
        let old = strategy::decode(pods, &stored, FieldValidation::Strict, Vec::new()).unwrap().0;
        for p in [
            patch(
                PatchType::Strategic,
                json!({"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}),
            ),
            patch(PatchType::Merge, json!({"metadata": {"labels": {"c": "d"}}})),
            patch(PatchType::Strategic, json!({"spec": {"containers": [{"name": "c", "image": "j"}]}})),
            patch(
                PatchType::Strategic,
                json!({"$patch": "replace", "metadata": {"name": "p"}, "spec": {"containers": []}}),
            ),
            patch(PatchType::Merge, json!({"status": null})),
        ] {
            let patched = apply_patch(pods, &old, p.patch_type, &p.body).unwrap();
            assert_eq!(
                decode_patched(pods, patched, &p).unwrap(),
                decoded_whole(pods, &old, &p).unwrap(),
                "{:?}",
                p.body
            );
        }
        // What the patch names is decoded: an unknown field in it is refused, as before.
        let unknown = patch(PatchType::Merge, json!({"spec": {"nodeNme": "m"}}));
        let patched = apply_patch(pods, &old, unknown.patch_type, &unknown.body).unwrap();
        let error = decode_patched(pods, patched, &unknown).unwrap_err();
        assert!(error.message.contains("unknown field \"spec.nodeNme\""), "{}", error.message);
    }

    #[test]
    fn a_kind_that_requires_a_field_the_patch_leaves_is_decoded_whole() {
        // A core Event requires its involvedObject, which a patch of its count leaves alone.
        let events = resources::builtin("", "v1", "events");
        let stored = json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "name": "p"}, "reason": "Created", "count": 1});
        let old = strategy::decode(events, &stored, FieldValidation::Strict, Vec::new()).unwrap().0;
        let p = patch(PatchType::Strategic, json!({"count": 2, "lastTimestamp": "2026-01-01T00:00:00Z"}));
        let patched = apply_patch(events, &old, p.patch_type, &p.body).unwrap();
        let decoded = decode_patched(events, patched, &p).unwrap();
        assert_eq!(decoded, decoded_whole(events, &old, &p).unwrap());
        assert_eq!(decoded["involvedObject"]["name"], "p");
        assert_eq!(decoded["count"], 2);
    }
}
