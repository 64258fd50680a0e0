//! Rolling updates across runs: at most one pod restart per cluster per run, replicas first, the
//! master last (after a Patroni switchover), only while every pod of the cluster is Ready and
//! scheduled, inside the maintenance windows if the cluster has any. A pod is outdated when its
//! `controller-revision-hash` differs from its StatefulSet's `updateRevision`: the decision
//! follows the rendered pod-template hash, never a field-by-field comparison.

use super::{Action, Change, Held, ObjectRef, Op, Risk, Switchover, Target};
use crate::config::Config;
use crate::render::meta::{POD_TEMPLATE_HASH, ROLE_LABEL};
use crate::render::{Desired, DesiredManifest};
use crate::state::{CompactJson, Head, Observed};
use crate::validate::windows::parse_maintenance_window;
use serde_json::Value;
use std::collections::BTreeMap;

/// Set by the StatefulSet controller on each pod: the revision it was created from.
pub const REVISION_LABEL: &str = "controller-revision-hash";

/// The restart actions of this run and the rollouts that wait.
pub fn plan_rollouts(
    desired: &Desired,
    observed: &Observed,
    config: &Config,
) -> (Vec<Action>, Vec<Held>) {
    // Indexed once: a lookup per cluster in the lists of every object and pod is quadratic.
    let live = Live::index(observed, config);
    let clusters: Vec<(&DesiredManifest, ClusterRollout)> = desired
        .manifests
        .iter()
        .filter(|m| m.manifest.kind == "postgresql" && !m.deleting)
        .filter_map(|m| Some((m, plan_cluster(m, &live, observed, config)?)))
        .collect();
    // Clusters already rolling keep their slot; the others start in manifest order while slots
    // are free, so a limit never strands a half-done rollout.
    let limit = config.max_rolling_clusters;
    let mut rolling = clusters.iter().filter(|(_, c)| c.in_progress).count();
    let mut actions = Vec::new();
    let mut held = Vec::new();
    for (m, cluster) in clusters {
        let next = match cluster.next {
            Ok(_) if !cluster.in_progress && limit > 0 && rolling >= limit => Err(format!(
                "{}; waiting for a free rollout slot (max_rolling_clusters = {limit}, all in use)",
                cluster.outdated
            )),
            Ok(action) => {
                rolling += usize::from(!cluster.in_progress);
                Ok(action)
            }
            Err(why) => Err(why),
        };
        match next {
            Ok(action) => actions.push(action),
            Err(reason) => held.push(Held {
                manifest: m.manifest.clone(),
                reason,
                lazy: config.enable_lazy_spilo_upgrade,
            }),
        }
    }
    (actions, held)
}

/// One cluster with outdated pods: its next restart (or why it waits), and whether its rollout
/// has begun (a pod already on the new revision, or one missing).
struct ClusterRollout {
    next: Result<Action, String>,
    in_progress: bool,
    /// "n of m pods outdated", for the reasons of a waiting rollout.
    outdated: String,
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn label<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    pod.pointer("/metadata/labels")
        .and_then(|l| l.get(key))
        .and_then(Value::as_str)
}

fn name(v: &Value) -> &str {
    str_at(v, "/metadata/name").unwrap_or_default()
}

/// The members Patroni would switch over to, when Patroni was read for the cluster: those
/// streaming from the leader, and in `synchronous_mode` (its DCS configuration; not the quorum
/// mode) only its synchronous standbys: Patroni refuses any other candidate ("candidate name
/// does not match with sync_standby"), also in the moment after a restart when it has none.
/// The flag says whether the cluster is in synchronous mode.
fn switchover_candidates(
    observed: &Observed,
    manifest: &crate::render::ManifestRef,
) -> Option<(std::collections::BTreeSet<String>, bool)> {
    let key = format!("{}/{}", manifest.namespace, manifest.name);
    match observed.patroni.get(&key)? {
        crate::state::PatroniObservation::Known { members, config } => {
            let synchronous = match config.get("synchronous_mode") {
                Some(Value::Bool(on)) => *on,
                Some(Value::String(s)) => matches!(s.to_ascii_lowercase().as_str(), "true" | "on"),
                _ => false,
            };
            let candidates = members
                .iter()
                .filter(|m| m.replication_state.as_deref() == Some("streaming"))
                .filter(|m| m.sync_standby || !synchronous)
                .map(|m| m.pod.clone())
                .collect();
            Some((candidates, synchronous))
        }
        crate::state::PatroniObservation::Unknown { .. } => None,
    }
}

/// Ready, and not being deleted.
pub fn pod_ready(pod: &Value) -> bool {
    ready(pod)
}

fn ready(pod: &Value) -> bool {
    pod.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| {
            cs.iter().any(|c| {
                str_at(c, "/type") == Some("Ready") && str_at(c, "/status") == Some("True")
            })
        })
        && pod.pointer("/metadata/deletionTimestamp").is_none()
}

/// A pod's spec without the volumes its StatefulSet's claim templates gave it (`pgdata`): the
/// template has none of them, and they are no change.
fn without_claim_volumes(pod_spec: &Value, sts: &Value) -> Value {
    let claims: Vec<&str> = sts
        .pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| str_at(c, "/metadata/name"))
        .collect();
    let mut spec = pod_spec.clone();
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        volumes.retain(|v| !str_at(v, "/name").is_some_and(|n| claims.contains(&n)));
    }
    spec
}

/// Whether `now` (RFC 3339) lies inside one of the windows; unreadable times and windows are
/// outside.
pub fn in_windows(windows: &[String], now: Option<&str>) -> bool {
    let Some(now) = now.and_then(|n| n.parse::<jiff::Timestamp>().ok()) else {
        return false;
    };
    let t = now.to_zoned(jiff::tz::TimeZone::UTC);
    let weekday = t.weekday().to_monday_zero_offset() as u8;
    let minute = t.hour() as u16 * 60 + t.minute() as u16;
    windows
        .iter()
        .filter_map(|w| parse_maintenance_window(w).ok())
        .any(|w| w.weekday.is_none_or(|d| d == weekday) && w.start <= minute && minute <= w.end)
}

/// Pods of a cluster on its StatefulSet's update revision, and the pods wanted: the rollout's
/// progress. None without an update revision, unless no pods are wanted (then nothing rolls).
/// `pods` may be the cluster's alone or more.
pub fn progress(sts: &Value, pods: &[Head], config: &Config) -> Option<(i32, i32)> {
    let wanted = sts
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1) as i32;
    // No pods, nothing to roll: up to date even before its controller has named a revision, so
    // the status does not change when the controller catches up after the run.
    if wanted == 0 {
        return Some((0, 0));
    }
    let update_revision = str_at(sts, "/status/updateRevision")?;
    let namespace = str_at(sts, "/metadata/namespace").unwrap_or_default();
    let cluster = name(sts);
    let current = pods
        .iter()
        .filter(|p| {
            p.metadata.namespace == namespace
                && p.label(&config.cluster_name_label) == Some(cluster)
                && p.metadata.deletion_timestamp.is_none()
                && p.label(REVISION_LABEL) == Some(update_revision)
        })
        .count() as i32;
    Some((current.min(wanted), wanted))
}

/// The next restart of one cluster: None when nothing is outdated (or the StatefulSet changes in
/// this run, so its pods are judged in a later run).
/// The StatefulSets and the pods of the clusters, by (namespace, cluster).
struct Live<'a> {
    statefulsets: BTreeMap<(String, String), &'a CompactJson>,
    pods: BTreeMap<(String, String), Vec<&'a CompactJson>>,
}

impl<'a> Live<'a> {
    fn index(observed: &'a Observed, config: &Config) -> Live<'a> {
        let statefulsets = crate::state::by_name(&observed.objects, "StatefulSet");
        let mut pods: BTreeMap<(String, String), Vec<&CompactJson>> = BTreeMap::new();
        for p in &observed.pods {
            let head = p.head();
            if let Some(cluster) = head.label(&config.cluster_name_label) {
                let key = (head.metadata.namespace.clone(), cluster.to_string());
                pods.entry(key).or_default().push(p);
            }
        }
        Live { statefulsets, pods }
    }
}

fn plan_cluster(
    m: &DesiredManifest,
    live: &Live<'_>,
    observed: &Observed,
    config: &Config,
) -> Option<ClusterRollout> {
    let (namespace, cluster) = (m.manifest.namespace.as_str(), m.manifest.name.as_str());
    let sts = &live
        .statefulsets
        .get(&(namespace.to_string(), cluster.to_string()))?
        .value();
    let live_hash = sts
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(POD_TEMPLATE_HASH))
        .and_then(Value::as_str);
    if m.pod_template_hash.is_none() || live_hash != m.pod_template_hash.as_deref() {
        return None; // the template is updated in this run: restarts follow in later runs
    }
    let update_revision = str_at(sts, "/status/updateRevision")?;
    // This cluster's pods only, parsed for as long as it is judged.
    let parsed: Vec<Value> = live
        .pods
        .get(&(namespace.to_string(), cluster.to_string()))
        .into_iter()
        .flatten()
        .map(|p| p.value())
        .collect();
    let mut pods: Vec<&Value> = parsed.iter().collect();
    pods.sort_by_key(|p| name(p));
    let on_update_revision = |p: &&Value| label(p, REVISION_LABEL) == Some(update_revision);
    let outdated: Vec<&Value> = pods
        .iter()
        .copied()
        .filter(|p| !on_update_revision(p))
        .collect();
    if outdated.is_empty() {
        return None;
    }
    let replicas = sts
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let in_progress = (pods.len() as i64) < replicas
        || pods
            .iter()
            .any(|p| on_update_revision(p) && p.pointer("/metadata/deletionTimestamp").is_none());
    let summary = format!("{} of {} pods outdated", outdated.len(), replicas);
    let next = if config.enable_lazy_spilo_upgrade {
        Err(format!(
            "{summary}; lazy upgrade (enable_lazy_spilo_upgrade): each takes revision {update_revision} when it restarts for another reason"
        ))
    } else {
        next_restart(m, observed, config, sts, &pods, &outdated)
    };
    Some(ClusterRollout {
        next,
        in_progress,
        outdated: summary,
    })
}

fn next_restart(
    m: &DesiredManifest,
    observed: &Observed,
    config: &Config,
    sts: &Value,
    pods: &[&Value],
    outdated: &[&Value],
) -> Result<Action, String> {
    let update_revision = str_at(sts, "/status/updateRevision").unwrap_or_default();
    let generation = sts.pointer("/metadata/generation").and_then(Value::as_i64);
    let observed_generation = sts
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64);
    if generation.is_some() && observed_generation < generation {
        return Err(format!(
            "{} of {} pods outdated; waiting for the StatefulSet controller to observe generation {}",
            outdated.len(),
            pods.len(),
            generation.unwrap_or_default()
        ));
    }
    let replicas = sts
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    let waiting = |why: String| {
        Err(format!(
            "{} of {} pods outdated; {why}",
            outdated.len(),
            replicas
        ))
    };
    if (pods.len() as i64) < replicas {
        return waiting(format!(
            "waiting until all pods exist ({} of {replicas})",
            pods.len()
        ));
    }
    if let Some(p) = pods
        .iter()
        .find(|p| str_at(p, "/status/phase") == Some("Pending"))
    {
        let why = p
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| str_at(c, "/type") == Some("PodScheduled"))
                    .and_then(|c| str_at(c, "/message"))
            })
            .map(|msg| format!(": {msg}"))
            .unwrap_or_default();
        return waiting(format!("pod {} is Pending{why}", name(p)));
    }
    if let Some(p) = pods.iter().find(|p| !ready(p)) {
        return waiting(format!("pod {} is not Ready", name(p)));
    }
    let in_window = in_windows(&m.maintenance_windows, observed.now.as_deref());
    if !m.maintenance_windows.is_empty() && !in_window {
        return waiting(format!(
            "outside the maintenance windows ({})",
            m.maintenance_windows.join(", ")
        ));
    }
    let role = |p: &Value| label(p, ROLE_LABEL).map(str::to_string);
    let single = replicas <= 1;
    if single && !(m.allow_restart || in_window) {
        return waiting(format!(
            "a single instance: restarting pod {} means downtime; annotate the manifest {}: \"true\" or set maintenanceWindows",
            name(outdated[0]),
            crate::render::ALLOW_RESTART_ANNOTATION
        ));
    }
    let replica = outdated
        .iter()
        .find(|p| role(p).as_deref() == Some("replica"));
    let (pod, switchover) = match replica {
        Some(p) => (*p, None),
        None if single => (outdated[0], None),
        None => {
            if let Some(p) = outdated
                .iter()
                .find(|p| role(p).as_deref() != Some("master"))
            {
                return waiting(format!("pod {} has no {ROLE_LABEL} label", name(p)));
            }
            let master = outdated[0];
            // When Patroni was read, the candidate must be streaming from the leader: a replica
            // that just restarted may not be yet, and promoting it would lose what it has not
            // received; in synchronous mode it must be a synchronous standby (Zalando's
            // operator picks its candidate the same way).
            let candidates = switchover_candidates(observed, &m.manifest);
            let Some(candidate) = pods.iter().find(|p| {
                role(p).as_deref() == Some("replica")
                    && label(p, REVISION_LABEL) == Some(update_revision)
                    && candidates.as_ref().is_none_or(|(c, _)| c.contains(name(p)))
            }) else {
                return waiting(match candidates {
                    Some((_, true)) => format!(
                        "no synchronous standby on revision {update_revision} is streaming from the leader yet (Patroni, synchronous_mode)"
                    ),
                    Some(_) => format!(
                        "no replica on revision {update_revision} is streaming from the leader yet (Patroni)"
                    ),
                    None => {
                        format!("no Ready replica on revision {update_revision} to switch over to")
                    }
                });
            };
            let url = super::patroni::member_url(config, master, &m.manifest.name);
            (
                master,
                Some(Switchover {
                    url,
                    leader: name(master).to_string(),
                    candidate: name(candidate).to_string(),
                }),
            )
        }
    };
    let from = label(pod, REVISION_LABEL).unwrap_or("none");
    let change = match (pod.pointer("/spec"), sts.pointer("/spec/template/spec")) {
        (Some(p), Some(t)) => {
            use super::template_changes::{Compare, template_changes};
            template_changes(&without_claim_volumes(p, sts), t, Compare::PodToTemplate).join(", ")
        }
        _ => String::new(),
    };
    let change = if change.is_empty() {
        "pod template changed".to_string()
    } else {
        change
    };
    let mut reason = format!("on revision {from}, StatefulSet wants {update_revision} ({change})");
    match &switchover {
        Some(s) => reason.push_str(&format!(
            "; the master, after a switchover to {}",
            s.candidate
        )),
        None if single => reason.push_str("; a single instance: downtime until it is Ready"),
        None => {}
    }
    Ok(Action {
        manifest: Some(m.manifest.clone()),
        target: Target::Object(ObjectRef {
            api_version: "v1".into(),
            kind: "Pod".into(),
            namespace: m.manifest.namespace.clone(),
            name: name(pod).to_string(),
        }),
        op: Op::Restart,
        risk: Risk::Disruptive,
        reason,
        change: Change::Restart {
            uid: str_at(pod, "/metadata/uid").map(str::to_string),
            switchover,
            delete: single,
        },
    })
}

#[cfg(test)]
mod tests;
