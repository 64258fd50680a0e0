//! Two `apply` runs started together: the Lease lets exactly one of them work at a time. Without
//! waiting, the other returns at once, `skipped`, having written nothing; with `lease_wait`, it
//! waits for the first to finish and then runs.

use crate::support::reconciler::{Harness, role};
use crate::support::unique_name;
use k8s_openapi::api::coordination::v1::Lease;
use postgres_reconciler::apply::lease::LEASE_NAME;
use postgres_reconciler::apply::run::{ApplyOptions, run};
use postgres_reconciler::report::run::text;
use serde_json::json;

#[tokio::test]
async fn of_two_runs_started_together_exactly_one_applies() {
    let h = Harness::new("apply-lease").await;
    let cluster = "acid-lease";
    h.cluster_secrets(cluster).await;
    let app = h.name("app");
    h.apply(h.cluster_manifest(cluster, 1, json!({app.as_str(): []}), json!({}), json!({})))
        .await;

    let (one, two) = (h.cluster_client().await, h.cluster_client().await);
    let (options_one, options_two) = (
        h.options(&unique_name("run-one")),
        h.options(&unique_name("run-two")),
    );
    let (a, b) = tokio::join!(
        run(&h.config, &one, &h.source, &options_one),
        run(&h.config, &two, &h.source, &options_two),
    );
    let (a, b) = (a.expect("run one"), b.expect("run two"));
    let mut results = [a.result.as_str(), b.result.as_str()];
    results.sort();
    assert_eq!(
        results,
        ["applied", "skipped"],
        "\n{}\n{}",
        text(&a),
        text(&b)
    );
    let (winner, loser) = if a.result == "applied" {
        (&a, &b)
    } else {
        (&b, &a)
    };

    assert_eq!(loser.exit_code, 0, "{}", text(loser));
    assert_eq!(loser.writes, 0, "{:?}", loser.requests);
    assert!(loser.manifests.is_empty() && loser.shared.is_empty());
    assert_eq!(loser.totals.total(), 0);
    assert_eq!(loser.statuses_written, 0);
    // It only looked at the Lease (and tried to take it).
    for verb in loser.requests.keys() {
        assert!(verb.starts_with("lease-"), "{:?}", loser.requests);
    }
    assert!(
        loser.notes.iter().any(|n| n.contains("Lease")),
        "{:?}",
        loser.notes
    );

    assert_eq!(winner.exit_code, 0, "{}", text(winner));
    assert!(winner.writes > 0, "{}", text(winner));
    assert!(role(&app).await.is_some());
    assert!(h.get("StatefulSet", cluster).await.is_some());

    // The winner let go of the Lease: the next run works.
    let lease =
        h.ns.api::<Lease>()
            .get(LEASE_NAME)
            .await
            .expect("the Lease");
    let holder = lease.spec.and_then(|s| s.holder_identity);
    assert!(holder.as_ref().is_none_or(|h| h.is_empty()), "{holder:?}");
    let next = h.run().await;
    assert_eq!(next.result, "applied", "{}", text(&next));
}

#[tokio::test]
async fn a_run_that_finds_the_lease_held_waits_for_it_and_then_runs() {
    let h = Harness::new("apply-lease-wait").await;
    let cluster = "acid-wait";
    h.cluster_secrets(cluster).await;
    h.apply(h.cluster_manifest(cluster, 1, json!({}), json!({}), json!({})))
        .await;
    let (one, two) = (h.cluster_client().await, h.cluster_client().await);
    let waiting = |name: &str| ApplyOptions {
        lease_wait: std::time::Duration::from_secs(60),
        ..h.options(&unique_name(name))
    };
    let (options_one, options_two) = (waiting("run-one"), waiting("run-two"));
    let (a, b) = tokio::join!(
        run(&h.config, &one, &h.source, &options_one),
        run(&h.config, &two, &h.source, &options_two),
    );
    let (a, b) = (a.expect("run one"), b.expect("run two"));
    assert_eq!(
        [a.result.as_str(), b.result.as_str()],
        ["applied", "applied"],
        "\n{}\n{}",
        text(&a),
        text(&b)
    );
    // One after the other: the second found the work done (only its status may differ).
    let (first, second) = if a.totals.total() > 0 {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert!(first.totals.create > 0, "{}", text(first));
    assert_eq!(second.totals.total(), 0, "{}", text(second));
}
