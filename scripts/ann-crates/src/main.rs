//! usearch against hannoy on lookalike's own search rows: how the ANN crate
//! was chosen (docs/scale.md). A standalone crate, not part of the build:
//!
//!     cd scripts/ann-crates && cargo run --release -- 200000 usearch-i8
//!     (also usearch-f16, usearch-f32, hannoy; a third argument sets the noise)
//!
//! It reads the search rows of an index at /tmp/idx-f (the Kaggle
//! catalogue indexed with its head: 629 values a row), makes N rows of
//! them (the real ones, then each plus Gaussian noise of length 0.5 per
//! part, renormalised), and measures build time, file size, recall@10
//! against brute force on 300 queries, and latency on one thread,
//! unfiltered and under a filter matching 1 % of rows.
use rand::{SeedableRng, rngs::StdRng};
struct Sm(u64);
impl Sm { fn seed_from_u64(s: u64) -> Sm { Sm(s ^ 0x9E3779B97F4A7C15) }
  fn next(&mut self) -> u64 { self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15); let mut z = self.0; z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9); z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB); z ^ (z >> 31) }
  fn random(&mut self) -> f32 { (self.next() >> 40) as f32 / (1u64 << 24) as f32 }
  fn random_range(&mut self, r: std::ops::Range<usize>) -> usize { r.start + (self.next() % (r.end - r.start) as u64) as usize } }
use rayon::prelude::*;
use std::time::Instant;

const SHAPE: usize = 320;
const DIM: usize = 629;

fn normalise(x: &mut [f32]) {
    let n: f32 = x.iter().map(|v| v * v).sum::<f32>().sqrt();
    if n > 0.0 { x.iter_mut().for_each(|v| *v /= n); }
}
fn gauss(r: &mut Sm) -> f32 {
    let u: f32 = r.random().max(1e-9); let v: f32 = r.random();
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}
fn dot(a: &[f32], b: &[f32]) -> f32 { a.iter().zip(b).map(|(x, y)| x * y).sum() }

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args[1].parse().unwrap();
    let which = args[2].clone();
    let noise: f32 = args.get(3).map(|s| s.parse().unwrap()).unwrap_or(0.5);
    let bytes = std::fs::read("/tmp/idx-f/search-000001.f32").unwrap();
    let real: &[f32] = bytemuck::cast_slice(&bytes);
    let nreal = real.len() / DIM;
    let rows: Vec<f32> = (0..n).into_par_iter().flat_map_iter(|i| {
        let mut r = Sm::seed_from_u64(i as u64);
        let mut x = real[(i % nreal) * DIM..(i % nreal + 1) * DIM].to_vec();
        if i >= nreal {
            let (a, b) = x.split_at_mut(SHAPE);
            for (part, d) in [(a, SHAPE), (b, DIM - SHAPE)] {
                let s = noise / (d as f32).sqrt();
                part.iter_mut().for_each(|v| *v += s * gauss(&mut r));
                normalise(part);
            }
        }
        x.into_iter()
    }).collect();
    // a filter matching ~ sel of rows: row % m == 0 style hash
    let queries: Vec<usize> = { let mut r = Sm::seed_from_u64(7); (0..300).map(|_| r.random_range(0..n)).collect() };
    let t = Instant::now();
    let exact: Vec<Vec<(usize, f32)>> = queries.par_iter().map(|&q| {
        let qv = &rows[q * DIM..(q + 1) * DIM];
        let mut s: Vec<(usize, f32)> = (0..n).filter(|&r| r != q).map(|r| (r, dot(qv, &rows[r * DIM..(r + 1) * DIM]))).collect();
        s.select_nth_unstable_by(10, |a, b| b.1.total_cmp(&a.1)); s.truncate(10); s
    }).collect();
    eprintln!("exact truth {:.1}s", t.elapsed().as_secs_f32());
    let filt = |sel_mod: usize| move |r: usize| (r.wrapping_mul(2654435761) >> 7) % sel_mod == 0;
    let exact_f: Vec<Vec<usize>> = queries.par_iter().map(|&q| {
        let f = filt(100);
        let qv = &rows[q * DIM..(q + 1) * DIM];
        let mut s: Vec<(usize, f32)> = (0..n).filter(|&r| r != q && f(r)).map(|r| (r, dot(qv, &rows[r * DIM..(r + 1) * DIM]))).collect();
        s.sort_by(|a, b| b.1.total_cmp(&a.1)); s.truncate(10); s.into_iter().map(|x| x.0).collect()
    }).collect();
    let recall = |got: &[Vec<usize>], truth: &[Vec<usize>]| -> f32 {
        got.iter().zip(truth).map(|(g, t)| t.iter().filter(|x| g.contains(x)).count() as f32 / t.len().max(1) as f32).sum::<f32>() / truth.len() as f32
    };
    let truth: Vec<Vec<usize>> = exact.iter().map(|v| v.iter().map(|x| x.0).collect()).collect();
    if which.starts_with("usearch") {
        use usearch::{Index, IndexOptions, MetricKind, ScalarKind};
        let q = match which.as_str() { "usearch-f16" => ScalarKind::F16, "usearch-f32" => ScalarKind::F32, _ => ScalarKind::I8 };
        let opts = IndexOptions { dimensions: DIM, metric: MetricKind::IP, quantization: q, connectivity: 16, expansion_add: 128, expansion_search: 64, multi: false };
        let idx = Index::new(&opts).unwrap();
        idx.reserve_capacity_and_threads(n, 2).unwrap();
        let t = Instant::now();
        (0..n).into_par_iter().for_each(|i| idx.add(i as u64, &rows[i * DIM..(i + 1) * DIM]).unwrap());
        let build = t.elapsed().as_secs_f32();
        idx.save("/tmp/annbench/u.idx").unwrap();
        let disk = std::fs::metadata("/tmp/annbench/u.idx").unwrap().len();
        let v = Index::new(&opts).unwrap(); v.view("/tmp/annbench/u.idx").unwrap();
        println!("{which} n={n} build {build:.1}s ({:.0} rows/s) disk {:.0} B/row mem {}", n as f32 / build, disk as f64 / n as f64, idx.memory_usage());
        for ef in [32, 64, 128, 256] {
            v.change_expansion_search(ef);
            let t = Instant::now();
            let got: Vec<Vec<usize>> = queries.iter().map(|&q| {
                let m = v.search(&rows[q * DIM..(q + 1) * DIM], 11).unwrap();
                m.keys.iter().map(|&k| k as usize).filter(|&k| k != q).take(10).collect()
            }).collect();
            let ms = t.elapsed().as_secs_f64() * 1000.0 / queries.len() as f64;
            let t = Instant::now();
            let gotf: Vec<Vec<usize>> = queries.iter().map(|&q| {
                let f = filt(100);
                let m = v.filtered_search(&rows[q * DIM..(q + 1) * DIM], 11, |k| k as usize != q && f(k as usize)).unwrap();
                m.keys.iter().map(|&k| k as usize).take(10).collect()
            }).collect();
            let msf = t.elapsed().as_secs_f64() * 1000.0 / queries.len() as f64;
            // oversample 40 then rescore exactly
            let t = Instant::now();
            let got_r: Vec<Vec<usize>> = queries.iter().map(|&q| {
                let qv = &rows[q * DIM..(q + 1) * DIM];
                let m = v.search(qv, 41).unwrap();
                let mut s: Vec<(usize, f32)> = m.keys.iter().map(|&k| k as usize).filter(|&k| k != q).map(|k| (k, dot(qv, &rows[k * DIM..(k + 1) * DIM]))).collect();
                s.sort_by(|a, b| b.1.total_cmp(&a.1)); s.truncate(10); s.into_iter().map(|x| x.0).collect()
            }).collect();
            let msr = t.elapsed().as_secs_f64() * 1000.0 / queries.len() as f64;
            println!("  ef {ef}: recall {:.3} {ms:.2} ms | 1% filter recall {:.3} {msf:.2} ms | k40 rescored recall {:.3} {msr:.2} ms", recall(&got, &truth), recall(&gotf, &exact_f), recall(&got_r, &truth));
        }
    } else {
        use hannoy::{distances::Cosine, Database, Reader, Writer};
        let dir = "/tmp/annbench/h"; let _ = std::fs::remove_dir_all(dir); std::fs::create_dir_all(dir).unwrap();
        let env = unsafe { heed::EnvOpenOptions::new().map_size(64 << 30).open(dir) }.unwrap();
        let wtxn = env.write_txn().unwrap();
        let db: Database<Cosine> = env.create_databases_and_commit(wtxn, |dbo, wtxn| -> heed::Result<_> { dbo.create_database(wtxn, None).map(heed::CommitOrAbort::<_, ()>::Commit) }).unwrap().unwrap_commit();
        let mut wtxn = env.write_txn().unwrap();
        let w = Writer::new(db, 0, DIM);
        let t = Instant::now();
        for i in 0..n { w.add_item(&mut wtxn, i as u32, &rows[i * DIM..(i + 1) * DIM]).unwrap(); }
        let mut rng = StdRng::seed_from_u64(42);
        w.builder(&mut rng).ef_construction(128).build::<16, 32>(&mut wtxn).unwrap();
        wtxn.commit().unwrap();
        let build = t.elapsed().as_secs_f32();
        let disk = std::fs::metadata(format!("{dir}/data.mdb")).unwrap().len();
        println!("hannoy n={n} build {build:.1}s ({:.0} rows/s) disk {:.0} B/row", n as f32 / build, disk as f64 / n as f64);
        let rtxn = env.read_txn().unwrap();
        let reader = Reader::open(&rtxn, 0, db).unwrap();
        let cands: roaring::RoaringBitmap = (0..n as u32).filter(|&r| filt(100)(r as usize)).collect();
        for ef in [32, 64, 128, 256] {
            let t = Instant::now();
            let got: Vec<Vec<usize>> = queries.iter().map(|&q| {
                let s = reader.nns(11).ef_search(ef).by_vector(&rtxn, &rows[q * DIM..(q + 1) * DIM]).unwrap();
                s.nns.iter().map(|x| x.0 as usize).filter(|&k| k != q).take(10).collect()
            }).collect();
            let ms = t.elapsed().as_secs_f64() * 1000.0 / queries.len() as f64;
            let t = Instant::now();
            let gotf: Vec<Vec<usize>> = queries.iter().map(|&q| {
                let mut c = cands.clone(); c.remove(q as u32);
                let s = reader.nns(10).ef_search(ef).candidates(&c).by_vector(&rtxn, &rows[q * DIM..(q + 1) * DIM]).unwrap();
                s.nns.iter().map(|x| x.0 as usize).take(10).collect()
            }).collect();
            let msf = t.elapsed().as_secs_f64() * 1000.0 / queries.len() as f64;
            println!("  ef {ef}: recall {:.3} {ms:.2} ms | 1% filter recall {:.3} {msf:.2} ms", recall(&got, &truth), recall(&gotf, &exact_f));
        }
    }
}
