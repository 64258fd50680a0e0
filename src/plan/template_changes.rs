//! What changed in a pod's spec, in words a reviewer reads: "image a → b", "container exporter
//! added", "env WAL_S3_BUCKET changed", "volume certs added". Used for the StatefulSet's update
//! (template against template) and for each pod restart (the pod against the template it should
//! have). Variable values are never shown: they may be credentials.

use serde_json::Value;
use std::collections::BTreeSet;

/// How much of the spec to compare: a live pod carries what admission added (default
/// tolerations, the service account token volume), so against a pod only the containers and
/// the volumes by name count, and only the fields the pod shows (an observation may leave
/// some out: then they are not known to differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Templates,
    PodToTemplate,
}

/// The changes from `before` to `after`, both pod specs; empty when none is recognized.
pub fn template_changes(before: &Value, after: &Value, compare: Compare) -> Vec<String> {
    let mut out = Vec::new();
    for (list, what) in [
        ("containers", "container"),
        ("initContainers", "init container"),
    ] {
        containers(&before[list], &after[list], what, compare, &mut out);
    }
    let volumes = |spec: &Value| -> BTreeSet<String> {
        names(&spec["volumes"])
            .into_iter()
            .filter(|n| !n.starts_with("kube-api-access-"))
            .collect()
    };
    if compare == Compare::Templates || before.get("volumes").is_some() {
        added_removed(&volumes(before), &volumes(after), "volume", &mut out);
    }
    if compare == Compare::Templates {
        for field in [
            "affinity",
            "tolerations",
            "topologySpreadConstraints",
            "priorityClassName",
            "schedulerName",
            "securityContext",
            "serviceAccountName",
            "terminationGracePeriodSeconds",
        ] {
            if before.get(field) != after.get(field) {
                out.push(format!("{field} changed"));
            }
        }
    }
    out
}

fn containers(before: &Value, after: &Value, what: &str, compare: Compare, out: &mut Vec<String>) {
    let (b, a) = (names(before), names(after));
    added_removed(&b, &a, what, out);
    for name in b.intersection(&a) {
        let (x, y) = (by_name(before, name), by_name(after, name));
        let shown = |field: &str| compare == Compare::Templates || x.get(field).is_some();
        if x["image"] != y["image"] {
            out.push(format!(
                "image of {name}: {} → {}",
                x["image"].as_str().unwrap_or("none"),
                y["image"].as_str().unwrap_or("none")
            ));
        }
        let env = |c: &Value| -> Vec<(String, Value)> {
            c["env"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| {
                    let mut rest = e.clone();
                    let name = rest.as_object_mut()?.remove("name")?;
                    Some((name.as_str()?.to_string(), rest))
                })
                .collect()
        };
        let (ex, ey) = if shown("env") {
            (env(x), env(y))
        } else {
            (Vec::new(), Vec::new())
        };
        let (nx, ny): (BTreeSet<&String>, BTreeSet<&String>) = (
            ex.iter().map(|e| &e.0).collect(),
            ey.iter().map(|e| &e.0).collect(),
        );
        let listed = |set: Vec<&String>| {
            set.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let added: Vec<&String> = ny.difference(&nx).copied().collect();
        let removed: Vec<&String> = nx.difference(&ny).copied().collect();
        let changed: Vec<&String> = ex
            .iter()
            .filter(|(n, v)| ey.iter().any(|(m, w)| m == n && w != v))
            .map(|(n, _)| n)
            .collect();
        for (list, verb) in [(added, "added"), (removed, "removed"), (changed, "changed")] {
            if !list.is_empty() {
                out.push(format!("{name}: env {} {verb}", listed(list)));
            }
        }
        for (field, words) in [
            ("resources", "resources"),
            ("ports", "ports"),
            ("securityContext", "security context"),
            ("readinessProbe", "readiness probe"),
        ] {
            if shown(field) && x.get(field) != y.get(field) {
                out.push(format!("{name}: {words} changed"));
            }
        }
        if shown("volumeMounts") && own_mounts(x) != own_mounts(y) {
            out.push(format!("{name}: volume mounts changed"));
        }
    }
}

/// A container's mounts but the service account token's, which admission adds to pods.
fn own_mounts(container: &Value) -> Vec<&Value> {
    container["volumeMounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            !m["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("kube-api-access-"))
        })
        .collect()
}

fn added_removed(
    before: &BTreeSet<String>,
    after: &BTreeSet<String>,
    what: &str,
    out: &mut Vec<String>,
) {
    for n in after.difference(before) {
        out.push(format!("{what} {n} added"));
    }
    for n in before.difference(after) {
        out.push(format!("{what} {n} removed"));
    }
}

fn names(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

fn by_name<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .and_then(|l| l.iter().find(|c| c["name"] == name))
        .unwrap_or(&Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn changes_are_said_in_words_without_values() {
        let before = json!({"containers": [{"name": "postgres", "image": "spilo:1",
            "env": [{"name": "SCOPE", "value": "a"}, {"name": "OLD", "value": "x"},
                    {"name": "AWS_SECRET_ACCESS_KEY", "value": "one"}]}],
            "volumes": [{"name": "dshm"}, {"name": "kube-api-access-x1"}],
            "tolerations": [{"key": "node.kubernetes.io/not-ready"}]});
        let after = json!({"containers": [{"name": "postgres", "image": "spilo:2",
            "env": [{"name": "SCOPE", "value": "a"}, {"name": "WAL_S3_BUCKET", "value": "b"},
                    {"name": "AWS_SECRET_ACCESS_KEY", "value": "two"}]},
            {"name": "exporter", "image": "exporter:1"}],
            "volumes": [{"name": "dshm"}, {"name": "certs"}]});
        let pod = template_changes(&before, &after, Compare::PodToTemplate);
        assert_eq!(
            pod,
            [
                "container exporter added",
                "image of postgres: spilo:1 → spilo:2",
                "postgres: env WAL_S3_BUCKET added",
                "postgres: env OLD removed",
                "postgres: env AWS_SECRET_ACCESS_KEY changed",
                "volume certs added",
            ]
        );
        assert!(!pod.join(" ").contains("two"), "no values");
        let templates = template_changes(&before, &after, Compare::Templates);
        assert!(templates.contains(&"tolerations changed".to_string()));
        assert!(template_changes(&after, &after, Compare::Templates).is_empty());
    }
}
