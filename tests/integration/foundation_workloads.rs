//! Pods through the real controllers: StatefulSet → Pods (scheduler + kwok) and PVCs (provisioner).

use crate::support::{TestNamespace, eventually};
use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::Api;
use kube::api::{DeleteParams, ListParams, PostParams};
use serde_json::json;
use std::time::Duration;

fn is_running_and_ready(pod: &Pod) -> bool {
    let status = pod.status.as_ref();
    let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    running && ready && pod.metadata.deletion_timestamp.is_none()
}

#[tokio::test]
async fn statefulset_pods_become_ready_with_bound_claims_and_are_recreated() {
    let ns = TestNamespace::new("sts").await;
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{
                    "name": "postgres", "image": "registry.invalid/spilo:1",
                    "volumeMounts": [{"name": "pgdata", "mountPath": "/home/postgres/pgdata"}]
                }]}
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "pgdata"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
            }]
        }
    }))
    .expect("statefulset");
    ns.api::<StatefulSet>()
        .create(&PostParams::default(), &sts)
        .await
        .expect("create statefulset");

    let pods: Api<Pod> = ns.api();
    let claims: Api<PersistentVolumeClaim> = ns.api();
    let selector = ListParams::default().labels("app=db");
    let ready = eventually(
        Duration::from_secs(60),
        "2 pods Running/Ready and 2 claims Bound",
        || async {
            let ready: Vec<Pod> = pods
                .list(&selector)
                .await
                .ok()?
                .items
                .into_iter()
                .filter(is_running_and_ready)
                .collect();
            let bound = claims
                .list(&ListParams::default())
                .await
                .ok()?
                .items
                .iter()
                .filter(|c| c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound"))
                .count();
            (ready.len() == 2 && bound == 2).then_some(ready)
        },
    )
    .await;
    let mut names: Vec<_> = ready
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["db-0", "db-1"]);

    let claim = claims.get("pgdata-db-0").await.expect("claim of db-0");
    let capacity = claim
        .status
        .and_then(|s| s.capacity)
        .and_then(|c| c.get("storage").cloned());
    assert_eq!(capacity.map(|q| q.0), Some("1Gi".to_string()));

    // Deleting a pod: the StatefulSet controller recreates it under the same name.
    let old_uid = ready
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("db-0"))
        .and_then(|p| p.metadata.uid.clone());
    pods.delete("db-0", &DeleteParams::default())
        .await
        .expect("delete db-0");
    eventually(
        Duration::from_secs(60),
        "db-0 to be recreated and Ready",
        || async {
            let p = pods.get_opt("db-0").await.ok()??;
            (p.metadata.uid != old_uid && is_running_and_ready(&p)).then_some(())
        },
    )
    .await;
}
