//! Builds each manifest's outcome: its actions' results and the live state at the run's end.

use crate::config::Config;
use crate::observe::cluster::ClusterClient;
use crate::pipeline::{Planned, Source};
use crate::plan::{Action, Op, Summary, Unknown};
use crate::render::{DesiredManifest, ManifestRef};
use crate::report::outcome::{
    ActionOutcome, ActionResult, ManifestOutcome, describe_unknown, most_telling_cause,
};
use crate::report::status::plan_digest;
use serde_json::Value;

/// A manifest's identity: (kind, namespace, name).
pub(super) type GroupKey = (String, String, String);

pub(super) fn key(m: &ManifestRef) -> GroupKey {
    (m.kind.clone(), m.namespace.clone(), m.name.clone())
}

pub(super) fn outcome_of(action: &Action, result: ActionResult) -> ActionOutcome {
    ActionOutcome {
        action: crate::report::action_label(action),
        result,
    }
}

pub(super) fn manifest_outcome(
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
    let is_cluster = manifest.kind == "postgresql";
    let pods = planned
        .replicas
        .get(&(manifest.namespace.clone(), manifest.name.clone()))
        .copied();
    let held = planned
        .plan
        .held
        .iter()
        .find(|h| key(&h.manifest) == key(&manifest));
    let rollout_held = held.map(|h| h.reason.clone());
    let unknown: Vec<&Unknown> = planned
        .plan
        .unknown
        .iter()
        .filter(|u| key(&u.manifest) == key(&manifest))
        .collect();
    let rollout_lazy = held.is_some_and(|h| h.lazy);
    ManifestOutcome {
        unknown: unknown.iter().map(|u| describe_unknown(u)).collect(),
        unknown_cause: most_telling_cause(&unknown),
        new_cluster: is_cluster && pods.is_none(),
        rollout: None,
        rollout_held,
        rollout_lazy,
        pods: if is_cluster { pods } else { None },
        deleting: desired.is_some_and(|d| d.deleting),
        plan_digest: plan_digest(&mine),
        report_mode: false,
        drift: Vec::new(),
        invalid: Vec::new(),
        applied,
        actions,
        manifest,
    }
}

/// The outcomes of the invalid manifests: reported in their status too.
pub(super) fn invalid_outcomes(planned: &Planned) -> Vec<ManifestOutcome> {
    let mut outcomes = Vec::new();
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
                unknown_cause: None,
                new_cluster: false,
                rollout: None,
                rollout_held: None,
                rollout_lazy: false,
                pods: None,
                deleting: false,
                plan_digest: plan_digest(&[]),
                report_mode: false,
                drift: Vec::new(),
            });
        }
    }
    outcomes
}

/// Pod readiness as it is at the end of the run (one LIST of the StatefulSets), so the status
/// says what is true now, not what was true when the run started.
pub(super) async fn refresh_pods(
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
