//! `lookalike eval`

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use lookalike::eval::{evaluate_on, EvalOptions, QuerySet, Split};
use lookalike::eval::{instance_recall, photos_in};
use lookalike::search::SearchRequest;

use crate::output::accuracies;

mod photos;
use crate::ranking::RankingArgs;
use crate::remote::RemoteArgs;

/// Arguments of `eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of queries (stratified sample by articleType) or `all`.
    #[arg(long, default_value = "2000")]
    queries: String,
    /// `all`: any product (or photo) may be a query; `test`: only those held
    /// out from training (numeric ids with id % 5 == 0, other ids by a hash).
    #[arg(long, default_value = "all")]
    split: String,
    #[command(flatten)]
    ranking: RankingArgs,
    /// Sampling seed.
    #[arg(long, default_value_t = lookalike::eval::SEED)]
    seed: u64,
    /// Also run instance search: each photo `<id>.jpg` in this folder is
    /// uploaded as a query and should find product `id` first (default: the
    /// shared full-size sample, when present).
    #[arg(long)]
    instance_photos: Option<std::path::PathBuf>,
    /// Run the shopper-photo protocol instead: every `<kind>/*.jpg` of this
    /// folder is uploaded whole and its 10 hits judged by articleType
    /// (per kind and macro P@1, P@10 and recognition accuracy).
    #[arg(long)]
    photos: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

/// The shared full-size photos.
const SHARED_PHOTOS: &str = "../shared/datasets/fashion-product-images-full-sample/images";

pub fn run(index_dir: &Path, args: Args) -> Result<ExitCode> {
    let queries = match args.queries.as_str() {
        "all" => QuerySet::All,
        n => match n.parse::<usize>() {
            Ok(n) if n > 0 => QuerySet::Sample(n),
            _ => bail!("--queries must be a positive number or `all`, got `{n}`"),
        },
    };
    let split = match args.split.as_str() {
        "all" => Split::All,
        "test" => Split::Test,
        s => bail!("--split must be `all` or `test`, got `{s}`"),
    };
    // Checks the weights before the index is read.
    let req = args
        .ranking
        .request(SearchRequest::default().k, Vec::new())?;
    let target = args.remote.open(index_dir)?;
    if let Some(dir) = &args.photos {
        return photos::run(&target, dir, &req, split, args.json);
    }
    let index = target.target();
    let opts = EvalOptions {
        queries,
        split,
        ranking: req.clone(),
        seed: args.seed,
    };
    let r = evaluate_on(index, &target.products()?, &opts)?;
    let photo_dir = args
        .instance_photos
        .clone()
        .unwrap_or_else(|| std::path::PathBuf::from(SHARED_PHOTOS));
    let photos = if photo_dir.is_dir() {
        photos_in(&photo_dir, index)?
    } else {
        if args.instance_photos.is_some() {
            bail!("--instance-photos {}: not a folder", photo_dir.display());
        }
        Vec::new()
    };
    let instance = if photos.is_empty() {
        None
    } else {
        let embedder = index.model().embedder()?;
        Some(instance_recall(index, &embedder, &photos, &req)?)
    };
    if args.json {
        let mut v = serde_json::to_value(&r)?;
        v["model"] = serde_json::to_value(&index.model().manifest().embedder)?;
        v["head"] = serde_json::to_value(&index.model().manifest().head_hash)?;
        v["instance"] = serde_json::to_value(&instance)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let fp = &index.model().manifest().embedder;
    println!(
        "{} queries ({} split) over {} products, {} input {}x{} {}, {} colour weight {}, label weight {}, vote weight {}, {:.1}s",
        r.queries,
        args.split,
        r.corpus,
        fp.model,
        fp.input_size[0],
        fp.input_size[1],
        fp.fit,
        r.metric,
        r.colour_weight,
        r.label_weight,
        r.vote_weight,
        r.elapsed.as_secs_f64()
    );
    println!(
        "{:<12} {:>6} {:>6} {:>7} {:>7} {:>7}",
        "relevance", "P@1", "P@10", "mAP@10", "NDCG@10", "MRR@10"
    );
    for (name, m) in [
        ("type", r.relevance.type_),
        ("type+colour", r.relevance.type_colour),
    ] {
        println!(
            "{:<12} {:>6.3} {:>6.3} {:>7.3} {:>7.3} {:>7.3}",
            name, m.p1, m.p10, m.map10, m.ndcg10, m.mrr10
        );
    }
    if let Some(i) = &instance {
        println!(
            "instance search, {} photos as uploads: R@1 {:.3}, R@10 {:.3}{}",
            i.photos,
            i.r1,
            i.r10,
            if i.misses.is_empty() {
                String::new()
            } else {
                format!(
                    " (missed at 1: {})",
                    i.misses
                        .iter()
                        .map(|(id, r)| match r {
                            Some(r) => format!("{id} at {r}"),
                            None => format!("{id} beyond 10"),
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
    }
    match &index.model().manifest().head_file {
        Some(_) => {
            println!(
                "head: trained; recognition top-1 accuracy over the split's {} products: {}",
                r.recognised,
                accuracies(&r.accuracy)
            );
            if split != Split::Test {
                println!(
                    "note: with a trained head only `--split test` queries were unseen in training"
                );
            }
        }
        None => println!("head: none (zero-shot features)"),
    }
    Ok(ExitCode::SUCCESS)
}
