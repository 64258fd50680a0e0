//! Executes the plan's actions: the shared objects one after another, then each manifest's
//! actions in plan order, several manifests at a time.

use super::manifest_sql::{SqlClients, run_sql};
use super::objects::ObjectExecutor;
use super::outcome::{GroupKey, key, manifest_outcome, outcome_of};
use super::passwords::Passwords;
use crate::config::{Config, Mode};
use crate::observe::cluster::ClusterClient;
use crate::pipeline::Planned;
use crate::plan::approval::{held_action, held_for_approval, needs_approval};
use crate::plan::finalizer::finalizer_change;
use crate::plan::{Action, ObjectRef, Target};
use crate::render::{DesiredManifest, DesiredObject, Manifest, ManifestRef};
use crate::report::outcome::{ActionOutcome, ActionResult, ManifestOutcome};
use futures::StreamExt;
use std::collections::BTreeMap;

/// What executing the actions needs, the same for every manifest of the run.
pub(super) struct Execution<'a> {
    pub config: &'a Config,
    pub cluster: &'a ClusterClient,
    pub planned: &'a Planned,
    pub passwords: &'a Passwords,
    pub executor: &'a ObjectExecutor<'a>,
    /// Every desired object (the manifests' and the shared ones), by reference.
    pub desired_objects: &'a BTreeMap<ObjectRef, &'a DesiredObject>,
    /// Allow replace actions for every manifest (else only for annotated manifests).
    pub allow_destructive: bool,
    /// The run's Lease could not be renewed: no more writes.
    pub lease_lost: &'a std::sync::atomic::AtomicBool,
}

/// Why an action was not tried after the run lost its Lease.
const LEASE_LOST: &str = "this run lost its Lease (not renewed in time) and stopped before this write; the next run does it";

impl Execution<'_> {
    fn lease_lost(&self) -> bool {
        self.lease_lost.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Objects shared by a namespace's clusters, one after another.
    pub async fn shared(&self) -> Vec<ActionOutcome> {
        let shared: Vec<&Action> = self
            .planned
            .plan
            .actions
            .iter()
            .filter(|a| a.manifest.is_none())
            .collect();
        let mut shared_outcomes = Vec::new();
        for action in shared {
            if self.lease_lost() {
                shared_outcomes.push(outcome_of(action, ActionResult::Skipped(LEASE_LOST.into())));
                continue;
            }
            let desired = object_of(action).and_then(|r| self.desired_objects.get(r).copied());
            let result = self
                .executor
                .execute(action, desired, self.allow_destructive)
                .await;
            shared_outcomes.push(outcome_of(action, result));
        }
        for o in &shared_outcomes {
            if let ActionResult::Failed(m) = &o.result {
                tracing::warn!(action = %o.action, "failed: {m}");
            }
        }
        shared_outcomes
    }

    /// Each manifest's actions, in plan order, several manifests at a time (also the manifests
    /// with nothing to do: they get an outcome too). The outcomes come in no particular order.
    pub async fn manifests(&self) -> Vec<ManifestOutcome> {
        let planned = self.planned;
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
            self.manifest(manifest, actions, desired, live_manifest)
        });
        futures::stream::iter(jobs)
            .buffer_unordered(self.config.max_parallel_clusters.max(1))
            .collect()
            .await
    }

    /// One manifest's actions, in plan order.
    async fn manifest(
        &self,
        manifest: ManifestRef,
        actions: Vec<&Action>,
        desired: Option<&DesiredManifest>,
        live_manifest: Option<&Manifest>,
    ) -> ManifestOutcome {
        if live_manifest.is_some_and(|m| m.mode(self.config) == Mode::Report) {
            return report_only(manifest, actions, desired, self.planned);
        }
        // Approval-gated actions run only with the manifest's approval of exactly this plan
        // (or with destructive actions allowed); everything else runs either way.
        let approval = self
            .planned
            .plan
            .approvals
            .iter()
            .find(|a| super::outcome::same(&a.manifest, &manifest));
        let allowed =
            self.allow_destructive || live_manifest.is_some_and(Manifest::allows_destructive);
        let held = held_for_approval(
            approval,
            live_manifest.and_then(Manifest::approved_plan),
            allowed,
        );
        let mut outcomes = Vec::new();
        let mut sql_clients = SqlClients::new();
        for action in actions {
            if self.lease_lost() {
                outcomes.push(outcome_of(action, ActionResult::Skipped(LEASE_LOST.into())));
                continue;
            }
            // A finalizer lets its manifest go only after everything before it worked.
            let letting_go = finalizer_change(action) == Some(false);
            if letting_go
                && outcomes
                    .iter()
                    .any(|o: &ActionOutcome| o.result != ActionResult::Applied)
            {
                outcomes.push(outcome_of(
                    action,
                    ActionResult::Skipped("kept until the manifest's other actions succeed".into()),
                ));
                continue;
            }
            if let Some(why) = held
                .as_ref()
                .filter(|_| needs_approval(action, &self.config.require_approval))
            {
                let why = held_action(action, why);
                outcomes.push(outcome_of(action, ActionResult::Skipped(why)));
                continue;
            }
            let result = match &action.target {
                Target::Object(r) => {
                    self.executor
                        // Past the approval gate: a replace runs.
                        .execute(action, self.desired_objects.get(r).copied(), true)
                        .await
                }
                Target::Sql {
                    server, database, ..
                } => {
                    run_sql(
                        self.cluster,
                        self.config,
                        self.planned,
                        desired,
                        self.passwords,
                        &mut sql_clients,
                        server,
                        database,
                        action,
                    )
                    .await
                }
                Target::Patroni { .. } => super::patroni::execute(action).await,
            };
            outcomes.push(outcome_of(action, result));
        }
        manifest_outcome(manifest, desired, outcomes, self.planned)
    }
}

/// Report mode: nothing is attempted; every planned action is drift, said as the plan says it.
fn report_only(
    manifest: ManifestRef,
    actions: Vec<&Action>,
    desired: Option<&DesiredManifest>,
    planned: &Planned,
) -> ManifestOutcome {
    let mut outcome = manifest_outcome(manifest, desired, Vec::new(), planned);
    outcome.report_mode = true;
    outcome.drift = actions
        .iter()
        .map(|a| format!("{}: {}", crate::report::action_label(a), a.reason))
        .collect();
    outcome
}

fn object_of(action: &Action) -> Option<&ObjectRef> {
    match &action.target {
        Target::Object(r) => Some(r),
        Target::Sql { .. } | Target::Patroni { .. } => None,
    }
}
