//! The field manager: `metadata.managedFields` kept on every write, and server-side apply, as
//! upstream's handlers do it around the registry — who the manager is (the `fieldManager`
//! parameter, else the client's User-Agent), an update's changes recorded for it, and an
//! applied configuration merged with conflicts reported as a 409 naming each field.

use apimachinery::apply::{ManagedFields, Write, managers, typed};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::resources::ResourceType;
use crate::strategy;

/// Upstream's limit on a manager's name.
const MAX_MANAGER_LENGTH: usize = 128;
/// Who writes objects the server makes itself (its seeds).
pub const SERVER: &str = "kube-apiserver";

/// The manager of a request: `fieldManager`, else the User-Agent up to its first `/` (upstream
/// `prefixFromUserAgent`, so `kubectl/v1.33.0 (linux/amd64)` is `kubectl`).
/// `options_kind` names the request's options in errors (`PatchOptions`).
pub fn manager_of(field_manager: Option<&str>, user_agent: &str, options_kind: &str) -> ApiResult<String> {
    match field_manager.filter(|m| !m.is_empty()) {
        Some(m) if m.len() > MAX_MANAGER_LENGTH => Err(ApiError::invalid_options(
            options_kind,
            &format!("fieldManager: Too long: may not be more than {MAX_MANAGER_LENGTH} bytes"),
        )),
        Some(m) => Ok(m.to_string()),
        None => {
            Ok(user_agent.split('/').next().unwrap_or_default().chars().take(MAX_MANAGER_LENGTH).collect())
        }
    }
}

fn now() -> String {
    apimachinery::duration::format_time(Timestamp::now())
}

fn write<'a>(
    rt: &ResourceType,
    manager: &'a str,
    subresource: &'a str,
    time: &'a str,
    api_version: &'a str,
) -> Write<'a> {
    Write {
        manager,
        api_version,
        subresource,
        time,
        ty: rt.rules.field_type(rt),
        split_status: strategy::has_status_subresource(rt),
    }
}

fn managed_of(obj: &Value) -> &Value {
    obj.get("metadata").and_then(|m| m.get("managedFields")).unwrap_or(&Value::Null)
}

fn set_managed(obj: &mut Value, managed: &ManagedFields) {
    // Packed as the server keeps them (see `wire`).
    put_managed(obj, managed.encode_packed());
}

/// Stores encoded entries as `metadata.managedFields`; none leaves the field out.
fn put_managed(obj: &mut Value, entries: Value) {
    match entries {
        Value::Array(a) if a.is_empty() => {
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("managedFields");
            }
        }
        encoded => obj["metadata"]["managedFields"] = encoded,
    }
}

/// Records a write of `new` over `old` (`None` for a create) by `manager`. Managed fields the
/// request sets itself are kept as given (kubectl moves a client-side applier's fields to its
/// server-side one that way); `[{}]` clears them.
pub fn record_update(
    rt: &ResourceType,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    subresource: &str,
) -> ApiResult<()> {
    let given = managed_of(new);
    let before = old.map_or(&Value::Null, managed_of);
    if !given.is_null() && given != before {
        if given.as_array().is_some_and(|a| a.len() == 1 && a[0].as_object().is_some_and(|o| o.is_empty())) {
            if let Some(m) = new["metadata"].as_object_mut() {
                m.remove("managedFields");
            }
            return Ok(());
        }
        ManagedFields::decode(given).map_err(|e| {
            ApiError::bad_request(format!("error decoding managed fields: metadata.managedFields{e}"))
        })?;
        return Ok(());
    }
    let (time, api_version) = (now(), rt.api_version());
    let w = write(rt, manager, subresource, &time, &api_version);
    let empty = json!({});
    let comparison = typed::compare(old.unwrap_or(&empty), new, w.ty);
    // A create owns what it sets; only an update can leave ownership as it was.
    if old.is_some() && managers::update_keeps_ownership(before, &comparison, &w) {
        // The hot path: the writer changed only what it alone owns. Stored as they were
        // (copied only when the request left them out).
        if managed_of(new).is_null() && !before.is_null() {
            new["metadata"]["managedFields"] = before.clone();
        }
        return Ok(());
    }
    match managers::update_stored(before, &comparison, &w) {
        Ok(entries) => put_managed(new, entries),
        Err(_) => {
            // Entries stored unreadable: recorded afresh from what can be read.
            let mut managed = ManagedFields::decode(before).unwrap_or_default();
            managed.update_with(&comparison, &w);
            set_managed(new, &managed);
        }
    }
    Ok(())
}

/// kubectl's client-side apply record.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The manager whose server-side applies keep that record (upstream's, so `kubectl apply`
/// client-side and server-side can follow each other).
const KUBECTL: &str = "kubectl";

/// An apply of `config` by `manager` to `live` (`None`: the object does not exist yet): the
/// object to store, its managed fields set, or upstream's 409 with a cause per conflicting
/// field. As upstream does for kubectl: its conflicts on fields whose live values are still
/// what its client-side apply recorded are no conflicts (an object moves from client-side to
/// server-side apply without `--force-conflicts`), and an object with that record gets the new
/// configuration as its record.
pub fn apply(
    rt: &ResourceType,
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    subresource: &str,
    force: bool,
) -> ApiResult<Value> {
    let managed = ManagedFields::decode(live.map_or(&Value::Null, managed_of)).unwrap_or_default();
    let (time, api_version) = (now(), rt.api_version());
    let mut base = live.cloned().unwrap_or_else(|| json!({}));
    if let Some(m) = base["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
    let w = write(rt, manager, subresource, &time, &api_version);
    let mut after = managed.clone();
    let mut applied = match after.apply(&base, config, &w, force) {
        Ok(applied) => applied,
        Err(conflicts) => {
            let allowed = (manager == KUBECTL).then(|| last_applied_agreement(&base, w.ty)).flatten();
            match allowed {
                Some(allowed) if conflicts.0.iter().all(|c| allowed.contains(&c.path)) => {
                    after = managed;
                    after
                        .apply(&base, config, &w, true)
                        .map_err(|c| ApiError::apply_conflict(c.message(), c.causes()))?
                }
                _ => return Err(ApiError::apply_conflict(conflicts.message(), conflicts.causes())),
            }
        }
    };
    set_managed(&mut applied, &after);
    if manager == KUBECTL && applied["metadata"]["annotations"].get(LAST_APPLIED).is_some() {
        let mut record = config.clone();
        if let Some(a) = record["metadata"]["annotations"].as_object_mut() {
            a.remove(LAST_APPLIED);
            if a.is_empty() {
                record["metadata"].as_object_mut().map(|m| m.remove("annotations"));
            }
        }
        applied["metadata"]["annotations"][LAST_APPLIED] = json!(record.to_string());
    }
    Ok(applied)
}

/// The fields kubectl's client-side apply record sets that the object still holds as recorded.
fn last_applied_agreement(
    live: &Value,
    ty: apimachinery::apply::types::T,
) -> Option<apimachinery::apply::FieldSet> {
    let record: Value = serde_json::from_str(live["metadata"]["annotations"][LAST_APPLIED].as_str()?).ok()?;
    Some(apimachinery::apply::typed::agreeing_fields(&record, live, ty))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manager_is_named_as_upstream_names_it() {
        assert_eq!(manager_of(Some("flux"), "kubectl/v1.33.0", "PatchOptions").unwrap(), "flux");
        assert_eq!(
            manager_of(None, "kubectl/v1.33.0 (linux/amd64) kubernetes/abc", "PatchOptions").unwrap(),
            "kubectl"
        );
        assert_eq!(manager_of(Some(""), "kube-rs/1.0", "PatchOptions").unwrap(), "kube-rs");
        assert_eq!(
            manager_of(Some(&"m".repeat(129)), "", "PatchOptions").unwrap_err().message,
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Too long: may not be more than 128 bytes"
        );
    }
}
