//! Field errors as upstream's `k8s.io/apimachinery/pkg/util/validation/field` reports them, and
//! the name and label syntax checks of `k8s.io/apimachinery/pkg/util/validation`.
//!
//! A validation function returns a [`FieldErrors`] list; the API server turns a non-empty list
//! into a 422 `Invalid` Status whose causes name each field.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

/// What is wrong with a field (upstream `field.ErrorType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorType {
    NotFound,
    Required,
    Duplicate,
    Invalid,
    NotSupported,
    Forbidden,
    TooLong,
    TooMany,
    Internal,
    TypeInvalid,
}

impl ErrorType {
    /// The text upstream prints, e.g. `Invalid value`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::NotFound => "Not found",
            ErrorType::Required => "Required value",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::TooLong => "Too long",
            ErrorType::TooMany => "Too many",
            ErrorType::Internal => "Internal error",
            ErrorType::TypeInvalid => "Invalid value",
        }
    }

    /// The `reason` of the matching `StatusCause`, e.g. `FieldValueInvalid`.
    pub fn cause_reason(self) -> &'static str {
        match self {
            ErrorType::NotFound => "FieldValueNotFound",
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::TooLong => "FieldValueTooLong",
            ErrorType::TooMany => "FieldValueTooMany",
            ErrorType::Internal => "InternalError",
            ErrorType::TypeInvalid => "FieldValueTypeInvalid",
        }
    }
}

/// One invalid field: its path (`spec.template.metadata.labels`), what is wrong, the offending
/// value where upstream reports one, and a human-readable detail.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    pub error_type: ErrorType,
    pub field: String,
    pub bad_value: Option<Value>,
    pub detail: String,
}

impl FieldError {
    fn new(error_type: ErrorType, field: &Path, bad_value: Option<Value>, detail: impl Into<String>) -> Self {
        FieldError { error_type, field: field.to_string(), bad_value, detail: detail.into() }
    }

    pub fn invalid(field: &Path, value: impl Into<Value>, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Invalid, field, Some(value.into()), detail)
    }

    pub fn required(field: &Path, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Required, field, None, detail)
    }

    pub fn forbidden(field: &Path, detail: impl Into<String>) -> Self {
        Self::new(ErrorType::Forbidden, field, None, detail)
    }

    pub fn duplicate(field: &Path, value: impl Into<Value>) -> Self {
        Self::new(ErrorType::Duplicate, field, Some(value.into()), "")
    }

    pub fn not_found(field: &Path, value: impl Into<Value>) -> Self {
        Self::new(ErrorType::NotFound, field, Some(value.into()), "")
    }

    pub fn too_long(field: &Path, max: usize) -> Self {
        Self::new(ErrorType::TooLong, field, None, format!("must have at most {max} bytes"))
    }

    /// `Too many: 5: must have at most 3 items`.
    pub fn too_many(field: &Path, actual: usize, max: usize) -> Self {
        Self::new(
            ErrorType::TooMany,
            field,
            Some(Value::from(actual)),
            format!("must have at most {max} items"),
        )
    }

    /// `Unsupported value: "x": supported values: "a", "b"`.
    pub fn not_supported(field: &Path, value: impl Into<Value>, supported: &[&str]) -> Self {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        Self::new(ErrorType::NotSupported, field, Some(value.into()), detail)
    }

    /// The error without its field path, as upstream's `ErrorBody`; this is the `message` of a
    /// `StatusCause`.
    pub fn body(&self) -> String {
        let mut s = match (&self.bad_value, self.error_type) {
            (_, ErrorType::Required | ErrorType::Forbidden | ErrorType::TooLong | ErrorType::Internal)
            | (None, _) => self.error_type.as_str().to_string(),
            (Some(value), t) => format!("{}: {}", t.as_str(), format_value(value)),
        };
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// Values longer than this are shown cut short in error messages, so a huge bad value (a 1 MB
/// name) does not come back several times over in the response.
pub const MAX_SHOWN_VALUE: usize = 1024;

/// `s`, or its first [`MAX_SHOWN_VALUE`] bytes (on a character boundary) and how long it was.
pub fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= MAX_SHOWN_VALUE {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = MAX_SHOWN_VALUE;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}...(truncated, {} bytes)", &s[..end], s.len()))
}

fn format_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{:?}", shown(s)),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

pub type FieldErrors = Vec<FieldError>;

/// The aggregate message upstream prints for a list of errors: the one error, or `[e1, e2]`
/// with duplicates removed.
pub fn aggregate_message(errors: &[FieldError]) -> String {
    let mut messages: Vec<String> = Vec::new();
    for e in errors {
        let m = e.to_string();
        if !messages.contains(&m) {
            messages.push(m);
        }
    }
    match messages.len() {
        1 => messages.remove(0),
        _ => format!("[{}]", messages.join(", ")),
    }
}

/// A field path such as `spec.template.spec.containers[0].image` (upstream `field.Path`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    pub fn root() -> Self {
        Path(String::new())
    }

    pub fn new(name: &str) -> Self {
        Path(name.to_string())
    }

    pub fn child(&self, name: &str) -> Self {
        if self.0.is_empty() { Path(name.to_string()) } else { Path(format!("{}.{name}", self.0)) }
    }

    pub fn index(&self, i: usize) -> Self {
        Path(format!("{}[{i}]", self.0))
    }

    pub fn key(&self, k: &str) -> Self {
        Path(format!("{}[{k}]", self.0))
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

// === Name and label syntax (k8s.io/apimachinery/pkg/util/validation) ===

pub const DNS1123_LABEL_MAX_LENGTH: usize = 63;
pub const DNS1123_SUBDOMAIN_MAX_LENGTH: usize = 253;
pub const LABEL_VALUE_MAX_LENGTH: usize = 63;
const QUALIFIED_NAME_MAX_LENGTH: usize = 63;

const DNS1123_LABEL_ERR: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_ERR: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const QUALIFIED_NAME_ERR: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const LABEL_VALUE_ERR: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

fn is_dns1123_label_syntax(s: &str) -> bool {
    !s.is_empty()
        && s.starts_with(is_lower_alnum)
        && s.ends_with(is_lower_alnum)
        && s.chars().all(|c| is_lower_alnum(c) || c == '-')
}

/// Upstream `IsDNS1123Label`: the messages for a bad value, empty when valid.
pub fn is_dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(format!("must be no more than {DNS1123_LABEL_MAX_LENGTH} characters"));
    }
    if !is_dns1123_label_syntax(s) {
        errs.push(format!(
            "{DNS1123_LABEL_ERR} (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
        ));
    }
    errs
}

/// Upstream `IsDNS1123Subdomain`.
pub fn is_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(format!("must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"));
    }
    if s.is_empty() || !s.split('.').all(is_dns1123_label_syntax) {
        errs.push(format!(
            "{DNS1123_SUBDOMAIN_ERR} (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        ));
    }
    errs
}

fn is_qualified_name_part(s: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    !s.is_empty()
        && s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars().all(|c| alnum(c) || c == '-' || c == '_' || c == '.')
}

/// Upstream `IsQualifiedName`: `[prefix/]name`, as label and annotation keys are.
pub fn is_qualified_name(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    let (prefix, name) = match s.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    if name.contains('/') {
        errs.push(
            "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')".to_string(),
        );
        return errs;
    }
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errs.push("prefix part must be non-empty".to_string());
        } else {
            errs.extend(is_dns1123_subdomain(prefix).into_iter().map(|m| format!("prefix part {m}")));
        }
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > QUALIFIED_NAME_MAX_LENGTH {
        errs.push(format!("name part must be no more than {QUALIFIED_NAME_MAX_LENGTH} characters"));
    }
    if !name.is_empty() && !is_qualified_name_part(name) {
        errs.push(format!(
            "{QUALIFIED_NAME_ERR} (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        ));
    }
    errs
}

/// Upstream `IsValidLabelValue`.
pub fn is_valid_label_value(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > LABEL_VALUE_MAX_LENGTH {
        errs.push(format!("must be no more than {LABEL_VALUE_MAX_LENGTH} characters"));
    }
    if !s.is_empty() && !is_qualified_name_part(s) {
        errs.push(format!(
            "{LABEL_VALUE_ERR} (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        ));
    }
    errs
}

/// Validates a label map (upstream `ValidateLabels`).
pub fn validate_labels(labels: &std::collections::BTreeMap<String, String>, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    for (k, v) in labels {
        for m in is_qualified_name(k) {
            errs.push(FieldError::invalid(path, k.as_str(), m));
        }
        for m in is_valid_label_value(v) {
            errs.push(FieldError::invalid(&path.key(k), v.as_str(), m));
        }
    }
    errs
}

/// Upstream `IsDNS1035Label`: a DNS label that starts with a letter (service names).
pub fn is_dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_LABEL_MAX_LENGTH {
        errs.push(format!("must be no more than {DNS1123_LABEL_MAX_LENGTH} characters"));
    }
    let valid = s.starts_with(|c: char| c.is_ascii_lowercase()) && is_dns1123_label_syntax(s);
    if !valid {
        errs.push("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')".to_string());
    }
    errs
}

/// Upstream `IsWildcardDNS1123Subdomain`: `*.` followed by a DNS subdomain.
pub fn is_wildcard_dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(format!("must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"));
    }
    let valid = s.strip_prefix("*.").is_some_and(|rest| rest.split('.').all(is_dns1123_label_syntax));
    if !valid {
        errs.push("a wildcard DNS-1123 subdomain must start with '*.', followed by a valid DNS subdomain, which must consist of lower case alphanumeric characters, '-' or '.' and end with an alphanumeric character (e.g. '*.example.com', regex used for validation is '\\*\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')".to_string());
    }
    errs
}

/// Upstream `IsValidPortNum`: 1 to 65535.
pub fn is_valid_port_num(port: i64) -> Vec<String> {
    if (1..=65535).contains(&port) {
        Vec::new()
    } else {
        vec!["must be between 1 and 65535, inclusive".to_string()]
    }
}

/// Upstream `IsValidPortName` (an IANA service name).
pub fn is_valid_port_name(port: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if port.len() > 15 {
        errs.push("must be no more than 15 characters".to_string());
    }
    if port.is_empty() || !port.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        errs.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string());
    }
    if !port.chars().any(|c| c.is_ascii_lowercase()) {
        errs.push("must contain at least one letter (a-z)".to_string());
    }
    if port.contains("--") {
        errs.push("must not contain consecutive hyphens".to_string());
    }
    if port.starts_with('-') || port.ends_with('-') {
        errs.push("must not begin or end with a hyphen".to_string());
    }
    errs
}

/// Upstream `IsConfigMapKey`: the keys of config maps and secrets.
pub fn is_config_map_key(key: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if key.len() > DNS1123_SUBDOMAIN_MAX_LENGTH {
        errs.push(format!("must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters"));
    }
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) {
        errs.push("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')".to_string());
    }
    if key == "." {
        errs.push("must not be '.'".to_string());
    } else if key == ".." {
        errs.push("must not be '..'".to_string());
    } else if key.starts_with("..") {
        errs.push("must not start with '..'".to_string());
    }
    errs
}

/// Upstream `IsValidPercent`: digits and a trailing `%`.
pub fn is_valid_percent(s: &str) -> Vec<String> {
    let valid = s.strip_suffix('%').is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if valid {
        Vec::new()
    } else {
        vec!["a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')".to_string()]
    }
}

/// Upstream `IsValidPathSegmentName`: what any object name must be to sit in a URL path.
pub fn is_valid_path_segment_name(name: &str) -> Vec<String> {
    if name == "." || name == ".." {
        return vec![format!("may not be '{name}'")];
    }
    ["/", "%"].iter().filter(|c| name.contains(*c)).map(|c| format!("may not contain '{c}'")).collect()
}

/// Upstream's message for a string that is not an IP address (`IsValidIPForLegacyField`).
pub const INVALID_IP: &str = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)";
/// Upstream's message for a string that is not a CIDR (`IsValidCIDRForLegacyField`).
pub const INVALID_CIDR: &str = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)";

/// The address and prefix length of a CIDR such as `10.0.0.0/8`.
pub fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (ip, bits) = s.split_once('/')?;
    let ip: std::net::IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max && !s.contains('+')).then_some((ip, bits))
}

/// Upstream's `ValidateLabelSelector`: keys, operators and values of a selector.
pub fn validate_label_selector(selector: &LabelSelector, path: &Path) -> FieldErrors {
    let mut errs = Vec::new();
    for (k, v) in selector.match_labels.iter().flatten() {
        let p = path.child("matchLabels");
        errs.extend(is_qualified_name(k).into_iter().map(|m| FieldError::invalid(&p, k.as_str(), m)));
        errs.extend(
            is_valid_label_value(v).into_iter().map(|m| FieldError::invalid(&p.key(k), v.as_str(), m)),
        );
    }
    for (i, r) in selector.match_expressions.iter().flatten().enumerate() {
        let p = path.child("matchExpressions").index(i);
        let values = r.values.as_deref().unwrap_or_default();
        match r.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => errs.push(FieldError::required(
                &p.child("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            )),
            "Exists" | "DoesNotExist" if !values.is_empty() => errs.push(FieldError::forbidden(
                &p.child("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            )),
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => {
                errs.push(FieldError::invalid(&p.child("operator"), other, "not a valid selector operator"))
            }
        }
        errs.extend(
            is_qualified_name(&r.key)
                .into_iter()
                .map(|m| FieldError::invalid(&p.child("key"), r.key.as_str(), m)),
        );
        for (j, v) in values.iter().enumerate() {
            errs.extend(
                is_valid_label_value(v)
                    .into_iter()
                    .map(|m| FieldError::invalid(&p.child("values").index(j), v.as_str(), m)),
            );
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_match_upstream() {
        let p = Path::new("spec").child("template").child("metadata").child("labels");
        let e = FieldError::invalid(&p, "x", "`selector` does not match template `labels`");
        assert_eq!(
            e.to_string(),
            "spec.template.metadata.labels: Invalid value: \"x\": `selector` does not match template `labels`"
        );
        let r = FieldError::required(&Path::new("spec").child("containers"), "");
        assert_eq!(r.to_string(), "spec.containers: Required value");
        let n = FieldError::not_supported(&Path::new("spec").child("restartPolicy"), "Never", &["Always"]);
        assert_eq!(n.body(), "Unsupported value: \"Never\": supported values: \"Always\"");
        assert_eq!(Path::new("a").index(0).child("b").to_string(), "a[0].b");
    }

    #[test]
    fn aggregate_wraps_several_errors() {
        let a = FieldError::required(&Path::new("a"), "");
        let b = FieldError::required(&Path::new("b"), "");
        assert_eq!(aggregate_message(std::slice::from_ref(&a)), "a: Required value");
        assert_eq!(aggregate_message(&[a.clone(), b, a]), "[a: Required value, b: Required value]");
    }

    #[test]
    fn names() {
        assert!(is_dns1123_label("fluentd-1").is_empty());
        assert!(!is_dns1123_label("Fluentd").is_empty());
        assert!(!is_dns1123_label("-a").is_empty());
        assert!(is_dns1123_subdomain("a.b-c.d").is_empty());
        assert!(!is_dns1123_subdomain("a..b").is_empty());
        assert!(is_qualified_name("node-role.kubernetes.io/control-plane").is_empty());
        assert!(!is_qualified_name("/x").is_empty());
        assert!(!is_qualified_name("a/b/c").is_empty());
        assert!(is_valid_label_value("").is_empty());
        assert!(!is_valid_label_value("a b").is_empty());
        assert!(is_dns1035_label("web-1").is_empty());
        assert!(!is_dns1035_label("1web").is_empty());
        assert!(is_wildcard_dns1123_subdomain("*.example.com").is_empty());
        assert!(!is_wildcard_dns1123_subdomain("*.*.example.com").is_empty());
        assert_eq!(is_valid_port_name("http").len(), 0);
        assert_eq!(is_valid_port_name("-8080").len(), 2);
        assert_eq!(is_config_map_key("..a"), vec!["must not start with '..'"]);
        assert!(is_valid_percent("50%").is_empty() && !is_valid_percent("5.5%").is_empty());
        assert_eq!(is_valid_path_segment_name("a/b%c").len(), 2);
        assert_eq!(parse_cidr("10.0.0.0/8").map(|c| c.1), Some(8));
        assert!(parse_cidr("10.0.0.0/33").is_none());
    }
}
