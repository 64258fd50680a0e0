//! `spec.tls`: PostgreSQL's certificate from a Secret, as Zalando's `generateTlsMounts` mounts
//! it: the Secret at `/tls` (readable by the pod's fsGroup), the CA's own Secret at `/tlsca`,
//! and `SSL_CERTIFICATE_FILE`, `SSL_PRIVATE_KEY_FILE`, `SSL_CA_FILE` telling Spilo where.

use super::spilo::value;
use crate::api::Postgresql;
use crate::api::postgresql::{AdditionalVolume, Tls};
use k8s_openapi::api::core::v1::EnvVar;

pub const MOUNT_PATH: &str = "/tls";
const CA_MOUNT_PATH: &str = "/tlsca";
/// 0640: the postgres user reads the key through the fsGroup.
const DEFAULT_MODE: i32 = 0o640;

/// The TLS settings in effect: a Secret is named.
pub fn tls(pg: &Postgresql) -> Option<&Tls> {
    pg.spec.tls.as_ref().filter(|t| !t.secret_name.is_empty())
}

/// `file` under `dir` unless absolute; `default` when unset.
fn path(file: Option<&str>, dir: &str, default: &str) -> String {
    match file.filter(|f| !f.is_empty()) {
        Some(f) if f.starts_with('/') => f.to_string(),
        Some(f) => format!("{dir}/{f}"),
        None if default.is_empty() => dir.to_string(),
        None => format!("{dir}/{default}"),
    }
}

fn ca_dir(tls: &Tls) -> &'static str {
    match tls.ca_secret_name.as_deref().filter(|s| !s.is_empty()) {
        Some(_) => CA_MOUNT_PATH,
        None => MOUNT_PATH,
    }
}

pub fn env(tls: &Tls) -> Vec<EnvVar> {
    env_named(
        tls,
        [
            "SSL_CERTIFICATE_FILE",
            "SSL_PRIVATE_KEY_FILE",
            "SSL_CA_FILE",
        ],
    )
}

/// Where the certificate, the key and the CA are, under the names a container reads (Spilo's,
/// or the pooler image's).
pub fn env_named(tls: &Tls, [certificate, key, ca_name]: [&str; 3]) -> Vec<EnvVar> {
    let mut env = vec![
        value(
            certificate,
            path(tls.certificate_file.as_deref(), MOUNT_PATH, "tls.crt"),
        ),
        value(
            key,
            path(tls.private_key_file.as_deref(), MOUNT_PATH, "tls.key"),
        ),
    ];
    if let Some(ca) = tls.ca_file.as_deref().filter(|f| !f.is_empty()) {
        env.push(value(ca_name, path(Some(ca), ca_dir(tls), "")));
    }
    env
}

/// The volumes, as additional volumes of the postgres container (after the manifest's).
pub fn volumes(tls: &Tls) -> Vec<AdditionalVolume> {
    let secret = |name: &str, mount: &str| AdditionalVolume {
        name: name.to_string(),
        mount_path: mount.to_string(),
        volume_source:
            serde_json::json!({"secret": {"secretName": name, "defaultMode": DEFAULT_MODE}})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        ..Default::default()
    };
    let mut out = vec![secret(&tls.secret_name, MOUNT_PATH)];
    let has_ca = tls.ca_file.as_deref().is_some_and(|f| !f.is_empty());
    if let Some(ca_secret) = tls.ca_secret_name.as_deref().filter(|s| !s.is_empty())
        && has_ca
    {
        out.push(secret(ca_secret, CA_MOUNT_PATH));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tls(json: serde_json::Value) -> Tls {
        serde_json::from_value(json).unwrap()
    }

    fn pairs(env: &[EnvVar]) -> Vec<(String, String)> {
        env.iter()
            .map(|e| (e.name.clone(), e.value.clone().unwrap_or_default()))
            .collect()
    }

    #[test]
    fn files_default_to_the_secrets_names_under_the_mount() {
        let t = tls(serde_json::json!({"secretName": "pg-tls"}));
        assert_eq!(
            pairs(&env(&t)),
            [
                (
                    "SSL_CERTIFICATE_FILE".to_string(),
                    "/tls/tls.crt".to_string()
                ),
                (
                    "SSL_PRIVATE_KEY_FILE".to_string(),
                    "/tls/tls.key".to_string()
                ),
            ]
        );
        assert_eq!(volumes(&t).len(), 1);
        let t = tls(
            serde_json::json!({"secretName": "pg-tls", "certificateFile": "/etc/c.pem",
            "privateKeyFile": "k.pem", "caFile": "ca.crt", "caSecretName": "pg-ca"}),
        );
        assert_eq!(
            pairs(&env(&t)),
            [
                ("SSL_CERTIFICATE_FILE".to_string(), "/etc/c.pem".to_string()),
                ("SSL_PRIVATE_KEY_FILE".to_string(), "/tls/k.pem".to_string()),
                ("SSL_CA_FILE".to_string(), "/tlsca/ca.crt".to_string()),
            ]
        );
        let v = volumes(&t);
        assert_eq!(
            (v[1].name.as_str(), v[1].mount_path.as_str()),
            ("pg-ca", "/tlsca")
        );
        assert_eq!(v[0].volume_source["secret"]["defaultMode"], 0o640);
    }
}
