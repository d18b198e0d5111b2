//! `lookalike eval`

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use lookalike::eval::{evaluate, EvalOptions, QuerySet, Split};
use lookalike::search::{Metric, DEFAULT_COLOUR_WEIGHT};
use lookalike::Index;

/// Arguments of `eval`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Number of queries (stratified sample by articleType) or `all`.
    #[arg(long, default_value = "2000")]
    queries: String,
    /// `all`: any product may be a query; `test`: only ids with id % 5 == 0.
    #[arg(long, default_value = "all")]
    split: String,
    /// Similarity metric.
    #[arg(long, default_value = "cosine")]
    metric: Metric,
    /// Weight of colour against shape, 0..=1.
    #[arg(long, default_value_t = DEFAULT_COLOUR_WEIGHT)]
    colour_weight: f32,
    /// Sampling seed.
    #[arg(long, default_value_t = lookalike::eval::sample::SEED)]
    seed: u64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

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
    if !(0.0..=1.0).contains(&args.colour_weight) {
        bail!("--colour-weight must be in 0..=1");
    }
    let index = Index::open(index_dir)?;
    let opts = EvalOptions {
        queries,
        split,
        metric: args.metric,
        colour_weight: args.colour_weight,
        seed: args.seed,
    };
    let r = evaluate(&index, &opts)?;
    if args.json {
        let mut v = serde_json::to_value(&r)?;
        v["model"] = serde_json::to_value(&index.manifest().embedder)?;
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let fp = &index.manifest().embedder;
    println!(
        "{} queries ({} split) over {} products, {} input {}x{} {}, {} colour weight {}, {:.1}s",
        r.queries,
        args.split,
        r.corpus,
        fp.model,
        fp.input_size[0],
        fp.input_size[1],
        fp.fit,
        r.metric,
        r.colour_weight,
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
    Ok(ExitCode::SUCCESS)
}
