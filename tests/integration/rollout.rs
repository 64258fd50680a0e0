//! Rolling updates held back, on real Patroni: kube-controller-manager recreates deleted pods,
//! kwok makes them Ready, Patroni runs behind them and labels their roles. A replacement that
//! stays Pending stops the rollout; a switchover Patroni refuses (through a proxy in front of its
//! REST API: Patroni refuses none to a streaming replica on demand) leaves the master alone.

use crate::support::rollout::*;
use crate::support::spilo::cluster::PatroniCluster;
use crate::support::spilo::rest_proxy::RestProxy;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use postgres_reconciler::report::outcome::ActionResult;
use postgres_reconciler::report::run::text;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn a_replacement_that_stays_pending_stops_the_rollout() {
    let cluster = "acid-pend";
    let c = PatroniCluster::start("rollout-pending", cluster, 3, |h| {
        h.cluster_manifest(cluster, 3, json!({}), json!({}), json!({}))
    })
    .await;
    let h = &c.h;
    let manifest = h.cluster_manifest(cluster, 3, json!({}), json!({}), json!({}));
    let pods: Api<Pod> = h.ns.api();
    let leader = c.wait_for_roles("bootstrap").await;

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
    let pending = loop {
        let report = h.run().await;
        let done = restarts(&report);
        if !done.is_empty() {
            assert_eq!(done.len(), 1, "{}", text(&report));
            assert_ne!(done[0], leader, "a replica first: {}", text(&report));
            break done[0].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no restart: {}",
            text(&report)
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };

    // The replacement stays Pending: no further pod is deleted, the status says why.
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
async fn a_refused_switchover_skips_the_master() {
    let cluster = "acid-sw";
    let mut c = PatroniCluster::start("rollout-switchover", cluster, 2, |h| {
        h.cluster_manifest(cluster, 2, json!({}), json!({}), json!({}))
    })
    .await;
    let log: Log = std::sync::Arc::default();
    // Patroni's answer to a switchover it could not do.
    let proxy = RestProxy::start(
        Box::new(|method, path| method == http::Method::POST && path == "/switchover"),
        503,
        log.clone(),
    )
    .await;
    c.h.config.patroni_url_template = proxy.url_template();
    c.h.config.docker_image = "ghcr.io/zalando/spilo-17:4.0-p4".into();
    let c = c;
    let h = &c.h;
    let pods: Api<Pod> = h.ns.api();
    let master = c.wait_for_roles("bootstrap").await;
    let master_uid = pods.get(&master).await.expect("master").metadata.uid;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(180);
    let skipped = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the master was never tried; requests {:#?}",
            log.lock().unwrap()
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
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(skipped.0.contains("switchover from"), "{}", skipped.0);
    assert!(
        skipped.0.contains("503"),
        "Patroni's answer is named: {}",
        skipped.0
    );
    assert_eq!(skipped.1, 2, "a skipped step is a partial run");
    assert!(
        log.lock()
            .unwrap()
            .iter()
            .any(|l| l.ends_with("/switchover 503 (refused)")),
        "{:#?}",
        log.lock().unwrap()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        pods.get(&master).await.expect("master").metadata.uid,
        master_uid,
        "the master was not deleted"
    );
    assert_eq!(
        c.wait_for_roles("after the refused switchover").await,
        master,
        "the master still leads"
    );
}
