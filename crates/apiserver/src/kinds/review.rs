//! Reviews: requests the server answers at once and never stores — `kubectl auth can-i`
//! (SelfSubjectAccessReview, and SelfSubjectRulesReview for `--list`), `kubectl auth whoami`
//! (SelfSubjectReview), and the SubjectAccessReview, LocalSubjectAccessReview and TokenReview
//! that other components send. Answers follow the server's authentication (one admin token)
//! and its `AlwaysAllow` authorization mode.

use apimachinery::validation::{FieldError, FieldErrors, Path};
use k8s_openapi::api::{authentication::v1 as authn, authorization::v1 as authz};
use serde_json::{Value, json};

use super::{Kind, typed_as};
use crate::authentication::{Authenticator, UserInfo};
use crate::error::ApiResult;

/// What a review is answered from.
pub struct ReviewContext<'a> {
    /// Who sent the review.
    pub user: &'a UserInfo,
    pub authenticator: &'a Authenticator,
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

fn user_info(user: &UserInfo) -> Value {
    json!({"username": user.username, "groups": user.groups})
}

/// Under `AlwaysAllow`, every request is allowed, whoever asks and about whom.
fn allowed(_request: &Value, _ctx: &ReviewContext<'_>) -> Value {
    json!({"allowed": true})
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
    allowed
);
review!(SubjectAccessReview, authz::SubjectAccessReview, |r: &Value| validate_access_spec(r, true), allowed);
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
    allowed
);
review!(
    SelfSubjectRulesReview,
    authz::SelfSubjectRulesReview,
    |_: &Value| Vec::new(),
    |_: &Value, _: &ReviewContext<'_>| json!({
        "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
        "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
        "incomplete": false,
    })
);
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
        match ctx.authenticator.user_for_token(token) {
            Some(user) => {
                json!({"authenticated": true, "user": user_info(&user), "audiences": request["spec"]["audiences"].clone()})
            }
            None => json!({"authenticated": false, "error": "invalid bearer token"}),
        }
    }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authentication::ADMIN;
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

    #[test]
    fn answers_follow_the_token_and_always_allow() {
        let auth = Authenticator::new("t0ken");
        let ctx = ReviewContext { user: &ADMIN, authenticator: &auth };
        let answer = |k: &dyn Kind, r: Value| (k.review().unwrap())(&r, &ctx);
        assert_eq!(answer(&SelfSubjectAccessReview, json!({}))["allowed"], true);
        assert_eq!(answer(&SelfSubjectReview, json!({}))["userInfo"]["username"], "kubernetes-admin");
        assert_eq!(answer(&TokenReview, json!({"spec": {"token": "t0ken"}}))["authenticated"], true);
        assert_eq!(answer(&TokenReview, json!({"spec": {"token": "other"}}))["authenticated"], false);
        assert!(
            TokenReview.review().is_some()
                && super::super::Typed::<authn::TokenReview>::NEW.review().is_none()
        );
    }
}
