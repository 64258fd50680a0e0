//! Command line only: parse, build the configuration, call the library, map the outcome to an
//! exit code (0 ok, 1 error).

use clap::{Args, Parser, Subcommand, ValueEnum};
use postgres_reconciler::config::{Config, Sources};
use postgres_reconciler::{crds, logging, observe, render, version};
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
    /// Namespace for manifests that do not name one.
    #[arg(short = 'n', long, global = true, default_value = "default")]
    namespace: String,
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
    /// Print the version of this binary and the Kubernetes API it was built for.
    Version {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
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
    Config::load(&Sources {
        file: global.config.clone(),
        set: global.set.clone(),
    })
    .map_err(|e| e.to_string())
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    match cli.command {
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
            let loaded =
                observe::files::load(&path, &cli.global.namespace).map_err(|e| e.to_string())?;
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
