//! A real browser against `lookalike serve`: headless Chromium driven over
//! WebDriver (chromedriver) on loopback. Upload a real catalogue image and
//! see its product first, click a result and see its similar products, apply
//! a filter and see only matching products, upload a broken file and see the
//! message. Screenshots go to `target/tmp/browser-*.png`.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them);
//! without them the test says so and skips.
#![cfg(feature = "server")]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// Kills a child process when dropped, so a failing test leaves nothing behind.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> Option<(PathBuf, PathBuf)> {
    let driver = std::env::var_os("LOOKALIKE_CHROMEDRIVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromedriver"));
    let browser = std::env::var_os("LOOKALIKE_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if driver.is_file() && browser.is_file() {
        Some((driver, browser))
    } else {
        eprintln!(
            "SKIPPED: the browser test needs {} and {} (apt-get install chromium chromium-driver)",
            browser.display(),
            driver.display()
        );
        None
    }
}

/// Starts `lookalike serve` on a free port; returns it and its address.
fn start_server(index: &Path) -> (Killed, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lookalike"))
        .args(["serve", "--addr", "127.0.0.1:0", "--index"])
        .arg(index)
        .env("RUST_LOG", "lookalike=info,warn")
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lookalike serve");
    let stderr = child.stderr.take().expect("stderr");
    let child = Killed(child);
    let mut lines = BufReader::new(stderr).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("serve exited before it listened")
            .expect("read stderr");
        eprintln!("serve: {line}");
        if let Some(rest) = line.split("on http://").nth(1) {
            break rest.split_whitespace().next().expect("address").to_string();
        }
    };
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn connect(driver_port: u16, browser: &Path) -> Client {
    let caps = json!({
        "goog:chromeOptions": {
            "binary": browser,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--disable-quic",
                "--window-size=1280,1000"
            ]
        }
    });
    let caps = caps.as_object().expect("object").clone();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(caps.clone());
        match builder
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
        {
            Ok(c) => return c,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for chromedriver: {e}");
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!("cannot start a WebDriver session: {e}"),
        }
    }
}

/// Polls a JavaScript expression until it is true (30 s at most).
async fn wait_until(c: &Client, what: &str, js: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let v = c
            .execute(&format!("return !!({js});"), vec![])
            .await
            .expect("execute");
        if v.as_bool() == Some(true) {
            return;
        }
        if Instant::now() > deadline {
            let status = c
                .execute("return document.getElementById('status').textContent + ' | ' + document.getElementById('message').textContent;", vec![])
                .await
                .unwrap_or_default();
            panic!("timed out waiting for {what} (status: {status})");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The product ids of the result cards, in order.
async fn card_ids(c: &Client) -> Vec<String> {
    let v = c
        .execute(
            "return Array.from(document.querySelectorAll('#grid .card a'))
                .map(a => decodeURIComponent(a.getAttribute('href').slice('#/product/'.length)));",
            vec![],
        )
        .await
        .expect("execute");
    serde_json::from_value(v).expect("ids")
}

async fn card_metas(c: &Client) -> Vec<String> {
    let v = c
        .execute(
            "return Array.from(document.querySelectorAll('#grid .card .meta')).map(m => m.textContent);",
            vec![],
        )
        .await
        .expect("execute");
    serde_json::from_value(v).expect("metas")
}

/// The text of an element.
async fn text_of(c: &Client, what: Locator<'_>) -> String {
    c.find(what)
        .await
        .unwrap_or_else(|e| panic!("no element {what:?}: {e}"))
        .text()
        .await
        .unwrap_or_else(|e| panic!("no text in {what:?}: {e}"))
}

/// Finds and clicks an element.
async fn click(c: &Client, what: Locator<'_>) {
    c.find(what)
        .await
        .unwrap_or_else(|e| panic!("no element {what:?}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("cannot click {what:?}: {e}"));
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("browser-{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

/// The crop box's region as the page holds it, `x,y,w,h`.
async fn crop_of(c: &Client) -> String {
    let v = c
        .execute(
            "const c = state.crop; return c ? `${c.x},${c.y},${c.width},${c.height}` : '';",
            vec![],
        )
        .await
        .expect("execute");
    v.as_str().unwrap_or_default().to_string()
}

/// Presses the mouse on the middle of `element`, moves it by `by` pixels
/// right and down (negative: left and up) and releases it.
async fn drag(c: &Client, element: fantoccini::elements::Element, by: f64) {
    use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
    let moves = MouseActions::new("mouse".to_string())
        .then(PointerAction::MoveToElement {
            element,
            duration: None,
            x: 0.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveBy {
            duration: Some(Duration::from_millis(200)),
            x: by,
            y: by,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(moves).await.expect("drag");
}

async fn drag_the_product_box(c: &Client, base: &str, photo: &Path) {
    c.goto(base).await.expect("home");
    let photo = std::fs::canonicalize(photo).expect("photo path");
    c.find(Locator::Id("file"))
        .await
        .expect("file input")
        .send_keys(photo.to_str().expect("utf-8"))
        .await
        .expect("choose the photo");
    wait_until(
        c,
        "the photo's results with the product box",
        "location.hash == '#/search' && /results? in/.test(document.getElementById('status').textContent) && !document.getElementById('crop-box').hidden",
    )
    .await;
    let before_ids = card_ids(c).await;
    let before = crop_of(c).await;
    assert!(!before.is_empty(), "the page knows the located region");
    screenshot(c, "photo-box").await;
    // Shrink the box from its corner handle, then move it up and left.
    let handle = c
        .find(Locator::Css("#crop-box .crop-handle"))
        .await
        .expect("handle");
    drag(c, handle, -60.0).await;
    let boxed = c.find(Locator::Id("crop-box")).await.expect("box");
    drag(c, boxed, -80.0).await;
    let after = crop_of(c).await;
    assert_ne!(after, before, "the drag moved the box");
    let xywh = |s: &str| -> Vec<u32> { s.split(',').map(|v| v.parse().expect("number")).collect() };
    let (b, a) = (xywh(&before), xywh(&after));
    assert!(
        a[2] < b[2] && a[3] < b[3],
        "the corner handle shrank the box: {before} -> {after}"
    );
    assert!(
        a[0] <= b[0] && a[1] <= b[1],
        "the box moved up and left: {before} -> {after}"
    );
    wait_until(
        c,
        "results for the dragged box",
        &format!(
            "/results? in/.test(document.getElementById('status').textContent) && Array.from(document.querySelectorAll('#grid .card a')).map(a => a.getAttribute('href')).join() != {:?}",
            before_ids.iter().map(|id| format!("#/product/{id}")).collect::<Vec<_>>().join(",")
        ),
    )
    .await;
    assert_eq!(
        crop_of(c).await,
        after,
        "the server searched the region asked for"
    );
    screenshot(c, "photo-box-dragged").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shopper_searches_by_photo_walks_results_and_filters() {
    let Some((driver, browser)) = chromedriver() else {
        return;
    };
    let Some(shared) = common::shared_small() else {
        return;
    };
    let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let (catalog, index, ids) = common::indexed_subset(&shared, &root, 300, &[]);
    let (_server, addr) = start_server(&index);
    let driver_port = free_port();
    let _driver = Killed(
        Command::new(&driver)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let c = connect(driver_port, &browser).await;
    let base = format!("http://{addr}/");

    // The catalogue grid.
    c.goto(&base).await.expect("open page");
    wait_until(
        &c,
        "the catalogue grid",
        "document.querySelectorAll('#grid .card').length == 24",
    )
    .await;
    let status = text_of(&c, Locator::Id("status")).await;
    assert!(status.contains("of 300 products"), "{status}");

    // Search by photo: its own product comes first.
    let query = &ids[17];
    let image = std::fs::canonicalize(catalog.join("images").join(format!("{query}.jpg")))
        .expect("image path");
    let input = c.find(Locator::Id("file")).await.expect("file input");
    input
        .send_keys(image.to_str().expect("utf-8"))
        .await
        .expect("choose file");
    wait_until(&c, "photo results", "location.hash == '#/search' && /results? in/.test(document.getElementById('status').textContent)").await;
    let found = card_ids(&c).await;
    assert_eq!(found.first(), Some(query), "{found:?}");
    assert_eq!(found.len(), 20, "the default page size of results");
    let preview = c.find(Locator::Id("preview")).await.expect("preview");
    assert!(preview.is_displayed().await.expect("displayed"));
    screenshot(&c, "results").await;

    // The shipped head recognises the photo; one click filters by it.
    wait_until(
        &c,
        "the recognition line",
        "!document.getElementById('recognised').hidden && /^Looks like: .+, \\d+%/.test(document.getElementById('recognised').textContent)",
    )
    .await;
    click(&c, Locator::Css("#recognised button")).await;
    wait_until(
        &c,
        "results of the recognised type",
        "document.getElementById('filter-articleType').value != '' && document.querySelectorAll('#grid .card .meta').length > 0 && Array.from(document.querySelectorAll('#grid .card .meta')).every(m => m.textContent.startsWith(document.getElementById('filter-articleType').value + ' · '))",
    )
    .await;
    let recognised = text_of(&c, Locator::Id("recognised")).await;
    eprintln!("recognised: {recognised}");
    click(&c, Locator::Id("clear")).await;
    wait_until(
        &c,
        "unfiltered photo results",
        "location.hash == '#/search' && document.getElementById('status').textContent.startsWith('20 results')",
    )
    .await;
    let found = card_ids(&c).await;
    assert_eq!(found.first(), Some(query), "{found:?}");

    // Click a result: its page, with its own similar products.
    let second = found[1].clone();
    click(&c, Locator::Css("#grid .card:nth-child(2) a")).await;
    wait_until(
        &c,
        "the product page",
        &format!(
            "location.hash == '#/product/{}' && !document.getElementById('product').hidden && /results? in/.test(document.getElementById('status').textContent)",
            second
        ),
    )
    .await;
    let more = card_ids(&c).await;
    assert_eq!(more.len(), 20);
    assert!(
        !more.contains(&second),
        "a product is not similar to itself"
    );
    let heading = text_of(&c, Locator::Css("#product h1")).await;
    assert!(!heading.is_empty());
    screenshot(&c, "product").await;

    // Keep walking: a result of the product page is clickable too.
    click(&c, Locator::Css("#grid .card:first-child a")).await;
    wait_until(
        &c,
        "the next product page",
        &format!("location.hash == '#/product/{}'", more[0]),
    )
    .await;

    // Apply a filter: only matching products.
    c.find(Locator::Id("filter-gender"))
        .await
        .expect("gender filter")
        .select_by_value("Women")
        .await
        .expect("select");
    wait_until(
        &c,
        "filtered similar products",
        "Array.from(document.querySelectorAll('#grid .card .meta')).length > 0 && Array.from(document.querySelectorAll('#grid .card .meta')).every(m => m.textContent.endsWith('Women'))",
    )
    .await;
    let metas = card_metas(&c).await;
    assert!(metas.iter().all(|m| m.ends_with("Women")), "{metas:?}");
    // The filter holds for browsing too.
    c.goto(&base).await.expect("home");
    wait_until(
        &c,
        "the filtered catalogue",
        "/of \\d+ products/.test(document.getElementById('status').textContent)",
    )
    .await;
    // Page state is fresh after goto: pick the filter again.
    c.find(Locator::Id("filter-gender"))
        .await
        .expect("gender filter")
        .select_by_value("Women")
        .await
        .expect("select");
    wait_until(
        &c,
        "the filtered catalogue grid",
        "document.querySelectorAll('#grid .card .meta').length > 0 && Array.from(document.querySelectorAll('#grid .card .meta')).every(m => m.textContent.endsWith('Women'))",
    )
    .await;
    screenshot(&c, "filtered").await;

    // Drag-and-drop and paste take the same path as the file picker: a
    // catalogue image dropped (then pasted) on the page finds its product.
    for (how, event) in [
        (
            "drop",
            "new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true })",
        ),
        (
            "paste",
            "new ClipboardEvent('paste', { clipboardData: dt, bubbles: true, cancelable: true })",
        ),
    ] {
        let id = if how == "drop" { &ids[40] } else { &ids[41] };
        c.goto(&base).await.expect("home");
        c.execute(
            &format!(
                "fetch('/images/{id}').then(r => r.blob()).then(b => {{
                   const dt = new DataTransfer();
                   dt.items.add(new File([b], 'query.jpg', {{ type: 'image/jpeg' }}));
                   const target = '{how}' === 'drop' ? document.getElementById('drop') : document;
                   target.dispatchEvent({event});
                 }});"
            ),
            vec![],
        )
        .await
        .expect("dispatch");
        wait_until(
            &c,
            &format!("results of a {how}"),
            &format!(
                "location.hash == '#/search' && /results? in/.test(document.getElementById('status').textContent) && document.querySelector('#grid .card a') && document.querySelector('#grid .card a').getAttribute('href') == '#/product/{id}'"
            ),
        )
        .await;
    }

    // A broken upload gets a clear message.
    let bad = root.join("not-an-image.jpg");
    std::fs::write(&bad, b"this is text, not a photo").expect("write");
    c.find(Locator::Id("file"))
        .await
        .expect("file input")
        .send_keys(bad.to_str().expect("utf-8"))
        .await
        .expect("choose file");
    wait_until(
        &c,
        "the error message",
        "!document.getElementById('message').hidden && /not a supported image/.test(document.getElementById('message').textContent)",
    )
    .await;
    screenshot(&c, "error").await;

    // A shopper's photo: the located product is boxed; dragging the box
    // searches with the region where it is left.
    if let Some(photos) = common::shared_shopper_photos() {
        drag_the_product_box(&c, &base, &common::first_shopper_photo(&photos, "shoes")).await;
    }

    // A phone-sized screen: one column, nothing wider than the screen.
    c.set_window_size(390, 844).await.expect("resize");
    c.goto(&format!("{base}#/product/{}", ids[3]))
        .await
        .expect("product page");
    c.refresh().await.expect("reload at phone size");
    wait_until(
        &c,
        "the product page on a phone",
        "/results? in/.test(document.getElementById('status').textContent)",
    )
    .await;
    wait_until(
        &c,
        "a layout that fits the phone",
        "document.documentElement.scrollWidth <= window.innerWidth",
    )
    .await;
    let folded = c
        .execute("return document.getElementById('filter-box').open;", vec![])
        .await
        .expect("execute");
    assert_eq!(folded, json!(false), "the menus start folded on a phone");
    screenshot(&c, "phone").await;
    c.close().await.expect("close session");
}
