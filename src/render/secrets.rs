//! Credential Secrets, one per login role: rendered as "create if absent". The password is
//! generated only when the Secret is created; an existing Secret's password is never replaced.

use super::meta;
use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use std::collections::BTreeMap;

/// The key whose value is generated on creation.
pub const PASSWORD_KEY: &str = "password";
pub const USERNAME_KEY: &str = "username";

/// The Secret without its password (which `apply` generates when it creates the Secret), in
/// the manifest's namespace or in `elsewhere` (`enable_cross_namespace_secret`). Owned by the
/// manifest only when the configuration deletes Secrets with their cluster, and never in
/// another namespace: an owner reference cannot cross namespaces.
pub fn credential_secret(
    config: &Config,
    pg: &Postgresql,
    role: &str,
    secret_name: &str,
    elsewhere: Option<&str>,
) -> Secret {
    let mut metadata = meta::cluster_object_meta(
        config,
        pg,
        secret_name,
        &BTreeMap::new(),
        config.delete_secrets && elsewhere.is_none(),
    );
    if let Some(namespace) = elsewhere {
        metadata.namespace = Some(namespace.to_string());
    }
    Secret {
        metadata,
        type_: Some("Opaque".into()),
        data: Some(BTreeMap::from([(
            USERNAME_KEY.to_string(),
            ByteString(role.as_bytes().to_vec()),
        )])),
        ..Default::default()
    }
}
