//! PodDisruptionBudgets, as Zalando's operator makes them: `postgres-<cluster>-pdb` keeps the
//! master (voluntary evictions wait for a switchover), `postgres-<cluster>-critical-op-pdb` keeps
//! every pod that Patroni labels `critical-operation: "true"` (during a major upgrade). Disabled
//! or scaled to zero, their budgets are 0 rather than absent, as Zalando's.

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

pub fn critical_op_pdb_name(cluster: &str) -> String {
    format!("postgres-{cluster}-critical-op-pdb")
}

fn budget(
    config: &Config,
    pg: &Postgresql,
    name: &str,
    min_available: i32,
    selector: BTreeMap<String, String>,
) -> PodDisruptionBudget {
    let active = config.enable_pod_disruption_budget && pg.spec.number_of_instances > 0;
    PodDisruptionBudget {
        metadata: meta::cluster_object_meta(config, pg, name, &BTreeMap::new(), true),
        spec: Some(PodDisruptionBudgetSpec {
            min_available: Some(IntOrString::Int(if active { min_available } else { 0 })),
            selector: Some(LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            }),
            ..Default::default()
        }),
        status: None,
    }
}

pub fn pdbs(config: &Config, pg: &Postgresql) -> Vec<PodDisruptionBudget> {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let mut master = meta::selector_labels(config, cluster);
    if config.pdb_master_label_selector {
        master.insert(ROLE_LABEL.into(), "master".into());
    }
    let mut critical = meta::selector_labels(config, cluster);
    critical.insert("critical-operation".into(), "true".into());
    vec![
        budget(config, pg, &pdb_name(config, cluster), 1, master),
        budget(
            config,
            pg,
            &critical_op_pdb_name(cluster),
            pg.spec.number_of_instances,
            critical,
        ),
    ]
}
