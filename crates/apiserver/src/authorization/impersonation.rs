//! `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and `Impersonate-Extra-*`
//! (`kubectl --as`, `--as-group`, `--as-uid`): a user allowed the `impersonate` verb acts as
//! another, each part asked for checked on its own, as upstream's impersonation filter does.

use std::collections::BTreeMap;

use axum::http::HeaderMap;

use super::{Attributes, Authorizer, ResourceAttributes, forbidden};
use crate::authentication::{ANONYMOUS, AUTHENTICATED, UNAUTHENTICATED, UserInfo};
use crate::error::{ApiError, ApiResult};
use crate::storage::Store;

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA: &str = "impersonate-extra-";

/// The user a request acts as: `user` itself without impersonation headers, else the one
/// they name, once `user` may impersonate every part of it.
pub fn acting_user(
    authorizer: &Authorizer,
    store: &Store,
    user: UserInfo,
    headers: &HeaderMap,
) -> ApiResult<UserInfo> {
    let values = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    };
    let name = values(USER).into_iter().next();
    let groups = values(GROUP);
    let uid = values(UID).into_iter().next();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (header, value) in headers {
        if let Some(key) = header.as_str().strip_prefix(EXTRA)
            && let Ok(value) = value.to_str()
        {
            let key = percent_encoding::percent_decode_str(key).decode_utf8_lossy().to_lowercase();
            extra.entry(key).or_default().push(value.to_string());
        }
    }
    let Some(name) = name else {
        if groups.is_empty() && uid.is_none() && extra.is_empty() {
            return Ok(user);
        }
        let mut asked: Vec<String> = groups.iter().map(|g| format!("group {g:?}")).collect();
        asked.extend(uid.iter().map(|u| format!("uid {u:?}")));
        asked.extend(extra.keys().map(|k| format!("extra {k:?}")));
        return Err(ApiError::bad_request(format!(
            "requested [{}] without impersonating a user",
            asked.join(" ")
        )));
    };
    let check =
        |group: &str, resource: &str, subresource: &str, namespace: &str, object: &str| -> ApiResult<()> {
            let attrs = Attributes {
                user: user.clone(),
                verb: "impersonate".into(),
                resource: Some(ResourceAttributes {
                    namespace: namespace.into(),
                    group: group.into(),
                    resource: resource.into(),
                    subresource: subresource.into(),
                    name: object.into(),
                }),
                path: String::new(),
            };
            let decision = authorizer.authorize(store, &attrs);
            if decision.allowed { Ok(()) } else { Err(forbidden(&attrs, &decision.reason)) }
        };
    let service_account = name.strip_prefix("system:serviceaccount:").and_then(|rest| rest.split_once(':'));
    match service_account {
        Some((ns, sa)) => check("", "serviceaccounts", "", ns, sa)?,
        None => check("", "users", "", "", &name)?,
    }
    for g in &groups {
        check("", "groups", "", "", g)?;
    }
    if let Some(uid) = &uid {
        check("authentication.k8s.io", "uids", "", "", uid)?;
    }
    for (key, values) in &extra {
        for v in values {
            check("authentication.k8s.io", "userextras", key, "", v)?;
        }
    }
    let mut groups = groups;
    if groups.is_empty()
        && let Some((ns, _)) = service_account
    {
        groups = vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{ns}")];
    }
    if !groups.iter().any(|g| g == AUTHENTICATED || g == UNAUTHENTICATED) {
        groups.push(if name == ANONYMOUS { UNAUTHENTICATED } else { AUTHENTICATED }.into());
    }
    Ok(UserInfo { username: name, uid: uid.unwrap_or_default(), groups, extra })
}
