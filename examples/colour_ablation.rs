//! Development tool: recompute the colour part of an index with other colour
//! settings and print the evaluation for several colour weights.
//!
//!     cargo run --release --example colour_ablation -- INDEX OUT L AB RANGE POWER SIGMA [CENTRE]

use lookalike::embedding::{colour_descriptor, ColourSpec};
use lookalike::eval::{evaluate, EvalOptions};
use lookalike::imaging::{decode_file, fit};
use lookalike::index::{commit, Index, Manifest, WriteLock};
use lookalike::search::SearchRequest;
use rayon::prelude::*;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let src = Index::open(&a[1])?;
    let out = std::path::PathBuf::from(&a[2]);
    let spec = ColourSpec {
        l_bins: a[3].parse()?,
        ab_bins: a[4].parse()?,
        ab_range: a[5].parse()?,
        power: a[6].parse()?,
        centre_sigma: a[7].parse()?,
        bands: a[8].parse()?,
        blur: a[9].parse()?,
    };
    let centre = a.get(10).is_some_and(|s| s == "centre");
    let m = src.manifest();
    let geom = m.model.geometry();
    let cnn_dim = m.cnn_dim;
    let mut mean = vec![0f64; cnn_dim];
    if centre {
        for r in 0..src.len() {
            for (s, v) in mean.iter_mut().zip(&src.row(r)[..cnn_dim]) {
                *s += f64::from(*v);
            }
        }
        for s in &mut mean {
            *s /= src.len() as f64;
        }
    }
    let rows: Vec<Vec<f32>> = src
        .products()
        .par_iter()
        .enumerate()
        .map(|(r, p)| {
            let mut cnn: Vec<f32> = src.row(r)[..cnn_dim].to_vec();
            if centre {
                for (c, m) in cnn.iter_mut().zip(&mean) {
                    *c -= *m as f32;
                }
                lookalike::vector::l2_normalise(&mut cnn);
            }
            let img = decode_file(&p.image, &Default::default()).expect("decode");
            let col = colour_descriptor(&fit(&img, &geom), &spec);
            cnn.extend(col);
            cnn
        })
        .collect();
    let lock = WriteLock::acquire(&out)?;
    let mut manifest: Manifest = m.clone();
    manifest.colour_dim = spec.dim();
    manifest.embedder.colour = spec;
    let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
    commit(
        &lock,
        manifest,
        &refs,
        src.products(),
        &Default::default(),
        &lookalike::NoProgress,
    )?;
    drop(lock);
    let idx = Index::open(&out)?;
    for w in [0.0f32, 0.2, 0.3, 0.4, 0.5, 0.6] {
        let r = evaluate(
            &idx,
            &EvalOptions {
                ranking: SearchRequest {
                    colour_weight: w,
                    ..Default::default()
                },
                ..Default::default()
            },
        )?;
        println!(
            "{spec:?} centre={centre} w={w}: type ndcg {:.3} p1 {:.3} | type+colour ndcg {:.3} p1 {:.3}",
            r.relevance.type_.ndcg10, r.relevance.type_.p1, r.relevance.type_colour.ndcg10, r.relevance.type_colour.p1
        );
    }
    Ok(())
}
