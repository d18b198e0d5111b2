//! Searching a collection: the local search's rules over a Qdrant cluster.
//!
//! A query becomes a search row with the kit's model and head, exactly as
//! for a local index; the cluster returns candidates by looks (the
//! weighted cosine, as `[(1 - w) shape, w colour]` against the stored
//! rows under `Dot`), with the payload the rules read:
//!
//! * **The label term** lifts a product by its classes (payload `classes`).
//!   Candidates are fetched in pages until no product left out can still
//!   reach the k-th lifted score: a product whose looks score is at most
//!   the lowest fetched `s` scores at most `s + max_lift * (1 - s)`. As in
//!   the local scan, a second stream of the query's likeliest kind (payload
//!   `kind_class`) bounds the products the term lifts furthest, so the
//!   others' bound uses the smaller lift of the rest. Answers are then the
//!   exact top k over the cluster's candidates (exact ones with
//!   `Backend::Exact`).
//! * **The catalogue's vote** reads the labelled classes of the query's
//!   nearest products by looks, asked for in the same batch request.
//! * **Hits** are explained (shape, colour, label parts) from their own
//!   vectors, read back for the `k` hits only.
//!
//! "More like this" by id reads the product's point (its vector): nothing
//! local but the kit is needed.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use serde_json::{json, Value};

use super::client::QdrantNodes;
use super::collection::{
    collection_path, field_key, lookalike_record, record_of, CLASSES, KIND_CLASS, PAYLOAD_FACETS,
    PAYLOAD_KEYWORDS,
};
use super::filters::translate;
use crate::catalog::Labels;
use crate::embedding::Embedding;
use crate::error::{Error, Result};
use crate::index::{ProductRecord, SearchModel};
use crate::search::catalogue_vote::{self, blend_labelled};
use crate::search::label_prior::{lifted, ClassPrior};
use crate::search::{
    Backend, Metric, Query, SearchHit, SearchRequest, SearchResults, SearchTarget, NAME_FIELD,
};

/// Candidates per stream in the first page with the label term, per hit
/// wanted (at least [`MIN_PAGE`]): most queries settle in that one request.
const PAGE_PER_HIT: usize = 4;
/// The smallest first page with the label term.
const MIN_PAGE: usize = 40;
/// Candidates one stream fetches at most: past it the answer is the best of
/// what was fetched (logged), not a request that grows without end.
const MAX_CANDIDATES: usize = 4096;
/// The HNSW beam width asked for, at least (Qdrant's default is 100).
const MIN_EF: usize = 128;

/// What a search reads of each candidate's payload: its classes only (the
/// hits' ids and labels come with their vectors, for `k` points, not for
/// every candidate).
const CANDIDATE_PAYLOAD: [&str; 1] = [CLASSES];

/// A collection of products, searched with a kit's model (see the module
/// docs).
#[derive(Debug)]
pub struct QdrantCatalogue {
    nodes: QdrantNodes,
    name: String,
    path: String,
    model: SearchModel,
}

/// One candidate: a point as a search sees it.
#[derive(Debug, Clone)]
struct Candidate {
    /// Point id.
    key: u64,
    /// Its score by looks (the weighted cosine).
    looks: f32,
    /// `(head task, class, labelled)`.
    classes: Vec<(usize, u16, bool)>,
}

impl Candidate {
    fn class_of(&self, task: usize) -> Option<u16> {
        self.classes.iter().find(|c| c.0 == task).map(|c| c.1)
    }

    /// Its catalogue labels as classes, for the vote.
    fn labelled(&self) -> Vec<(usize, u16)> {
        self.classes
            .iter()
            .filter(|c| c.2)
            .map(|c| (c.0, c.1))
            .collect()
    }
}

/// One stream of candidates under one filter, fetched page by page.
struct Stream {
    filter: Value,
    /// The largest lift a product it has not returned yet can have.
    lift_cap: f32,
    fetched: usize,
    next_page: usize,
    exhausted: bool,
    /// The looks score of the last candidate it returned.
    lowest: f32,
}

impl Stream {
    /// A stream of the candidates under `filter`, none fetched yet.
    fn new(filter: Value, lift_cap: f32, first_page: usize) -> Stream {
        Stream {
            filter,
            lift_cap,
            fetched: 0,
            next_page: first_page,
            exhausted: false,
            lowest: f32::INFINITY,
        }
    }

    /// The best score a product this stream has not returned can reach.
    fn bound(&self) -> f32 {
        if self.exhausted {
            f32::NEG_INFINITY
        } else {
            lifted(self.lowest, self.lift_cap)
        }
    }
}

impl QdrantCatalogue {
    /// The collection `name` on `nodes`, searched with the kit (or index)
    /// in `kit`. Refused when the collection is missing, was not made by
    /// lookalike, or holds rows made another way than the kit makes them.
    pub fn open(
        nodes: QdrantNodes,
        name: &str,
        kit: impl Into<PathBuf>,
    ) -> Result<QdrantCatalogue> {
        let kit = kit.into();
        let model = SearchModel::open(&kit)?;
        let path = collection_path(name)?;
        let urls = nodes.urls().join(",");
        let Some(info) = nodes.request("GET", &path, None)? else {
            return Err(Error::Qdrant {
                node: urls.clone(),
                reason: format!(
                    "there is no collection `{name}`; fill it with `lookalike index CATALOG --qdrant {urls} --collection {name}`, or name an existing one with --collection"
                ),
            });
        };
        let have = lookalike_record(&nodes, name, &info)?;
        if have != &record_of(model.manifest()) {
            return Err(Error::Qdrant {
                node: urls,
                reason: format!(
                    "collection `{name}` holds vectors made another way than the kit in {} makes queries; \
                     search with the kit its last `lookalike index --qdrant` run wrote, or re-index the catalogue into it",
                    kit.display()
                ),
            });
        }
        Ok(QdrantCatalogue {
            nodes,
            name: name.to_string(),
            path,
            model,
        })
    }

    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The nodes asked.
    pub fn nodes(&self) -> &QdrantNodes {
        &self.nodes
    }

    /// Number of products (points) in the collection.
    pub fn len(&self) -> Result<usize> {
        let r = self.ask(
            "POST",
            &format!("{}/points/count", self.path),
            &json!({ "exact": true }),
        )?;
        r["count"]
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| self.bad_answer("points/count", "no `count`"))
    }

    /// Whether the collection holds no product.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Product `id`'s record, if the collection holds it.
    pub fn product(&self, id: &str) -> Result<Option<ProductRecord>> {
        Ok(self.point(id, false)?.map(|(record, _)| record))
    }

    /// Every product's record (for the evaluation), in pages.
    pub fn products(&self) -> Result<Vec<ProductRecord>> {
        let mut out = Vec::new();
        self.nodes.scroll(
            &self.path,
            &["product_id", "hash", "image", "labels"],
            |p| {
                out.push(self.record(p)?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// The products that pass `filters` and whose name (or, without one,
    /// id) contains `name` case-insensitively: how many in all, and
    /// `limit` of them from `offset`, in point id order (the local index
    /// browses in catalogue order).
    pub fn browse(
        &self,
        filters: &[crate::search::Filter],
        name: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<ProductRecord>)> {
        let mut filter = translate(filters, &self.model.manifest().fields, None)?;
        let needle = name.to_lowercase();
        if !needle.is_empty() {
            let key = format!("{PAYLOAD_KEYWORDS}.{}", field_key(NAME_FIELD));
            filter["should"] = json!([
                { "key": key, "match": { "text": needle } },
                { "must": [
                    { "is_empty": { "key": key } },
                    { "key": "product_id", "match": { "text": name } },
                ] },
            ]);
        }
        let counted = self.ask(
            "POST",
            &format!("{}/points/count", self.path),
            &json!({ "exact": true, "filter": filter }),
        )?;
        let total = counted["count"]
            .as_u64()
            .ok_or_else(|| self.bad_answer("points/count", "no `count`"))?
            as usize;
        if limit == 0 || offset >= total {
            return Ok((total, Vec::new()));
        }
        let page = self.ask(
            "POST",
            &format!("{}/points/query", self.path),
            &json!({
                "filter": filter,
                "offset": offset,
                "limit": limit,
                "with_payload": ["product_id", "hash", "image", "labels"],
            }),
        )?;
        let products = page["points"]
            .as_array()
            .ok_or_else(|| self.bad_answer("points/query", "no `points`"))?
            .iter()
            .map(|p| self.record(p))
            .collect::<Result<_>>()?;
        Ok((total, products))
    }

    /// Per label field (the name left out), its values as the catalogue
    /// spells them with their counts; a field with more than `max_values`
    /// values is left out (names, free text).
    pub fn facets(&self, max_values: usize) -> Result<BTreeMap<String, BTreeMap<String, usize>>> {
        let mut out = BTreeMap::new();
        for field in &self.model.manifest().fields {
            if field == NAME_FIELD {
                continue;
            }
            let r = self.ask(
                "POST",
                &format!("{}/facet", self.path),
                &json!({
                    "key": format!("{PAYLOAD_FACETS}.{}", field_key(field)),
                    "limit": max_values + 1,
                    "exact": true,
                }),
            )?;
            let hits = r["hits"]
                .as_array()
                .ok_or_else(|| self.bad_answer("facet", "no `hits`"))?;
            if hits.is_empty() || hits.len() > max_values {
                continue;
            }
            let values = hits
                .iter()
                .filter_map(|h| {
                    Some((
                        h["value"].as_str()?.to_string(),
                        h["count"].as_u64()? as usize,
                    ))
                })
                .collect();
            out.insert(field.clone(), values);
        }
        Ok(out)
    }

    /// Checks `filters` against the catalogue's fields (no request).
    pub fn check_filters(&self, filters: &[crate::search::Filter]) -> Result<()> {
        translate(filters, &self.model.manifest().fields, None).map(|_| ())
    }

    /// Product `id`'s record and (with `vector`) its search row.
    fn point(&self, id: &str, vector: bool) -> Result<Option<(ProductRecord, Vec<f32>)>> {
        let key = crate::index::ann::product_key(id);
        let found = self.ask(
            "POST",
            &format!("{}/points", self.path),
            &json!({
                "ids": [key],
                "with_payload": ["product_id", "hash", "image", "labels"],
                "with_vector": vector,
            }),
        )?;
        let Some(p) = found.as_array().and_then(|a| a.first()) else {
            return Ok(None);
        };
        let record = self.record(p)?;
        // Another id with the same 63-bit key is not this product.
        if record.id != id {
            return Ok(None);
        }
        let row = if vector { self.vector(p)? } else { Vec::new() };
        Ok(Some((record, row)))
    }

    /// Sends a request that must find the collection.
    fn ask(&self, method: &str, path: &str, body: &Value) -> Result<Value> {
        self.nodes
            .request(method, path, Some(body))?
            .ok_or_else(|| Error::Qdrant {
                node: self.nodes.urls().join(","),
                reason: format!("collection `{}` is gone (404 on {path})", self.name),
            })
    }

    fn bad_answer(&self, what: &str, why: &str) -> Error {
        Error::Qdrant {
            node: self.nodes.urls().join(","),
            reason: format!("{what} answered what lookalike cannot read: {why}"),
        }
    }

    fn record(&self, p: &Value) -> Result<ProductRecord> {
        let payload = &p["payload"];
        let id = payload["product_id"]
            .as_str()
            .ok_or_else(|| self.bad_answer("a point", "no `product_id`"))?;
        let labels: Labels = serde_json::from_value(payload["labels"].clone())
            .map_err(|e| self.bad_answer("a point's labels", &e.to_string()))?;
        Ok(ProductRecord {
            id: id.to_string(),
            hash: payload["hash"].as_str().unwrap_or_default().to_string(),
            image: payload["image"].as_str().unwrap_or_default().into(),
            labels,
        })
    }

    /// A point's vector, checked against the kit's search layout.
    fn vector(&self, p: &Value) -> Result<Vec<f32>> {
        let values = p["vector"]
            .as_array()
            .ok_or_else(|| self.bad_answer("a point", "no vector"))?;
        let row: Vec<f32> = values
            .iter()
            .map(|v| v.as_f64().map(|x| x as f32))
            .collect::<Option<_>>()
            .ok_or_else(|| self.bad_answer("a point", "a vector value that is not a number"))?;
        crate::layout::check_dim(
            "a point's vector",
            self.model.search_layout().dim(),
            row.len(),
        )?;
        Ok(row)
    }

    fn candidate(&self, p: &Value) -> Result<Candidate> {
        let key = p["id"]
            .as_u64()
            .ok_or_else(|| self.bad_answer("a hit", "an id that is not a number"))?;
        let looks = p["score"]
            .as_f64()
            .ok_or_else(|| self.bad_answer("a hit", "no score"))? as f32;
        let classes = match p["payload"][CLASSES].as_array() {
            None => Vec::new(),
            Some(list) => list
                .iter()
                .map(|c| {
                    Some((
                        usize::try_from(c[0].as_u64()?).ok()?,
                        u16::try_from(c[1].as_u64()?).ok()?,
                        c[2].as_bool()?,
                    ))
                })
                .collect::<Option<_>>()
                .ok_or_else(|| self.bad_answer("a hit", "malformed `classes`"))?,
        };
        Ok(Candidate {
            key,
            looks,
            classes,
        })
    }

    /// The search row of `query`, and the point to leave out of its hits.
    fn query_row(&self, query: &Query<'_>) -> Result<(Vec<f32>, Option<u64>)> {
        match query {
            Query::Product(id) => {
                let (_, row) = self
                    .point(id, true)?
                    .ok_or_else(|| Error::UnknownId(id.to_string()))?;
                Ok((row, Some(crate::index::ann::product_key(id))))
            }
            Query::Embedding(e) => Ok((self.model.query_row(e)?, None)),
            Query::SearchRow(row) => {
                crate::layout::check_dim(
                    "a search row",
                    self.model.search_layout().dim(),
                    row.len(),
                )?;
                Ok((row.to_vec(), None))
            }
        }
    }

    /// `q` weighted for the `Dot` distance: `[(1 - w) shape, w colour]`.
    fn weighted(&self, q: &[f32], colour_weight: f32) -> Vec<f32> {
        let cnn = self.model.search_layout().shape;
        q.iter()
            .enumerate()
            .map(|(i, v)| {
                v * if i < cnn {
                    1.0 - colour_weight
                } else {
                    colour_weight
                }
            })
            .collect()
    }

    /// Runs `searches` in one batch request; one list of candidates each.
    fn query_batch(&self, searches: &[Value]) -> Result<Vec<Vec<Candidate>>> {
        let r = self.ask(
            "POST",
            &format!("{}/points/query/batch", self.path),
            &json!({ "searches": searches }),
        )?;
        let lists = r
            .as_array()
            .filter(|a| a.len() == searches.len())
            .ok_or_else(|| self.bad_answer("points/query/batch", "not one answer per search"))?;
        lists
            .iter()
            .map(|l| {
                l["points"]
                    .as_array()
                    .ok_or_else(|| self.bad_answer("points/query/batch", "no `points`"))?
                    .iter()
                    .map(|p| self.candidate(p))
                    .collect()
            })
            .collect()
    }

    /// One search of the batch API.
    fn search_body(
        query: &[f32],
        filter: &Value,
        offset: usize,
        limit: usize,
        backend: Backend,
        payload: &[&str],
    ) -> Value {
        let params = match backend {
            Backend::Exact => json!({ "exact": true }),
            Backend::Auto => json!({ "hnsw_ef": (offset + limit).max(MIN_EF) }),
        };
        json!({
            "query": query,
            "filter": filter,
            "offset": offset,
            "limit": limit,
            "params": params,
            "with_payload": payload,
            "with_vector": false,
        })
    }

    /// The vote's neighbours of `q` (by looks, any product but `exclude`).
    fn vote_search(&self, q: &[f32], exclude: Option<u64>, k: usize, backend: Backend) -> Value {
        let filter = match exclude {
            Some(id) => json!({ "must_not": [{ "has_id": [id] }] }),
            None => json!({}),
        };
        Self::search_body(
            &self.weighted(q, catalogue_vote::COLOUR_WEIGHT),
            &filter,
            0,
            k,
            backend,
            &CANDIDATE_PAYLOAD,
        )
    }

    fn vote(probs: &mut [Vec<f32>], near: &[Candidate], weight: f32) {
        let near: Vec<(f32, Vec<(usize, u16)>)> =
            near.iter().map(|c| (c.looks, c.labelled())).collect();
        blend_labelled(probs, &near, weight);
    }

    fn search_impl(&self, query: &Query<'_>, req: &SearchRequest) -> Result<SearchResults> {
        let start = Instant::now();
        req.validate()?;
        let (q, exclude) = self.query_row(query)?;
        let head = self.model.head();
        let mut probabilities = head.map(|h| h.probabilities(&q));
        let prior = match (req.metric, head, &probabilities) {
            (Metric::Cosine, Some(h), Some(p)) => ClassPrior::new(h, p, req.label_weight),
            _ => None,
        };
        let filter = translate(&req.filters, &self.model.manifest().fields, exclude)?;
        let hq = self.weighted(&q, req.colour_weight);
        let voting = head.is_some() && req.vote_weight > 0.0;
        // Without filters and at the vote's colour weight, the hits' first
        // stream ranks every product by the vote's measure: its first
        // candidates are the vote's neighbours, and the cluster is asked
        // once, not twice.
        let vote_from_hits =
            voting && req.filters.is_empty() && req.colour_weight == catalogue_vote::COLOUR_WEIGHT;
        let mut first_page = if prior.is_some() {
            (req.k * PAGE_PER_HIT).max(MIN_PAGE)
        } else {
            req.k
        };
        if vote_from_hits {
            first_page = first_page.max(catalogue_vote::NEIGHBOURS);
        }
        let max_lift = prior.as_ref().map_or(0.0, |p| p.max_lift());
        let mut streams = vec![Stream::new(filter.clone(), max_lift, first_page)];
        // The second stream filters on `kind_class`: only for a head whose
        // first part is its kind task (a colour-only head has none).
        let kind_task = head.and_then(|h| h.first_task(crate::embedding::Part::Shape));
        let likeliest = prior
            .as_ref()
            .and_then(|p| p.likeliest_kind())
            .filter(|(task, _, _)| Some(*task) == kind_task);
        if let Some((_, class, rest_lift)) = likeliest {
            streams[0].lift_cap = rest_lift;
            let mut kind = filter.clone();
            if let Some(must) = kind["must"].as_array_mut() {
                must.push(json!({ "key": KIND_CLASS, "match": { "value": class } }));
            }
            streams.push(Stream::new(kind, max_lift, first_page));
        }
        let lift = |c: &Candidate| prior.as_ref().map_or(0.0, |p| p.lift_of(|t| c.class_of(t)));
        let mut pool: HashMap<u64, (f32, Candidate)> = HashMap::new();
        let mut first = true;
        let mut rounds = 0;
        loop {
            // After the first round: only the streams whose unseen products
            // could still beat the k-th score fetch more.
            let kth = kth_score(&pool, req.k);
            let asking: Vec<usize> = (0..streams.len())
                .filter(|&i| first || (!streams[i].exhausted && streams[i].bound() > kth))
                .collect();
            if asking.is_empty() {
                break;
            }
            let mut searches: Vec<Value> = asking
                .iter()
                .map(|&i| {
                    let s = &streams[i];
                    Self::search_body(
                        &hq,
                        &s.filter,
                        s.fetched,
                        s.next_page,
                        req.backend,
                        &CANDIDATE_PAYLOAD,
                    )
                })
                .collect();
            if first && voting && !vote_from_hits {
                searches.push(self.vote_search(
                    &q,
                    exclude,
                    catalogue_vote::NEIGHBOURS,
                    req.backend,
                ));
            }
            rounds += 1;
            let mut answers = self.query_batch(&searches)?.into_iter();
            for &i in &asking {
                let got = answers.next().unwrap_or_default();
                if first && i == 0 && vote_from_hits {
                    if let Some(probs) = probabilities.as_mut() {
                        let near = &got[..got.len().min(catalogue_vote::NEIGHBOURS)];
                        Self::vote(probs, near, req.vote_weight);
                    }
                }
                let s = &mut streams[i];
                s.exhausted = got.len() < s.next_page;
                s.fetched += got.len();
                s.next_page = (s.next_page * 2).min(MAX_CANDIDATES.saturating_sub(s.fetched));
                if s.next_page == 0 && !s.exhausted {
                    tracing::warn!(
                        "the label term's bound was not settled within {MAX_CANDIDATES} candidates: \
                         the hits are the best of those, and may differ from an exact scan's"
                    );
                    s.exhausted = true;
                }
                // Answers come best first; the minimum holds even if not.
                if let Some(low) = got.iter().map(|c| c.looks).reduce(f32::min) {
                    s.lowest = low;
                }
                for c in got {
                    let score = ClassPrior::apply_lift(lift(&c), c.looks).0;
                    pool.entry(c.key).or_insert((score, c));
                }
            }
            if first && voting && !vote_from_hits {
                if let (Some(probs), Some(near)) = (probabilities.as_mut(), answers.next()) {
                    Self::vote(probs, &near, req.vote_weight);
                }
            }
            first = false;
        }
        tracing::debug!(
            "Qdrant search: {rounds} round(s), {} candidates from {} stream(s)",
            pool.len(),
            streams.len()
        );
        let mut best: Vec<(f32, Candidate)> = pool.into_values().collect();
        best.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.key.cmp(&b.1.key)));
        best.truncate(req.k);
        let hits = self.explain(&q, req, prior.as_ref(), best)?;
        Ok(SearchResults {
            hits,
            took: start.elapsed(),
            probabilities,
        })
    }

    /// The hits with their scores worked out from their own vectors, as the
    /// local search explains them.
    fn explain(
        &self,
        q: &[f32],
        req: &SearchRequest,
        prior: Option<&ClassPrior>,
        best: Vec<(f32, Candidate)>,
    ) -> Result<Vec<SearchHit>> {
        if best.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<u64> = best.iter().map(|b| b.1.key).collect();
        let found = self.ask(
            "POST",
            &format!("{}/points", self.path),
            &json!({ "ids": keys, "with_payload": ["product_id", "labels"], "with_vector": true }),
        )?;
        let mut rows: HashMap<u64, (Vec<f32>, ProductRecord)> = HashMap::new();
        for p in found.as_array().into_iter().flatten() {
            if let Some(key) = p["id"].as_u64() {
                rows.insert(key, (self.vector(p)?, self.record(p)?));
            }
        }
        let cnn = self.model.search_layout().shape;
        let mut hits = Vec::with_capacity(best.len());
        for (_, c) in best {
            // A point deleted between the two requests is left out.
            let Some((row, record)) = rows.remove(&c.key) else {
                continue;
            };
            let s = req.metric.score(q, &row, cnn, req.colour_weight);
            let (score, label) = match prior {
                Some(p) => ClassPrior::apply_lift(p.lift_of(|t| c.class_of(t)), s.score),
                None => (s.score, 0.0),
            };
            hits.push(SearchHit {
                id: record.id,
                score,
                shape: s.shape,
                colour: s.colour,
                label,
                labels: record.labels,
                row: None,
            });
        }
        let metric = req.metric;
        hits.sort_by(|a, b| {
            metric
                .rank_key(b.score)
                .total_cmp(&metric.rank_key(a.score))
        });
        Ok(hits)
    }
}

/// The k-th best score of `pool` (minus infinity with fewer than `k`).
fn kth_score(pool: &HashMap<u64, (f32, Candidate)>, k: usize) -> f32 {
    if pool.len() < k {
        return f32::NEG_INFINITY;
    }
    let mut scores: Vec<f32> = pool.values().map(|v| v.0).collect();
    let (_, kth, _) = scores.select_nth_unstable_by(k - 1, |a, b| b.total_cmp(a));
    *kth
}

impl SearchTarget for QdrantCatalogue {
    fn model(&self) -> &SearchModel {
        &self.model
    }

    fn search(&self, query: &Query<'_>, req: &SearchRequest) -> Result<SearchResults> {
        self.search_impl(query, req)
    }

    fn recognition(&self, query: &Query<'_>, vote_weight: f32) -> Result<Option<Vec<Vec<f32>>>> {
        crate::search::check_weight("vote", vote_weight)?;
        let Some(head) = self.model.head() else {
            return Ok(None);
        };
        let (q, exclude) = self.query_row(query)?;
        let mut probs = head.probabilities(&q);
        if vote_weight > 0.0 {
            let near = self.query_batch(&[self.vote_search(
                &q,
                exclude,
                catalogue_vote::NEIGHBOURS,
                Backend::Auto,
            )])?;
            if let Some(near) = near.first() {
                Self::vote(&mut probs, near, vote_weight);
            }
        }
        Ok(Some(probs))
    }

    fn nearest_similarity(&self, query: &Embedding) -> Result<Option<f32>> {
        let q = self.model.query_row(query)?;
        let near = self.query_batch(&[self.vote_search(&q, None, 1, Backend::Auto)])?;
        Ok(near.first().and_then(|n| n.first()).map(|c| c.looks))
    }

    fn contains(&self, id: &str) -> Result<bool> {
        Ok(self.point(id, false)?.is_some())
    }
}
