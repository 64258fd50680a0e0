//! Taking over a cluster that Zalando's real operator made, in both DCS modes: the first run
//! adopts its objects in place (the StatefulSet's template and claim templates are Zalando's to
//! the letter, so it is updated, not replaced, and no pod restarts), changes nothing that moves
//! Patroni's DCS (the pods' mode, the master Service's selector, the leader Endpoints), binds
//! the pods to the same ClusterRole, and the run after it writes nothing. Zalando's pods run real
//! Patroni: Patroni's dynamic configuration, read by our runs, is already what we would set, and
//! the leader elected under Zalando still leads after the adoption.

use super::harness::{Mode, install_pod_cluster_role, our_configuration, quiet, wait_for_oracle};
use crate::support::PgTarget;
use crate::support::reconciler::{Harness, STANDBY_PASSWORD};
use crate::support::spilo::cluster::wait_for_roles_of;
use crate::support::zalando::Zalando;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use postgres_reconciler::config::Config;
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};
use std::collections::BTreeMap;

#[tokio::test]
async fn a_zalando_cluster_in_endpoints_mode_is_adopted_without_a_restart() {
    adopt(Mode::Endpoints).await;
}

#[tokio::test]
async fn a_zalando_cluster_in_configmaps_mode_is_adopted_without_a_restart() {
    adopt(Mode::ConfigMaps).await;
}

fn env_var<'a>(sts: &'a Value, name: &str) -> Option<&'a Value> {
    sts["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
}

/// The postgres container's variables of WAL archiving and its storage, as (name → entry).
fn wal_settings(sts: &Value) -> BTreeMap<String, Value> {
    let backup = [
        "WAL", "WALG", "WALE", "AWS", "USE_WALG", "BACKUP", "CLONE", "LOG_", "GOOGLE", "AZURE",
    ];
    sts["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| Some((e["name"].as_str()?.to_string(), e.clone())))
        .filter(|(name, _)| backup.iter().any(|p| name.starts_with(p)))
        .collect()
}

/// The fields a field manager owns on an object, as the managedFields entry lists them.
fn owned_by<'a>(object: &'a Value, manager: &str) -> Vec<&'a Value> {
    object["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["manager"] == manager)
        .map(|m| &m["fieldsV1"])
        .collect()
}

async fn pod_uids(h: &Harness, cluster: &str) -> BTreeMap<String, String> {
    let params = ListParams::default().labels(&format!("cluster-name={cluster}"));
    h.ns.api::<Pod>()
        .list(&params)
        .await
        .expect("pods")
        .into_iter()
        .map(|p| {
            (
                p.metadata.name.unwrap_or_default(),
                p.metadata.uid.unwrap_or_default(),
            )
        })
        .collect()
}

async fn adopt(mode: Mode) {
    let mut h = Harness::new(&format!("adopt-{}", mode.name())).await;
    let client = h.ns.client.clone();
    install_pod_cluster_role(&client).await;
    let dir = h.temp_dir("adopt");

    // Ours reads the ConfigMap Zalando runs with; only where PostgreSQL is differs.
    let zalando_config = our_configuration(&h.ns.name, mode, &dir);
    h.config = Config {
        postgres_host_template: h.config.postgres_host_template.clone(),
        postgres_port: h.config.postgres_port,
        postgres_sslmode: h.config.postgres_sslmode,
        postgres_ca_file: h.config.postgres_ca_file.clone(),
        release_namespace: h.config.release_namespace.clone(),
        // Zalando's pods run real Patroni: its dynamic configuration is read, and must already
        // be what we would set.
        sync_patroni_config: true,
        ..zalando_config
    };

    // Credentials provisioned before the cluster, as Zalando reads them (its Secret wins over a
    // generated password): the shared test server's, so the SQL part can run too.
    let cluster = "acid-adopt";
    let superuser = PgTarget::superuser();
    for (user, password) in [
        (superuser.user.as_str(), superuser.password.as_str()),
        ("standby", STANDBY_PASSWORD),
    ] {
        h.create_zalando_secret(cluster, user, password).await;
    }
    let app = h.name("app");
    let mut manifest =
        h.cluster_manifest(cluster, 2, json!({ app.clone(): [] }), json!({}), json!({}));
    manifest["spec"]["enableLogicalBackup"] = json!(true);
    h.apply(manifest).await;

    // ConfigMaps mode runs with WAL archiving configured: the pod environment ConfigMap and
    // Secret, and the operator's WAL keys.
    mode.prepare(&client, &h.ns.name).await;
    let mut zalando = Zalando::start(&client, &h.ns.name, &mode.overrides(), &dir).await;
    let not_running = wait_for_oracle(&client, &h.ns.name, &[cluster.to_string()], &zalando).await;
    assert!(
        not_running.is_empty(),
        "{not_running:?}; see {}",
        zalando.log.display()
    );
    quiet(&client, &h.ns.name).await;
    zalando.stop();
    let leader = wait_for_roles_of(&h, cluster, 2, "Patroni under Zalando's pods").await;

    let pods_before = pod_uids(&h, cluster).await;
    assert_eq!(pods_before.len(), 2, "{pods_before:?}");
    let sts_before = h
        .get("StatefulSet", cluster)
        .await
        .expect("Zalando's StatefulSet");
    let uses_configmaps = mode == Mode::ConfigMaps;
    assert_eq!(
        env_var(&sts_before, "KUBERNETES_USE_CONFIGMAPS").is_some(),
        uses_configmaps,
        "Zalando's pods in {} mode",
        mode.name()
    );
    // Zalando's own leader Endpoints (not the endpoints controller's, which a Service with a
    // selector gets).
    let endpoints_before = h.get("Endpoints", cluster).await.filter(|e| {
        e["metadata"]["labels"]
            .get("endpoints.kubernetes.io/managed-by")
            .is_none()
    });
    assert_eq!(
        endpoints_before.is_some(),
        !uses_configmaps,
        "Zalando's leader Endpoints"
    );

    let wal_before = wal_settings(&sts_before);
    if mode == Mode::ConfigMaps {
        let uid = h.get("postgresql", cluster).await.expect("manifest")["metadata"]["uid"]
            .as_str()
            .map(|u| format!("/{u}"));
        assert_eq!(
            wal_before
                .get("WAL_BUCKET_SCOPE_SUFFIX")
                .map(|e| e["value"].clone()),
            uid.map(Value::from),
            "Zalando scopes the WAL path by the manifest's uid: {wal_before:?}"
        );
        for name in ["USE_WALG_BACKUP", "AWS_SECRET_ACCESS_KEY", "WAL_S3_BUCKET"] {
            assert!(wal_before.contains_key(name), "{name} in {wal_before:?}");
        }
    }

    let backup_job = format!("logical-backup-{cluster}");
    let cronjob_before = h
        .get("CronJob", &backup_job)
        .await
        .expect("Zalando's logical backup CronJob");

    // Our first run: everything adopted in place.
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let said = text(&report);
    for word in ["WAL_", "WALG", "AWS_", "pod-env"] {
        assert!(
            !said.contains(word),
            "the run says nothing about backups changing ({word}): {said}"
        );
    }
    let sts = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_eq!(
        sts["metadata"]["uid"], sts_before["metadata"]["uid"],
        "updated, not replaced"
    );
    assert_eq!(
        wal_settings(&sts),
        wal_before,
        "every WAL variable kept, with its value or Secret reference"
    );
    assert_eq!(
        sts["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "postgres-reconciler"
    );
    assert_eq!(
        sts["spec"]["template"], sts_before["spec"]["template"],
        "the pod template is Zalando's: no revision, no restart"
    );
    assert_eq!(pod_uids(&h, cluster).await, pods_before, "the same pods");
    let cronjob = h.get("CronJob", &backup_job).await.expect("the CronJob");
    assert_eq!(
        cronjob["metadata"]["uid"], cronjob_before["metadata"]["uid"],
        "the backup CronJob adopted, not replaced"
    );
    assert_eq!(
        cronjob["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "postgres-reconciler"
    );
    assert_eq!(
        (
            &cronjob["spec"]["schedule"],
            &cronjob["spec"]["jobTemplate"]
        ),
        (
            &cronjob_before["spec"]["schedule"],
            &cronjob_before["spec"]["jobTemplate"]
        ),
        "the backup job is Zalando's to the letter"
    );

    // Patroni's DCS is where it was, with no second writer.
    let master = h.get("Service", cluster).await.expect("master Service");
    assert_eq!(
        master["spec"]["selector"].is_object(),
        uses_configmaps,
        "a selector on the master Service only in ConfigMaps mode: {}",
        master["spec"]
    );
    if let Some(before) = endpoints_before {
        let endpoints = h
            .get("Endpoints", cluster)
            .await
            .expect("leader Endpoints kept");
        assert_eq!(endpoints["metadata"]["uid"], before["metadata"]["uid"]);
        assert_eq!(
            endpoints["metadata"]["labels"]["app.kubernetes.io/managed-by"], "postgres-reconciler",
            "adopted"
        );
        let ours = owned_by(&endpoints, "postgres-reconciler");
        assert!(!ours.is_empty(), "our field manager owns something");
        for fields in ours {
            assert!(
                fields.get("f:subsets").is_none()
                    && fields["f:metadata"].get("f:annotations").is_none(),
                "we own labels only, Patroni the rest: {fields}"
            );
        }
    }

    // The pods' RoleBinding refers to the same ClusterRole, now ours too.
    let binding = h
        .get("RoleBinding", "postgres-pod")
        .await
        .expect("RoleBinding");
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(binding["roleRef"]["name"], "postgres-pod");
    assert_eq!(
        binding["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "postgres-reconciler"
    );

    // The manifest's role was made, with the password of the Secret Zalando left.
    assert!(
        crate::support::reconciler::role(&app).await.is_some(),
        "role {app}"
    );

    let again = h.run().await;
    assert_eq!(again.exit_code, 0, "{}", text(&again));
    assert_eq!(
        again.writes,
        0,
        "the run after adoption writes nothing: {}",
        text(&again)
    );
    assert_eq!(
        pod_uids(&h, cluster).await,
        pods_before,
        "still the same pods"
    );
    // No second writer, no election: the leader Patroni had under Zalando still leads.
    assert_eq!(
        wait_for_roles_of(&h, cluster, 2, "after the adoption").await,
        leader
    );
}
