//! Patroni's dynamic configuration, kept as the manifest says after the bootstrap, as Zalando's
//! operator keeps it: the DCS settings (`ttl`, `loop_wait`, `retry_timeout`,
//! `maximum_lag_on_failover`, the synchronous mode settings, `failsafe_mode`, `slots`) and the
//! PostgreSQL parameters Patroni only takes from the DCS (every parameter that is not local,
//! see [`crate::render::spilo_configuration::is_local_parameter`]) go to `PATCH /config` of the
//! leader; members that then report `pending_restart` are restarted through Patroni
//! (`POST /restart`), replicas first, the leader last, one member per run, only while every pod
//! is Ready and inside the maintenance windows when the manifest has any.
//!
//! Slots the manifest no longer lists are dropped too, as a destructive action of their own (see
//! [`slots`]). Not synced: `pg_hba` (Zalando writes it at the top level of the dynamic
//! configuration, where Patroni does not read it; it reaches the pods through
//! `SPILO_CONFIGURATION` and a rolling restart).

pub mod slots;

use super::{Action, Change, Held, Op, Risk, Target, Unknown, UnknownCause};
use crate::config::Config;
use crate::render::{Desired, DesiredManifest};
pub use crate::state::{PatroniMember, PatroniObservation};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

/// A member's REST API: `patroni_url_template` filled from its pod.
pub fn member_url(config: &Config, pod: &Value, cluster: &str) -> String {
    let field = |p: &str| pod.pointer(p).and_then(Value::as_str).unwrap_or_default();
    config
        .patroni_url_template
        .replace("{pod_ip}", field("/status/podIP"))
        .replace("{pod}", field("/metadata/name"))
        .replace("{namespace}", field("/metadata/namespace"))
        .replace("{cluster}", cluster)
}

/// Settings compared one by one; `false`/0 when the DCS does not hold them.
const SETTINGS: &[&str] = &[
    "ttl",
    "loop_wait",
    "retry_timeout",
    "maximum_lag_on_failover",
    "synchronous_mode",
    "synchronous_mode_strict",
    "synchronous_node_count",
    "failsafe_mode",
];

/// A value as text, so `100` and `"100"` (Patroni keeps what it was given) compare equal.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// What is absent from the DCS counts as the setting's zero.
fn effective(live: &Value, key: &str, like: &Value) -> Value {
    match (live.get(key), like) {
        (Some(v), _) => v.clone(),
        (None, Value::Bool(_)) => Value::Bool(false),
        (None, Value::Number(_)) => json!(0),
        (None, _) => Value::Null,
    }
}

/// The `PATCH /config` body that brings `live` to `desired`, and its changes in words.
pub fn dynamic_changes(desired: &Value, live: &Value) -> (Map<String, Value>, Vec<String>) {
    let mut patch = Map::new();
    let mut reasons = Vec::new();
    for key in SETTINGS {
        let Some(want) = desired.get(*key).filter(|v| !v.is_null()) else {
            continue;
        };
        let have = effective(live, key, want);
        if text(&have) != text(want) {
            reasons.push(format!("{key}: {} → {}", text(&have), text(want)));
            patch.insert(key.to_string(), want.clone());
        }
    }
    if let Some(slots) = desired.get("slots").and_then(Value::as_object) {
        let mut changed = Map::new();
        for (name, slot) in slots {
            if live.pointer(&format!("/slots/{name}")) != Some(slot) {
                reasons.push(format!("slots.{name}"));
                changed.insert(name.clone(), slot.clone());
            }
        }
        if !changed.is_empty() {
            patch.insert("slots".into(), Value::Object(changed));
        }
    }
    if let Some(parameters) = desired
        .pointer("/postgresql/parameters")
        .and_then(Value::as_object)
    {
        let mut changed = Map::new();
        for (name, want) in parameters {
            let have = live
                .pointer(&format!("/postgresql/parameters/{name}"))
                .map(text);
            if have.as_deref() != Some(text(want).as_str()) {
                reasons.push(format!(
                    "{name}: {} → {}",
                    have.unwrap_or_else(|| "(default)".into()),
                    text(want)
                ));
                changed.insert(name.clone(), want.clone());
            }
        }
        if !changed.is_empty() {
            patch.insert("postgresql".into(), json!({ "parameters": changed }));
        }
    }
    (patch, reasons)
}

/// The Patroni actions of every cluster Patroni was asked about; clusters whose pods the plan
/// restarts in this run (`rolling`) get no Patroni restart: the new pods start with the new
/// settings anyway.
pub fn plan_patroni(
    desired: &Desired,
    observed: &super::Observed,
    config: &Config,
    rolling: &BTreeSet<(String, String)>,
) -> (Vec<Action>, Vec<Unknown>, Vec<Held>) {
    let mut actions = Vec::new();
    let mut unknown = Vec::new();
    let mut held = Vec::new();
    // Indexed when the first cluster Patroni answered for needs it.
    let statefulsets = std::cell::OnceCell::new();
    for m in desired.manifests.iter().filter(|m| !m.deleting) {
        let Some(want) = &m.patroni_dynamic else {
            continue;
        };
        let key = format!("{}/{}", m.manifest.namespace, m.manifest.name);
        match observed.patroni.get(&key) {
            None => {}
            Some(PatroniObservation::Unknown { reason, cause }) => unknown.push(Unknown {
                manifest: m.manifest.clone(),
                part: "Patroni".into(),
                reason: reason.clone(),
                cause: *cause,
            }),
            Some(PatroniObservation::Known {
                members,
                config: live,
            }) => {
                let live_sts = statefulsets
                    .get_or_init(|| super::dynamic_only::live_statefulsets(observed))
                    .get(&(m.manifest.namespace.clone(), m.manifest.name.clone()))
                    .map(|s| s.value());
                let removed = slots::removed_slots(live_sts.as_ref(), want, live);
                if let (false, Some(leader)) =
                    (removed.is_empty(), members.iter().find(|m| m.is_leader()))
                {
                    let reasons: Vec<String> = removed
                        .iter()
                        .map(|s| {
                            format!(
                                "slots.{s}: no longer in the manifest; its consumer loses its place"
                            )
                        })
                        .collect();
                    let mut action = configure(m, leader, slots::drop_patch(&removed), &reasons);
                    action.risk = Risk::Destructive;
                    actions.push(action);
                }
                let (patch, reasons) = dynamic_changes(want, live);
                if !patch.is_empty() {
                    match members.iter().find(|m| m.is_leader()) {
                        Some(leader) => actions.push(configure(m, leader, patch, &reasons)),
                        None => unknown.push(Unknown {
                            manifest: m.manifest.clone(),
                            part: "Patroni".into(),
                            reason: "no member is the leader".into(),
                            cause: UnknownCause::Other,
                        }),
                    }
                    continue;
                }
                let cluster = (m.manifest.namespace.clone(), m.manifest.name.clone());
                if rolling.contains(&cluster) {
                    continue;
                }
                match next_restart(m, members, observed, config) {
                    Some(Ok(action)) => actions.push(action),
                    Some(Err(reason)) => held.push(Held {
                        manifest: m.manifest.clone(),
                        reason,
                        lazy: false,
                    }),
                    None => {}
                }
            }
        }
    }
    (actions, unknown, held)
}

fn target(m: &DesiredManifest, member: Option<&str>) -> Target {
    Target::Patroni {
        cluster: format!("{}/{}", m.manifest.namespace, m.manifest.name),
        member: member.map(str::to_string),
    }
}

fn configure(
    m: &DesiredManifest,
    leader: &PatroniMember,
    patch: Map<String, Value>,
    reasons: &[String],
) -> Action {
    Action {
        manifest: Some(m.manifest.clone()),
        target: target(m, None),
        op: Op::Update,
        risk: Risk::Safe,
        reason: reasons.join("; "),
        change: Change::PatroniConfig {
            url: leader.url.clone(),
            patch: Value::Object(patch),
        },
    }
}

/// The member to restart for its pending settings: a replica first, the leader last; None when
/// no member waits for a restart; Err(why) when one waits but may not restart now.
fn next_restart(
    m: &DesiredManifest,
    members: &[PatroniMember],
    observed: &super::Observed,
    config: &Config,
) -> Option<Result<Action, String>> {
    let mut pending: Vec<&PatroniMember> = members.iter().filter(|p| p.pending_restart).collect();
    if pending.is_empty() {
        return None;
    }
    pending.sort_by_key(|p| (p.is_leader(), p.pod.clone()));
    let member = pending[0];
    let waiting = |why: String| {
        Some(Err(format!(
            "{} member(s) wait for a restart for new settings; {why}",
            pending.len()
        )))
    };
    let parsed: Vec<Value> = observed
        .pods
        .iter()
        .filter(|p| {
            let head = p.head();
            head.metadata.namespace == m.manifest.namespace
                && head.label(&config.cluster_name_label) == Some(m.manifest.name.as_str())
        })
        .map(|p| p.value())
        .collect();
    let pods: Vec<&Value> = parsed.iter().collect();
    if let Some(p) = pods.iter().find(|p| !super::rollout::pod_ready(p)) {
        let name = p
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        return waiting(format!("pod {name} is not Ready"));
    }
    let in_window = super::rollout::in_windows(&m.maintenance_windows, observed.now.as_deref());
    if !m.maintenance_windows.is_empty() && !in_window {
        return waiting(format!(
            "outside the maintenance windows ({})",
            m.maintenance_windows.join(", ")
        ));
    }
    let why = if member.pending_parameters.is_empty() {
        "pending restart".to_string()
    } else {
        format!("pending restart ({})", member.pending_parameters.join(", "))
    };
    Some(Ok(Action {
        manifest: Some(m.manifest.clone()),
        target: target(m, Some(&member.pod)),
        op: Op::Restart,
        risk: Risk::Disruptive,
        reason: why,
        change: Change::PatroniRestart {
            url: member.url.clone(),
        },
    }))
}

#[cfg(test)]
mod tests;
