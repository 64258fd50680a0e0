//! Taking over a running cluster from Zalando's operator: its objects carry the cluster labels
//! but no managed-by label. A run adopts the Services, the PodDisruptionBudget, the credential
//! Secrets and the StatefulSet in place (same objects, our labels added, passwords kept, the pod
//! template unchanged so no pod restarts). tests/parity/adoption.rs does the same with clusters
//! made by Zalando's real operator.

use crate::support::PgTarget;
use crate::support::reconciler::{Harness, STANDBY_PASSWORD};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DynamicObject, ListParams, PostParams};
use postgres_reconciler::render::{self, Manifest};
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};

const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// Drops our managed-by label wherever it is (object, pod template, claim templates).
fn without_managed_by(v: &mut Value) {
    match v {
        Value::Object(map) => {
            map.remove(MANAGED_BY);
            map.values_mut().for_each(without_managed_by);
        }
        Value::Array(items) => items.iter_mut().for_each(without_managed_by),
        _ => {}
    }
}

fn results(report: &RunReport, kind: &str) -> Vec<(String, ActionResult)> {
    report
        .manifests
        .iter()
        .flat_map(|m| &m.actions)
        .filter(|a| a.action.contains(&format!(" {kind} ")))
        .map(|a| (a.action.clone(), a.result.clone()))
        .collect()
}

fn uid(v: &Value) -> String {
    v["metadata"]["uid"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_zalando_cluster_is_adopted_in_place_and_its_pods_keep_running() {
    let h = Harness::new("apply-adopt").await;
    let cluster = "acid-adopt";
    let manifest = h.cluster_manifest(cluster, 1, json!({}), json!({}), json!({}));
    let live_manifest = h.apply(manifest.clone()).await;

    // The cluster as Zalando's operator would have made it: our render without our label and
    // without owner references, created under its field manager.
    let pg = serde_json::from_value(live_manifest).expect("manifest");
    let desired = render::render(&[Manifest::Postgresql(Box::new(pg))], &h.config);
    let as_zalando = PostParams {
        field_manager: Some("postgres-operator".into()),
        ..PostParams::default()
    };
    // The pods' ServiceAccount and its RBAC too: pods are not admitted without it.
    for object in desired.manifests[0].objects.iter().chain(&desired.shared) {
        // Secrets follow, as Zalando makes them; claims come from the StatefulSet.
        if object.kind == "Secret" || object.kind == "PersistentVolumeClaim" {
            continue;
        }
        let mut body = object.body.value();
        without_managed_by(&mut body);
        body["metadata"]
            .as_object_mut()
            .expect("metadata")
            .remove("ownerReferences");
        let body: DynamicObject = serde_json::from_value(body).expect("object");
        h.api(&object.kind)
            .create(&as_zalando, &body)
            .await
            .unwrap_or_else(|e| panic!("create {} as Zalando: {e}", object.kind));
    }
    let superuser = PgTarget::superuser();
    for (user, password) in [
        (superuser.user.as_str(), superuser.password.as_str()),
        ("standby", STANDBY_PASSWORD),
    ] {
        h.create_zalando_secret(cluster, user, password).await;
    }
    h.wait_ready(cluster, 1).await;
    let pods = h.ns.api::<Pod>();
    let selector = ListParams::default().labels(&format!("cluster-name={cluster}"));
    let pod_uids = |list: Vec<Pod>| -> Vec<String> {
        list.into_iter().filter_map(|p| p.metadata.uid).collect()
    };
    let running = pod_uids(pods.list(&selector).await.expect("pods").items);
    let service_uid = uid(&h.get("Service", cluster).await.expect("Service"));
    let sts_uid = uid(&h.get("StatefulSet", cluster).await.expect("StatefulSet"));

    // One run adopts everything in place: the StatefulSet's claim templates and pod template
    // are Zalando's, so it is updated (our labels and annotation), not replaced.
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    for kind in ["Service", "PodDisruptionBudget", "Secret", "StatefulSet"] {
        let r = results(&report, kind);
        assert!(
            !r.is_empty() && r.iter().all(|(_, res)| *res == ActionResult::Applied),
            "{kind}: {}",
            text(&report)
        );
    }
    let service = h.get("Service", cluster).await.expect("Service");
    assert_eq!(uid(&service), service_uid, "the same Service");
    assert_eq!(
        service["metadata"]["labels"][MANAGED_BY],
        "postgres-reconciler"
    );
    let sts = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_eq!(uid(&sts), sts_uid, "the same StatefulSet");
    assert_eq!(sts["metadata"]["labels"][MANAGED_BY], "postgres-reconciler");
    assert_eq!(
        pod_uids(pods.list(&selector).await.expect("pods").items),
        running,
        "the same pod, not restarted"
    );

    // Adopted: later runs leave those objects alone.
    let again = h.run().await;
    for kind in ["Service", "PodDisruptionBudget", "Secret", "StatefulSet"] {
        assert!(results(&again, kind).is_empty(), "{kind}: {}", text(&again));
    }
}
