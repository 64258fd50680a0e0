//! A new cluster whose data comes from a running one needs that cluster: without it Spilo's
//! `pg_basebackup` fails (a clone) or never starts streaming (a standby), and the pods restart
//! or wait until someone notices. Such a manifest is refused here, by field, before anything of
//! it is planned. Only new clusters: a running one never reads `clone` again. A standby's source
//! is judged only when its host is a Service of the standby's own namespace (a host elsewhere
//! may be outside what this run sees).

use crate::render::{Desired, DesiredManifest, ManifestRef};
use crate::state::Observed;
use crate::validate::{FieldError, Invalid};
use std::collections::BTreeSet;

/// Moves each new clone or standby whose source is neither a manifest nor a Service in its
/// namespace from `desired.manifests` to `desired.invalid`.
pub fn refuse_missing_sources(desired: &mut Desired, observed: &Observed) {
    // The live objects' identities, read once when the first clone or standby needs them.
    let live = std::cell::OnceCell::new();
    let exists = |kind: &str, namespace: &str, name: &str| {
        let live: &BTreeSet<(String, String, String)> = live.get_or_init(|| {
            observed
                .objects
                .iter()
                .chain(&observed.adoptable)
                .map(|o| {
                    let head = o.head();
                    (head.kind, head.metadata.namespace, head.metadata.name)
                })
                .collect()
        });
        live.contains(&(kind.to_string(), namespace.to_string(), name.to_string()))
    };
    let manifests: Vec<ManifestRef> = observed
        .manifests
        .iter()
        .chain(desired.manifests.iter().map(|m| &m.manifest))
        .cloned()
        .collect();
    let missing = |m: &DesiredManifest| -> Option<FieldError> {
        let ns = &m.manifest.namespace;
        if m.clone_from.is_none() && m.standby_of.is_none() {
            return None;
        }
        if exists("StatefulSet", ns, &m.manifest.name) {
            return None;
        }
        let there = |source: &str| {
            exists("Service", ns, source)
                || manifests
                    .iter()
                    .any(|r| r.kind == "postgresql" && r.namespace == *ns && r.name == source)
        };
        if let Some(source) = m.clone_from.as_deref().filter(|s| !there(s)) {
            return Some(FieldError {
                path: "spec.clone.cluster".into(),
                message: format!(
                    "no cluster {source} in namespace {ns} to clone from (no postgresql manifest, no Service {source}): its pods would restart until there is one; create {source} first, or give spec.clone.timestamp to restore from its archive"
                ),
            });
        }
        if let Some(source) = m.standby_of.as_deref().filter(|s| !there(s)) {
            return Some(FieldError {
                path: "spec.standby.standby_host".into(),
                message: format!(
                    "no cluster {source} in namespace {ns} to stream from (no postgresql manifest, no Service {source}): the standby would wait for it; create {source} first"
                ),
            });
        }
        None
    };
    let mut keep = Vec::new();
    for m in std::mem::take(&mut desired.manifests) {
        match missing(&m) {
            None => keep.push(m),
            Some(error) => desired.invalid.push(Invalid {
                manifest: m.manifest.to_string(),
                errors: vec![error],
            }),
        }
    }
    desired.manifests = keep;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::render::Manifest;
    use serde_json::json;

    fn clone_of(source: &str) -> Manifest {
        let pg: crate::api::Postgresql = serde_json::from_value(json!({
            "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
            "metadata": {"name": "acid-copy", "namespace": "ns"},
            "spec": {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
                "postgresql": {"version": "17"}, "clone": {"cluster": source}}
        }))
        .expect("manifest");
        Manifest::Postgresql(Box::new(pg))
    }

    #[test]
    fn a_new_clone_of_a_cluster_that_is_not_there_is_refused_by_field() {
        let mut desired = crate::render::render(&[clone_of("acid-gone")], &Config::default());
        refuse_missing_sources(&mut desired, &Observed::default());
        assert!(desired.manifests.is_empty());
        let message = desired.invalid[0].to_string();
        assert!(
            message.contains("spec.clone.cluster: no cluster acid-gone in namespace ns"),
            "{message}"
        );
    }

    #[test]
    fn a_new_standby_of_a_cluster_of_its_namespace_that_is_not_there_is_refused() {
        let standby = |host: &str| {
            let pg: crate::api::Postgresql = serde_json::from_value(json!({
                "apiVersion": "acid.zalan.do/v1", "kind": "postgresql",
                "metadata": {"name": "acid-standby", "namespace": "ns"},
                "spec": {"teamId": "acid", "numberOfInstances": 1, "volume": {"size": "1Gi"},
                    "postgresql": {"version": "17"}, "standby": {"standby_host": host}}
            }))
            .expect("manifest");
            Manifest::Postgresql(Box::new(pg))
        };
        for host in [
            "acid-gone",
            "acid-gone.ns",
            "acid-gone.ns.svc.cluster.local",
        ] {
            let mut desired = crate::render::render(&[standby(host)], &Config::default());
            refuse_missing_sources(&mut desired, &Observed::default());
            assert!(
                desired.invalid[0]
                    .to_string()
                    .contains("spec.standby.standby_host: no cluster acid-gone in namespace ns"),
                "{host}: {:?}",
                desired.invalid
            );
        }
        // Elsewhere or outside the cluster: not judged.
        for host in ["acid-gone.other", "db.example.com", "10.0.0.7"] {
            let mut desired = crate::render::render(&[standby(host)], &Config::default());
            refuse_missing_sources(&mut desired, &Observed::default());
            assert!(desired.invalid.is_empty(), "{host}: {:?}", desired.invalid);
        }
    }

    #[test]
    fn a_source_seen_as_a_manifest_or_a_service_or_a_running_clone_is_fine() {
        let service =
            json!({"kind": "Service", "metadata": {"namespace": "ns", "name": "acid-src"}});
        let running =
            json!({"kind": "StatefulSet", "metadata": {"namespace": "ns", "name": "acid-copy"}});
        let manifest = ManifestRef {
            kind: "postgresql".into(),
            namespace: "ns".into(),
            name: "acid-src".into(),
            uid: None,
            generation: None,
        };
        for observed in [
            Observed {
                adoptable: vec![service.into()],
                ..Observed::default()
            },
            Observed {
                objects: vec![running.into()],
                ..Observed::default()
            },
            Observed {
                manifests: vec![manifest],
                ..Observed::default()
            },
        ] {
            let mut desired = crate::render::render(&[clone_of("acid-src")], &Config::default());
            refuse_missing_sources(&mut desired, &observed);
            assert_eq!(desired.manifests.len(), 1, "{:?}", desired.invalid);
        }
    }
}
