//! `lookalike search (--image FILE | --id ID)`

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use lookalike::imaging::{DecodeLimits, Region};
use lookalike::search::{embed_upload, recognise, Filter, Query, SearchResponse};

use crate::output::clip;
use crate::ranking::RankingArgs;
use crate::remote::RemoteArgs;

/// Arguments of `search`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("query").required(true).args(["image", "id"])))]
pub struct Args {
    /// Search by this image file.
    #[arg(long)]
    image: Option<PathBuf>,
    /// With --image: search with this region of the image, `x,y,w,h` in its
    /// pixels (default: the product as located in a photo, or the whole of
    /// a packshot).
    #[arg(long, requires = "image", value_parser = parse_crop)]
    crop: Option<Region>,
    /// Search by this product of the index (it is not among the hits).
    #[arg(long)]
    id: Option<String>,
    /// Number of hits.
    #[arg(short, long, default_value_t = 10)]
    k: usize,
    /// Label filter, e.g. `gender=Women`, `articleType in (Shirts,Tshirts)`,
    /// `year>=2012`; repeat to combine (AND).
    #[arg(long = "filter", value_name = "EXPR")]
    filters: Vec<String>,
    #[command(flatten)]
    ranking: RankingArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    remote: RemoteArgs,
}

pub fn run(index_dir: &Path, args: Args) -> Result<ExitCode> {
    let start = Instant::now();
    let target = args.remote.open(index_dir)?;
    let index = target.target();
    let filters = args
        .filters
        .iter()
        .map(|f| Filter::parse(f))
        .collect::<Result<Vec<_>, _>>()?;
    let req = args.ranking.request(args.k, filters)?;
    let mut query = None;
    let results = match (&args.image, &args.id) {
        (Some(path), _) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            let embedding = embed_upload(
                index,
                &index.model().embedder()?,
                &bytes,
                &DecodeLimits::default(),
                args.crop,
            )
            .with_context(|| format!("{}", path.display()))?;
            let r = index.search(&Query::Embedding(&embedding.embedding), &req)?;
            query = Some(embedding);
            r
        }
        (None, Some(id)) => index.search(&Query::Product(id), &req)?,
        (None, None) => unreachable!("clap requires --image or --id"),
    };
    let recognised = recognise(index, &results, 3);
    let took_ms = start.elapsed().as_secs_f64() * 1e3;
    if args.json {
        let out = SearchResponse::new(
            results,
            recognised.as_ref(),
            query.as_ref(),
            start.elapsed(),
        );
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(r) = &recognised {
        let best: Vec<String> = r
            .iter()
            .filter_map(|(field, g)| {
                g.first()
                    .map(|g| format!("{field} {} ({:.0}%)", g.label, g.confidence * 100.0))
            })
            .collect();
        println!("looks like: {}", best.join(", "));
    }
    if let Some(q) = &query {
        if q.scene == lookalike::imaging::Scene::Photo {
            println!(
                "searched with the region {} (x,y,w,h) of the photo",
                q.region
            );
        }
    }
    if results.hits.is_empty() {
        println!("no product matches");
    } else {
        println!(
            "rank  {:<10} {:>7}  {:<18} {:<12} name",
            "id",
            args.ranking.metric.to_string(),
            "articleType",
            "colour"
        );
        for (i, h) in results.hits.iter().enumerate() {
            let l = |f: &str| h.labels.get(f).unwrap_or("-").to_string();
            println!(
                "{:>4}  {:<10} {:>7.4}  {:<18} {:<12} {}",
                i + 1,
                clip(&h.id, 10),
                h.score,
                clip(&l("articleType"), 18),
                clip(&l("baseColour"), 12),
                clip(&l("productDisplayName"), 50)
            );
        }
    }
    println!("{} hits in {:.1} ms", results.hits.len(), took_ms);
    Ok(ExitCode::SUCCESS)
}

fn parse_crop(s: &str) -> Result<Region, String> {
    Region::parse(s)
}
