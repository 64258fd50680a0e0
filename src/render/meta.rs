//! Names, labels, annotations and owner references shared by every rendered object.

use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use std::collections::BTreeMap;

pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "postgres-reconciler");
/// Set on pods by Patroni/Spilo, read by the Services' and PDB's selectors.
pub const ROLE_LABEL: &str = "spilo-role";
pub const TEAM_LABEL: &str = "team";
/// StatefulSet annotation: a hash of everything rendered into its pod template, so a rollout
/// is decided by comparing hashes, never by comparing fields against server-defaulted objects.
pub const POD_TEMPLATE_HASH: &str = "postgres-reconciler.io/pod-template-hash";

/// The labels that select a cluster's objects and pods.
pub fn selector_labels(config: &Config, cluster: &str) -> BTreeMap<String, String> {
    let mut labels = config.cluster_labels.clone();
    labels.insert(config.cluster_name_label.clone(), cluster.to_string());
    labels
}

/// Labels on every object of a cluster: the selector, the team, the manager, and labels the
/// configuration says to inherit from the manifest.
pub fn object_labels(config: &Config, pg: &Postgresql) -> BTreeMap<String, String> {
    let name = pg.metadata.name.as_deref().unwrap_or_default();
    let mut labels = inherited(&config.inherited_labels, pg.metadata.labels.as_ref());
    labels.extend(selector_labels(config, name));
    labels.insert(TEAM_LABEL.to_string(), pg.spec.team_id.clone());
    labels.insert(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string());
    labels
}

/// Annotations copied from the manifest because the configuration lists them.
pub fn inherited_annotations(config: &Config, pg: &Postgresql) -> BTreeMap<String, String> {
    inherited(
        &config.inherited_annotations,
        pg.metadata.annotations.as_ref(),
    )
}

fn inherited(keys: &[String], from: Option<&BTreeMap<String, String>>) -> BTreeMap<String, String> {
    let Some(from) = from else {
        return BTreeMap::new();
    };
    keys.iter()
        .filter_map(|k| from.get(k).map(|v| (k.clone(), v.clone())))
        .collect()
}

/// The owner reference that lets the garbage collector remove an object with its manifest, even
/// when no run happens in between. None for a manifest without a UID (read from a file).
pub fn owner_reference(pg: &Postgresql) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: "acid.zalan.do/v1".into(),
        kind: "postgresql".into(),
        name: pg.metadata.name.clone()?,
        uid: pg.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: Some(true),
    })
}

/// Metadata of an object that belongs to one cluster.
pub fn cluster_object_meta(
    config: &Config,
    pg: &Postgresql,
    name: &str,
    extra_annotations: &BTreeMap<String, String>,
    owned: bool,
) -> ObjectMeta {
    let mut annotations = inherited_annotations(config, pg);
    annotations.extend(
        extra_annotations
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: pg.metadata.namespace.clone(),
        labels: Some(object_labels(config, pg)),
        annotations: (!annotations.is_empty()).then_some(annotations),
        owner_references: if owned {
            owner_reference(pg).map(|r| vec![r])
        } else {
            None
        },
        ..Default::default()
    }
}
