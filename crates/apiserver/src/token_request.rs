//! `serviceaccounts/token`: upstream's TokenRequest, which `kubectl create token` sends. A
//! token for the account, for the audiences asked (the API server's when none), valid for
//! `expirationSeconds` (default an hour, at least ten minutes), optionally bound to a pod or
//! secret of the account's namespace so it dies with that object.

use apimachinery::duration::format_time;
use apimachinery::validation::{FieldError, Path};
use jiff::Timestamp;
use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::resources;
use crate::service_account_token::{Claims, ISSUER, KubernetesClaim, Ref, TokenSigner, username};
use crate::storage::Store;

/// The default validity (upstream's `ExpirationSeconds` default).
pub const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;

fn invalid(errors: &[FieldError]) -> ApiError {
    ApiError::invalid_kind(
        "TokenRequest.authentication.k8s.io",
        "authentication.k8s.io",
        "TokenRequest",
        "",
        errors,
    )
}

/// Answers a TokenRequest for the ServiceAccount `namespace/name`: the request, completed,
/// with the token in its status.
pub fn issue(
    signer: &TokenSigner,
    store: &Store,
    namespace: &str,
    name: &str,
    request: Value,
    now: Timestamp,
) -> ApiResult<Value> {
    let meta = &request["metadata"];
    let mut errors = Vec::new();
    if meta["name"].as_str().is_some_and(|n| !n.is_empty() && n != name) {
        errors.push(FieldError::invalid(
            &Path::new("metadata").child("name"),
            meta["name"].clone(),
            "must match the service account name if specified",
        ));
    }
    if meta["namespace"].as_str().is_some_and(|n| !n.is_empty() && n != namespace) {
        errors.push(FieldError::invalid(
            &Path::new("metadata").child("namespace"),
            meta["namespace"].clone(),
            "must match the service account namespace if specified",
        ));
    }
    let spec = &request["spec"];
    let expiration = spec["expirationSeconds"].as_i64().unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    let path = Path::new("spec").child("expirationSeconds");
    if expiration < 600 {
        errors.push(FieldError::invalid(
            &path,
            expiration,
            "may not specify a duration less than 10 minutes",
        ));
    } else if expiration > 1 << 32 {
        errors.push(FieldError::invalid(
            &path,
            expiration,
            "may not specify a duration larger than 2^32 seconds",
        ));
    }
    if !errors.is_empty() {
        return Err(invalid(&errors));
    }
    let accounts = resources::builtin("", "v1", "serviceaccounts");
    let account = store.get(accounts, namespace, name).ok_or_else(|| ApiError::not_found(accounts, name))?;
    let audiences: Vec<String> = match spec["audiences"].as_array().filter(|a| !a.is_empty()) {
        Some(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        None => vec![ISSUER.to_string()],
    };
    let mut claim = KubernetesClaim {
        namespace: namespace.to_string(),
        serviceaccount: Ref { name: name.to_string(), uid: account.uid().to_string() },
        ..Default::default()
    };
    let bound = &spec["boundObjectRef"];
    if bound.is_object() {
        let kind = bound["kind"].as_str().unwrap_or_default();
        let object_name = bound["name"].as_str().unwrap_or_default();
        let plural = match kind {
            "Pod" => "pods",
            "Secret" => "secrets",
            _ => {
                let api_version = bound["apiVersion"].as_str().unwrap_or_default();
                return Err(ApiError::bad_request(format!(
                    "cannot bind token to object of type {api_version}, Kind={kind}"
                )));
            }
        };
        let rt = resources::builtin("", "v1", plural);
        let object =
            store.get(rt, namespace, object_name).ok_or_else(|| ApiError::not_found(rt, object_name))?;
        if let Some(uid) = bound["uid"].as_str().filter(|u| !u.is_empty())
            && uid != object.uid()
        {
            return Err(ApiError::new(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {kind} {object_name:?}: the UID in the bound object reference ({uid}) does not match the UID in record. The object might have been deleted and then recreated"
                ),
            ));
        }
        let reference = Some(Ref { name: object_name.to_string(), uid: object.uid().to_string() });
        if kind == "Pod" {
            let pod = object.value();
            if pod["spec"]["serviceAccountName"].as_str().unwrap_or_default() != name {
                return Err(ApiError::bad_request(format!(
                    "cannot bind token for serviceaccount {name:?} to pod running with different serviceaccount name."
                )));
            }
            if let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
                let nodes = resources::builtin("", "v1", "nodes");
                if let Some(n) = store.get(nodes, "", node) {
                    claim.node = Some(Ref { name: node.to_string(), uid: n.uid().to_string() });
                }
            }
            claim.pod = reference;
        } else {
            claim.secret = reference;
        }
    }
    let issued = now.as_second();
    let claims = Claims {
        aud: audiences.clone(),
        exp: issued + expiration,
        iat: issued,
        iss: ISSUER.to_string(),
        jti: uuid::Uuid::new_v4().to_string(),
        kubernetes: claim,
        nbf: issued,
        sub: username(namespace, name),
    };
    let token = signer.sign(&claims);
    let expires = Timestamp::from_second(issued + expiration).unwrap_or(now);
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": format_time(now)},
        "spec": {
            "audiences": audiences,
            "expirationSeconds": expiration,
            "boundObjectRef": if bound.is_object() { bound.clone() } else { Value::Null },
        },
        "status": {"token": token, "expirationTimestamp": format_time(expires)},
    }))
}
