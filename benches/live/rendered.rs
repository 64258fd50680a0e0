//! `kubectl apply --server-side` of the objects the reconciler renders for N clusters (the
//! library's `render`, as `postgres-reconciler render -o yaml` prints them), in namespaces of
//! their own. Volume claims are left out (their StatefulSet makes them); credential Secrets get
//! a password, as the reconciler gives them one when it creates them.

use super::env::Env;
use super::kubectl;
use super::manifests::clusters;
use postgres_reconciler::config::Config;
use postgres_reconciler::observe::files::{Loaded, parse_documents};
use postgres_reconciler::render::{self, ApplyPolicy};
use std::path::Path;
use std::time::Duration;

pub fn kubectl_apply(env: &Env, config: &Config, n: usize, work: &Path) -> (Duration, usize) {
    let yaml = super::manifests::yaml(&clusters(super::setup::KUBECTL_PREFIX, n), None);
    let mut loaded = Loaded::default();
    parse_documents(&yaml, "bench", "default", &mut loaded);
    let desired = render::render(&loaded.manifests, config);
    assert!(
        desired.invalid.is_empty(),
        "invalid bench manifests: {:?}",
        desired.invalid
    );
    let mut out = String::new();
    let mut count = 0;
    let objects = desired
        .manifests
        .iter()
        .flat_map(|m| &m.objects)
        .chain(&desired.shared)
        .filter(|o| o.policy != ApplyPolicy::UpdateOnly);
    for object in objects {
        let mut body = object.body.value();
        if object.policy == ApplyPolicy::CreateOnly
            && let Some(data) = body.get_mut("data").and_then(|d| d.as_object_mut())
        {
            // base64 of a 64-character password.
            data.insert("password".into(), "YmVuY2g".repeat(12).into());
        }
        out += "---\n";
        out += &serde_yaml::to_string(&body).expect("yaml");
        count += 1;
    }
    let path = work.join("kubectl-objects.yaml");
    let took = kubectl::apply_text(env, &path, &out);
    // Gone before the reconciler's runs, so it does not slow them down.
    let namespaces: Vec<String> = (0..super::manifests::NAMESPACES)
        .map(|i| super::manifests::namespace(super::setup::KUBECTL_PREFIX, i))
        .collect();
    let mut args = vec!["delete", "namespace", "--wait=true", "--timeout=600s"];
    args.extend(namespaces.iter().map(String::as_str));
    kubectl::run(env, &args);
    (took, count)
}
