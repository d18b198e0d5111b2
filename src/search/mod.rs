//! Search over an [`Index`]: the ranking rules on top of a vector backend.
//!
//! [`search`] turns the query into a search row, works out the rules (the
//! label term of `label_prior`, the catalogue's vote of `catalogue_vote`),
//! and asks a backend (`backend::VectorBackend`) for the best rows of each
//! ranking it needs: the hits under the request's filters, and, with a head,
//! the query's nearest products by looks among all rows for the vote. The
//! backend today is the exact scan (`exact`); an approximate index or a
//! remote cluster plugs in at the same seam, taking the same backend-neutral
//! [`Filter`]s. The hits are then scored exactly and explained (shape,
//! colour and label parts).

mod ann;
mod backend;
mod browse;
pub(crate) mod catalogue_vote;
mod exact;
pub(crate) mod filter;
pub(crate) mod label_prior;
mod metric;
mod query_image;
mod response;
mod row_set;
mod target;
mod topk;

use std::time::{Duration, Instant};

use serde::Serialize;

use backend::{Ranking, VectorBackend};
pub use browse::{browse, Page, NAME_FIELD};
pub use catalogue_vote::DEFAULT_VOTE_WEIGHT;
use exact::ExactScan;
pub use filter::Filter;
use label_prior::LabelPrior;
pub use metric::{Metric, Scored};
pub use query_image::{
    embed_photo_query, embed_query_image, embed_upload, ImageSize, QueryImage, QueryRegion,
    NEAR_DUPLICATE,
};
pub use response::SearchResponse;
pub use row_set::RowSet;
pub use target::SearchTarget;
use topk::Candidate;

use crate::catalog::Labels;
use crate::embedding::Embedding;
use crate::error::{Error, Result};
use crate::index::Index;

/// Largest `k` accepted.
pub const MAX_K: usize = 1000;

/// The default weight of the colour part, chosen by the type+colour
/// evaluation (see docs/quality.md, "Ablations").
pub const DEFAULT_COLOUR_WEIGHT: f32 = 0.5;

/// The default weight of the catalogue's labels (with a head, cosine only),
/// chosen by the evaluation (see docs/quality.md, "Ablations").
pub const DEFAULT_LABEL_WEIGHT: f32 = 0.7;

/// What to search for.
#[derive(Debug, Clone)]
pub enum Query<'a> {
    /// A product already in the index (it is excluded from its own hits).
    Product(&'a str),
    /// An embedded image.
    Embedding(&'a Embedding),
    /// A search row made elsewhere (the index's [`SearchLayout`](crate::layout::SearchLayout):
    /// both parts unit length), e.g. by another copy of the same model and
    /// head.
    SearchRow(&'a [f32]),
}

/// Search parameters besides the query.
#[derive(Debug, Clone)]
pub struct SearchRequest {
    /// Number of hits wanted (1..=[`MAX_K`]).
    pub k: usize,
    /// Label filters, combined with AND.
    pub filters: Vec<Filter>,
    /// Similarity metric.
    pub metric: Metric,
    /// Weight of the colour part in `0..=1`.
    pub colour_weight: f32,
    /// Weight of the catalogue's labels in `0..=1` (see `label_prior`);
    /// used with a head and the cosine metric only.
    pub label_weight: f32,
    /// Share of the catalogue's vote in what the query is recognised as, in
    /// `0..=1` (see `catalogue_vote`); used with a head only.
    pub vote_weight: f32,
    /// Which backend finds the candidates.
    pub backend: Backend,
}

/// Which backend a search asks for candidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The index's ANN graph if it has one, else the exact scan.
    #[default]
    Auto,
    /// The exact scan, whatever the index has.
    Exact,
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Backend::Auto),
            "exact" => Ok(Backend::Exact),
            _ => Err(format!("unknown backend `{s}` (auto or exact)")),
        }
    }
}

/// The backend `choice` means for `index`.
fn backend(index: &Index, choice: Backend) -> Box<dyn VectorBackend + '_> {
    match (choice, index.ann()) {
        (Backend::Auto, Some(graph)) => Box::new(ann::AnnSearch::new(index, graph)),
        _ => Box::new(ExactScan::new(index)),
    }
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            k: 10,
            filters: Vec::new(),
            metric: Metric::Cosine,
            colour_weight: DEFAULT_COLOUR_WEIGHT,
            label_weight: DEFAULT_LABEL_WEIGHT,
            vote_weight: DEFAULT_VOTE_WEIGHT,
            backend: Backend::Auto,
        }
    }
}

/// One result.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    /// Product id.
    pub id: String,
    /// Similarity (cosine) or distance (Euclidean).
    pub score: f32,
    /// Contribution of shape/category (the CNN part) to `score`; for
    /// Euclidean, to the squared distance.
    pub shape: f32,
    /// Contribution of colour to `score` (squared distance for Euclidean).
    pub colour: f32,
    /// Contribution of the catalogue's labels to `score` (cosine with a
    /// head; else 0).
    pub label: f32,
    /// Product labels.
    pub labels: Labels,
    /// Row in the index (`None` for a hit from a remote collection).
    #[serde(skip)]
    pub row: Option<usize>,
}

/// Hits and timing.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResults {
    /// Best first.
    pub hits: Vec<SearchHit>,
    /// Time spent in the search (embedding a query image not included).
    #[serde(skip)]
    pub took: Duration,
    /// The query's class probabilities per head task (the head's, blended
    /// with the catalogue's vote; what [`recognise`] reads); `None` without
    /// a head.
    #[serde(skip)]
    pub probabilities: Option<Vec<Vec<f32>>>,
}

impl SearchRequest {
    /// Checks `k` and the weights.
    pub fn validate(&self) -> Result<()> {
        if self.k == 0 || self.k > MAX_K {
            return Err(Error::InvalidArgument(format!(
                "k must be in 1..={MAX_K}, got {}",
                self.k
            )));
        }
        check_weight("colour", self.colour_weight)?;
        check_weight("label", self.label_weight)?;
        check_weight("vote", self.vote_weight)
    }
}

/// Refuses a weight outside `0..=1` (NaN included).
pub(crate) fn check_weight(name: &str, w: f32) -> Result<()> {
    if (0.0..=1.0).contains(&w) {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "{name} weight must be in 0..=1, got {w}"
        )))
    }
}

/// Searches `index` for the `req.k` rows closest to `query`.
pub fn search(index: &Index, query: &Query<'_>, req: &SearchRequest) -> Result<SearchResults> {
    let start = Instant::now();
    req.validate()?;
    let (q, exclude) = query_row(index, query)?;
    let voters = index.label_classes().filter(|_| req.vote_weight > 0.0);
    let mut probabilities = index.head().map(|head| head.probabilities(&q));
    // The label term reads the head's own probabilities: the vote's
    // neighbours already rank high by looks, and blending their labels into
    // the ranking too counted them twice (docs/quality.md, "Ablations").
    let prior = match (req.metric, &probabilities) {
        (Metric::Cosine, Some(p)) => LabelPrior::new(index, p, req.label_weight),
        _ => None,
    };
    let mut rankings = vec![Ranking {
        k: req.k,
        metric: req.metric,
        colour_weight: req.colour_weight,
        prior: prior.as_ref(),
        filters: &req.filters,
    }];
    if voters.is_some() {
        // The vote's neighbours: every row, whatever the filters, by looks.
        rankings.push(vote_ranking());
    }
    let mut tops = backend(index, req.backend)
        .top_k(&q, exclude, &rankings)?
        .into_iter();
    let candidates = tops.next().unwrap_or_default();
    if let (Some(classes), Some(probs), Some(near)) = (voters, probabilities.as_mut(), tops.next())
    {
        catalogue_vote::blend(probs, classes, &neighbours(&near), req.vote_weight);
    }
    let cnn_dim = index.search_layout().shape;
    let mut buf = Vec::new();
    let hits = candidates
        .into_iter()
        .map(|c| {
            let row = c.row as usize;
            let s = req.metric.score(
                &q,
                index.read_search_row(row, &mut buf),
                cnn_dim,
                req.colour_weight,
            );
            let p = &index.products()[row];
            let (score, label) = prior
                .as_ref()
                .map_or((s.score, 0.0), |l| l.apply(row, s.score));
            SearchHit {
                id: p.id.clone(),
                score,
                shape: s.shape,
                colour: s.colour,
                label,
                labels: p.labels.clone(),
                row: Some(row),
            }
        })
        .collect();
    Ok(SearchResults {
        hits,
        took: start.elapsed(),
        probabilities,
    })
}

/// The search row of `query`, and the row to leave out of its results (the
/// query product itself).
fn query_row(index: &Index, query: &Query<'_>) -> Result<(Vec<f32>, Option<usize>)> {
    match query {
        Query::Product(id) => {
            let row = index
                .row_of(id)
                .ok_or_else(|| Error::UnknownId(id.to_string()))?;
            let mut q = Vec::new();
            index.read_search_row(row, &mut q);
            Ok((q, Some(row)))
        }
        Query::Embedding(e) => Ok((index.query_row(e)?, None)),
        Query::SearchRow(row) => {
            crate::layout::check_dim("a search row", index.search_layout().dim(), row.len())?;
            Ok((row.to_vec(), None))
        }
    }
}

/// The class probabilities per head task that [`search`] would report for
/// `query` with `vote_weight` (see [`SearchResults::probabilities`]),
/// without ranking any hits: only the vote's neighbours are looked for, and
/// nothing at all with `vote_weight` 0. `None` without a head.
pub fn recognition(
    index: &Index,
    query: &Query<'_>,
    vote_weight: f32,
) -> Result<Option<Vec<Vec<f32>>>> {
    check_weight("vote", vote_weight)?;
    let Some(head) = index.head() else {
        return Ok(None);
    };
    let (q, exclude) = query_row(index, query)?;
    let mut probs = head.probabilities(&q);
    if let Some(classes) = index.label_classes().filter(|_| vote_weight > 0.0) {
        let near = backend(index, Backend::Auto).top_k(&q, exclude, &[vote_ranking()])?;
        if let Some(near) = near.first() {
            catalogue_vote::blend(&mut probs, classes, &neighbours(near), vote_weight);
        }
    }
    Ok(Some(probs))
}

/// The similarity by looks of the product nearest to `query` (the vote's
/// measure: cosine at its colour weight, no label term, any product);
/// `None` for an empty index.
pub(crate) fn nearest_similarity(index: &Index, query: &Embedding) -> Result<Option<f32>> {
    let (q, _) = query_row(index, &Query::Embedding(query))?;
    let near = backend(index, Backend::Auto).top_k(
        &q,
        None,
        &[Ranking {
            k: 1,
            ..vote_ranking()
        }],
    )?;
    Ok(near.first().and_then(|n| n.first()).map(|c| c.key))
}

/// The ranking that finds the vote's neighbours: by looks, among every row.
fn vote_ranking<'a>() -> Ranking<'a> {
    Ranking {
        k: catalogue_vote::NEIGHBOURS,
        metric: Metric::Cosine,
        colour_weight: catalogue_vote::COLOUR_WEIGHT,
        prior: None,
        filters: &[],
    }
}

/// Candidates as `(cosine, row)`.
fn neighbours(near: &[Candidate]) -> Vec<(f32, usize)> {
    near.iter().map(|c| (c.key, c.row as usize)).collect()
}

/// What the index's head recognises in a query: per label field, the most
/// likely classes, best first.
pub type Recognition = Vec<(String, Vec<crate::embedding::Guess>)>;

/// The `top` likeliest articleType, baseColour, ... of the query of
/// `results` (the head's probabilities with the catalogue's vote, as the
/// search worked them out); `None` when the index has no head.
pub fn recognise(
    target: &dyn SearchTarget,
    results: &SearchResults,
    top: usize,
) -> Option<Recognition> {
    let (head, probs) = (target.model().head()?, results.probabilities.as_ref()?);
    Some(head.guesses(probs, top))
}

/// A recognition as JSON: `{"articleType": [{"label": .., "confidence": ..}], ..}`.
pub fn recognition_json(r: &Recognition) -> serde_json::Value {
    serde_json::Value::Object(
        r.iter()
            .map(|(field, guesses)| (field.clone(), serde_json::json!(guesses)))
            .collect(),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::topk::TopK;
    use super::*;
    use crate::catalog::Labels;
    use crate::index::{commit, WriteLock};
    use crate::index::{PcaSettings, ProductRecord, SearchSettings, TransformChoice};
    use crate::rng::SplitMix64;

    /// Writes an index of `n` random unit rows (cnn 48 | colour 16).
    pub(crate) fn random_index(
        dir: &std::path::Path,
        n: usize,
        settings: &SearchSettings,
    ) -> Index {
        random_index_of(dir, &(0..n).collect::<Vec<_>>(), settings)
    }

    /// Commits products `p{i}` for each of `ids`, each with the same random
    /// unit row (cnn 48 | colour 16) in every generation; one in 250 is
    /// tagged `rare`.
    pub(crate) fn random_index_of(
        dir: &std::path::Path,
        ids: &[usize],
        settings: &SearchSettings,
    ) -> Index {
        let unit = |rng: &mut SplitMix64, len: usize| {
            let mut v: Vec<f32> = (0..len)
                .map(|_| (rng.next_u64() % 2001) as f32 / 1000.0 - 1.0)
                .collect();
            crate::vector::l2_normalise(&mut v);
            v
        };
        // Products come in 64 looks, as a catalogue's do: a look's centre
        // plus as much noise again (uniform random rows would have no
        // neighbours worth the name).
        let centres: Vec<(Vec<f32>, Vec<f32>)> = (0..64u64)
            .map(|c| {
                let mut rng = SplitMix64(7 + c);
                (unit(&mut rng, 48), unit(&mut rng, 16))
            })
            .collect();
        let rows: Vec<Vec<f32>> = ids
            .iter()
            .map(|&i| {
                let mut rng = SplitMix64(42 ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
                let (c, k) = &centres[i % centres.len()];
                let mut part = |centre: &[f32]| {
                    let noise = unit(&mut rng, centre.len());
                    let mut v: Vec<f32> = centre.iter().zip(&noise).map(|(a, b)| a + b).collect();
                    crate::vector::l2_normalise(&mut v);
                    v
                };
                let mut r = part(c);
                r.extend(part(k));
                r
            })
            .collect();
        let products: Vec<ProductRecord> = ids
            .iter()
            .map(|&i| {
                let mut labels = Labels::default();
                labels.set("gender", if i % 3 == 0 { "Women" } else { "Men" });
                if i % 250 == 7 {
                    labels.set("tag", "rare");
                }
                ProductRecord {
                    id: format!("p{i}"),
                    hash: String::new(),
                    image: Default::default(),
                    labels,
                }
            })
            .collect();
        let embedder = serde_json::json!({
            "model": "test", "model_hash": "0", "input_size": [8, 8], "fit": "letterbox",
            "layout": "nchw", "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0], "output": "o",
            "cnn_dim": 48, "colour": crate::embedding::ColourSpec::default(), "pipeline_version": 1
        });
        let manifest = crate::index::format::test_manifest(48, 16, embedder, &["gender", "tag"]);
        let lock = WriteLock::acquire(dir).expect("lock");
        let refs: Vec<&[f32]> = rows.iter().map(Vec::as_slice).collect();
        commit(
            &lock,
            manifest,
            &refs,
            &products,
            settings,
            &crate::NoProgress,
        )
        .expect("commit");
        drop(lock);
        Index::open(dir).expect("open")
    }

    /// Brute force over the exact search rows: the reference.
    fn brute_force(
        index: &Index,
        q: &[f32],
        req: &SearchRequest,
        exclude: Option<usize>,
    ) -> Vec<u32> {
        let allowed = filter::compile(&req.filters, index.payload(), index.len()).expect("filters");
        let cnn = index.search_layout().shape;
        let mut top = TopK::new(req.k);
        for r in 0..index.len() {
            let ok = allowed.as_ref().is_none_or(|b| b.contains(r));
            if ok && Some(r) != exclude {
                let s = req
                    .metric
                    .score(q, index.search_row(r), cnn, req.colour_weight)
                    .score;
                top.push(Candidate {
                    key: req.metric.rank_key(s),
                    row: r as u32,
                });
            }
        }
        top.into_sorted().iter().map(|c| c.row).collect()
    }

    #[test]
    fn quantised_scan_equals_brute_force() {
        let dir = tempfile::tempdir().expect("tempdir");
        let no_projection = SearchSettings {
            transform: TransformChoice::Raw,
            ..SearchSettings::default()
        };
        let index = random_index(dir.path(), 5000, &no_projection);
        for (i, (metric, w, k, filters)) in [
            (Metric::Cosine, 0.3, 10, vec![]),
            (Metric::Cosine, 0.0, 1, vec![]),
            (Metric::Euclidean, 0.5, 25, vec![]),
            (Metric::Cosine, 1.0, 10, vec!["gender=Women"]),
            (Metric::Euclidean, 0.2, 100, vec!["gender!=Women"]),
        ]
        .into_iter()
        .enumerate()
        {
            let req = SearchRequest {
                k,
                filters: filters
                    .iter()
                    .map(|f| Filter::parse(f).expect("filter"))
                    .collect(),
                metric,
                colour_weight: w,
                label_weight: 0.0,
                vote_weight: DEFAULT_VOTE_WEIGHT,
                backend: Backend::Exact,
            };
            let id = format!("p{}", i * 7);
            let row = index.row_of(&id).expect("row");
            let hits = search(&index, &Query::Product(&id), &req)
                .expect("search")
                .hits;
            let got: Vec<u32> = hits.iter().map(|h| h.row.expect("row") as u32).collect();
            let want = brute_force(&index, index.search_row(row), &req, Some(row));
            assert_eq!(got, want, "{metric} w={w} k={k} {filters:?}");
            assert_eq!(got.len(), k);
            if !filters.is_empty() {
                let women = filters[0] == "gender=Women";
                assert!(hits
                    .iter()
                    .all(|h| (h.labels.get("gender") == Some("Women")) == women));
            }
        }
    }

    #[test]
    fn projected_index_searches_its_own_rows() {
        let dir = tempfile::tempdir().expect("tempdir");
        let settings = SearchSettings {
            pca: PcaSettings {
                dim: 16,
                alpha: 0.5,
                min_products: 100,
            },
            ..SearchSettings::default()
        };
        let index = random_index(dir.path(), 600, &settings);
        assert_eq!(index.manifest().search_cnn_dim, 16);
        assert!(index.manifest().projection_file.is_some());
        let req = SearchRequest::default();
        let hits = search(&index, &Query::Product("p5"), &req)
            .expect("search")
            .hits;
        let row = index.row_of("p5").expect("row");
        assert_eq!(
            hits.iter()
                .map(|h| h.row.expect("row") as u32)
                .collect::<Vec<_>>(),
            brute_force(&index, index.search_row(row), &req, Some(row))
        );
        // A query embedding equal to a stored row finds that row first.
        let raw = index.row(row);
        let e = Embedding {
            cnn: raw[..48].to_vec(),
            colour: raw[48..].to_vec(),
            taps: Vec::new(),
            head_colour: Vec::new(),
        };
        let hits = search(&index, &Query::Embedding(&e), &req)
            .expect("search")
            .hits;
        assert_eq!(hits[0].id, "p5");
        assert!((hits[0].score - 1.0).abs() < 1e-4);
    }

    #[test]
    fn bad_requests_are_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = random_index(dir.path(), 10, &SearchSettings::default());
        for req in [
            SearchRequest {
                k: 0,
                ..Default::default()
            },
            SearchRequest {
                k: MAX_K + 1,
                ..Default::default()
            },
            SearchRequest {
                colour_weight: 1.5,
                ..Default::default()
            },
            SearchRequest {
                label_weight: f32::NAN,
                ..Default::default()
            },
        ] {
            assert!(search(&index, &Query::Product("p1"), &req).is_err());
        }
        assert!(matches!(
            search(&index, &Query::Product("nope"), &SearchRequest::default()),
            Err(Error::UnknownId(_))
        ));
        // Fewer matches than k: all of them, no more.
        let req = SearchRequest {
            k: 50,
            ..Default::default()
        };
        assert_eq!(
            search(&index, &Query::Product("p1"), &req)
                .expect("search")
                .hits
                .len(),
            9
        );
    }
}
