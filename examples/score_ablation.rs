//! Development tool: compare ways of combining the shape (CNN) and colour
//! similarities on the evaluation protocol, in one pass over the index.
//!
//!     cargo run --release --example score_ablation -- INDEX

use std::collections::HashMap;

use lookalike::eval::{rank_metrics, MeanMetrics};
use lookalike::eval::{stratified_sample, SEED};
use lookalike::vector::dot;
use lookalike::Index;
use rayon::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Combo {
    Add(f32),
    Rerank(usize, f32),
    Mul(f32),
}

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let idx = Index::open(&a[1])?;
    let m = idx.manifest();
    let (cd, n) = (m.cnn_dim, idx.len());
    let products = idx.products();
    let queries = stratified_sample(products, "articleType", 2000, SEED);
    let combos: Vec<Combo> = vec![
        Combo::Add(0.0),
        Combo::Add(0.3),
        Combo::Add(0.4),
        Combo::Add(0.5),
        Combo::Rerank(20, 0.5),
        Combo::Rerank(30, 0.5),
        Combo::Rerank(50, 0.5),
        Combo::Rerank(30, 1.0),
        Combo::Rerank(50, 1.0),
        Combo::Rerank(100, 1.0),
        Combo::Rerank(50, 2.0),
        Combo::Mul(1.0),
        Combo::Mul(2.0),
        Combo::Mul(4.0),
    ];
    let mut type_count: HashMap<&str, usize> = HashMap::new();
    let mut pair_count: HashMap<(&str, &str), usize> = HashMap::new();
    for p in products {
        if let Some(t) = p.labels.get("articleType") {
            *type_count.entry(t).or_default() += 1;
            if let Some(c) = p.labels.get("baseColour") {
                *pair_count.entry((t, c)).or_default() += 1;
            }
        }
    }
    let results: Vec<Vec<(Option<_>, Option<_>)>> = queries
        .par_iter()
        .map(|&q| {
            let qv = idx.row(q);
            let (cc, ck): (Vec<f32>, Vec<f32>) = (0..n)
                .map(|r| {
                    let x = idx.row(r);
                    (dot(&qv[..cd], &x[..cd]), dot(&qv[cd..], &x[cd..]))
                })
                .unzip();
            let qt = products[q].labels.get("articleType");
            let qc = products[q].labels.get("baseColour");
            combos
                .iter()
                .map(|combo| {
                    let mut order: Vec<usize> = (0..n).filter(|&r| r != q).collect();
                    let top: Vec<usize> = match *combo {
                        Combo::Add(w) => {
                            let s = |r: usize| (1.0 - w) * cc[r] + w * ck[r];
                            order.select_nth_unstable_by(10, |&x, &y| s(y).total_cmp(&s(x)));
                            let mut t = order[..10].to_vec();
                            t.sort_by(|&x, &y| s(y).total_cmp(&s(x)));
                            t
                        }
                        Combo::Mul(b) => {
                            let s = |r: usize| cc[r].max(1e-6).ln() + b * ck[r].max(1e-6).ln();
                            order.select_nth_unstable_by(10, |&x, &y| s(y).total_cmp(&s(x)));
                            let mut t = order[..10].to_vec();
                            t.sort_by(|&x, &y| s(y).total_cmp(&s(x)));
                            t
                        }
                        Combo::Rerank(mm, w) => {
                            order.select_nth_unstable_by(mm, |&x, &y| cc[y].total_cmp(&cc[x]));
                            let mut t = order[..mm].to_vec();
                            let s = |r: usize| cc[r] + w * ck[r];
                            t.sort_by(|&x, &y| s(y).total_cmp(&s(x)));
                            t.truncate(10);
                            t
                        }
                    };
                    let tm = qt.map(|t| {
                        let rel: Vec<bool> = top
                            .iter()
                            .map(|&r| products[r].labels.get("articleType") == Some(t))
                            .collect();
                        rank_metrics(&rel, type_count[t] - 1, 10)
                    });
                    let pm = match (qt, qc) {
                        (Some(t), Some(c)) if pair_count[&(t, c)] > 1 => {
                            let rel: Vec<bool> = top
                                .iter()
                                .map(|&r| {
                                    products[r].labels.get("articleType") == Some(t)
                                        && products[r].labels.get("baseColour") == Some(c)
                                })
                                .collect();
                            Some(rank_metrics(&rel, pair_count[&(t, c)] - 1, 10))
                        }
                        _ => None,
                    };
                    (tm, pm)
                })
                .collect()
        })
        .collect();
    for (i, combo) in combos.iter().enumerate() {
        let (mut t, mut p) = (MeanMetrics::default(), MeanMetrics::default());
        for r in &results {
            if let Some(m) = &r[i].0 {
                t.add(m);
            }
            if let Some(m) = &r[i].1 {
                p.add(m);
            }
        }
        println!(
            "{:<18} type ndcg {:.3} p1 {:.3} | type+colour ndcg {:.3} p1 {:.3}",
            format!("{combo:?}"),
            t.mean().ndcg10,
            t.mean().p1,
            p.mean().ndcg10,
            p.mean().p1
        );
    }
    Ok(())
}
