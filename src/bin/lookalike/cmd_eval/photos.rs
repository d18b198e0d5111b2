//! `lookalike eval --photos DIR`: the shopper-photo protocol.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use lookalike::eval::Split;
use lookalike::eval::{evaluate_photos, shopper_photos};
use lookalike::search::SearchRequest;
use lookalike::store::Store;

pub fn run(
    target: &Store,
    dir: &Path,
    req: &SearchRequest,
    split: Split,
    json: bool,
) -> Result<ExitCode> {
    if !dir.is_dir() {
        bail!("--photos {}: not a folder of `<kind>/*.jpg`", dir.display());
    }
    let mut photos = shopper_photos(dir)?;
    if split == Split::Test {
        photos.retain(|p| lookalike::split::is_test_id(&p.id()));
    }
    let embedder = target.target().model().embedder()?;
    let started = std::time::Instant::now();
    let r = evaluate_photos(target.target(), &embedder, &photos, req)?;
    for (path, why) in &r.skipped {
        eprintln!("skipped {path}: {why}");
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} shopper photos ({} split) over {} products, {:.1}s",
        r.photos,
        match split {
            Split::All => "all",
            Split::Test => "test",
        },
        target.product_count()?,
        started.elapsed().as_secs_f64()
    );
    let fmt = |v: Option<f32>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    println!(
        "{:<11} {:>4} {:>5} {:>5} {:>10}",
        "kind", "n", "P@1", "P@10", "recognised"
    );
    for (kind, k) in &r.kinds {
        println!(
            "{:<11} {:>4} {:>5.2} {:>5.2} {:>10}",
            kind,
            k.n,
            k.p1,
            k.p10,
            fmt(k.recognised)
        );
    }
    println!(
        "{:<11} {:>4} {:>5.3} {:>5.3} {:>10}",
        "macro",
        r.photos,
        r.macro_p1,
        r.macro_p10,
        r.macro_recognised
            .map_or("-".to_string(), |v| format!("{v:.3}"))
    );
    println!(
        "{} photos searched whole (a catalogue-like image), {} by their located product",
        r.searched_whole,
        r.photos - r.searched_whole
    );
    Ok(ExitCode::SUCCESS)
}
