//! The resource types this API server serves: names, scope, short names, subresources and
//! which field selectors each supports. Discovery, OpenAPI, routing and storage keys are all
//! derived from one server's [`Catalog`] (the built-in table, plus what its
//! CustomResourceDefinitions add); what each kind does beyond its names is its room in
//! [`crate::kinds`].

use std::sync::{Arc, RwLock};

use serde_json::Value;

use k8s_openapi::api::admissionregistration::v1 as admission;
use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::flowcontrol::v1 as flowcontrol;
use k8s_openapi::api::{networking::v1 as networking, storage::v1 as storage_k8s};

use crate::kinds::{self, Kind, Typed};
use crate::storage::{self, Selectable};
use crate::strategy;

/// A subresource such as `daemonsets/status` or `pods/eviction`.
#[derive(Debug)]
pub struct Subresource {
    pub name: &'static str,
    /// The group, version and kind its requests and responses carry.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

/// One served resource, e.g. `daemonsets` in `apps/v1`.
#[derive(Debug)]
pub struct ResourceType {
    /// `""` for the core group.
    pub group: &'static str,
    pub version: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub kind: &'static str,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub subresources: &'static [Subresource],
    /// Field-selector labels supported besides `metadata.name` and `metadata.namespace`.
    pub field_labels: &'static [&'static str],
    /// The verbs upstream serves on the collection and its objects.
    pub verbs: &'static [&'static str],
    /// The kind's own rules: decoding, defaults, validation, printing, deletion.
    pub rules: &'static dyn Kind,
    /// `apps/daemonsets` (`/pods` for the core group): where storage keeps its objects.
    pub key: &'static str,
}

/// A built-in resource: its names and rules, then what differs from the defaults (namespaced,
/// upstream's full verbs, no short names, categories, subresources or extra field labels).
macro_rules! resource {
    ($group:literal, $version:literal, $plural:literal, $singular:literal, $kind:literal, $rules:expr $(, { $($field:ident: $value:expr),* $(,)? })?) => {
        ResourceType {
            group: $group,
            version: $version,
            plural: $plural,
            singular: $singular,
            kind: $kind,
            rules: $rules,
            key: concat!($group, "/", $plural),
            $($($field: $value,)*)?
            ..ResourceType::DEFAULTS
        }
    };
}

pub const VERBS: &[&str] =
    &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
/// Namespaces have no `deletecollection` upstream: one request must never delete them all.
const NAMESPACE_VERBS: &[&str] = &["create", "delete", "get", "list", "patch", "update", "watch"];
const STATUS_VERBS: &[&str] = &["get", "patch", "update"];
/// Reviews are only created (and answered).
const REVIEW_VERBS: &[&str] = &["create"];

/// `scale`, in `autoscaling/v1 Scale` terms, for workloads with replicas.
const fn scale() -> Subresource {
    Subresource { name: "scale", group: "autoscaling", version: "v1", kind: "Scale", verbs: STATUS_VERBS }
}

const fn status(group: &'static str, version: &'static str, kind: &'static str) -> Subresource {
    Subresource { name: "status", group, version, kind, verbs: STATUS_VERBS }
}

impl ResourceType {
    /// What a row of [`BUILTIN`] does not say.
    pub(crate) const DEFAULTS: ResourceType = ResourceType {
        group: "",
        version: "",
        plural: "",
        singular: "",
        kind: "",
        namespaced: true,
        short_names: &[],
        categories: &[],
        subresources: &[],
        field_labels: &[],
        verbs: VERBS,
        rules: &Typed::<Value>::NEW,
        key: "",
    };

    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `daemonsets.apps`, or `pods` for the core group: how upstream names the resource in
    /// error messages.
    pub fn qualified_resource(&self) -> String {
        if self.group.is_empty() {
            self.plural.to_string()
        } else {
            format!("{}.{}", self.plural, self.group)
        }
    }

    /// `DaemonSet.apps`, or `Pod`: how upstream names the kind in `Invalid` messages.
    pub fn qualified_kind(&self) -> String {
        if self.group.is_empty() { self.kind.to_string() } else { format!("{}.{}", self.kind, self.group) }
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    pub fn supports(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }

    /// The resource whose form storage keeps: the first built-in of the same storage key (core
    /// Events for `events.k8s.io`; `autoscaling/v2` for `v1`), else itself.
    pub fn storage_owner(&self) -> &ResourceType {
        BUILTIN.iter().find(|r| r.key == self.key).unwrap_or(self)
    }

    pub fn supports_field_label(&self, label: &str) -> bool {
        label == "metadata.name" || label == "metadata.namespace" || self.field_labels.contains(&label)
    }
}

/// Every built-in resource, core first.
pub static BUILTIN: &[ResourceType] = &[
    resource!("", "v1", "namespaces", "namespace", "Namespace", &kinds::namespace::Namespace, {
        namespaced: false,
        short_names: &["ns"],
        subresources: &[
            status("", "v1", "Namespace"),
            Subresource { name: "finalize", group: "", version: "v1", kind: "Namespace", verbs: &["update"] },
        ],
        field_labels: &["status.phase"],
        verbs: NAMESPACE_VERBS,
    }),
    resource!("", "v1", "nodes", "node", "Node", &kinds::node::Node, {
        namespaced: false,
        short_names: &["no"],
        subresources: &[status("", "v1", "Node")],
        field_labels: &["spec.unschedulable"],
    }),
    resource!("", "v1", "componentstatuses", "componentstatus", "ComponentStatus", &kinds::componentstatus::ComponentStatus, {
        namespaced: false,
        short_names: &["cs"],
        verbs: &["get", "list"],
    }),
    resource!("", "v1", "pods", "pod", "Pod", &kinds::pod::Pod, {
        short_names: &["po"],
        categories: &["all"],
        subresources: &[
            status("", "v1", "Pod"),
            Subresource { name: "binding", group: "", version: "v1", kind: "Binding", verbs: &["create"] },
            Subresource { name: "log", group: "", version: "v1", kind: "Pod", verbs: &["get"] },
            Subresource {
                name: "eviction",
                group: "policy",
                version: "v1",
                kind: "Eviction",
                verbs: &["create"],
            },
        ],
        field_labels: &[
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.nominatedNodeName",
        ],
    }),
    resource!("", "v1", "events", "event", "Event", &kinds::event::Event, {
        short_names: &["ev"],
        field_labels: &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
    }),
    // Kept with the core Events (their storage key), converted both ways.
    ResourceType {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        rules: &kinds::event::EventV1,
        key: "/events",
        short_names: &["ev"],
        field_labels: &kinds::event::V1_FIELD_LABELS,
        ..ResourceType::DEFAULTS
    },
    resource!("", "v1", "configmaps", "configmap", "ConfigMap", &kinds::configmap::ConfigMap, {
        short_names: &["cm"],
    }),
    resource!("", "v1", "endpoints", "endpoints", "Endpoints", &kinds::endpoints::Endpoints, {
        short_names: &["ep"],
    }),
    resource!("", "v1", "limitranges", "limitrange", "LimitRange", &Typed::<core::LimitRange>::DEFAULT_TABLE, {
        short_names: &["limits"],
    }),
    resource!("", "v1", "persistentvolumeclaims", "persistentvolumeclaim", "PersistentVolumeClaim", &kinds::persistentvolumeclaim::PersistentVolumeClaim, {
        short_names: &["pvc"],
        subresources: &[status("", "v1", "PersistentVolumeClaim")],
    }),
    resource!("", "v1", "persistentvolumes", "persistentvolume", "PersistentVolume", &kinds::persistentvolume::PersistentVolume, {
        namespaced: false,
        short_names: &["pv"],
        subresources: &[status("", "v1", "PersistentVolume")],
    }),
    resource!("", "v1", "podtemplates", "podtemplate", "PodTemplate", &kinds::podtemplate::PodTemplate),
    resource!("", "v1", "replicationcontrollers", "replicationcontroller", "ReplicationController", &kinds::replicationcontroller::ReplicationController, {
        short_names: &["rc"],
        categories: &["all"],
        subresources: &[scale(), status("", "v1", "ReplicationController")],
        field_labels: &["status.replicas"],
    }),
    resource!("", "v1", "resourcequotas", "resourcequota", "ResourceQuota", &kinds::resourcequota::ResourceQuota, {
        short_names: &["quota"],
        subresources: &[status("", "v1", "ResourceQuota")],
    }),
    resource!("", "v1", "secrets", "secret", "Secret", &kinds::secret::Secret),
    resource!("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", &kinds::serviceaccount::ServiceAccount, {
        short_names: &["sa"],
        subresources: &[Subresource {
            name: "token",
            group: "authentication.k8s.io",
            version: "v1",
            kind: "TokenRequest",
            verbs: &["create"],
        }],
    }),
    resource!("", "v1", "services", "service", "Service", &kinds::service::Service, {
        short_names: &["svc"],
        categories: &["all"],
        subresources: &[status("", "v1", "Service")],
    }),
    resource!("apps", "v1", "daemonsets", "daemonset", "DaemonSet", &kinds::daemonset::DaemonSet, {
        short_names: &["ds"],
        categories: &["all"],
        subresources: &[status("apps", "v1", "DaemonSet")],
    }),
    resource!(
        "apps",
        "v1",
        "controllerrevisions",
        "controllerrevision",
        "ControllerRevision",
        &kinds::controllerrevision::ControllerRevision
    ),
    resource!("apps", "v1", "deployments", "deployment", "Deployment", &kinds::deployment::Deployment, {
        short_names: &["deploy"],
        categories: &["all"],
        subresources: &[scale(), status("apps", "v1", "Deployment")],
    }),
    resource!("apps", "v1", "replicasets", "replicaset", "ReplicaSet", &kinds::replicaset::ReplicaSet, {
        short_names: &["rs"],
        categories: &["all"],
        subresources: &[scale(), status("apps", "v1", "ReplicaSet")],
        field_labels: &["status.replicas"],
    }),
    resource!("apps", "v1", "statefulsets", "statefulset", "StatefulSet", &kinds::statefulset::StatefulSet, {
        short_names: &["sts"],
        categories: &["all"],
        subresources: &[scale(), status("apps", "v1", "StatefulSet")],
    }),
    resource!("batch", "v1", "cronjobs", "cronjob", "CronJob", &kinds::cronjob::CronJob, {
        short_names: &["cj"],
        categories: &["all"],
        subresources: &[status("batch", "v1", "CronJob")],
    }),
    resource!("batch", "v1", "jobs", "job", "Job", &kinds::job::Job, {
        categories: &["all"],
        subresources: &[status("batch", "v1", "Job")],
        field_labels: &["status.successful"],
    }),
    resource!("autoscaling", "v2", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", &kinds::horizontalpodautoscaler::HorizontalPodAutoscaler, {
        short_names: &["hpa"],
        categories: &["all"],
        subresources: &[status("autoscaling", "v2", "HorizontalPodAutoscaler")],
    }),
    // Kept with `v2` (the same storage key, listed after it), converted both ways.
    resource!("autoscaling", "v1", "horizontalpodautoscalers", "horizontalpodautoscaler", "HorizontalPodAutoscaler", &kinds::horizontalpodautoscaler::HorizontalPodAutoscalerV1, {
        short_names: &["hpa"],
        categories: &["all"],
        subresources: &[status("autoscaling", "v1", "HorizontalPodAutoscaler")],
    }),
    resource!("policy", "v1", "poddisruptionbudgets", "poddisruptionbudget", "PodDisruptionBudget", &kinds::poddisruptionbudget::PodDisruptionBudget, {
        short_names: &["pdb"],
        subresources: &[status("policy", "v1", "PodDisruptionBudget")],
    }),
    resource!("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding", &kinds::rolebinding::ClusterRoleBinding, {
        namespaced: false,
    }),
    resource!("rbac.authorization.k8s.io", "v1", "clusterroles", "clusterrole", "ClusterRole", &kinds::role::ClusterRole, {
        namespaced: false,
    }),
    resource!(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        &kinds::rolebinding::RoleBinding
    ),
    resource!("rbac.authorization.k8s.io", "v1", "roles", "role", "Role", &kinds::role::Role),
    resource!("networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", &kinds::ingressclass::IngressClass, {
        namespaced: false,
    }),
    resource!("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", &kinds::ingress::Ingress, {
        short_names: &["ing"],
        subresources: &[status("networking.k8s.io", "v1", "Ingress")],
    }),
    resource!("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", &kinds::networkpolicy::NetworkPolicy, {
        short_names: &["netpol"],
    }),
    resource!("networking.k8s.io", "v1", "ipaddresses", "ipaddress", "IPAddress", &Typed::<networking::IPAddress>::NEW, {
        namespaced: false,
        short_names: &["ip"],
    }),
    resource!("networking.k8s.io", "v1", "servicecidrs", "servicecidr", "ServiceCIDR", &Typed::<networking::ServiceCIDR>::NEW, {
        namespaced: false,
        subresources: &[status("networking.k8s.io", "v1", "ServiceCIDR")],
    }),
    resource!("storage.k8s.io", "v1", "csidrivers", "csidriver", "CSIDriver", &kinds::csidriver::CSIDriver, {
        namespaced: false,
    }),
    resource!("storage.k8s.io", "v1", "csinodes", "csinode", "CSINode", &kinds::csinode::CSINode, {
        namespaced: false,
    }),
    resource!(
        "storage.k8s.io",
        "v1",
        "csistoragecapacities",
        "csistoragecapacity",
        "CSIStorageCapacity",
        &Typed::<storage_k8s::CSIStorageCapacity>::NEW
    ),
    resource!("storage.k8s.io", "v1", "storageclasses", "storageclass", "StorageClass", &kinds::storageclass::StorageClass, {
        namespaced: false,
        short_names: &["sc"],
    }),
    resource!("storage.k8s.io", "v1", "volumeattachments", "volumeattachment", "VolumeAttachment", &kinds::volumeattachment::VolumeAttachment, {
        namespaced: false,
        subresources: &[status("storage.k8s.io", "v1", "VolumeAttachment")],
    }),
    resource!("node.k8s.io", "v1", "runtimeclasses", "runtimeclass", "RuntimeClass", &kinds::runtimeclass::RuntimeClass, {
        namespaced: false,
    }),
    resource!(
        "discovery.k8s.io",
        "v1",
        "endpointslices",
        "endpointslice",
        "EndpointSlice",
        &kinds::endpointslice::EndpointSlice
    ),
    resource!("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "mutatingwebhookconfiguration", "MutatingWebhookConfiguration", &kinds::webhookconfiguration::MutatingWebhookConfiguration, {
        namespaced: false,
        categories: &["api-extensions"],
    }),
    resource!("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "validatingwebhookconfiguration", "ValidatingWebhookConfiguration", &kinds::webhookconfiguration::ValidatingWebhookConfiguration, {
        namespaced: false,
        categories: &["api-extensions"],
    }),
    resource!("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", "validatingadmissionpolicy", "ValidatingAdmissionPolicy", &Typed::<admission::ValidatingAdmissionPolicy>::NEW, {
        namespaced: false,
        categories: &["api-extensions"],
        subresources: &[status("admissionregistration.k8s.io", "v1", "ValidatingAdmissionPolicy")],
    }),
    resource!("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", "validatingadmissionpolicybinding", "ValidatingAdmissionPolicyBinding", &Typed::<admission::ValidatingAdmissionPolicyBinding>::NEW, {
        namespaced: false,
        categories: &["api-extensions"],
    }),
    resource!("apiextensions.k8s.io", "v1", "customresourcedefinitions", "customresourcedefinition", "CustomResourceDefinition", &kinds::customresourcedefinition::CustomResourceDefinition, {
        namespaced: false,
        short_names: &["crd", "crds"],
        categories: &["api-extensions"],
        subresources: &[status("apiextensions.k8s.io", "v1", "CustomResourceDefinition")],
    }),
    resource!("certificates.k8s.io", "v1", "certificatesigningrequests", "certificatesigningrequest", "CertificateSigningRequest", &kinds::certificatesigningrequest::CertificateSigningRequest, {
        namespaced: false,
        short_names: &["csr"],
        subresources: &[
            Subresource { name: "approval", group: "certificates.k8s.io", version: "v1", kind: "CertificateSigningRequest", verbs: STATUS_VERBS },
            status("certificates.k8s.io", "v1", "CertificateSigningRequest"),
        ],
    }),
    resource!("flowcontrol.apiserver.k8s.io", "v1", "flowschemas", "flowschema", "FlowSchema", &Typed::<flowcontrol::FlowSchema>::NEW, {
        namespaced: false,
        subresources: &[status("flowcontrol.apiserver.k8s.io", "v1", "FlowSchema")],
    }),
    resource!("flowcontrol.apiserver.k8s.io", "v1", "prioritylevelconfigurations", "prioritylevelconfiguration", "PriorityLevelConfiguration", &Typed::<flowcontrol::PriorityLevelConfiguration>::NEW, {
        namespaced: false,
        subresources: &[status("flowcontrol.apiserver.k8s.io", "v1", "PriorityLevelConfiguration")],
    }),
    resource!("scheduling.k8s.io", "v1", "priorityclasses", "priorityclass", "PriorityClass", &kinds::priorityclass::PriorityClass, {
        namespaced: false,
        short_names: &["pc"],
    }),
    resource!("coordination.k8s.io", "v1", "leases", "lease", "Lease", &kinds::lease::Lease),
    // Reviews: answered at once, never stored.
    resource!("authentication.k8s.io", "v1", "selfsubjectreviews", "selfsubjectreview", "SelfSubjectReview", &kinds::review::SelfSubjectReview, {
        namespaced: false,
        verbs: REVIEW_VERBS,
    }),
    resource!("authentication.k8s.io", "v1", "tokenreviews", "tokenreview", "TokenReview", &kinds::review::TokenReview, {
        namespaced: false,
        verbs: REVIEW_VERBS,
    }),
    resource!("authorization.k8s.io", "v1", "localsubjectaccessreviews", "localsubjectaccessreview", "LocalSubjectAccessReview", &kinds::review::LocalSubjectAccessReview, {
        verbs: REVIEW_VERBS,
    }),
    resource!("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview", "SelfSubjectAccessReview", &kinds::review::SelfSubjectAccessReview, {
        namespaced: false,
        verbs: REVIEW_VERBS,
    }),
    resource!("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "selfsubjectrulesreview", "SelfSubjectRulesReview", &kinds::review::SelfSubjectRulesReview, {
        namespaced: false,
        verbs: REVIEW_VERBS,
    }),
    resource!("authorization.k8s.io", "v1", "subjectaccessreviews", "subjectaccessreview", "SubjectAccessReview", &kinds::review::SubjectAccessReview, {
        namespaced: false,
        verbs: REVIEW_VERBS,
    }),
];

impl storage::Resource for ResourceType {
    fn storage_key(&self) -> &'static str {
        self.key
    }

    /// In the stored form's terms: whichever version wrote `obj`, what selectors match is
    /// what the resource that owns its storage says.
    fn selectable(&self, obj: &Value) -> Selectable {
        let rt = if self.rules.converts() { self.storage_owner() } else { self };
        let fields = ["metadata.name", "metadata.namespace"]
            .iter()
            .chain(rt.field_labels)
            .map(|&label| (label, strategy::field_value(rt, obj, label)))
            .collect();
        Selectable::new(strategy::labels_of(obj), fields)
    }
}

/// A built-in resource by group, version and plural name, for code that names one.
pub fn builtin(group: &str, version: &str, plural: &str) -> &'static ResourceType {
    BUILTIN
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
        .unwrap_or_else(|| panic!("{group}/{version} {plural} is built in"))
}

/// The resources one server serves.
#[derive(Debug)]
pub struct Catalog {
    served: RwLock<Arc<Vec<&'static ResourceType>>>,
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::new()
    }
}

impl Catalog {
    /// The built-in resources.
    pub fn new() -> Self {
        Catalog { served: RwLock::new(Arc::new(BUILTIN.iter().collect())) }
    }

    /// Serves the built-in resources and `custom` (what CustomResourceDefinitions add), in
    /// that order. Unchanged when it already serves exactly these.
    pub fn serve_custom(&self, custom: Vec<&'static ResourceType>) {
        let mut served = self.served.write().unwrap_or_else(|e| e.into_inner());
        let current = &served[BUILTIN.len()..];
        if current.len() == custom.len() && current.iter().zip(&custom).all(|(a, b)| std::ptr::eq(*a, *b)) {
            return;
        }
        *served = Arc::new(BUILTIN.iter().chain(custom).collect());
    }

    /// Every served resource, in discovery order.
    pub fn all(&self) -> Arc<Vec<&'static ResourceType>> {
        self.served.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The served group versions, in the order discovery lists them (core first).
    pub fn group_versions(&self) -> Vec<(&'static str, &'static str)> {
        let mut out: Vec<(&'static str, &'static str)> = Vec::new();
        for r in self.all().iter() {
            if !out.contains(&(r.group, r.version)) {
                out.push((r.group, r.version));
            }
        }
        out
    }

    /// The resources of one group version.
    pub fn in_group_version(&self, group: &str, version: &str) -> Vec<&'static ResourceType> {
        self.all().iter().copied().filter(|r| r.group == group && r.version == version).collect()
    }

    /// Finds a resource by group, version and plural name.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<&'static ResourceType> {
        self.all().iter().copied().find(|r| r.group == group && r.version == version && r.plural == plural)
    }
}
