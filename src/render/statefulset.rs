//! The cluster's StatefulSet: Spilo pods, `OnDelete` (the reconciler drives restarts), a `pgdata`
//! claim per pod, and a hash of the pod template for rollout decisions.

use super::meta::{self, POD_TEMPLATE_HASH};
use super::pod_environment::SourcedEnv;
use super::spilo;
use crate::api::Postgresql;
use crate::config::{Config, PodManagementPolicy};
use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
    StatefulSetUpdateStrategy,
};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, HTTPGetAction, PersistentVolumeClaim,
    PersistentVolumeClaimSpec, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    SecurityContext, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub const CONTAINER: &str = "postgres";
pub const PGDATA: &str = "pgdata";
pub const PGDATA_MOUNT: &str = "/home/postgres/pgdata";
/// kube2iam's pod annotation, from `kube_iam_role`.
pub const KUBE_IAM_ROLE: &str = "iam.amazonaws.com/role";

pub fn statefulset(
    config: &Config,
    pg: &Postgresql,
    secret_of: &dyn Fn(&str) -> String,
    use_configmaps: bool,
    sourced: &SourcedEnv,
) -> StatefulSet {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let selector = meta::selector_labels(config, cluster);
    let template = pod_template(config, pg, secret_of, use_configmaps, sourced);
    // On the StatefulSet, not in its pod template: the template stays Zalando's to the letter, so
    // adopting a Zalando cluster changes no pod (its StatefulSet's revision stays the same).
    let mut annotations = downscaler_annotations(config, pg);
    annotations.insert(POD_TEMPLATE_HASH.to_string(), pod_template_hash(&template));

    StatefulSet {
        metadata: meta::cluster_object_meta(config, pg, cluster, &annotations, true),
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
            persistent_volume_claim_retention_policy: Some(claim_retention(config)),
            template,
            volume_claim_templates: Some(vec![volume_claim(config, pg)]),
            ..Default::default()
        }),
        status: None,
    }
}

/// The manifest's annotations whose name matches a `downscaler_annotations` expression (a
/// search, as Go's `regexp.MatchString`), for the StatefulSet kube-downscaler scales.
pub fn downscaler_annotations(config: &Config, pg: &Postgresql) -> BTreeMap<String, String> {
    let patterns: Vec<regex::Regex> = config
        .downscaler_annotations
        .iter()
        .filter_map(|p| regex::Regex::new(p).ok())
        .collect();
    pg.metadata
        .annotations
        .iter()
        .flatten()
        .filter(|(k, _)| patterns.iter().any(|p| p.is_match(k)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// `persistent_volume_claim_retention_policy`: claims are kept unless it says `delete`.
fn claim_retention(config: &Config) -> StatefulSetPersistentVolumeClaimRetentionPolicy {
    let policy = |key: &str| {
        let delete = config
            .persistent_volume_claim_retention_policy
            .get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("delete"));
        Some(if delete { "Delete" } else { "Retain" }.to_string())
    };
    StatefulSetPersistentVolumeClaimRetentionPolicy {
        when_deleted: policy("when_deleted"),
        when_scaled: policy("when_scaled"),
    }
}

/// The claim template, exactly as Zalando's (claim templates are immutable: any difference would
/// make adopting a Zalando cluster a StatefulSet replace): the cluster's labels, the team and
/// inherited ones, and no managed-by label (claims are found by the cluster's labels).
fn volume_claim(config: &Config, pg: &Postgresql) -> PersistentVolumeClaim {
    let annotations = meta::inherited_annotations(config, pg);
    let mut labels = meta::object_labels(config, pg);
    labels.remove(meta::MANAGED_BY.0);
    PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some(PGDATA.into()),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            ..Default::default()
        },
        spec: Some(PersistentVolumeClaimSpec {
            access_modes: Some(vec!["ReadWriteOnce".into()]),
            storage_class_name: pg
                .spec
                .volume
                .storage_class
                .clone()
                .filter(|s| !s.is_empty()),
            resources: Some(storage_request(pg)),
            volume_mode: Some("Filesystem".into()),
            selector: pg.spec.volume.selector.clone(),
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

/// The pod template as Zalando's `generatePodTemplate` makes it.
fn pod_template(
    config: &Config,
    pg: &Postgresql,
    secret_of: &dyn Fn(&str) -> String,
    use_configmaps: bool,
    sourced: &SourcedEnv,
) -> PodTemplateSpec {
    let mut labels = meta::object_labels(config, pg);
    labels.remove(meta::MANAGED_BY.0);
    let image = pg
        .spec
        .docker_image
        .clone()
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| config.docker_image.clone());
    let port = |port: i32| ContainerPort {
        container_port: port,
        protocol: Some("TCP".into()),
        ..Default::default()
    };
    let data_mount = VolumeMount {
        name: PGDATA.into(),
        mount_path: PGDATA_MOUNT.into(),
        sub_path: pg
            .spec
            .volume
            .sub_path
            .clone()
            .filter(|p| !p.is_empty() && pg.spec.volume.is_sub_path_expr != Some(true)),
        sub_path_expr: pg
            .spec
            .volume
            .sub_path
            .clone()
            .filter(|p| !p.is_empty() && pg.spec.volume.is_sub_path_expr == Some(true)),
        ..Default::default()
    };
    let postgres = Container {
        name: CONTAINER.into(),
        image: Some(image),
        image_pull_policy: Some("IfNotPresent".into()),
        // Patroni's API, PostgreSQL, and 8080 which Zalando declares too.
        ports: Some(vec![port(8008), port(5432), port(8080)]),
        env: Some(spilo::env(config, pg, secret_of, use_configmaps, sourced)),
        resources: Some(super::resources::postgres_resources(config, pg)),
        readiness_probe: config.enable_readiness_probe.then(readiness_probe),
        volume_mounts: Some(vec![data_mount.clone()]),
        security_context: Some(SecurityContext {
            allow_privilege_escalation: Some(config.spilo_allow_privilege_escalation),
            privileged: Some(config.spilo_privileged),
            read_only_root_filesystem: Some(false),
            capabilities: capabilities(config),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut containers = vec![postgres];
    containers.extend(super::sidecars::sidecars(
        config,
        pg,
        &data_mount,
        &secret_of(spilo::SUPERUSER),
    ));
    let (containers, volumes) = super::pod_volumes::with_volumes(config, pg, containers);
    // The manifest's over the operator's, one by one.
    let security = PodSecurityContext {
        run_as_user: pg.spec.spilo_run_as_user.or(config.spilo_runasuser),
        run_as_group: pg.spec.spilo_run_as_group.or(config.spilo_runasgroup),
        fs_group: pg.spec.spilo_fs_group.or(config.spilo_fsgroup),
        ..Default::default()
    };
    let priority_class = pg
        .spec
        .pod_priority_class_name
        .clone()
        .filter(|p| !p.is_empty())
        .or_else(|| Some(config.pod_priority_class_name.clone()).filter(|p| !p.is_empty()));
    let affinity = super::scheduling::affinity(config, pg, &labels);
    PodTemplateSpec {
        metadata: Some(pod_metadata(config, pg, labels)),
        spec: Some(PodSpec {
            service_account_name: Some(config.pod_service_account_name.clone()),
            // Patroni needs time to hand over the master role before the pod goes.
            termination_grace_period_seconds: Some(config.pod_terminate_grace_period_seconds),
            security_context: Some(security),
            tolerations: super::scheduling::tolerations(config, pg),
            affinity,
            priority_class_name: priority_class,
            scheduler_name: pg.spec.scheduler_name.clone().filter(|s| !s.is_empty()),
            init_containers: (!pg.spec.init_containers.is_empty())
                .then(|| pg.spec.init_containers.clone()),
            containers,
            volumes: (!volumes.is_empty()).then_some(volumes),
            ..Default::default()
        }),
    }
}

/// The metadata of every pod template Zalando makes for a cluster (Spilo's and the logical
/// backup's): `labels`, the cluster's namespace, and the annotations: the inherited ones,
/// `custom_pod_annotations`, the manifest's `podAnnotations`, and the kube2iam role.
pub fn pod_metadata(
    config: &Config,
    pg: &Postgresql,
    labels: BTreeMap<String, String>,
) -> ObjectMeta {
    let mut annotations = meta::inherited_annotations(config, pg);
    annotations.extend(config.custom_pod_annotations.clone());
    annotations.extend(pg.spec.pod_annotations.clone());
    if !config.kube_iam_role.is_empty() {
        annotations.insert(KUBE_IAM_ROLE.into(), config.kube_iam_role.clone());
    }
    ObjectMeta {
        labels: Some(labels),
        namespace: pg.metadata.namespace.clone(),
        annotations: (!annotations.is_empty()).then_some(annotations),
        ..Default::default()
    }
}

/// `additional_pod_capabilities`, upper-cased as Zalando writes them.
fn capabilities(config: &Config) -> Option<Capabilities> {
    let add: Vec<String> = config
        .additional_pod_capabilities
        .iter()
        .map(|c| c.to_uppercase())
        .collect();
    (!add.is_empty()).then_some(Capabilities {
        add: Some(add),
        drop: None,
    })
}

/// Patroni answers 200 on `/readiness` when it holds the leader lock or PostgreSQL runs and the
/// DCS is reachable.
fn readiness_probe() -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some("/readiness".into()),
            port: IntOrString::Int(8008),
            scheme: Some("HTTP".into()),
            ..Default::default()
        }),
        initial_delay_seconds: Some(6),
        period_seconds: Some(10),
        timeout_seconds: Some(5),
        success_threshold: Some(1),
        failure_threshold: Some(3),
        ..Default::default()
    }
}

/// SHA-256 of the pod template as rendered (before the hash annotation is added), first 16 hex
/// digits. serde_json writes struct fields in declaration order and maps sorted, so equal
/// templates always hash equally; anything that does not change the template restarts nothing.
/// The namespace is left out: it is the StatefulSet's own, and moving nothing restarts nothing.
pub fn pod_template_hash(template: &PodTemplateSpec) -> String {
    let mut template = template.clone();
    if let Some(meta) = template.metadata.as_mut() {
        meta.namespace = None;
    }
    let bytes = serde_json::to_vec(&template).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}
