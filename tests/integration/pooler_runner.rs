//! The pooler runner (`tests/support/pgbouncer.rs`) on the real control plane and PostgreSQL: a
//! bare pooler pod gets a PgBouncer on its pod IP, configured from its container's environment
//! (the pooler user from a Secret) as Zalando's image configures it; an application role logs in
//! through it (its secret found by `auth_query`), the pooler user sees that role's pool on the
//! admin console, and the process goes with the pod.

use crate::support::PgTarget;
use crate::support::eventually;
use crate::support::pgbouncer::PoolerRunner;
use crate::support::reconciler::{Harness, superuser};
use crate::support::spilo::cluster::member_connection;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{DeleteParams, PostParams};
use postgres_protocol::escape::{escape_identifier, escape_literal};
use postgres_reconciler::observe::postgres::connect;
use serde_json::json;
use std::time::Duration;
use tokio_postgres::SimpleQueryMessage;

const POD: &str = "pooler-0";
const WAIT: Duration = Duration::from_secs(60);

/// Zalando's lookup function, as the reconciler installs it in every database; granted to
/// `pooler` (the pooler user).
fn lookup_sql(pooler: &str) -> String {
    let pooler = escape_identifier(pooler);
    format!(
        "CREATE SCHEMA IF NOT EXISTS pooler;
         CREATE OR REPLACE FUNCTION pooler.user_lookup(in i_username text, out uname text, out phash text)
         RETURNS record AS $$ BEGIN
           SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = i_username INTO uname, phash;
           RETURN;
         END; $$ LANGUAGE plpgsql SECURITY DEFINER;
         REVOKE ALL ON FUNCTION pooler.user_lookup(text) FROM public, {pooler};
         GRANT EXECUTE ON FUNCTION pooler.user_lookup(text) TO {pooler};
         GRANT USAGE ON SCHEMA pooler TO {pooler};"
    )
}

fn rows(messages: Vec<SimpleQueryMessage>) -> Vec<tokio_postgres::SimpleQueryRow> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_pooler_pod_runs_pgbouncer_until_it_is_deleted() {
    // The harness drops the roles and the database (its prefix) after the runner stopped.
    let h = Harness::new("pooler-runner").await;
    let (database, pooler, app) = (h.name("db"), h.name("pooler"), h.name("app"));
    let (pooler_password, app_password) = ("pooler-secret-1", "app-secret-1");
    let su = superuser().await;
    for (role, password) in [(&pooler, pooler_password), (&app, app_password)] {
        su.batch_execute(&format!(
            "CREATE ROLE {} LOGIN PASSWORD {}",
            escape_identifier(role),
            escape_literal(password)
        ))
        .await
        .expect("create role");
    }
    su.batch_execute(&format!("CREATE DATABASE {}", escape_identifier(&database)))
        .await
        .expect("create database");
    let pg = PgTarget::superuser();
    pg.connect(&pg.config(&database))
        .await
        .expect("connect to the new database")
        .batch_execute(&lookup_sql(&pooler))
        .await
        .expect("the lookup function");

    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "pooler-creds"},
        "stringData": {"username": pooler, "password": pooler_password},
    }))
    .unwrap();
    h.ns.api::<Secret>()
        .create(&PostParams::default(), &secret)
        .await
        .expect("create the Secret");
    let root = h.temp_dir("pooler-runner");
    let runner = PoolerRunner::start(h.ns.client.clone(), &h.ns.name, &root);
    let from_secret = |key: &str| json!({"secretKeyRef": {"name": "pooler-creds", "key": key}});
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": POD, "labels": {"application": "db-connection-pooler"}},
        "spec": {
            "terminationGracePeriodSeconds": 5,
            "containers": [{
                "name": "connection-pooler",
                "image": "registry.opensource.zalan.do/acid/pgbouncer:master-32",
                "env": [
                    {"name": "PGHOST", "value": pg.host},
                    {"name": "PGPORT", "value": pg.port.to_string()},
                    {"name": "PGUSER", "valueFrom": from_secret("username")},
                    {"name": "PGSCHEMA", "value": "pooler"},
                    {"name": "PGPASSWORD", "valueFrom": from_secret("password")},
                    {"name": "CONNECTION_POOLER_PORT", "value": "5432"},
                    {"name": "CONNECTION_POOLER_MODE", "value": "transaction"},
                    {"name": "CONNECTION_POOLER_DEFAULT_SIZE", "value": "15"},
                    {"name": "CONNECTION_POOLER_MIN_SIZE", "value": "7"},
                    {"name": "CONNECTION_POOLER_RESERVE_SIZE", "value": "7"},
                    {"name": "CONNECTION_POOLER_MAX_CLIENT_CONN", "value": "10000"},
                    {"name": "CONNECTION_POOLER_MAX_DB_CONN", "value": "30"},
                ],
            }],
        },
    }))
    .unwrap();
    let pods = h.ns.api::<Pod>();
    pods.create(&PostParams::default(), &pod)
        .await
        .expect("create the pod");

    let ip = eventually(WAIT, "kwok gives the pod an IP", || async {
        pods.get(POD).await.ok()?.status?.pod_ip
    })
    .await;
    eventually(WAIT, "the runner runs PgBouncer for the pod", || async {
        runner.running().contains(&POD.to_string()).then_some(())
    })
    .await;
    let pid = runner.pid(POD).expect("PgBouncer's pid");

    // Through the pooler as the application role: its secret comes from auth_query.
    let deadline = tokio::time::Instant::now() + WAIT;
    let client = loop {
        match connect(&member_connection(&ip, &app, app_password), &database).await {
            Ok(c) => break c,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                panic!("connect through the pooler: {e}\n{}", runner.log(POD))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    };
    // Simple protocol: in transaction mode a prepared statement may meet another server.
    let me = rows(
        client
            .simple_query("SELECT current_user")
            .await
            .unwrap_or_else(|e| panic!("SELECT current_user: {e}\n{}", runner.log(POD))),
    );
    assert_eq!(me[0].get(0), Some(app.as_str()));

    let admin = connect(
        &member_connection(&ip, &pooler, pooler_password),
        "pgbouncer",
    )
    .await
    .unwrap_or_else(|e| panic!("the admin console: {e}\n{}", runner.log(POD)));
    let pools = rows(admin.simple_query("SHOW POOLS").await.expect("SHOW POOLS"));
    let listed: Vec<(String, String)> = pools
        .iter()
        .map(|r| {
            let field = |name: &str| r.get(name).unwrap_or_default().to_string();
            (field("database"), field("user"))
        })
        .collect();
    assert!(
        listed.contains(&(database.clone(), app.clone())),
        "the application role's pool in {listed:?}\n{}",
        runner.log(POD)
    );
    drop((client, admin));

    pods.delete(POD, &DeleteParams::default())
        .await
        .expect("delete the pod");
    eventually(WAIT, "PgBouncer stops with its pod", || async {
        let gone = !runner.running().contains(&POD.to_string())
            && !std::path::Path::new(&format!("/proc/{pid}")).exists();
        gone.then_some(())
    })
    .await;
    let refused = connect(&member_connection(&ip, &app, app_password), &database).await;
    assert!(refused.is_err(), "nothing listens on {ip}:5432 any more");
    drop(runner);
}
