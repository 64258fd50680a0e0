//! `enable_cross_namespace_secret` against Zalando's operator: a user written
//! `<namespace>.<user>` gets its credential Secret in that namespace, and so do the login roles
//! of a prepared database with `secretNamespace`. Zalando's Secret there and
//! ours, rendered from the same stored manifest and configuration, have the same name,
//! namespace, type, labels (ours add `app.kubernetes.io/managed-by`, as everywhere: listed in
//! intentional.yaml), annotations, owner references (none: they cannot cross namespaces) and
//! username.

use super::harness::{Mode, our_configuration, render_stored};
use crate::support::reconciler::Harness;
use crate::support::zalando::Zalando;
use crate::support::{TestNamespace, eventually};
use k8s_openapi::api::core::v1::Secret;
use postgres_reconciler::config::Config;
use serde_json::{Value, json};
use std::time::Duration;

/// What both operators decide about a credential Secret (never its password).
fn decided(secret: &Value) -> Value {
    let meta = &secret["metadata"];
    let mut labels = meta["labels"].clone();
    if let Some(l) = labels.as_object_mut() {
        l.remove("app.kubernetes.io/managed-by");
    }
    json!({
        "namespace": meta["namespace"],
        "name": meta["name"],
        "labels": labels,
        "annotations": meta.get("annotations").cloned().unwrap_or(Value::Null),
        "ownerReferences": meta.get("ownerReferences").cloned().unwrap_or(Value::Null),
        "type": secret["type"],
        "username": secret["data"]["username"],
    })
}

#[tokio::test]
async fn a_namespace_users_secret_is_zalandos() {
    let h = Harness::new("parity-xns").await;
    let apps = TestNamespace::new("parity-xns-apps").await;
    let client = h.ns.client.clone();
    let dir = h.temp_dir("xns");
    let cluster = "acid-xns";
    let user = format!("{}.writer", apps.name);
    let mut manifest = h.cluster_manifest(
        cluster,
        1,
        json!({ user.as_str(): [] }),
        json!({}),
        json!({}),
    );
    // A prepared database's login roles have their Secrets in its `secretNamespace`.
    manifest["spec"]["preparedDatabases"] =
        json!({"inv": {"defaultUsers": true, "secretNamespace": apps.name}});
    h.apply(manifest).await;
    let overrides = [("enable_cross_namespace_secret", "true")];
    let mut zalando = Zalando::start(&client, &h.ns.name, &overrides, &dir).await;
    let secret_of = |user: &str| {
        format!(
            "{}.{cluster}.credentials.postgresql.acid.zalan.do",
            user.replace('_', "-")
        )
    };
    let names: Vec<String> = [
        user.as_str(),
        "inv_owner_user",
        "inv_reader_user",
        "inv_writer_user",
    ]
    .iter()
    .map(|u| secret_of(u))
    .collect();
    let secrets = apps.api::<Secret>();
    let mut theirs = Vec::new();
    for name in &names {
        theirs.push(
            eventually(
                Duration::from_secs(120),
                &format!("Zalando's Secret {name} in the other namespace"),
                || async { secrets.get_opt(name).await.ok().flatten() },
            )
            .await,
        );
    }
    zalando.stop();

    let config = Config {
        enable_cross_namespace_secret: true,
        ..our_configuration(&h.ns.name, Mode::Endpoints, &dir)
    };
    let desired = render_stored(&h, cluster, &config).await;
    for (name, theirs) in names.iter().zip(theirs) {
        let ours = desired.manifests[0]
            .objects
            .iter()
            .find(|o| o.kind == "Secret" && &o.name == name)
            .unwrap_or_else(|| panic!("our Secret {name}"));
        let theirs = serde_json::to_value(&theirs).expect("json");
        assert_eq!(
            decided(&ours.body.value()),
            decided(&theirs),
            "see {}",
            zalando.log.display()
        );
    }
}
