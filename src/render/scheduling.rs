//! Where the Spilo pods may run, as Zalando's operator decides it (`nodeAffinity`,
//! `podAffinity`, `tolerations` of its `k8sres.go`): the manifest's node affinity with the
//! operator's `node_readiness_label` merged in, pod anti-affinity between a cluster's pods, and
//! the manifest's tolerations or else the operator's `toleration`.

use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm,
    PodAffinityTerm, PodAntiAffinity, Toleration, WeightedPodAffinityTerm,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// `labels` are the pod template's: the anti-affinity term selects the cluster's pods by them.
pub fn affinity(
    config: &Config,
    pg: &Postgresql,
    labels: &BTreeMap<String, String>,
) -> Option<Affinity> {
    let node = node_affinity(config, pg.spec.node_affinity.as_ref());
    if !config.enable_pod_antiaffinity {
        return node.map(|n| Affinity {
            node_affinity: Some(n),
            ..Default::default()
        });
    }
    let term = PodAffinityTerm {
        label_selector: Some(LabelSelector {
            match_labels: Some(labels.clone()),
            ..Default::default()
        }),
        topology_key: config.pod_antiaffinity_topology_key.clone(),
        ..Default::default()
    };
    let anti = if config.pod_antiaffinity_preferred_during_scheduling {
        PodAntiAffinity {
            preferred_during_scheduling_ignored_during_execution: Some(vec![
                WeightedPodAffinityTerm {
                    weight: 1,
                    pod_affinity_term: term,
                },
            ]),
            ..Default::default()
        }
    } else {
        PodAntiAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![term]),
            ..Default::default()
        }
    };
    Some(Affinity {
        node_affinity: node,
        pod_anti_affinity: Some(anti),
        ..Default::default()
    })
}

/// Only the readiness labels' required term (the logical backup pods'), if any are configured.
pub fn readiness_affinity(config: &Config) -> Option<NodeAffinity> {
    node_affinity(config, None)
}

/// The manifest's node affinity, and the readiness labels as one more required term (`OR`) or
/// added to every term (`AND`). Zalando's map order is Go's (random); ours is by label.
fn node_affinity(config: &Config, manifest: Option<&NodeAffinity>) -> Option<NodeAffinity> {
    let readiness = &config.node_readiness_label;
    if readiness.is_empty() {
        return manifest.cloned();
    }
    let mut affinity = manifest.cloned().unwrap_or_default();
    let expressions: Vec<NodeSelectorRequirement> = readiness
        .iter()
        .map(|(key, value)| NodeSelectorRequirement {
            key: key.clone(),
            operator: "In".into(),
            values: Some(vec![value.clone()]),
        })
        .collect();
    let term = NodeSelectorTerm {
        match_expressions: Some(expressions.clone()),
        match_fields: None,
    };
    match affinity
        .required_during_scheduling_ignored_during_execution
        .as_mut()
    {
        None => {
            affinity.required_during_scheduling_ignored_during_execution = Some(NodeSelector {
                node_selector_terms: vec![term],
            });
        }
        Some(required) if config.node_readiness_label_merge == "AND" => {
            for t in &mut required.node_selector_terms {
                // Zalando rebuilds each term from its expressions: its matchFields go.
                let mut all = t.match_expressions.take().unwrap_or_default();
                all.extend(expressions.iter().cloned());
                *t = NodeSelectorTerm {
                    match_expressions: Some(all),
                    match_fields: None,
                };
            }
        }
        Some(required) => required.node_selector_terms.push(term),
    }
    Some(affinity)
}

/// The manifest's tolerations win; else the operator's one `toleration`, if it has a field.
pub fn tolerations(config: &Config, pg: &Postgresql) -> Option<Vec<Toleration>> {
    if !pg.spec.tolerations.is_empty() {
        return Some(pg.spec.tolerations.clone());
    }
    let field = |k: &str| config.toleration.get(k).filter(|v| !v.is_empty()).cloned();
    let toleration = Toleration {
        key: field("key"),
        operator: field("operator"),
        value: field("value"),
        effect: field("effect"),
        toleration_seconds: None,
    };
    (toleration != Toleration::default()).then(|| vec![toleration])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster(spec: serde_json::Value) -> Postgresql {
        let mut base = json!({"teamId": "acid", "numberOfInstances": 2, "volume": {"size": "1Gi"},
            "postgresql": {"version": "17"}});
        base.as_object_mut()
            .unwrap()
            .extend(spec.as_object().unwrap().clone());
        serde_json::from_value(
            json!({"apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": "acid-a", "namespace": "ns"}, "spec": base}),
        )
        .expect("manifest")
    }

    fn as_json<T: serde::Serialize>(v: &T) -> serde_json::Value {
        serde_json::to_value(v).unwrap()
    }

    #[test]
    fn readiness_labels_join_the_manifests_terms_as_zalando_merges_them() {
        let pg = cluster(
            json!({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution":
            {"nodeSelectorTerms": [{"matchExpressions": [{"key": "type", "operator": "In", "values": ["kwok"]}]}]}}}),
        );
        let mut config = Config {
            node_readiness_label: [("ready".to_string(), "true".to_string())].into(),
            ..Config::default()
        };
        let or = as_json(&affinity(&config, &pg, &BTreeMap::new()).unwrap());
        let terms = &or["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
        assert_eq!(terms.as_array().unwrap().len(), 2, "{or}");
        assert_eq!(terms[1]["matchExpressions"][0]["key"], "ready");
        config.node_readiness_label_merge = "AND".into();
        let and = as_json(&affinity(&config, &pg, &BTreeMap::new()).unwrap());
        let terms = &and["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
        assert_eq!(terms.as_array().unwrap().len(), 1, "{and}");
        assert_eq!(terms[0]["matchExpressions"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn anti_affinity_keeps_a_clusters_pods_apart_required_or_preferred() {
        let labels = BTreeMap::from([("cluster-name".to_string(), "acid-a".to_string())]);
        let mut config = Config {
            enable_pod_antiaffinity: true,
            ..Config::default()
        };
        let required = as_json(&affinity(&config, &cluster(json!({})), &labels).unwrap());
        let term =
            &required["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
        assert_eq!(term["topologyKey"], "kubernetes.io/hostname");
        assert_eq!(
            term["labelSelector"]["matchLabels"]["cluster-name"],
            "acid-a"
        );
        config.pod_antiaffinity_preferred_during_scheduling = true;
        let preferred = as_json(&affinity(&config, &cluster(json!({})), &labels).unwrap());
        assert_eq!(
            preferred["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]["weight"],
            1
        );
        assert!(affinity(&Config::default(), &cluster(json!({})), &labels).is_none());
    }

    #[test]
    fn the_manifests_tolerations_win_over_the_operators() {
        let config = Config {
            toleration: [
                ("key".to_string(), "postgres".to_string()),
                ("operator".to_string(), "Exists".to_string()),
                ("effect".to_string(), "NoSchedule".to_string()),
            ]
            .into(),
            ..Config::default()
        };
        let theirs = tolerations(&config, &cluster(json!({}))).unwrap();
        assert_eq!(
            as_json(&theirs),
            json!([{"key": "postgres", "operator": "Exists", "effect": "NoSchedule"}])
        );
        let mine = tolerations(
            &config,
            &cluster(json!({"tolerations": [{"key": "mine", "operator": "Exists"}]})),
        );
        assert_eq!(
            as_json(&mine),
            json!([{"key": "mine", "operator": "Exists"}])
        );
        assert!(tolerations(&Config::default(), &cluster(json!({}))).is_none());
    }
}
