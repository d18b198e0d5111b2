//! Throughput and latency measurements behind `lookalike bench`.

mod scale;

pub use scale::{
    bench_scale_queries, resident_bytes, write_synthetic_index, AnnFigures, ExactFigures,
    FilteredFigures, QueryFigures, QueryPhase, QueryPlan, ScaleOptions, SyntheticIndex,
    SELECTIVITIES,
};

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::catalog::Catalog;
use crate::embedding::Embedder;
use crate::error::{IoResultExt, Result};
use crate::imaging::DecodeLimits;
use crate::index::{build_index, BuildOptions, BuildReport, Index};
use crate::search::{search, Query, SearchRequest};

/// Latency percentiles of repeated operations.
#[derive(Debug, Clone, Copy, Serialize, Default)]
pub struct Latency {
    /// Number of samples.
    pub n: usize,
    /// Median, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile (nearest rank), milliseconds.
    pub p99_ms: f64,
    /// Mean, milliseconds.
    pub mean_ms: f64,
}

impl Latency {
    /// Percentiles of `samples`.
    pub fn of(samples: &[Duration]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let at = |q: f64| ms[(((ms.len() as f64) * q).ceil() as usize).clamp(1, ms.len()) - 1];
        Latency {
            n: ms.len(),
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            mean_ms: ms.iter().sum::<f64>() / ms.len() as f64,
        }
    }
}

/// Indexes the first `n` products of `catalog` into a fresh index in `dir`,
/// as `lookalike index` would (with the shipped head where it applies).
pub fn bench_indexing(
    catalog: &Catalog,
    embedder: &Embedder,
    n: usize,
    dir: &Path,
    batch_size: usize,
) -> Result<BuildReport> {
    let mut subset = catalog.clone();
    subset.products.truncate(n);
    subset.report = Default::default();
    let opts = BuildOptions {
        rebuild: true,
        batch_size,
        search: crate::index::SearchSettings {
            transform: crate::index::TransformChoice::auto(
                dir,
                &subset.fields,
                embedder.fingerprint(),
            )?,
            ..Default::default()
        },
        ..BuildOptions::default()
    };
    build_index(&subset, embedder, dir, &opts, &crate::progress::NoProgress)
}

/// Query latencies by id and by uploaded image bytes.
#[derive(Debug, Clone, Serialize)]
pub struct QueryBench {
    /// Search by product id (no embedding).
    pub by_id: Latency,
    /// The same searches without the catalogue's vote (`vote_weight` 0:
    /// recognition by the head alone), timed in turn with `by_id`.
    pub by_id_without_vote: Latency,
    /// Decode + embed + search of a catalogue-sized image (60x80 JPEG).
    pub by_image: Latency,
    /// The same without the catalogue's vote, timed in turn with `by_image`.
    pub by_image_without_vote: Latency,
    /// Decode + embed + search of a full-size photo.
    pub by_photo: Latency,
    /// Decode + locate the product + embed (its region, and the whole frame
    /// for the near-duplicate check) + search of a shopper's phone photo.
    pub by_shopper_photo: Latency,
}

/// Measures query latency on `index`. `images`, `photos` and
/// `shopper_photos` are files searched as uploads.
pub fn bench_queries(
    index: &Index,
    embedder: &Embedder,
    ids: &[String],
    images: &[PathBuf],
    photos: &[PathBuf],
    shopper_photos: &[PathBuf],
    req: &SearchRequest,
) -> Result<QueryBench> {
    let without_vote = SearchRequest {
        vote_weight: 0.0,
        ..req.clone()
    };
    let (mut by_id, mut by_id_without_vote) = (Vec::new(), Vec::new());
    for id in ids {
        for (r, times) in [(req, &mut by_id), (&without_vote, &mut by_id_without_vote)] {
            let t = Instant::now();
            let hits = search(index, &Query::Product(id), r)?;
            times.push(t.elapsed());
            std::hint::black_box(hits);
        }
    }
    let limits = DecodeLimits::default();
    // Each file is searched with each request in turn, so that both
    // timings see the same machine state.
    let run = |files: &[PathBuf], reqs: &[&SearchRequest]| -> Result<Vec<Vec<Duration>>> {
        let mut out = vec![Vec::with_capacity(files.len()); reqs.len()];
        for f in files {
            let bytes = std::fs::read(f).at(f)?;
            for (req, times) in reqs.iter().zip(&mut out) {
                let t = Instant::now();
                let q = crate::search::embed_upload(index, embedder, &bytes, &limits, None)?;
                let r = search(index, &Query::Embedding(&q.embedding), req)?;
                times.push(t.elapsed());
                std::hint::black_box(r);
            }
        }
        Ok(out)
    };
    // One warm-up query so that lazily built state is not timed.
    if let Some(f) = images.first() {
        let _ = run(std::slice::from_ref(f), &[req]);
    }
    let by_image = run(images, &[req, &without_vote])?;
    Ok(QueryBench {
        by_id: Latency::of(&by_id),
        by_id_without_vote: Latency::of(&by_id_without_vote),
        by_image: Latency::of(&by_image[0]),
        by_image_without_vote: Latency::of(&by_image[1]),
        by_photo: Latency::of(&run(photos, &[req])?[0]),
        by_shopper_photo: Latency::of(&run(shopper_photos, &[req])?[0]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let l = Latency::of(&d);
        assert_eq!(l.n, 100);
        assert!((l.p50_ms - 50.0).abs() < 1e-9);
        assert!((l.p99_ms - 99.0).abs() < 1e-9);
        assert!((l.mean_ms - 50.5).abs() < 1e-9);
        assert_eq!(Latency::of(&[]).n, 0);
    }
}
