//! Metrics: the watcher's `/metrics`, scraped from the running sidecar and parsed by a real
//! Prometheus parser (the `prometheus-client` PyPI package's OpenMetrics parser), says what the
//! manifests' status and the last run's summary on its Lease say; the chart's alert rules pass
//! `promtool check rules`.

use crate::support::TestEnv;
use crate::support::chart::{chart, helm, ok};
use crate::support::reconciler::Harness;
use crate::support::{eventually, unique_name};
use postgres_reconciler::config::Config;
use postgres_reconciler::report::run::text;
use postgres_reconciler::watch::{self, WatchOptions};
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Every sample of the scrape as [name, labels, value], parsed by prometheus_client.
fn parse(exposition: &str) -> Vec<(String, Value, f64)> {
    let script = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for s in family.samples:
        out.append([s.name, s.labels, s.value])
print(json.dumps(out))
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        // A pure-Python wheel, importable from the zip (tests/cluster/build downloads it).
        .env(
            "PYTHONPATH",
            TestEnv::get().var("PGRENV_PROMETHEUS_CLIENT_WHEEL"),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(exposition.as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("parser");
    assert!(
        out.status.success(),
        "the parser refused the scrape: {}\n{exposition}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<(String, Value, f64)> =
        serde_json::from_slice(&out.stdout).expect("parser output");
    samples
}

async fn get(addr: std::net::SocketAddr, path: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await.ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_string())
}

fn value(samples: &[(String, Value, f64)], name: &str, labels: &Value) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| {
            n == name
                && labels
                    .as_object()
                    .expect("labels")
                    .iter()
                    .all(|(k, v)| l.get(k) == Some(v))
        })
        .map(|(_, _, v)| *v)
}

#[tokio::test]
async fn the_watchers_metrics_parse_and_say_what_the_status_and_the_last_run_say() {
    let h = Harness::new("metrics").await;
    let cluster = "acid-metrics";
    h.cluster_secrets(cluster).await;
    h.apply(h.cluster_manifest(cluster, 1, json!({}), json!({}), json!({})))
        .await;
    let report = h.run().await;
    assert_eq!(report.exit_code, 0, "{}", text(&report));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let config = Config {
        watched_namespaces: vec![h.ns.name.clone()],
        ..Config::default()
    };
    let options = WatchOptions {
        cronjob: unique_name("no-such-cronjob"),
        namespace: h.ns.name.clone(),
        debounce: Duration::from_secs(5),
        health_addr: Some(addr),
        lease_namespace: h.ns.name.clone(),
        shards: 1,
    };
    let client = h.ns.client.clone();
    let watcher = tokio::spawn(async move { watch::run(client, &config, options).await });
    let scrape = eventually(Duration::from_secs(30), "the watcher's /metrics", || {
        get(addr, "/metrics")
    })
    .await;
    watcher.abort();
    let samples = parse(&scrape);

    // Every condition of the status, with its status and reason.
    let status = h.status("postgresql", cluster).await;
    let conditions = status["conditions"].as_array().expect("conditions");
    assert!(!conditions.is_empty(), "{status}");
    for c in conditions {
        let labels = json!({"namespace": h.ns.name, "name": cluster, "condition": c["type"],
                            "status": c["status"], "reason": c["reason"]});
        assert_eq!(
            value(&samples, "postgres_reconciler_manifest_condition", &labels),
            Some(1.0),
            "{labels} in {samples:?}"
        );
    }
    let manifest = h.get("postgresql", cluster).await.expect("manifest");
    let ours = json!({"kind": "postgresql", "namespace": h.ns.name, "name": cluster});
    assert_eq!(
        value(&samples, "postgres_reconciler_manifest_generation", &ours),
        manifest["metadata"]["generation"].as_f64()
    );
    assert_eq!(
        value(
            &samples,
            "postgres_reconciler_manifest_observed_generation",
            &ours
        ),
        status["observedGeneration"].as_f64()
    );
    // The last run, from its Lease: what its report said.
    let lease = json!({"lease": "postgres-reconciler"});
    assert_eq!(
        value(&samples, "postgres_reconciler_last_run_writes", &lease),
        Some(report.writes as f64)
    );
    assert_eq!(
        value(&samples, "postgres_reconciler_last_run_success", &lease),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "postgres_reconciler_last_run_result",
            &json!({"lease": "postgres-reconciler", "result": "applied"})
        ),
        Some(1.0)
    );
    let started = report.started.parse::<jiff::Timestamp>().expect("started");
    assert_eq!(
        value(
            &samples,
            "postgres_reconciler_last_run_start_timestamp_seconds",
            &lease
        ),
        Some(started.as_millisecond() as f64 / 1000.0)
    );
}

#[tokio::test]
async fn the_charts_alert_rules_pass_promtool() {
    let rendered = ok(
        helm(&[
            "template",
            "r",
            &chart(),
            "--set",
            "metrics.prometheusRule.enabled=true",
            "--set",
            "metrics.podMonitor.enabled=true",
            "--show-only",
            "templates/monitoring.yaml",
        ]),
        None,
    )
    .await;
    let rule = serde_yaml::Deserializer::from_str(&rendered)
        .filter_map(|d| serde_yaml::Value::deserialize(d).ok())
        .find(|d| d["kind"] == "PrometheusRule")
        .expect("a PrometheusRule");
    let mut groups = serde_yaml::Mapping::new();
    groups.insert("groups".into(), rule["spec"]["groups"].clone());
    let file =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.yaml", unique_name("rules")));
    std::fs::write(&file, serde_yaml::to_string(&groups).expect("yaml")).expect("write");
    let out = Command::new(TestEnv::get().var("PGRENV_PROMTOOL"))
        .args(["check", "rules"])
        .arg(&file)
        .output()
        .expect("promtool");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && said.contains("SUCCESS: 3 rules found"),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
