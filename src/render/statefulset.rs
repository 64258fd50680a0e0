//! The cluster's StatefulSet: Spilo pods, `OnDelete` (the reconciler drives restarts), a `pgdata`
//! claim per pod, and a hash of the pod template for rollout decisions.

use super::meta::{self, POD_TEMPLATE_HASH};
use super::spilo;
use crate::api::Postgresql;
use crate::config::{Config, PodManagementPolicy};
use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, HTTPGetAction, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const CONTAINER: &str = "postgres";
pub const PGDATA: &str = "pgdata";
const PGDATA_MOUNT: &str = "/home/postgres/pgdata";
/// Spilo's postgres user and group; the volume is group-writable for it.
const SPILO_FS_GROUP: i64 = 103;

pub fn statefulset(
    config: &Config,
    pg: &Postgresql,
    secret_of: &dyn Fn(&str) -> String,
) -> StatefulSet {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let selector = meta::selector_labels(config, cluster);
    let mut template = pod_template(config, pg, secret_of, &selector);
    let hash = pod_template_hash(&template);
    template
        .metadata
        .get_or_insert_with(Default::default)
        .annotations
        .get_or_insert_with(Default::default)
        .insert(POD_TEMPLATE_HASH.to_string(), hash);

    StatefulSet {
        metadata: meta::cluster_object_meta(config, pg, cluster, &BTreeMap::new(), true),
        spec: Some(StatefulSetSpec {
            replicas: Some(pg.spec.number_of_instances),
            service_name: Some(cluster.to_string()),
            selector: LabelSelector {
                match_labels: Some(selector),
                ..Default::default()
            },
            pod_management_policy: Some(
                match config.pod_management_policy {
                    PodManagementPolicy::OrderedReady => "OrderedReady",
                    PodManagementPolicy::Parallel => "Parallel",
                }
                .into(),
            ),
            update_strategy: Some(StatefulSetUpdateStrategy {
                type_: Some("OnDelete".into()),
                rolling_update: None,
            }),
            // Volumes outlive their pods and the StatefulSet: data is deleted only on request.
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some("Retain".into()),
                    when_scaled: Some("Retain".into()),
                },
            ),
            template,
            volume_claim_templates: Some(vec![volume_claim(config, pg)]),
            ..Default::default()
        }),
        status: None,
    }
}

/// The claim template; its labels mark the claims as the cluster's and ours, so they can be
/// listed (and, only when configured, deleted with their cluster).
fn volume_claim(config: &Config, pg: &Postgresql) -> PersistentVolumeClaim {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let mut labels = meta::selector_labels(config, cluster);
    labels.insert(meta::MANAGED_BY.0.into(), meta::MANAGED_BY.1.into());
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(PGDATA.into()),
            labels: Some(labels),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: pg.spec.volume.storage_class.clone(),
            resources: Some(storage_request(pg)),
            ..Default::default()
        }),
        status: None,
    }
}

/// `volume.size` as a claim's storage request.
fn storage_request(pg: &Postgresql) -> VolumeResourceRequirements {
    VolumeResourceRequirements {
        requests: Some(BTreeMap::from([(
            "storage".to_string(),
            Quantity(super::quantity::canonical(&pg.spec.volume.size)),
        )])),
        limits: None,
    }
}

/// The size each instance's claim should have: growing `volume.size` grows the claims in place
/// (a StatefulSet cannot change its claim template; the claims themselves can grow). Only the
/// size: the StatefulSet controller makes the claims, with everything else.
pub fn claim_sizes(pg: &Postgresql) -> Vec<PersistentVolumeClaim> {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    (0..pg.spec.number_of_instances.max(0))
        .map(|i| PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(format!("{PGDATA}-{cluster}-{i}")),
                namespace: pg.metadata.namespace.clone(),
                ..Default::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                resources: Some(storage_request(pg)),
                ..Default::default()
            }),
            status: None,
        })
        .collect()
}

fn pod_template(
    config: &Config,
    pg: &Postgresql,
    secret_of: &dyn Fn(&str) -> String,
    selector: &BTreeMap<String, String>,
) -> PodTemplateSpec {
    let mut labels = selector.clone();
    labels.insert(meta::TEAM_LABEL.into(), pg.spec.team_id.clone());
    let annotations = pg.spec.pod_annotations.clone();
    let image = pg
        .spec
        .docker_image
        .clone()
        .unwrap_or_else(|| config.docker_image.clone());
    let port = |name: &str, port: i32| ContainerPort {
        name: Some(name.into()),
        container_port: port,
        protocol: Some("TCP".into()),
        ..Default::default()
    };
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(config.pod_service_account_name.clone()),
            // Patroni needs time to hand over the master role before the pod goes.
            termination_grace_period_seconds: Some(300),
            security_context: Some(PodSecurityContext {
                fs_group: Some(SPILO_FS_GROUP),
                ..Default::default()
            }),
            tolerations: (!pg.spec.tolerations.is_empty()).then(|| pg.spec.tolerations.clone()),
            containers: vec![Container {
                name: CONTAINER.into(),
                image: Some(image),
                image_pull_policy: Some("IfNotPresent".into()),
                ports: Some(vec![port("postgresql", 5432), port("patroni", 8008)]),
                env: Some(spilo::env(config, pg, secret_of)),
                resources: Some(resources(config, pg)),
                readiness_probe: Some(Probe {
                    http_get: Some(HTTPGetAction {
                        path: Some("/readiness".into()),
                        port: IntOrString::Int(8008),
                        ..Default::default()
                    }),
                    initial_delay_seconds: Some(6),
                    period_seconds: Some(10),
                    timeout_seconds: Some(5),
                    failure_threshold: Some(3),
                    ..Default::default()
                }),
                volume_mounts: Some(vec![
                    VolumeMount {
                        name: PGDATA.into(),
                        mount_path: PGDATA_MOUNT.into(),
                        ..Default::default()
                    },
                    VolumeMount {
                        name: "dshm".into(),
                        mount_path: "/dev/shm".into(),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            }],
            volumes: Some(vec![Volume {
                name: "dshm".into(),
                empty_dir: Some(EmptyDirVolumeSource {
                    medium: Some("Memory".into()),
                    size_limit: None,
                }),
                ..Default::default()
            }]),
            ..Default::default()
        }),
    }
}

/// Manifest resources over the configuration's defaults, value by value.
fn resources(config: &Config, pg: &Postgresql) -> ResourceRequirements {
    let spec = pg.spec.resources.clone().unwrap_or_default();
    let pick = |from: Option<&crate::api::postgresql::ResourceAmounts>, cpu: &str, memory: &str| {
        let cpu = from
            .and_then(|r| r.cpu.clone())
            .unwrap_or_else(|| cpu.to_string());
        let memory = from
            .and_then(|r| r.memory.clone())
            .unwrap_or_else(|| memory.to_string());
        // Spelled as the apiserver stores them: "0.5" and "500m" render (and hash) the same.
        BTreeMap::from([
            (
                "cpu".to_string(),
                Quantity(super::quantity::canonical(&cpu)),
            ),
            (
                "memory".to_string(),
                Quantity(super::quantity::canonical(&memory)),
            ),
        ])
    };
    ResourceRequirements {
        requests: Some(pick(
            spec.requests.as_ref(),
            &config.default_cpu_request,
            &config.default_memory_request,
        )),
        limits: Some(pick(
            spec.limits.as_ref(),
            &config.default_cpu_limit,
            &config.default_memory_limit,
        )),
        ..Default::default()
    }
}

/// SHA-256 of the pod template as rendered (before the hash annotation is added), first 16 hex
/// digits. serde_json writes struct fields in declaration order and maps sorted, so equal
/// templates always hash equally; anything that does not change the template restarts nothing.
pub fn pod_template_hash(template: &PodTemplateSpec) -> String {
    let bytes = serde_json::to_vec(template).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
