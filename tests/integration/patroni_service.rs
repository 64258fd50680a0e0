//! The reconciler's SQL on real Patroni goes to the cluster's leader through its master Service
//! (`{cluster}.{namespace}.svc`, whose Endpoints Patroni keeps): roles and databases land on the
//! leader, users log in with their Secrets' passwords through the Service; after a switchover,
//! the next run reaches the new leader with the same configuration.

use crate::support::eventually;
use crate::support::spilo::cluster::{PATRONI_WAIT, PatroniCluster, member_connection};
use postgres_reconciler::observe::postgres::connect;
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};

const CLUSTER: &str = "acid-service";

/// Whether `role` exists on the member at `ip`, asked as the superuser.
async fn has_role(ip: &str, password: &str, role: &str) -> bool {
    let Ok(client) = connect(&member_connection(ip, "postgres", password), "postgres").await else {
        return false;
    };
    client
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&role])
        .await
        .ok()
        .flatten()
        .is_some()
}

#[tokio::test]
async fn sql_reaches_the_leader_through_the_master_service_and_follows_a_switchover() {
    let mut users = serde_json::Map::new();
    let manifest = |h: &crate::support::reconciler::Harness,
                    users: &serde_json::Map<String, Value>| {
        let databases: serde_json::Map<String, Value> =
            users.keys().map(|u| (u.clone(), json!(u))).collect();
        h.cluster_manifest(
            CLUSTER,
            3,
            Value::Object(users.clone()),
            Value::Object(databases),
            json!({}),
        )
    };
    let c = PatroniCluster::start("patroni-svc", CLUSTER, 3, |h| {
        users.insert(h.name("app"), json!([]));
        manifest(h, &users)
    })
    .await;
    let h = &c.h;
    let password = c.superuser_password().await;
    let leader = c.wait_for_roles("bootstrap").await;
    let app = h.name("app");

    // Once Patroni has bootstrapped, a run creates the role and database on the leader.
    let report = eventually(PATRONI_WAIT, "a run that reaches the database", || async {
        let r = h.run().await;
        (r.exit_code == 0 && r.manifests.iter().all(|m| m.unknown.is_empty())).then_some(r)
    })
    .await;
    let leader_ip = c.pods().await.remove(&leader).expect("the leader's pod").1;
    assert!(
        has_role(&leader_ip, &password, &app).await,
        "{}",
        text(&report)
    );
    let app_password = h
        .secret_password(&h.secret_name(&app, CLUSTER))
        .await
        .expect("app's Secret");
    let service = format!("{CLUSTER}.{}.svc", h.ns.name);
    connect(&member_connection(&service, &app, &app_password), &app)
        .await
        .expect("app logs in through the master Service");

    // A switchover through Patroni: the Service follows the leader.
    let candidate = c
        .roles()
        .await
        .into_iter()
        .find(|(_, r)| r == "replica")
        .map(|(p, _)| p)
        .expect("a replica");
    let body = json!({"leader": leader, "candidate": candidate}).to_string();
    let status = std::process::Command::new("curl")
        .args([
            "-fsS",
            "-o",
            "/dev/null",
            "-X",
            "POST",
            "-H",
            "content-type: application/json",
        ])
        .args(["-d", &body])
        .arg(format!("http://{leader_ip}:8008/switchover"))
        .status()
        .expect("curl");
    assert!(status.success(), "the switchover");
    eventually(PATRONI_WAIT, "the candidate leading", || async {
        (c.roles().await.get(&candidate).map(String::as_str) == Some("master")).then_some(())
    })
    .await;

    // The next run, with the same configuration, creates a new user on the new leader.
    let late = h.name("late");
    users.insert(late.clone(), json!([]));
    h.apply(manifest(h, &users)).await;
    let new_leader_ip = c
        .pods()
        .await
        .remove(&candidate)
        .expect("the new leader's pod")
        .1;
    eventually(PATRONI_WAIT, "the new user on the new leader", || async {
        let r = h.run().await;
        (r.exit_code == 0 && has_role(&new_leader_ip, &password, &late).await).then_some(())
    })
    .await;
}
