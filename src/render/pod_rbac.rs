//! The ServiceAccount and RoleBinding Spilo pods run with, one set per namespace, as Zalando's
//! operator makes them: the binding grants the ClusterRole `postgres-pod` (installed by the chart,
//! as by Zalando's manifests), which covers both of Patroni's DCS modes (ConfigMaps or Endpoints),
//! its pod labels and the `-config` Service it creates in Endpoints mode.

use super::meta::MANAGED_BY;
use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// Owned by every cluster in the namespace (none a controller), so the garbage collector
/// removes them with the last cluster.
fn meta(config: &Config, namespace: &str, clusters: &[&Postgresql]) -> ObjectMeta {
    let owners: Vec<_> = clusters
        .iter()
        .filter_map(|pg| super::meta::owner_reference(pg))
        .map(|mut r| {
            r.controller = Some(false);
            r.block_owner_deletion = None;
            r
        })
        .collect();
    // Only our ownership label: Zalando's carry none, and they belong to no one cluster.
    let labels = BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())]);
    ObjectMeta {
        name: Some(config.pod_service_account_name.clone()),
        namespace: Some(namespace.to_string()),
        labels: Some(labels),
        owner_references: (!owners.is_empty()).then_some(owners),
        ..Default::default()
    }
}

pub fn service_account(
    config: &Config,
    namespace: &str,
    clusters: &[&Postgresql],
) -> ServiceAccount {
    ServiceAccount {
        metadata: meta(config, namespace, clusters),
        ..Default::default()
    }
}

pub fn role_binding(config: &Config, namespace: &str, clusters: &[&Postgresql]) -> RoleBinding {
    RoleBinding {
        metadata: meta(config, namespace, clusters),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "ClusterRole".into(),
            name: config.pod_cluster_role_name.clone(),
        },
        // Without a namespace, as Zalando writes it: RBAC takes the binding's own, and an
        // adopted binding keeps the value its manager set.
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: config.pod_service_account_name.clone(),
            ..Default::default()
        }]),
    }
}
