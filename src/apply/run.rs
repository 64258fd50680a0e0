//! One `apply` run: lease → observe → render → plan → execute in order → status → report.

use super::execute::Execution;
use super::lease::{self, Acquired};
use super::objects::ObjectExecutor;
use super::outcome::{invalid_outcomes, key, refresh_pods};
use super::passwords::Passwords;
use super::status_phase::{StatusWrites, write_statuses};
use crate::config::Config;
use crate::observe::cluster::ClusterClient;
use crate::pipeline::{self, PipelineError, Source};
use crate::plan::{ObjectRef, Summary};
use crate::render::DesiredObject;
use crate::report::outcome::{ActionOutcome, ActionResult, ManifestOutcome};
use crate::report::run::RunReport;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use crate::plan::finalizer::DROP_DATABASE_FINALIZER;

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Allow replace actions for every manifest (else only for annotated manifests).
    pub allow_destructive: bool,
    pub lease_namespace: String,
    /// Who this run is, in the Lease.
    pub identity: String,
    pub lease_duration: Duration,
    /// How long to wait for a Lease another run holds before giving up on this run.
    pub lease_wait: Duration,
}

/// How often a waiting run looks at the Lease again.
const LEASE_POLL: Duration = Duration::from_millis(500);

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

pub async fn run(
    config: &Config,
    cluster: &ClusterClient,
    source: &Source,
    options: &ApplyOptions,
) -> Result<RunReport, PipelineError> {
    let started = now();
    let clock = Instant::now();
    let deadline = Instant::now() + options.lease_wait;
    let lease_name = lease::lease_name(config.shard);
    let guard = loop {
        let acquired = lease::acquire_named(
            &cluster.client,
            &options.lease_namespace,
            &lease_name,
            &options.identity,
            options.lease_duration,
        )
        .await
        .map_err(|e| {
            PipelineError::Usage(format!(
                "taking the Lease {}/{}: {}",
                options.lease_namespace,
                lease_name,
                crate::observe::describe_kube_error(&e)
            ))
        })?;
        match acquired {
            Acquired::Held(guard) => break guard,
            // Another run is working: wait for it a while (it renews its Lease while it works
            // and frees it at its end), then give this run up.
            Acquired::HeldByOther { .. } if Instant::now() + LEASE_POLL < deadline => {
                tokio::time::sleep(LEASE_POLL).await;
            }
            Acquired::HeldByOther { holder, renewed } => {
                let note = format!(
                    "another run holds the Lease {}/{} ({holder}, renewed {}); waited {} s, nothing done",
                    options.lease_namespace,
                    lease_name,
                    renewed.as_deref().unwrap_or("unknown"),
                    options.lease_wait.as_secs()
                );
                tracing::warn!("{note}");
                return Ok(RunReport {
                    started,
                    duration_ms: clock.elapsed().as_millis() as u64,
                    result: "skipped".into(),
                    exit_code: 0,
                    totals: Summary::default(),
                    requests: cluster.requests.snapshot(),
                    writes: cluster.requests.writes(),
                    manifests: Vec::new(),
                    shared: Vec::new(),
                    statuses_written: 0,
                    notes: vec![note],
                });
            }
        }
    };
    let renewed = lease::Renewed::start(guard, options.lease_duration);
    let result = run_held(config, cluster, source, options, &renewed.lost()).await;
    let report = result.map(|(manifests, shared, statuses)| {
        report_of(started, clock, cluster, manifests, shared, statuses)
    });
    let summary = report
        .as_ref()
        .ok()
        .map(|r| crate::report::metrics::RunSummary::of(r).annotation());
    if let Err(e) = renewed.release(summary.as_deref()).await {
        tracing::warn!(
            "releasing the Lease: {}",
            crate::observe::describe_kube_error(&e)
        );
    }
    report
}

/// The run report of a run that held the Lease.
fn report_of(
    started: String,
    clock: Instant,
    cluster: &ClusterClient,
    manifests: Vec<ManifestOutcome>,
    shared: Vec<ActionOutcome>,
    statuses: StatusWrites,
) -> RunReport {
    let mut totals = Summary::default();
    for a in shared.iter().filter(|a| a.result == ActionResult::Applied) {
        // Shared objects are only ever created, updated or deleted.
        if a.action.starts_with("create ") {
            totals.create += 1;
        } else if a.action.starts_with("update ") {
            totals.update += 1;
        } else if a.action.starts_with("delete ") {
            totals.delete += 1;
        }
    }
    for m in &manifests {
        totals.create += m.applied.create;
        totals.update += m.applied.update;
        totals.replace += m.applied.replace;
        totals.delete += m.applied.delete;
        totals.sql += m.applied.sql;
        totals.restart += m.applied.restart;
    }
    let shared_failed = shared
        .iter()
        .any(|a| matches!(a.result, ActionResult::Failed(_)));
    let failed = shared_failed
        || !statuses.failed.is_empty()
        || manifests.iter().any(|m| {
            !m.invalid.is_empty()
                || m.failures().next().is_some()
                // A blocked destructive change leaves the manifest unreconciled: say so.
                || m.skipped().next().is_some()
                // A new cluster's server not answering yet is expected; anything else is not.
                || (!m.unknown.is_empty() && !m.deleting && (!m.new_cluster || m.unknown_needs_action()))
        });
    RunReport {
        started,
        duration_ms: clock.elapsed().as_millis() as u64,
        result: if failed {
            "partial".into()
        } else {
            "applied".into()
        },
        exit_code: if failed { 2 } else { 0 },
        totals,
        requests: cluster.requests.snapshot(),
        writes: cluster.requests.writes(),
        manifests,
        shared,
        statuses_written: statuses.written,
        notes: statuses.failed,
    }
}

/// The manifests' outcomes, the shared objects' outcomes, and the status writes.
type Outcomes = (Vec<ManifestOutcome>, Vec<ActionOutcome>, StatusWrites);

async fn run_held(
    config: &Config,
    cluster: &ClusterClient,
    source: &Source,
    options: &ApplyOptions,
    lease_lost: &std::sync::atomic::AtomicBool,
) -> Result<Outcomes, PipelineError> {
    let planned = pipeline::plan_live(config, cluster, source).await?;
    let passwords = Passwords::from_live(&planned.secret_passwords);
    let desired_objects: BTreeMap<ObjectRef, &DesiredObject> = planned
        .desired
        .manifests
        .iter()
        .flat_map(|m| m.objects.iter())
        .chain(planned.desired.shared.iter())
        .map(|o| (crate::plan::objects::object_ref(o), o))
        .collect();
    let executor = ObjectExecutor {
        client: &cluster.client,
        client_without_retries: &cluster.without_retries,
        field_manager: &config.field_manager,
        force_conflicts: config.force_conflicts,
        passwords: &passwords,
    };
    let execution = Execution {
        config,
        cluster,
        planned: &planned,
        passwords: &passwords,
        executor: &executor,
        desired_objects: &desired_objects,
        allow_destructive: options.allow_destructive,
        lease_lost,
    };

    // Objects shared by a namespace's clusters go first, one after another.
    let shared_outcomes = execution.shared().await;
    // Then each manifest's actions, in plan order, several manifests at a time.
    let mut outcomes = execution.manifests().await;
    // Invalid manifests: reported in their status too.
    outcomes.extend(invalid_outcomes(&planned));
    outcomes.sort_by_key(|o| key(&o.manifest));
    let narrowing = planned.list_narrowing.as_deref();
    refresh_pods(cluster, config, source, narrowing, &mut outcomes).await;

    let now = now();
    if lease_lost.load(std::sync::atomic::Ordering::SeqCst) {
        // Another run may hold the Lease by now: its statuses are the ones that count.
        return Ok((outcomes, shared_outcomes, StatusWrites::default()));
    }
    let written = write_statuses(
        &cluster.client,
        &outcomes,
        &planned.statuses,
        &config.field_manager,
        &now,
    )
    .await;
    Ok((outcomes, shared_outcomes, written))
}
