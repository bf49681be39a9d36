//! `certificates.k8s.io/v1 CertificateSigningRequest`: `kubectl get csr` columns (Age second,
//! the condition summarised as upstream does). Names are any path segment.

use apimachinery::duration::human_duration;
use apimachinery::validation::is_valid_path_segment_name;
use jiff::Timestamp;
use k8s_openapi::api::certificates::v1::CertificateSigningRequest as Type;
use serde_json::{Value, json};

use super::{Kind, no_validation, typed_as};
use crate::printers::{AGE, ColumnDefinition, NAME, col, created, s};

#[derive(Debug)]
pub struct CertificateSigningRequest;

/// `Denied`, else `Approved`, else `Pending`; then `,Failed` and `,Issued` where they apply.
fn condition(obj: &Value) -> String {
    let types: Vec<&str> =
        obj["status"]["conditions"].as_array().into_iter().flatten().map(|c| s(c, &["type"])).collect();
    let mut status = if types.contains(&"Denied") {
        "Denied".to_string()
    } else if types.contains(&"Approved") {
        "Approved".to_string()
    } else {
        "Pending".to_string()
    };
    if types.contains(&"Failed") {
        status.push_str(",Failed");
    }
    if !s(obj, &["status", "certificate"]).is_empty() {
        status.push_str(",Issued");
    }
    status
}

impl Kind for CertificateSigningRequest {
    typed_as!(Type);

    /// Upstream puts no rule on the names of certificate signing requests.
    fn name_errors(&self, name: &str) -> Vec<String> {
        is_valid_path_segment_name(name)
    }

    no_validation!();

    fn columns(&self) -> Vec<ColumnDefinition> {
        vec![
            NAME,
            AGE,
            col("SignerName", "string", 0, "The signer the certificate is requested from."),
            col("Requestor", "string", 0, "The user who created the request."),
            col("RequestedDuration", "string", 0, "The validity the certificate is requested for."),
            col("Condition", "string", 0, "Whether the request is approved, denied, failed or issued."),
        ]
    }

    fn cells(&self, obj: &Value, now: Timestamp) -> Vec<Value> {
        let signer = s(obj, &["spec", "signerName"]);
        let duration = obj["spec"]["expirationSeconds"].as_i64().map_or("<none>".to_string(), human_duration);
        vec![
            json!(s(obj, &["metadata", "name"])),
            json!(created(obj, now)),
            json!(if signer.is_empty() { "<none>" } else { signer }),
            json!(s(obj, &["spec", "username"])),
            json!(duration),
            json!(condition(obj)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::printers::tests::{headers, now};

    #[test]
    fn row() {
        assert_eq!(
            headers(&CertificateSigningRequest, false),
            "NAME AGE SIGNERNAME REQUESTOR REQUESTEDDURATION CONDITION"
        );
        let csr = json!({"metadata": {"name": "c"}, "spec": {"signerName": "kubernetes.io/kube-apiserver-client",
            "username": "alice", "expirationSeconds": 86400},
            "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "Y2VydA=="}});
        assert_eq!(
            CertificateSigningRequest.cells(&csr, now())[2..],
            [
                json!("kubernetes.io/kube-apiserver-client"),
                json!("alice"),
                json!("24h"),
                json!("Approved,Issued")
            ]
        );
        assert_eq!(
            CertificateSigningRequest.cells(&json!({}), now())[2..],
            [json!("<none>"), json!(""), json!("<none>"), json!("Pending")]
        );
    }
}
