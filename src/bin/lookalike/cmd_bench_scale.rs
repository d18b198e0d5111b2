//! `lookalike bench scale`: the exact scan against the ANN graph on a
//! synthetic catalogue of N products derived from a real index.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{bail, Context, Result};
use lookalike::bench::{
    bench_scale_queries, write_synthetic_index, QueryFigures, QueryPhase, ScaleOptions,
};
use lookalike::index::AnnParams;
use lookalike::Index;
use serde_json::json;

use crate::output::{progress_bar, BarProgress};

/// Arguments of `bench scale`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Synthetic products (each a product of `--index` plus noise, with its labels).
    #[arg(long, default_value_t = 1_000_000)]
    rows: usize,
    /// Queries of each kind (by id, by vector, each filter).
    #[arg(long, default_value_t = 1000)]
    queries: usize,
    /// Length of the noise added to each unit part of a row.
    #[arg(long, default_value_t = 0.5)]
    noise: f32,
    /// Where the temporary index goes (default: the system's temporary
    /// folder); 1M products take about 4 GB.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// HNSW links per node.
    #[arg(long, default_value_t = AnnParams::default().connectivity)]
    connectivity: usize,
    /// HNSW candidates kept while inserting.
    #[arg(long, default_value_t = AnnParams::default().expansion_add)]
    ef_construction: usize,
    /// HNSW candidates kept while searching.
    #[arg(long, default_value_t = AnnParams::default().expansion_search)]
    ef: usize,
    /// Keep the synthetic index in `--dir` (its path is printed); rerun its
    /// queries with `bench scale --phase exact --run-queries DIR/index`,
    /// then `--phase graph` (which prints the figures as JSON).
    #[arg(long, requires = "dir")]
    keep: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// Run the queries of an index this command built (the child processes
    /// that measure them on one thread): the exact phase, then the graph's.
    #[arg(long, hide = true)]
    run_queries: Option<PathBuf>,
    /// With `--run-queries`: `exact` (the reference) or `graph`.
    #[arg(long, hide = true, default_value = "graph")]
    phase: String,
}

/// Runs the queries of the synthetic index in `dir`: the exact phase, then
/// the graph's, each in a child process on one thread (per-core latency,
/// and the graph's resident memory without the scans' or the build's).
fn run_queries(dir: &Path) -> Result<QueryFigures> {
    let exe = std::env::current_exe().context("finding this program to run the queries")?;
    let mut stdout = Vec::new();
    for phase in ["exact", "graph"] {
        let out = Command::new(&exe)
            .args(["bench", "scale", "--phase", phase, "--run-queries"])
            .arg(dir)
            .env("RAYON_NUM_THREADS", "1")
            .output()
            .with_context(|| format!("running the {phase} queries"))?;
        if !out.status.success() {
            bail!(
                "the {phase} query run failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        stdout = out.stdout;
    }
    serde_json::from_slice(&stdout).context("reading the query run's figures")
}

pub fn run(index_dir: &Path, args: Args) -> Result<ExitCode> {
    if let Some(dir) = &args.run_queries {
        let phase = match args.phase.as_str() {
            "exact" => QueryPhase::Exact,
            "graph" => QueryPhase::Graph,
            other => bail!("unknown phase `{other}` (exact or graph)"),
        };
        if let Some(figures) = bench_scale_queries(dir, phase)? {
            println!("{}", serde_json::to_string(&figures)?);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.rows == 0 || args.queries == 0 {
        bail!("--rows and --queries must be at least 1");
    }
    let source = Index::open(index_dir)
        .with_context(|| format!("opening the source index {}", index_dir.display()))?;
    let tmp = match &args.dir {
        Some(d) => tempfile::Builder::new()
            .prefix("lookalike-scale-")
            .tempdir_in(d),
        None => tempfile::Builder::new()
            .prefix("lookalike-scale-")
            .tempdir(),
    }
    .context("creating the benchmark's temporary index directory")?;
    let dir = tmp.path().join("index");
    let opts = ScaleOptions {
        rows: args.rows,
        queries: args.queries,
        noise: args.noise,
        ann: AnnParams {
            connectivity: args.connectivity,
            expansion_add: args.ef_construction,
            expansion_search: args.ef,
        },
        ..ScaleOptions::default()
    };
    eprintln!(
        "building {} synthetic products from the {} of {} ...",
        opts.rows,
        source.len(),
        index_dir.display()
    );
    let bar = progress_bar();
    let built = write_synthetic_index(
        &source,
        &dir,
        &opts,
        &BarProgress {
            bar: &bar,
            cancel: None,
        },
    )?;
    bar.finish_and_clear();
    drop(source);
    eprintln!(
        "graph built in {:.1}s; running {} queries of each kind on one thread ...",
        built.build_s, opts.queries
    );
    let q = run_queries(&dir)?;
    let report = json!({
        "rows": built.rows,
        "build_s": built.build_s,
        "disk_bytes": built.disk_bytes,
        "rss_bytes": q.rss_bytes,
        "rss_anon_bytes": q.rss_anon_bytes,
        "rss_file_bytes": q.rss_file_bytes,
        "rss_exact_process_bytes": q.rss_exact_bytes,
        "rss_by_file": q.rss_by_file,
        "exact": q.exact,
        "ann": q.ann,
        "filtered": q.filtered,
        "by_vector": { "ann": q.by_vector, "exact": q.by_vector_exact },
        "write_s": built.write_s,
        "open_s": q.open_s,
        "params": opts.ann,
        "noise": opts.noise,
        "queries": opts.queries,
    });
    if args.keep {
        let kept = tmp.keep();
        eprintln!(
            "kept the synthetic index in {}",
            kept.join("index").display()
        );
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "{} products: graph built in {:.1}s ({:.0} rows/s), {:.0} MiB on disk ({:.0} bytes per product), {} resident",
        built.rows,
        built.build_s,
        built.rows as f64 / built.build_s.max(1e-9),
        mib(built.disk_bytes),
        built.disk_bytes as f64 / built.rows as f64,
        q.rss_bytes.map_or("unknown".into(), |r| format!("{:.0} MiB", mib(r)))
    );
    println!("one thread           p50 ms   p99 ms  recall@10  speed-up");
    let line = |what: &str, p50: f64, p99: f64, recall: Option<f64>, exact_p50: f64| {
        println!(
            "{what:<20} {p50:>7.2} {p99:>8.2} {:>10} {:>8}",
            recall.map_or(String::new(), |r| format!("{r:.3}")),
            if recall.is_some() {
                format!("{:.1}x", exact_p50 / p50.max(1e-9))
            } else {
                String::new()
            }
        )
    };
    line("by id, exact", q.exact.p50_ms, q.exact.p99_ms, None, 0.0);
    line(
        "by id, graph",
        q.ann.p50_ms,
        q.ann.p99_ms,
        Some(q.ann.recall10),
        q.exact.p50_ms,
    );
    line(
        "by vector, exact",
        q.by_vector_exact.p50_ms,
        q.by_vector_exact.p99_ms,
        None,
        0.0,
    );
    line(
        "by vector, graph",
        q.by_vector.p50_ms,
        q.by_vector.p99_ms,
        Some(q.by_vector.recall10),
        q.by_vector_exact.p50_ms,
    );
    for f in &q.filtered {
        println!(
            "{:<20} {:>7.2} {:>8} {:>10.3} {:>7.1}x  ({}, {:.2} % of products, exact {:.2} ms, {} short)",
            format!("filtered {:.1} %", f.selectivity * 100.0),
            f.p50_ms,
            "",
            f.recall10,
            f.exact_p50_ms / f.p50_ms.max(1e-9),
            f.filter,
            f.selectivity * 100.0,
            f.exact_p50_ms,
            f.short_results
        );
    }
    Ok(ExitCode::SUCCESS)
}
