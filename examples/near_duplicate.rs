//! Development tool: the looks similarity of each image's nearest catalogue
//! product when the image is searched whole (as a packshot), the measure the
//! near-duplicate rule of `search::query_image` reads. Prints quantiles per
//! folder (`VERBOSE=1`: each file with its scene).
//! `cargo run --release --example near_duplicate -- INDEX DIR...`

use lookalike::imaging::{decode_file, DecodeLimits};
use lookalike::search::{search, Query, SearchRequest};
use lookalike::Index;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let index = Index::open(std::path::Path::new(
        &args
            .next()
            .ok_or_else(|| anyhow::anyhow!("usage: INDEX DIR..."))?,
    ))?;
    let embedder = index.embedder()?;
    let req = SearchRequest {
        k: 1,
        label_weight: 0.0,
        vote_weight: 0.0,
        ..SearchRequest::default()
    };
    for dir in args {
        // The catalogue's own scan of a folder of images.
        let files: Vec<_> = lookalike::Catalog::open(&dir)?
            .products
            .into_iter()
            .map(|p| p.image)
            .collect();
        let mut sims = Vec::new();
        for f in &files {
            let img = decode_file(f, &DecodeLimits::default())?;
            let e = embedder.embed_packshot(&img, index.manifest().catalog_image_size)?;
            let hits = search(&index, &Query::Embedding(&e), &req)?.hits;
            let raw = hits.first().map_or(0.0, |h| h.score);
            if std::env::var_os("VERBOSE").is_some() {
                let scene = lookalike::imaging::locate_product(&img).scene;
                println!("{} {:?} {raw:.3}", f.display(), scene);
            }
            sims.push(raw);
        }
        sims.sort_by(f32::total_cmp);
        let q = |p: f32| sims[((sims.len() - 1) as f32 * p) as usize];
        println!(
            "{dir}: {} images, nearest looks similarity min {:.3} p05 {:.3} p50 {:.3} p95 {:.3} p99 {:.3} max {:.3}",
            sims.len(), q(0.0), q(0.05), q(0.5), q(0.95), q(0.99), q(1.0)
        );
    }
    Ok(())
}
