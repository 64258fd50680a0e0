//! `volume.size` grows the claims of a running cluster in place: each instance's claim gets the
//! larger request, the StatefulSet keeps its claim template (the apiserver refuses changes to
//! it) and is neither updated nor replaced. A smaller size is refused by the apiserver, and the
//! status names the claim.

use crate::support::reconciler::Harness;
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};

fn storage(v: &Value) -> String {
    v.pointer("/spec/resources/requests/storage")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_larger_volume_grows_the_claims_in_place() {
    let h = Harness::new("apply-volume").await;
    let cluster = "acid-volume";
    h.cluster_secrets(cluster).await;
    let mut manifest = h.cluster_manifest(cluster, 2, json!({}), json!({}), json!({}));
    h.apply(manifest.clone()).await;
    h.run().await;
    h.settle(cluster, 2).await;
    let claims: Vec<String> = (0..2).map(|i| format!("pgdata-{cluster}-{i}")).collect();
    for claim in &claims {
        let live = h.get("PersistentVolumeClaim", claim).await.expect("claim");
        assert_eq!(storage(&live), "1Gi");
    }
    let sts = h.get("StatefulSet", cluster).await.expect("StatefulSet");

    manifest["spec"]["volume"]["size"] = json!("2Gi");
    h.apply(manifest.clone()).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let actions: Vec<(String, ActionResult)> = report
        .manifests
        .iter()
        .flat_map(|m| &m.actions)
        .map(|a| (a.action.clone(), a.result.clone()))
        .collect();
    let ns = &h.ns.name;
    assert_eq!(
        actions,
        claims
            .iter()
            .map(|c| (
                format!("update PersistentVolumeClaim {ns}/{c}"),
                ActionResult::Applied
            ))
            .collect::<Vec<_>>(),
        "{}",
        text(&report)
    );
    for claim in &claims {
        let live = h.get("PersistentVolumeClaim", claim).await.expect("claim");
        assert_eq!(storage(&live), "2Gi", "{claim}");
    }
    let after = h.get("StatefulSet", cluster).await.expect("StatefulSet");
    assert_eq!(
        after["metadata"]["uid"], sts["metadata"]["uid"],
        "not replaced"
    );
    assert_eq!(
        after["metadata"]["generation"], sts["metadata"]["generation"],
        "not updated"
    );
    let again = h.run().await;
    assert!(
        again.manifests.iter().all(|m| m.actions.is_empty()),
        "{}",
        text(&again)
    );

    // Volumes do not shrink: the apiserver refuses, the status names the claim.
    manifest["spec"]["volume"]["size"] = json!("1Gi");
    h.apply(manifest).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 2, "{}", text(&report));
    let status = h.status("postgresql", cluster).await;
    let degraded = status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Degraded"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(degraded["status"], "True", "{status:#}");
    assert!(
        degraded["message"].as_str().is_some_and(
            |m| m.contains(&format!("update PersistentVolumeClaim {ns}/{}", claims[0]))
        ),
        "{degraded}"
    );
}
