//! Create, read, update and delete of every served kind over HTTPS with kube-rs, with the
//! semantics upstream gives them: defaults, generation, optimistic concurrency, status
//! subresource, admission, graceful and propagated deletion.

mod common;

use std::fmt::Debug;

use common::{TestServer, daemonset, from_json, pod, status};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Namespace, Node, Pod};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy, WatchEvent, WatchParams,
};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

/// Creates, reads, lists, updates (after `mutate`) and deletes one object.
async fn round_trip<K>(api: Api<K>, obj: K, mutate: impl Fn(&mut K))
where
    K: Resource + Clone + Serialize + DeserializeOwned + Debug,
    K::DynamicType: Default,
{
    let name = obj.name_any();
    let created = api.create(&PostParams::default(), &obj).await.expect("create");
    assert!(created.uid().is_some(), "uid set");
    assert!(created.meta().creation_timestamp.is_some(), "creationTimestamp set");
    let rv: u64 = created.resource_version().unwrap().parse().expect("numeric resourceVersion");
    let got = api.get(&name).await.expect("get");
    assert_eq!(got.uid(), created.uid());
    let listed = api.list(&ListParams::default()).await.expect("list");
    assert!(listed.items.iter().any(|o| o.name_any() == name));
    let list_rv: u64 = listed.metadata.resource_version.unwrap().parse().unwrap();
    assert!(list_rv >= rv);

    let mut changed = got.clone();
    mutate(&mut changed);
    let updated = api.replace(&name, &PostParams::default(), &changed).await.expect("update");
    let rv2: u64 = updated.resource_version().unwrap().parse().unwrap();
    assert!(rv2 > rv, "resourceVersion increases on update");
    assert_eq!(updated.labels().get("updated").map(String::as_str), Some("yes"));

    api.delete(&name, &DeleteParams::default()).await.expect("delete");
    // Most kinds go at once; a namespace stays Terminating until its contents are removed.
    for _ in 0..50 {
        if api.get_opt(&name).await.expect("get after delete").is_none() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status(api.get(&name).await).code, 404);
}

fn mark<K: Resource>(o: &mut K) {
    o.labels_mut().insert("updated".into(), "yes".into());
}

#[tokio::test]
async fn crud_of_every_kind() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    round_trip(Api::<Namespace>::all(c.clone()), from_json(json!({"metadata": {"name": "team-a"}})), mark)
        .await;
    round_trip(
        Api::<Node>::all(c.clone()),
        from_json(json!({"metadata": {"name": "n1"}, "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}})),
        mark,
    )
    .await;
    round_trip(Api::<Pod>::namespaced(c.clone(), "default"), pod("p1", None), mark).await;
    round_trip(
        Api::<Event>::namespaced(c.clone(), "default"),
        from_json(json!({"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "p1", "namespace": "default"},
            "reason": "Testing", "message": "hello", "type": "Normal"})),
        mark,
    )
    .await;
    round_trip(
        Api::<ConfigMap>::namespaced(c.clone(), "default"),
        from_json(json!({"metadata": {"name": "cm"}, "data": {"k": "v"}})),
        mark,
    )
    .await;
    round_trip(Api::<DaemonSet>::namespaced(c.clone(), "default"), daemonset("ds1", "nginx:1.25"), mark)
        .await;
    round_trip(
        Api::<ControllerRevision>::namespaced(c.clone(), "default"),
        from_json(json!({"metadata": {"name": "ds1-abc"}, "revision": 1, "data": {"spec": {}}})),
        mark,
    )
    .await;
    round_trip(
        Api::<PriorityClass>::all(c.clone()),
        from_json(json!({"metadata": {"name": "high"}, "value": 1000, "description": "d"})),
        mark,
    )
    .await;
    round_trip(
        Api::<Lease>::namespaced(c.clone(), "kube-node-lease"),
        from_json(
            json!({"metadata": {"name": "n1"}, "spec": {"holderIdentity": "n1", "leaseDurationSeconds": 40}}),
        ),
        mark,
    )
    .await;
}

#[tokio::test]
async fn built_in_namespaces_and_priority_classes_exist() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let ns: Vec<String> = Api::<Namespace>::all(c.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .iter()
        .map(|n| n.name_any())
        .collect();
    for want in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(ns.contains(&want.to_string()), "{want} in {ns:?}");
    }
    let pcs = Api::<PriorityClass>::all(c);
    assert_eq!(pcs.get("system-node-critical").await.unwrap().value, 2_000_001_000);
    assert_eq!(pcs.get("system-cluster-critical").await.unwrap().value, 2_000_000_000);
}

#[tokio::test]
async fn generate_name_and_already_exists() {
    let ts = TestServer::start().await;
    let cms = Api::<ConfigMap>::namespaced(ts.client().await, "default");
    let made = cms
        .create(&PostParams::default(), &from_json(json!({"metadata": {"generateName": "cfg-"}})))
        .await
        .unwrap();
    let name = made.name_any();
    assert!(name.starts_with("cfg-") && name.len() == 9, "{name}");
    let again = status(cms.create(&PostParams::default(), &made).await);
    assert_eq!((again.code, again.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(again.message, format!("configmaps \"{name}\" already exists"));
}

#[tokio::test]
async fn stale_update_is_a_conflict() {
    let ts = TestServer::start().await;
    let cms = Api::<ConfigMap>::namespaced(ts.client().await, "default");
    let first: ConfigMap =
        cms.create(&PostParams::default(), &from_json(json!({"metadata": {"name": "c"}}))).await.unwrap();
    let mut a = first.clone();
    a.data = Some([("k".to_string(), "a".to_string())].into());
    cms.replace("c", &PostParams::default(), &a).await.unwrap();
    let mut b = first;
    b.data = Some([("k".to_string(), "b".to_string())].into());
    let err = status(cms.replace("c", &PostParams::default(), &b).await);
    assert_eq!((err.code, err.reason.as_str()), (409, "Conflict"));
    assert!(err.message.contains("the object has been modified"), "{}", err.message);
    assert_eq!(cms.get("c").await.unwrap().data.unwrap()["k"], "a", "the stale write changed nothing");
}

#[tokio::test]
async fn generation_tracks_spec_and_status_is_a_subresource() {
    let ts = TestServer::start().await;
    let dss = Api::<DaemonSet>::namespaced(ts.client().await, "default");
    let ds = dss.create(&PostParams::default(), &daemonset("gen", "nginx:1.25")).await.unwrap();
    assert_eq!(ds.metadata.generation, Some(1));
    let strategy = ds.spec.as_ref().unwrap().update_strategy.as_ref().unwrap();
    assert_eq!(strategy.type_.as_deref(), Some("RollingUpdate"), "defaults applied");
    assert_eq!(ds.spec.as_ref().unwrap().revision_history_limit, Some(10));

    let labelled = dss
        .patch("gen", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})))
        .await
        .unwrap();
    assert_eq!(labelled.metadata.generation, Some(1), "metadata changes keep the generation");
    let respec = dss
        .patch("gen", &PatchParams::default(), &Patch::Merge(json!({"spec": {"minReadySeconds": 5}})))
        .await
        .unwrap();
    assert_eq!(respec.metadata.generation, Some(2), "spec changes bump the generation");

    // The main resource ignores status; /status ignores spec.
    let ignored = dss
        .patch("gen", &PatchParams::default(), &Patch::Merge(json!({"status": {"numberReady": 7}})))
        .await
        .unwrap();
    assert_eq!(ignored.status.as_ref().map(|s| s.number_ready), Some(0));
    let st = dss
        .patch_status(
            "gen",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"minReadySeconds": 99}, "status": {"numberReady": 3, "desiredNumberScheduled": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(st.status.as_ref().unwrap().number_ready, 3);
    assert_eq!(st.spec.as_ref().unwrap().min_ready_seconds, Some(5));
    assert_eq!(st.metadata.generation, Some(2));
    let fetched = dss.get_status("gen").await.unwrap();
    assert_eq!(fetched.status.unwrap().desired_number_scheduled, 3);
}

#[tokio::test]
async fn pagination_with_limit_and_continue() {
    let ts = TestServer::start().await;
    let cms = Api::<ConfigMap>::namespaced(ts.client().await, "default");
    for i in 0..7 {
        cms.create(&PostParams::default(), &from_json(json!({"metadata": {"name": format!("c{i}")}})))
            .await
            .unwrap();
    }
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut lp = ListParams::default().limit(3);
        if let Some(t) = &token {
            lp = lp.continue_token(t);
        }
        let page = cms.list(&lp).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 3);
        names.extend(page.items.iter().map(|c| c.name_any()));
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    // Every namespace has `kube-root-ca.crt`, as on any cluster.
    let mut expected: Vec<String> = (0..7).map(|i| format!("c{i}")).collect();
    expected.push("kube-root-ca.crt".into());
    assert_eq!(names, expected);
}

#[tokio::test]
async fn a_paginated_list_reports_its_first_pages_resource_version_so_a_watch_misses_nothing() {
    let ts = TestServer::start().await;
    let cms = Api::<ConfigMap>::namespaced(ts.client().await, "default");
    for i in 0..4 {
        cms.create(&PostParams::default(), &from_json(json!({"metadata": {"name": format!("c{i}")}})))
            .await
            .unwrap();
    }
    let first = cms.list(&ListParams::default().limit(2)).await.unwrap();
    let first_rv = first.metadata.resource_version.clone().unwrap();
    // c0, on the page already read, changes before the last page is read.
    cms.patch("c0", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "v"}}))).await.unwrap();
    let token = first.metadata.continue_.clone().unwrap();
    let last = cms.list(&ListParams::default().limit(2).continue_token(&token)).await.unwrap();
    assert_eq!(last.metadata.resource_version.as_deref(), Some(first_rv.as_str()));
    // Watching from the list's resourceVersion replays the change to c0.
    let mut events = cms.watch(&WatchParams::default(), &first_rv).await.unwrap().boxed();
    let event = tokio::time::timeout(std::time::Duration::from_secs(5), events.next()).await.unwrap();
    match event {
        Some(Ok(WatchEvent::Modified(cm))) => assert_eq!(cm.name_any(), "c0"),
        other => panic!("expected c0 modified, got {other:?}"),
    }
}

#[tokio::test]
async fn label_and_field_selectors_on_lists() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let pods = Api::<Pod>::namespaced(c.clone(), "default");
    for (name, app, tier, node) in [
        ("a", "web", "front", Some("n1")),
        ("b", "web", "back", None),
        ("c", "db", "back", Some("n2")),
        ("d", "cache", "", None),
    ] {
        let mut p = pod(name, node);
        p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
        if !tier.is_empty() {
            p.labels_mut().insert("tier".into(), tier.into());
        }
        pods.create(&PostParams::default(), &p).await.unwrap();
    }
    let names = |lp: ListParams| {
        let pods = pods.clone();
        async move {
            let mut v: Vec<String> = pods.list(&lp).await.unwrap().iter().map(|p| p.name_any()).collect();
            v.sort();
            v.join(",")
        }
    };
    assert_eq!(names(ListParams::default().labels("app=web")).await, "a,b");
    assert_eq!(names(ListParams::default().labels("app==web,tier=back")).await, "b");
    assert_eq!(names(ListParams::default().labels("app!=web")).await, "c,d");
    assert_eq!(names(ListParams::default().labels("app in (db, cache)")).await, "c,d");
    assert_eq!(names(ListParams::default().labels("app notin (web)")).await, "c,d");
    assert_eq!(names(ListParams::default().labels("tier")).await, "a,b,c");
    assert_eq!(names(ListParams::default().labels("!tier")).await, "d");
    assert_eq!(names(ListParams::default().fields("metadata.name=c")).await, "c");
    assert_eq!(names(ListParams::default().fields("spec.nodeName=n1")).await, "a");
    assert_eq!(names(ListParams::default().fields("spec.nodeName=")).await, "b,d");
    assert_eq!(names(ListParams::default().fields("status.phase=Pending,spec.nodeName!=n2")).await, "a,b,d");
    assert_eq!(names(ListParams::default().fields("metadata.namespace=default").labels("app=db")).await, "c");

    let all = Api::<Pod>::all(c.clone());
    assert_eq!(all.list(&ListParams::default()).await.unwrap().items.len(), 4);
    let bad = status(pods.list(&ListParams::default().fields("spec.bogus=x")).await);
    assert_eq!((bad.code, bad.reason.as_str()), (400, "BadRequest"));
    assert!(bad.message.contains("field label not supported: spec.bogus"), "{}", bad.message);
    let bad = status(pods.list(&ListParams::default().labels("app in (web")).await);
    assert_eq!(bad.code, 400);
    assert!(bad.message.starts_with("unable to parse requirement"), "{}", bad.message);
}

#[tokio::test]
async fn priority_class_admission() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let pods = Api::<Pod>::namespaced(c.clone(), "default");
    let mut critical = pod("critical", None);
    critical.spec.as_mut().unwrap().priority_class_name = Some("system-node-critical".into());
    let made = pods.create(&PostParams::default(), &critical).await.unwrap();
    assert_eq!(made.spec.as_ref().unwrap().priority, Some(2_000_001_000));

    let plain = pods.create(&PostParams::default(), &pod("plain", None)).await.unwrap();
    assert_eq!(plain.spec.as_ref().unwrap().priority, Some(0), "no class, no default: priority 0");

    let mut unknown = pod("unknown", None);
    unknown.spec.as_mut().unwrap().priority_class_name = Some("nope".into());
    let err = status(pods.create(&PostParams::default(), &unknown).await);
    assert_eq!((err.code, err.reason.as_str()), (403, "Forbidden"));
    assert_eq!(err.message, "pods \"unknown\" is forbidden: no PriorityClass with name nope was found");

    Api::<PriorityClass>::all(c.clone())
        .create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": "fallback"}, "value": 42, "globalDefault": true})),
        )
        .await
        .unwrap();
    let defaulted = pods.create(&PostParams::default(), &pod("defaulted", None)).await.unwrap();
    let spec = defaulted.spec.unwrap();
    assert_eq!((spec.priority_class_name.as_deref(), spec.priority), (Some("fallback"), Some(42)));
}

#[tokio::test]
async fn namespace_admission_and_deletion_of_contents() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let missing = status(
        Api::<Pod>::namespaced(c.clone(), "nowhere").create(&PostParams::default(), &pod("p", None)).await,
    );
    assert_eq!((missing.code, missing.reason.as_str()), (404, "NotFound"));
    assert_eq!(missing.message, "namespaces \"nowhere\" not found");

    let nss = Api::<Namespace>::all(c.clone());
    nss.create(&PostParams::default(), &from_json(json!({"metadata": {"name": "doomed"}}))).await.unwrap();
    let cms = Api::<ConfigMap>::namespaced(c.clone(), "doomed");
    cms.create(&PostParams::default(), &from_json(json!({"metadata": {"name": "c"}}))).await.unwrap();
    nss.delete("doomed", &DeleteParams::default()).await.unwrap();
    let terminating = nss.get_opt("doomed").await.unwrap();
    if let Some(ns) = terminating {
        assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
        let refused = status(
            cms.create(&PostParams::default(), &from_json(json!({"metadata": {"name": "late"}}))).await,
        );
        assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"));
        assert!(refused.message.contains("because it is being terminated"), "{}", refused.message);
    }
    for _ in 0..100 {
        if nss.get_opt("doomed").await.unwrap().is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(nss.get_opt("doomed").await.unwrap().is_none(), "namespace goes away");
    assert!(
        Api::<ConfigMap>::all(c)
            .list(&ListParams::default())
            .await
            .unwrap()
            .iter()
            .all(|c| c.namespace().as_deref() != Some("doomed"))
    );
}

#[tokio::test]
async fn graceful_pod_deletion() {
    let ts = TestServer::start().await;
    let pods = Api::<Pod>::namespaced(ts.client().await, "default");
    pods.create(&PostParams::default(), &pod("bound", Some("n1"))).await.unwrap();
    pods.create(&PostParams::default(), &pod("unbound", None)).await.unwrap();

    pods.delete("unbound", &DeleteParams::default()).await.unwrap();
    assert!(pods.get_opt("unbound").await.unwrap().is_none(), "an unscheduled pod goes at once");

    pods.delete("bound", &DeleteParams::default()).await.unwrap();
    let terminating = pods.get("bound").await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, Some(30));
    pods.delete("bound", &DeleteParams { grace_period_seconds: Some(0), ..Default::default() })
        .await
        .unwrap();
    assert!(pods.get_opt("bound").await.unwrap().is_none(), "grace 0 removes it");
}

#[tokio::test]
async fn propagation_policies_set_finalizers() {
    let ts = TestServer::start().await;
    let dss = Api::<DaemonSet>::namespaced(ts.client().await, "default");
    for (name, policy, finalizer) in [
        ("orphan", PropagationPolicy::Orphan, Some("orphan")),
        ("fg", PropagationPolicy::Foreground, Some("foregroundDeletion")),
        ("bg", PropagationPolicy::Background, None),
    ] {
        dss.create(&PostParams::default(), &daemonset(name, "nginx")).await.unwrap();
        dss.delete(name, &DeleteParams { propagation_policy: Some(policy), ..Default::default() })
            .await
            .unwrap();
        match finalizer {
            Some(f) => {
                let ds = dss.get(name).await.unwrap();
                assert!(ds.metadata.deletion_timestamp.is_some(), "{name} is being deleted");
                assert_eq!(ds.finalizers(), &[f.to_string()], "{name}");
                // Removing the finalizer completes the deletion.
                dss.patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await
                .unwrap();
                assert!(dss.get_opt(name).await.unwrap().is_none(), "{name} gone after its finalizer");
            }
            None => assert!(dss.get_opt(name).await.unwrap().is_none(), "{name} deleted at once"),
        }
    }
}

#[tokio::test]
async fn delete_preconditions_and_collections() {
    let ts = TestServer::start().await;
    let cms = Api::<ConfigMap>::namespaced(ts.client().await, "default");
    for (name, app) in [("a", "x"), ("b", "x"), ("c", "y")] {
        cms.create(
            &PostParams::default(),
            &from_json(json!({"metadata": {"name": name, "labels": {"app": app}}})),
        )
        .await
        .unwrap();
    }
    let wrong = DeleteParams {
        preconditions: Some(kube::api::Preconditions {
            uid: Some("not-the-uid".into()),
            resource_version: None,
        }),
        ..Default::default()
    };
    let err = status(cms.delete("a", &wrong).await);
    assert_eq!(err.code, 409);
    assert!(err.message.contains("Precondition failed: UID in precondition: not-the-uid"), "{}", err.message);
    cms.delete_collection(&DeleteParams::default(), &ListParams::default().labels("app=x")).await.unwrap();
    let left: Vec<String> =
        cms.list(&ListParams::default()).await.unwrap().iter().map(|c| c.name_any()).collect();
    assert_eq!(left, vec!["c", "kube-root-ca.crt"], "the selector spared the rest");
}

#[tokio::test]
async fn binding_and_eviction_subresources() {
    let ts = TestServer::start().await;
    let c = ts.client().await;
    let pods = Api::<Pod>::namespaced(c.clone(), "default");
    pods.create(&PostParams::default(), &pod("p", None)).await.unwrap();
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n1"}});
    let _: serde_json::Value =
        pods.create_subresource("binding", "p", &PostParams::default(), &binding).await.unwrap();
    assert_eq!(pods.get("p").await.unwrap().spec.unwrap().node_name.as_deref(), Some("n1"));
    let again = status(
        pods.create_subresource::<_, serde_json::Value>("binding", "p", &PostParams::default(), &binding)
            .await,
    );
    assert_eq!(again.code, 409, "a bound pod cannot be bound again");
    pods.evict("p", &Default::default()).await.unwrap();
    let evicted = pods.get_opt("p").await.unwrap();
    assert!(evicted.is_none_or(|p| p.metadata.deletion_timestamp.is_some()), "eviction deletes the pod");
}
