//! A share of every API request (all verbs, the Lease's too) fails as a flaky apiserver or load
//! balancer fails: error answers, dropped connections before and after the apiserver acted, slow
//! answers. The runs retry what is safe to retry; the fleet converges within a few runs, and no
//! run says "done" unless it was.

use crate::fleet::Fleet;
use crate::support::fault_proxy::{Fault, FaultProxy};

/// Runs allowed to converge (the bound).
const RUNS: usize = 5;

#[tokio::test]
async fn a_fifth_of_all_requests_failing_converges_within_five_runs() {
    let rate: f64 = std::env::var("CHAOS_FAULT_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0.2);
    for trial in 0..crate::trials(1) {
        let mut fleet = Fleet::new(&format!("chaos-faults-{trial}"), 3).await;
        let seed = rand::random::<u64>();
        let dir = fleet.h.temp_dir("fault-proxy");
        let proxy = FaultProxy::start(
            &dir,
            Fault::Random {
                matches: Box::new(|_, _| true),
                rate,
                seed,
            },
        )
        .await;
        let mut converged_after = None;
        let mut runs = Vec::new();
        for run in 1..=RUNS {
            let ended = fleet
                .run_binary(&format!("faulty-run-{run}"), Some(&proxy.kubeconfig))
                .await;
            Fleet::assert_honest(&ended);
            fleet.record_passwords().await;
            let code = ended.code;
            runs.push(ended);
            if code == Some(0) {
                converged_after = Some(run);
                break;
            }
        }
        let summary: Vec<String> = runs.iter().map(|r| format!("{:?}", r.code)).collect();
        println!(
            "chaos faults: trial {trial} seed {seed} rate {rate}: exits {summary:?}, {} faults injected",
            proxy.injected()
        );
        assert!(
            converged_after.is_some(),
            "seed {seed}: not converged in {RUNS} runs; the last:\n{}",
            runs.last().map(|r| r.describe()).unwrap_or_default()
        );
        assert!(proxy.injected() > 0, "no fault was injected");
        fleet.check().await;
    }
}
