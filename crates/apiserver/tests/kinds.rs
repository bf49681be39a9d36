//! Kinds served with upstream's rules over HTTPS with kube-rs: defaults filled in, bad objects
//! refused with upstream's 422 messages, fields that may not change, and the columns
//! `kubectl get` prints.

mod common;

use common::{TestServer, from_json, status};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::api::{Api, PostParams};
use serde_json::{Value, json};

#[tokio::test]
async fn services_get_upstreams_defaults_and_refusals() {
    let ts = TestServer::start().await;
    let svcs = Api::<Service>::namespaced(ts.client().await, "default");
    let svc: Service = from_json(json!({"metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}));
    let created = svcs.create(&PostParams::default(), &svc).await.expect("create");
    let spec = created.spec.expect("spec");
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.session_affinity.as_deref(), Some("None"));
    assert_eq!(spec.internal_traffic_policy.as_deref(), Some("Cluster"));
    assert_eq!(spec.external_traffic_policy, None, "only externally accessible services get one");
    assert_eq!(spec.ip_family_policy.as_deref(), Some("SingleStack"));
    assert_eq!(spec.ip_families, Some(vec!["IPv4".to_string()]));
    let port = &spec.ports.expect("ports")[0];
    assert_eq!(port.protocol.as_deref(), Some("TCP"));
    assert_eq!(serde_json::to_value(&port.target_port).unwrap(), json!(80));

    let portless: Service =
        from_json(json!({"metadata": {"name": "portless"}, "spec": {"selector": {"app": "web"}}}));
    let refused = status(svcs.create(&PostParams::default(), &portless).await);
    assert_eq!((refused.code, refused.reason.as_str()), (422, "Invalid"), "{refused:?}");
    assert_eq!(refused.message, "Service \"portless\" is invalid: spec.ports: Required value");

    let node_port: Service = from_json(json!({"metadata": {"name": "np"},
        "spec": {"type": "ClusterIP", "ports": [{"port": 80, "nodePort": 30080}]}}));
    let refused = status(svcs.create(&PostParams::default(), &node_port).await);
    assert_eq!(
        refused.message,
        "Service \"np\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"
    );
}

#[tokio::test]
async fn secrets_default_to_opaque_and_refuse_bad_keys() {
    let ts = TestServer::start().await;
    let secrets = Api::<Secret>::namespaced(ts.client().await, "default");
    let secret: Secret =
        from_json(json!({"metadata": {"name": "creds"}, "stringData": {"password": "hunter2"}}));
    let created = secrets.create(&PostParams::default(), &secret).await.expect("create");
    assert_eq!(created.type_.as_deref(), Some("Opaque"));
    assert_eq!(created.data.expect("data")["password"].0, b"hunter2");
    assert_eq!(created.string_data, None, "stringData is merged into data");

    let bad: Secret = from_json(json!({"metadata": {"name": "bad"}, "data": {"bad key": "eA=="}}));
    let refused = status(secrets.create(&PostParams::default(), &bad).await);
    assert_eq!(refused.code, 422);
    assert_eq!(
        refused.message,
        "Secret \"bad\" is invalid: data[bad key]: Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
    );
}

#[tokio::test]
async fn a_role_bindings_role_may_not_change() {
    let ts = TestServer::start().await;
    let rbs = Api::<RoleBinding>::namespaced(ts.client().await, "default");
    let rb: RoleBinding = from_json(json!({"metadata": {"name": "readers"},
        "roleRef": {"kind": "ClusterRole", "name": "view"}, "subjects": [{"kind": "User", "name": "alice"}]}));
    let mut created = rbs.create(&PostParams::default(), &rb).await.expect("create");
    assert_eq!(created.role_ref.api_group, "rbac.authorization.k8s.io");
    assert_eq!(created.subjects.as_ref().unwrap()[0].api_group.as_deref(), Some("rbac.authorization.k8s.io"));

    created.role_ref.name = "edit".to_string();
    let refused = status(rbs.replace("readers", &PostParams::default(), &created).await);
    assert_eq!(refused.code, 422);
    assert_eq!(
        refused.message,
        "RoleBinding.rbac.authorization.k8s.io \"readers\" is invalid: roleRef: Invalid value: {\"apiGroup\":\"rbac.authorization.k8s.io\",\"kind\":\"ClusterRole\",\"name\":\"edit\"}: cannot change roleRef"
    );
}

#[tokio::test]
async fn a_disruption_budget_sets_min_or_max_not_both() {
    let ts = TestServer::start().await;
    let pdbs = Api::<PodDisruptionBudget>::namespaced(ts.client().await, "default");
    let both: PodDisruptionBudget = from_json(json!({"metadata": {"name": "both"},
        "spec": {"minAvailable": 1, "maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}}));
    let refused = status(pdbs.create(&PostParams::default(), &both).await);
    assert_eq!(refused.code, 422);
    assert!(
        refused.message.starts_with("PodDisruptionBudget.policy \"both\" is invalid: spec: Invalid value: "),
        "{}",
        refused.message
    );
    assert!(
        refused.message.ends_with(": minAvailable and maxUnavailable cannot be both set"),
        "{}",
        refused.message
    );

    let one: PodDisruptionBudget = from_json(json!({"metadata": {"name": "one"},
        "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}}));
    let created = pdbs.create(&PostParams::default(), &one).await.expect("create");
    assert_eq!(created.metadata.generation, Some(1));
}

#[tokio::test]
async fn services_print_upstreams_columns() {
    let ts = TestServer::start().await;
    let client = ts.client().await;
    let svc: Service = from_json(json!({"metadata": {"name": "dns"},
        "spec": {"selector": {"k8s-app": "dns"}, "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}, {"name": "tcp", "port": 53}]}}));
    Api::<Service>::namespaced(client.clone(), "default")
        .create(&PostParams::default(), &svc)
        .await
        .expect("create");

    let req = http::Request::get("/api/v1/namespaces/default/services")
        .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
        .body(Vec::new())
        .unwrap();
    let table: Value = client.request(req).await.expect("table");
    assert_eq!(table["kind"], "Table");
    let columns: Vec<(&str, i64)> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c["priority"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        columns,
        [
            ("Name", 0),
            ("Type", 0),
            ("Cluster-IP", 0),
            ("External-IP", 0),
            ("Port(s)", 0),
            ("Age", 0),
            ("Selector", 1)
        ]
    );
    let row =
        table["rows"].as_array().unwrap().iter().find(|r| r["cells"][0] == "dns").expect("a row for dns");
    let cells = row["cells"].as_array().unwrap();
    assert_eq!(cells[1], "ClusterIP");
    assert_eq!(cells[3], "<none>");
    assert_eq!(cells[4], "53/UDP,53/TCP");
    assert_eq!(cells[6], "k8s-app=dns");
}

#[tokio::test]
async fn pods_get_the_default_service_account_and_need_theirs_to_exist() {
    let ts = TestServer::start().await;
    let pods = Api::<k8s_openapi::api::core::v1::Pod>::namespaced(ts.client().await, "default");
    let created = pods.create(&PostParams::default(), &common::pod("plain", None)).await.expect("create");
    let spec = created.spec.expect("spec");
    assert_eq!(spec.service_account_name.as_deref(), Some("default"));
    assert_eq!(spec.service_account.as_deref(), Some("default"));

    let mut named = common::pod("named", None);
    named.spec.as_mut().unwrap().service_account_name = Some("agent".into());
    let refused = status(pods.create(&PostParams::default(), &named).await);
    assert_eq!((refused.code, refused.reason.as_str()), (403, "Forbidden"), "{refused:?}");
    assert_eq!(
        refused.message,
        "pods \"named\" is forbidden: error looking up service account default/agent: serviceaccount \"agent\" not found"
    );
    let accounts =
        Api::<k8s_openapi::api::core::v1::ServiceAccount>::namespaced(ts.client().await, "default");
    accounts
        .create(&PostParams::default(), &from_json(json!({"metadata": {"name": "agent"}})))
        .await
        .expect("service account");
    let created = pods.create(&PostParams::default(), &named).await.expect("admitted once it exists");
    assert_eq!(created.spec.unwrap().service_account.as_deref(), Some("agent"));
}
