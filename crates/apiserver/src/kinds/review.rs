//! Reviews: requests the server answers at once and never stores — `kubectl auth can-i`
//! (SelfSubjectAccessReview, and SelfSubjectRulesReview for `--list`), `kubectl auth whoami`
//! (SelfSubjectReview), and the SubjectAccessReview, LocalSubjectAccessReview and TokenReview
//! that other components send. Answers come from the server's own authenticator and
//! authorizer, so a review says what a request would meet.

use std::collections::BTreeMap;

use apimachinery::validation::{FieldError, FieldErrors, Path};
use k8s_openapi::api::{authentication::v1 as authn, authorization::v1 as authz};
use serde_json::{Value, json};

use super::{Kind, typed_as};
use crate::authentication::{Authenticator, UserInfo};
use crate::authorization::{Attributes, Authorizer, ResourceAttributes};
use crate::error::ApiResult;
use crate::storage::Store;

/// What a review is answered from.
pub struct ReviewContext<'a> {
    /// Who sent the review.
    pub user: &'a UserInfo,
    pub authenticator: &'a Authenticator,
    pub authorizer: &'a Authorizer,
    pub store: &'a Store,
    /// Unix seconds.
    pub now: i64,
}

/// How a review kind is answered: the status of the answer, from the (defaulted, validated)
/// request.
pub type Answer = fn(&Value, &ReviewContext<'_>) -> Value;

#[derive(Debug)]
pub struct SelfSubjectAccessReview;
#[derive(Debug)]
pub struct SubjectAccessReview;
#[derive(Debug)]
pub struct LocalSubjectAccessReview;
#[derive(Debug)]
pub struct SelfSubjectRulesReview;
#[derive(Debug)]
pub struct SelfSubjectReview;
#[derive(Debug)]
pub struct TokenReview;

/// `authentication.k8s.io/v1 UserInfo`, empty fields left out.
fn user_info(user: &UserInfo) -> Value {
    let mut info = json!({"username": user.username, "groups": user.groups});
    if !user.uid.is_empty() {
        info["uid"] = json!(user.uid);
    }
    if !user.extra.is_empty() {
        info["extra"] = json!(user.extra);
    }
    info
}

fn string(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// The attributes a review's spec asks about, for `user`.
fn spec_attributes(spec: &Value, user: UserInfo) -> Attributes {
    match spec.get("resourceAttributes").filter(|r| r.is_object()) {
        Some(r) => Attributes {
            user,
            verb: string(&r["verb"]),
            resource: Some(ResourceAttributes {
                namespace: string(&r["namespace"]),
                group: string(&r["group"]),
                resource: string(&r["resource"]),
                subresource: string(&r["subresource"]),
                name: string(&r["name"]),
            }),
            path: String::new(),
        },
        None => {
            let n = &spec["nonResourceAttributes"];
            Attributes { user, verb: string(&n["verb"]), resource: None, path: string(&n["path"]) }
        }
    }
}

/// The user a SubjectAccessReview names.
fn named_user(spec: &Value) -> UserInfo {
    let strings = |v: &Value| -> Vec<String> { v.as_array().into_iter().flatten().map(string).collect() };
    UserInfo {
        username: string(&spec["user"]),
        uid: string(&spec["uid"]),
        groups: strings(&spec["groups"]),
        extra: spec["extra"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.clone(), strings(v)))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// `SubjectAccessReviewStatus`.
fn access(attrs: &Attributes, ctx: &ReviewContext<'_>) -> Value {
    let decision = ctx.authorizer.authorize(ctx.store, attrs);
    let mut status = json!({"allowed": decision.allowed});
    if !decision.reason.is_empty() {
        status["reason"] = json!(decision.reason);
    }
    status
}

fn self_access(request: &Value, ctx: &ReviewContext<'_>) -> Value {
    access(&spec_attributes(&request["spec"], ctx.user.clone()), ctx)
}

fn subject_access(request: &Value, ctx: &ReviewContext<'_>) -> Value {
    access(&spec_attributes(&request["spec"], named_user(&request["spec"])), ctx)
}

/// `SubjectRulesReviewStatus`: every rule the user holds in the namespace, resource rules and
/// non-resource rules apart.
fn self_rules(request: &Value, ctx: &ReviewContext<'_>) -> Value {
    let namespace = request["spec"]["namespace"].as_str().unwrap_or_default();
    let (rules, errors) = if ctx.user.is_privileged() {
        let all = serde_json::from_value(json!([
            {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]},
            {"verbs": ["*"], "nonResourceURLs": ["*"]},
        ]))
        .unwrap_or_default();
        (all, Vec::new())
    } else {
        ctx.authorizer.policy(ctx.store).rules_for(ctx.user, namespace)
    };
    let mut resource_rules = Vec::new();
    let mut non_resource_rules = Vec::new();
    for rule in rules {
        if rule.resources.as_ref().is_some_and(|r| !r.is_empty()) {
            let mut r = json!({"verbs": rule.verbs, "apiGroups": rule.api_groups.unwrap_or_default(), "resources": rule.resources});
            if let Some(names) = rule.resource_names.filter(|n| !n.is_empty()) {
                r["resourceNames"] = json!(names);
            }
            resource_rules.push(r);
        }
        if let Some(urls) = rule.non_resource_urls.filter(|u| !u.is_empty()) {
            non_resource_rules.push(json!({"verbs": rule.verbs, "nonResourceURLs": urls}));
        }
    }
    let mut status = json!({"resourceRules": resource_rules, "nonResourceRules": non_resource_rules, "incomplete": !errors.is_empty()});
    if !errors.is_empty() {
        status["evaluationError"] = json!(errors.join(", "));
    }
    status
}

/// Upstream `ValidateSubjectAccessReviewSpec` (and the self variant, which names no user).
fn validate_access_spec(review: &Value, names_user: bool) -> FieldErrors {
    let spec = &review["spec"];
    let path = Path::new("spec");
    let resource = spec["resourceAttributes"].is_object();
    let non_resource = spec["nonResourceAttributes"].is_object();
    let mut errs = Vec::new();
    if resource && non_resource {
        errs.push(FieldError::invalid(
            &path.child("nonResourceAttributes"),
            spec["nonResourceAttributes"].clone(),
            "cannot be specified in combination with resourceAttributes",
        ));
    }
    if !resource && !non_resource {
        errs.push(FieldError::invalid(
            &path.child("resourceAttributes"),
            Value::Null,
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    }
    let empty =
        |f: &str| spec[f].as_str().is_none_or(str::is_empty) && spec[f].as_array().is_none_or(Vec::is_empty);
    if names_user && empty("user") && empty("groups") {
        errs.push(FieldError::invalid(
            &path.child("user"),
            spec["user"].as_str().unwrap_or_default(),
            "at least one of user or group must be specified",
        ));
    }
    errs
}

/// The kind rules every review shares: no status subresource, nothing to compare on update
/// (reviews are never updated), its answer.
macro_rules! review {
    ($kind:ident, $type:ty, $validate:expr, $answer:expr) => {
        impl Kind for $kind {
            typed_as!($type);

            fn validate(&self, obj: &Value) -> ApiResult<FieldErrors> {
                Ok($validate(obj))
            }

            fn validate_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
                Ok(Vec::new())
            }

            fn validate_status_update(&self, _new: &Value, _old: &Value) -> ApiResult<FieldErrors> {
                Ok(Vec::new())
            }

            fn review(&self) -> Option<Answer> {
                Some($answer)
            }
        }
    };
}

review!(
    SelfSubjectAccessReview,
    authz::SelfSubjectAccessReview,
    |r: &Value| validate_access_spec(r, false),
    self_access
);
review!(
    SubjectAccessReview,
    authz::SubjectAccessReview,
    |r: &Value| validate_access_spec(r, true),
    subject_access
);
review!(
    LocalSubjectAccessReview,
    authz::LocalSubjectAccessReview,
    |r: &Value| {
        let mut errs = validate_access_spec(r, true);
        let ns = r["metadata"]["namespace"].as_str().unwrap_or_default();
        let spec = &r["spec"];
        if spec["resourceAttributes"].is_object()
            && spec["resourceAttributes"]["namespace"].as_str().unwrap_or_default() != ns
        {
            errs.push(FieldError::invalid(
                &Path::new("spec").child("resourceAttributes").child("namespace"),
                spec["resourceAttributes"]["namespace"].as_str().unwrap_or_default(),
                "must match metadata.namespace",
            ));
        }
        if spec["nonResourceAttributes"].is_object() {
            errs.push(FieldError::invalid(
                &Path::new("spec").child("nonResourceAttributes"),
                spec["nonResourceAttributes"].clone(),
                "disallowed on this kind of request",
            ));
        }
        errs
    },
    subject_access
);
review!(SelfSubjectRulesReview, authz::SelfSubjectRulesReview, |_: &Value| Vec::new(), self_rules);
review!(
    SelfSubjectReview,
    authn::SelfSubjectReview,
    |_: &Value| Vec::new(),
    |_: &Value, ctx: &ReviewContext<'_>| json!({"userInfo": user_info(ctx.user)})
);
review!(
    TokenReview,
    authn::TokenReview,
    |_: &Value| Vec::new(),
    |request: &Value, ctx: &ReviewContext<'_>| {
        let token = request["spec"]["token"].as_str().unwrap_or_default();
        // No audiences asked: the API server's own.
        let asked: Vec<String> = match request["spec"]["audiences"].as_array().filter(|a| !a.is_empty()) {
            Some(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            None => vec![crate::service_account_token::ISSUER.to_string()],
        };
        match ctx.authenticator.review(token, ctx.store, ctx.now, &asked) {
            Some((user, valid)) => {
                json!({"authenticated": true, "user": user_info(&user), "audiences": valid})
            }
            None => json!({"authenticated": false, "error": "invalid bearer token"}),
        }
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::validation::aggregate_message;

    #[test]
    fn access_reviews_are_checked_as_upstream() {
        let neither = json!({"spec": {}});
        assert_eq!(
            aggregate_message(&SubjectAccessReview.validate(&neither).unwrap()),
            "[spec.resourceAttributes: Invalid value: null: exactly one of nonResourceAttributes or resourceAttributes must be specified, spec.user: Invalid value: \"\": at least one of user or group must be specified]"
        );
        let local = json!({"metadata": {"namespace": "a"}, "spec": {"user": "u", "resourceAttributes": {"namespace": "b", "verb": "get"}}});
        assert_eq!(
            aggregate_message(&LocalSubjectAccessReview.validate(&local).unwrap()),
            "spec.resourceAttributes.namespace: Invalid value: \"b\": must match metadata.namespace"
        );
        let fine = json!({"spec": {"resourceAttributes": {"verb": "create", "resource": "pods"}}});
        assert!(SelfSubjectAccessReview.validate(&fine).unwrap().is_empty());
    }
}
