//! A change of Patroni's dynamic settings alone restarts no pod. Spilo reads
//! `SPILO_CONFIGURATION`'s `bootstrap.dcs` only when a cluster is first initialised; a running
//! cluster gets those settings through `PATCH /config` (see [`super::patroni`]). So, as Zalando's
//! operator compares StatefulSets with `bootstrap.dcs` left out, a StatefulSet whose template
//! differs from the live one only there keeps the live `SPILO_CONFIGURATION` (and template hash):
//! no StatefulSet update, no new revision, no rollout. Only for clusters whose Patroni was read:
//! without it (`sync_patroni_config` off, an offline plan) the change stays visible as the
//! StatefulSet update it was.

use super::Observed;
use crate::render::Desired;
use crate::render::meta::POD_TEMPLATE_HASH;
use crate::render::spilo_configuration::ENV_NAME;
use crate::render::statefulset::pod_template_hash;
use crate::state::CompactJson;
use k8s_openapi::api::core::v1::PodTemplateSpec;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// [`keep_live_dynamic_settings`] for a stage that owns `desired`: unchanged, it is not copied
/// (a copy of 10,000 clusters' objects is a hundred megabytes).
pub fn keep_live_dynamic_settings_owned(desired: Desired, observed: &Observed) -> Desired {
    let changed = match keep_live_dynamic_settings(&desired, observed) {
        Cow::Owned(changed) => Some(changed),
        Cow::Borrowed(_) => None,
    };
    changed.unwrap_or(desired)
}

/// `desired`, with every StatefulSet that differs from its live one only in
/// `bootstrap.dcs` set back to the live `SPILO_CONFIGURATION` and hash.
pub fn keep_live_dynamic_settings<'a>(
    desired: &'a Desired,
    observed: &Observed,
) -> Cow<'a, Desired> {
    if observed.patroni.is_empty() {
        return Cow::Borrowed(desired);
    }
    let mut changed: Option<Desired> = None;
    let statefulsets = live_statefulsets(observed);
    for (i, m) in desired.manifests.iter().enumerate() {
        for (j, object) in m.objects.iter().enumerate() {
            let key = format!("{}/{}", object.namespace, object.name);
            let patroni_known = matches!(
                observed.patroni.get(&key),
                Some(crate::state::PatroniObservation::Known { .. })
            );
            if object.kind != "StatefulSet" || !patroni_known {
                continue;
            }
            let key = (object.namespace.clone(), object.name.clone());
            let Some(live) = statefulsets.get(&key).map(|s| s.value()) else {
                continue;
            };
            let Some((body, hash)) = with_live_dynamic_settings(&object.body.value(), &live) else {
                continue;
            };
            let out = changed.get_or_insert_with(|| desired.clone());
            out.manifests[i].objects[j].body = body.into();
            out.manifests[i].pod_template_hash = Some(hash);
        }
    }
    match changed {
        Some(d) => Cow::Owned(d),
        None => Cow::Borrowed(desired),
    }
}

/// The live StatefulSets the run saw, by (namespace, name).
pub fn live_statefulsets(observed: &Observed) -> BTreeMap<(String, String), &CompactJson> {
    crate::state::by_name(&observed.objects, "StatefulSet")
}

/// The postgres container's `SPILO_CONFIGURATION` in a StatefulSet, parsed.
pub fn spilo_configuration(sts: &Value) -> Option<Value> {
    let pointer = spilo_configuration_pointer(sts)?;
    serde_json::from_str(sts.pointer(&pointer)?.as_str()?).ok()
}

/// The postgres container's `SPILO_CONFIGURATION` in a StatefulSet (or its pointer).
fn spilo_configuration_pointer(sts: &Value) -> Option<String> {
    let containers = sts.pointer("/spec/template/spec/containers")?.as_array()?;
    let (ci, c) = containers
        .iter()
        .enumerate()
        .find(|(_, c)| c.get("name").and_then(Value::as_str) == Some("postgres"))?;
    let env = c.get("env")?.as_array()?;
    let ei = env
        .iter()
        .position(|e| e.get("name").and_then(Value::as_str) == Some(ENV_NAME))?;
    Some(format!(
        "/spec/template/spec/containers/{ci}/env/{ei}/value"
    ))
}

fn without_dcs(configuration: &str) -> Option<Value> {
    let mut v: Value = serde_json::from_str(configuration).ok()?;
    if let Some(bootstrap) = v.get_mut("bootstrap").and_then(Value::as_object_mut) {
        bootstrap.remove("dcs");
    }
    Some(v)
}

/// The desired body with the live `SPILO_CONFIGURATION`, and its hash, when that makes its pod
/// template the live one's; None when they differ elsewhere too (or only there trivially).
fn with_live_dynamic_settings(desired: &Value, live: &Value) -> Option<(Value, String)> {
    let desired_at = spilo_configuration_pointer(desired)?;
    let live_at = spilo_configuration_pointer(live)?;
    let want = desired.pointer(&desired_at)?.as_str()?;
    let have = live.pointer(&live_at)?.as_str()?;
    if want == have || without_dcs(want)? != without_dcs(have)? {
        return None;
    }
    let live_hash = live
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(POD_TEMPLATE_HASH))
        .and_then(Value::as_str)?;
    let mut body = desired.clone();
    *body.pointer_mut(&desired_at)? = Value::String(have.to_string());
    let template: PodTemplateSpec =
        serde_json::from_value(body.pointer("/spec/template")?.clone()).ok()?;
    let hash = pod_template_hash(&template);
    if hash != live_hash {
        return None; // the template differs elsewhere too: the new one goes out whole
    }
    *body
        .pointer_mut("/metadata/annotations")?
        .get_mut(POD_TEMPLATE_HASH)? = Value::String(hash.clone());
    Some((body, hash))
}
