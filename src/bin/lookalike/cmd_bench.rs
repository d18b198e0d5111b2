//! `lookalike bench`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use lookalike::bench::{bench_indexing, bench_queries};
use lookalike::catalog::{has_image_extension, Catalog};
use lookalike::embedding::{ColourSpec, Embedder, ModelSpec};
use lookalike::index::read_manifest;
use lookalike::rng::SplitMix64;
use lookalike::search::SearchRequest;
use lookalike::Index;
use serde_json::json;

/// The shared catalogue, relative to the project root.
const SHARED_SMALL: &str = "../shared/datasets/fashion-product-images-small";
const SHARED_FULL: &str = "../shared/datasets/fashion-product-images-full-sample";
const SHARED_SHOPPER: &str = "../shared/datasets/shopper-photos-dev";

/// Arguments of `bench`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    /// Another benchmark than indexing and query latency.
    #[command(subcommand)]
    what: Option<Benchmark>,
    /// Catalogue to index for the throughput figure (default: the index's
    /// catalogue, else ../shared/datasets/fashion-product-images-small).
    #[arg(long)]
    catalog: Option<PathBuf>,
    /// Images to index for the throughput figure.
    #[arg(long, default_value_t = 2000)]
    images: usize,
    /// Images per model call (default: what indexes fastest on the backend,
    /// as for `index`).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Number of queries of each kind.
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Folder of large photos to query with (default: the shared full-size sample).
    #[arg(long)]
    photos: Option<PathBuf>,
    /// Folder of shopper photos (`<kind>/*.jpg`) to query with (default:
    /// the shared development set; 100 of them, spread over the kinds).
    #[arg(long)]
    shopper_photos: Option<PathBuf>,
    /// Model for the throughput run (default: the index's, else the one a
    /// new index gets, as for `index`).
    #[arg(long)]
    model: Option<String>,
    /// Input size HEIGHTxWIDTH for the throughput run.
    #[arg(long, value_parser = lookalike::embedding::parse_input_size)]
    input_size: Option<(u32, u32)>,
    /// Training steps of the head to time, each way (candle's blocks and
    /// `train`'s fused optimiser; 0: skip).
    #[arg(long, default_value_t = 20)]
    train_steps: usize,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// The benchmarks besides the default one.
#[derive(Debug, clap::Subcommand)]
enum Benchmark {
    /// The exact scan against the ANN graph on N synthetic products made
    /// from the index (recall, latency on one core, build time, memory).
    Scale(crate::cmd_bench_scale::Args),
}

fn list_images(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| has_image_extension(p))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

pub fn run(index_dir: &Path, args: Args) -> Result<ExitCode> {
    if let Some(Benchmark::Scale(scale)) = args.what {
        return crate::cmd_bench_scale::run(index_dir, scale);
    }
    let manifest = read_manifest(index_dir).ok();
    let catalog_dir = args
        .catalog
        .clone()
        .or_else(|| manifest.as_ref().map(|m| m.catalog_root.clone()))
        .unwrap_or_else(|| PathBuf::from(SHARED_SMALL));
    let mut spec = match (&args.model, &manifest) {
        (Some(name), _) => ModelSpec::resolve(name)?,
        (None, Some(m)) => m.model.clone(),
        (None, None) => ModelSpec::default_model(),
    };
    if let Some((h, w)) = args.input_size {
        spec = spec.with_input_size(h, w)?;
    }
    let catalog = Catalog::open(&catalog_dir)?;
    let embedder = Embedder::new(&spec, ColourSpec::default())?;

    // 1. Indexing throughput on a fresh temporary index, removed on every
    // way out (an early error included).
    let tmp_dir = tempfile::Builder::new()
        .prefix("lookalike-bench-")
        .tempdir()
        .context("creating the benchmark's temporary index directory")?;
    let tmp = tmp_dir.path().join("index");
    let n = args.images.min(catalog.products.len());
    eprintln!("indexing {n} images of {} ...", catalog_dir.display());
    let batch_size = args
        .batch_size
        .unwrap_or_else(|| embedder.backend().preferred_batch_size());
    let build = bench_indexing(&catalog, &embedder, n, &tmp, batch_size)?;

    // 2. Query latency on the real index if it uses this model, else on the bench index.
    let same_model = manifest
        .as_ref()
        .is_some_and(|m| &m.embedder == embedder.fingerprint());
    let query_dir = if same_model { index_dir } else { tmp.as_path() };
    let index = Index::open(query_dir)?;
    if index.is_empty() {
        anyhow::bail!(
            "no product to query: none of the {n} images of {} could be indexed ({} skipped; \
             `lookalike index {} --verbose` lists them)",
            catalog_dir.display(),
            build.problems.skipped(),
            catalog_dir.display()
        );
    }
    let mut rng = SplitMix64(7);
    let rows: Vec<usize> = (0..args.queries).map(|_| rng.below(index.len())).collect();
    let ids: Vec<String> = rows
        .iter()
        .map(|&r| index.products()[r].id.clone())
        .collect();
    let images: Vec<PathBuf> = rows
        .iter()
        .take(args.queries.min(100))
        .map(|&r| index.image_path(r))
        .collect();
    let photo_dir = args
        .photos
        .clone()
        .unwrap_or_else(|| PathBuf::from(SHARED_FULL).join("images"));
    let photos = list_images(&photo_dir);
    if photos.is_empty() {
        eprintln!(
            "note: no photos in {}; the photo latency is left out",
            photo_dir.display()
        );
    }
    let shopper_dir = args
        .shopper_photos
        .clone()
        .unwrap_or_else(|| PathBuf::from(SHARED_SHOPPER));
    let shopper: Vec<PathBuf> = match lookalike::eval::shopper_photos(&shopper_dir) {
        Ok(p) => {
            let step = (p.len() / 100).max(1);
            p.into_iter()
                .step_by(step)
                .take(100)
                .map(|p| p.path)
                .collect()
        }
        Err(e) => {
            eprintln!("note: {e}; the shopper-photo latency is left out");
            Vec::new()
        }
    };
    // Each photo twice, for a steadier median over 24 files.
    let photos: Vec<PathBuf> = photos.iter().chain(photos.iter()).cloned().collect();
    eprintln!(
        "querying {} ({} products) ...",
        query_dir.display(),
        index.len()
    );
    let q = bench_queries(
        &index,
        &embedder,
        &ids,
        &images,
        &photos,
        &shopper,
        &SearchRequest::default(),
    )
    .context("query benchmark")?;
    let index_products = index.len();
    drop(index);
    drop(tmp_dir);

    let (step, step_line) = training_step(args.train_steps)?;

    let s = build.stages;
    let per = |d: std::time::Duration| d.as_secs_f64() * 1e3 / build.embedded.max(1) as f64;
    let threads = rayon::current_num_threads();
    let out = json!({
        "indexing": {
            "images": build.embedded,
            "seconds": build.elapsed.as_secs_f64(),
            "images_per_second": build.images_per_second(),
            "threads": threads,
            "batch_size": batch_size,
            "backend": embedder.backend(),
            "cpu_ms_per_image": {
                "decode": per(s.decode), "resize": per(s.resize), "embed": per(s.embed), "write": per(s.write),
            },
            "full_catalogue_estimate_s": 44441.0 / build.images_per_second().max(1e-9),
        },
        "query": {
            "index_products": index_products,
            "by_id": q.by_id,
            "by_id_without_vote": q.by_id_without_vote,
            "by_image_60x80": q.by_image,
            "by_image_60x80_without_vote": q.by_image_without_vote,
            "by_photo": q.by_photo,
            "by_shopper_photo": q.by_shopper_photo,
        },
        "training_step": step,
        "model": embedder.fingerprint(),
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    let fp = embedder.fingerprint();
    println!(
        "model {} input {}x{} {} on {}, {threads} threads, batch {}",
        fp.model,
        fp.input_size[0],
        fp.input_size[1],
        fp.fit,
        embedder.backend(),
        batch_size
    );
    println!(
        "indexing: {} images in {:.1}s = {:.1} img/s (full 44,441-image catalogue ≈ {:.1} min)",
        build.embedded,
        build.elapsed.as_secs_f64(),
        build.images_per_second(),
        44441.0 / build.images_per_second().max(1e-9) / 60.0
    );
    println!(
        "  CPU ms per image: decode {:.2}, resize+colour {:.2}, embed {:.2}, write {:.3}",
        per(s.decode),
        per(s.resize),
        per(s.embed),
        per(s.write)
    );
    for (name, l) in [
        ("by id", q.by_id),
        ("by id w/o vote", q.by_id_without_vote),
        ("by 60x80 image", q.by_image),
        ("by 60x80 image w/o vote", q.by_image_without_vote),
        ("by full-size photo", q.by_photo),
        ("by shopper photo", q.by_shopper_photo),
    ] {
        println!(
            "query {name:<20} p50 {:>7.2} ms  p99 {:>7.2} ms  ({} queries)",
            l.p50_ms, l.p99_ms, l.n
        );
    }
    if let Some(line) = step_line {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `steps` training steps timed both ways: the JSON and the line to print
/// (`null` and nothing for 0 steps).
#[cfg(feature = "training")]
fn training_step(steps: usize) -> Result<(serde_json::Value, Option<String>)> {
    if steps == 0 {
        return Ok((serde_json::Value::Null, None));
    }
    eprintln!("timing {steps} training steps each way ...");
    let t = lookalike::training::bench_training_step(steps).context("training step benchmark")?;
    let line = format!(
        "training step (batch {}, {:.1}M weights): candle's AdamW and matmul p50 {:.1} ms, \
         train's fused optimiser and data-only products p50 {:.1} ms ({:.2}x)",
        t.batch,
        t.parameters as f64 / 1e6,
        t.candle.p50_ms,
        t.fused.p50_ms,
        t.candle.p50_ms / t.fused.p50_ms.max(1e-9)
    );
    Ok((serde_json::to_value(&t)?, Some(line)))
}

/// Built without the `training` feature: no step to time.
#[cfg(not(feature = "training"))]
fn training_step(_steps: usize) -> Result<(serde_json::Value, Option<String>)> {
    Ok((serde_json::Value::Null, None))
}
