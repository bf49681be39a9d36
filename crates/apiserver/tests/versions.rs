//! One object, two versions: `events.k8s.io/v1` Events are core Events and `autoscaling/v1`
//! autoscalers are `v2` ones, each readable, writable, selectable and watchable in either
//! version, as upstream serves them. Driven with kube-rs, its event recorder included.

mod common;

use common::{TestServer, from_json, status};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::autoscaling::{v1 as hpa_v1, v2 as hpa_v2};
use k8s_openapi::api::core::v1::{Event as CoreEvent, Service};
use k8s_openapi::api::events::v1::Event;
use kube::Resource;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::events::{Event as Published, EventType, Recorder, Reporter};
use serde_json::json;

#[tokio::test]
async fn events_are_served_in_both_versions() {
    let ts = TestServer::start().await;
    let client = ts.client().await;
    let core = Api::<CoreEvent>::namespaced(client.clone(), "default");
    let events = Api::<Event>::namespaced(client.clone(), "default");
    let mut watch = events.watch(&WatchParams::default(), "0").await.expect("watch").boxed();

    // kube-rs's recorder writes events.k8s.io/v1, creating then patching a series.
    let svc = Api::<Service>::namespaced(client.clone(), "default").get("kubernetes").await.expect("svc");
    let recorder =
        Recorder::new(client.clone(), Reporter { controller: "example-operator".into(), instance: None });
    let published = Published {
        type_: EventType::Normal,
        reason: "Reconciled".into(),
        note: Some("all good".into()),
        action: "Reconcile".into(),
        secondary: None,
    };
    recorder.publish(&published, &svc.object_ref(&())).await.expect("first publish");
    recorder.publish(&published, &svc.object_ref(&())).await.expect("second publish, as a series");

    let listed =
        core.list(&ListParams::default().fields("involvedObject.name=kubernetes")).await.expect("core list");
    assert_eq!(listed.items.len(), 1, "{listed:?}");
    let as_core = &listed.items[0];
    assert_eq!(as_core.message.as_deref(), Some("all good"));
    assert_eq!(as_core.reporting_component.as_deref(), Some("example-operator"));
    assert_eq!(as_core.series.as_ref().and_then(|s| s.count), Some(2));

    let new = events
        .list(&ListParams::default().fields("regarding.name=kubernetes,reportingController=example-operator"))
        .await
        .expect("list");
    assert_eq!(new.items.len(), 1);
    assert_eq!(new.items[0].note.as_deref(), Some("all good"));
    assert_eq!(new.items[0].regarding.as_ref().and_then(|r| r.kind.as_deref()), Some("Service"));
    let none = events.list(&ListParams::default().fields("regarding.name=other")).await.expect("list");
    assert!(none.items.is_empty());

    // A core event reads as the new version, and its watch sees it so.
    let old_style: CoreEvent = from_json(json!({"metadata": {"name": "legacy.1"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "reason": "Started", "message": "started container", "type": "Normal", "count": 3,
        "source": {"component": "kubelet"}}));
    core.create(&PostParams::default(), &old_style).await.expect("core create");
    let seen = events.get("legacy.1").await.expect("get as events.k8s.io");
    assert_eq!(seen.note.as_deref(), Some("started container"));
    assert_eq!(seen.deprecated_count, Some(3));
    assert_eq!(seen.deprecated_source.and_then(|s| s.component).as_deref(), Some("kubelet"));
    let mut watched = Vec::new();
    while watched.len() < 3 {
        match watch.try_next().await.expect("watch event").expect("watch open") {
            WatchEvent::Added(e) | WatchEvent::Modified(e) => watched.push(e),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(watched[2].note.as_deref(), Some("started container"), "{watched:?}");
    assert!(watched.iter().all(|e| e.regarding.is_some()));

    // Events created through the new API are checked strictly, with upstream's messages.
    let bare: Event = from_json(json!({"metadata": {"name": "bare"}, "reason": "X", "type": "Normal"}));
    let refused = status(events.create(&PostParams::default(), &bare).await);
    assert_eq!(refused.code, 422, "{refused:?}");
    assert_eq!(
        refused.message,
        "Event.events.k8s.io \"bare\" is invalid: [reportingController: Required value, reportingController: Invalid value: \"\": name part must be non-empty, reportingInstance: Required value, action: Required value, eventTime: Required value]"
    );
    let unsupported = status(events.list(&ListParams::default().fields("involvedObject.name=x")).await);
    assert_eq!(unsupported.code, 400);
}

#[tokio::test]
async fn autoscalers_are_served_in_both_versions() {
    let ts = TestServer::start().await;
    let client = ts.client().await;
    let v2 = Api::<hpa_v2::HorizontalPodAutoscaler>::namespaced(client.clone(), "default");
    let v1 = Api::<hpa_v1::HorizontalPodAutoscaler>::namespaced(client.clone(), "default");
    let target = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"});
    let rich: hpa_v2::HorizontalPodAutoscaler = from_json(json!({"metadata": {"name": "web"},
        "spec": {"scaleTargetRef": target, "maxReplicas": 5, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
            {"type": "Pods", "pods": {"metric": {"name": "qps"}, "target": {"type": "AverageValue", "averageValue": "10"}}}]}}));
    v2.create(&PostParams::default(), &rich).await.expect("v2 create");

    let mut old = v1.get("web").await.expect("v1 get");
    let spec = old.spec.as_mut().expect("spec");
    assert_eq!(spec.target_cpu_utilization_percentage, Some(60));
    assert_eq!(spec.min_replicas, Some(1));
    let annotations = old.metadata.annotations.clone().unwrap_or_default();
    assert!(annotations["autoscaling.alpha.kubernetes.io/metrics"].contains("qps"), "{annotations:?}");

    // A v1 client writes back what it read: the metric it cannot see stays.
    spec.max_replicas = 8;
    spec.target_cpu_utilization_percentage = Some(70);
    v1.replace("web", &PostParams::default(), &old).await.expect("v1 replace");
    let now = v2.get("web").await.expect("v2 get");
    let spec = now.spec.expect("spec");
    assert_eq!(spec.max_replicas, 8);
    let metrics = serde_json::to_value(spec.metrics.expect("metrics")).unwrap();
    assert_eq!(metrics[0]["resource"]["target"]["averageUtilization"], 70);
    assert_eq!(metrics[1]["pods"]["metric"]["name"], "qps");
    assert!(now.metadata.annotations.unwrap_or_default().is_empty(), "the annotations are v1's view only");

    // Created through v1 without a target, it gets v2's 80% CPU.
    let bare: hpa_v1::HorizontalPodAutoscaler = from_json(
        json!({"metadata": {"name": "bare"}, "spec": {"scaleTargetRef": target, "maxReplicas": 3}}),
    );
    let created = v1.create(&PostParams::default(), &bare).await.expect("v1 create");
    assert_eq!(created.spec.unwrap().target_cpu_utilization_percentage, Some(80));
    let listed = v2.list(&ListParams::default()).await.expect("v2 list");
    assert_eq!(listed.items.len(), 2);
    let bad: hpa_v1::HorizontalPodAutoscaler =
        from_json(json!({"metadata": {"name": "bad"}, "spec": {"scaleTargetRef": target, "maxReplicas": 0}}));
    let refused = status(v1.create(&PostParams::default(), &bad).await);
    assert_eq!(refused.code, 422, "{refused:?}");
    assert!(refused.message.contains("spec.maxReplicas"), "{}", refused.message);
}
