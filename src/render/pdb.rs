//! PodDisruptionBudget `postgres-<cluster>-pdb`: voluntary evictions never take the master while it
//! is the only one (node drains wait for a switchover instead).

use super::meta::{self, ROLE_LABEL};
use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

pub fn pdb_name(config: &Config, cluster: &str) -> String {
    config.pdb_name_format.replace("{cluster}", cluster)
}

pub fn pdb(config: &Config, pg: &Postgresql) -> Option<PodDisruptionBudget> {
    if !config.enable_pod_disruption_budget {
        return None;
    }
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let mut selector = meta::selector_labels(config, cluster);
    selector.insert(ROLE_LABEL.into(), "master".into());
    // A cluster scaled to zero has no master to protect; minAvailable 1 would block drains forever.
    let min_available = if pg.spec.number_of_instances > 0 {
        1
    } else {
        0
    };
    Some(PodDisruptionBudget {
        metadata: meta::cluster_object_meta(
            config,
            pg,
            &pdb_name(config, cluster),
            &BTreeMap::new(),
            true,
        ),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(min_available)),
            selector: Some(LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    })
}
