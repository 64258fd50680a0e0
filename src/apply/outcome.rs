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
use crate::state::Head;
use crate::state::trim::{PROGRESS_FIELDS, keep_only};
use serde_json::Value;
use std::collections::BTreeMap;

/// A manifest's identity: (kind, namespace, name).
pub(super) type GroupKey = (String, String, String);

pub(super) fn key(m: &ManifestRef) -> GroupKey {
    (m.kind.clone(), m.namespace.clone(), m.name.clone())
}

/// The same manifest, compared without building keys (this runs once per manifest per entry).
pub(super) fn same(a: &ManifestRef, b: &ManifestRef) -> bool {
    a.name == b.name && a.namespace == b.namespace && a.kind == b.kind
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
        .filter(|a| a.manifest.as_ref().is_some_and(|m| same(m, &manifest)))
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
        .find(|h| same(&h.manifest, &manifest));
    let rollout_held = held.map(|h| h.reason.clone());
    let unknown: Vec<&Unknown> = planned
        .plan
        .unknown
        .iter()
        .filter(|u| same(&u.manifest, &manifest))
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
    narrowing: Option<&str>,
    outcomes: &mut [ManifestOutcome],
) {
    let kind = ("apps/v1", "StatefulSet", "statefulsets");
    // Only the progress fields of each, kept as its page arrives (whole StatefulSets of a large
    // fleet were most of a run's peak memory).
    let Ok(statefulsets) = crate::observe::cluster::list_each(
        &cluster.client,
        &source.scope,
        kind,
        Some(&crate::observe::cluster::narrowed(
            crate::observe::cluster::OWNED_SELECTOR.to_string(),
            narrowing,
        )),
        None,
        |sts| Some(keep_only(&sts, PROGRESS_FIELDS)),
    )
    .await
    else {
        return;
    };
    let pods = crate::observe::cluster::observe_pod_heads(
        &cluster.client,
        &source.scope,
        config,
        narrowing,
    )
    .await
    .ok();
    // Indexed once: a lookup per manifest, not a scan of every object per manifest.
    let statefulsets: BTreeMap<(&str, &str), &Value> = statefulsets
        .iter()
        .filter_map(|s| {
            Some((
                (
                    str_at(s, "/metadata/namespace")?,
                    str_at(s, "/metadata/name")?,
                ),
                s,
            ))
        })
        .collect();
    let mut pods_by_cluster: BTreeMap<(String, String), Vec<Head>> = BTreeMap::new();
    let pods_listed = pods.is_some();
    for head in pods.into_iter().flatten() {
        if let Some(cluster) = head.label(&config.cluster_name_label) {
            let key = (head.metadata.namespace.clone(), cluster.to_string());
            pods_by_cluster.entry(key).or_default().push(head);
        }
    }
    for outcome in outcomes
        .iter_mut()
        .filter(|o| o.manifest.kind == "postgresql")
    {
        let m = &outcome.manifest;
        let Some(s) = statefulsets.get(&(m.namespace.as_str(), m.name.as_str())) else {
            continue;
        };
        let n = |p: &str| s.pointer(p).and_then(Value::as_i64).unwrap_or(0) as i32;
        outcome.pods = Some((n("/status/readyReplicas"), n("/spec/replicas")));
        if pods_listed {
            let key = (m.namespace.clone(), m.name.clone());
            let heads = pods_by_cluster
                .get(&key)
                .map(Vec::as_slice)
                .unwrap_or_default();
            outcome.rollout = crate::plan::rollout::progress(s, heads, config);
        }
    }
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}
