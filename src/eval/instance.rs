//! Instance search: full-size product photos, used as uploaded queries,
//! should find their own catalogue thumbnail first (`<id>.jpg` is product
//! `id`).

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::embedding::Embedder;
use crate::error::{IoResultExt, Result};
use crate::imaging::DecodeLimits;
use crate::search::SearchTarget;
use crate::search::{embed_upload, Query, SearchRequest};

/// How the photos fared.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    /// Photos whose product is in the index.
    pub photos: usize,
    /// Share whose own product is the first hit.
    pub r1: f32,
    /// Share whose own product is among the first 10.
    pub r10: f32,
    /// `(photo id, rank of its product or None beyond 10)` for every miss at 1.
    pub misses: Vec<(String, Option<usize>)>,
}

/// The image files of `dir` named after a product id of `index`.
pub fn photos_in(dir: &Path, target: &dyn SearchTarget) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).at(dir)? {
        let path = entry.at(dir)?.path();
        let Some(id) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if crate::catalog::has_image_extension(&path) && target.contains(id)? {
            out.push((id.to_string(), path));
        }
    }
    out.sort();
    Ok(out)
}

/// Searches with every photo and reports R@1 and R@10 of its own product.
pub fn instance_recall(
    target: &dyn SearchTarget,
    embedder: &Embedder,
    photos: &[(String, PathBuf)],
    req: &SearchRequest,
) -> Result<InstanceReport> {
    let req = SearchRequest {
        k: 10,
        ..req.clone()
    };
    let (mut r1, mut r10) = (0usize, 0usize);
    let mut misses = Vec::new();
    for (id, path) in photos {
        let bytes = std::fs::read(path).at(path)?;
        let e = embed_upload(target, embedder, &bytes, &DecodeLimits::default(), None)?.embedding;
        let hits = target.search(&Query::Embedding(&e), &req)?.hits;
        let rank = hits.iter().position(|h| &h.id == id);
        r1 += usize::from(rank == Some(0));
        r10 += usize::from(rank.is_some());
        if rank != Some(0) {
            misses.push((id.clone(), rank.map(|r| r + 1)));
        }
    }
    let n = photos.len().max(1) as f32;
    Ok(InstanceReport {
        photos: photos.len(),
        r1: r1 as f32 / n,
        r10: r10 as f32 / n,
        misses,
    })
}
