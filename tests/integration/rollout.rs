//! Rolling updates on the real control plane: kube-controller-manager recreates deleted pods,
//! kwok makes them Ready; the test labels pods with `spilo-role` as Patroni would and a small
//! HTTP server on 127.0.0.1 stands in for Patroni's REST API (switchover requests only).

use crate::support::reconciler::Harness;
use crate::support::rollout::*;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn an_image_change_rolls_one_pod_per_run_replicas_first_master_last() {
    let mut h = Harness::new("rollout").await;
    let log: Log = Arc::default();
    let port = patroni_stand_in(log.clone());
    h.config.patroni_url_template = format!("http://127.0.0.1:{port}");
    let cluster = "acid-roll";
    h.cluster_secrets(cluster).await;
    h.apply(h.cluster_manifest(cluster, 3, json!({}), json!({}), json!({})))
        .await;
    let first = h.run().await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    h.settle(cluster, 3).await;
    let pods: Api<Pod> = h.ns.api();
    let master = format!("{cluster}-0");
    label_roles(&pods, cluster, &master).await;
    let armed = Arc::new(Mutex::new(false));
    let fewest = watch_pods(pods.clone(), cluster, log.clone(), armed.clone());
    tokio::time::sleep(Duration::from_secs(1)).await;
    *armed.lock().unwrap() = true;

    // A configuration change that renders the same pod template restarts nothing.
    let selector = ListParams::default().labels(&format!("cluster-name={cluster}"));
    let before = uids(&pods.list(&selector).await.expect("pods").items);
    h.config.delete_secrets = true;
    h.config.max_parallel_clusters = 2;
    let report = h.run().await;
    assert!(restarts(&report).is_empty(), "{}", text(&report));
    assert_eq!(report.totals.restart, 0, "{}", text(&report));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        uids(&pods.list(&selector).await.expect("pods").items),
        before
    );

    // The image changes: the first run updates the StatefulSet only.
    let revision = |sts: Option<Value>| {
        sts.and_then(|s| s["status"]["updateRevision"].as_str().map(str::to_string))
    };
    let old_revision = revision(h.get("StatefulSet", cluster).await);
    h.config.docker_image = "ghcr.io/zalando/spilo-17:4.0-p4".into();
    let report = h.run().await;
    assert!(
        restarts(&report).is_empty(),
        "no restart in the run that updates the template: {}",
        text(&report)
    );

    crate::support::eventually(
        Duration::from_secs(60),
        "the StatefulSet controller to compute the new revision",
        || async {
            let now = revision(h.get("StatefulSet", cluster).await);
            (now.is_some() && now != old_revision).then_some(())
        },
    )
    .await;

    let order = drive_rollout(&h, &pods, cluster, 3, &log, master).await;

    assert_eq!(order.len(), 3, "every pod restarted once: {order:?}");
    assert_eq!(
        order[2],
        format!("{cluster}-0"),
        "the master last: {order:?}"
    );
    let mut replicas = order[..2].to_vec();
    replicas.sort();
    assert_eq!(replicas, [format!("{cluster}-1"), format!("{cluster}-2")]);
    let events = log.lock().unwrap().clone();
    let switchover = events
        .iter()
        .position(|e| e.starts_with(&format!("switchover {cluster}-0 ")))
        .unwrap_or_else(|| panic!("no switchover from the master: {events:?}"));
    let master_deleted = events
        .iter()
        .position(|e| *e == format!("deleted {cluster}-0"))
        .unwrap_or_else(|| panic!("the master was never deleted: {events:?}"));
    assert!(switchover < master_deleted, "{events:?}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e.starts_with("switchover"))
            .count(),
        1,
        "{events:?}"
    );
    let fewest = *fewest.lock().unwrap();
    // Each restart takes one pod away, never more; the watch saw those moments.
    assert_eq!(fewest, 2, "the fewest Ready pods seen during the rollout");

    // Status: the rollout is done.
    h.run().await;
    let status = h.status("postgresql", cluster).await;
    let rolling = status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "RollingUpdate"))
        .unwrap_or_else(|| panic!("no RollingUpdate condition: {status:#}"))
        .clone();
    assert_eq!(rolling["status"], "False", "{rolling}");
    assert_eq!(rolling["message"], "3 of 3 pods on the new revision");
}

#[tokio::test]
async fn a_replacement_that_stays_pending_stops_the_rollout() {
    let h = Harness::new("rollout-pending").await;
    let cluster = "acid-pend";
    let manifest = h.cluster_manifest(cluster, 3, json!({}), json!({}), json!({}));
    let pods = settled_cluster(&h, cluster, manifest.clone()).await;

    // More CPU than any fake node has: the replaced pod cannot be scheduled.
    let mut big = manifest;
    big["spec"]["resources"] = json!({
        "requests": {"cpu": "64", "memory": "100Mi"},
        "limits": {"cpu": "64", "memory": "500Mi"},
    });
    h.apply(big).await;
    let report = h.run().await;
    assert!(restarts(&report).is_empty(), "{}", text(&report));
    // The next runs restart the first replica, once the StatefulSet controller has caught up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let report = h.run().await;
        let done = restarts(&report);
        if !done.is_empty() {
            assert_eq!(done, [format!("{cluster}-1")], "{}", text(&report));
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no restart: {}",
            text(&report)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The replacement stays Pending: no further pod is deleted, the status says why.
    let pending = format!("{cluster}-1");
    crate::support::eventually(
        Duration::from_secs(60),
        "the replacement pod Pending",
        || {
            let pods = pods.clone();
            let pending = pending.clone();
            async move {
                let p = pods.get_opt(&pending).await.ok()??;
                (p.status?.phase.as_deref() == Some("Pending")).then_some(())
            }
        },
    )
    .await;
    let selector = ListParams::default().labels(&format!("cluster-name={cluster}"));
    let before = uids(&pods.list(&selector).await.expect("pods").items);
    for _ in 0..3 {
        let report = h.run().await;
        assert!(restarts(&report).is_empty(), "{}", text(&report));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        uids(&pods.list(&selector).await.expect("pods").items),
        before
    );
    let rolling = rolling_update(&h.status("postgresql", cluster).await);
    assert_eq!(rolling["status"], "True", "{rolling}");
    assert_eq!(rolling["reason"], "Held", "{rolling}");
    let message = rolling["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("pod {pending} is Pending")),
        "{message}"
    );
}

#[tokio::test]
async fn a_failed_switchover_skips_the_master() {
    let mut h = Harness::new("rollout-switchover").await;
    // Nothing listens there: Patroni cannot be reached.
    h.config.patroni_url_template = "http://127.0.0.1:9".into();
    let cluster = "acid-sw";
    let manifest = h.cluster_manifest(cluster, 2, json!({}), json!({}), json!({}));
    let pods = settled_cluster(&h, cluster, manifest).await;
    let master = format!("{cluster}-0");
    let master_uid = pods.get(&master).await.expect("master").metadata.uid;

    h.config.docker_image = "ghcr.io/zalando/spilo-17:4.0-p4".into();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let skipped = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the master was never tried"
        );
        let report = h.run().await;
        let skipped = report
            .manifests
            .iter()
            .flat_map(|m| &m.actions)
            .find_map(|a| {
                match (
                    &a.result,
                    a.action == format!("restart Pod {}/{master}", h.ns.name),
                ) {
                    (ActionResult::Skipped(why), true) => Some((why.clone(), report.exit_code)),
                    _ => None,
                }
            });
        if let Some(s) = skipped {
            break s;
        }
        label_roles(&pods, cluster, &master).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(skipped.0.contains("switchover from"), "{}", skipped.0);
    assert_eq!(skipped.1, 2, "a skipped step is a partial run");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        pods.get(&master).await.expect("master").metadata.uid,
        master_uid,
        "the master was not deleted"
    );
}
