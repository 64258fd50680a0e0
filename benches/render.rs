//! `make bench`: how long the pure stages take on many manifests. Figures, not assertions.
//! Renders and plans 1,000 generated cluster manifests (with users, databases and prepared
//! databases) and prints the minimum and median of several runs.

use postgres_reconciler::config::Config;
use postgres_reconciler::observe::files::{Loaded, parse_documents};
use postgres_reconciler::plan::{self, offline};
use postgres_reconciler::{render, report};
use std::time::{Duration, Instant};

fn manifests_yaml(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "---
apiVersion: acid.zalan.do/v1
kind: postgresql
metadata: {{name: cluster-{i}, namespace: team-{ns}, uid: 00000000-0000-4000-8000-{i:012}}}
spec:
  teamId: team-{ns}
  numberOfInstances: {instances}
  volume: {{size: 10Gi}}
  users: {{app_owner: [createdb], app_user: [], reporting: [nologin]}}
  databases: {{app: app_owner}}
  preparedDatabases: {{shop: {{defaultUsers: true, extensions: {{pgcrypto: data}}}}}}
  postgresql: {{version: \"17\", parameters: {{max_connections: \"200\"}}}}
",
                ns = i % 20,
                instances = 1 + i % 3
            )
        })
        .collect()
}

fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            std::hint::black_box(f());
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[0], times[runs / 2])
}

fn main() {
    let n = 1000;
    let yaml = manifests_yaml(n);
    let config = Config::default();
    let (min, median) = time(7, || {
        let mut loaded = Loaded::default();
        parse_documents(&yaml, "generated", "default", &mut loaded);
        loaded
    });
    println!("parse {n} manifests:            min {min:?}  median {median:?}");
    let mut loaded = Loaded::default();
    parse_documents(&yaml, "generated", "default", &mut loaded);
    assert_eq!(loaded.manifests.len(), n);
    let (min, median) = time(7, || render::render(&loaded.manifests, &config));
    println!("render {n} manifests:           min {min:?}  median {median:?}");
    let desired = render::render(&loaded.manifests, &config);
    let objects: usize = desired.manifests.iter().map(|m| m.objects.len()).sum();
    let (min, median) = time(7, || render::output::to_yaml(&desired).map(|s| s.len()));
    println!("write {objects} objects as YAML:  min {min:?}  median {median:?}");

    let nothing = offline::nothing_live(&desired);
    let (min, median) = time(5, || plan::plan(&desired, &nothing, &config));
    let full = plan::plan(&desired, &nothing, &config);
    println!(
        "plan {n} new clusters ({} actions): min {min:?}  median {median:?}",
        full.actions.len()
    );
    let base = offline::base_live(&desired, &config.field_manager);
    let (min, median) = time(5, || plan::plan(&desired, &base, &config));
    println!("plan {n} unchanged clusters:   min {min:?}  median {median:?}");
    let (min, median) = time(3, || report::text(&full, false).len());
    println!("print the full plan as text:   min {min:?}  median {median:?}");
}
