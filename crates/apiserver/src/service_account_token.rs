//! ServiceAccount tokens as upstream's TokenRequest issues them: JWTs signed ES256 with the
//! cluster's service-account key (`pki/sa.key`), naming the account, the audiences, the
//! validity, and the object the token is bound to. Pure: the key and the time are given.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde::{Deserialize, Serialize};

/// The clock skew allowed on a token's validity, and on its account's or pod's deletion.
pub const LEEWAY_SECONDS: i64 = 60;

/// The issuer (and the API server's one audience), as kubeadm configures it.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";

/// The DER prefix of a P-256 public key's SubjectPublicKeyInfo, before the point itself.
const P256_SPKI_PREFIX: [u8; 26] = [
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
    0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
];

/// A name and uid, as the `kubernetes.io` claim names objects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ref {
    pub name: String,
    pub uid: String,
}

/// The private `kubernetes.io` claim.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KubernetesClaim {
    pub namespace: String,
    pub serviceaccount: Ref,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<Ref>,
}

/// What a token says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub iss: String,
    pub jti: String,
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
    pub nbf: i64,
    pub sub: String,
}

impl Claims {
    /// `system:serviceaccount:<namespace>:<name>`.
    pub fn username(&self) -> String {
        username(&self.kubernetes.namespace, &self.kubernetes.serviceaccount.name)
    }
}

/// A ServiceAccount's user name.
pub fn username(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// Why a token was refused (each is a 401 to the client).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("not a service account token")]
    Malformed,
    #[error("invalid signature")]
    Signature,
    #[error("service account token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token audiences do not include the API server")]
    Audience,
}

/// Signs and verifies tokens with one P-256 key.
pub struct TokenSigner {
    key: EcdsaKeyPair,
    key_id: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl TokenSigner {
    /// A new PKCS#8 key, to be stored.
    pub fn generate_pkcs8() -> Result<Vec<u8>, ring::error::Unspecified> {
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())?;
        Ok(doc.as_ref().to_vec())
    }

    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<TokenSigner, ring::error::KeyRejected> {
        let rng = SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)?;
        // Upstream's key id: the unpadded base64url SHA-256 of the public key's DER.
        let mut spki = P256_SPKI_PREFIX.to_vec();
        spki.extend_from_slice(key.public_key().as_ref());
        let key_id = URL_SAFE_NO_PAD.encode(ring::digest::digest(&ring::digest::SHA256, &spki));
        Ok(TokenSigner { key, key_id, rng })
    }

    /// The signed token.
    pub fn sign(&self, claims: &Claims) -> String {
        let header = serde_json::json!({"alg": "ES256", "kid": self.key_id});
        let mut token = URL_SAFE_NO_PAD.encode(header.to_string());
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default()));
        // Signing fails only if the system's random source does.
        let signature =
            self.key.sign(&self.rng, token.as_bytes()).map(|s| s.as_ref().to_vec()).unwrap_or_default();
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(signature));
        token
    }

    /// The claims of a token this key signed, still valid at `now` (Unix seconds) for the API
    /// server's audience. Whether the account and the bound object still exist is the caller's.
    #[cfg(test)]
    pub fn verify(&self, token: &str, now: i64) -> Result<Claims, TokenError> {
        self.verify_for(token, now, &[ISSUER.to_string()]).map(|(claims, _)| claims)
    }

    /// As [`TokenSigner::verify`], for any of `audiences`: the claims and the audiences the token
    /// is valid for among them (TokenReview's answer).
    pub fn verify_for(
        &self,
        token: &str,
        now: i64,
        audiences: &[String],
    ) -> Result<(Claims, Vec<String>), TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|h| serde_json::from_slice(&h).ok())
            .ok_or(TokenError::Malformed)?;
        if header["alg"] != "ES256" {
            return Err(TokenError::Malformed);
        }
        let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| TokenError::Malformed)?;
        let signed = &token[..header_len(token)];
        ring::signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.key.public_key().as_ref())
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|p| serde_json::from_slice(&p).ok())
            .ok_or(TokenError::Malformed)?;
        if claims.iss != ISSUER {
            return Err(TokenError::Malformed);
        }
        // Upstream's JWT validation allows a minute of clock skew either way.
        if now >= claims.exp + LEEWAY_SECONDS {
            return Err(TokenError::Expired);
        }
        if claims.nbf > now + LEEWAY_SECONDS {
            return Err(TokenError::NotYetValid);
        }
        let valid: Vec<String> = audiences.iter().filter(|a| claims.aud.contains(a)).cloned().collect();
        if valid.is_empty() {
            return Err(TokenError::Audience);
        }
        Ok((claims, valid))
    }
}

/// The length of `header.payload`, the part a signature covers.
fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            aud: vec![ISSUER.to_string()],
            exp,
            iat: 100,
            iss: ISSUER.to_string(),
            jti: "j".into(),
            kubernetes: KubernetesClaim {
                namespace: "ns".into(),
                serviceaccount: Ref { name: "sa".into(), uid: "u".into() },
                ..Default::default()
            },
            nbf: 100,
            sub: username("ns", "sa"),
        }
    }

    #[test]
    fn a_signed_token_verifies_until_it_expires() {
        let signer = TokenSigner::from_pkcs8(&TokenSigner::generate_pkcs8().unwrap()).unwrap();
        let token = signer.sign(&claims(200));
        assert_eq!(token.split('.').count(), 3);
        assert_eq!(signer.verify(&token, 150).unwrap(), claims(200));
        assert!(signer.verify(&token, 259).is_ok(), "a minute of leeway");
        assert_eq!(signer.verify(&token, 260), Err(TokenError::Expired));
        assert_eq!(signer.verify(&token, 10), Err(TokenError::NotYetValid));
    }

    #[test]
    fn tampered_or_foreign_tokens_are_refused() {
        let signer = TokenSigner::from_pkcs8(&TokenSigner::generate_pkcs8().unwrap()).unwrap();
        let other = TokenSigner::from_pkcs8(&TokenSigner::generate_pkcs8().unwrap()).unwrap();
        let token = signer.sign(&claims(200));
        assert_eq!(other.verify(&token, 150), Err(TokenError::Signature));
        let mut forged = claims(200);
        forged.kubernetes.serviceaccount.name = "admin".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        let parts: Vec<&str> = token.split('.').collect();
        let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_eq!(signer.verify(&tampered, 150), Err(TokenError::Signature));
        assert_eq!(signer.verify("a.b", 150), Err(TokenError::Malformed));
        let mut elsewhere = claims(200);
        elsewhere.aud = vec!["vault".into()];
        let vault_token = signer.sign(&elsewhere);
        assert_eq!(signer.verify(&vault_token, 150), Err(TokenError::Audience));
        let (_, valid) = signer.verify_for(&vault_token, 150, &["vault".into(), "other".into()]).unwrap();
        assert_eq!(valid, ["vault"]);
    }
}
