//! Every manifest of the parity corpus that we render bootstraps a leader on real Patroni: the
//! initdb options, `pg_hba` and parameters we render are ones Patroni and PostgreSQL start
//! with, and the roles and databases of each land on its leader. One instance each (replicas are
//! the other Patroni tests' subject), all in one namespace.

#[path = "../parity/corpus.rs"]
#[allow(dead_code)] // the parity test reads more of each entry
mod corpus;

use crate::support::spilo::checkpoints::Checkpoints;
use crate::support::spilo::cluster::{PATRONI_WAIT, PatroniCluster, member_connection};
use postgres_reconciler::observe::postgres::connect;
use serde_json::json;
use std::collections::BTreeSet;

/// The databases on the leader of `cluster`, as its own superuser.
async fn databases_of(c: &PatroniCluster, cluster: &str) -> BTreeSet<String> {
    use k8s_openapi::api::core::v1::Pod;
    let roles = crate::support::spilo::roles(&c.h.ns.client, &c.h.ns.name, cluster).await;
    let leader = roles
        .iter()
        .find(|(_, r)| *r == "master")
        .map(|(p, _)| p.clone())
        .expect("a leader");
    let pod = c.h.ns.api::<Pod>().get(&leader).await.expect("leader pod");
    let ip = pod.status.and_then(|s| s.pod_ip).expect("pod IP");
    let password =
        c.h.secret_password(&c.h.secret_name("postgres", cluster))
            .await
            .expect("superuser Secret");
    let conn = member_connection(&ip, "postgres", &password);
    let client = connect(&conn, "postgres")
        .await
        .expect("connect to the leader");
    client
        .query("SELECT datname FROM pg_database", &[])
        .await
        .expect("pg_database")
        .iter()
        .map(|row| row.get::<_, String>(0))
        .collect()
}

/// Those of `names` without a Patroni leader within [`PATRONI_WAIT`].
async fn without_leader(c: &PatroniCluster, names: &[String]) -> BTreeSet<String> {
    let mut missing: BTreeSet<String> = names.iter().cloned().collect();
    let deadline = tokio::time::Instant::now() + PATRONI_WAIT;
    while !missing.is_empty() && tokio::time::Instant::now() < deadline {
        let mut still = BTreeSet::new();
        for name in &missing {
            let roles = crate::support::spilo::roles(&c.h.ns.client, &c.h.ns.name, name).await;
            if !roles.values().any(|r| r == "master") {
                still.insert(name.clone());
            }
        }
        missing = still;
        if !missing.is_empty() {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
    }
    missing
}

#[tokio::test]
async fn every_rendered_corpus_manifest_bootstraps_a_leader() {
    let entries: Vec<_> = corpus::load()
        .into_iter()
        .map(|mut e| {
            e.doc["spec"]["numberOfInstances"] = json!(1);
            // Node ports are cluster-wide and another test's namespace may still hold one while
            // it goes: the apiserver picks them here (the parity test checks the fixed ones).
            if let Some(spec) = e.doc["spec"].as_object_mut() {
                spec.remove("masterNodePort");
                spec.remove("replicaNodePort");
            }
            e
        })
        .collect();
    // The first (the minimal manifest) starts the cluster support; the others join it.
    let first = entries[0].doc.clone();
    let mut c = PatroniCluster::start("patroni-corpus", entries[0].name(), 1, move |h| {
        let mut d = first;
        d["metadata"]["namespace"] = json!(h.ns.name);
        d
    })
    .await;
    corpus::install_storage_classes(&c.h.ns.client, &entries).await;
    corpus::install_priority_classes(&c.h.ns.client, &entries).await;
    let mut names = vec![entries[0].name().to_string()];
    let mut independent = Vec::new();
    let mut dependents = Vec::new();
    for entry in &entries[1..] {
        let mut doc = entry.doc.clone();
        corpus::in_namespace(&mut doc, &c.h.ns.name);
        // Only what we render: a manifest we refuse makes no pods.
        let refusals = corpus::refusals(&doc, &c.h.config, &Default::default());
        if !refusals.is_empty() {
            assert!(
                entry.from_zalando,
                "a valid fixture is refused: {} ({}): {refusals:?}",
                entry.name(),
                entry.source
            );
            println!(
                "corpus: {} ({}) is refused by us; skipped: {refusals:?}",
                entry.name(),
                entry.source
            );
            continue;
        }
        if !corpus::runs_here(&doc) {
            println!(
                "corpus: {} ({}) restores from a WAL archive, which needs WAL-G or WAL-E (not here); skipped",
                entry.name(),
                entry.source
            );
            continue;
        }
        match corpus::bootstrap_source(&doc) {
            Some(source) => dependents.push((doc, source)),
            None => independent.push(doc),
        }
    }
    // A standby or a clone of a corpus cluster comes once its source leads (its data is
    // copied from the running source), as a user creates one.
    for doc in independent {
        let name = doc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        c.h.cluster_secrets(&name).await;
        c.h.apply(doc).await;
        names.push(name);
    }
    let report = c.h.run().await;
    assert_ne!(
        report.exit_code,
        1,
        "{}",
        postgres_reconciler::report::run::text(&report)
    );
    let mut missing = without_leader(&c, &names).await;
    // The sources' roles and databases land before anything copies them (strict synchronous
    // clusters' SQL times out, see below).
    c.h.config.postgres_statement_timeout_seconds = 10;
    c.h.run().await;
    let mut checkpoints = Vec::new();
    let clones: Vec<(String, String)> = dependents
        .iter()
        .filter_map(|(doc, _)| {
            let source = corpus::clone_source(doc)?;
            Some((doc["metadata"]["name"].as_str()?.to_string(), source))
        })
        .collect();
    if !dependents.is_empty() {
        for (doc, source) in dependents {
            let name = doc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            c.h.cluster_secrets(&name).await;
            let password =
                c.h.secret_password(&c.h.secret_name("postgres", &source))
                    .await
                    .expect("the source's superuser Secret");
            checkpoints.push(Checkpoints::start(
                c.h.ns.client.clone(),
                &c.h.ns.name,
                &source,
                password,
            ));
            c.h.apply(doc).await;
            names.push(name.clone());
            missing.insert(name);
        }
        let report = c.h.run().await;
        assert_ne!(
            report.exit_code,
            1,
            "{}",
            postgres_reconciler::report::run::text(&report)
        );
        let waiting: Vec<String> = missing.into_iter().collect();
        missing = without_leader(&c, &waiting).await;
    }
    drop(checkpoints);
    let logs: Vec<String> = missing
        .iter()
        .map(|name| {
            let log = c.runner.log(&format!("{name}-0"));
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            format!(
                "== {name}\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            )
        })
        .collect();
    println!(
        "corpus: {} of {} manifests bootstrapped a leader",
        names.len() - missing.len(),
        names.len()
    );
    assert!(
        missing.is_empty(),
        "no leader for {missing:?}:\n{}",
        logs.join("\n")
    );

    // A clone holds its source's data: the databases of the source's manifest, which its own
    // manifest does not list.
    for (clone, source) in &clones {
        let wanted: BTreeSet<String> = entries
            .iter()
            .find(|e| e.name() == source)
            .and_then(|e| e.doc["spec"]["databases"].as_object())
            .map(|d| d.keys().cloned().collect())
            .unwrap_or_default();
        assert!(!wanted.is_empty(), "{source} has databases to copy");
        let found = databases_of(&c, clone).await;
        assert!(
            wanted.is_subset(&found),
            "{clone} is a copy of {source}: {wanted:?} in {found:?}"
        );
    }

    // With every leader up, a run reaches every cluster's database: its roles, databases and
    // prepared databases land and it is Running. Except where no commit can complete: with
    // `synchronous_mode_strict` and no replica, Patroni makes every commit wait for a standby
    // that is not there; that cluster's SQL fails after the statement timeout, and the run
    // goes on with the others.
    let report = c.h.run().await;
    let text = postgres_reconciler::report::run::text(&report);
    let strict: BTreeSet<&str> = entries
        .iter()
        .filter(|e| e.doc["spec"]["patroni"]["synchronous_mode_strict"] == true)
        .map(|e| e.name())
        .filter(|n| names.iter().any(|m| m == n))
        .collect();
    assert_eq!(
        report.exit_code,
        if strict.is_empty() { 0 } else { 2 },
        "{text}"
    );
    for name in &names {
        let status = c.h.status("postgresql", name).await;
        if strict.contains(name.as_str()) {
            assert_ne!(
                status["PostgresClusterStatus"], "Running",
                "{name}: {status:#}"
            );
            assert!(
                status
                    .to_string()
                    .contains("postgres_statement_timeout_seconds"),
                "{name}: {status:#}"
            );
        } else {
            assert_eq!(
                status["PostgresClusterStatus"], "Running",
                "{name}: {status:#}\n{text}"
            );
        }
    }
}
