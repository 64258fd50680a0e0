//! An apiserver error on one manifest's object (injected by a proxy in front of the real
//! apiserver: it answers that StatefulSet's apply with a 500) fails that manifest only: the run
//! exits 2, the other cluster is applied in full, the failing one says why in its status, and
//! the next run, with the apiserver answering again, completes it.

use crate::support::fault_proxy::{Fault, FaultProxy};
use crate::support::reconciler::Harness;
use serde_json::{Value, json};

fn condition(status: &Value, kind: &str) -> Value {
    status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
        .cloned()
        .unwrap_or_else(|| panic!("no {kind} condition: {status:#}"))
}

#[tokio::test]
async fn an_api_error_on_one_cluster_leaves_the_other_applied_and_is_reported() {
    let h = Harness::new("apply-api-fault").await;
    let (ok, bad) = ("acid-fine", "acid-faulty");
    for cluster in [ok, bad] {
        h.cluster_secrets(cluster).await;
        h.apply(h.cluster_manifest(cluster, 1, json!({}), json!({}), json!({})))
            .await;
    }
    let dir = h.temp_dir("api-fault");
    let path = format!("/apis/apps/v1/namespaces/{}/statefulsets/{bad}", h.ns.name);
    let proxy = FaultProxy::start(
        &dir,
        Fault::Fail(
            Box::new(move |method, p| method == http::Method::PATCH && p == path),
            500,
        ),
    )
    .await;

    let (status, output) = h.run_apply(&dir, &proxy.kubeconfig).await;
    assert_eq!(status.code(), Some(2), "a partial run:\n{output}");
    assert!(
        proxy.forwarded().iter().any(|r| r.ends_with("(injected)")),
        "{:?}",
        proxy.forwarded()
    );
    assert!(h.get("StatefulSet", ok).await.is_some(), "{output}");
    assert!(h.get("StatefulSet", bad).await.is_none(), "{output}");
    let fine = h.status("postgresql", ok).await;
    assert_eq!(condition(&fine, "Degraded")["status"], "False", "{fine:#}");
    let faulty = h.status("postgresql", bad).await;
    let degraded = condition(&faulty, "Degraded");
    assert_eq!(degraded["status"], "True", "{faulty:#}");
    assert!(
        degraded["message"]
            .as_str()
            .is_some_and(|m| m.contains("StatefulSet") && m.contains("injected")),
        "{degraded}"
    );
    drop(proxy);

    // The apiserver answers again: the next run completes the faulty cluster.
    let report = h.run().await;
    assert_eq!(
        report.exit_code,
        0,
        "{}",
        postgres_reconciler::report::run::text(&report)
    );
    assert!(h.get("StatefulSet", bad).await.is_some());
    let faulty = h.status("postgresql", bad).await;
    assert_eq!(
        condition(&faulty, "Degraded")["status"],
        "False",
        "{faulty:#}"
    );
}

/// Every status write refused: the run did its work but could not say so, which is not a run
/// that may exit 0; the refused writes are not counted as writes.
#[tokio::test]
async fn status_writes_that_fail_make_the_run_partial() {
    let h = Harness::new("apply-status-fault").await;
    let cluster = "acid-mute";
    h.cluster_secrets(cluster).await;
    h.apply(h.cluster_manifest(cluster, 1, json!({}), json!({}), json!({})))
        .await;
    let dir = h.temp_dir("status-fault");
    let proxy = FaultProxy::start(
        &dir,
        Fault::Fail(
            Box::new(|method, p| method == http::Method::PATCH && p.ends_with("/status")),
            500,
        ),
    )
    .await;
    let (status, output) = h.run_apply(&dir, &proxy.kubeconfig).await;
    assert_eq!(status.code(), Some(2), "a partial run:\n{output}");
    let report: postgres_reconciler::report::run::RunReport = serde_json::from_str(
        &std::fs::read_to_string(dir.join("report.json")).expect("the run report"),
    )
    .expect("a run report");
    assert_eq!(report.result, "partial", "{output}");
    assert_eq!(report.statuses_written, 0, "{output}");
    assert!(
        report
            .notes
            .iter()
            .any(|n| n.contains("writing the status of") && n.contains(cluster)),
        "{:?}",
        report.notes
    );
    let count = |verb: &str| report.requests.get(verb).copied().unwrap_or(0);
    let writes = ["create", "update", "patch", "delete"];
    let attempted: u64 = writes.iter().map(|v| count(v)).sum();
    let refused: u64 = writes.iter().map(|v| count(&format!("{v}-failed"))).sum();
    assert!(count("patch-failed") > 0, "{:?}", report.requests);
    assert_eq!(report.writes, attempted - refused, "{:?}", report.requests);
    // The objects were applied all the same.
    assert!(h.get("StatefulSet", cluster).await.is_some(), "{output}");
    assert!(
        h.get("postgresql", cluster).await.expect("manifest")["status"]
            .get("PostgresClusterStatus")
            .is_none(),
        "no status was written"
    );
}

/// An apiserver whose certificate the kubeconfig's CA did not sign: the run cannot start, and it
/// says why in terms of the certificate, not only "client error (Connect)".
#[tokio::test]
async fn an_untrusted_apiserver_certificate_is_named_as_such() {
    use base64::Engine;
    let h = Harness::new("apply-tls").await;
    let dir = h.temp_dir("wrong-ca");
    let env = crate::support::TestEnv::get();
    let admin = std::fs::read_to_string(env.kubeconfig_path()).expect("admin kubeconfig");
    let mut kubeconfig: serde_yaml::Value = serde_yaml::from_str(&admin).expect("yaml");
    // Another CA: the test PostgreSQL's.
    let other_ca = std::fs::read(env.var("PGRENV_PG_CA_FILE")).expect("CA file");
    kubeconfig["clusters"][0]["cluster"]["certificate-authority-data"] =
        base64::engine::general_purpose::STANDARD
            .encode(other_ca)
            .into();
    let path = dir.join("wrong-ca.kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kubeconfig).expect("yaml")).expect("write");

    let (status, output) = h.run_apply(&dir, &path).await;
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(output.contains("TLS verification failed"), "{output}");
    assert!(
        output.contains("UnknownIssuer") || output.contains("certificate"),
        "the certificate problem is named: {output}"
    );
}
