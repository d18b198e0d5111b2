//! End-to-end on a 3-node Qdrant cluster on loopback (6 shards x 2
//! replicas): 2,000 real catalogue products searched through the cluster
//! answer as the embedded index does, re-indexing is idempotent, a removed
//! product disappears, bad clusters are refused by name; and a node killed
//! with `kill -9` under load loses no search and no acknowledged write.
//! Skips loudly without a Qdrant binary or the shared catalogue.

#![cfg(feature = "qdrant")]

mod common;
mod qdrant_support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use lookalike::imaging::DecodeLimits;
use lookalike::qdrant::{QdrantCatalogue, QdrantNodes};
use lookalike::search::{embed_upload, Backend, Filter, Query, SearchRequest, SearchTarget};
use lookalike::Index;
use qdrant_support::*;
use serde_json::Value;

/// One cluster at a time: three nodes each are all this machine's cores.
static SERIAL: Mutex<()> = Mutex::new(());

const COLLECTION: &str = "shop";

/// `index CATALOG --qdrant URLS` into [`COLLECTION`] (6 shards x 2 replicas).
fn index_into(
    cat: &std::path::Path,
    idx: &std::path::Path,
    kit: &std::path::Path,
    urls: &str,
) -> std::process::Output {
    lookalike(&[
        "index",
        s(cat),
        "--index",
        s(idx),
        "--qdrant",
        urls,
        "--collection",
        COLLECTION,
        "--shards",
        "6",
        "--replicas",
        "2",
        "--kit",
        s(kit),
    ])
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "index --qdrant failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ids_of(target: &dyn SearchTarget, query: &Query<'_>, req: &SearchRequest) -> Vec<String> {
    target
        .search(query, req)
        .unwrap_or_else(|e| panic!("search {query:?}: {e}"))
        .hits
        .into_iter()
        .map(|h| h.id)
        .collect()
}

/// `(id, score)` of each hit of `query`.
fn ranked(target: &dyn SearchTarget, query: &Query<'_>, req: &SearchRequest) -> Vec<(String, f32)> {
    let hits = target
        .search(query, req)
        .unwrap_or_else(|e| panic!("search {query:?}: {e}"))
        .hits;
    hits.into_iter().map(|h| (h.id, h.score)).collect()
}

/// The same ranking: the same scores in order, and the same products for
/// each score, except that products of equal score (the catalogue holds
/// duplicate images) may come in either order, and the last score's group
/// may be cut at k differently.
fn assert_same_ranking(got: &[(String, f32)], want: &[(String, f32)], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: {got:?} vs {want:?}");
    for (g, w) in got.iter().zip(want) {
        assert!((g.1 - w.1).abs() < 1e-4, "{what}: {got:?} vs {want:?}");
    }
    let groups = |list: &[(String, f32)]| {
        let mut out: Vec<Vec<String>> = Vec::new();
        let mut last = f32::NAN;
        for (id, score) in list {
            if (score - last).abs() < 1e-5 {
                out.last_mut().expect("group").push(id.clone());
            } else {
                out.push(vec![id.clone()]);
            }
            last = *score;
        }
        for g in &mut out {
            g.sort();
        }
        out
    };
    let (g, w) = (groups(got), groups(want));
    let whole = g.len().min(w.len()).saturating_sub(1);
    assert_eq!(g[..whole], w[..whole], "{what}: {got:?} vs {want:?}");
}

fn request(filters: &[&str], backend: Backend) -> SearchRequest {
    SearchRequest {
        filters: filters
            .iter()
            .map(|f| Filter::parse(f).expect("filter"))
            .collect(),
        backend,
        ..SearchRequest::default()
    }
}

/// Filters of every kind: equality, a list, `!=`, `not in`, a number, and
/// values in another case than the catalogue's.
const FILTERS: &[&[&str]] = &[
    &[],
    &["gender=women"],
    &["articleType not in (Tshirts, Shirts)", "year>=2012"],
    &["baseColour != BLACK", "season in (summer, Fall)"],
];

#[test]
fn a_three_node_cluster_answers_as_the_embedded_index() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(bin) = qdrant_bin() else { return };
    let Some(shared) = shared_small() else { return };
    let cluster = Cluster::start(&bin, 3);
    let urls = cluster.urls();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cat, idx, kit) = (
        tmp.path().join("catalog"),
        tmp.path().join("index"),
        tmp.path().join("kit"),
    );
    let ids = kaggle_subset(&shared, &cat, 2000);
    let out = stdout(&index_into(&cat, &idx, &kit, &urls));
    assert!(out.contains("(made): 2000 points written"), "{out}");
    let states = cluster.replica_states(COLLECTION);
    assert_eq!(states.len(), 12, "6 shards x 2 replicas: {states:?}");
    assert!(states.iter().all(|s| s == "Active"), "{states:?}");

    let index = Index::open(&idx).expect("local index");
    let remote = QdrantCatalogue::open(QdrantNodes::new(&urls).expect("urls"), COLLECTION, &kit)
        .expect("collection");
    assert_eq!(remote.len().expect("count"), 2000);

    // By id, under every filter: the same top-10 as the embedded exact scan,
    // with the same scores; the approximate path agrees as well.
    let mut agree = (0, 0);
    for id in ids.iter().step_by(50) {
        for filters in FILTERS {
            let exact = request(filters, Backend::Exact);
            let want = ranked(&index, &Query::Product(id), &exact);
            assert_eq!(want.len(), 10, "{id} {filters:?}");
            let got = remote
                .search(&Query::Product(id), &exact)
                .expect("remote search");
            let got_ranked: Vec<(String, f32)> =
                got.hits.iter().map(|h| (h.id.clone(), h.score)).collect();
            assert_same_ranking(&got_ranked, &want, &format!("by id {id} {filters:?}"));
            let local = index.search(&Query::Product(id), &exact).expect("local");
            for (a, b) in got
                .hits
                .iter()
                .zip(&local.hits)
                .filter(|(a, b)| a.id == b.id)
            {
                assert!((a.label - b.label).abs() < 1e-4 && (a.shape - b.shape).abs() < 1e-4);
                assert_eq!(a.labels, b.labels);
            }
            let want: Vec<String> = want.into_iter().map(|w| w.0).collect();
            let auto = ids_of(
                &remote,
                &Query::Product(id),
                &request(filters, Backend::Auto),
            );
            agree.0 += auto.iter().filter(|i| want.contains(i)).count();
            agree.1 += want.len();
        }
    }
    let recall = agree.0 as f64 / agree.1 as f64;
    assert!(
        recall >= 0.95,
        "recall@10 of the cluster's own index: {recall}"
    );

    // By image (shopper photos and catalogue images, as uploads): the same
    // hits, the same recognition.
    let embedder = index.embedder().expect("embedder");
    let mut images: Vec<std::path::PathBuf> = ids
        .iter()
        .step_by(400)
        .map(|id| cat.join("images").join(format!("{id}.jpg")))
        .collect();
    if let Some(photos) = shared_shopper_photos() {
        for kind in ["dress", "shoes", "pants", "hat", "shorts", "outwear"] {
            images.push(first_shopper_photo(&photos, kind));
        }
    }
    let limits = DecodeLimits::default();
    for path in &images {
        let bytes = std::fs::read(path).expect("image");
        let local_q = embed_upload(&index, &embedder, &bytes, &limits, None).expect("embed");
        let remote_q = embed_upload(&remote, &embedder, &bytes, &limits, None).expect("embed");
        assert_eq!(local_q.scene, remote_q.scene, "{}", path.display());
        for filters in [&[][..], &["gender!=men"][..]] {
            let req = request(filters, Backend::Exact);
            let l = index
                .search(&Query::Embedding(&local_q.embedding), &req)
                .expect("local");
            let r = remote
                .search(&Query::Embedding(&remote_q.embedding), &req)
                .expect("remote");
            let ids = |hits: &[lookalike::SearchHit]| {
                hits.iter()
                    .map(|h| (h.id.clone(), h.score))
                    .collect::<Vec<_>>()
            };
            assert_same_ranking(
                &ids(&r.hits),
                &ids(&l.hits),
                &format!("{} {filters:?}", path.display()),
            );
            let top = |t: &dyn SearchTarget, res| {
                lookalike::search::recognise(t, res, 1).map(|g| g[0].1[0].label.clone())
            };
            assert_eq!(top(&remote, &r), top(&index, &l));
        }
    }

    // The binary end to end: `search --qdrant` prints what `search --index` does.
    let cli = |extra: &[&str]| -> Vec<Value> {
        let mut args = vec![
            "search",
            "--id",
            &ids[3],
            "--json",
            "--filter",
            "gender=men",
        ];
        args.extend_from_slice(extra);
        json(&args)["hits"].as_array().expect("hits").clone()
    };
    let local_cli = cli(&["--index", s(&idx), "--backend", "exact"]);
    let remote_cli = cli(&[
        "--qdrant",
        &urls,
        "--collection",
        COLLECTION,
        "--kit",
        s(&kit),
        "--backend",
        "exact",
    ]);
    let pairs_cli = |h: &[Value]| {
        h.iter()
            .map(|h| {
                (
                    h["id"].as_str().expect("id").to_string(),
                    h["score"].as_f64().expect("score") as f32,
                )
            })
            .collect::<Vec<_>>()
    };
    assert_same_ranking(
        &pairs_cli(&remote_cli),
        &pairs_cli(&local_cli),
        "search --qdrant vs --index",
    );

    // Again: nothing to write, the same points.
    let out = stdout(&index_into(&cat, &idx, &kit, &urls));
    assert!(
        out.contains(": 0 points written") && out.contains("2000 unchanged"),
        "{out}"
    );
    for node in 0..3 {
        assert_eq!(cluster.count(node, COLLECTION, Value::Null), 2000);
    }

    // A product leaves the catalogue: gone from the cluster and from every answer.
    let gone = ids[7].clone();
    remove_products(&cat, std::slice::from_ref(&gone));
    let out = stdout(&index_into(&cat, &idx, &kit, &urls));
    assert!(out.contains("1 deleted"), "{out}");
    assert_eq!(remote.len().expect("count"), 1999);
    assert!(remote.product(&gone).expect("lookup").is_none());
    assert!(matches!(
        remote.search(&Query::Product(&gone), &SearchRequest::default()),
        Err(lookalike::Error::UnknownId(_))
    ));
    let near = ids_of(
        &remote,
        &Query::Product(&ids[8]),
        &request(&[], Backend::Exact),
    );
    assert!(!near.contains(&gone));

    // The web API served from the cluster answers as the one served from
    // the index: hits, browsing, facets, a product, its image.
    #[cfg(feature = "server")]
    server::answers_alike(&urls, &kit, &idx, &cat, &ids[20..24], &gone);

    // Bad input: each a clear error naming the node and what to do.
    let err = fails(&[
        "search",
        "--qdrant",
        &urls,
        "--collection",
        "nope",
        "--kit",
        s(&kit),
        "--id",
        &ids[1],
    ]);
    assert!(
        err.contains("no collection `nope`") && err.contains(&cluster.url(0)),
        "{err}"
    );
    let other_idx = tmp.path().join("other");
    let other_cat = tmp.path().join("other-catalog");
    kaggle_subset(&shared, &other_cat, 30);
    ok(&[
        "index",
        s(&other_cat),
        "--index",
        s(&other_idx),
        "--head",
        "none",
    ]);
    let err = QdrantCatalogue::open(
        QdrantNodes::new(&urls).expect("urls"),
        COLLECTION,
        &other_idx,
    )
    .expect_err("another model's kit")
    .to_string();
    assert!(
        err.contains("made another way") && err.contains("re-index"),
        "{err}"
    );
    // One by-id query, exact, past each kind of bad node and embedded.
    let exact_by_id =
        |t: &dyn SearchTarget| ranked(t, &Query::Product(&ids[3]), &request(&[], Backend::Exact));
    let broken = broken_node();
    let with_broken = QdrantCatalogue::open(
        QdrantNodes::new(&format!("{broken},{}", cluster.url(1))).expect("urls"),
        COLLECTION,
        &kit,
    )
    .expect("a broken node is passed over");
    assert_same_ranking(
        &exact_by_id(&with_broken),
        &exact_by_id(&index),
        "past a broken node",
    );
    let err = QdrantCatalogue::open(QdrantNodes::new(&broken).expect("url"), COLLECTION, &kit)
        .expect_err("only a broken node")
        .to_string();
    assert!(
        err.contains(&broken) && err.contains("500") && err.contains("disk on fire"),
        "{err}"
    );
    // A node that accepts and then hangs: past its timeout, the next node
    // answers; alone, it is a timeout naming it, never a hang.
    let hung = hung_node();
    let t = Instant::now();
    let past_hung = QdrantCatalogue::open(
        QdrantNodes::with_timeout(
            &format!("{hung},{}", cluster.url(2)),
            Duration::from_secs(2),
        )
        .expect("urls"),
        COLLECTION,
        &kit,
    )
    .expect("a hung node is passed over");
    assert_same_ranking(
        &exact_by_id(&past_hung),
        &exact_by_id(&index),
        "past a hung node",
    );
    assert!(t.elapsed() < Duration::from_secs(20), "{:?}", t.elapsed());
    let t = Instant::now();
    let err = QdrantCatalogue::open(
        QdrantNodes::with_timeout(&hung, Duration::from_secs(2)).expect("url"),
        COLLECTION,
        &kit,
    )
    .expect_err("only a hung node")
    .to_string();
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    assert!(err.contains(&hung) && err.contains("timed out"), "{err}");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let t = Instant::now();
    let err = fails(&[
        "search",
        "--qdrant",
        &dead,
        "--kit",
        s(&kit),
        "--id",
        &ids[1],
    ]);
    assert!(t.elapsed() < Duration::from_secs(30), "{:?}", t.elapsed());
    assert!(
        err.contains(&dead) && err.contains("no Qdrant node answered"),
        "{err}"
    );
}

#[test]
fn killing_a_node_loses_no_search_and_no_acknowledged_write() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let Some(bin) = qdrant_bin() else { return };
    let Some(shared) = shared_small() else { return };
    let mut cluster = Cluster::start(&bin, 3);
    let urls = cluster.urls();
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cat, idx, kit) = (
        tmp.path().join("catalog"),
        tmp.path().join("index"),
        tmp.path().join("kit"),
    );
    const BASE: usize = 400;
    const STEP: usize = 25;
    let ids = kaggle_subset(&shared, &cat, BASE);
    stdout(&index_into(&cat, &idx, &kit, &urls));

    let stop = AtomicBool::new(false);
    let (searches, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let errors: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let mut acknowledged = BASE;
    let mut rounds = Vec::new();
    std::thread::scope(|scope| {
        for client in 0..8 {
            let (stop, searches, failed, errors, ids, urls, kit) =
                (&stop, &searches, &failed, &errors, &ids, &urls, &kit);
            scope.spawn(move || {
                let remote =
                    QdrantCatalogue::open(QdrantNodes::new(urls).expect("urls"), COLLECTION, kit)
                        .expect("collection");
                let mut n = client * 37;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let id = &ids[n % ids.len()];
                    match remote.search(&Query::Product(id), &SearchRequest::default()) {
                        Ok(r) if r.hits.len() == 10 => {}
                        Ok(r) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            errors
                                .lock()
                                .expect("lock")
                                .push(format!("{id}: {} hits", r.hits.len()));
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                            errors.lock().expect("lock").push(format!("{id}: {e}"));
                        }
                    }
                    searches.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        // The writer: the catalogue grows by STEP products a round, each
        // round a real `index --qdrant`; node 2 dies after the first round
        // and comes back after the third.
        for round in 1..=4 {
            let size = BASE + STEP * round;
            kaggle_subset(&shared, &cat, size);
            let out = index_into(&cat, &idx, &kit, &urls);
            if out.status.success() {
                acknowledged = size;
            }
            rounds.push((
                size,
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            ));
            match round {
                1 => cluster.kill(2),
                3 => cluster.restart(2),
                _ => {}
            }
        }
        std::thread::sleep(Duration::from_secs(1));
        stop.store(true, Ordering::Relaxed);
    });
    let errors = errors.into_inner().expect("errors");
    let searches = searches.into_inner();
    eprintln!(
        "{searches} searches during the fault, writer rounds: {:?}",
        rounds.iter().map(|r| (r.0, r.1)).collect::<Vec<_>>()
    );
    assert!(searches >= 100, "only {searches} searches ran");
    assert_eq!(
        failed.into_inner(),
        0,
        "failed searches: {:?}",
        &errors[..errors.len().min(5)]
    );
    for (size, success, stderr) in &rounds {
        assert!(
            success,
            "the writer's round to {size} products failed: {stderr}"
        );
    }

    // Every replica active again, every node with the same answers.
    wait_until("every replica Active", Duration::from_secs(90), || {
        let states = cluster.replica_states(COLLECTION);
        states.len() == 12 && states.iter().all(|s| s == "Active")
    });
    let all_ids = kaggle_subset(&shared, &cat, acknowledged);
    for node in 0..3 {
        assert_eq!(
            cluster.count(node, COLLECTION, Value::Null),
            acknowledged as u64,
            "node {node}"
        );
    }
    let mut per_shard: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
    for node in 0..3 {
        for (shard, points, state) in cluster.local_shards(node, COLLECTION) {
            assert_eq!(state, "Active");
            per_shard.entry(shard).or_default().push(points);
        }
    }
    for (shard, counts) in &per_shard {
        assert!(
            counts.len() == 2 && counts[0] == counts[1],
            "shard {shard}'s replicas differ: {counts:?}"
        );
    }
    let remote = QdrantCatalogue::open(QdrantNodes::new(&urls).expect("urls"), COLLECTION, &kit)
        .expect("collection");
    for id in &all_ids {
        assert!(
            remote.product(id).expect("lookup").is_some(),
            "acknowledged product {id} lost"
        );
    }
    let answers: Vec<Vec<(String, f32)>> = (0..3)
        .map(|node| {
            let one = QdrantCatalogue::open(
                QdrantNodes::new(&cluster.url(node)).expect("url"),
                COLLECTION,
                &kit,
            )
            .expect("collection");
            ranked(
                &one,
                &Query::Product(&all_ids[BASE + 3]),
                &request(&[], Backend::Exact),
            )
        })
        .collect();
    for node in 1..3 {
        assert_same_ranking(
            &answers[node],
            &answers[0],
            &format!("node {node} vs node 0"),
        );
    }
}

#[cfg(feature = "server")]
mod server {
    use std::path::Path;
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::Router;
    use http_body_util::BodyExt;
    use lookalike::server::{router, AppState, QdrantSource, ServeOptions};
    use serde_json::Value;
    use tower::ServiceExt;

    async fn get(app: &Router, uri: &str) -> (StatusCode, Vec<u8>) {
        let req = Request::get(uri).body(Body::empty()).expect("request");
        let res = app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        (status, body.to_vec())
    }

    async fn json(app: &Router, uri: &str) -> Value {
        let (status, body) = get(app, uri).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{uri}: {}",
            String::from_utf8_lossy(&body)
        );
        serde_json::from_slice(&body).expect("JSON")
    }

    fn ranking(v: &Value) -> Vec<(String, f32)> {
        v["hits"]
            .as_array()
            .expect("hits")
            .iter()
            .map(|h| {
                (
                    h["id"].as_str().expect("id").to_string(),
                    h["score"].as_f64().expect("score") as f32,
                )
            })
            .collect()
    }

    /// The same guesses per field, with confidences equal to float noise
    /// (the vote's scores come from Qdrant's dot products).
    fn same_recognition(r: &Value, l: &Value, what: &str) {
        let (r, l) = (
            r.as_object().expect("object"),
            l.as_object().expect("object"),
        );
        assert_eq!(
            r.keys().collect::<Vec<_>>(),
            l.keys().collect::<Vec<_>>(),
            "{what}"
        );
        for (field, guesses) in r {
            let (g, w) = (
                guesses.as_array().expect("list"),
                l[field].as_array().expect("list"),
            );
            assert_eq!(g.len(), w.len(), "{what} {field}");
            for (a, b) in g.iter().zip(w) {
                assert_eq!(a["label"], b["label"], "{what} {field}");
                let (x, y) = (
                    a["confidence"].as_f64().expect("c"),
                    b["confidence"].as_f64().expect("c"),
                );
                assert!((x - y).abs() < 1e-4, "{what} {field}: {x} vs {y}");
            }
        }
    }

    pub fn answers_alike(
        urls: &str,
        kit: &Path,
        idx: &Path,
        cat: &Path,
        ids: &[String],
        gone: &str,
    ) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let mut options = ServeOptions::new(idx);
            options.qdrant = Some(QdrantSource {
                urls: urls.to_string(),
                collection: super::COLLECTION.to_string(),
                kit: kit.to_path_buf(),
            });
            let open = |o: ServeOptions| async move {
                tokio::task::spawn_blocking(move || AppState::open(o).expect("open"))
                    .await
                    .expect("join")
            };
            let remote = router(Arc::new(open(options).await));
            let local = router(Arc::new(open(ServeOptions::new(idx)).await));

            let health = json(&remote, "/api/health").await;
            assert_eq!(health["store"]["kind"], "qdrant", "{health}");
            assert_eq!(
                health["products"],
                json(&local, "/api/health").await["products"]
            );
            for id in ids {
                for query in [
                    "k=10",
                    "k=5&filter=gender%3Dwomen",
                    "metric=euclidean&filter=year%3E%3D2012",
                ] {
                    let uri = format!("/api/products/{id}/similar?{query}");
                    let (r, l) = (json(&remote, &uri).await, json(&local, &uri).await);
                    super::assert_same_ranking(&ranking(&r), &ranking(&l), &uri);
                    same_recognition(&r["recognised"], &l["recognised"], &uri);
                }
                let uri = format!("/api/products/{id}");
                assert_eq!(json(&remote, &uri).await, json(&local, &uri).await);
                let (status, bytes) = get(&remote, &format!("/images/{id}")).await;
                assert_eq!(status, StatusCode::OK);
                let file =
                    std::fs::read(cat.join("images").join(format!("{id}.jpg"))).expect("image");
                assert_eq!(bytes, file);
            }
            for uri in [
                "/api/products?filter=gender%3Dmen&limit=5",
                "/api/products?q=SHIRT&limit=3",
            ] {
                let (r, l) = (json(&remote, uri).await, json(&local, uri).await);
                assert_eq!(r["total"], l["total"], "{uri}");
                assert_eq!(
                    r["products"].as_array().map(Vec::len),
                    l["products"].as_array().map(Vec::len)
                );
            }
            assert_eq!(
                json(&remote, "/api/facets").await,
                json(&local, "/api/facets").await
            );
            for uri in [format!("/api/products/{gone}"), format!("/images/{gone}")] {
                assert_eq!(get(&remote, &uri).await.0, StatusCode::NOT_FOUND, "{uri}");
            }
            let uri = format!("/api/products/{}/similar?filter=colour%3Dred", ids[0]);
            let (status, body) = get(&remote, &uri).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(String::from_utf8_lossy(&body).contains("unknown field `colour`"));
        });
    }
}
