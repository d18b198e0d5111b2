//! Indexing a catalogue: hash, embed what is new, commit a generation.
//!
//! Re-running on a changed catalogue re-embeds only images whose bytes changed
//! (BLAKE3 content hash), reuses the vectors of unchanged ones, and drops
//! products that disappeared. Every embedding is journalled as soon as it is
//! computed, so an interrupted run resumes where it stopped.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rayon::prelude::*;

use super::format::{self, Manifest, ProductRecord};
use super::journal::{ContentHash, Journal};
use super::reader::Index;
use super::writer::{commit, WriteLock};
use crate::catalog::{Catalog, IngestReport, ProblemKind};
use crate::embedding::{Embedder, Prepared};
use crate::error::{Error, Result};
use crate::imaging::{decode, DecodeLimits};
use crate::progress::Progress;

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
    /// How search rows are derived (the transform).
    pub search: super::SearchSettings,
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            rebuild: false,
            batch_size: 1,
            limits: DecodeLimits::default(),
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

/// [`StageTimes`] added to from worker threads.
#[derive(Default)]
struct AtomicTimes([AtomicU64; 4]);

#[derive(Clone, Copy)]
enum Stage {
    Decode = 0,
    Resize = 1,
    Embed = 2,
    Write = 3,
}

impl AtomicTimes {
    fn add(&self, stage: Stage, since: Instant) {
        self.0[stage as usize].fetch_add(since.elapsed().as_nanos() as u64, Ordering::Relaxed);
    }
    fn get(&self) -> StageTimes {
        let d = |s: Stage| Duration::from_nanos(self.0[s as usize].load(Ordering::Relaxed));
        StageTimes {
            decode: d(Stage::Decode),
            resize: d(Stage::Resize),
            embed: d(Stage::Embed),
            write: d(Stage::Write),
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

/// Indexes `catalog` into `dir` with `embedder`, in four stages: hash the
/// catalogue, embed what no earlier generation or journal holds, assemble
/// the rows in catalogue order, commit. `progress` hears of the stages
/// (`hashing`, `embedding`, `writing`) and may cancel the embedding: the
/// run then ends with [`Error::Interrupted`], its embeddings journalled
/// for the next run. See the module docs.
pub fn build_index(
    catalog: &Catalog,
    embedder: &Embedder,
    dir: &Path,
    opts: &BuildOptions,
    progress: &dyn Progress,
) -> Result<BuildReport> {
    let start = Instant::now();
    let lock = WriteLock::acquire(dir)?;
    let fp = embedder.fingerprint();
    let old = previous_generation(dir, embedder, opts.rebuild)?;
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
    let (journal, resumed) =
        Journal::open(&dir.join(format::JOURNAL), fp, embedder.row_layout().dim())?;
    let times = AtomicTimes::default();

    progress.stage("hashing", None);
    let hashed = hash_catalogue(catalog, &times);
    let todo: Vec<(usize, ContentHash)> = {
        let mut queued = HashSet::new();
        hashed
            .iter()
            .enumerate()
            .filter_map(|(i, h)| Some((i, *h.as_ref().ok()?)))
            .filter(|(_, h)| !old_rows.contains_key(h) && !resumed.contains_key(h))
            .filter(|(_, h)| queued.insert(*h))
            .collect()
    };

    progress.stage("embedding", Some(todo.len() as u64));
    let embedded = embed_missing(catalog, embedder, &todo, journal, opts, progress, &times)?;

    let sources = RowSources {
        fresh: &embedded.rows,
        failed: &embedded.failed,
        resumed: &resumed,
        old: old.as_ref().map(|o| (o, &old_rows)),
    };
    let assembled = assemble(catalog, &hashed, &sources);
    let removed = old
        .as_ref()
        .map(|o| {
            let now: HashSet<&str> = assembled.records.iter().map(|r| r.id.as_str()).collect();
            o.products()
                .iter()
                .filter(|p| !now.contains(p.id.as_str()))
                .count()
        })
        .unwrap_or(0);

    let t = Instant::now();
    progress.stage("writing", None);
    let rows: Vec<&[f32]> = assembled.rows.iter().map(|r| r.as_ref()).collect();
    let manifest = commit(
        &lock,
        new_manifest(catalog, embedder),
        &rows,
        &assembled.records,
        &opts.search,
        progress,
    )?;
    embedded.journal.remove()?;
    times.add(Stage::Write, t);
    let Assembled {
        records,
        counts,
        problems,
        ..
    } = assembled;
    drop(old);
    Ok(BuildReport {
        catalog_products: catalog.products.len(),
        indexed: records.len(),
        embedded: counts.embedded,
        reused: counts.reused,
        resumed: counts.resumed,
        removed,
        problems,
        elapsed: start.elapsed(),
        stages: times.get(),
        manifest,
    })
}

/// The generation to update: the current one, unless `rebuild` replaces
/// it (even unreadable) or there is none. One made by another embedder is
/// refused with the re-index hint.
fn previous_generation(dir: &Path, embedder: &Embedder, rebuild: bool) -> Result<Option<Index>> {
    match Index::open(dir) {
        Ok(_) if rebuild => Ok(None),
        Ok(index) => {
            index.check_fingerprint(embedder.fingerprint())?;
            index.require_stored_rows("updating an index")?;
            Ok(Some(index))
        }
        Err(Error::NoIndex(_)) => Ok(None),
        Err(e) if rebuild => {
            tracing::warn!("replacing unreadable index: {e}");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Stage 1: the content hash of every product's image (cheap next to
/// embedding), or why it cannot be read.
fn hash_catalogue(
    catalog: &Catalog,
    times: &AtomicTimes,
) -> Vec<std::result::Result<ContentHash, String>> {
    catalog
        .products
        .par_iter()
        .map(|p| {
            let t = Instant::now();
            let r = std::fs::read(&p.image)
                .map(|b| *blake3::hash(&b).as_bytes())
                .map_err(|e| format!("cannot read: {e}"));
            times.add(Stage::Decode, t);
            r
        })
        .collect()
}

/// What stage 2 produced.
struct Embedded {
    /// New rows by content hash.
    rows: HashMap<ContentHash, Vec<f32>>,
    /// Images that could not be embedded, by content hash (every product
    /// with those bytes fails alike), and why.
    failed: HashMap<ContentHash, String>,
    /// The journal, every row of `rows` synced to it.
    journal: Journal,
}

/// What one batch of stage 2 produced.
#[derive(Default)]
struct BatchOutcome {
    rows: Vec<(ContentHash, Vec<f32>)>,
    failed: Vec<(ContentHash, String)>,
}

/// Stage 2: embeds the `todo` products in parallel batches, journalling
/// each row as soon as it exists. A journal write error stops the run;
/// cancellation stops it with [`Error::Interrupted`] after the batches in
/// flight, their rows journalled.
fn embed_missing(
    catalog: &Catalog,
    embedder: &Embedder,
    todo: &[(usize, ContentHash)],
    journal: Journal,
    opts: &BuildOptions,
    progress: &dyn Progress,
    times: &AtomicTimes,
) -> Result<Embedded> {
    let journal = Mutex::new(journal);
    let outcomes: Result<Vec<BatchOutcome>> = todo
        .par_chunks(opts.batch_size.max(1))
        .map(|chunk| {
            if progress.cancelled() {
                return Ok(BatchOutcome::default());
            }
            let outcome = embed_batch(catalog, embedder, chunk, &opts.limits, times);
            let t = Instant::now();
            {
                let mut j = journal
                    .lock()
                    .map_err(|_| Error::Model("a journal writer panicked".into()))?;
                for (hash, row) in &outcome.rows {
                    j.append(hash, row)?;
                }
            }
            times.add(Stage::Write, t);
            progress.advance(chunk.len() as u64);
            Ok(outcome)
        })
        .collect();
    let mut journal = journal
        .into_inner()
        .map_err(|_| Error::Model("a journal writer panicked".into()))?;
    // Synced whatever happened: what was embedded is kept for the next run.
    journal.sync()?;
    let outcomes = outcomes?;
    if progress.cancelled() {
        return Err(Error::Interrupted);
    }
    let mut embedded = Embedded {
        rows: HashMap::with_capacity(todo.len()),
        failed: HashMap::new(),
        journal,
    };
    for o in outcomes {
        embedded.rows.extend(o.rows);
        embedded.failed.extend(o.failed);
    }
    Ok(embedded)
}

/// Reads, decodes, prepares and embeds one batch. An image that fails is
/// reported by the hash it was queued under (its bytes may have changed
/// since).
fn embed_batch(
    catalog: &Catalog,
    embedder: &Embedder,
    chunk: &[(usize, ContentHash)],
    limits: &DecodeLimits,
    times: &AtomicTimes,
) -> BatchOutcome {
    let mut outcome = BatchOutcome::default();
    // Hashes of the decoded bytes, and the images ready for the model.
    let mut hashes: Vec<ContentHash> = Vec::with_capacity(chunk.len());
    let mut batch: Vec<Prepared> = Vec::with_capacity(chunk.len());
    for &(i, queued_hash) in chunk {
        let t = Instant::now();
        let decoded = std::fs::read(&catalog.products[i].image)
            .map_err(|e| format!("cannot read: {e}"))
            .and_then(|bytes| {
                let hash = *blake3::hash(&bytes).as_bytes();
                decode(&bytes, limits)
                    .map(|img| (hash, img))
                    .map_err(|e| e.to_string())
            });
        times.add(Stage::Decode, t);
        match decoded {
            Ok((hash, img)) => {
                let t = Instant::now();
                hashes.push(hash);
                batch.push(embedder.prepare(&img));
                times.add(Stage::Resize, t);
            }
            Err(e) => outcome.failed.push((queued_hash, e)),
        }
    }
    if batch.is_empty() {
        return outcome;
    }
    let t = Instant::now();
    let result = embedder.embed_prepared(&batch);
    times.add(Stage::Embed, t);
    match result {
        Ok(embeddings) => {
            outcome.rows = hashes
                .into_iter()
                .zip(embeddings)
                .map(|(h, e)| (h, e.to_row()))
                .collect();
        }
        Err(e) => outcome.failed.extend(
            hashes
                .into_iter()
                .map(|h| (h, format!("embedding failed: {e}"))),
        ),
    }
    outcome
}

/// Where a product's row can come from, most recent first.
struct RowSources<'a> {
    fresh: &'a HashMap<ContentHash, Vec<f32>>,
    failed: &'a HashMap<ContentHash, String>,
    resumed: &'a HashMap<ContentHash, Vec<f32>>,
    /// The previous generation and its rows by content hash.
    old: Option<(&'a Index, &'a HashMap<ContentHash, usize>)>,
}

/// How many rows came from where.
#[derive(Debug, Default)]
struct Counts {
    embedded: usize,
    reused: usize,
    resumed: usize,
}

/// Stage 3's result: the new generation's rows and records.
struct Assembled<'a> {
    records: Vec<ProductRecord>,
    /// Borrowed from the embedder's output or an f32 index; widened copies
    /// of an f16 index's rows.
    rows: Vec<Cow<'a, [f32]>>,
    counts: Counts,
    problems: IngestReport,
}

/// Stage 3: the products in catalogue order with their rows; a product
/// without one is reported and left out.
fn assemble<'a>(
    catalog: &Catalog,
    hashed: &[std::result::Result<ContentHash, String>],
    sources: &RowSources<'a>,
) -> Assembled<'a> {
    let mut out = Assembled {
        records: Vec::with_capacity(catalog.products.len()),
        rows: Vec::with_capacity(catalog.products.len()),
        counts: Counts::default(),
        problems: catalog.report.clone(),
    };
    let mut embedded_hashes = HashSet::new();
    for (p, hash) in catalog.products.iter().zip(hashed) {
        let image = p.image.display().to_string();
        let hash = match hash {
            Ok(h) => *h,
            Err(e) => {
                out.problems.push(ProblemKind::BadImage, image, e.clone());
                continue;
            }
        };
        let row: Cow<'a, [f32]> = if let Some(v) = sources.fresh.get(&hash) {
            if embedded_hashes.insert(hash) {
                out.counts.embedded += 1;
            }
            Cow::Borrowed(v)
        } else if let Some(v) = sources.resumed.get(&hash) {
            out.counts.resumed += 1;
            Cow::Borrowed(v)
        } else if let Some((index, &r)) = sources
            .old
            .and_then(|(index, rows)| Some((index, rows.get(&hash)?)))
        {
            out.counts.reused += 1;
            index.row(r)
        } else {
            let reason = sources
                .failed
                .get(&hash)
                .cloned()
                .unwrap_or_else(|| "image changed while indexing; run again".to_string());
            out.problems.push(ProblemKind::BadImage, image, reason);
            continue;
        };
        out.records.push(ProductRecord {
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
        out.rows.push(row);
    }
    out
}

/// The manifest of the generation to commit (the commit fills in the
/// generation, sizes and files).
fn new_manifest(catalog: &Catalog, embedder: &Embedder) -> Manifest {
    let layout = embedder.row_layout();
    let catalog_root: PathBuf =
        std::fs::canonicalize(&catalog.root).unwrap_or_else(|_| catalog.root.clone());
    Manifest {
        format: format::FORMAT_NAME.into(),
        version: format::FORMAT_VERSION,
        generation: 0,
        products: 0,
        cnn_dim: layout.cnn,
        colour_dim: layout.colour,
        tap_dim: layout.recorded_tap_dim(),
        vectors_file: String::new(),
        stored_precision: Default::default(),
        products_file: String::new(),
        search_cnn_dim: 0,
        search_file: String::new(),
        codes_file: String::new(),
        scales_file: String::new(),
        projection_file: None,
        head_file: None,
        head_hash: None,
        search_colour_dim: None,
        ann_file: None,
        ann: None,
        ann_mode: Default::default(),
        catalog_image_size: typical_image_size(&catalog.products),
        embedder: embedder.fingerprint().clone(),
        model: embedder.spec().clone(),
        catalog_root,
        fields: catalog.fields.clone(),
        committed_at: 0,
    }
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
    use crate::progress::NoProgress;
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
        let bar = NoProgress;
        let r = build_index(&cat, &e, &dir, &BuildOptions::default(), &bar).expect("build");
        assert_eq!((r.indexed, r.embedded, r.reused), (24, 24, 0));

        // Round trip: stored rows equal freshly computed embeddings.
        let index = Index::open(&dir).expect("open");
        assert_eq!(index.len(), 24);
        let img = crate::imaging::decode_file(&cat.products[3].image, &Default::default())
            .expect("decode");
        let fresh = e.embed_image(&img).expect("embed").to_row();
        let row = index.row(index.row_of(&cat.products[3].id).expect("row"));
        assert!(fresh
            .iter()
            .zip(row.iter())
            .all(|(a, b)| (a - b).abs() < 1e-5));
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
        let opts = BuildOptions {
            batch_size: 4,
            ..BuildOptions::default()
        };
        /// Cancels once `after` images are embedded.
        struct CancelAfter {
            done: AtomicU64,
            after: u64,
        }
        impl Progress for CancelAfter {
            fn advance(&self, n: u64) {
                self.done.fetch_add(n, Ordering::SeqCst);
            }
            fn cancelled(&self) -> bool {
                self.done.load(Ordering::SeqCst) >= self.after
            }
        }
        let cancel = CancelAfter {
            done: AtomicU64::new(0),
            after: 8,
        };
        let err = build_index(&cat, &e, &dir, &opts, &cancel).unwrap_err();
        assert!(matches!(err, Error::Interrupted), "{err}");
        assert!(
            matches!(Index::open(&dir), Err(Error::NoIndex(_))),
            "nothing committed"
        );
        assert!(dir.join(format::JOURNAL).exists());

        let r = build_index(&cat, &e, &dir, &BuildOptions::default(), &NoProgress).expect("resume");
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
            &NoProgress,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("another `lookalike index`"),
            "{err}"
        );
    }
}
