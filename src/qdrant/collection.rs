//! The shape of a lookalike collection in Qdrant, and the record of the
//! index that fills it.
//!
//! One vector per product: its search row `[shape | colour]` (both parts
//! unit length) under the `Dot` distance, so a query
//! `[(1 - w) shape, w colour]` scores every point by the weighted cosine
//! the local scan ranks by, at any colour weight, in one request (named
//! shape and colour vectors would need two searches and a fusion).
//!
//! The payload of a point: `product_id`, the image's content `hash`, `row`
//! (a digest of the whole point: it changes with the image, the labels and
//! the head), `image`,
//! `labels` (as the catalogue spells them, shown with hits), `kw` (each
//! label in lower case, under its lower-case field name: what filters
//! match, so that they are as case-insensitive as the CLI's) and `year` as
//! an integer, `facet` (each label as spelt, under the same keys: what the
//! web page's filter menus count), `num` (each label that reads as a number, for numeric
//! filters), and with a head `classes` (the product's class in each head
//! task, and whether it is the catalogue's label or the head's guess: what
//! the label term and the catalogue's vote read) and `kind_class`. Keyword,
//! integer and float payload indexes are made before any point is written.

use serde_json::{json, Value};

use super::client::QdrantNodes;
use crate::error::{Error, Result};
use crate::index::Manifest;

/// The payload object of the lower-case labels that filters match.
pub const PAYLOAD_KEYWORDS: &str = "kw";

/// The payload object of the labels that read as numbers (for `>=` and
/// the other numeric comparisons).
pub const PAYLOAD_NUMBERS: &str = "num";

/// The payload object of the labels as the catalogue spells them, under
/// safe keys, keyword-indexed: what facet counts are made from.
pub const PAYLOAD_FACETS: &str = "facet";

/// The layout of the points this build writes and reads (their payload
/// keys and indexes). A collection written by another layout is refused
/// with the re-index message rather than searched wrongly.
const POINT_LAYOUT: u32 = 2;

/// The payload key of a product's class in the head's kind task (an
/// integer index: the label term's likeliest-kind pass filters by it).
pub const KIND_CLASS: &str = "kind_class";

/// The payload key of a product's head classes: `[[task, class, labelled]]`.
pub const CLASSES: &str = "classes";

/// Where a collection is and how it is laid out when it is made.
#[derive(Debug, Clone)]
pub struct CollectionSpec {
    /// Its name.
    pub name: String,
    /// Shards (made once, at creation).
    pub shards: u32,
    /// Copies of each shard.
    pub replicas: u32,
}

impl CollectionSpec {
    /// `/collections/NAME`, checked (see [`collection_path`]).
    pub(crate) fn path(&self) -> Result<String> {
        collection_path(&self.name)
    }
}

/// `/collections/NAME`, checked: Qdrant names are path segments.
pub(crate) fn collection_path(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if !ok {
        return Err(Error::InvalidArgument(format!(
            "collection name `{name}`: use letters, digits, '-', '_' and '.'"
        )));
    }
    Ok(format!("/collections/{name}"))
}

/// The record lookalike left in collection `name`'s metadata (`info` is
/// its `GET /collections/NAME`); a collection without one was not made by
/// lookalike and is refused.
pub(crate) fn lookalike_record<'a>(
    nodes: &QdrantNodes,
    name: &str,
    info: &'a Value,
) -> Result<&'a Value> {
    let have = &info["config"]["metadata"]["lookalike"];
    if have.is_null() {
        return Err(Error::Qdrant {
            node: nodes.urls().join(","),
            reason: format!(
                "collection `{name}` was not made by lookalike (no record of its vectors); \
                 choose another --collection"
            ),
        });
    }
    Ok(have)
}

/// The payload key of label `field` under [`PAYLOAD_KEYWORDS`] and
/// [`PAYLOAD_NUMBERS`]: lower
/// case, with anything but letters, digits and `_` as `_` (a dot would
/// nest).
pub(crate) fn field_key(field: &str) -> String {
    field
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// What the collection records about the vectors in it: points made by
/// another model, head or row layout are refused, as a local index
/// refuses them.
pub(crate) fn record_of(manifest: &Manifest) -> Value {
    json!({
        "points": POINT_LAYOUT,
        "embedder": manifest.embedder,
        "head_hash": manifest.head_hash,
        "search_dims": [manifest.search_cnn_dim, manifest.search_layout().colour],
    })
}

/// Makes the collection for `manifest`'s search rows if it does not
/// exist (with its payload indexes), or checks that the existing one
/// holds rows made the same way. Returns whether it was made.
pub(crate) fn ensure(
    nodes: &QdrantNodes,
    spec: &CollectionSpec,
    manifest: &Manifest,
) -> Result<bool> {
    let path = spec.path()?;
    let want = record_of(manifest);
    if let Some(info) = nodes.request("GET", &path, None)? {
        let have = lookalike_record(nodes, &spec.name, &info)?;
        if have != &want {
            return Err(Error::Qdrant {
                node: nodes.urls().join(","),
                reason: format!(
                    "collection `{}` holds vectors made another way ({}), this index makes {}; \
                     index into a new --collection, or delete this one to replace it",
                    spec.name,
                    describe(have),
                    describe(&want)
                ),
            });
        }
        return Ok(false);
    }
    let mut keys: Vec<(String, &String)> =
        manifest.fields.iter().map(|f| (field_key(f), f)).collect();
    keys.sort();
    if let Some(w) = keys.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(Error::InvalidArgument(format!(
            "label fields `{}` and `{}` have the same payload key `{}` in Qdrant (case and \
             punctuation are folded); rename one column of the CSV",
            w[0].1, w[1].1, w[0].0
        )));
    }
    if spec.shards == 0 || spec.replicas == 0 {
        return Err(Error::InvalidArgument(
            "--shards and --replicas must be at least 1".into(),
        ));
    }
    let dim = manifest.search_layout().dim();
    nodes.request(
        "PUT",
        &format!("{path}?timeout=60"),
        Some(&json!({
            "vectors": { "size": dim, "distance": "Dot" },
            "shard_number": spec.shards,
            "replication_factor": spec.replicas,
            "write_consistency_factor": 1,
            "metadata": { "lookalike": want },
        })),
    )?;
    let mut fields: Vec<(String, &str)> = vec![
        ("product_id".into(), "keyword"),
        ("year".into(), "integer"),
        (KIND_CLASS.into(), "integer"),
    ];
    for f in &manifest.fields {
        for (object, schema) in [
            (PAYLOAD_KEYWORDS, "keyword"),
            (PAYLOAD_NUMBERS, "float"),
            (PAYLOAD_FACETS, "keyword"),
        ] {
            let key = format!("{object}.{}", field_key(f));
            if !fields.iter().any(|(k, _)| *k == key) {
                fields.push((key, schema));
            }
        }
    }
    for (field, schema) in fields {
        nodes.request(
            "PUT",
            &format!("{path}/index?wait=true"),
            Some(&json!({ "field_name": field, "field_schema": schema })),
        )?;
    }
    tracing::info!(
        "made Qdrant collection `{}`: {} shards x {} replicas, {dim} values per point",
        spec.name,
        spec.shards,
        spec.replicas
    );
    Ok(true)
}

/// A record in words: the model and head.
fn describe(record: &Value) -> String {
    let e = &record["embedder"];
    format!(
        "{} {} at {}, head {}",
        e["model"].as_str().unwrap_or("?"),
        e["model_hash"].as_str().unwrap_or("?"),
        e["input_size"],
        record["head_hash"]
            .as_str()
            .map_or("none".to_string(), |h| h.chars().take(12).collect())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_keys_are_safe_path_parts() {
        let spec = |name: &str| CollectionSpec {
            name: name.into(),
            shards: 1,
            replicas: 1,
        };
        assert_eq!(
            spec("shop_2026.v1").path().expect("ok"),
            "/collections/shop_2026.v1"
        );
        for bad in ["", "a/b", "../x", "a b", ".hidden", "a?b"] {
            assert!(spec(bad).path().is_err(), "{bad}");
        }
        assert_eq!(field_key("articleType"), "articletype");
        assert_eq!(field_key("base.colour name"), "base_colour_name");
    }
}
