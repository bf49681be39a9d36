//! One room per kind: what the API server knows about each served kind beyond its name, as
//! upstream keeps a `pkg/registry/<group>/<kind>/strategy.go` beside one generic store.
//!
//! A [`Kind`] decodes objects into its type's canonical form, names its OpenAPI schema,
//! validates creates, updates and status updates (required: no kind is silently without), and
//! may override defaults, create/update preparation, selectable fields, printer columns, its
//! strategic-merge schema, protected names and delete behaviour. A kind without upstream
//! behaviour of its own is [`Typed`]: its type's schema and the defaults here.

use std::fmt::Debug;
use std::marker::PhantomData;

use apimachinery::strategic_merge::{self, Schema};
use apimachinery::validation::{FieldError, FieldErrors, Path};
use jiff::Timestamp;
use schemars::JsonSchema;
use schemars::generate::SchemaGenerator;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::printers::{AGE, ColumnDefinition, NAME, created, s};
use crate::resources::ResourceType;
use crate::storage::Snapshot;

pub mod certificatesigningrequest;
pub mod componentstatus;
pub mod configmap;
pub mod controllerrevision;
pub mod cronjob;
pub mod csidriver;
pub mod csinode;
pub mod custom_resource;
pub mod customresourcedefinition;
pub mod daemonset;
pub mod deployment;
pub mod endpoints;
pub mod endpointslice;
pub mod event;
pub mod horizontalpodautoscaler;
pub mod ingress;
pub mod ingressclass;
pub mod job;
pub mod lease;
pub mod namespace;
pub mod networkpolicy;
pub mod node;
pub mod persistentvolume;
pub mod persistentvolumeclaim;
pub mod pod;
pub mod poddisruptionbudget;
pub mod podtemplate;
pub mod priorityclass;
pub mod replicaset;
pub mod replicationcontroller;
pub mod resourcequota;
pub mod review;
pub mod role;
pub mod rolebinding;
pub mod runtimeclass;
pub mod secret;
pub mod service;
pub mod serviceaccount;
pub mod statefulset;
pub mod storageclass;
pub mod volumeattachment;
pub mod webhookconfiguration;
pub mod workload;

/// How a DELETE of one object proceeds (finalizers aside).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
    /// Removed at once.
    Immediate,
    /// Marked with a deletion timestamp this many seconds ahead; removed when it passes (or
    /// when its kubelet says so).
    Graceful(i64),
    /// Marked as terminating now; removed once what it holds is gone (namespaces).
    Terminating,
}

/// A served kind's rules.
pub trait Kind: Send + Sync + Debug {
    /// `obj` as the kind's type sees it: what the type lacks dropped, the rest in its form.
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error>;

    /// Registers the kind's schema (and those it refers to) and returns its name.
    fn register_schema(&self, generator: &mut SchemaGenerator) -> String;

    /// The messages for a bad `metadata.name` (upstream's per-kind name rule): by default a DNS
    /// subdomain.
    fn name_errors(&self, name: &str) -> Vec<String> {
        apimachinery::validation::is_dns1123_subdomain(name)
    }

    /// Validation of a new object, beyond its metadata.
    fn validate(&self, obj: &Value) -> ApiResult<FieldErrors>;

    /// Validation of an update of the main resource, beyond metadata and the name.
    fn validate_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors>;

    /// Validation of a `/status` update (only called for kinds with that subresource).
    fn validate_status_update(&self, new: &Value, old: &Value) -> ApiResult<FieldErrors>;

    /// Upstream's `SetDefaults_*` for the kind; `apiVersion` and `kind` are kept by the caller.
    fn set_defaults(&self, _obj: &mut Value) -> ApiResult<()> {
        Ok(())
    }

    /// Whether the kind's defaults read or write its status (a Node's allocatable does). A
    /// status write keeps all but the status from the stored object, defaulted when it was
    /// written, so for a kind whose defaults leave the status alone it skips them: the same
    /// object, without decoding the whole of it once more on the kubelets' hottest write.
    fn defaults_read_status(&self) -> bool {
        true
    }

    /// What create resets (status, generation), after the server's metadata is set.
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// The kind's part of an update's preparation (status and server metadata are kept by the
    /// caller): by default the generation stays.
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        if let Some(g) = old["metadata"].get("generation") {
            new["metadata"]["generation"] = g.clone();
        }
    }

    /// The value of a selectable field (labels are checked against the resource table first).
    fn field_value(&self, obj: &Value, label: &str) -> Option<String> {
        field_at(obj, label)
    }

    /// The columns of the kind's Table.
    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![NAME, AGE]
    }

    /// One object's cells, in [`Kind::columns`] order, from its stored form (see
    /// [`Kind::converts`]).
    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        name_and_age(obj, now)
    }

    /// The lists a strategic merge patch merges by key.
    fn merge_schema(&self) -> Schema {
        strategic_merge::GENERIC
    }

    /// Whether it takes strategic merge patches (custom resources do not: upstream answers 415).
    fn strategic_merge(&self) -> bool {
        true
    }

    /// Whether its objects are kept in another form than this version's, because several
    /// served versions share them (a custom resource with several versions; `events.k8s.io`
    /// Events kept as core Events; `autoscaling/v1` autoscalers kept as `v2`): reads then go
    /// through [`Kind::served_form`], writes through [`Kind::stored_form`] and field selectors
    /// through [`Kind::storage_field_label`].
    fn converts(&self) -> bool {
        false
    }

    /// The object as this served version shows it, from the form storage keeps: by default
    /// the same fields under this version's `apiVersion`.
    fn served_form(&self, rt: &ResourceType, stored: &Value) -> Value {
        let mut obj = stored.clone();
        obj["apiVersion"] = json!(rt.api_version());
        obj
    }

    /// The form storage keeps, from this version's (defaulted and validated): by default the
    /// same.
    fn stored_form(&self, obj: Value) -> Value {
        obj
    }

    /// A field selector's label as the stored form names it.
    fn storage_field_label(&self, label: &str) -> String {
        label.to_string()
    }

    /// What marks an object [`Deletion::Terminating`] besides its deletion timestamp (a
    /// namespace's phase; a definition's cleanup finalizer and condition).
    fn mark_terminating(&self, _obj: &mut Value) {}

    /// Admission against the rest of the cluster, under the store's writer lock, after
    /// validation: what upstream's admission plugins and its REST storage do with other
    /// objects (a pod's ServiceAccount and priority; a service's cluster IPs and node ports).
    /// May complete `obj` or refuse it; `old` is the current object on an update.
    fn admit(
        &self,
        _rt: &ResourceType,
        _cluster: &Snapshot<'_>,
        _obj: &mut Value,
        _old: Option<&Value>,
    ) -> ApiResult<()> {
        Ok(())
    }

    /// For a review kind (a request answered at once and never stored): how it is answered.
    fn review(&self) -> Option<review::Answer> {
        None
    }

    /// How server-side apply reads its objects: upstream's schema of the built-in type, by
    /// default (custom resources: their definition's).
    fn field_type(&self, rt: &ResourceType) -> apimachinery::apply::types::T {
        apimachinery::apply::types::of_kind(rt.group, rt.version, rt.kind)
    }

    /// Where its `scale` subresource reads and writes replicas, if it has one.
    fn scale(&self) -> Option<crate::scale::ScalePaths> {
        None
    }

    /// Why the object of this name may never be deleted, if it may not.
    fn protected(&self, _name: &str) -> Option<&'static str> {
        None
    }

    /// How a delete proceeds, given the request's grace period.
    fn deletion(&self, _obj: &Value, _grace_period_seconds: Option<i64>) -> Deletion {
        Deletion::Immediate
    }

    /// Whether an object being deleted stays, finalizers gone, until something else (a pod's
    /// kubelet) removes it.
    fn awaits_removal(&self, _obj: &Value) -> bool {
        false
    }
}

/// A kind with no rules of its own: its type's canonical form and schema, printed as
/// `NAME AGE` or, where upstream has no printer for it, with upstream's default table
/// (`NAME CREATED AT`: roles, cluster roles, limit ranges, CustomResourceDefinitions).
pub struct Typed<T> {
    default_table: bool,
    _type: PhantomData<fn() -> T>,
}

impl<T> Typed<T> {
    pub const NEW: Typed<T> = Typed { default_table: false, _type: PhantomData };
    pub const DEFAULT_TABLE: Typed<T> = Typed { default_table: true, _type: PhantomData };
}

impl<T> Debug for Typed<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(std::any::type_name::<T>())
    }
}

impl<T: DeserializeOwned + Serialize + JsonSchema> Kind for Typed<T> {
    fn canonical(&self, obj: &Value) -> Result<Value, serde_json::Error> {
        canonical::<T>(obj)
    }

    fn register_schema(&self, generator: &mut SchemaGenerator) -> String {
        register::<T>(generator)
    }

    no_validation!();

    fn columns(&self) -> Vec<ColumnDefinition> {
        if self.default_table { default_table::columns() } else { vec![NAME, AGE] }
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        if self.default_table { default_table::cells(obj) } else { name_and_age(obj, now) }
    }
}

/// The cells of `NAME AGE`.
pub(crate) fn name_and_age(obj: &Value, now: Timestamp) -> Vec<Value> {
    vec![json!(s(obj, &["metadata", "name"])), json!(created(obj, now))]
}

/// Upstream's default table (`rest.NewDefaultTableConvertor`).
pub mod default_table {
    use serde_json::{Value, json};

    use crate::printers::{ColumnDefinition, NAME, col, s};

    pub fn columns() -> Vec<ColumnDefinition> {
        let mut created = col(
            "Created At",
            "date",
            0,
            "CreationTimestamp is a timestamp representing the server time when this object was created.",
        );
        created.format = "";
        vec![NAME, created]
    }

    pub fn cells(obj: &Value) -> Vec<Value> {
        vec![json!(s(obj, &["metadata", "name"])), json!(s(obj, &["metadata", "creationTimestamp"]))]
    }
}

/// The `canonical` and `register_schema` of a kind whose type is `$t`.
macro_rules! typed_as {
    ($t:ty) => {
        fn canonical(&self, obj: &serde_json::Value) -> Result<serde_json::Value, serde_json::Error> {
            $crate::kinds::canonical::<$t>(obj)
        }

        fn register_schema(&self, generator: &mut schemars::generate::SchemaGenerator) -> String {
            $crate::kinds::register::<$t>(generator)
        }
    };
}
pub(crate) use typed_as;

/// A kind upstream puts no rules on beyond object meta: create, update and status writes all
/// validate.
macro_rules! no_validation {
    () => {
        fn validate(
            &self,
            _obj: &serde_json::Value,
        ) -> $crate::error::ApiResult<apimachinery::validation::FieldErrors> {
            Ok(Vec::new())
        }

        fn validate_update(
            &self,
            _new: &serde_json::Value,
            _old: &serde_json::Value,
        ) -> $crate::error::ApiResult<apimachinery::validation::FieldErrors> {
            Ok(Vec::new())
        }

        fn validate_status_update(
            &self,
            _new: &serde_json::Value,
            _old: &serde_json::Value,
        ) -> $crate::error::ApiResult<apimachinery::validation::FieldErrors> {
            Ok(Vec::new())
        }
    };
}
pub(crate) use no_validation;

/// Generation 1, as upstream's `PrepareForCreate` sets it for kinds that track their spec.
pub fn first_generation(obj: &mut Value) {
    obj["metadata"]["generation"] = json!(1);
}

/// The old generation, one more when `changed` (upstream's `PrepareForUpdate` for kinds that
/// track their spec).
pub fn next_generation(new: &mut Value, old: &Value, changed: bool) {
    match old["metadata"].get("generation").and_then(Value::as_i64) {
        Some(g) => new["metadata"]["generation"] = json!(if changed { g + 1 } else { g }),
        None if changed => new["metadata"]["generation"] = json!(1),
        None => {
            if let Some(m) = new["metadata"].as_object_mut() {
                m.remove("generation");
            }
        }
    }
}

/// Upstream's `ValidateImmutableField`: `field is immutable` when the value changed.
pub fn immutable<T: PartialEq + Serialize>(new: &T, old: &T, path: &Path) -> Option<FieldError> {
    (new != old).then(|| {
        FieldError::invalid(path, serde_json::to_value(new).unwrap_or(Value::Null), "field is immutable")
    })
}

/// Upstream's load-balancer status stringer (server-side tables are always wide): each
/// ingress point's IP, else its hostname, deduplicated, sorted and joined with commas.
pub fn load_balancer_ingress(status: &Value) -> String {
    let points: std::collections::BTreeSet<&str> = status["ingress"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| {
            let ip = i["ip"].as_str().filter(|s| !s.is_empty());
            ip.or_else(|| i["hostname"].as_str().filter(|s| !s.is_empty()))
        })
        .collect();
    points.into_iter().collect::<Vec<_>>().join(",")
}

/// The strings of a JSON array of strings.
pub fn strings(v: &Value) -> Vec<&str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

/// The value as `T` sees it.
pub fn canonical<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<Value, serde_json::Error> {
    // Deserializing from a borrowed Value spares a copy of the whole tree.
    serde_json::to_value(T::deserialize(obj)?)
}

/// Registers `T`'s schema and returns its name.
pub fn register<T: JsonSchema>(generator: &mut SchemaGenerator) -> String {
    generator.subschema_for::<T>();
    T::schema_name().into_owned()
}

/// `obj` as `T` (it has been decoded as `T` already, so failing is the server's fault).
pub fn typed<T: DeserializeOwned>(obj: &Value) -> ApiResult<T> {
    T::deserialize(obj).map_err(ApiError::internal)
}

/// Replaces `obj` with `T`'s defaults applied by `set`.
pub fn defaulted<T: DeserializeOwned + Serialize>(
    obj: &mut Value,
    set: impl FnOnce(&mut T),
) -> ApiResult<()> {
    let mut t: T = typed(obj)?;
    set(&mut t);
    *obj = serde_json::to_value(&t).map_err(ApiError::internal)?;
    Ok(())
}

/// The scalar at a dotted path, as field selectors compare it.
pub fn field_at(obj: &Value, path: &str) -> Option<String> {
    let mut v = obj;
    for part in path.split('.') {
        v = v.get(part)?;
    }
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
