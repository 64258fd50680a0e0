//! Command line only: parse, call the library, map the outcome to an exit code.

use clap::{Parser, Subcommand};
use postgres_reconciler::{logging, version};
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "postgres-reconciler",
    about = "One-shot PostgreSQL reconciler for Kubernetes"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = logging::LogFormat::Text)]
    log_format: logging::LogFormat,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version of this binary and the Kubernetes API it was built for.
    Version {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match cli.command {
        Command::Version { json } => {
            let info = version::version_info();
            if json {
                match serde_json::to_string(&info) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                println!("{info}");
            }
            ExitCode::SUCCESS
        }
    }
}
