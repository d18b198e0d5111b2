//! Development tool: rewrite an index's stored vectors into a fresh index
//! directory with the current writer (recomputes projection and search rows).
//!
//!     cargo run --release --example convert_index -- OLD_DIR NEW_DIR [PROJECTION_DIM]

use lookalike::index::{writer, Manifest, ProductRecord, SearchSettings};

fn main() -> anyhow::Result<()> {
    let a: Vec<String> = std::env::args().collect();
    let old = std::path::Path::new(&a[1]);
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(old.join("manifest.json"))?)?;
    for (k, d) in [
        ("search_cnn_dim", serde_json::json!(0)),
        ("search_file", "".into()),
        ("codes_file", "".into()),
        ("scales_file", "".into()),
    ] {
        if v.get(k).is_none() {
            v[k] = d;
        }
    }
    let m: Manifest = serde_json::from_value(v)?;
    let bytes = std::fs::read(old.join(&m.vectors_file))?;
    let floats: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let products: Vec<ProductRecord> =
        serde_json::from_slice(&std::fs::read(old.join(&m.products_file))?)?;
    let rows: Vec<&[f32]> = floats.chunks_exact(m.dim()).collect();
    let settings = SearchSettings {
        projection_dim: a.get(3).map(|s| s.parse()).transpose()?.unwrap_or(256),
        ..SearchSettings::default()
    };
    let lock = writer::WriteLock::acquire(std::path::Path::new(&a[2]))?;
    let t = std::time::Instant::now();
    let m = writer::commit(&lock, m, &rows, &products, &settings)?;
    eprintln!(
        "wrote generation {} ({} products) in {:.1}s",
        m.generation,
        m.products,
        t.elapsed().as_secs_f64()
    );
    Ok(())
}
