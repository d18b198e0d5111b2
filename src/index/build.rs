//! Indexing a catalogue: hash, embed what is new, commit a generation.
//!
//! Re-running on a changed catalogue re-embeds only images whose bytes changed
//! (BLAKE3 content hash), reuses the vectors of unchanged ones, and drops
//! products that disappeared. Every embedding is journalled as soon as it is
//! computed, so an interrupted run resumes where it stopped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::ProgressBar;
use rayon::prelude::*;

use super::format::{self, Manifest, ProductRecord};
use super::journal::{ContentHash, Journal};
use super::reader::Index;
use super::writer::{commit, WriteLock};
use crate::catalog::{Catalog, IngestReport, ProblemKind};
use crate::embedding::{Embedder, Prepared};
use crate::error::{Error, Result};
use crate::imaging::{decode, DecodeLimits};

/// Knobs of an indexing run.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Ignore (and replace) an existing index even if it was built with
    /// another model; without it, a mismatch is an error.
    pub rebuild: bool,
    /// Images per model call (1 is fastest with tract; see `lookalike index --help`).
    pub batch_size: usize,
    /// Decoding limits.
    pub limits: DecodeLimits,
    /// Set to stop early (Ctrl-C); finished embeddings stay in the journal.
    pub cancel: Option<Arc<AtomicBool>>,
    /// How search rows are derived (projection).
    pub search: super::SearchSettings,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            rebuild: false,
            batch_size: 1,
            limits: DecodeLimits::default(),
            cancel: None,
            search: super::SearchSettings::default(),
        }
    }
}

/// Where indexing time went, summed over threads.
#[derive(Debug, Default, Clone, Copy)]
pub struct StageTimes {
    /// Reading files, hashing and decoding.
    pub decode: Duration,
    /// Fitting to the model input and the colour descriptor.
    pub resize: Duration,
    /// Running the CNN.
    pub embed: Duration,
    /// Journal appends and the final commit.
    pub write: Duration,
}

#[derive(Default)]
struct AtomicTimes([AtomicU64; 4]);

impl AtomicTimes {
    fn add(&self, stage: usize, since: Instant) {
        self.0[stage].fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
    fn get(&self) -> StageTimes {
        let d = |i: usize| Duration::from_nanos(self.0[i].load(Ordering::Relaxed));
        StageTimes {
            decode: d(0),
            resize: d(1),
            embed: d(2),
            write: d(3),
        }
    }
}

/// What an indexing run did.
#[derive(Debug, Clone)]
pub struct BuildReport {
    /// Products found in the catalogue (with an image file).
    pub catalog_products: usize,
    /// Products in the committed index.
    pub indexed: usize,
    /// Images embedded by this run.
    pub embedded: usize,
    /// Vectors reused from the previous generation (unchanged images).
    pub reused: usize,
    /// Vectors recovered from an interrupted run's journal.
    pub resumed: usize,
    /// Products of the previous generation no longer in the catalogue.
    pub removed: usize,
    /// Every skipped or repaired item, catalogue problems included.
    pub problems: IngestReport,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// CPU time per stage.
    pub stages: StageTimes,
    /// The committed manifest.
    pub manifest: Manifest,
}

impl BuildReport {
    /// Images embedded per second of wall time.
    pub fn images_per_second(&self) -> f64 {
        self.embedded as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn hex(h: &ContentHash) -> String {
    blake3::Hash::from_bytes(*h).to_hex().to_string()
}

fn parse_hex(s: &str) -> Option<ContentHash> {
    blake3::Hash::from_hex(s).ok().map(|h| *h.as_bytes())
}

/// Indexes `catalog` into `dir` with `embedder`. See the module docs.
pub fn build_index(
    catalog: &Catalog,
    embedder: &Embedder,
    dir: &Path,
    opts: &BuildOptions,
    progress: &ProgressBar,
) -> Result<BuildReport> {
    let start = Instant::now();
    let lock = WriteLock::acquire(dir)?;
    let fp = embedder.fingerprint();
    let old = match Index::open(dir) {
        Ok(index) => {
            if opts.rebuild {
                None
            } else {
                index.check_fingerprint(fp)?;
                Some(index)
            }
        }
        Err(Error::NoIndex(_)) => None,
        Err(e) if opts.rebuild => {
            tracing::warn!("replacing unreadable index: {e}");
            None
        }
        Err(e) => return Err(e),
    };
    let dim = embedder.cnn_dim() + embedder.colour_dim() + embedder.tap_dim();
    let old_rows: HashMap<ContentHash, usize> = old
        .as_ref()
        .map(|o| {
            o.products()
                .iter()
                .enumerate()
                .filter_map(|(i, p)| parse_hex(&p.hash).map(|h| (h, i)))
                .collect()
        })
        .unwrap_or_default();

    let (journal, resumed) = Journal::open(&dir.join(format::JOURNAL), fp, dim)?;
    let times = AtomicTimes::default();
    let mut problems = catalog.report.clone();

    // 1. Hash every image (cheap) to find what needs embedding.
    progress.set_message("hashing");
    let hashed: Vec<std::result::Result<ContentHash, String>> = catalog
        .products
        .par_iter()
        .map(|p| {
            let t = Instant::now();
            let r = std::fs::read(&p.image)
                .map(|b| *blake3::hash(&b).as_bytes())
                .map_err(|e| format!("cannot read: {e}"));
            times.add(0, t);
            r
        })
        .collect();
    let mut todo: Vec<(usize, ContentHash)> = Vec::new();
    let mut queued = std::collections::HashSet::new();
    for (i, h) in hashed.iter().enumerate() {
        if let Ok(h) = h {
            if !old_rows.contains_key(h) && !resumed.contains_key(h) && queued.insert(*h) {
                todo.push((i, *h));
            }
        }
    }

    // 2. Embed them in parallel batches, journalling each result.
    progress.set_length(todo.len() as u64);
    progress.set_position(0);
    progress.set_message("embedding");
    let journal = Mutex::new(journal);
    let fresh: Mutex<HashMap<ContentHash, Vec<f32>>> = Mutex::new(HashMap::new());
    // Failures by content hash: every product with those bytes fails alike.
    let failed: Mutex<HashMap<ContentHash, String>> = Mutex::new(HashMap::new());
    let journal_error: Mutex<Option<Error>> = Mutex::new(None);
    let cancelled = || {
        opts.cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    };
    todo.par_chunks(opts.batch_size.max(1)).for_each(|chunk| {
        if cancelled() || journal_error.lock().map(|e| e.is_some()).unwrap_or(true) {
            return;
        }
        // Hashes of the decoded bytes, and the images ready for the model.
        let mut hashes: Vec<ContentHash> = Vec::with_capacity(chunk.len());
        let mut batch: Vec<Prepared> = Vec::with_capacity(chunk.len());
        for &(i, queued_hash) in chunk {
            let product = &catalog.products[i];
            let t = Instant::now();
            let decoded = std::fs::read(&product.image)
                .map_err(|e| format!("cannot read: {e}"))
                .and_then(|bytes| {
                    let hash = *blake3::hash(&bytes).as_bytes();
                    decode(&bytes, &opts.limits)
                        .map(|img| (hash, img))
                        .map_err(|e| e.to_string())
                });
            times.add(0, t);
            match decoded {
                Ok((hash, img)) => {
                    let t = Instant::now();
                    hashes.push(hash);
                    batch.push(embedder.prepare(&img));
                    times.add(1, t);
                }
                Err(e) => {
                    if let Ok(mut f) = failed.lock() {
                        f.insert(queued_hash, e);
                    }
                    progress.inc(1);
                }
            }
        }
        let t = Instant::now();
        let result = embedder.embed_prepared(&batch);
        times.add(2, t);
        match result {
            Ok(embeddings) => {
                let t = Instant::now();
                let mut rows = Vec::with_capacity(embeddings.len());
                if let Ok(mut j) = journal.lock() {
                    for (hash, e) in hashes.iter().zip(&embeddings) {
                        let row = e.to_row();
                        if let Err(err) = j.append(hash, &row) {
                            if let Ok(mut slot) = journal_error.lock() {
                                *slot = Some(err);
                            }
                            return;
                        }
                        rows.push((*hash, row));
                    }
                }
                if let Ok(mut f) = fresh.lock() {
                    f.extend(rows);
                }
                times.add(3, t);
            }
            Err(e) => {
                if let Ok(mut f) = failed.lock() {
                    f.extend(
                        hashes
                            .iter()
                            .map(|h| (*h, format!("embedding failed: {e}"))),
                    );
                }
            }
        }
        progress.inc(hashes.len() as u64);
    });
    let mut journal = journal
        .into_inner()
        .map_err(|_| Error::Model("an embedding thread panicked".into()))?;
    journal.sync()?;
    if let Some(e) = journal_error.into_inner().ok().flatten() {
        return Err(e);
    }
    if cancelled() {
        return Err(Error::Interrupted);
    }
    let fresh = fresh.into_inner().unwrap_or_default();
    let failed = failed.into_inner().unwrap_or_default();

    // 3. Assemble the new generation in catalogue order.
    let mut records = Vec::with_capacity(catalog.products.len());
    let mut rows: Vec<&[f32]> = Vec::with_capacity(catalog.products.len());
    let (mut embedded, mut reused, mut from_journal) = (0, 0, 0);
    let mut embedded_hashes = std::collections::HashSet::new();
    for (i, p) in catalog.products.iter().enumerate() {
        let hash = match &hashed[i] {
            Ok(h) => *h,
            Err(e) => {
                problems.push(
                    ProblemKind::BadImage,
                    p.image.display().to_string(),
                    e.clone(),
                );
                continue;
            }
        };
        let row: &[f32] = if let Some(v) = fresh.get(&hash) {
            if embedded_hashes.insert(hash) {
                embedded += 1;
            }
            v
        } else if let Some(v) = resumed.get(&hash) {
            from_journal += 1;
            v
        } else if let (Some(&r), Some(o)) = (old_rows.get(&hash), old.as_ref()) {
            reused += 1;
            o.row(r)
        } else {
            let reason = failed
                .get(&hash)
                .cloned()
                .unwrap_or_else(|| "image changed while indexing; run again".to_string());
            problems.push(ProblemKind::BadImage, p.image.display().to_string(), reason);
            continue;
        };
        records.push(ProductRecord {
            id: p.id.clone(),
            hash: hex(&hash),
            // Relative to the catalogue, so the index survives a move of
            // the catalogue (`serve --catalog`) and a different cwd.
            image: p
                .image
                .strip_prefix(&catalog.root)
                .unwrap_or(&p.image)
                .to_path_buf(),
            labels: p.labels.clone(),
        });
        rows.push(row);
    }

    let removed = old
        .as_ref()
        .map(|o| {
            let now: std::collections::HashSet<&str> =
                records.iter().map(|r| r.id.as_str()).collect();
            o.products()
                .iter()
                .filter(|p| !now.contains(p.id.as_str()))
                .count()
        })
        .unwrap_or(0);
    let catalog_root: PathBuf =
        std::fs::canonicalize(&catalog.root).unwrap_or_else(|_| catalog.root.clone());
    let manifest = Manifest {
        format: format::FORMAT_NAME.into(),
        version: format::FORMAT_VERSION,
        generation: 0,
        products: 0,
        cnn_dim: embedder.cnn_dim(),
        colour_dim: embedder.colour_dim(),
        tap_dim: embedder.tap_dim(),
        vectors_file: String::new(),
        products_file: String::new(),
        search_cnn_dim: 0,
        search_file: String::new(),
        codes_file: String::new(),
        scales_file: String::new(),
        projection_file: None,
        head_file: None,
        head_hash: None,
        search_colour_dim: None,
        catalog_image_size: typical_image_size(&catalog.products),
        embedder: fp.clone(),
        model: embedder.spec().clone(),
        catalog_root,
        fields: catalog.fields.clone(),
        committed_at: 0,
    };
    let t = Instant::now();
    progress.set_message("writing");
    let manifest = commit(&lock, manifest, &rows, &records, &opts.search)?;
    journal.remove()?;
    times.add(3, t);
    drop(old);
    Ok(BuildReport {
        catalog_products: catalog.products.len(),
        indexed: records.len(),
        embedded,
        reused,
        resumed: from_journal,
        removed,
        problems,
        elapsed: start.elapsed(),
        stages: times.get(),
        manifest,
    })
}

/// The median width and height of up to 256 of the catalogue's images, read
/// from their headers (no decoding).
fn typical_image_size(products: &[crate::catalog::Product]) -> Option<[u32; 2]> {
    let step = (products.len() / 256).max(1);
    let (mut ws, mut hs): (Vec<u32>, Vec<u32>) = products
        .iter()
        .step_by(step)
        .filter_map(|p| {
            image::ImageReader::open(&p.image)
                .ok()?
                .with_guessed_format()
                .ok()?
                .into_dimensions()
                .ok()
        })
        .unzip();
    if ws.is_empty() {
        return None;
    }
    ws.sort_unstable();
    hs.sort_unstable();
    Some([ws[ws.len() / 2], hs[hs.len() / 2]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::{ColourSpec, ModelSpec};
    use crate::search::{search, Query, SearchRequest};

    /// A catalogue of `n` synthetic packshots: coloured rectangles on white.
    fn synthetic_catalog(dir: &Path, n: usize) -> Catalog {
        std::fs::create_dir_all(dir.join("images")).expect("mkdir");
        let mut csv = String::from("id,articleType,baseColour\n");
        for i in 0..n {
            let colour = [
                (i * 53 % 256) as u8,
                (i * 97 % 256) as u8,
                (i * 31 % 256) as u8,
            ];
            let mut img = image::RgbImage::from_pixel(60, 80, image::Rgb([255, 255, 255]));
            let (w, h) = (10 + (i % 5) as u32 * 8, 20 + (i % 7) as u32 * 8);
            for y in (40 - h / 2)..(40 + h / 2) {
                for x in (30 - w / 2)..(30 + w / 2) {
                    img.put_pixel(x, y, image::Rgb(colour));
                }
            }
            img.save(dir.join("images").join(format!("{i}.png")))
                .expect("save");
            csv.push_str(&format!("{i},Type{},Colour{}\n", i % 3, i % 4));
        }
        std::fs::write(dir.join("styles.csv"), csv).expect("csv");
        Catalog::open(dir).expect("catalog")
    }

    fn embedder(h: u32, w: u32) -> Embedder {
        let spec = ModelSpec::resolve("lite0")
            .and_then(|s| s.with_input_size(h, w))
            .expect("spec");
        Embedder::new(&spec, ColourSpec::default()).expect("model")
    }

    #[test]
    fn round_trip_update_and_refusal_of_another_model() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cat = synthetic_catalog(&tmp.path().join("cat"), 24);
        let dir = tmp.path().join("idx");
        let e = embedder(64, 48);
        let bar = ProgressBar::hidden();
        let r = build_index(&cat, &e, &dir, &BuildOptions::default(), &bar).expect("build");
        assert_eq!((r.indexed, r.embedded, r.reused), (24, 24, 0));

        // Round trip: stored rows equal freshly computed embeddings.
        let index = Index::open(&dir).expect("open");
        assert_eq!(index.len(), 24);
        let img = crate::imaging::decode_file(&cat.products[3].image, &Default::default())
            .expect("decode");
        let fresh = e.embed_image(&img).expect("embed").to_row();
        let row = index.row(index.row_of(&cat.products[3].id).expect("row"));
        assert!(fresh.iter().zip(row).all(|(a, b)| (a - b).abs() < 1e-5));
        let id: usize = cat.products[3].id.parse().expect("numeric id");
        let want = format!("Type{}", id % 3);
        assert_eq!(
            index.products()[3].labels.get("articleType"),
            Some(want.as_str())
        );
        let hits = search(
            &index,
            &Query::Embedding(&e.embed_image(&img).expect("embed")),
            &SearchRequest::default(),
        )
        .expect("search")
        .hits;
        assert_eq!(hits[0].id, cat.products[3].id);
        assert!((hits[0].score - 1.0).abs() < 1e-4);
        assert_eq!(index.manifest().generation, 1);
        drop(index);

        // Unchanged: nothing embedded; the old generation's files are gone.
        let r = build_index(&cat, &e, &dir, &BuildOptions::default(), &bar).expect("rebuild");
        assert_eq!((r.embedded, r.reused, r.manifest.generation), (0, 24, 2));
        let files: Vec<String> = std::fs::read_dir(&dir)
            .expect("ls")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("vectors-") || n.starts_with("products-"))
            .collect();
        assert_eq!(files.len(), 2, "{files:?}");

        // Another input size is refused, with a hint to re-index.
        let other = embedder(96, 72);
        let err = build_index(&cat, &other, &dir, &BuildOptions::default(), &bar).unwrap_err();
        assert!(matches!(err, Error::ModelMismatch { .. }), "{err}");
        assert!(err.to_string().contains("re-index"));
        let index = Index::open(&dir).expect("open");
        assert!(index.check_fingerprint(other.fingerprint()).is_err());
        assert!(index.check_fingerprint(e.fingerprint()).is_ok());
    }

    #[test]
    fn an_interrupted_run_resumes_from_its_journal() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let cat = synthetic_catalog(&tmp.path().join("cat"), 40);
        let dir = tmp.path().join("idx");
        let e = embedder(64, 48);
        let cancel = Arc::new(AtomicBool::new(false));
        let opts = BuildOptions {
            batch_size: 4,
            cancel: Some(cancel.clone()),
            ..BuildOptions::default()
        };
        // Cancel as soon as a few batches are done.
        let bar = ProgressBar::hidden();
        let watcher = {
            let (bar, cancel) = (bar.clone(), cancel.clone());
            std::thread::spawn(move || {
                while bar.position() < 8 {
                    std::thread::sleep(Duration::from_millis(1));
                }
                cancel.store(true, Ordering::SeqCst);
            })
        };
        let err = build_index(&cat, &e, &dir, &opts, &bar).unwrap_err();
        watcher.join().expect("watcher");
        assert!(matches!(err, Error::Interrupted), "{err}");
        assert!(
            matches!(Index::open(&dir), Err(Error::NoIndex(_))),
            "nothing committed"
        );
        assert!(dir.join(format::JOURNAL).exists());

        let r = build_index(
            &cat,
            &e,
            &dir,
            &BuildOptions::default(),
            &ProgressBar::hidden(),
        )
        .expect("resume");
        assert!(r.resumed >= 8, "resumed {}", r.resumed);
        assert_eq!(r.resumed + r.embedded, 40);
        assert_eq!(r.indexed, 40);
        assert!(!dir.join(format::JOURNAL).exists());
    }

    #[test]
    fn a_second_writer_is_refused() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let _held = WriteLock::acquire(tmp.path()).expect("lock");
        let cat = synthetic_catalog(&tmp.path().join("cat"), 1);
        let err = build_index(
            &cat,
            &embedder(64, 48),
            tmp.path(),
            &BuildOptions::default(),
            &ProgressBar::hidden(),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("another `lookalike index`"),
            "{err}"
        );
    }
}
