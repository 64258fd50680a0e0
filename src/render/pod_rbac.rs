//! The ServiceAccount, Role and RoleBinding Spilo pods run with, one set per namespace: Patroni
//! keeps its leader lock and configuration in ConfigMaps and labels its own pod.

use super::meta::MANAGED_BY;
use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let strings = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    PolicyRule {
        api_groups: Some(strings(groups)),
        resources: Some(strings(resources)),
        verbs: strings(verbs),
        ..Default::default()
    }
}

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
    let mut labels: BTreeMap<String, String> = config.cluster_labels.clone();
    labels.insert(MANAGED_BY.0.into(), MANAGED_BY.1.into());
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

pub fn role(config: &Config, namespace: &str, clusters: &[&Postgresql]) -> Role {
    Role {
        metadata: meta(config, namespace, clusters),
        rules: Some(vec![
            rule(
                &[""],
                &["configmaps"],
                &[
                    "create",
                    "delete",
                    "deletecollection",
                    "get",
                    "list",
                    "patch",
                    "update",
                    "watch",
                ],
            ),
            rule(&[""], &["endpoints"], &["get"]),
            rule(
                &[""],
                &["pods"],
                &["get", "list", "patch", "update", "watch"],
            ),
            rule(&[""], &["services"], &["create"]),
        ]),
    }
}

pub fn role_binding(config: &Config, namespace: &str, clusters: &[&Postgresql]) -> RoleBinding {
    RoleBinding {
        metadata: meta(config, namespace, clusters),
        role_ref: RoleRef {
            api_group: Some("rbac.authorization.k8s.io".into()),
            kind: "Role".into(),
            name: config.pod_service_account_name.clone(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: config.pod_service_account_name.clone(),
            namespace: Some(namespace.to_string()),
            ..Default::default()
        }]),
    }
}
