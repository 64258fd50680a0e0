//! Command line only: parse, build the configuration, call the library, map the outcome to an
//! exit code (0 ok, 1 error).

use clap::{Args, Parser, Subcommand, ValueEnum};
use postgres_reconciler::config::{Config, Sources};
use postgres_reconciler::observe::cluster::{ClusterClient, Scope};
use postgres_reconciler::pipeline::{self, Source};
use postgres_reconciler::{crds, logging, observe, render, report, version};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "postgres-reconciler",
    about = "One-shot PostgreSQL reconciler for Kubernetes",
    version
)]
struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Args)]
struct Global {
    /// Operator configuration file (YAML); PGR_* environment variables and --set override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Set one configuration key, highest priority (repeatable): --set max_parallel_clusters=8
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Only shard i of N (`i/N`), as the configuration's `shard`.
    #[arg(long, global = true, value_name = "i/N")]
    shard: Option<String>,
    /// Only this namespace (also the namespace of file manifests that name none).
    #[arg(short = 'n', long, global = true)]
    namespace: Option<String>,
    /// Every namespace (overrides the configuration's `watched_namespaces`).
    #[arg(short = 'A', long, global = true, conflicts_with = "namespace")]
    all_namespaces: bool,
    /// kubeconfig file (default: KUBECONFIG, ~/.kube/config, or the in-cluster account).
    #[arg(long, global = true, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// kubeconfig context.
    #[arg(long, global = true)]
    context: Option<String>,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print both CustomResourceDefinitions as YAML (or write one file per CRD).
    Crds {
        /// Write `<plural>.<group>.yaml` files into this directory instead of printing.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
    },
    /// Render the desired objects and database state of manifests in files, without a cluster.
    Render {
        /// A manifest file or a directory of them (YAML or JSON, multi-document).
        #[arg(short = 'f', long = "filename", value_name = "PATH")]
        path: PathBuf,
        #[arg(short = 'o', long = "output", value_enum, default_value_t = OutputFormat::Yaml)]
        output: OutputFormat,
    },
    /// Show what a run would change, without changing anything.
    ///
    /// Exit codes: 0 success (with --detailed-exitcode: no changes), 1 error or invalid
    /// manifests, 2 changes pending (with --detailed-exitcode).
    Plan {
        /// Manifests from a file or directory (e.g. a pull request's); with a cluster they
        /// replace the live manifests of the same name.
        #[arg(short = 'f', long = "filename", value_name = "PATH")]
        path: Option<PathBuf>,
        /// No cluster: plan the -f manifests against nothing, or against --base.
        #[arg(long)]
        offline: bool,
        /// With --offline: manifests assumed applied already (the pull request's target branch).
        #[arg(long, value_name = "PATH", requires = "offline")]
        base: Option<PathBuf>,
        /// Do not connect to the databases or Patroni (from CI, where the pods' network cannot
        /// be reached): their part of the plan is "not planned", with this reason.
        #[arg(long, conflicts_with = "offline")]
        no_database: bool,
        #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
        format: PlanFormat,
        /// Exit 2 when there are changes, 0 when there are none (like terraform plan).
        #[arg(long)]
        detailed_exitcode: bool,
        /// Colour in text output.
        #[arg(long, value_enum, default_value_t = Color::Auto)]
        color: Color,
        /// Plan as a run at this time would (RFC 3339, e.g. 2027-03-01T00:00:00Z): which
        /// passwords it would rotate, which rotation roles it would drop.
        #[arg(long, value_name = "TIME")]
        at: Option<jiff::Timestamp>,
    },
    /// The CronJob's one-shot run: apply the plan, write status, print the run report.
    ///
    /// Exit codes: 0 everything applied (or another run holds the Lease), 1 could not run,
    /// 2 some manifests failed (their status says why).
    Apply {
        /// Also write the run report as JSON to this file.
        #[arg(long, value_name = "PATH")]
        report_file: Option<PathBuf>,
        /// Allow destructive actions (replace) for every manifest; without it only manifests
        /// annotated postgres-reconciler.io/allow-destructive=true get them.
        #[arg(long)]
        allow_destructive: bool,
        /// Manifests from a file or directory instead of (over) the live ones.
        #[arg(short = 'f', long = "filename", value_name = "PATH")]
        path: Option<PathBuf>,
    },
    /// The sidecar: watch the manifests and start a run (a Job from the CronJob) within seconds
    /// of a change.
    Watch {
        /// The CronJob whose job template a run uses.
        #[arg(long, value_name = "NAME")]
        cronjob: String,
        /// Its namespace (default: the configuration's `release_namespace`).
        #[arg(long, value_name = "NS")]
        cronjob_namespace: Option<String>,
        /// Seconds to wait after a change before starting a run; later changes join that run.
        #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
        debounce: f64,
        /// Serve /healthz here for probes (e.g. 0.0.0.0:8080).
        #[arg(long, value_name = "ADDR")]
        health_addr: Option<std::net::SocketAddr>,
        /// The CronJobs are N shards (`<cronjob>-shard-i-of-N`): start the one that owns the
        /// changed manifest.
        #[arg(long, default_value_t = 1, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        shards: u32,
    },
    /// Print the version of this binary and the Kubernetes API it was built for.
    Version {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum PlanFormat {
    Text,
    Markdown,
    Json,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum OutputFormat {
    Yaml,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.global.log_format);
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

fn load_config(global: &Global) -> Result<Config, String> {
    let mut set = global.set.clone();
    if let Some(shard) = &global.shard {
        set.push(format!("shard={shard}"));
    }
    let (config, notes) = Config::load_with_notes(&Sources {
        file: global.config.clone(),
        set,
    })
    .map_err(|e| e.to_string())?;
    for note in notes {
        tracing::warn!("{note}");
    }
    Ok(config)
}

fn scope(global: &Global, config: &Config) -> Scope {
    if global.all_namespaces {
        Scope::All
    } else if let Some(ns) = &global.namespace {
        Scope::Namespaces(vec![ns.clone()])
    } else if config.watched_namespaces.is_empty() {
        Scope::All
    } else {
        Scope::Namespaces(config.watched_namespaces.clone())
    }
}

fn default_namespace(global: &Global) -> String {
    global.namespace.clone().unwrap_or_else(|| "default".into())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))
}

/// Who this run is in the Lease: the pod (or host) name and a random suffix.
fn run_identity() -> String {
    let host = std::env::var("POD_NAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "postgres-reconciler".into());
    format!("{host}-{:08x}", rand::random::<u32>())
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
        Command::Watch {
            cronjob,
            cronjob_namespace,
            debounce,
            health_addr,
            shards,
        } => {
            let config = load_config(&cli.global)?;
            if !(debounce.is_finite() && debounce >= 0.0) {
                return Err(format!(
                    "--debounce {debounce}: expected a number of seconds"
                ));
            }
            let options = postgres_reconciler::watch::WatchOptions {
                cronjob,
                namespace: cronjob_namespace.unwrap_or_else(|| config.release_namespace.clone()),
                debounce: std::time::Duration::from_secs_f64(debounce),
                health_addr,
                lease_namespace: config.release_namespace.clone(),
                shards,
            };
            runtime()?.block_on(async {
                let cluster = ClusterClient::connect(
                    cli.global.kubeconfig.as_deref(),
                    cli.global.context.as_deref(),
                )
                .await
                .map_err(|e| e.to_string())?;
                postgres_reconciler::watch::run(cluster.client, &config, options)
                    .await
                    .map_err(|e| e.to_string())
            })?;
        }
        Command::Apply {
            report_file,
            allow_destructive,
            path,
        } => {
            let config = load_config(&cli.global)?;
            let source = Source {
                files: path,
                offline: false,
                base: None,
                reach_databases: true,
                scope: scope(&cli.global, &config),
                default_namespace: default_namespace(&cli.global),
                clock: None,
            };
            let options = postgres_reconciler::apply::run::ApplyOptions {
                allow_destructive,
                lease_namespace: config.release_namespace.clone(),
                identity: run_identity(),
                lease_duration: std::time::Duration::from_secs(config.lease_duration_seconds),
                lease_wait: std::time::Duration::from_secs(config.lease_wait_seconds),
            };
            let report = runtime()?
                .block_on(async {
                    let cluster = ClusterClient::connect(
                        cli.global.kubeconfig.as_deref(),
                        cli.global.context.as_deref(),
                    )
                    .await?;
                    postgres_reconciler::apply::run::run(&config, &cluster, &source, &options).await
                })
                .map_err(|e| e.to_string())?;
            print!("{}", report::run::text(&report));
            if let Some(path) = report_file {
                let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
                std::fs::write(&path, json + "\n")
                    .map_err(|e| format!("{}: {e}", path.display()))?;
            }
            tracing::info!(result = %report.result, writes = report.writes, duration_ms = report.duration_ms, "run finished");
            return Ok(ExitCode::from(report.exit_code));
        }
        Command::Plan {
            path,
            offline,
            base,
            no_database,
            format,
            detailed_exitcode,
            color,
            at,
        } => {
            let config = load_config(&cli.global)?;
            let source = Source {
                files: path,
                offline,
                base,
                reach_databases: !no_database,
                scope: scope(&cli.global, &config),
                default_namespace: default_namespace(&cli.global),
                clock: at,
            };
            let planned = runtime()?.block_on(async {
                if offline {
                    pipeline::plan_offline(&config, &source).await
                } else {
                    let cluster = ClusterClient::connect(
                        cli.global.kubeconfig.as_deref(),
                        cli.global.context.as_deref(),
                    )
                    .await?;
                    pipeline::plan_live(&config, &cluster, &source).await
                }
            });
            // Only the plan is printed: what it was made from goes before the printing starts.
            let pipeline::Planned { plan, requests, .. } = planned.map_err(|e| e.to_string())?;
            let color = match color {
                Color::Always => true,
                Color::Never => false,
                Color::Auto => {
                    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
                }
            };
            // Text and JSON are streamed: a plan of many clusters is not held again as one string.
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            match format {
                PlanFormat::Text => report::text_to(&plan, color, &mut out),
                PlanFormat::Markdown => std::io::Write::write_all(
                    &mut out,
                    report::markdown(&plan, report::MARKDOWN_LIMIT).as_bytes(),
                ),
                PlanFormat::Json => report::json_to(&plan, &mut out),
            }
            .and_then(|()| std::io::Write::flush(&mut out))
            .map_err(|e| format!("writing the plan: {e}"))?;
            drop(out);
            if !requests.is_empty() {
                tracing::info!(requests = ?requests, "API requests");
            }
            if !plan.invalid.is_empty() {
                return Ok(ExitCode::from(1));
            }
            if detailed_exitcode && plan.has_changes() {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Version { json } => {
            let info = version::version_info();
            if json {
                println!(
                    "{}",
                    serde_json::to_string(&info).map_err(|e| e.to_string())?
                );
            } else {
                println!("{info}");
            }
        }
        Command::Crds { out_dir } => {
            let docs = crds::crd_documents().map_err(|e| e.to_string())?;
            match out_dir {
                None => print!("{}", crds::crds_yaml().map_err(|e| e.to_string())?),
                Some(dir) => {
                    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
                    for (file, yaml) in docs {
                        let path = dir.join(file);
                        std::fs::write(&path, yaml)
                            .map_err(|e| format!("{}: {e}", path.display()))?;
                    }
                }
            }
        }
        Command::Render { path, output } => {
            let config = load_config(&cli.global)?;
            let loaded = observe::files::load_with(
                &path,
                &default_namespace(&cli.global),
                &render::limits(&config),
            )
            .map_err(|e| e.to_string())?;
            let mut desired = render::render(&loaded.manifests, &config);
            // Documents that could not even be read count as invalid manifests too.
            desired.invalid.splice(0..0, loaded.invalid);
            let text = match output {
                OutputFormat::Yaml => {
                    render::output::to_yaml(&desired).map_err(|e| e.to_string())?
                }
                OutputFormat::Json => {
                    render::output::to_json(&desired).map_err(|e| e.to_string())?
                }
            };
            print!("{text}");
            for invalid in &desired.invalid {
                eprintln!("{invalid}");
            }
            if !desired.invalid.is_empty() {
                return Ok(ExitCode::from(2));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
