//! `make bench-live`: the reconciler against a live local control plane at N clusters (BENCH_N,
//! default 1,000), side by side with the LIST floor, `kubectl apply --server-side` of the same
//! objects and Zalando's operator on 200 clusters. Figures, never assertions: the table goes to
//! stdout and to target/bench-live/N.md. Ratios, not absolute times, are what to compare.

mod child;
mod dbfloor;
mod env;
mod floor;
mod kubectl;
mod manifests;
mod reconciler;
mod rendered;
mod setup;
mod table;
mod zalando;

use std::path::PathBuf;
use std::time::Duration;
use table::{Row, verbs};

/// Zalando's operator is compared on this many clusters (it creates them one worker at a time).
const ZALANDO_CLUSTERS: usize = 200;

fn apply_row(measure: &str, run: &reconciler::Run, n: usize) -> Row {
    Row {
        measure: measure.into(),
        wall: Some(run.measured.wall),
        requests: verbs(&run.requests),
        writes: Some(run.writes),
        rss_kib: Some(run.measured.peak_rss_kib),
        note: format!(
            "{}, exit {}; {:.1} ms per cluster",
            run.result,
            run.measured.exit_code,
            run.measured.wall.as_secs_f64() * 1000.0 / n as f64
        ),
    }
}

fn main() {
    let n: usize = std::env::var("BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let out = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-live");
    let work = out.join(format!("work-{n}"));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).expect("work dir");
    // Every cluster has 2 pods, Zalando's too; a tenth more for slack, on 3 fake nodes.
    let nodes = 3;
    let node_pods = ((2 * n + 2 * ZALANDO_CLUSTERS) * 11 / 10).div_ceil(nodes) + 20;
    let env = env::Env::up(&out.join("env"), nodes, node_pods);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let client = rt.block_on(env.client());
    let started = std::time::Instant::now();
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    let configs = setup::prepare(&env, &work);
    let bench = manifests::clusters("bench", n);

    eprintln!("bench: kubectl apply --server-side of the rendered objects of {n} clusters");
    let (kubectl_time, objects) =
        rendered::kubectl_apply(&env, &configs.unreachable_config, n, &work);
    rows.push(Row {
        measure: format!("kubectl apply --server-side, {objects} rendered objects"),
        wall: Some(kubectl_time),
        note: format!(
            "{:.1} ms per cluster; namespaces with a pod quota of 0 (no controller churn beside it)",
            kubectl_time.as_secs_f64() * 1000.0 / n as f64
        ),
        ..Row::default()
    });

    eprintln!("bench: {n} manifests, first apply");
    setup::apply_manifests(&env, &work, &bench, None);
    let cfg = &configs.unreachable;
    let first = reconciler::apply(&env, cfg, &work, "first-apply");
    rows.push(apply_row("first apply, databases unreachable", &first, n));
    let pods = setup::wait_for_pods(
        &env,
        "bench",
        2 * n,
        Duration::from_secs(120 + n as u64 / 2),
    );
    notes.push(format!(
        "{pods} of {} pods Running before the steady-state runs",
        2 * n
    ));

    let second = reconciler::apply(&env, cfg, &work, "second-apply");
    rows.push(apply_row("second apply (pods up), unreachable", &second, n));
    let steady = reconciler::apply(&env, cfg, &work, "steady-apply");
    rows.push(apply_row("steady-state apply, unreachable", &steady, n));
    let plan = reconciler::plan(&env, cfg, &work, "plan");
    rows.push(apply_row("plan -A, unreachable", &plan, n));

    eprintln!("bench: LIST floor");
    let requests = floor::plan_lists(&configs.unreachable_config);
    let floors: Vec<(Duration, u64)> = (0..3)
        .map(|_| rt.block_on(floor::run(&client, &requests)))
        .collect();
    let (floor, pages) = floors.iter().copied().min().expect("three runs");
    let floor_row = Row {
        measure: format!("LIST floor ({} LISTs, all at once)", requests.len()),
        wall: Some(floor),
        requests: format!("list {pages}"),
        writes: Some(0),
        note: "best of 3; the LISTs plan -A makes, minimal client".into(),
        ..Row::default()
    };
    rows.insert(0, floor_row);

    eprintln!("bench: databases reachable");
    rt.block_on(setup::seed_passwords(&env, &client, &bench));
    let cfg = &configs.reachable;
    let first = reconciler::apply(&env, cfg, &work, "reachable-first-apply");
    rows.push(apply_row(
        "first apply, databases reachable (roles, databases made)",
        &first,
        n,
    ));

    eprintln!("bench: database floor");
    let parallel = configs.unreachable_config.max_parallel_clusters;
    let conn = setup::superuser_connection(&env);
    let db_floors: Vec<(Duration, u64)> = (0..3)
        .map(|_| rt.block_on(dbfloor::run(&conn, n, parallel)))
        .collect();
    let (db_floor, db_rows) = db_floors.iter().copied().min().expect("three runs");
    rows.push(Row {
        measure: format!("database floor ({n} connections, {parallel} at a time)"),
        wall: Some(db_floor),
        writes: Some(0),
        note: format!(
            "best of 3; the server-wide catalog queries a run sends each server, minimal client; {db_rows} rows"
        ),
        ..Row::default()
    });
    let both = floor + db_floor;
    let against_both = |mut row: Row| {
        if let Some(wall) = row.wall {
            row.note = format!(
                "{:.1}× LIST + database floor; {}",
                wall.as_secs_f64() / both.as_secs_f64(),
                row.note
            );
        }
        row
    };
    let steady = reconciler::apply(&env, cfg, &work, "reachable-steady-apply");
    rows.push(against_both(apply_row(
        "steady-state apply, reachable",
        &steady,
        n,
    )));
    let plan = reconciler::plan(&env, cfg, &work, "reachable-plan");
    rows.push(against_both(apply_row("plan -A, reachable", &plan, n)));

    eprintln!("bench: Zalando's operator on {ZALANDO_CLUSTERS} clusters");
    let theirs = manifests::clusters("zalando", ZALANDO_CLUSTERS);
    setup::apply_manifests(&env, &work, &theirs, Some(zalando::CONTROLLER_ID));
    let z = rt.block_on(zalando::run(
        &env,
        &client,
        &theirs,
        &work.join("zalando.log"),
        Duration::from_secs(900),
    ));
    let objects: Vec<String> = z.objects.iter().map(|(k, v)| format!("{v} {k}")).collect();
    rows.push(Row {
        measure: format!("Zalando v1.15.1, {ZALANDO_CLUSTERS} clusters: all objects exist"),
        wall: z.all_objects,
        requests: format!("≈ {}", verbs(&z.requests)),
        writes: Some(reconciler::writes(&z.requests)),
        rss_kib: z.peak_rss_kib,
        note: match z.all_objects {
            Some(t) => format!(
                "{:.1} ms per cluster; {}",
                t.as_secs_f64() * 1000.0 / ZALANDO_CLUSTERS as f64,
                objects.join(", ")
            ),
            None => format!(
                "not within 900 s: {} StatefulSets; {}",
                z.statefulsets,
                objects.join(", ")
            ),
        },
    });
    let overrides: Vec<String> = zalando::OVERRIDES
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    notes.extend([
        "release build; kwok's fake pods, so no Patroni: `sync_patroni_config: false`, as in the tests".into(),
        "unreachable: the default `postgres_host_template` (the master Service's DNS name, which does not resolve here); reachable: every cluster on the environment's PostgreSQL (verify-full), superuser and standby Secrets set to its passwords, roles and databases named per cluster".into(),
        "requests: the reconciler's own counts (run report, or plan's log line); writes exclude the Lease and failed requests".into(),
        format!("Zalando: module ConfigMap with watched_namespace *, CONTROLLER_ID {}, -kubeqps=100 -kubeburst=200, {} (no Patroni labels the kwok pods); requests ≈ the apiserver's apiserver_request_total delta on the kinds it uses, other clients' included; its informers also hold the {n} bench clusters' pods", zalando::CONTROLLER_ID, overrides.join(", ")),
        format!("whole benchmark: {:.0} s", started.elapsed().as_secs_f64()),
    ]);

    let title = format!("make bench-live N={n}");
    print!("{}", table::text(&title, &rows, floor, &notes));
    let md = out.join(format!("{n}.md"));
    std::fs::write(&md, table::markdown(&title, &rows, floor, &notes)).expect("write table");
    eprintln!("bench: table written to {}", md.display());
    drop(client);
    drop(rt);
    // BENCH_KEEP=1 leaves the environment up, for profiling a run against it.
    if std::env::var_os("BENCH_KEEP").is_some() {
        eprintln!(
            "bench: environment left up; configurations in {}; stop it with PGRENV_FILE={} tests/cluster/down",
            work.display(),
            out.join("env").display()
        );
        std::mem::forget(env);
    } else {
        drop(env);
    }
}
