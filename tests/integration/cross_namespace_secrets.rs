//! `enable_cross_namespace_secret` on the real control plane and PostgreSQL: a user written
//! `<namespace>.<user>` becomes a role of that whole name whose credential Secret lives in that
//! namespace (no owner reference: none can cross namespaces), the role gets that Secret's
//! password, and a steady run writes nothing.

use crate::support::TestNamespace;
use crate::support::reconciler::{Harness, login, role, superuser};
use k8s_openapi::api::core::v1::Secret;
use postgres_reconciler::observe::cluster::Scope;
use postgres_reconciler::report::run::text;
use serde_json::json;

/// Roles named after the other namespace do not carry the harness's prefix: dropped here.
struct DropRole(String);

impl Drop for DropRole {
    fn drop(&mut self) {
        let name = self.0.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async {
                let _ = superuser()
                    .await
                    .batch_execute(&format!("DROP ROLE IF EXISTS \"{name}\""))
                    .await;
            });
        })
        .join();
    }
}

#[tokio::test]
async fn a_namespace_user_gets_its_secret_there_and_logs_in_with_it() {
    let mut h = Harness::new("cross-ns").await;
    let apps = TestNamespace::new("cross-ns-apps").await;
    h.config.enable_cross_namespace_secret = true;
    h.source.scope = Scope::Namespaces(vec![h.ns.name.clone(), apps.name.clone()]);
    let cluster = "acid-xns";
    h.cluster_secrets(cluster).await;
    let user = format!("{}.writer", apps.name);
    let _cleanup = DropRole(user.clone());
    h.apply(h.cluster_manifest(
        cluster,
        1,
        json!({ user.as_str(): [] }),
        json!({}),
        json!({}),
    ))
    .await;

    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let secret_name = format!("{user}.{cluster}.credentials.postgresql.acid.zalan.do");
    let secret = apps
        .api::<Secret>()
        .get_opt(&secret_name)
        .await
        .expect("get")
        .unwrap_or_else(|| panic!("Secret {secret_name} in namespace {}", apps.name));
    assert!(secret.metadata.owner_references.is_none());
    let labels = secret.metadata.labels.unwrap_or_default();
    assert_eq!(
        labels.get("cluster-name").map(String::as_str),
        Some(cluster)
    );
    let data = secret.data.unwrap_or_default();
    assert_eq!(
        data.get("username").map(|b| b.0.as_slice()),
        Some(user.as_bytes())
    );
    let password = String::from_utf8(data["password"].0.clone()).expect("UTF-8");
    assert!(role(&user).await.expect("the role").login);
    login(&user, &password)
        .await
        .expect("the role logs in with the password of the Secret in the other namespace");
    assert!(
        h.ns.api::<Secret>()
            .get_opt(&secret_name)
            .await
            .expect("get")
            .is_none(),
        "not in the cluster's namespace"
    );

    // Steady: the Secret is found where it is; nothing is written.
    h.wait_ready(cluster, 1).await;
    let settling = h.run().await;
    assert_eq!(settling.exit_code, 0, "{}", text(&settling));
    let quiet = h.run().await;
    assert_eq!(quiet.exit_code, 0, "{}", text(&quiet));
    assert_eq!(quiet.writes, 0, "{}", text(&quiet));
    login(&user, &password).await.expect("the same password");
}
