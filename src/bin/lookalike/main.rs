//! `lookalike`: the command-line face of the library.

mod cmd_bench;
mod cmd_bench_scale;
mod cmd_eval;
mod cmd_index;
mod cmd_info;
mod cmd_search;
#[cfg(feature = "server")]
mod cmd_serve;
#[cfg(feature = "training")]
mod cmd_train;
mod output;
mod ranking;
mod remote;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Visual search for fashion catalogues: index product images, find lookalikes.
#[derive(Debug, Parser)]
#[command(name = "lookalike", version, about, long_about = None)]
struct Cli {
    /// The index directory.
    #[arg(
        long,
        global = true,
        default_value = "./lookalike-index",
        env = "LOOKALIKE_INDEX"
    )]
    index: PathBuf,

    /// More log output (-v: debug, -vv: trace). RUST_LOG overrides.
    #[arg(short = 'v', long = "log-verbose", global = true, action = clap::ArgAction::Count)]
    log_verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Index (or update the index of) a catalogue folder.
    Index(cmd_index::Args),
    /// Find the products most similar to an image or a product.
    Search(cmd_search::Args),
    /// Measure retrieval quality with the shared dataset's protocol.
    Eval(cmd_eval::Args),
    /// Measure indexing throughput and query latency.
    Bench(cmd_bench::Args),
    /// Show index statistics.
    Info(cmd_info::Args),
    /// Serve the web page and the JSON API.
    #[cfg(feature = "server")]
    Serve(cmd_serve::Args),
    /// Learn a head from the catalogue's labels and search with it.
    #[cfg(feature = "training")]
    Train(cmd_train::Args),
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "lookalike=info,warn",
        1 => "lookalike=debug,info",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .compact()
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_verbose);
    let result = match cli.command {
        Command::Index(args) => cmd_index::run(&cli.index, args),
        Command::Search(args) => cmd_search::run(&cli.index, args),
        Command::Eval(args) => cmd_eval::run(&cli.index, args),
        Command::Bench(args) => cmd_bench::run(&cli.index, args),
        Command::Info(args) => cmd_info::run(&cli.index, args),
        #[cfg(feature = "server")]
        Command::Serve(args) => cmd_serve::run(&cli.index, args),
        #[cfg(feature = "training")]
        Command::Train(args) => cmd_train::run(&cli.index, args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
