//! The workload kinds over HTTPS with kube-rs: a Deployment's defaults and generation, the
//! refusal of a selector that does not match its template, a strategic merge patch that
//! changes one container's image and keeps everything else, and a Job's generated selector.

mod common;

use common::{TestServer, from_json, status};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::{Value, json};

/// A Deployment whose `main` container has a port and env, beside a `sidecar`.
fn deployment(name: &str, selector: &str) -> Deployment {
    from_json(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": selector}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [
                    {"name": "main", "image": "nginx:1.25",
                     "ports": [{"containerPort": 80}],
                     "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
                    {"name": "sidecar", "image": "busybox:1.36", "args": ["sleep", "infinity"]}
                ]}
            }
        }
    }))
}

fn value<T: serde::Serialize>(obj: &T) -> Value {
    serde_json::to_value(obj).unwrap()
}

#[tokio::test]
async fn a_deployment_gets_upstream_defaults_and_generation() {
    let ts = TestServer::start().await;
    let deployments = Api::<Deployment>::namespaced(ts.client().await, "default");
    let created =
        value(&deployments.create(&PostParams::default(), &deployment("web", "web")).await.unwrap());
    let spec = &created["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!(spec["revisionHistoryLimit"], 10);
    assert_eq!(spec["progressDeadlineSeconds"], 600);
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["containers"][0]["imagePullPolicy"], "IfNotPresent");
    assert_eq!(pod["containers"][0]["ports"][0]["protocol"], "TCP");
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(created["status"], json!({}));

    // Labels are not spec; replicas are.
    let mut labelled: Deployment = from_json(created.clone());
    labelled.metadata.labels = Some([("tier".to_string(), "front".to_string())].into());
    let labelled = deployments.replace("web", &PostParams::default(), &labelled).await.unwrap();
    assert_eq!(labelled.metadata.generation, Some(1));
    let scaled = deployments
        .patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 3}})))
        .await
        .unwrap();
    assert_eq!(scaled.metadata.generation, Some(2));
}

#[tokio::test]
async fn a_selector_that_misses_the_template_is_refused() {
    let ts = TestServer::start().await;
    let deployments = Api::<Deployment>::namespaced(ts.client().await, "default");
    let s = status(deployments.create(&PostParams::default(), &deployment("bad", "other")).await);
    assert_eq!((s.code, s.reason.as_str()), (422, "Invalid"), "{s:?}");
    assert_eq!(
        s.message,
        "Deployment.apps \"bad\" is invalid: spec.template.metadata.labels: Invalid value: {\"app\":\"web\"}: \
         `selector` does not match template `labels`"
    );
    let mut empty = value(&deployment("empty", "web"));
    empty["spec"]["selector"] = json!({});
    let s = status(deployments.create(&PostParams::default(), &from_json(empty)).await);
    assert_eq!(
        s.message,
        "Deployment.apps \"empty\" is invalid: spec.selector: Invalid value: {}: empty selector is invalid for deployment"
    );
    deployments.create(&PostParams::default(), &deployment("web", "web")).await.unwrap();
    let s = status(
        deployments
            .patch(
                "web",
                &PatchParams::default(),
                &Patch::Strategic(json!({"spec": {"selector": {"matchLabels": {"tier": "x"}}}})),
            )
            .await,
    );
    assert_eq!(s.code, 422);
    assert!(s.message.contains("spec.selector: Invalid value: "), "{}", s.message);
    assert!(s.message.ends_with(": field is immutable]"), "{}", s.message);
}

#[tokio::test]
async fn a_strategic_merge_patch_of_one_image_keeps_the_rest() {
    let ts = TestServer::start().await;
    let deployments = Api::<Deployment>::namespaced(ts.client().await, "default");
    let before = value(&deployments.create(&PostParams::default(), &deployment("web", "web")).await.unwrap());
    let patch =
        json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.26"}]}}}});
    let after =
        value(&deployments.patch("web", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap());
    let (old, new) =
        (&before["spec"]["template"]["spec"]["containers"], &after["spec"]["template"]["spec"]["containers"]);
    assert_eq!(new.as_array().unwrap().len(), 2, "{new}");
    assert_eq!(new[0]["image"], "nginx:1.26");
    assert_eq!(new[0]["ports"], old[0]["ports"]);
    assert_eq!(new[0]["env"], old[0]["env"]);
    let mut main = new[0].clone();
    main["image"] = json!("nginx:1.25");
    assert_eq!(main, old[0], "nothing else of the container changes");
    assert_eq!(new[1], old[1], "the other container stays");
    assert_eq!(after["metadata"]["generation"], 2);
}

#[tokio::test]
async fn a_job_selects_its_own_pods() {
    let ts = TestServer::start().await;
    let jobs = Api::<Job>::namespaced(ts.client().await, "default");
    let job: Job = from_json(json!({"metadata": {"name": "pi"}, "spec": {"template": {"spec": {
        "restartPolicy": "Never", "containers": [{"name": "pi", "image": "perl:5.34"}]}}}}));
    let created = value(&jobs.create(&PostParams::default(), &job).await.unwrap());
    let uid = created["metadata"]["uid"].as_str().unwrap();
    assert_eq!(
        created["spec"]["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    );
    let labels = &created["spec"]["template"]["metadata"]["labels"];
    assert_eq!((labels["job-name"].as_str(), labels["controller-uid"].as_str()), (Some("pi"), Some(uid)));
    assert_eq!(created["spec"]["backoffLimit"], 6);

    let mut always = value(&job);
    always["metadata"]["name"] = json!("always");
    always["spec"]["template"]["spec"]["restartPolicy"] = json!("Always");
    let s = status(jobs.create(&PostParams::default(), &from_json(always)).await);
    assert_eq!(
        s.message,
        "Job.batch \"always\" is invalid: spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""
    );
}

#[tokio::test]
async fn a_deployment_scales_through_its_scale_subresource() {
    let ts = TestServer::start().await;
    let deployments = Api::<Deployment>::namespaced(ts.client().await, "default");
    deployments.create(&PostParams::default(), &deployment("web", "web")).await.expect("create");
    let scale = deployments.get_scale("web").await.expect("scale");
    assert_eq!(scale.spec.as_ref().and_then(|s| s.replicas), Some(1));
    assert_eq!(scale.status.as_ref().and_then(|s| s.selector.as_deref()), Some("app=web"));

    // What `kubectl scale` sends: a merge patch of the Scale.
    let scaled = deployments
        .patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 4}})))
        .await
        .expect("patch scale");
    assert_eq!(scaled.spec.and_then(|s| s.replicas), Some(4));
    let d = deployments.get("web").await.expect("get");
    assert_eq!(d.spec.unwrap().replicas, Some(4));
    assert_eq!(d.metadata.generation, Some(2), "scaling changes the spec");

    let mut stale = scale.clone();
    stale.spec.as_mut().unwrap().replicas = Some(2);
    let refused = status(deployments.replace_scale("web", &PostParams::default(), &stale).await);
    assert_eq!(refused.code, 409, "the Scale's resourceVersion is a precondition: {refused:?}");
    let refused = status(
        deployments
            .patch_scale("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": -1}})))
            .await,
    );
    assert_eq!(
        refused.message,
        "Scale.autoscaling \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
}
