//! Services `<cluster>` (master) and `<cluster>-repl` (replicas), as Zalando's operator makes
//! them (`generateService`). The replica Service selects `spilo-role: replica`; the master
//! Service selects `spilo-role: master` only when Patroni keeps its state in ConfigMaps: with
//! Endpoints, Patroni itself writes the master Service's Endpoints (they hold its leader lock),
//! and a selector would make the endpoints controller a second writer of them.

use super::meta::{self, ROLE_LABEL};
use crate::api::Postgresql;
use crate::config::Config;
use k8s_openapi::api::core::v1::{Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Master,
    Replica,
}

impl Role {
    pub fn label(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Replica => "replica",
        }
    }

    pub fn service_name(self, cluster: &str) -> String {
        match self {
            Role::Master => cluster.to_string(),
            Role::Replica => format!("{cluster}-repl"),
        }
    }
}

/// A load balancer without `allowedSourceRanges` is locked to loopback, as in Zalando: exposing a
/// database to the internet must be a decision written in the manifest.
const LOCKED_SOURCE_RANGE: &str = "127.0.0.1/32";
const DNS_NAME_ANNOTATION: &str = "external-dns.alpha.kubernetes.io/hostname";
const ELB_TIMEOUT_ANNOTATION: &str =
    "service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout";
const ELB_TIMEOUT: &str = "3600";

pub fn services(config: &Config, pg: &Postgresql, use_configmaps: bool) -> Vec<Service> {
    vec![
        role_service(config, pg, Role::Master, use_configmaps),
        role_service(config, pg, Role::Replica, use_configmaps),
    ]
}

/// The labels of a cluster's object for one role: the object labels plus `spilo-role`.
pub fn role_labels(config: &Config, pg: &Postgresql, role: Role) -> BTreeMap<String, String> {
    let mut labels = meta::object_labels(config, pg);
    labels.insert(ROLE_LABEL.into(), role.label().into());
    labels
}

fn load_balancer(config: &Config, pg: &Postgresql, role: Role) -> bool {
    let spec = &pg.spec;
    // The deprecated switches count only when neither current one is set.
    let current =
        spec.enable_master_load_balancer.is_some() || spec.enable_replica_load_balancer.is_some();
    let (set, deprecated, default) = match role {
        Role::Master => (
            spec.enable_master_load_balancer,
            spec.use_load_balancer,
            config.enable_master_load_balancer,
        ),
        Role::Replica => (
            spec.enable_replica_load_balancer,
            spec.replica_load_balancer,
            config.enable_replica_load_balancer,
        ),
    };
    set.or(if current { None } else { deprecated })
        .unwrap_or(default)
}

/// The external-dns name of `name` (a cluster, or its pooler) for one role, in the configured
/// format.
pub fn dns_name(config: &Config, pg: &Postgresql, role: Role, name: &str) -> String {
    let namespace = pg.metadata.namespace.as_deref().unwrap_or_default();
    let template = match role {
        Role::Master => &config.master_dns_name_format,
        Role::Replica => &config.replica_dns_name_format,
    };
    format_dns(template, name, namespace, &pg.spec.team_id, config)
}

fn format_dns(
    template: &str,
    cluster: &str,
    namespace: &str,
    team: &str,
    config: &Config,
) -> String {
    template
        .replace("{cluster}", cluster)
        .replace("{namespace}", namespace)
        .replace("{team}", team)
        .replace("{hostedzone}", &config.db_hosted_zone)
        .to_lowercase()
}

/// external-dns names of a load balancer: the configured format, and the legacy one when the
/// cluster name starts with its team (`{team}-{name}`), as Zalando writes both.
fn dns_names(config: &Config, pg: &Postgresql, role: Role) -> String {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let team = &pg.spec.team_id;
    let mut names = dns_name(config, pg, role, cluster);
    let legacy = match role {
        Role::Master => "{cluster}.{team}.{hostedzone}",
        Role::Replica => "{cluster}-repl.{team}.{hostedzone}",
    };
    let prefix = format!("{}-", team.to_lowercase());
    if !team.is_empty()
        && cluster.len() > prefix.len()
        && cluster.to_lowercase().starts_with(&prefix)
    {
        names.push(',');
        names.push_str(&format_dns(
            legacy,
            &cluster[prefix.len()..],
            "",
            team,
            config,
        ));
    }
    names
}

/// `custom_service_annotations`, then the manifest's `serviceAnnotations` and those of the role.
pub fn custom_annotations(
    config: &Config,
    pg: &Postgresql,
    role: Role,
) -> BTreeMap<String, String> {
    let spec = &pg.spec;
    let role_annotations = match role {
        Role::Master => &spec.master_service_annotations,
        Role::Replica => &spec.replica_service_annotations,
    };
    let mut annotations = config.custom_service_annotations.clone();
    annotations.extend(spec.service_annotations.clone());
    annotations.extend(role_annotations.iter().map(|(k, v)| (k.clone(), v.clone())));
    annotations
}

/// A load balancer's idle timeout (unless set already) and its external-dns names.
pub fn add_load_balancer_annotations(annotations: &mut BTreeMap<String, String>, dns: String) {
    annotations
        .entry(ELB_TIMEOUT_ANNOTATION.into())
        .or_insert_with(|| ELB_TIMEOUT.into());
    annotations.insert(DNS_NAME_ANNOTATION.into(), dns);
}

/// A load balancer's source ranges and external traffic policy.
pub fn load_balancer_settings(config: &Config, pg: &Postgresql) -> (Vec<String>, String) {
    let ranges = if pg.spec.allowed_source_ranges.is_empty() {
        vec![LOCKED_SOURCE_RANGE.to_string()]
    } else {
        pg.spec.allowed_source_ranges.clone()
    };
    (ranges, config.external_traffic_policy.clone())
}

fn role_service(config: &Config, pg: &Postgresql, role: Role, use_configmaps: bool) -> Service {
    let cluster = pg.metadata.name.as_deref().unwrap_or_default();
    let spec = &pg.spec;
    let (node_port_on, node_port) = match role {
        Role::Master => (
            spec.enable_master_node_port.unwrap_or(false),
            spec.master_node_port,
        ),
        Role::Replica => (
            spec.enable_replica_node_port.unwrap_or(false),
            spec.replica_node_port,
        ),
    };
    let load_balancer = load_balancer(config, pg, role);
    let mut annotations = custom_annotations(config, pg, role);
    if load_balancer {
        add_load_balancer_annotations(&mut annotations, dns_names(config, pg, role));
    }

    let selector = (role == Role::Replica || use_configmaps).then(|| {
        let mut s = meta::selector_labels(config, cluster);
        s.insert(ROLE_LABEL.into(), role.label().into());
        s
    });

    // A node port (Zalando v2's switches) wins over a load balancer.
    let (type_, source_ranges, traffic_policy) = if node_port_on {
        ("NodePort", None, None)
    } else if load_balancer {
        let (ranges, policy) = load_balancer_settings(config, pg);
        ("LoadBalancer", Some(ranges), Some(policy))
    } else {
        ("ClusterIP", None, None)
    };
    let mut metadata =
        meta::cluster_object_meta(config, pg, &role.service_name(cluster), &annotations, true);
    metadata.labels = Some(role_labels(config, pg, role));
    Service {
        metadata,
        spec: Some(ServiceSpec {
            type_: Some(type_.into()),
            selector,
            ports: Some(vec![ServicePort {
                name: Some("postgresql".into()),
                port: 5432,
                target_port: Some(IntOrString::Int(5432)),
                node_port: if node_port_on { node_port } else { None },
                ..Default::default()
            }]),
            load_balancer_source_ranges: source_ranges,
            external_traffic_policy: traffic_policy,
            ..Default::default()
        }),
        status: None,
    }
}
