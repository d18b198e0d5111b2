//! Where a 60x80 upload's time goes: decode, locate, prepare (fit to the
//! model input and both colour descriptors), CNN, head (the search row) and
//! search (the class probabilities, scan or graph, label term, vote).
//! Single-threaded caller, as a server request.
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
    const STEPS: [&str; 6] = ["decode", "locate", "prepare", "cnn", "head", "search"];
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); STEPS.len()];
    for (i, f) in files.iter().enumerate() {
        let bytes = std::fs::read(f)?;
        let mut times = [0f64; STEPS.len()];
        let mut lap = {
            let mut s = Instant::now();
            move |slot: &mut f64| {
                *slot = s.elapsed().as_secs_f64() * 1e3;
                s = Instant::now();
            }
        };
        let img = decode(&bytes, &DecodeLimits::default())?;
        lap(&mut times[0]);
        let _ = locate_product(&img);
        lap(&mut times[1]);
        let prepared = embedder.prepare(&img);
        lap(&mut times[2]);
        let e = embedder
            .embed_prepared(std::slice::from_ref(&prepared))?
            .pop()
            .ok_or_else(|| anyhow::anyhow!("no embedding"))?;
        lap(&mut times[3]);
        let row = index.query_row(&e)?;
        lap(&mut times[4]);
        let _ = search(&index, &Query::SearchRow(&row), &req)?;
        lap(&mut times[5]);
        // The first upload warms caches and sessions.
        if i > 0 {
            for (s, t) in samples.iter_mut().zip(times) {
                s.push(t);
            }
        }
    }
    println!(
        "ms per upload, p50 ({} on {}, {} uploads):",
        embedder.spec().name,
        embedder.backend(),
        samples[0].len()
    );
    let mut total = 0.0;
    for (name, mut s) in STEPS.iter().zip(samples) {
        s.sort_by(f64::total_cmp);
        let p50 = s.get(s.len() / 2).copied().unwrap_or(0.0);
        let mean = s.iter().sum::<f64>() / s.len().max(1) as f64;
        total += mean;
        println!("  {name:8} p50 {p50:6.2}  mean {mean:6.2}");
    }
    println!("  total    mean {total:6.2}");
    Ok(())
}
