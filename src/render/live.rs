//! What a render must keep from the running clusters: the DCS mode each cluster's Patroni runs
//! with. Switching a running cluster between Endpoints and ConfigMaps splits its brain (pods
//! rolled to the new mode look for a leader lock where there is none), so a cluster keeps the
//! mode of its live StatefulSet until the user migrates it on purpose; only new clusters take
//! `kubernetes_use_configmaps`.

use crate::state::CompactJson;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveFacts {
    /// (namespace, cluster) → the live pods use ConfigMaps (true) or Endpoints (false).
    pub uses_configmaps: BTreeMap<(String, String), bool>,
    /// What `pod_environment_configmap` and `pod_environment_secret` hold.
    pub pod_environment: super::pod_environment::PodEnvironmentSources,
}

impl LiveFacts {
    /// From live objects (ours and others'): each StatefulSet's Spilo environment tells.
    pub fn from_objects<'a>(objects: impl IntoIterator<Item = &'a CompactJson>) -> LiveFacts {
        let mut facts = LiveFacts::default();
        for o in objects {
            if o.head().kind != "StatefulSet" {
                continue;
            }
            let o = &o.value();
            let (Some(ns), Some(name)) = (
                o.pointer("/metadata/namespace").and_then(Value::as_str),
                o.pointer("/metadata/name").and_then(Value::as_str),
            ) else {
                continue;
            };
            let Some(containers) = o
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
            else {
                continue;
            };
            let env: Vec<&Value> = containers
                .iter()
                .filter(|c| c["name"] == super::statefulset::CONTAINER)
                .filter_map(|c| c["env"].as_array())
                .flatten()
                .collect();
            let var = |n: &str| env.iter().find(|e| e["name"] == n).map(|e| &e["value"]);
            // A Patroni on etcd (or not on Kubernetes at all) has no mode to keep.
            if var("DCS_ENABLE_KUBERNETES_API").is_none() {
                continue;
            }
            let configmaps = var("KUBERNETES_USE_CONFIGMAPS")
                .and_then(Value::as_str)
                .is_some_and(|v| v.eq_ignore_ascii_case("true"));
            facts
                .uses_configmaps
                .insert((ns.to_string(), name.to_string()), configmaps);
        }
        facts
    }

    pub fn configmaps(&self, namespace: &str, cluster: &str, default: bool) -> bool {
        self.uses_configmaps
            .get(&(namespace.to_string(), cluster.to_string()))
            .copied()
            .unwrap_or(default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sts(env: Value) -> CompactJson {
        CompactJson::from(
            json!({"kind": "StatefulSet", "metadata": {"namespace": "ns", "name": "a"},
            "spec": {"template": {"spec": {"containers": [{"name": "postgres", "env": env}]}}}}),
        )
    }

    #[test]
    fn the_live_statefulset_tells_the_mode() {
        let endpoints = sts(json!([{"name": "DCS_ENABLE_KUBERNETES_API", "value": "true"}]));
        let f = LiveFacts::from_objects([&endpoints]);
        assert!(
            !f.configmaps("ns", "a", true),
            "Endpoints kept over the default"
        );
        let cm = sts(
            json!([{"name": "DCS_ENABLE_KUBERNETES_API", "value": "true"},
            {"name": "KUBERNETES_USE_CONFIGMAPS", "value": "true"}]),
        );
        let f = LiveFacts::from_objects([&cm]);
        assert!(f.configmaps("ns", "a", false));
        assert!(
            f.configmaps("ns", "new", true),
            "new clusters take the default"
        );
    }
}
