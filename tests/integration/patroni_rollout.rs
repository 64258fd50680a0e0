//! The rolling upgrade on real Patroni: a configuration change that renders the same pod
//! template restarts nothing; a `dockerImage` change restarts every pod on the new revision over
//! successive runs, one per run, replicas first, the master last after the one switchover,
//! answered by Patroni; never fewer than 2 Ready pods; rows written before the rollout are on
//! every member after it. Patroni's REST API is reached through a proxy that refuses nothing and
//! logs each request beside the pod watch's deletions.

use crate::support::rollout::{Log, progress, restarts, rolling_update, uids, watch_pods};
use crate::support::spilo::cluster::{PatroniCluster, member_connection};
use crate::support::spilo::rest_proxy::RestProxy;
use k8s_openapi::api::core::v1::Pod;
use postgres_reconciler::observe::postgres::connect;
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLUSTER: &str = "acid-roll";
const NEW_IMAGE: &str = "registry.invalid/spilo:2";

/// The postgres container's image of each pod of the cluster.
async fn images(pods: &kube::Api<Pod>) -> Vec<String> {
    let list = pods
        .list(&kube::api::ListParams::default().labels(&format!("cluster-name={CLUSTER}")))
        .await
        .expect("pods");
    list.items
        .iter()
        .flat_map(|p| p.spec.iter().flat_map(|s| &s.containers))
        .filter(|c| c.name == "postgres")
        .filter_map(|c| c.image.clone())
        .collect()
}

fn manifest(h: &crate::support::reconciler::Harness, image: &str) -> Value {
    let mut m = h.cluster_manifest(CLUSTER, 3, json!({}), json!({}), json!({}));
    m["spec"]["dockerImage"] = json!(image);
    m
}

#[tokio::test]
async fn a_new_image_rolls_out_replicas_first_with_a_switchover_answered_by_patroni() {
    let mut c = PatroniCluster::start("patroni-roll", CLUSTER, 3, |h| {
        manifest(h, "registry.invalid/spilo:1")
    })
    .await;
    let log: Log = Arc::default();
    let proxy = RestProxy::start(Box::new(|_, _| false), 503, log.clone()).await;
    c.h.config.patroni_url_template = proxy.url_template();
    let pods: kube::Api<Pod> = c.h.ns.api();
    let selector = kube::api::ListParams::default().labels(&format!("cluster-name={CLUSTER}"));
    let before = uids(&pods.list(&selector).await.expect("pods").items);
    c.h.config.delete_secrets = true;
    c.h.config.max_parallel_clusters = 2;
    let report = c.h.run().await;
    assert!(restarts(&report).is_empty(), "{}", text(&report));
    assert_eq!(report.totals.restart, 0, "{}", text(&report));
    assert_eq!(
        uids(&pods.list(&selector).await.expect("pods").items),
        before,
        "a configuration change that renders the same pod template restarts nothing"
    );
    let c = c;
    let h = &c.h;
    let leader = c.wait_for_roles("before").await;
    let password = c.superuser_password().await;
    let members = c.pods().await;
    let leader_ip = &members.get(&leader).expect("the leader's pod").1;
    let writer = connect(
        &member_connection(leader_ip, "postgres", &password),
        "postgres",
    )
    .await
    .expect("connect to the leader");
    writer
        .batch_execute(
            "CREATE TABLE marker (n int); INSERT INTO marker SELECT generate_series(1, 100)",
        )
        .await
        .expect("rows before the rollout");
    drop(writer);

    let armed = Arc::new(Mutex::new(true));
    let fewest = watch_pods(pods.clone(), CLUSTER, log.clone(), armed);
    h.apply(manifest(h, NEW_IMAGE)).await;
    let report = h.run().await;
    assert!(
        restarts(&report).is_empty(),
        "no restart in the run that updates the template: {}",
        text(&report)
    );
    // The plan says why a pod restarts, comparing the real pod with the template it should
    // have: the image, and nothing the apiserver or admission added to the pod.
    let reason =
        crate::support::eventually(Duration::from_secs(120), "a planned restart", || async {
            let planned = postgres_reconciler::pipeline::plan_live(
                &h.config,
                &h.cluster_client().await,
                &h.source,
            )
            .await
            .expect("plan");
            planned
                .plan
                .actions
                .iter()
                .find(|a| a.op == postgres_reconciler::plan::Op::Restart)
                .map(|a| a.reason.clone())
        })
        .await;
    assert!(
        reason.contains(&format!(
            "(image of postgres: registry.invalid/spilo:1 → {NEW_IMAGE})"
        )),
        "{reason}"
    );
    let mut order = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    loop {
        let report = h.run().await;
        assert_ne!(report.exit_code, 1, "{}", text(&report));
        let done = restarts(&report);
        assert!(done.len() <= 1, "one restart per run: {}", text(&report));
        order.extend(done);
        let (current, total, all_ready) = progress(h, &pods, CLUSTER).await;
        // The revision alone can be the old one for a moment after the update: the images say.
        let on_new_image = images(&pods).await.iter().all(|i| i == NEW_IMAGE);
        if on_new_image && current == 3 && total == 3 && all_ready && c.roles().await.len() == 3 {
            let roles = c.roles().await;
            if roles.values().filter(|r| *r == "master").count() == 1 {
                break;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "rollout did not finish: {current} of {total}; restarts {order:?}\n{}",
            text(&report)
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    println!(
        "rollout: restarts {order:?}; fewest Ready {}",
        fewest.lock().unwrap()
    );
    assert_eq!(order.len(), 3, "every pod restarted once: {order:?}");
    assert_eq!(order.last(), Some(&leader), "the master last: {order:?}");
    // One switchover, answered by Patroni before the old leader's pod went.
    let events = log.lock().unwrap().clone();
    let switchovers: Vec<usize> = (0..events.len())
        .filter(|i| events[*i].starts_with("POST ") && events[*i].contains("/switchover "))
        .collect();
    assert_eq!(switchovers.len(), 1, "{events:#?}");
    assert!(events[switchovers[0]].ends_with(" 200"), "{events:#?}");
    let leader_deleted = events
        .iter()
        .position(|e| *e == format!("deleted {leader}"))
        .unwrap_or_else(|| panic!("the old leader's pod was never deleted: {events:#?}"));
    assert!(switchovers[0] < leader_deleted, "{events:#?}");
    let old_log = c.runner.log(&leader);
    assert!(
        old_log.to_lowercase().contains("switchover") || old_log.contains("demot"),
        "{old_log}"
    );
    // Each restart takes one pod away, never more; the watch saw those moments.
    assert_eq!(
        *fewest.lock().unwrap(),
        2,
        "the fewest Ready pods seen during the rollout"
    );
    let new_leader = c.wait_for_roles("after the rollout").await;
    assert_ne!(new_leader, leader, "the leader moved by the switchover");

    // Every member has the rows written before the rollout.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    for (pod, (_, ip)) in c.pods().await {
        loop {
            let count =
                match connect(&member_connection(&ip, "postgres", &password), "postgres").await {
                    Ok(client) => client
                        .query_one("SELECT count(*) FROM marker", &[])
                        .await
                        .ok()
                        .map(|r| r.get::<_, i64>(0)),
                    Err(_) => None,
                };
            if count == Some(100) {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{pod} does not have the 100 rows: {count:?}"
            );
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    // The status says the rollout is done.
    h.run().await;
    let rolling = rolling_update(&h.status("postgresql", CLUSTER).await);
    assert_eq!(rolling["status"], "False", "{rolling}");
    assert_eq!(rolling["message"], "3 of 3 pods on the new revision");
}
