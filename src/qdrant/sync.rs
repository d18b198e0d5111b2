//! Writing a local index generation into a collection, and keeping it in
//! step: points are keyed by product id, so a run sends only the products
//! that are new or changed (their point's digest differs), deletes the
//! ones no longer in the index, and a run cut short is finished by the
//! next one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use serde_json::{json, Map, Value};

use super::client::QdrantNodes;
use super::collection::{
    self, CollectionSpec, CLASSES, KIND_CLASS, PAYLOAD_FACETS, PAYLOAD_KEYWORDS, PAYLOAD_NUMBERS,
};
use crate::error::{Error, Result};
use crate::index::Index;
use crate::progress::Progress;

/// Points per upsert request.
const BATCH: usize = 256;
/// Upsert requests in flight at once: one waits while Qdrant writes, so
/// several keep the cluster's cores busy (README "Scale-out": 1,659 to
/// 1,992 points/s into a 3-node cluster on this 2-core machine).
const UPSERTS_IN_FLIGHT: usize = 4;

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct SyncReport {
    /// Whether the collection was made by this run.
    pub created: bool,
    /// Points written (new or changed products).
    pub upserted: usize,
    /// Points deleted (products no longer in the index).
    pub deleted: usize,
    /// Points already up to date.
    pub unchanged: usize,
    /// Seconds spent writing the points.
    pub upsert_seconds: f64,
}

impl SyncReport {
    /// Points written per second.
    pub fn upsert_rate(&self) -> f64 {
        self.upserted as f64 / self.upsert_seconds.max(1e-9)
    }
}

/// Sends the products `rows` of `index` as points, [`UPSERTS_IN_FLIGHT`]
/// batches at a time: each waits for its write (`wait=true`), so what
/// returns is stored. A failed batch stops the others at their next batch;
/// what was written stays, and the next run sends the rest.
fn upsert_all(
    nodes: &QdrantNodes,
    path: &str,
    index: &Index,
    rows: &[usize],
    progress: &dyn Progress,
) -> Result<()> {
    let batches: Vec<&[usize]> = rows.chunks(BATCH).collect();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..UPSERTS_IN_FLIGHT.min(batches.len()) {
            scope.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                if progress.cancelled() {
                    stop.store(true, Ordering::Relaxed);
                    failure
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .get_or_insert(Error::Interrupted);
                    return;
                }
                let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) else {
                    return;
                };
                let points: Vec<Value> = batch.iter().map(|&r| point(index, r).0).collect();
                let sent = nodes.request(
                    "PUT",
                    &format!("{path}/points?wait=true"),
                    Some(&json!({ "points": points })),
                );
                match sent {
                    Ok(_) => progress.advance(batch.len() as u64),
                    Err(e) => {
                        stop.store(true, Ordering::Relaxed);
                        failure
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    match failure.into_inner().unwrap_or_else(|e| e.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Makes the collection of `spec` hold exactly the products of `index`
/// (see the module docs). `progress` hears of the upserts and may cancel
/// between batches; what was written stays, and the next run goes on.
pub fn sync_collection(
    nodes: &QdrantNodes,
    spec: &CollectionSpec,
    index: &Index,
    progress: &dyn Progress,
) -> Result<SyncReport> {
    let created = collection::ensure(nodes, spec, index.manifest())?;
    let path = spec.path()?;
    let held = held_points(nodes, &path)?;
    let mut wanted: HashMap<u64, usize> = HashMap::with_capacity(index.len());
    let mut report = SyncReport {
        created,
        ..SyncReport::default()
    };
    let mut to_send = Vec::new();
    for (r, p) in index.products().iter().enumerate() {
        let key = crate::index::ann::product_key(&p.id);
        if let Some(other) = wanted.insert(key, r) {
            return Err(Error::InvalidArgument(format!(
                "products `{}` and `{}` have the same point id; rename one",
                index.products()[other].id,
                p.id
            )));
        }
        // Only the digest is kept: a point is made again when it is sent
        // (a million points held as JSON would take gigabytes).
        if held.get(&key) == Some(&point(index, r).1) {
            report.unchanged += 1;
        } else {
            to_send.push(r);
        }
    }
    progress.stage("Qdrant upserts", Some(to_send.len() as u64));
    let started = std::time::Instant::now();
    upsert_all(nodes, &path, index, &to_send, progress)?;
    report.upserted = to_send.len();
    report.upsert_seconds = started.elapsed().as_secs_f64();
    let gone: Vec<u64> = held
        .keys()
        .filter(|k| !wanted.contains_key(k))
        .copied()
        .collect();
    for batch in gone.chunks(BATCH * 4) {
        nodes.request(
            "POST",
            &format!("{path}/points/delete?wait=true"),
            Some(&json!({ "points": batch })),
        )?;
        report.deleted += batch.len();
    }
    Ok(report)
}

/// Every point of the collection: id -> its `row` digest.
fn held_points(nodes: &QdrantNodes, path: &str) -> Result<HashMap<u64, String>> {
    let mut held = HashMap::new();
    nodes.scroll(path, &["row"], |p| {
        // Ids lookalike did not write (UUIDs, others' payloads) are left alone.
        if let Some(id) = p["id"].as_u64() {
            let row = p["payload"]["row"].as_str().unwrap_or("").to_string();
            held.insert(id, row);
        }
        Ok(())
    })?;
    Ok(held)
}

/// Product `r` as a point (see the collection's docs for the payload),
/// with its `row` digest: a hash of everything the point holds, so a new
/// image, a changed label or another head re-sends it.
fn point(index: &Index, r: usize) -> (Value, String) {
    let p = &index.products()[r];
    let mut keywords = Map::new();
    let mut numbers = Map::new();
    let mut facets = Map::new();
    for (field, value) in p.labels.iter() {
        let key = collection::field_key(field);
        facets
            .entry(key.clone())
            .or_insert_with(|| Value::String(value.to_string()));
        if let Ok(x) = value.trim().parse::<f64>() {
            if x.is_finite() {
                numbers.entry(key.clone()).or_insert_with(|| json!(x));
            }
        }
        keywords
            .entry(key)
            .or_insert_with(|| Value::String(value.to_lowercase()));
    }
    let mut payload = json!({
        "product_id": p.id,
        "hash": p.hash,
        "image": p.image,
        "labels": p.labels,
        PAYLOAD_KEYWORDS: keywords,
        PAYLOAD_NUMBERS: numbers,
        PAYLOAD_FACETS: facets,
    });
    if let Some(year) = p
        .labels
        .get("year")
        .and_then(|y| y.trim().parse::<i64>().ok())
    {
        payload["year"] = json!(year);
    }
    if let Some(classes) = index.label_classes() {
        let per_task: Vec<Value> = classes
            .tasks
            .iter()
            .map(|t| json!([t.task, t.class[r], t.labelled[r]]))
            .collect();
        payload[CLASSES] = Value::Array(per_task);
        if let Some(kind) = classes.kind() {
            payload[KIND_CLASS] = json!(kind.class[r]);
        }
    }
    let vector = index.search_row(r);
    let mut digest = blake3::Hasher::new();
    digest.update(bytemuck::cast_slice(vector));
    digest.update(payload.to_string().as_bytes());
    let digest = digest.finalize().to_hex()[..16].to_string();
    payload["row"] = json!(digest);
    let point = json!({
        "id": crate::index::ann::product_key(&p.id),
        "vector": vector,
        "payload": payload,
    });
    (point, digest)
}
