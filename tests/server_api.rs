//! The HTTP API against the real router, on an index of real catalogue
//! images: search by upload, similar by id, browsing, facets, images, every
//! error status, path traversal, and index reload while serving.
#![cfg(feature = "server")]

mod common;

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use lookalike::server::{router, AppState, ServeOptions};
use serde_json::Value;
use tower::ServiceExt;

/// Products in the shared test index.
const N: usize = 300;

struct Fixture {
    catalog: PathBuf,
    index: PathBuf,
    ids: Vec<String>,
}

/// One index of the first `N` real products, built once per test run
/// (incrementally: a rerun only checks hashes).
fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let shared = common::shared_small()?;
            let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("server_api");
            let (catalog, index, ids) = common::indexed_subset(&shared, &root, N, &[]);
            Some(Fixture {
                catalog,
                index,
                ids,
            })
        })
        .as_ref()
}

fn app_with(f: &Fixture, tweak: impl FnOnce(&mut ServeOptions)) -> Router {
    let mut options = ServeOptions::new(&f.index);
    tweak(&mut options);
    router(Arc::new(AppState::open(options).expect("open index")))
}

fn app(f: &Fixture) -> Router {
    app_with(f, |_| {})
}

async fn call(app: &Router, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
    let res = app.clone().oneshot(req).await.expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, headers, body)
}

async fn get(app: &Router, uri: &str) -> (StatusCode, Value) {
    let req = Request::get(uri).body(Body::empty()).expect("request");
    let (status, headers, body) = call(app, req).await;
    if status != StatusCode::NOT_MODIFIED {
        assert_eq!(
            headers
                .get(header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap_or("")),
            Some("application/json"),
            "{uri}"
        );
    }
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, v)
}

async fn post(app: &Router, uri: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("request");
    let (status, _, body) = call(app, req).await;
    let v = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, v)
}

fn multipart(field: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let boundary = "lookalike-test-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n\
         --{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"q.jpg\"\r\n\
         Content-Type: image/jpeg\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn image_of(f: &Fixture, id: &str) -> Vec<u8> {
    std::fs::read(f.catalog.join("images").join(format!("{id}.jpg"))).expect("image")
}

fn hit_ids(v: &Value) -> Vec<String> {
    v["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["id"].as_str().expect("id").to_string())
        .collect()
}

fn error_message(v: &Value) -> &str {
    v["error"]["message"].as_str().expect("error message")
}

#[tokio::test]
async fn an_uploaded_catalogue_image_finds_its_own_product_first() {
    let Some(f) = fixture() else { return };
    let app = app(f);
    for id in [&f.ids[0], &f.ids[123], &f.ids[299]] {
        let bytes = image_of(f, id);
        // Raw body.
        let (status, v) = post(&app, "/api/search?k=5", "image/jpeg", bytes.clone()).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(&hit_ids(&v)[0], id, "{v}");
        assert_eq!(hit_ids(&v).len(), 5);
        let top = &v["hits"][0];
        assert!(top["score"].as_f64().expect("score") > 0.99, "{top}");
        assert!(top["shape"].is_number() && top["colour"].is_number());
        assert!(top["labels"]["articleType"].is_string());
        assert!(v["took_ms"].as_f64().expect("took") >= v["search_ms"].as_f64().expect("search"));
        // Multipart, as the web page sends it.
        let (ct, body) = multipart("image", &bytes);
        let (status, v) = post(&app, "/api/search", &ct, body).await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(&hit_ids(&v)[0], id);
        assert_eq!(hit_ids(&v).len(), 10, "default k");
    }
}

#[tokio::test]
async fn search_by_upload_honours_filters_and_metric() {
    let Some(f) = fixture() else { return };
    let app = app(f);
    let bytes = image_of(f, &f.ids[7]);
    let (status, v) = post(
        &app,
        "/api/search?k=20&filter=gender%3DWomen&filter=masterCategory%20in%20(Apparel%2CFootwear)&metric=euclidean",
        "image/jpeg",
        bytes,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let hits = v["hits"].as_array().expect("hits");
    assert!(!hits.is_empty());
    let mut last = f64::MIN;
    for h in hits {
        assert_eq!(h["labels"]["gender"], "Women", "{h}");
        let mc = h["labels"]["masterCategory"].as_str().expect("mc");
        assert!(mc == "Apparel" || mc == "Footwear", "{h}");
        // Euclidean: distances ascend.
        let s = h["score"].as_f64().expect("score");
        assert!(s >= last);
        last = s;
    }
}

#[tokio::test]
async fn similar_by_id_walks_the_catalogue() {
    let Some(f) = fixture() else { return };
    let app = app(f);
    let id = &f.ids[42];
    let (status, v) = get(&app, &format!("/api/products/{id}/similar?k=12")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let ids = hit_ids(&v);
    assert_eq!(ids.len(), 12);
    assert!(!ids.contains(id), "the product itself is not a hit");
    let scores: Vec<f64> = v["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| h["score"].as_f64().expect("score"))
        .collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    // A hit is itself a product with its own similar products.
    let (status, next) = get(&app, &format!("/api/products/{}/similar", ids[0])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hit_ids(&next).len(), 10);
    // Filters.
    let (status, v) = get(
        &app,
        &format!("/api/products/{id}/similar?k=50&filter=gender=Men"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(v["hits"]
        .as_array()
        .expect("hits")
        .iter()
        .all(|h| h["labels"]["gender"] == "Men"));
    // A filter nothing passes: an empty result, not an error.
    let (status, v) = get(
        &app,
        &format!("/api/products/{id}/similar?filter=year%3E3000"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(hit_ids(&v).len(), 0);
}

#[tokio::test]
async fn browse_products_facets_and_health() {
    let Some(f) = fixture() else { return };
    let app = app(f);
    let (status, v) = get(&app, "/api/products").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["total"], N);
    assert_eq!(v["products"].as_array().expect("products").len(), 24);
    let (_, facets) = get(&app, "/api/facets").await;
    assert_eq!(facets["products"], N);
    let genders = facets["facets"]["gender"]
        .as_object()
        .expect("gender facet");
    let women = genders["Women"].as_u64().expect("count");
    assert!(facets["facets"].get("productDisplayName").is_none());
    let (_, page) = get(
        &app,
        "/api/products?filter=gender%3DWomen&limit=200&offset=0",
    )
    .await;
    assert_eq!(page["total"].as_u64(), Some(women));
    assert!(page["products"]
        .as_array()
        .expect("products")
        .iter()
        .all(|p| p["labels"]["gender"] == "Women"));
    // Paging is consistent.
    let (_, p1) = get(&app, "/api/products?limit=10&offset=10").await;
    let (_, all) = get(&app, "/api/products?limit=20").await;
    assert_eq!(p1["products"][0], all["products"][10]);
    // Name filter.
    let (_, named) = get(&app, "/api/products?q=SHIRT&limit=200").await;
    assert!(named["total"].as_u64().expect("total") > 0);
    assert!(named["products"]
        .as_array()
        .expect("products")
        .iter()
        .all(|p| p["labels"]["productDisplayName"]
            .as_str()
            .expect("name")
            .to_lowercase()
            .contains("shirt")));
    // One product.
    let (status, p) = get(&app, &format!("/api/products/{}", f.ids[5])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(p["id"], f.ids[5].as_str());
    assert!(p["labels"]["baseColour"].is_string());
    let (status, h) = get(&app, "/api/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (h["status"].as_str(), h["products"].as_u64()),
        (Some("ok"), Some(N as u64))
    );
    let backend = h["backend"]["name"].as_str();
    assert!(
        matches!(backend, Some("tract" | "onnxruntime")),
        "health names the CNN backend: {h}"
    );
}

#[tokio::test]
async fn images_are_served_by_id_with_caching() {
    let Some(f) = fixture() else { return };
    let app = app(f);
    let id = &f.ids[3];
    let req = Request::get(format!("/images/{id}"))
        .body(Body::empty())
        .expect("req");
    let (status, headers, body) = call(&app, req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/jpeg");
    assert!(headers[header::CACHE_CONTROL]
        .to_str()
        .expect("cc")
        .contains("max-age"));
    assert_eq!(body.as_ref(), image_of(f, id).as_slice());
    let etag = headers[header::ETAG].clone();
    let req = Request::get(format!("/images/{id}"))
        .header(header::IF_NONE_MATCH, etag)
        .body(Body::empty())
        .expect("req");
    let (status, _, body) = call(&app, req).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
}

#[tokio::test]
async fn nothing_from_the_path_reaches_the_file_system() {
    let Some(f) = fixture() else { return };
    let app = app(f);
    for uri in [
        "/images/..%2F..%2Fetc%2Fpasswd",
        "/images/../../etc/passwd",
        "/images/%2e%2e%2fstyles.csv",
        "/images/..%5C..%5Cstyles.csv",
        "/images/%2Fetc%2Fpasswd",
        "/images/styles.csv",
        "/images/images%2F10000.jpg",
        "/assets/..%2F..%2Fetc%2Fpasswd",
        "/api/products/..%2F..%2Fetc%2Fpasswd",
        "/api/products/..%2Fstyles.csv/similar",
    ] {
        let req = Request::get(uri).body(Body::empty()).expect("req");
        let (status, _, body) = call(&app, req).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        let v: Value = serde_json::from_slice(&body).expect("JSON error");
        assert!(!error_message(&v).is_empty());
        assert!(!String::from_utf8_lossy(&body).contains("root:"), "{uri}");
    }
    // Invalid UTF-8 in the id is a 400, not a panic.
    let req = Request::get("/api/products/%FF%FE")
        .body(Body::empty())
        .expect("req");
    assert_eq!(call(&app, req).await.0, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn every_error_has_its_status_and_a_json_message() {
    let Some(f) = fixture() else { return };
    let app = app_with(f, |o| o.max_upload_bytes = 100_000);
    let id = &f.ids[0];
    let jpeg = image_of(f, id);
    let cases: Vec<(&str, StatusCode, &str)> = vec![
        (
            "/api/products/nope",
            StatusCode::NOT_FOUND,
            "unknown product id `nope`",
        ),
        (
            "/api/products/nope/similar",
            StatusCode::NOT_FOUND,
            "unknown product id",
        ),
        ("/images/nope", StatusCode::NOT_FOUND, "unknown product id"),
        ("/api/nothing-here", StatusCode::NOT_FOUND, "no such route"),
        (
            "/api/products?filter=colour%3DRed",
            StatusCode::BAD_REQUEST,
            "bad filter",
        ),
        (
            "/api/products?filter=gender",
            StatusCode::BAD_REQUEST,
            "bad filter",
        ),
        ("/api/products?limit=0", StatusCode::BAD_REQUEST, "`limit`"),
        (
            "/api/products?page=2",
            StatusCode::BAD_REQUEST,
            "unknown parameter `page`",
        ),
    ];
    let similar = format!("/api/products/{id}/similar");
    let mut cases = cases;
    let k0 = format!("{similar}?k=0");
    let kx = format!("{similar}?k=abc");
    let m = format!("{similar}?metric=hamming");
    let fl = format!("{similar}?filter=year%3Eabc");
    cases.push((&k0, StatusCode::BAD_REQUEST, "`k` must be in 1..=1000"));
    cases.push((&kx, StatusCode::BAD_REQUEST, "`k` must be a number"));
    cases.push((&m, StatusCode::BAD_REQUEST, "unknown metric"));
    cases.push((&fl, StatusCode::BAD_REQUEST, "bad filter"));
    for (uri, status, needle) in cases {
        let (s, v) = get(&app, uri).await;
        assert_eq!(s, status, "{uri}: {v}");
        assert_eq!(v["error"]["status"], status.as_u16(), "{uri}");
        assert!(error_message(&v).contains(needle), "{uri}: {v}");
    }

    let uploads: Vec<(&str, &str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "/api/search",
            "text/plain",
            b"hello, not an image".to_vec(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not a supported image",
        ),
        (
            "/api/search",
            "image/jpeg",
            jpeg[..jpeg.len() / 2].to_vec(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "cannot decode",
        ),
        (
            "/api/search",
            "image/jpeg",
            Vec::new(),
            StatusCode::BAD_REQUEST,
            "empty upload",
        ),
        (
            "/api/search",
            "image/jpeg",
            vec![0xFF; 150_000],
            StatusCode::PAYLOAD_TOO_LARGE,
            "over the limit of 100000 bytes",
        ),
        (
            "/api/search",
            "image/png",
            lookalike::imaging::test_support::bomb_png(50_000, 50_000),
            StatusCode::PAYLOAD_TOO_LARGE,
            "over the limit",
        ),
        (
            "/api/search?k=2000",
            "image/jpeg",
            jpeg.clone(),
            StatusCode::BAD_REQUEST,
            "`k`",
        ),
        (
            "/api/search?filter=nofield%3Dx",
            "image/jpeg",
            jpeg.clone(),
            StatusCode::BAD_REQUEST,
            "bad filter",
        ),
    ];
    for (uri, ct, body, status, needle) in uploads {
        let (s, v) = post(&app, uri, ct, body).await;
        assert_eq!(s, status, "{uri} {ct}: {v}");
        assert!(error_message(&v).contains(needle), "{uri}: {v}");
    }
    // Multipart: too large, and without the `image` field.
    let (ct, body) = multipart("image", &vec![0xFF; 150_000]);
    let (s, v) = post(&app, "/api/search", &ct, body).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let (ct, body) = multipart("photo", &jpeg);
    let (s, v) = post(&app, "/api/search", &ct, body).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    assert!(error_message(&v).contains("`image` field"));
    // Wrong method.
    let req = Request::get("/api/search")
        .body(Body::empty())
        .expect("req");
    assert_eq!(call(&app, req).await.0, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn slow_requests_time_out_and_uploads_queue_for_embedding() {
    let Some(f) = fixture() else { return };
    let jpeg = image_of(f, &f.ids[1]);
    let slow = app_with(f, |o| o.request_timeout = Duration::from_micros(1));
    let req = Request::post("/api/search")
        .body(Body::from(jpeg.clone()))
        .expect("req");
    assert_eq!(call(&slow, req).await.0, StatusCode::REQUEST_TIMEOUT);

    // One embedding at a time: eight concurrent uploads all succeed.
    let one = app_with(f, |o| o.max_concurrent_embeddings = 1);
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let app = one.clone();
            let body = jpeg.clone();
            tokio::spawn(async move { post(&app, "/api/search?k=1", "image/jpeg", body).await })
        })
        .collect();
    for t in tasks {
        let (status, v) = t.await.expect("task");
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(hit_ids(&v), vec![f.ids[1].clone()]);
    }
}

#[tokio::test]
async fn the_page_and_the_openapi_document_are_served() {
    let Some(f) = fixture() else { return };
    let app = app(f);
    for (uri, ct) in [
        ("/", "text/html; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/app.css", "text/css; charset=utf-8"),
    ] {
        let req = Request::get(uri).body(Body::empty()).expect("req");
        let (status, headers, body) = call(&app, req).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert_eq!(headers[header::CONTENT_TYPE], ct, "{uri}");
        assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
        assert!(!body.is_empty());
        // No CDN: nothing is loaded from another host.
        let text = String::from_utf8_lossy(&body);
        assert!(
            !text.contains("http://") && !text.contains("https://"),
            "{uri}"
        );
    }
    let (status, doc) = get(&app, "/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/api/search",
        "/api/products",
        "/api/products/{id}",
        "/api/products/{id}/similar",
        "/api/facets",
        "/api/health",
        "/api/openapi.json",
        "/images/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} undocumented");
    }
    // Every $ref resolves.
    let text = doc.to_string();
    for r in text.split("\"$ref\":\"").skip(1) {
        let target = &r[..r.find('"').expect("end")];
        let mut node = &doc;
        for part in target.trim_start_matches("#/").split('/') {
            node = &node[part];
        }
        assert!(!node.is_null(), "dangling $ref {target}");
    }
}

/// `lookalike index` commits a new generation while the server holds the
/// old one: in-flight work finishes on the old snapshot, the next request
/// sees the new one.
#[tokio::test]
async fn a_new_index_generation_is_picked_up_without_failing_requests() {
    let Some(shared) = common::shared_small() else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let (catalog, index, _) = common::indexed_subset(&shared, dir.path(), 40, &[]);
    let (cat, idx) = (
        catalog.to_str().expect("utf8"),
        index.to_str().expect("utf8"),
    );
    let state = Arc::new(AppState::open(ServeOptions::new(&index)).expect("open"));
    let app = router(state.clone());
    let (_, before) = get(&app, "/api/health").await;
    assert_eq!(before["products"], 40);
    assert_eq!(
        state.reload(false).expect("reload"),
        None,
        "nothing changed"
    );

    let held = state.snapshot(); // an in-flight request's view
    let ids = common::kaggle_subset(&shared, &catalog, 60);
    common::ok(&["index", cat, "--index", idx]);
    let generation = state
        .reload(false)
        .expect("reload")
        .expect("a new generation");
    assert!(generation > before["generation"].as_u64().expect("gen"));
    let (_, after) = get(&app, "/api/health").await;
    assert_eq!(after["products"], 60);
    let (status, _) = get(&app, &format!("/api/products/{}/similar", ids[59])).await;
    assert_eq!(status, StatusCode::OK);
    // The old snapshot still answers although its files were replaced.
    let old = held
        .target()
        .search(
            &lookalike::search::Query::Product(&ids[0]),
            &Default::default(),
        )
        .expect("old snapshot still searchable");
    assert_eq!(old.hits.len(), 10);
    // A broken manifest keeps the current index.
    std::fs::write(index.join("manifest.json"), b"{ broken").expect("write");
    assert!(state.reload(true).is_err());
    let (status, still) = get(&app, "/api/health").await;
    assert_eq!(
        (status, still["products"].as_u64()),
        (StatusCode::OK, Some(60))
    );
}

#[tokio::test]
async fn shopper_photos_are_located_and_a_crop_is_searched_as_given() {
    let Some(f) = fixture() else { return };
    let Some(photos) = common::shared_shopper_photos() else {
        return;
    };
    let app = app(f);
    for kind in ["dress", "shoes", "pants"] {
        let path = common::first_shopper_photo(&photos, kind);
        let bytes = std::fs::read(&path).expect("photo");
        let size = image::load_from_memory(&bytes).expect("decode");
        let (w, h) = (size.width(), size.height());
        // Without a crop: the located product, a region inside the photo.
        let (status, v) = post(&app, "/api/search?k=5", "image/jpeg", bytes.clone()).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {v}");
        assert_eq!(hit_ids(&v).len(), 5, "{kind}");
        let q = &v["query"];
        assert_eq!(q["scene"], "photo", "{kind}: {q}");
        assert_eq!(
            (q["image"]["width"].as_u64(), q["image"]["height"].as_u64()),
            (Some(w.into()), Some(h.into()))
        );
        let r = &q["region"];
        let (x, y, rw, rh) = (
            r["x"].as_u64().unwrap(),
            r["y"].as_u64().unwrap(),
            r["width"].as_u64().unwrap(),
            r["height"].as_u64().unwrap(),
        );
        assert!(
            rw > 0 && rh > 0 && x + rw <= w.into() && y + rh <= h.into(),
            "{kind}: {r}"
        );
        // With a crop: exactly that region, and other results than the
        // located product's when the region is another part of the photo.
        let crop = format!("0,0,{},{}", w / 3, h / 3);
        let (status, c) = post(
            &app,
            &format!("/api/search?k=5&crop={crop}"),
            "image/jpeg",
            bytes.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{kind}: {c}");
        let r = &c["query"]["region"];
        assert_eq!(
            format!("{},{},{},{}", r["x"], r["y"], r["width"], r["height"]),
            crop
        );
        assert_ne!(
            hit_ids(&c),
            hit_ids(&v),
            "{kind}: a corner of the photo is another query"
        );
        // Out of range and empty crops are 400s that say why.
        for (bad, needle) in [
            (format!("0,0,{},{h}", w + 1), "outside"),
            (format!("{w},0,1,1"), "outside"),
            ("5,5,0,10".to_string(), "empty"),
            ("5,5,10".to_string(), "four integers"),
        ] {
            let (status, e) = post(
                &app,
                &format!("/api/search?crop={bad}"),
                "image/jpeg",
                bytes.clone(),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {e}");
            assert!(error_message(&e).contains(needle), "{bad}: {e}");
        }
    }
    // A catalogue packshot is searched whole, as before.
    let (status, v) = post(
        &app,
        "/api/search?k=3",
        "image/jpeg",
        image_of(f, &f.ids[5]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["query"]["scene"], "packshot");
    assert_eq!(hit_ids(&v)[0], f.ids[5]);
}
