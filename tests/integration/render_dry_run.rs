//! The rendered objects are real Kubernetes objects: the apiserver accepts every one of them
//! (server-side apply, dry run), and our CRDs accept every valid fixture manifest.

use crate::support::TestNamespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use postgres_reconciler::config::Config;
use postgres_reconciler::observe::files::{Loaded, parse_documents};
use postgres_reconciler::render::{self, ApplyPolicy, Manifest};
use std::path::PathBuf;
use std::time::Duration;

fn valid_fixtures() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/manifests/valid");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .collect();
    files.sort();
    files
}

/// Every fixture's manifests, moved into `namespace`.
fn manifests_in(namespace: &str) -> Vec<(PathBuf, Vec<Manifest>)> {
    valid_fixtures()
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read fixture");
            let mut loaded = Loaded::default();
            parse_documents(&text, &path.display().to_string(), namespace, &mut loaded);
            assert!(
                loaded.invalid.is_empty(),
                "{}: {:?}",
                path.display(),
                loaded.invalid
            );
            let manifests = loaded
                .manifests
                .into_iter()
                .map(|mut m| {
                    match &mut m {
                        Manifest::Postgresql(pg) => pg.metadata.namespace = Some(namespace.into()),
                        Manifest::Config(c) => c.metadata.namespace = Some(namespace.into()),
                    }
                    m
                })
                .collect();
            (path, manifests)
        })
        .collect()
}

fn dynamic_api(
    client: &kube::Client,
    namespace: &str,
    api_version: &str,
    kind: &str,
) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let gvk = GroupVersionKind::gvk(group, version, kind);
    let plural = match kind {
        "postgresql" => "postgresqls".to_string(),
        "PostgreSQLConfig" => "postgresqlconfigs".to_string(),
        "Endpoints" => "endpoints".to_string(),
        _ => format!("{}s", kind.to_lowercase()),
    };
    let resource = ApiResource::from_gvk_with_plural(&gvk, &plural);
    Api::namespaced_with(client.clone(), namespace, &resource)
}

#[tokio::test]
async fn every_rendered_object_is_accepted_by_the_apiserver() {
    let ns = TestNamespace::new("render").await;
    let params = PatchParams::apply("postgres-reconciler").dry_run();
    let mut checked = 0;
    for (path, manifests) in manifests_in(&ns.name) {
        let desired = render::render(&manifests, &Config::default());
        let objects = desired
            .manifests
            .iter()
            .flat_map(|m| m.objects.iter())
            .chain(desired.shared.iter());
        // Claim sizes are only ever applied to claims that exist (their StatefulSet makes
        // them): a dry-run create says nothing about them; the volume test applies them.
        for object in objects.filter(|o| o.policy != ApplyPolicy::UpdateOnly) {
            let api = dynamic_api(&ns.client, &ns.name, &object.api_version, &object.kind);
            api.patch(&object.name, &params, &Patch::Apply(&object.body))
                .await
                .unwrap_or_else(|e| {
                    panic!(
                        "{}: {} {} rejected: {e}",
                        path.display(),
                        object.kind,
                        object.name
                    )
                });
            checked += 1;
        }
    }
    assert!(checked > 50, "only {checked} objects checked");
}

#[tokio::test]
async fn crds_accept_every_valid_fixture() {
    let ns = TestNamespace::new("crds").await;
    crate::support::install_crds(&ns.client).await;
    let params = PatchParams::apply("postgres-reconciler-tests").dry_run();
    for (path, manifests) in manifests_in(&ns.name) {
        for manifest in manifests {
            let (api_version, kind, name, mut body) = match &manifest {
                Manifest::Postgresql(pg) => (
                    "acid.zalan.do/v1",
                    "postgresql",
                    pg.metadata.name.clone(),
                    serde_json::to_value(pg.as_ref()),
                ),
                Manifest::Config(c) => (
                    "containerconf.de/v1",
                    "PostgreSQLConfig",
                    c.metadata.name.clone(),
                    serde_json::to_value(c.as_ref()),
                ),
            };
            let body = body.as_mut().expect("serialize manifest");
            // uid and generation are the server's to set.
            if let Some(meta) = body.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                meta.remove("uid");
                meta.remove("generation");
            }
            let name = name.expect("name");
            let api = dynamic_api(&ns.client, &ns.name, api_version, kind);
            // The apiserver's discovery of a new CRD can lag its Established condition.
            crate::support::eventually(
                Duration::from_secs(30),
                "the CRD to accept the manifest",
                || async {
                    match api.patch(&name, &params, &Patch::Apply(&*body)).await {
                        Ok(_) => Some(()),
                        Err(kube::Error::Api(s)) if s.code == 404 => None,
                        Err(e) => {
                            panic!("{}: {kind} {name} rejected by the CRD: {e}", path.display())
                        }
                    }
                },
            )
            .await;
        }
    }
}
