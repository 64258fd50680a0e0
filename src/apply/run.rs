//! One `apply` run: lease → observe → render → plan → execute in order → status → report.

use super::lease::{self, Acquired};
use super::objects::ObjectExecutor;
use super::passwords::Passwords;
use super::sql;
use crate::config::Config;
use crate::observe::cluster::ClusterClient;
use crate::observe::databases::connection_for;
use crate::observe::postgres::connect;
use crate::pipeline::{self, PipelineError, Planned, Source};
use crate::plan::{Action, Change, ObjectRef, Op, Summary, Target};
use crate::render::{DesiredManifest, DesiredObject, Manifest, ManifestRef};
use crate::report::outcome::{ActionOutcome, ActionResult, ManifestOutcome};
use crate::report::run::RunReport;
use crate::report::status::plan_digest;
use futures::StreamExt;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub use crate::plan::finalizer::DROP_DATABASE_FINALIZER;
use crate::plan::finalizer::finalizer_change;

#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Allow replace actions for every manifest (else only for annotated manifests).
    pub allow_destructive: bool,
    pub lease_namespace: String,
    /// Who this run is, in the Lease.
    pub identity: String,
    pub lease_duration: Duration,
}

type GroupKey = (String, String, String);

fn key(m: &ManifestRef) -> GroupKey {
    (m.kind.clone(), m.namespace.clone(), m.name.clone())
}

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
    let guard = match lease::acquire(
        &cluster.client,
        &options.lease_namespace,
        &options.identity,
        options.lease_duration,
    )
    .await
    .map_err(|e| {
        PipelineError::Usage(format!(
            "taking the Lease {}/{}: {e}",
            options.lease_namespace,
            lease::LEASE_NAME
        ))
    })? {
        Acquired::Held(guard) => guard,
        Acquired::HeldByOther { holder, renewed } => {
            let note = format!(
                "another run holds the Lease {}/{} ({holder}, renewed {}); nothing done",
                options.lease_namespace,
                lease::LEASE_NAME,
                renewed.as_deref().unwrap_or("unknown")
            );
            tracing::info!("{note}");
            return Ok(RunReport {
                started,
                duration_ms: clock.elapsed().as_millis() as u64,
                result: "lease-held".into(),
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
    };
    let result = run_held(config, cluster, source, options).await;
    if let Err(e) = guard.release().await {
        tracing::warn!("releasing the Lease: {e}");
    }
    let (manifests, shared, statuses_written) = result?;
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
        || manifests.iter().any(|m| {
            !m.invalid.is_empty()
                || m.failures().next().is_some()
                // A blocked destructive change leaves the manifest unreconciled: say so.
                || m.skipped().next().is_some()
                || (!m.unknown.is_empty() && !m.new_cluster && !m.deleting)
        });
    Ok(RunReport {
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
        statuses_written,
        notes: Vec::new(),
    })
}

/// The manifests' outcomes, the shared objects' outcomes, and how many statuses were written.
type Outcomes = (Vec<ManifestOutcome>, Vec<ActionOutcome>, u64);

async fn run_held(
    config: &Config,
    cluster: &ClusterClient,
    source: &Source,
    options: &ApplyOptions,
) -> Result<Outcomes, PipelineError> {
    let planned = pipeline::plan_live(config, cluster, source).await?;
    let passwords = Passwords::from_live(
        planned
            .observed
            .objects
            .iter()
            .chain(&planned.observed.adoptable),
    );
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
        field_manager: &config.field_manager,
        force_conflicts: config.force_conflicts,
        passwords: &passwords,
    };

    // Objects shared by a namespace's clusters go first, one after another.
    let shared: Vec<&Action> = planned
        .plan
        .actions
        .iter()
        .filter(|a| a.manifest.is_none())
        .collect();
    let mut shared_outcomes = Vec::new();
    for action in shared {
        let desired = object_of(action).and_then(|r| desired_objects.get(r).copied());
        let result = executor
            .execute(action, desired, options.allow_destructive)
            .await;
        shared_outcomes.push(outcome_of(action, result));
    }
    for o in &shared_outcomes {
        if let ActionResult::Failed(m) = &o.result {
            tracing::warn!(action = %o.action, "failed: {m}");
        }
    }

    // Then each manifest's actions, in plan order, several manifests at a time.
    let mut groups: BTreeMap<GroupKey, (ManifestRef, Vec<&Action>)> = BTreeMap::new();
    for action in &planned.plan.actions {
        if let Some(m) = &action.manifest {
            groups
                .entry(key(m))
                .or_insert_with(|| (m.clone(), Vec::new()))
                .1
                .push(action);
        }
    }
    for m in &planned.desired.manifests {
        groups
            .entry(key(&m.manifest))
            .or_insert_with(|| (m.manifest.clone(), Vec::new()));
    }
    let desired_by_key: BTreeMap<GroupKey, &DesiredManifest> = planned
        .desired
        .manifests
        .iter()
        .map(|m| (key(&m.manifest), m))
        .collect();
    let manifests_by_key: BTreeMap<GroupKey, &Manifest> = planned
        .manifests
        .iter()
        .map(|m| (key(&m.reference()), m))
        .collect();

    let jobs = groups.into_values().map(|(manifest, actions)| {
        let desired = desired_by_key.get(&key(&manifest)).copied();
        let live_manifest = manifests_by_key.get(&key(&manifest)).copied();
        let executor = &executor;
        let desired_objects = &desired_objects;
        let planned = &planned;
        let passwords = &passwords;
        async move {
            let allow = options.allow_destructive
                || live_manifest.is_some_and(Manifest::allows_destructive);
            let mut outcomes = Vec::new();
            let mut sql_clients: BTreeMap<(String, String), tokio_postgres::Client> =
                BTreeMap::new();
            for action in actions {
                // A finalizer lets its manifest go only after everything before it worked.
                let letting_go = finalizer_change(action) == Some(false);
                if letting_go
                    && outcomes
                        .iter()
                        .any(|o: &ActionOutcome| o.result != ActionResult::Applied)
                {
                    outcomes.push(outcome_of(
                        action,
                        ActionResult::Skipped(
                            "kept until the manifest's other actions succeed".into(),
                        ),
                    ));
                    continue;
                }
                let result = match &action.target {
                    Target::Object(r) => {
                        executor
                            .execute(action, desired_objects.get(r).copied(), allow)
                            .await
                    }
                    Target::Sql {
                        server, database, ..
                    } => {
                        run_sql(
                            cluster,
                            config,
                            planned,
                            desired,
                            passwords,
                            &mut sql_clients,
                            server,
                            database,
                            action,
                        )
                        .await
                    }
                };
                outcomes.push(outcome_of(action, result));
            }
            manifest_outcome(manifest, desired, outcomes, planned)
        }
    });
    let mut outcomes: Vec<ManifestOutcome> = futures::stream::iter(jobs)
        .buffer_unordered(config.max_parallel_clusters.max(1))
        .collect()
        .await;
    // Invalid manifests: reported in their status too.
    for invalid in &planned.desired.invalid {
        if let Some(r) = planned
            .observed
            .manifests
            .iter()
            .find(|r| format!("{} {}/{}", r.kind, r.namespace, r.name) == invalid.manifest)
        {
            outcomes.push(ManifestOutcome {
                manifest: r.clone(),
                invalid: invalid.errors.iter().map(|e| e.to_string()).collect(),
                actions: Vec::new(),
                applied: Summary::default(),
                unknown: Vec::new(),
                new_cluster: false,
                rollout: None,
                rollout_held: None,
                pods: None,
                deleting: false,
                plan_digest: plan_digest(&[]),
            });
        }
    }
    outcomes.sort_by_key(|o| key(&o.manifest));
    refresh_pods(cluster, config, source, &mut outcomes).await;

    let now = now();
    let mut written = 0;
    for outcome in &outcomes {
        if outcome.manifest.uid.is_none() {
            continue; // an orphan's manifest is gone: nothing to write to
        }
        let previous = planned
            .statuses
            .get(&format!(
                "{} {}/{}",
                outcome.manifest.kind, outcome.manifest.namespace, outcome.manifest.name
            ))
            .cloned();
        match super::status::write_status(
            &cluster.client,
            outcome,
            previous,
            &config.field_manager,
            &now,
        )
        .await
        {
            Ok(true) => written += 1,
            Ok(false) => {}
            Err(e) => tracing::warn!(manifest = %outcome.manifest, "writing status: {e}"),
        }
    }
    Ok((outcomes, shared_outcomes, written))
}

fn object_of(action: &Action) -> Option<&ObjectRef> {
    match &action.target {
        Target::Object(r) => Some(r),
        Target::Sql { .. } => None,
    }
}

fn outcome_of(action: &Action, result: ActionResult) -> ActionOutcome {
    ActionOutcome {
        action: format!("{} {}", crate::report::op_name(action.op), action.target),
        result,
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_sql(
    cluster: &ClusterClient,
    config: &Config,
    planned: &Planned,
    desired: Option<&DesiredManifest>,
    passwords: &Passwords,
    clients: &mut BTreeMap<(String, String), tokio_postgres::Client>,
    server: &str,
    database: &str,
    action: &Action,
) -> ActionResult {
    let Change::Sql { statements } = &action.change else {
        return ActionResult::Failed("not a SQL action".into());
    };
    let Some(desired) = desired else {
        return ActionResult::Failed(format!("no desired state for {server}"));
    };
    let cache_key = (server.to_string(), database.to_string());
    if !clients.contains_key(&cache_key) {
        let conn = match connection_for(
            Some(&cluster.client),
            config,
            &desired.database.server,
            &planned.observed.objects,
        )
        .await
        {
            Ok(c) => c,
            Err(reason) => return ActionResult::Failed(reason),
        };
        match connect(&conn, database).await {
            Ok(client) => {
                clients.insert(cache_key.clone(), client);
            }
            Err(e) => return ActionResult::Failed(e.to_string()),
        }
    }
    let Some(client) = clients.get(&cache_key) else {
        return ActionResult::Failed("no connection".into());
    };
    match sql::execute(client, statements, &|secret| passwords.get(secret)).await {
        Ok(()) => ActionResult::Applied,
        // Another manifest on the same server (a PostgreSQLConfig on its cluster, two clusters
        // sharing a server) created it first in this run: it exists, as wanted. It is not
        // marked as ours, and the next run plans whatever else it needs.
        Err(e) if already_exists(&e, statements) => ActionResult::Applied,
        Err(e) => ActionResult::Failed(e.to_string()),
    }
}

fn manifest_outcome(
    manifest: ManifestRef,
    desired: Option<&DesiredManifest>,
    actions: Vec<ActionOutcome>,
    planned: &Planned,
) -> ManifestOutcome {
    let mine: Vec<Action> = planned
        .plan
        .actions
        .iter()
        .filter(|a| a.manifest.as_ref().map(key) == Some(key(&manifest)))
        .cloned()
        .collect();
    let mut applied = Summary::default();
    for (action, outcome) in mine.iter().zip(&actions) {
        if outcome.result == ActionResult::Applied {
            match action.op {
                Op::Create => applied.create += 1,
                Op::Update => applied.update += 1,
                Op::Replace => applied.replace += 1,
                Op::Delete => applied.delete += 1,
                Op::Sql => applied.sql += 1,
                Op::Restart => applied.restart += 1,
            }
        }
    }
    let statefulset = planned.observed.objects.iter().find(|o| {
        o.get("kind").and_then(Value::as_str) == Some("StatefulSet")
            && o.pointer("/metadata/namespace").and_then(Value::as_str)
                == Some(manifest.namespace.as_str())
            && o.pointer("/metadata/name").and_then(Value::as_str) == Some(manifest.name.as_str())
    });
    let is_cluster = manifest.kind == "postgresql";
    let pods = statefulset.map(|s| {
        let n = |p: &str| s.pointer(p).and_then(Value::as_i64).unwrap_or(0) as i32;
        (n("/status/readyReplicas"), n("/spec/replicas"))
    });
    let rollout_held = planned
        .plan
        .held
        .iter()
        .find(|h| key(&h.manifest) == key(&manifest))
        .map(|h| h.reason.clone());
    ManifestOutcome {
        unknown: planned
            .plan
            .unknown
            .iter()
            .filter(|u| key(&u.manifest) == key(&manifest))
            .map(|u| format!("{}: {}", u.part, u.reason))
            .collect(),
        new_cluster: is_cluster && statefulset.is_none(),
        rollout: None,
        rollout_held,
        pods: if is_cluster { pods } else { None },
        deleting: desired.is_some_and(|d| d.deleting),
        plan_digest: plan_digest(&mine),
        invalid: Vec::new(),
        applied,
        actions,
        manifest,
    }
}

/// Pod readiness as it is at the end of the run (one LIST of the StatefulSets), so the status
/// says what is true now, not what was true when the run started.
async fn refresh_pods(
    cluster: &ClusterClient,
    config: &Config,
    source: &Source,
    outcomes: &mut [ManifestOutcome],
) {
    let kind = ("apps/v1", "StatefulSet", "statefulsets");
    let Ok(statefulsets) = crate::observe::cluster::list_all(
        &cluster.client,
        &source.scope,
        kind,
        Some(crate::observe::cluster::OWNED_SELECTOR),
    )
    .await
    else {
        return;
    };
    let pods = crate::observe::cluster::observe_pods(&cluster.client, &source.scope, config)
        .await
        .ok();
    for outcome in outcomes
        .iter_mut()
        .filter(|o| o.manifest.kind == "postgresql")
    {
        let found = statefulsets.iter().find(|s| {
            s.pointer("/metadata/namespace").and_then(Value::as_str)
                == Some(outcome.manifest.namespace.as_str())
                && s.pointer("/metadata/name").and_then(Value::as_str)
                    == Some(outcome.manifest.name.as_str())
        });
        if let Some(s) = found {
            let n = |p: &str| s.pointer(p).and_then(Value::as_i64).unwrap_or(0) as i32;
            outcome.pods = Some((n("/status/readyReplicas"), n("/spec/replicas")));
            if let Some(pods) = &pods {
                outcome.rollout = crate::plan::rollout::progress(s, pods, config);
            }
        }
    }
}

/// A CREATE that failed because its object exists: duplicate_object (42710) for roles,
/// duplicate_database (42P04) for databases, unique_violation (23505) when two sessions
/// created the same one at the same moment.
fn already_exists(
    e: &crate::observe::postgres::PgError,
    statements: &[crate::plan::SqlStatement],
) -> bool {
    let first = statements
        .first()
        .map(|s| s.sql.as_str())
        .unwrap_or_default();
    match e.code.as_deref() {
        Some("42710") => first.starts_with("CREATE ROLE "),
        Some("42P04") => first.starts_with("CREATE DATABASE "),
        Some("23505") => first.starts_with("CREATE ROLE ") || first.starts_with("CREATE DATABASE "),
        _ => false,
    }
}
