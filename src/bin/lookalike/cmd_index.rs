//! `lookalike index CATALOG`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use lookalike::catalog::Catalog;
use lookalike::embedding::Head;
use lookalike::embedding::{parse_input_size, ColourSpec, Embedder, ModelSpec};
use lookalike::imaging::Fit;
use lookalike::index::{
    build_index, read_manifest, AnnMode, BuildOptions, SearchSettings, StoredPrecision,
    TransformChoice,
};

use crate::output::{progress_bar, secs, BarProgress};

/// Arguments of `index`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The catalogue: a folder with styles.csv + images/, or any folder of images.
    catalog: PathBuf,
    /// Model: lite0, lite0-int8 (faster on ONNX Runtime, README "Speed"),
    /// lite2, or a JSON model spec file. Default: the index's model when
    /// updating, else lite0.
    #[arg(long)]
    model: Option<String>,
    /// Model input size as HEIGHTxWIDTH (e.g. 160x120).
    #[arg(long, value_parser = parse_input_size)]
    input_size: Option<(u32, u32)>,
    /// How images are fitted to the input: letterbox, centre-crop, stretch.
    #[arg(long)]
    fit: Option<Fit>,
    /// Images per model call (default: what indexes fastest on the backend:
    /// 1 on tract, one image per core in parallel; 8 on ONNX Runtime;
    /// docs/speed.md).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
    /// Replace an index built with another model instead of refusing.
    #[arg(long)]
    rebuild: bool,
    /// Fail (exit 1) if any row or image was skipped; the index is still written.
    #[arg(long)]
    strict: bool,
    /// List every skipped or repaired item.
    #[arg(long)]
    verbose: bool,
    /// Learned head: `auto` (an existing index keeps what it has; a new
    /// index of a catalogue with Kaggle's labels gets the head shipped for
    /// it), `none`, or a head file from `lookalike train`.
    #[arg(long, default_value = "auto")]
    head: String,
    /// ANN graph over the search rows: `auto` (what the index has, else a
    /// graph from 20,000 products), `on` or `off` (the exact scan only).
    #[arg(long)]
    ann: Option<AnnMode>,
    /// Precision of the stored rows, which `train` and a new transform are
    /// made from (search never reads them): `f32`, or `f16` for half
    /// their bytes. Default: what the index has, else f32.
    #[arg(long, value_name = "f32|f16")]
    stored_rows: Option<StoredPrecision>,
    /// Also write the products into a Qdrant cluster (comma-separated
    /// `http://host:port` REST URLs): each product a point, only changed
    /// ones sent, removed ones deleted (README "Scale-out").
    #[cfg(feature = "qdrant")]
    #[arg(long, value_name = "URL[,URL..]")]
    qdrant: Option<String>,
    /// The Qdrant collection.
    #[cfg(feature = "qdrant")]
    #[arg(long, default_value = "lookalike", requires = "qdrant")]
    collection: String,
    /// Shards of a new collection.
    #[cfg(feature = "qdrant")]
    #[arg(long, default_value_t = 6, requires = "qdrant")]
    shards: u32,
    /// Copies of each shard of a new collection.
    #[cfg(feature = "qdrant")]
    #[arg(long, default_value_t = 2, requires = "qdrant")]
    replicas: u32,
    /// With --qdrant: where to write the kit (the model record and head,
    /// a few MB) that `search`, `eval` and `serve --qdrant` read.
    #[cfg(feature = "qdrant")]
    #[arg(long, default_value = crate::remote::KIT, env = "LOOKALIKE_KIT", requires = "qdrant")]
    kit: PathBuf,
}

/// What `--head` asks for, given the catalogue and the embedder.
fn choose_head(
    arg: &str,
    index: &Path,
    catalog: &Catalog,
    embedder: &Embedder,
) -> Result<TransformChoice> {
    match arg {
        "none" => Ok(TransformChoice::Auto),
        "auto" => Ok(TransformChoice::auto(
            index,
            &catalog.fields,
            embedder.fingerprint(),
        )?),
        file => {
            let head = Head::load(Path::new(file))?;
            head.check_embedder(embedder.fingerprint(), index)?;
            Ok(TransformChoice::Head(Arc::new(head)))
        }
    }
}

/// The spec to index with: explicit options, else the existing index's, else lite0.
/// The model, and the head colour descriptor: an existing index keeps its
/// own (an update must make rows like the ones it has) unless rebuilt.
fn choose_spec(index: &Path, args: &Args) -> Result<(ModelSpec, Option<ColourSpec>)> {
    let existing = read_manifest(index).ok();
    let head_colour = match &existing {
        Some(m) if !args.rebuild => m.embedder.head_colour,
        _ => Some(ColourSpec::for_head()),
    };
    let mut spec = match (&args.model, existing) {
        (Some(m), _) => ModelSpec::resolve(m)?,
        (None, Some(m)) => m.model,
        (None, _) => ModelSpec::default_model(),
    };
    if let Some((h, w)) = args.input_size {
        spec = spec.with_input_size(h, w)?;
    }
    if let Some(fit) = args.fit {
        spec.fit = fit;
    }
    Ok((spec, head_colour))
}

pub fn run(index: &Path, args: Args) -> Result<ExitCode> {
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .context("setting up worker threads")?;
    }
    if args.batch_size.is_some_and(|b| b == 0 || b > 256) {
        bail!("--batch-size must be in 1..=256");
    }
    let catalog = Catalog::open(&args.catalog)?;
    tracing::info!(
        "catalogue {}: {} images ({:?} layout)",
        args.catalog.display(),
        catalog.products.len(),
        catalog.layout
    );
    let (spec, head_colour) = choose_spec(index, &args)?;
    let embedder = Embedder::with_head_colour(&spec, ColourSpec::default(), head_colour)?;
    tracing::info!("model {}", embedder.fingerprint());

    let cancel = Arc::new(AtomicBool::new(false));
    {
        let cancel = cancel.clone();
        let _ = ctrlc::set_handler(move || {
            if cancel.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again: exiting now (finished embeddings are journalled)");
                std::process::exit(130);
            }
            eprintln!("\ninterrupt: finishing the current batches (Ctrl-C again to quit at once)");
        });
    }
    let head = choose_head(&args.head, index, &catalog, &embedder)?;
    let opts = BuildOptions {
        rebuild: args.rebuild,
        batch_size: args
            .batch_size
            .unwrap_or_else(|| embedder.backend().preferred_batch_size()),
        search: SearchSettings {
            transform: head,
            ann: args.ann,
            stored_precision: args.stored_rows,
            ..SearchSettings::default()
        },
        ..BuildOptions::default()
    };
    let bar = progress_bar();
    let progress = BarProgress {
        bar: &bar,
        cancel: Some(&cancel),
    };
    let result = build_index(&catalog, &embedder, index, &opts, &progress);
    bar.finish_and_clear();
    let report = match result {
        Err(lookalike::Error::Interrupted) => {
            eprintln!(
                "interrupted: the previous index in {} is intact; finished embeddings are kept \
                 and the next `lookalike index` resumes from them",
                index.display()
            );
            return Ok(ExitCode::from(130));
        }
        r => r?,
    };

    let counts = report.problems.counts();
    println!(
        "indexed {} products into {} in {} ({} embedded at {:.1} img/s, {} unchanged, {} resumed, {} removed)",
        report.indexed,
        index.display(),
        secs(report.elapsed),
        report.embedded,
        report.images_per_second(),
        report.reused,
        report.resumed,
        report.removed,
    );
    let skipped = report.problems.skipped();
    if !counts.is_empty() {
        println!("{skipped} skipped; problems found:");
        for (kind, n) in &counts {
            println!("  {n:>6}  {}", kind.describe());
        }
        if args.verbose {
            for p in &report.problems.problems {
                println!("  {:?}: {p}", p.kind);
            }
        } else {
            for p in report
                .problems
                .problems
                .iter()
                .filter(|p| p.kind.is_skip())
                .take(5)
            {
                println!("  e.g. {p}");
            }
            println!("  (--verbose lists every item)");
        }
    }
    #[cfg(feature = "qdrant")]
    if let Some(urls) = &args.qdrant {
        if let Some(code) = sync_qdrant(urls, &args, index, &cancel)? {
            return Ok(code);
        }
    }
    if args.strict && skipped > 0 {
        eprintln!("error: {skipped} items were skipped (--strict)");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes the index just committed into the Qdrant collection of `args`;
/// `Some(code)` where the command stops there.
#[cfg(feature = "qdrant")]
fn sync_qdrant(
    urls: &str,
    args: &Args,
    index: &Path,
    cancel: &AtomicBool,
) -> Result<Option<ExitCode>> {
    use lookalike::qdrant::{sync_collection, CollectionSpec, QdrantNodes};
    let nodes = QdrantNodes::new(urls)?;
    let spec = CollectionSpec {
        name: args.collection.clone(),
        shards: args.shards,
        replicas: args.replicas,
    };
    let opened = lookalike::Index::open(index)?;
    let bar = progress_bar();
    let progress = BarProgress {
        bar: &bar,
        cancel: Some(cancel),
    };
    let result = sync_collection(&nodes, &spec, &opened, &progress);
    bar.finish_and_clear();
    let report = match result {
        Err(lookalike::Error::Interrupted) => {
            eprintln!(
                "interrupted: the points written so far are in Qdrant; the next run sends the rest"
            );
            return Ok(Some(ExitCode::from(130)));
        }
        r => r.with_context(|| {
            format!(
                "writing the products into Qdrant collection `{}`",
                spec.name
            )
        })?,
    };
    println!(
        "Qdrant collection `{}`{}: {} points written ({:.0}/s), {} deleted, {} unchanged",
        spec.name,
        if report.created { " (made)" } else { "" },
        report.upserted,
        report.upsert_rate(),
        report.deleted,
        report.unchanged
    );
    opened
        .model()
        .write_kit(&args.kit)
        .with_context(|| format!("writing the kit to {}", args.kit.display()))?;
    println!(
        "kit (model and head) in {}: search with `--qdrant {urls} --collection {} --kit {}`",
        args.kit.display(),
        spec.name,
        args.kit.display()
    );
    Ok(None)
}
