//! Runs killed (SIGKILL) at a random moment: the next run starts at once, waits at most one Lease
//! duration for the dead run's Lease, and converges; two runs started at once never overlap.

use crate::fleet::{Fleet, LEASE_SECONDS};
use k8s_openapi::api::coordination::v1::Lease;
use postgres_reconciler::apply::lease::LEASE_NAME;
use std::time::Duration;

#[tokio::test]
async fn a_run_killed_at_a_random_moment_is_recovered_by_the_next_one() {
    let mut fleet = Fleet::new("chaos-kills", 3).await;
    let first = fleet.run_binary("first-run", None).await;
    assert_eq!(first.code, Some(0), "{}", first.describe());
    fleet.record_passwords().await;
    for trial in 0..crate::trials(3) {
        // New work for every trial, so the kill can land in the middle of it.
        let cluster = fleet.clusters[trial % fleet.clusters.len()].clone();
        fleet.add_user(&cluster, &format!("k{trial}")).await;
        let (mut child, _) = fleet.spawn(&format!("killed-{trial}"), None);
        let after = Duration::from_millis(rand::random_range(0..3000));
        tokio::time::sleep(after).await;
        let _ = child.kill();
        let _ = child.wait();
        let killed_at = jiff::Timestamp::now();

        let next = fleet.run_binary(&format!("after-kill-{trial}"), None).await;
        assert_eq!(
            next.code,
            Some(0),
            "trial {trial} (killed after {after:?}):\n{}",
            next.describe()
        );
        let report = next.report.as_ref().expect("a run report");
        assert_eq!(report.result, "applied", "{}", next.describe());
        // It took the Lease at most one Lease duration after the kill (plus a poll interval).
        let lease = fleet
            .h
            .ns
            .api::<Lease>()
            .get(LEASE_NAME)
            .await
            .expect("the Lease");
        let acquired = lease
            .spec
            .and_then(|s| s.acquire_time)
            .expect("acquireTime")
            .0;
        let waited = acquired.duration_since(killed_at);
        assert!(
            waited <= jiff::SignedDuration::from_secs(LEASE_SECONDS as i64 + 1),
            "trial {trial}: the next run took the Lease {waited:#} after the kill"
        );
        println!(
            "chaos kills: trial {trial} killed after {after:?}; next run took the Lease {waited:#} later"
        );
        fleet.record_passwords().await;
    }
    fleet.check().await;
}

#[tokio::test]
async fn two_runs_started_at_once_both_finish_and_converge() {
    let mut fleet = Fleet::new("chaos-twins", 2).await;
    for round in 0..crate::trials(1) {
        let cluster = fleet.clusters[round % fleet.clusters.len()].clone();
        fleet.add_user(&cluster, &format!("t{round}")).await;
        let (a, dir_a) = fleet.spawn(&format!("twin-a-{round}"), None);
        let (b, dir_b) = fleet.spawn(&format!("twin-b-{round}"), None);
        let (a, b) = tokio::join!(Fleet::wait(a, &dir_a), Fleet::wait(b, &dir_b));
        for ended in [&a, &b] {
            assert_eq!(ended.code, Some(0), "round {round}:\n{}", ended.describe());
            Fleet::assert_honest(ended);
        }
        // One after the other: the second to take the Lease found the first one's work done.
        let (ra, rb) = (a.report.expect("report"), b.report.expect("report"));
        assert!(
            ra.result == "applied" && rb.result == "applied",
            "{} / {}",
            ra.result,
            rb.result
        );
        fleet.record_passwords().await;
    }
    fleet.check().await;
}
