//! The credential Secrets of a test's clusters: created before a run, read and edited after.

use super::super::PgTarget;
use super::{Harness, STANDBY_PASSWORD};
use base64::Engine;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

/// A credential Secret as Zalando's operator makes it: the cluster labels, no managed-by.
pub fn zalando_secret(cluster: &str, user: &str, password: &str) -> Secret {
    serde_json::from_value(json!({
        "metadata": {
            "name": format!("{}.{cluster}.credentials.postgresql.acid.zalan.do", user.replace('_', "-")),
            "labels": {"application": "spilo", "cluster-name": cluster, "team": "acid"},
        },
        "type": "Opaque",
        "stringData": {"username": user, "password": password},
    }))
    .expect("secret")
}

impl Harness {
    /// Creates a credential Secret the way Zalando's operator makes it (see [`zalando_secret`]).
    pub async fn create_zalando_secret(&self, cluster: &str, user: &str, password: &str) {
        self.ns
            .api::<Secret>()
            .create(
                &PostParams::default(),
                &zalando_secret(cluster, user, password),
            )
            .await
            .unwrap_or_else(|e| panic!("create Zalando's Secret for {user}: {e}"));
    }

    /// Creates the superuser Secret (with `superuser_password`) and the standby Secret of
    /// `cluster`, labelled as ours, before the reconciler would generate them.
    pub async fn cluster_secrets_with(&self, cluster: &str, superuser_password: &str) {
        let superuser = PgTarget::superuser();
        self.create_secret(cluster, &superuser.user, superuser_password)
            .await;
        self.create_secret(cluster, "standby", STANDBY_PASSWORD)
            .await;
    }

    /// [`Harness::cluster_secrets_with`] the real superuser password.
    pub async fn cluster_secrets(&self, cluster: &str) {
        let password = PgTarget::superuser().password;
        self.cluster_secrets_with(cluster, &password).await;
    }

    /// The credential Secret name of `user` in `cluster` (Zalando's template).
    pub fn secret_name(&self, user: &str, cluster: &str) -> String {
        format!(
            "{}.{cluster}.credentials.postgresql.acid.zalan.do",
            user.replace('_', "-")
        )
    }

    /// Creates a credential Secret the way a user (or an earlier operator) would have.
    pub async fn create_secret(&self, cluster: &str, user: &str, password: &str) {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {
                "name": self.secret_name(user, cluster),
                "labels": {
                    "app.kubernetes.io/managed-by": "postgres-reconciler",
                    "application": "spilo",
                    "cluster-name": cluster,
                },
            },
            "type": "Opaque",
            "stringData": {"username": user, "password": password},
        }))
        .expect("secret");
        self.ns
            .api::<Secret>()
            .create(&PostParams::default(), &secret)
            .await
            .unwrap_or_else(|e| panic!("create Secret for {user}: {e}"));
    }

    /// The password in a credential Secret.
    pub async fn secret_password(&self, name: &str) -> Option<String> {
        let secret = self
            .ns
            .api::<Secret>()
            .get_opt(name)
            .await
            .expect("get Secret")?;
        let bytes = secret.data?.get("password")?.0.clone();
        Some(String::from_utf8(bytes).expect("UTF-8 password"))
    }

    /// Sets the password of a credential Secret (as `kubectl edit` would).
    pub async fn set_secret_password(&self, name: &str, password: &str) {
        let encoded = base64::engine::general_purpose::STANDARD.encode(password);
        self.ns
            .api::<Secret>()
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"password": encoded}})),
            )
            .await
            .unwrap_or_else(|e| panic!("patch Secret {name}: {e}"));
    }
}
