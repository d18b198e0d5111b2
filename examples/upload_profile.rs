//! Where a 60x80 upload's time goes: decode, locate, embed (CNN included),
//! search (head, scan, vote). Single-threaded caller, as a server request.
//!
//!     cargo run --release --example upload_profile -- INDEX [N]

use std::time::Instant;

use lookalike::imaging::{decode, locate_product, DecodeLimits};
use lookalike::search::{search, Query, SearchRequest};
use lookalike::Index;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "lookalike-index".into());
    let n: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(200);
    let index = Index::open(std::path::Path::new(&dir))?;
    let embedder = index.embedder()?;
    let root = index.manifest().catalog_root.clone();
    let files: Vec<_> = index
        .products()
        .iter()
        .step_by(index.len() / n.max(1))
        .take(n)
        .map(|p| root.join(&p.image))
        .collect();
    let req = SearchRequest::default();
    let mut t = [0f64; 4];
    for (i, f) in files.iter().enumerate() {
        let bytes = std::fs::read(f)?;
        let s = Instant::now();
        let img = decode(&bytes, &DecodeLimits::default())?;
        let t0 = s.elapsed().as_secs_f64();
        let s = Instant::now();
        let _ = locate_product(&img);
        let t1 = s.elapsed().as_secs_f64();
        let s = Instant::now();
        let e = embedder.embed_packshot(&img, index.manifest().catalog_image_size)?;
        let t2 = s.elapsed().as_secs_f64();
        let s = Instant::now();
        let _ = search(&index, &Query::Embedding(&e), &req)?;
        let t3 = s.elapsed().as_secs_f64();
        if i > 0 {
            for (a, b) in t.iter_mut().zip([t0, t1, t2, t3]) {
                *a += b;
            }
        }
    }
    let per = |x: f64| x * 1e3 / (files.len() - 1).max(1) as f64;
    println!(
        "ms per upload ({} on {}): decode {:.2}, locate {:.2}, embed {:.2}, search {:.2}",
        embedder.spec().name,
        embedder.backend(),
        per(t[0]),
        per(t[1]),
        per(t[2]),
        per(t[3])
    );
    Ok(())
}
