//! Adoption and release of pods and ControllerRevisions by selector (upstream
//! `ControllerRefManager.ClaimObject`), and the patches that carry them out.

use apimachinery::labels::Selector;
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Value, json};

use crate::pod::controller_ref;

/// What a DaemonSet does with an object in its namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Controlled by this DaemonSet and selected: it is ours.
    Owned,
    /// An orphan the selector matches: adopt it.
    Adopt,
    /// Controlled by this DaemonSet but no longer selected: release it.
    Release,
    /// Not ours and not to be taken.
    Ignore,
}

/// The controller reference of an object, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.as_ref()?.iter().find(|r| r.controller == Some(true))
}

/// Decides the claim of `ds` (with its parsed `selector`) on an object.
pub fn claim(ds: &DaemonSet, selector: &Selector, meta: &ObjectMeta) -> Claim {
    let empty = Default::default();
    let controller = controller_of(meta).map(|owner| owner.uid.as_str());
    claim_by(ds, controller, meta.deletion_timestamp.is_some(), || {
        selector.matches(meta.labels.as_ref().unwrap_or(&empty))
    })
}

/// [`claim`] from what it reads of the object: the uid of its controller, whether it is being
/// deleted, and whether the selector matches its labels, asked only when it matters (an object
/// another controller owns is not matched at all).
pub fn claim_by(
    ds: &DaemonSet,
    controller_uid: Option<&str>,
    deleting: bool,
    matches: impl FnOnce() -> bool,
) -> Claim {
    let ds_deleting = ds.metadata.deletion_timestamp.is_some();
    match controller_uid {
        Some(uid) if Some(uid) != ds.metadata.uid.as_deref() => Claim::Ignore,
        Some(_) => match (matches(), ds_deleting) {
            (true, _) => Claim::Owned,
            (false, true) => Claim::Ignore,
            (false, false) => Claim::Release,
        },
        None if ds_deleting || deleting || !matches() => Claim::Ignore,
        None => Claim::Adopt,
    }
}

/// The strategic merge patch that adopts an object (with a uid precondition).
pub fn adopt_patch(ds: &DaemonSet, object_uid: &str) -> Value {
    json!({"metadata": {"ownerReferences": [controller_ref(ds)], "uid": object_uid}})
}

/// The strategic merge patch that releases an object.
pub fn release_patch(ds: &DaemonSet, object_uid: &str) -> Value {
    json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": ds.metadata.uid}], "uid": object_uid}})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds() -> DaemonSet {
        serde_json::from_value(json!({"metadata": {"name": "foo", "uid": "ds-uid"}, "spec": {
            "selector": {"matchLabels": {"name": "simple-daemon"}}, "template": {}}}))
        .unwrap()
    }

    fn meta(v: Value) -> ObjectMeta {
        serde_json::from_value(v).unwrap()
    }

    fn sel() -> Selector {
        Selector::parse("name=simple-daemon").unwrap()
    }

    #[test]
    fn claims() {
        let owned = json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "foo", "uid": "ds-uid", "controller": true}]);
        let other = json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "bar", "uid": "x", "controller": true}]);
        let d = ds();
        assert_eq!(
            claim(&d, &sel(), &meta(json!({"labels": {"name": "simple-daemon"}, "ownerReferences": owned}))),
            Claim::Owned
        );
        assert_eq!(
            claim(&d, &sel(), &meta(json!({"labels": {"name": "other"}, "ownerReferences": owned}))),
            Claim::Release
        );
        assert_eq!(claim(&d, &sel(), &meta(json!({"labels": {"name": "simple-daemon"}}))), Claim::Adopt);
        assert_eq!(claim(&d, &sel(), &meta(json!({"labels": {"name": "other"}}))), Claim::Ignore);
        assert_eq!(
            claim(&d, &sel(), &meta(json!({"labels": {"name": "simple-daemon"}, "ownerReferences": other}))),
            Claim::Ignore
        );
        assert_eq!(
            claim(
                &d,
                &sel(),
                &meta(
                    json!({"labels": {"name": "simple-daemon"}, "deletionTimestamp": "2026-01-01T00:00:00Z"})
                )
            ),
            Claim::Ignore,
            "orphans being deleted are not adopted"
        );
        let never = || -> bool { panic!("another controller's object is not matched") };
        assert_eq!(claim_by(&d, Some("x"), false, never), Claim::Ignore);
        assert_eq!(claim_by(&d, Some("ds-uid"), false, || true), Claim::Owned);
        assert_eq!(claim_by(&d, None, true, || true), Claim::Ignore);
    }

    #[test]
    fn patches() {
        let d = ds();
        assert_eq!(
            release_patch(&d, "pod-uid"),
            json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": "ds-uid"}], "uid": "pod-uid"}})
        );
        let adopt = adopt_patch(&d, "pod-uid");
        assert_eq!(adopt["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(adopt["metadata"]["ownerReferences"][0]["blockOwnerDeletion"], true);
    }
}
