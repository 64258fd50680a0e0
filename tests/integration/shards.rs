//! Shards on the real control plane and PostgreSQL: `shard: i/2` splits a fleet disjointly and
//! covers all of it, each shard's steady state writes nothing, moving from one run to two shards
//! loses nothing and runs no SQL again, each shard reconciles only what it owns, and a shard's
//! Lease does not hold the other shard up.

use crate::support::reconciler::{Harness, role};
use postgres_reconciler::apply::lease::{Acquired, acquire_named, lease_name};
use postgres_reconciler::apply::run::run;
use postgres_reconciler::observe::cluster::observe_objects;
use postgres_reconciler::pipeline::plan_live;
use postgres_reconciler::plan::shard::Shard;
use postgres_reconciler::report::run::{RunReport, text};
use postgres_reconciler::state::CompactJson;
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

/// The fleet: enough clusters that both shards hold many (`make bench-live` splits 200 and more).
/// No pods (0 instances): the SQL runs on
/// the test server all the same, and the shared kwok nodes stay free for the other tests.
const CLUSTERS: usize = 40;

fn names(report: &RunReport) -> BTreeSet<String> {
    report
        .manifests
        .iter()
        .filter(|m| m.manifest.kind == "postgresql")
        .map(|m| m.manifest.name.clone())
        .collect()
}

async fn run_shard(h: &Harness, shard: Option<Shard>) -> RunReport {
    let mut config = h.config.clone();
    config.shard = shard;
    let cluster = h.cluster_client().await;
    let identity = crate::support::unique_name("shard-run");
    run(&config, &cluster, &h.source, &h.options(&identity))
        .await
        .unwrap_or_else(|e| panic!("apply run: {e}"))
}

fn identity(object: &CompactJson) -> (String, String, String) {
    let head = object.head();
    (head.kind, head.metadata.namespace, head.metadata.name)
}

fn sql(report: &RunReport) -> usize {
    report.totals.sql
}

#[tokio::test]
async fn two_shards_split_the_fleet_and_each_reconciles_only_its_own() {
    let h = Harness::new("shards").await;
    let cluster = |i: usize| format!("acid-shard-{i}");
    let user = |i: usize| h.name(&format!("u{i}"));
    for i in 0..CLUSTERS {
        h.cluster_secrets(&cluster(i)).await;
        h.apply(h.cluster_manifest(
            &cluster(i),
            0,
            json!({user(i).as_str(): []}),
            json!({}),
            json!({}),
        ))
        .await;
    }
    // One run for the whole fleet first, as before the chart had shards.
    let first = run_shard(&h, None).await;
    assert_eq!(first.exit_code, 0, "{}", text(&first));
    assert_eq!(names(&first).len(), CLUSTERS);
    let steady = run_shard(&h, None).await;
    assert_eq!(steady.writes, 0, "{:?}", steady.requests);

    // Two shards: disjoint, all of the fleet, and nothing to do (no write, no SQL again).
    let shards = [Shard { index: 0, count: 2 }, Shard { index: 1, count: 2 }];
    let mut owned = Vec::new();
    for shard in shards {
        let report = run_shard(&h, Some(shard)).await;
        assert_eq!(report.exit_code, 0, "{}", text(&report));
        assert_eq!(report.writes, 0, "shard {shard}: {:?}", report.requests);
        assert_eq!(sql(&report), 0, "shard {shard}: {}", text(&report));
        let mine = names(&report);
        assert!(
            mine.len() > CLUSTERS / 4,
            "shard {shard} holds {}",
            mine.len()
        );
        owned.push(mine);
    }
    assert!(owned[0].is_disjoint(&owned[1]), "a cluster in both shards");
    let all: BTreeSet<String> = owned[0].union(&owned[1]).cloned().collect();
    assert_eq!(all, (0..CLUSTERS).map(cluster).collect::<BTreeSet<_>>());

    // Each shard's LISTs leave out the other shard's clusters (the API server applies the
    // narrowing): together they hold every object, each only its own clusters' and the
    // namespace's shared ones.
    let client = h.cluster_client().await;
    let config = &h.config;
    let everything = observe_objects(&client.client, &h.source.scope, config, None)
        .await
        .expect("list everything");
    let of_cluster = |o: &CompactJson| {
        o.head()
            .label(&config.cluster_name_label)
            .map(str::to_string)
    };
    let mut seen_by_shards = BTreeSet::new();
    for shard in shards {
        let mut sharded = config.clone();
        sharded.shard = Some(shard);
        let planned = plan_live(&sharded, &client, &h.source)
            .await
            .unwrap_or_else(|e| panic!("plan shard {shard}: {e}"));
        let narrowing = planned.list_narrowing.expect("a narrowing term");
        let listed = observe_objects(&client.client, &h.source.scope, config, Some(&narrowing))
            .await
            .expect("narrowed list");
        assert!(
            listed.len() < everything.len() * 3 / 4,
            "shard {shard} listed {} of {}",
            listed.len(),
            everything.len()
        );
        for object in &listed {
            if let Some(name) = of_cluster(object) {
                assert!(
                    owned[shard.index as usize].contains(&name),
                    "shard {shard}: {name}"
                );
            }
            seen_by_shards.insert(identity(object));
        }
    }
    let all: BTreeSet<(String, String, String)> = everything.iter().map(identity).collect();
    assert_eq!(seen_by_shards, all, "objects no shard lists");

    // A new user on a cluster of shard 1: shard 0's run leaves it alone, shard 1's creates it.
    let (i, name) = (0..CLUSTERS)
        .map(|i| (i, cluster(i)))
        .find(|(_, c)| owned[1].contains(c))
        .expect("a cluster of shard 1");
    let late = h.name("late");
    h.apply(h.cluster_manifest(
        &name,
        0,
        json!({user(i).as_str(): [], late.as_str(): []}),
        json!({}),
        json!({}),
    ))
    .await;
    let other = run_shard(&h, Some(shards[0])).await;
    assert_eq!(other.writes, 0, "{:?}", other.requests);
    assert!(role(&late).await.is_none(), "shard 0 made shard 1's role");
    let owner = run_shard(&h, Some(shards[1])).await;
    assert_eq!(owner.exit_code, 0, "{}", text(&owner));
    assert!(role(&late).await.is_some(), "{}", text(&owner));

    // A deleted cluster of shard 0 (its objects go with it, by their owner references): the
    // other shard does nothing about it, apart from the namespace's shared objects (whose owner
    // references list its clusters) if the namespace is that shard's; the owner's run ends well.
    let gone = owned[0]
        .iter()
        .next()
        .cloned()
        .expect("a cluster of shard 0");
    h.api("postgresql")
        .delete(&gone, &Default::default())
        .await
        .expect("delete the manifest");
    crate::support::eventually(Duration::from_secs(30), "the manifest gone", || async {
        h.get("postgresql", &gone).await.is_none().then_some(())
    })
    .await;
    let other = run_shard(&h, Some(shards[1])).await;
    assert!(
        other
            .manifests
            .iter()
            .all(|m| m.applied == Default::default()),
        "{}",
        text(&other)
    );
    if !shards[1].owns_namespace(&h.ns.name) {
        assert_eq!(other.writes, 0, "{}", text(&other));
    }
    let owner = run_shard(&h, Some(shards[0])).await;
    assert_eq!(owner.exit_code, 0, "{}", text(&owner));

    // Each shard has its own Lease: one held by a live run does not hold up the other shard.
    let held = acquire_named(
        &h.ns.client,
        &h.ns.name,
        &lease_name(Some(shards[0])),
        "someone-else",
        Duration::from_secs(60),
    )
    .await
    .expect("take shard 0's Lease");
    assert!(matches!(held, Acquired::Held(_)));
    let blocked = run_shard(&h, Some(shards[0])).await;
    assert_eq!(blocked.result, "skipped", "{}", text(&blocked));
    let free = run_shard(&h, Some(shards[1])).await;
    assert_eq!(free.result, "applied", "{}", text(&free));
}
