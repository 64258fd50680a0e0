//! The connection pooler on real PgBouncer in front of real Patroni: a run makes the pooler's
//! Deployment, Service, role, Secret and lookup function; an application role logs in through
//! `<cluster>-pooler` (PgBouncer finds its password with `auth_query`, through `user_lookup`) and
//! `SHOW POOLS` lists its pool; turning the pooler off removes what the run made, in the next
//! run, and once the status records it, a run writes nothing.

use crate::support::eventually;
use crate::support::pgbouncer::PoolerRunner;
use crate::support::spilo::cluster::{PATRONI_WAIT, PatroniCluster, member_connection};
use postgres_reconciler::observe::postgres::connect;
use postgres_reconciler::report::run::text;
use serde_json::{Value, json};
use tokio_postgres::SimpleQueryMessage;

const CLUSTER: &str = "acid-pooler";

fn rows(messages: Vec<SimpleQueryMessage>) -> Vec<tokio_postgres::SimpleQueryRow> {
    messages
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .collect()
}

fn manifest(h: &crate::support::reconciler::Harness, pooler: bool) -> Value {
    let (app, shop) = (h.name("app"), h.name("shop"));
    let mut m = h.cluster_manifest(
        CLUSTER,
        1,
        json!({ app.as_str(): [] }),
        json!({ shop.as_str(): app }),
        json!({}),
    );
    if pooler {
        m["spec"]["enableConnectionPooler"] = json!(true);
        m["spec"]["connectionPooler"] = json!({"numberOfInstances": 1, "mode": "transaction"});
    }
    m
}

#[tokio::test]
async fn an_application_logs_in_through_the_pooler_and_turning_it_off_removes_it() {
    let c = PatroniCluster::start("pooler", CLUSTER, 1, |h| manifest(h, true)).await;
    let h = &c.h;
    let poolers = PoolerRunner::start(h.ns.client.clone(), &h.ns.name, &h.temp_dir("poolers"));
    let (app, shop) = (h.name("app"), h.name("shop"));

    let report = eventually(PATRONI_WAIT, "a run that reaches the database", || async {
        let r = h.run().await;
        (r.exit_code == 0 && r.manifests.iter().all(|m| m.unknown.is_empty())).then_some(r)
    })
    .await;
    let deployment = format!("{CLUSTER}-pooler");
    assert!(
        h.get("Deployment", &deployment).await.is_some(),
        "{}",
        text(&report)
    );
    let app_password = h
        .secret_password(&h.secret_name(&app, CLUSTER))
        .await
        .expect("app's Secret");
    let pooler_secret = h.secret_name("pooler", CLUSTER);
    let pooler_password = h
        .secret_password(&pooler_secret)
        .await
        .expect("the pooler's Secret");

    // Through the pooler's Service, to the pod's PgBouncer, to the master.
    let service = format!("{CLUSTER}-pooler.{}.svc", h.ns.name);
    let pod_log = || {
        poolers
            .running()
            .iter()
            .map(|p| poolers.log(p))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let client = eventually(
        PATRONI_WAIT,
        "the application through the pooler",
        || async {
            connect(&member_connection(&service, &app, &app_password), &shop)
                .await
                .ok()
        },
    )
    .await;
    let me = rows(
        client
            .simple_query("SELECT current_user")
            .await
            .expect("query"),
    );
    assert_eq!(me[0].get(0), Some(app.as_str()), "{}", pod_log());
    let admin = connect(
        &member_connection(&service, "pooler", &pooler_password),
        "pgbouncer",
    )
    .await
    .unwrap_or_else(|e| panic!("PgBouncer's console: {e}\n{}", pod_log()));
    let pools: Vec<(String, String)> = rows(admin.simple_query("SHOW POOLS").await.expect("pools"))
        .iter()
        .map(|r| {
            let field = |name: &str| r.get(name).unwrap_or_default().to_string();
            (field("database"), field("user"))
        })
        .collect();
    assert!(
        pools.contains(&(shop.clone(), app.clone())),
        "{pools:?}\n{}",
        pod_log()
    );
    drop((client, admin));

    // Nothing left to do: the lookup function is found as it was made.
    let settled = h.run().await;
    assert_eq!(settled.exit_code, 0, "{}", text(&settled));
    let quiet = h.run().await;
    assert_eq!(quiet.writes, 0, "{}", text(&quiet));

    // Off: the Deployment, the Service and the pooler's Secret go, planned with the reason.
    let pids: Vec<u32> = poolers
        .running()
        .iter()
        .filter_map(|p| poolers.pid(p))
        .collect();
    assert!(!pids.is_empty(), "PgBouncer runs for the pooler pod");
    h.apply(manifest(h, false)).await;
    let planned =
        postgres_reconciler::pipeline::plan_live(&h.config, &h.cluster_client().await, &h.source)
            .await
            .expect("plan");
    let shown = postgres_reconciler::report::text(&planned.plan, false);
    let off = h.run().await;
    assert_eq!(off.exit_code, 0, "{}", text(&off));
    assert_eq!(off.writes, 3, "{}", text(&off));
    assert!(
        shown.contains(&format!(
            "the connection pooler of postgresql {}/{CLUSTER} is off",
            h.ns.name
        )),
        "{shown}"
    );
    for (kind, name) in [
        ("Deployment", deployment.as_str()),
        ("Service", deployment.as_str()),
        ("Secret", pooler_secret.as_str()),
    ] {
        eventually(PATRONI_WAIT, &format!("{kind} {name} deleted"), || async {
            h.get(kind, name).await.is_none().then_some(())
        })
        .await;
    }
    // Their pods went with the Deployment, and so did their PgBouncer.
    eventually(
        PATRONI_WAIT,
        "the pooler pods' PgBouncer stopped",
        || async {
            let gone = poolers.running().is_empty()
                && pids
                    .iter()
                    .all(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists());
            gone.then_some(())
        },
    )
    .await;
    // The next run records that nothing changed any more (its status); then nothing is written.
    let settling = h.run().await;
    assert_eq!(settling.exit_code, 0, "{}", text(&settling));
    let after = h.run().await;
    assert_eq!(after.writes, 0, "{}", text(&after));
}
