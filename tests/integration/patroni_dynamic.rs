//! Patroni's dynamic configuration kept as the manifest says, on real Patroni: a `ttl` change is
//! a `PATCH /config` and nothing restarts; `max_connections` 100 → 200 is a `PATCH /config`, then
//! each member restarts through Patroni (replicas first, the leader last, no pod deleted) until
//! every member runs with 200 and none has a restart pending. A slot taken out of the manifest is
//! dropped from Patroni's configuration, as a destructive action.

use crate::support::reconciler::Harness;
use crate::support::spilo::cluster::{PatroniCluster, member_connection};
use postgres_reconciler::observe::patroni::get_json;
use postgres_reconciler::observe::postgres::connect;
use postgres_reconciler::report::run::{RunReport, text};
use serde_json::{Value, json};
use std::time::Duration;

const CLUSTER: &str = "acid-dynamic";

/// `SHOW max_connections` on a member, when it answers.
async fn max_connections(ip: &str, password: &str) -> Option<String> {
    let client = connect(&member_connection(ip, "postgres", password), "postgres")
        .await
        .ok()?;
    client
        .query_one("SHOW max_connections", &[])
        .await
        .ok()
        .map(|r| r.get(0))
}

fn manifest(h: &Harness, patroni: Value, parameters: Value) -> Value {
    let mut m = h.cluster_manifest(CLUSTER, 3, json!({}), json!({}), parameters);
    m["spec"]["patroni"] = patroni;
    m
}

fn patroni_actions(report: &RunReport) -> Vec<String> {
    report
        .manifests
        .iter()
        .flat_map(|m| &m.actions)
        .filter(|a| a.action.contains("Patroni"))
        .map(|a| format!("{} {:?}", a.action, a.result))
        .collect()
}

#[tokio::test]
async fn dynamic_settings_follow_the_manifest_and_restarts_go_through_patroni() {
    let c = PatroniCluster::start("patroni-dyn", CLUSTER, 3, |h| {
        manifest(h, json!({}), json!({}))
    })
    .await;
    let h = &c.h;
    let before = c.pods().await;
    let password = c.superuser_password().await;
    let (_, any_ip) = before.values().next().expect("a pod").clone();
    let config_url = format!("http://{any_ip}:8008/config");

    // ttl 30 → 40: a PATCH of the dynamic configuration, nothing restarts.
    h.apply(manifest(h, json!({"ttl": 40}), json!({}))).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let done = patroni_actions(&report);
    assert!(
        done.iter()
            .any(|a| a.starts_with("update Patroni configuration") && a.ends_with("Applied")),
        "{done:?}\n{}",
        text(&report)
    );
    let live = get_json(&config_url).await.expect("GET /config");
    assert_eq!(live["ttl"], 40, "{live}");
    let again = h.run().await;
    assert!(
        patroni_actions(&again).is_empty(),
        "{:?}",
        patroni_actions(&again)
    );

    // max_connections 100 → 200: PATCH, then one member per run restarts through Patroni.
    h.apply(manifest(
        h,
        json!({"ttl": 40}),
        json!({"max_connections": "200"}),
    ))
    .await;
    let mut restarts = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(300);
    loop {
        let report = h.run().await;
        assert_ne!(report.exit_code, 1, "{}", text(&report));
        restarts.extend(
            patroni_actions(&report)
                .into_iter()
                .filter(|a| a.starts_with("restart Patroni member")),
        );
        let mut all = true;
        for (_, ip) in c.pods().await.values() {
            all &= max_connections(ip, &password).await.as_deref() == Some("200");
        }
        if all {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "max_connections is not 200 on every member after 300 s; restarts: {restarts:?}\n{}",
            text(&report)
        );
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let live = get_json(&config_url).await.expect("GET /config");
    assert_eq!(
        live["postgresql"]["parameters"]["max_connections"]
            .to_string()
            .trim_matches('"'),
        "200",
        "{live}"
    );
    println!("Patroni restarts: {restarts:?}");
    // Through Patroni, not by deleting pods: every pod is the one it was.
    assert_eq!(c.pods().await, before);
    // Replicas first, the leader last.
    let roles_now = c.roles().await;
    let leader = roles_now
        .iter()
        .find(|(_, r)| *r == "master")
        .map(|(p, _)| p.clone())
        .expect("a leader");
    assert!(
        restarts
            .last()
            .is_some_and(|r| r.contains(&format!("member {leader} "))),
        "the leader restarts last: {restarts:?}"
    );
    // Nothing pending any more.
    for (_, ip) in before.values() {
        let member = get_json(&format!("http://{ip}:8008/patroni"))
            .await
            .expect("GET /patroni");
        assert!(
            member.get("pending_restart").is_none_or(|p| p == false),
            "{member}"
        );
    }
}

/// The physical replication slots the leader has.
async fn slots(ip: &str, password: &str) -> Option<Vec<String>> {
    let client = connect(&member_connection(ip, "postgres", password), "postgres")
        .await
        .ok()?;
    let rows = client
        .query("SELECT slot_name FROM pg_replication_slots ORDER BY 1", &[])
        .await
        .ok()?;
    Some(rows.iter().map(|r| r.get(0)).collect())
}

#[tokio::test]
async fn a_slot_taken_out_of_the_manifest_is_dropped_only_when_destruction_is_allowed() {
    let both = json!({"slots": {"keep": {"type": "physical"}, "cdc": {"type": "physical"}}});
    let c = PatroniCluster::start("patroni-slots", CLUSTER, 1, |h| {
        let mut m = manifest(h, both, json!({}));
        m["spec"]["numberOfInstances"] = json!(1);
        m
    })
    .await;
    let h = &c.h;
    let password = c.superuser_password().await;
    let (_, ip) = c.pods().await.values().next().expect("a pod").clone();
    crate::support::eventually(
        Duration::from_secs(60),
        "both slots on the leader",
        || async { (slots(&ip, &password).await? == ["cdc", "keep"]).then_some(()) },
    )
    .await;

    // Taken out of the manifest: planned as destructive, and not done without permission.
    let mut one = manifest(
        h,
        json!({"slots": {"keep": {"type": "physical"}}}),
        json!({}),
    );
    one["spec"]["numberOfInstances"] = json!(1);
    h.apply(one.clone()).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 2, "a skipped action: {}", text(&report));
    let done = patroni_actions(&report);
    assert!(
        done.iter()
            .any(|a| a.contains("Skipped") && a.contains("slots.cdc")),
        "{done:?}"
    );
    let live = get_json(&format!("http://{ip}:8008/config"))
        .await
        .expect("GET /config");
    assert!(live["slots"].get("cdc").is_some(), "{live}");

    // Allowed: dropped from Patroni's configuration, then by Patroni from the leader.
    one["metadata"]["annotations"] =
        json!({ postgres_reconciler::render::ALLOW_DESTRUCTIVE_ANNOTATION: "true" });
    h.apply(one).await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));
    let live = get_json(&format!("http://{ip}:8008/config"))
        .await
        .expect("GET /config");
    assert!(live["slots"].get("cdc").is_none(), "{live}");
    assert!(live["slots"].get("keep").is_some(), "{live}");
    crate::support::eventually(
        Duration::from_secs(60),
        "the slot gone from the leader",
        || async { (slots(&ip, &password).await? == ["keep"]).then_some(()) },
    )
    .await;
    let again = h.run().await;
    assert!(
        patroni_actions(&again).is_empty(),
        "{:?}",
        patroni_actions(&again)
    );
}
