//! Qdrant's REST API over plain HTTP: each request goes to the node that
//! answered last, and to the next ones in turn when a node cannot be
//! reached or fails (5xx); a node's own refusal (4xx) is final, as every
//! node would give it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;

use crate::error::{Error, Result};

/// Longest a node may take to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Points per page when a collection is read whole.
const SCROLL_PAGE: usize = 2000;
/// Longest one request may take on one node (an upsert batch with `wait`
/// included); past it the next node is tried.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// The same for searches ([`QdrantNodes::for_search`]): a node that
/// accepts a connection and then hangs costs a search this long before the
/// next node answers it.
pub const SEARCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The nodes of one Qdrant cluster (or one server).
pub struct QdrantNodes {
    urls: Vec<String>,
    agent: ureq::Agent,
    /// The node to try first: the last one that answered.
    preferred: AtomicUsize,
}

impl std::fmt::Debug for QdrantNodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QdrantNodes")
            .field("urls", &self.urls)
            .finish()
    }
}

/// How one request went on one node.
enum Attempt {
    /// A 2xx answer's `result`.
    Done(Value),
    /// Final: the node refused the request (4xx).
    Refused(Error),
    /// Try the next node.
    Failed(String),
}

impl QdrantNodes {
    /// The nodes of `list`, comma-separated `http://host:port` URLs (the
    /// REST port, 6333 by default).
    pub fn new(list: &str) -> Result<QdrantNodes> {
        QdrantNodes::with_timeout(list, REQUEST_TIMEOUT)
    }

    /// [`QdrantNodes::new`] with the shorter [`SEARCH_TIMEOUT`] per request:
    /// what `search`, `eval` and `serve` use.
    pub fn for_search(list: &str) -> Result<QdrantNodes> {
        QdrantNodes::with_timeout(list, SEARCH_TIMEOUT)
    }

    /// [`QdrantNodes::new`] with `timeout` per request on one node.
    pub fn with_timeout(list: &str, timeout: Duration) -> Result<QdrantNodes> {
        let urls: Vec<String> = list
            .split(',')
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect();
        if urls.is_empty() {
            return Err(Error::InvalidArgument(
                "--qdrant needs at least one URL, e.g. http://127.0.0.1:6333".into(),
            ));
        }
        for u in &urls {
            let Some(rest) = u.strip_prefix("http://") else {
                return Err(Error::InvalidArgument(format!(
                    "Qdrant URL `{u}`: expected http://HOST:PORT (this build speaks plain HTTP; \
                     put a TLS proxy in front of a remote cluster)"
                )));
            };
            if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
                return Err(Error::InvalidArgument(format!(
                    "Qdrant URL `{u}`: expected http://HOST:PORT with no path"
                )));
            }
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Ok(QdrantNodes {
            urls,
            agent,
            preferred: AtomicUsize::new(0),
        })
    }

    /// The node URLs, as given.
    pub fn urls(&self) -> &[String] {
        &self.urls
    }

    /// Sends `method path` with the JSON `body` to the nodes in turn and
    /// returns the answer's `result`. `Ok(None)`: the node said 404.
    pub(crate) fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>> {
        let n = self.urls.len();
        let first = self.preferred.load(Ordering::Relaxed) % n;
        let mut failures = Vec::new();
        for i in (0..n).map(|i| (first + i) % n) {
            let url = &self.urls[i];
            match self.attempt(url, method, path, body) {
                Ok(Attempt::Done(v)) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(Some(v));
                }
                Ok(Attempt::Refused(e)) => return Err(e),
                Ok(Attempt::Failed(why)) => {
                    tracing::warn!("Qdrant node {url}: {why}; trying the next node");
                    failures.push(format!("{url}: {why}"));
                }
                Err(NotFound) => {
                    self.preferred.store(i, Ordering::Relaxed);
                    return Ok(None);
                }
            }
        }
        Err(Error::QdrantUnreachable(failures.join("; ")))
    }

    /// Every point of the collection at `collection` (`/collections/NAME`),
    /// page by page with `with_payload`, each handed to `each`. A page
    /// that repeats its offset, or is empty with more to come, ends the
    /// walk: a broken server cannot keep it going for ever.
    pub(crate) fn scroll(
        &self,
        collection: &str,
        with_payload: &[&str],
        mut each: impl FnMut(&Value) -> Result<()>,
    ) -> Result<()> {
        let broken = |reason: String| Error::Qdrant {
            node: self.urls.join(","),
            reason,
        };
        let mut offset = Value::Null;
        loop {
            let page = self
                .request(
                    "POST",
                    &format!("{collection}/points/scroll"),
                    Some(&serde_json::json!({
                        "limit": SCROLL_PAGE,
                        "offset": offset,
                        "with_payload": with_payload,
                        "with_vector": false,
                    })),
                )?
                .ok_or_else(|| broken(format!("{collection} vanished while it was read")))?;
            let points = page["points"].as_array().ok_or_else(|| {
                broken(format!(
                    "{collection}/points/scroll answered without `points`"
                ))
            })?;
            for p in points {
                each(p)?;
            }
            let next = page["next_page_offset"].clone();
            if next.is_null() || points.is_empty() || next == offset {
                return Ok(());
            }
            offset = next;
        }
    }

    fn attempt(
        &self,
        url: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> std::result::Result<Attempt, NotFound> {
        let full = format!("{url}{path}");
        let sent = match (method, body) {
            ("GET", _) => self.agent.get(&full).call(),
            ("DELETE", _) => self.agent.delete(&full).call(),
            ("PUT", Some(b)) => self.agent.put(&full).send_json(b),
            ("POST", Some(b)) => self.agent.post(&full).send_json(b),
            ("PATCH", Some(b)) => self.agent.patch(&full).send_json(b),
            (m, b) => {
                return Ok(Attempt::Refused(Error::InvalidArgument(format!(
                    "internal: {m} {path} with body {}",
                    b.is_some()
                ))))
            }
        };
        let mut response = match sent {
            Ok(r) => r,
            Err(e) => return Ok(Attempt::Failed(describe(&e))),
        };
        let status = response.status().as_u16();
        let text = match response.body_mut().read_to_string() {
            Ok(t) => t,
            Err(e) => {
                return Ok(Attempt::Failed(format!(
                    "reading the answer: {}",
                    describe(&e)
                )))
            }
        };
        let json: Option<Value> = serde_json::from_str(&text).ok();
        // Qdrant's errors read `{"status": {"error": "..."}}`.
        let reason = || {
            json.as_ref()
                .and_then(|j| j["status"]["error"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.chars().take(300).collect())
        };
        match status {
            200..=299 => match json {
                Some(mut j) => Ok(Attempt::Done(j["result"].take())),
                None => Ok(Attempt::Failed(format!(
                    "answered {status} with no JSON ({} bytes)",
                    text.len()
                ))),
            },
            404 => Err(NotFound),
            400..=499 => Ok(Attempt::Refused(Error::Qdrant {
                node: url.to_string(),
                reason: format!("{method} {path}: {status}: {}", reason()),
            })),
            _ => Ok(Attempt::Failed(format!(
                "{method} {path}: {status}: {}",
                reason()
            ))),
        }
    }
}

/// A node's 404: the collection (or point) does not exist.
struct NotFound;

/// A transport error in words (connection refused, timed out, ...).
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        ureq::Error::Io(io) => io.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_before_any_request() {
        assert!(QdrantNodes::new("").is_err());
        assert!(QdrantNodes::new(" , ").is_err());
        let e = QdrantNodes::new("https://q.example:6333").expect_err("https");
        assert!(e.to_string().contains("plain HTTP"), "{e}");
        assert!(QdrantNodes::new("http://h:6333/collections").is_err());
        let nodes = QdrantNodes::new("http://a:1, http://b:2/").expect("two nodes");
        assert_eq!(nodes.urls(), ["http://a:1", "http://b:2"]);
    }

    #[test]
    fn an_unreachable_cluster_is_a_quick_clear_error() {
        // Two closed loopback ports: refused at once, each node named.
        let free = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .expect("bind")
                .local_addr()
                .expect("addr")
                .port()
        };
        let (a, b) = (free(), free());
        let nodes =
            QdrantNodes::new(&format!("http://127.0.0.1:{a},http://127.0.0.1:{b}")).expect("nodes");
        let t = std::time::Instant::now();
        let e = nodes
            .request("GET", "/collections", None)
            .expect_err("nothing listens");
        assert!(t.elapsed() < Duration::from_secs(10));
        let text = e.to_string();
        assert!(
            text.contains(&format!("127.0.0.1:{a}")) && text.contains(&format!("127.0.0.1:{b}")),
            "{text}"
        );
    }
}
