//! Upstream's `clusterrole-aggregation` controller: a ClusterRole with an `aggregationRule`
//! holds the rules of every ClusterRole its selectors match (in name order, each rule once),
//! kept current as roles come, change and go. So `admin`, `edit` and `view` hold what the
//! `aggregate-to-*` roles grant, and a CRD's installer can extend them with a labelled role.

use std::collections::BTreeMap;
use std::sync::Arc;

use apimachinery::labels::Selector;
use client::informer::{self, Change, Store};
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};
use serde_json::json;

const MANAGER: &str = "clusterrole-aggregation-controller";

/// The rules `role` should hold, if it aggregates: those of every other role its selectors
/// match, selector by selector, roles in name order, without repeats.
pub fn aggregated_rules(role: &ClusterRole, all: &[Arc<ClusterRole>]) -> Option<Vec<PolicyRule>> {
    let selectors = role.aggregation_rule.as_ref()?.cluster_role_selectors.as_ref()?;
    let mut sorted: Vec<&Arc<ClusterRole>> = all.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let empty = BTreeMap::new();
    let mut rules: Vec<PolicyRule> = Vec::new();
    for selector in selectors {
        let Ok(selector) = Selector::from_label_selector(Some(selector)) else { continue };
        for other in &sorted {
            if other.metadata.name == role.metadata.name
                || !selector.matches(other.metadata.labels.as_ref().unwrap_or(&empty))
            {
                continue;
            }
            for rule in other.rules.iter().flatten() {
                if !rules.contains(rule) {
                    rules.push(rule.clone());
                }
            }
        }
    }
    Some(rules)
}

pub struct ClusterRoleAggregation {
    client: Client,
}

impl ClusterRoleAggregation {
    pub fn new(client: Client) -> Arc<Self> {
        Arc::new(ClusterRoleAggregation { client })
    }

    pub async fn run(self: Arc<Self>) {
        let store: Arc<Store<ClusterRole>> = Arc::default();
        let mut changes =
            informer::spawn(Api::all(self.client.clone()), watcher::Config::default(), store.clone());
        let mut synced = false;
        while let Some(change) = changes.recv().await {
            synced |= matches!(change, Change::Synced);
            // A burst of changes (the initial list, an installer's manifest) is one pass.
            while let Ok(more) = changes.try_recv() {
                synced |= matches!(more, Change::Synced);
            }
            if synced {
                self.sync_all(&store).await;
            }
        }
    }

    async fn sync_all(&self, store: &Store<ClusterRole>) {
        let all = store.list();
        for role in &all {
            let Some(rules) = aggregated_rules(role, &all) else { continue };
            if role.rules.as_deref().unwrap_or_default() == rules.as_slice() {
                continue;
            }
            let patch = json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": role.name_any()},
                "rules": rules,
            });
            let api = Api::<ClusterRole>::all(self.client.clone());
            let params = PatchParams::apply(MANAGER).force();
            if let Err(e) = api.patch(&role.name_any(), &params, &Patch::Apply(patch)).await {
                tracing::warn!(role = %role.name_any(), error = %e, "aggregating the rules of a ClusterRole failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(v: serde_json::Value) -> Arc<ClusterRole> {
        Arc::new(serde_json::from_value(v).unwrap())
    }

    #[test]
    fn aggregation_collects_matching_rules_in_name_order_once() {
        let view = role(json!({"metadata": {"name": "view", "labels": {"edit": "true"}},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"view": "true"}}]}}));
        let edit = role(json!({"metadata": {"name": "edit"},
            "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"edit": "true"}}]},
            "rules": [{"verbs": ["stale"], "apiGroups": [""], "resources": ["x"]}]}));
        let b = role(json!({"metadata": {"name": "b", "labels": {"view": "true"}},
            "rules": [{"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}));
        let a = role(json!({"metadata": {"name": "a", "labels": {"view": "true", "edit": "true"}},
            "rules": [{"verbs": ["list"], "apiGroups": [""], "resources": ["pods"]},
                      {"verbs": ["get"], "apiGroups": [""], "resources": ["pods"]}]}));
        let plain = role(json!({"metadata": {"name": "plain"}, "rules": []}));
        let all = vec![view.clone(), edit.clone(), b.clone(), a.clone(), plain.clone()];
        let verbs = |rules: Vec<PolicyRule>| rules.into_iter().map(|r| r.verbs.join(",")).collect::<Vec<_>>();
        assert_eq!(verbs(aggregated_rules(&view, &all).unwrap()), ["list", "get"]);
        // `edit` takes `a` (matching itself) and `view` as it stands, never its own rules.
        assert_eq!(verbs(aggregated_rules(&edit, &all).unwrap()), ["list", "get"]);
        assert_eq!(aggregated_rules(&plain, &all), None);
    }
}
