//! `lookalike serve`: the web page and JSON API.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use lookalike::server::{serve, ServeOptions};

/// Arguments of `serve`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "LOOKALIKE_ADDR")]
    addr: SocketAddr,
    /// The catalogue folder to serve images from, if it moved since indexing
    /// (default: where the index says it was).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Largest upload, in MB.
    #[arg(long, default_value_t = 20.0)]
    max_upload_mb: f64,
    /// Largest decoded upload, in megapixels.
    #[arg(long, default_value_t = 64.0)]
    max_megapixels: f64,
    /// Uploads embedded at once; more wait (default: one per core).
    #[arg(long)]
    max_concurrent_embeddings: Option<usize>,
    /// Seconds before a request is answered 408.
    #[arg(long, default_value_t = 30)]
    timeout_secs: u64,
    /// Seconds between checks for a new index generation (SIGHUP checks at once).
    #[arg(long, default_value_t = 1.0)]
    reload_secs: f64,
    #[command(flatten)]
    remote: crate::remote::RemoteArgs,
}

pub fn run(index_dir: &Path, args: Args) -> Result<ExitCode> {
    let mut options = ServeOptions::new(index_dir);
    #[cfg(feature = "qdrant")]
    if let Some(urls) = &args.remote.qdrant {
        args.remote.check_kit(urls)?;
        options.qdrant = Some(lookalike::server::QdrantSource {
            urls: urls.clone(),
            collection: args.remote.collection.clone(),
            kit: args.remote.kit.clone(),
        });
    }
    anyhow::ensure!(
        args.max_upload_mb > 0.0 && args.max_upload_mb <= 1024.0,
        "--max-upload-mb must be in (0, 1024], got {}",
        args.max_upload_mb
    );
    anyhow::ensure!(
        args.max_megapixels > 0.0 && args.max_megapixels <= 1000.0,
        "--max-megapixels must be in (0, 1000], got {}",
        args.max_megapixels
    );
    anyhow::ensure!(
        args.reload_secs >= 0.05,
        "--reload-secs must be at least 0.05"
    );
    anyhow::ensure!(args.timeout_secs > 0, "--timeout-secs must be positive");
    options.max_upload_bytes = (args.max_upload_mb * 1e6) as usize;
    options.max_pixels = (args.max_megapixels * 1e6) as u64;
    if let Some(n) = args.max_concurrent_embeddings {
        anyhow::ensure!(n > 0, "--max-concurrent-embeddings must be positive");
        options.max_concurrent_embeddings = n;
    }
    options.request_timeout = Duration::from_secs(args.timeout_secs);
    options.reload_interval = Duration::from_secs_f64(args.reload_secs);
    if let Some(dir) = args.catalog {
        anyhow::ensure!(dir.is_dir(), "--catalog {}: not a folder", dir.display());
        options.catalog_dir = Some(dir);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(options, args.addr))?;
    Ok(ExitCode::SUCCESS)
}
