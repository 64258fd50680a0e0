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
    if role == super::pooler::DEFAULT_USER {
        metadata.labels = Some(super::pooler::secret_labels(config, pg));
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

#[cfg(test)]
mod tests {
    use crate::api::Postgresql;
    use crate::config::Config;
    use crate::render::{Manifest, render};
    use serde_json::{Value, json};

    fn cluster() -> Manifest {
        let pg: Postgresql = serde_json::from_value(json!({
            "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": "acid-a", "namespace": "ns", "uid": "u-1"},
            "spec": {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
                "postgresql": {"version": "17"},
                "users": {"apps.writer": [], "app": [], "ns.local": []}}
        }))
        .expect("manifest");
        Manifest::Postgresql(Box::new(pg))
    }

    /// (namespace, name, has owner references) of each credential Secret.
    fn secrets(config: &Config) -> Vec<(String, String, bool)> {
        let desired = render(&[cluster()], config);
        assert!(desired.invalid.is_empty(), "{:?}", desired.invalid);
        desired.manifests[0]
            .objects
            .iter()
            .filter(|o| o.kind == "Secret")
            .map(|o| {
                (
                    o.namespace.clone(),
                    o.name.clone(),
                    o.body.value()["metadata"]["ownerReferences"] != Value::Null,
                )
            })
            .filter(|(_, name, _)| !name.starts_with("postgres.") && !name.starts_with("standby."))
            .collect()
    }

    #[test]
    fn a_namespace_user_gets_its_secret_in_that_namespace_without_an_owner() {
        let config = Config {
            enable_cross_namespace_secret: true,
            delete_secrets: true,
            ..Config::default()
        };
        let mut found = secrets(&config);
        found.sort();
        let name = |user: &str| format!("{user}.acid-a.credentials.postgresql.acid.zalan.do");
        assert_eq!(
            found,
            [
                ("apps".to_string(), name("apps.writer"), false),
                ("ns".to_string(), name("app"), true),
                // Its own namespace: an ordinary Secret.
                ("ns".to_string(), name("ns.local"), true),
            ]
        );
    }

    #[test]
    fn without_the_switch_every_secret_stays_in_the_manifests_namespace() {
        let found = secrets(&Config::default());
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found.iter().all(|(namespace, _, _)| namespace == "ns"),
            "{found:?}"
        );
    }

    #[test]
    fn a_prepared_databases_secret_namespace_holds_its_login_roles_secrets() {
        let pg: Postgresql = serde_json::from_value(json!({
            "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": "acid-a", "namespace": "ns", "uid": "u-1"},
            "spec": {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
                "postgresql": {"version": "17"},
                "preparedDatabases": {"inv": {"defaultUsers": true, "secretNamespace": "apps"}}}
        }))
        .expect("manifest");
        let placed = |config: &Config| -> Vec<(String, String)> {
            let desired = render(&[Manifest::Postgresql(Box::new(pg.clone()))], config);
            let mut found: Vec<(String, String)> = desired.manifests[0]
                .objects
                .iter()
                .filter(|o| o.kind == "Secret" && o.name.starts_with("inv-"))
                .map(|o| (o.namespace.clone(), o.name.clone()))
                .collect();
            found.sort();
            found
        };
        let on = Config {
            enable_cross_namespace_secret: true,
            ..Config::default()
        };
        let secrets = placed(&on);
        assert_eq!(secrets.len(), 3, "{secrets:?}");
        assert!(secrets.iter().all(|(ns, _)| ns == "apps"), "{secrets:?}");
        // Ignored without the switch, as in Zalando.
        assert!(
            placed(&Config::default()).iter().all(|(ns, _)| ns == "ns"),
            "in the manifest's namespace"
        );
    }
}
