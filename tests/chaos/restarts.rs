//! The apiserver restarted in the middle of a run, and PostgreSQL restarted in the middle of a
//! run's SQL phase. Both stop components every other test uses, so they are `#[ignore]`d and run
//! alone: `make chaos`, and the serial step of `make test`.

use crate::fleet::Fleet;
use crate::support::reconciler::superuser;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Runs allowed to converge after the outage.
const RUNS: usize = 5;

fn restart(component: &str, down_seconds: u32) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cluster/restart");
    let status = Command::new(script)
        .args([component, &down_seconds.to_string()])
        .status()
        .expect("run tests/cluster/restart");
    assert!(status.success(), "restarting {component} failed");
}

/// Runs the binary until it exits 0, at most [`RUNS`] times; every run must be honest.
async fn converge(fleet: &mut Fleet, what: &str) -> usize {
    for run in 1..=RUNS {
        let ended = fleet.run_binary(&format!("{what}-{run}"), None).await;
        Fleet::assert_honest(&ended);
        if ended.code == Some(0) {
            return run;
        }
        println!(
            "chaos {what}: run {run} after the restart: {}",
            ended.describe()
        );
    }
    panic!("{what}: not converged in {RUNS} runs");
}

/// Restarts `component` (down for some seconds) under the running `child`, then: that run was
/// honest, and the fleet converges within [`RUNS`] more runs.
async fn restart_and_recover(
    fleet: &mut Fleet,
    child: std::process::Child,
    dir: &Path,
    (component, down): (&'static str, u32),
    trial: usize,
) {
    tokio::task::spawn_blocking(move || restart(component, down))
        .await
        .expect("restart");
    let interrupted = Fleet::wait(child, dir).await;
    Fleet::assert_honest(&interrupted);
    let runs = match interrupted.code {
        Some(0) => 0,
        _ => converge(fleet, &format!("after-{component}-{trial}")).await,
    };
    println!(
        "chaos {component}: trial {trial}: interrupted run exit {:?}, {runs} more run(s) to converge",
        interrupted.code
    );
    fleet.record_passwords().await;
}

#[tokio::test]
#[ignore = "restarts the shared apiserver: run alone (make chaos)"]
async fn the_apiserver_restarting_in_the_middle_of_a_run() {
    let mut fleet = Fleet::new("chaos-apiserver", 3).await;
    for trial in 0..crate::trials(1) {
        let cluster = fleet.clusters[trial % fleet.clusters.len()].clone();
        fleet.add_user(&cluster, &format!("a{trial}")).await;
        let (child, dir) = fleet.spawn(&format!("interrupted-{trial}"), None);
        tokio::time::sleep(Duration::from_millis(rand::random_range(200..1500))).await;
        restart_and_recover(&mut fleet, child, &dir, ("kube-apiserver", 3), trial).await;
    }
    fleet.check().await;
}

/// Waits until the reconciler has a connection open on the test server (its SQL phase).
async fn reconciler_connected() {
    let client = superuser().await;
    for _ in 0..1200 {
        let rows = client
            .query(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = 'postgres-reconciler'",
                &[],
            )
            .await
            .expect("pg_stat_activity");
        if !rows.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the run never connected to PostgreSQL");
}

#[tokio::test]
#[ignore = "restarts the shared PostgreSQL: run alone (make chaos)"]
async fn postgres_restarting_in_the_middle_of_the_sql_phase() {
    let mut fleet = Fleet::new("chaos-postgres", 2).await;
    let first = fleet.run_binary("before", None).await;
    assert_eq!(first.code, Some(0), "{}", first.describe());
    fleet.record_passwords().await;
    for trial in 0..crate::trials(1) {
        // Plenty of SQL: a dozen new users and their databases on one cluster.
        let cluster = fleet.clusters[trial % fleet.clusters.len()].clone();
        for i in 0..12 {
            fleet.add_user(&cluster, &format!("p{trial}_{i}")).await;
        }
        let (child, dir) = fleet.spawn(&format!("sql-interrupted-{trial}"), None);
        reconciler_connected().await;
        restart_and_recover(&mut fleet, child, &dir, ("postgres", 2), trial).await;
    }
    fleet.check().await;
}
