//! The cluster's credentials, kept in the data directory: a self-signed CA (made once), a
//! serving certificate signed by it (made at every start, for the addresses served), and the
//! admin bearer token. Private keys and the token are written mode 0600.

use std::fs;
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType};

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("generating certificates: {0}")]
    Certificate(#[from] rcgen::Error),
    #[error("loading TLS material: {0}")]
    Tls(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io { path: path.to_path_buf(), source }
}

/// Writes a file atomically (temporary file, fsync, rename) with the given mode.
pub fn write_private(path: &Path, contents: &[u8], mode: u32) -> Result<(), PkiError> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io_err(&tmp))?;
    f.write_all(contents).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    Ok(())
}

/// The material a TLS server and its clients need.
pub struct Credentials {
    pub ca_pem: String,
    pub serving_cert_pem: String,
    pub serving_key_pem: String,
    pub token: String,
    /// The PKCS#8 P-256 key ServiceAccount tokens are signed with (`pki/sa.key`).
    pub service_account_key: Vec<u8>,
}

const CA_COMMON_NAME: &str = "everynode-ca";

fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, CA_COMMON_NAME);
    params.key_usages =
        vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    set_validity(&mut params);
    Ok(params)
}

/// Valid from yesterday (tolerating clock skew) for ten years.
fn set_validity(params: &mut CertificateParams) {
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date();
    let from = today.yesterday().unwrap_or(today);
    params.not_before = rcgen::date_time_ymd(i32::from(from.year()), from.month() as u8, from.day() as u8);
    params.not_after = rcgen::date_time_ymd(i32::from(today.year()) + 10, today.month() as u8, 1);
}

/// Loads the credentials in `dir/pki`, creating what is missing; the serving certificate
/// covers localhost, the loopback addresses and `extra_ips`.
pub fn ensure_credentials(dir: &Path, extra_ips: &[IpAddr]) -> Result<Credentials, PkiError> {
    let pki = dir.join("pki");
    fs::create_dir_all(&pki).map_err(io_err(&pki))?;
    let (ca_crt, ca_key_path, token_path) = (pki.join("ca.crt"), pki.join("ca.key"), dir.join("token"));
    let ca_key = if ca_crt.exists() && ca_key_path.exists() {
        KeyPair::from_pem(&fs::read_to_string(&ca_key_path).map_err(io_err(&ca_key_path))?)?
    } else {
        let key = KeyPair::generate()?;
        let cert = ca_params()?.self_signed(&key)?;
        write_private(&ca_key_path, key.serialize_pem().as_bytes(), 0o600)?;
        write_private(&ca_crt, cert.pem().as_bytes(), 0o644)?;
        key
    };
    let ca_pem = fs::read_to_string(&ca_crt).map_err(io_err(&ca_crt))?;
    // The issuer is rebuilt from the same distinguished name, so certificates it signs chain
    // to the stored CA certificate.
    let issuer = Issuer::new(ca_params()?, ca_key);

    let serving_key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec!["localhost".to_string(), "everynode".to_string()])?;
    params.distinguished_name.push(DnType::CommonName, "everynode-apiserver");
    let mut ips: Vec<IpAddr> = vec!["127.0.0.1".parse().expect("ip"), "::1".parse().expect("ip")];
    ips.extend(extra_ips.iter().filter(|ip| !ip.is_unspecified()));
    ips.dedup();
    params.subject_alt_names.extend(ips.into_iter().map(SanType::IpAddress));
    set_validity(&mut params);
    let serving = params.signed_by(&serving_key, &issuer)?;
    write_private(&pki.join("apiserver.key"), serving_key.serialize_pem().as_bytes(), 0o600)?;
    write_private(&pki.join("apiserver.crt"), serving.pem().as_bytes(), 0o644)?;

    let token = if token_path.exists() {
        fs::read_to_string(&token_path).map_err(io_err(&token_path))?.trim().to_string()
    } else {
        let token = new_token();
        write_private(&token_path, token.as_bytes(), 0o600)?;
        token
    };
    let service_account_key = ensure_service_account_key(&pki.join("sa.key"))?;
    Ok(Credentials {
        ca_pem,
        serving_cert_pem: serving.pem(),
        serving_key_pem: serving_key.serialize_pem(),
        token,
        service_account_key,
    })
}

/// The ServiceAccount signing key, made on first start and kept (as kubeadm keeps `sa.key`), so
/// tokens stay valid across restarts.
fn ensure_service_account_key(path: &Path) -> Result<Vec<u8>, PkiError> {
    use base64::Engine;
    use rustls::pki_types::PrivatePkcs8KeyDer;
    use rustls::pki_types::pem::PemObject;
    if path.exists() {
        let key = PrivatePkcs8KeyDer::from_pem_file(path)
            .map_err(|e| PkiError::Tls(format!("{}: {e}", path.display())))?;
        return Ok(key.secret_pkcs8_der().to_vec());
    }
    let der = crate::service_account_token::TokenSigner::generate_pkcs8()
        .map_err(|_| PkiError::Tls("generating the service account key failed".into()))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&der);
    let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str("-----END PRIVATE KEY-----\n");
    write_private(path, pem.as_bytes(), 0o600)?;
    Ok(der)
}

fn new_token() -> String {
    use rand::Rng;
    let mut bytes = [0u8; 32];
    rand::rng().fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A rustls server configuration for the serving certificate (HTTP/2 and HTTP/1.1 by ALPN).
pub fn server_config(creds: &Credentials) -> Result<rustls::ServerConfig, PkiError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(creds.serving_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| PkiError::Tls(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(creds.serving_key_pem.as_bytes())
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// A kubeconfig for the admin user: the server URL, the CA, and the bearer token.
pub fn kubeconfig(server_url: &str, creds: &Credentials) -> String {
    use base64::Engine;
    let ca = base64::engine::general_purpose::STANDARD.encode(creds.ca_pem.as_bytes());
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: everynode
  cluster:
    server: {server_url}
    certificate-authority-data: {ca}
users:
- name: everynode-admin
  user:
    token: {token}
contexts:
- name: everynode
  context:
    cluster: everynode
    user: everynode-admin
current-context: everynode
",
        token = creds.token
    )
}
