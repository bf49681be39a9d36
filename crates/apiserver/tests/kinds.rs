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

fn cluster_ip(svc: &Service) -> std::net::Ipv4Addr {
    svc.spec.as_ref().and_then(|s| s.cluster_ip.as_deref()).expect("a cluster IP").parse().expect("IPv4")
}

fn node_ports(svc: &Service) -> Vec<i32> {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|p| p.node_port)
        .collect()
}

#[tokio::test]
async fn services_get_cluster_ips_and_node_ports_from_the_service_network() {
    let ts = TestServer::start().await;
    let client = ts.client().await;
    let svcs = Api::<Service>::namespaced(client.clone(), "default");
    let pp = PostParams::default();
    let kubernetes = svcs.get("kubernetes").await.expect("the kubernetes Service");
    assert_eq!(cluster_ip(&kubernetes).to_string(), "10.96.0.1");
    assert_eq!(kubernetes.spec.as_ref().unwrap().ports.as_ref().unwrap()[0].port, 443);

    let net: ipnet_like::Net = ipnet_like::Net::new([10, 96, 0, 0], 12);
    let a = svcs
        .create(&pp, &from_json(json!({"metadata": {"name": "a"}, "spec": {"ports": [{"port": 80}]}})))
        .await
        .expect("a");
    let b = svcs
        .create(&pp, &from_json(json!({"metadata": {"name": "b"}, "spec": {"ports": [{"port": 80}]}})))
        .await
        .expect("b");
    assert!(
        net.contains(cluster_ip(&a)) && net.contains(cluster_ip(&b)),
        "{} {}",
        cluster_ip(&a),
        cluster_ip(&b)
    );
    assert_ne!(cluster_ip(&a), cluster_ip(&b));
    assert_eq!(a.spec.as_ref().unwrap().cluster_ips, Some(vec![cluster_ip(&a).to_string()]));

    let taken = status(
        svcs.create(
            &pp,
            &from_json(json!({"metadata": {"name": "c"},
        "spec": {"clusterIP": "10.96.0.1", "ports": [{"port": 80}]}})),
        )
        .await,
    );
    assert_eq!((taken.code, taken.reason.as_str()), (422, "Invalid"), "{taken:?}");
    assert_eq!(
        taken.message,
        "Service \"c\" is invalid: spec.clusterIPs: Invalid value: [\"10.96.0.1\"]: failed to allocate IP 10.96.0.1: provided IP is already allocated"
    );
    let outside = status(
        svcs.create(
            &pp,
            &from_json(json!({"metadata": {"name": "c"},
        "spec": {"clusterIP": "192.168.0.1", "ports": [{"port": 80}]}})),
        )
        .await,
    );
    assert!(
        outside.message.ends_with(
            "the provided IP (192.168.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12"
        ),
        "{}",
        outside.message
    );

    // An IP asked for is taken; deleting its Service frees it.
    let fixed =
        json!({"metadata": {"name": "fixed"}, "spec": {"clusterIP": "10.96.5.5", "ports": [{"port": 80}]}});
    svcs.create(&pp, &from_json(fixed.clone())).await.expect("fixed");
    svcs.delete("fixed", &Default::default()).await.expect("delete");
    let again = svcs.create(&pp, &from_json(fixed)).await.expect("the freed IP again");
    assert_eq!(cluster_ip(&again).to_string(), "10.96.5.5");

    // Node ports: given from 30000-32767, refused when taken, freed when the type no longer needs them.
    let np = svcs.create(&pp, &from_json(json!({"metadata": {"name": "np"},
        "spec": {"type": "NodePort", "ports": [{"name": "web", "port": 80}, {"name": "fixed", "port": 81, "nodePort": 30080}]}}))).await.expect("np");
    let ports = node_ports(&np);
    assert_eq!(ports.len(), 2);
    assert!((30000..=32767).contains(&ports[0]) && ports[0] != 30080, "{ports:?}");
    assert_eq!(ports[1], 30080);
    let clash = status(
        svcs.create(
            &pp,
            &from_json(json!({"metadata": {"name": "clash"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}})),
        )
        .await,
    );
    assert_eq!(
        clash.message,
        "Service \"clash\" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
    );
    let patch = kube::api::Patch::Merge(json!({"spec": {"type": "ClusterIP"}}));
    let back = svcs.patch("np", &Default::default(), &patch).await.expect("to ClusterIP");
    assert!(node_ports(&back).is_empty(), "node ports released: {back:?}");
    assert_eq!(cluster_ip(&back), cluster_ip(&np), "the cluster IP stays");
    svcs.create(
        &pp,
        &from_json(json!({"metadata": {"name": "clash"},
        "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]}})),
    )
    .await
    .expect("the freed port");

    // ExternalName holds no IP; turned into ClusterIP it gets one.
    let ext = svcs
        .create(
            &pp,
            &from_json(json!({"metadata": {"name": "ext"},
        "spec": {"type": "ExternalName", "externalName": "example.com"}})),
        )
        .await
        .expect("ext");
    assert_eq!(ext.spec.as_ref().unwrap().cluster_ip, None);
    let patch = kube::api::Patch::Merge(
        json!({"spec": {"type": "ClusterIP", "externalName": null, "ports": [{"port": 80}]}}),
    );
    let ext = svcs.patch("ext", &Default::default(), &patch).await.expect("to ClusterIP");
    assert!(net.contains(cluster_ip(&ext)));

    // A single-stack cluster: IPv6 is refused.
    let v6 = status(
        svcs.create(
            &pp,
            &from_json(json!({"metadata": {"name": "v6"},
        "spec": {"ipFamilies": ["IPv6"], "ports": [{"port": 80}]}})),
        )
        .await,
    );
    assert_eq!(
        v6.message,
        "Service \"v6\" is invalid: spec.ipFamilies[0]: Invalid value: \"IPv6\": not configured on this cluster"
    );
}

/// A CIDR check small enough not to need a crate.
mod ipnet_like {
    pub struct Net(u32, u32);
    impl Net {
        pub fn new(ip: [u8; 4], bits: u32) -> Net {
            let mask = u32::MAX << (32 - bits);
            Net(u32::from_be_bytes(ip) & mask, mask)
        }
        pub fn contains(&self, ip: std::net::Ipv4Addr) -> bool {
            u32::from(ip) & self.1 == self.0
        }
    }
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
    assert!(cells[2].as_str().unwrap().starts_with("10."), "an allocated cluster IP: {cells:?}");
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
