//! Zalando's postgres-operator v1.15.1 (the parity oracle, $PGRENV_ZALANDO) on its own clusters,
//! run as the parity harness runs it (out of cluster, its module's ConfigMap, its client rate
//! raised), cluster-wide, owning only the manifests annotated with its controller id. Measured:
//! the time until every cluster's StatefulSet exists (Zalando makes it last, after the
//! Services, Endpoints, Secrets and PodDisruptionBudget), its peak RSS, and the apiserver's
//! request counts on the kinds it reads and writes while it ran.

use super::child::vm_hwm_kib;
use super::env::Env;
use super::manifests::{Cluster, NAMESPACES, namespace};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const CONTROLLER_ID: &str = "zalando-bench";
pub const OPERATOR_NAMESPACE: &str = "zalando-op";
/// Zalando waits, per cluster and up to `resource_check_timeout` (10m by default), for Patroni to
/// label the pods master/replica; no Patroni runs behind the kwok pods, so the wait is cut short
/// (the objects all exist before it starts).
pub const OVERRIDES: [(&str, &str); 2] = [
    ("resource_check_interval", "1s"),
    ("resource_check_timeout", "2s"),
];

pub struct Outcome {
    /// Until every cluster's StatefulSet existed (None: not within the bound).
    pub all_objects: Option<Duration>,
    pub statefulsets: usize,
    pub objects: BTreeMap<&'static str, usize>,
    pub peak_rss_kib: Option<u64>,
    pub requests: BTreeMap<String, u64>,
}

fn module_configmap(env: &Env) -> BTreeMap<String, String> {
    let path = format!(
        "{}/manifests/configmap.yaml",
        env.var("PGRENV_ZALANDO_MODULE")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let cm: ConfigMap = serde_yaml::from_str(&text).expect("Zalando's configmap.yaml");
    cm.data.expect("data in configmap.yaml")
}

/// The kinds Zalando makes per cluster, as (label, apiserver resource).
const KINDS: [(&str, &str); 4] = [
    ("StatefulSets", "statefulsets"),
    ("Services", "services"),
    ("Secrets", "secrets"),
    ("PDBs", "poddisruptionbudgets"),
];

async fn count(client: &kube::Client, resource: &str) -> usize {
    let (group, version, kind) = match resource {
        "statefulsets" => ("apps", "v1", "StatefulSet"),
        "poddisruptionbudgets" => ("policy", "v1", "PodDisruptionBudget"),
        "services" => ("", "v1", "Service"),
        _ => ("", "v1", "Secret"),
    };
    let ar = kube::core::ApiResource::from_gvk_with_plural(
        &kube::core::GroupVersionKind::gvk(group, version, kind),
        resource,
    );
    let mut n = 0;
    for i in 0..NAMESPACES {
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(client.clone(), &namespace("zalando", i), &ar);
        // Zalando's PDBs carry only the cluster-name label; everything in these namespaces is its.
        let params = match resource {
            "poddisruptionbudgets" => ListParams::default(),
            _ => ListParams::default().labels("application=spilo"),
        };
        n += api
            .list_metadata(&params)
            .await
            .map(|l| l.items.len())
            .unwrap_or(0);
    }
    n
}

/// apiserver_request_total by verb, summed over the resources Zalando uses (no subresources).
fn request_totals(env: &Env) -> BTreeMap<String, u64> {
    const RESOURCES: [&str; 9] = [
        "postgresqls",
        "statefulsets",
        "services",
        "endpoints",
        "secrets",
        "poddisruptionbudgets",
        "serviceaccounts",
        "rolebindings",
        "configmaps",
    ];
    let metrics = super::kubectl::run(env, &["get", "--raw", "/metrics"]);
    let mut out = BTreeMap::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let label = |k: &str| {
            let key = format!("{k}=\"");
            line.split(&key)
                .nth(1)
                .and_then(|r| r.split('"').next())
                .unwrap_or("")
        };
        if !RESOURCES.contains(&label("resource")) || !label("subresource").is_empty() {
            continue;
        }
        let value: f64 = line
            .rsplit(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        // The apiserver's verbs, as the reconciler counts them.
        let verb = match label("verb") {
            "POST" => "create".to_string(),
            "PUT" => "update".to_string(),
            "APPLY" => "patch".to_string(),
            v => v.to_lowercase(),
        };
        *out.entry(verb).or_default() += value as u64;
    }
    out
}

/// Starts Zalando's operator on `clusters` (their manifests already applied, annotated with
/// [`CONTROLLER_ID`]), waits up to `bound` for all their StatefulSets, stops it.
pub async fn run(
    env: &Env,
    client: &kube::Client,
    clusters: &[Cluster],
    log: &std::path::Path,
    bound: Duration,
) -> Outcome {
    let api_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut data = module_configmap(env);
    data.insert("watched_namespace".into(), "*".into());
    data.insert("enable_crd_registration".into(), "false".into());
    data.insert("api_port".into(), api_port.to_string());
    for (k, v) in OVERRIDES {
        data.insert(k.into(), v.into());
    }
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("postgres-operator".into()),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    Api::<ConfigMap>::namespaced(client.clone(), OPERATOR_NAMESPACE)
        .create(&PostParams::default(), &cm)
        .await
        .expect("create Zalando's ConfigMap");

    let before = request_totals(env);
    let out = std::fs::File::create(log).expect("log file");
    let start = Instant::now();
    let mut child = Command::new(env.var("PGRENV_ZALANDO"))
        .args(["-outofcluster", "-noteamsapi", "-nodatabaseaccess"])
        .arg(format!("-kubeconfig={}", env.kubeconfig()))
        .args(["-kubeqps=100", "-kubeburst=200"])
        .env(
            "CONFIG_MAP_NAME",
            format!("{OPERATOR_NAMESPACE}/postgres-operator"),
        )
        .env("POD_NAMESPACE", OPERATOR_NAMESPACE)
        .env("OPERATOR_NAMESPACE", OPERATOR_NAMESPACE)
        .env("CONTROLLER_ID", CONTROLLER_ID)
        .stdin(Stdio::null())
        .stdout(out.try_clone().expect("log"))
        .stderr(out)
        .spawn()
        .expect("start Zalando's postgres-operator");
    let mut all_objects = None;
    let mut statefulsets = 0;
    while start.elapsed() < bound {
        tokio::time::sleep(Duration::from_secs(1)).await;
        statefulsets = count(client, "statefulsets").await;
        if statefulsets >= clusters.len() {
            all_objects = Some(start.elapsed());
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            eprintln!(
                "bench: Zalando's operator exited early: {status}; see {}",
                log.display()
            );
            break;
        }
    }
    let peak_rss_kib = vm_hwm_kib(child.id());
    let after = request_totals(env);
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    for _ in 0..50 {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut objects = BTreeMap::new();
    for (label, resource) in KINDS {
        objects.insert(label, count(client, resource).await);
    }
    let requests = after
        .iter()
        .map(|(verb, n)| {
            (
                verb.clone(),
                n.saturating_sub(before.get(verb).copied().unwrap_or(0)),
            )
        })
        .collect();
    Outcome {
        all_objects,
        statefulsets,
        objects,
        peak_rss_kib,
        requests,
    }
}
