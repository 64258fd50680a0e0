//! A new cluster that clones a running one needs that cluster: without it Spilo's
//! `pg_basebackup` fails and the pods restart until someone notices. Such a manifest is refused
//! here, by field, before anything of it is planned. Only new clusters: a running clone never
//! reads `clone` again.

use super::build::Observed;
use crate::render::{Desired, DesiredManifest, ManifestRef};
use crate::validate::{FieldError, Invalid};
use serde_json::Value;

/// Moves each new clone whose source is neither a manifest nor a Service in its namespace
/// from `desired.manifests` to `desired.invalid`.
pub fn refuse_missing_clone_sources(desired: &mut Desired, observed: &Observed) {
    let exists = |kind: &str, namespace: &str, name: &str| {
        observed
            .objects
            .iter()
            .chain(&observed.adoptable)
            .any(|o| is(o, kind, namespace, name))
    };
    let manifests: Vec<ManifestRef> = observed
        .manifests
        .iter()
        .chain(desired.manifests.iter().map(|m| &m.manifest))
        .cloned()
        .collect();
    let (keep, refuse): (Vec<DesiredManifest>, Vec<DesiredManifest>) =
        std::mem::take(&mut desired.manifests)
            .into_iter()
            .partition(|m| {
                let Some(source) = &m.clone_from else {
                    return true;
                };
                let ns = &m.manifest.namespace;
                exists("StatefulSet", ns, &m.manifest.name)
                    || exists("Service", ns, source)
                    || manifests
                        .iter()
                        .any(|r| r.kind == "postgresql" && r.namespace == *ns && r.name == *source)
            });
    desired.manifests = keep;
    for m in refuse {
        let source = m.clone_from.unwrap_or_default();
        let ns = &m.manifest.namespace;
        desired.invalid.push(Invalid {
            manifest: m.manifest.to_string(),
            errors: vec![FieldError {
                path: "spec.clone.cluster".into(),
                message: format!(
                    "no cluster {source} in namespace {ns} to clone from (no postgresql manifest, no Service {source}): its pods would restart until there is one; create {source} first, or give spec.clone.timestamp to restore from its archive"
                ),
            }],
        });
    }
}

fn is(o: &Value, kind: &str, namespace: &str, name: &str) -> bool {
    o["kind"] == kind && o["metadata"]["namespace"] == namespace && o["metadata"]["name"] == name
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
        refuse_missing_clone_sources(&mut desired, &Observed::default());
        assert!(desired.manifests.is_empty());
        let message = desired.invalid[0].to_string();
        assert!(
            message.contains("spec.clone.cluster: no cluster acid-gone in namespace ns"),
            "{message}"
        );
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
                adoptable: vec![service],
                ..Observed::default()
            },
            Observed {
                objects: vec![running],
                ..Observed::default()
            },
            Observed {
                manifests: vec![manifest],
                ..Observed::default()
            },
        ] {
            let mut desired = crate::render::render(&[clone_of("acid-src")], &Config::default());
            refuse_missing_clone_sources(&mut desired, &observed);
            assert_eq!(desired.manifests.len(), 1, "{:?}", desired.invalid);
        }
    }
}
