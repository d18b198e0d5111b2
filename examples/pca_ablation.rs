//! Development tool: does a PCA (optionally whitening) projection of the CNN
//! features, fitted on the catalogue without labels, keep or improve quality?
//!
//!     cargo run --release --example pca_ablation -- INDEX

use lookalike::eval::{evaluate, EvalOptions};
use lookalike::index::{commit, Index, WriteLock};
use lookalike::search::SearchRequest;
use lookalike::vector::{dot, l2_normalise};
use nalgebra::{DMatrix, SymmetricEigen};
use rayon::prelude::*;

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let src = Index::open(&a[1])?;
    let m = src.manifest().clone();
    let (cd, n) = (m.cnn_dim, src.len());
    let t = std::time::Instant::now();
    let mut mean = vec![0f32; cd];
    for r in 0..n {
        for (s, v) in mean.iter_mut().zip(&src.row(r)[..cd]) {
            *s += v / n as f32;
        }
    }
    // Transposed, centred features: cd rows of n.
    let xt: Vec<Vec<f32>> = (0..cd)
        .into_par_iter()
        .map(|j| (0..n).map(|r| src.row(r)[j] - mean[j]).collect())
        .collect();
    let cov: Vec<Vec<f64>> = (0..cd)
        .into_par_iter()
        .map(|i| {
            (0..cd)
                .map(|j| {
                    if j < i {
                        0.0
                    } else {
                        f64::from(dot(&xt[i], &xt[j])) / n as f64
                    }
                })
                .collect()
        })
        .collect();
    let c = DMatrix::from_fn(cd, cd, |i, j| if j >= i { cov[i][j] } else { cov[j][i] });
    eprintln!("covariance {:.1}s", t.elapsed().as_secs_f64());
    let eig = SymmetricEigen::new(c);
    eprintln!("eigen {:.1}s", t.elapsed().as_secs_f64());
    let mut order: Vec<usize> = (0..cd).collect();
    order.sort_by(|&x, &y| eig.eigenvalues[y].total_cmp(&eig.eigenvalues[x]));
    let total: f64 = eig.eigenvalues.iter().sum();
    for d in [64usize, 128, 256, 512] {
        let kept: f64 = order[..d].iter().map(|&i| eig.eigenvalues[i]).sum();
        eprintln!("d={d}: {:.1}% variance", 100.0 * kept / total);
    }
    let configs: Vec<(usize, f64)> = a[2..]
        .iter()
        .map(|s| {
            let (d, al) = s.split_once(':').expect("d:alpha");
            (d.parse().expect("d"), al.parse().expect("alpha"))
        })
        .collect();
    for (d, alpha) in configs {
        let proj: Vec<Vec<f32>> = order[..d]
            .iter()
            .map(|&i| {
                let s = (eig.eigenvalues[i].max(1e-9)).powf(-alpha / 2.0);
                eig.eigenvectors
                    .column(i)
                    .iter()
                    .map(|v| (v * s) as f32)
                    .collect()
            })
            .collect();
        let rows: Vec<Vec<f32>> = (0..n)
            .into_par_iter()
            .map(|r| {
                let x = src.row(r);
                let c: Vec<f32> = x[..cd].iter().zip(&mean).map(|(v, m)| v - m).collect();
                let mut y: Vec<f32> = proj.iter().map(|p| dot(p, &c)).collect();
                l2_normalise(&mut y);
                y.extend_from_slice(&x[cd..]);
                y
            })
            .collect();
        let out = std::path::PathBuf::from(format!("/tmp/pca-{d}-{alpha}"));
        let lock = WriteLock::acquire(&out)?;
        let mut man = m.clone();
        man.cnn_dim = d;
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        let raw = lookalike::index::SearchSettings {
            transform: lookalike::index::TransformChoice::Raw,
            ..Default::default()
        };
        commit(
            &lock,
            man,
            &refs,
            src.products(),
            &raw,
            &lookalike::NoProgress,
        )?;
        drop(lock);
        let idx = Index::open(&out)?;
        for w in [0.0f32, 0.3, 0.4, 0.5] {
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
                "pca d={d} alpha={alpha} w={w}: type ndcg {:.3} p1 {:.3} | type+colour ndcg {:.3} p1 {:.3}",
                r.relevance.type_.ndcg10, r.relevance.type_.p1, r.relevance.type_colour.ndcg10, r.relevance.type_colour.p1
            );
        }
        let _ = std::fs::remove_dir_all(&out);
    }
    Ok(())
}
