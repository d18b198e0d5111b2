//! Where the products are: a local [`Index`], or a Qdrant collection
//! searched with its kit. The CLI and the server hold a [`Store`] and ask it
//! what they show (search through [`SearchTarget`], counts, records,
//! browsing, facets) without caring which it is.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use crate::index::{ProductRecord, SearchModel};
use crate::search::{Filter, SearchTarget};
use crate::{Index, Result};

/// A local index or a Qdrant collection (see the module docs).
#[derive(Debug)]
pub enum Store {
    /// A local index.
    Local(Box<Index>),
    /// A Qdrant collection, searched with a kit.
    #[cfg(feature = "qdrant")]
    Remote(Box<crate::qdrant::QdrantCatalogue>),
}

impl Store {
    /// The index in `dir`.
    pub fn open_local(dir: &Path) -> Result<Store> {
        Ok(Store::Local(Box::new(Index::open(dir)?)))
    }

    /// Collection `collection` on the nodes `urls` (comma-separated), with
    /// the kit (or index) in `kit`; requests time out as searches do.
    #[cfg(feature = "qdrant")]
    pub fn open_qdrant(urls: &str, collection: &str, kit: &Path) -> Result<Store> {
        let nodes = crate::qdrant::QdrantNodes::for_search(urls)?;
        Ok(Store::Remote(Box::new(
            crate::qdrant::QdrantCatalogue::open(nodes, collection, kit)?,
        )))
    }

    /// The products as the search API sees them.
    pub fn target(&self) -> &dyn SearchTarget {
        match self {
            Store::Local(i) => i.as_ref(),
            #[cfg(feature = "qdrant")]
            Store::Remote(r) => r.as_ref(),
        }
    }

    /// The model, head and manifest.
    pub fn model(&self) -> &SearchModel {
        self.target().model()
    }

    /// Number of products (a request to a Qdrant cluster: blocking).
    pub fn product_count(&self) -> Result<usize> {
        match self {
            Store::Local(i) => Ok(i.len()),
            #[cfg(feature = "qdrant")]
            Store::Remote(r) => r.len(),
        }
    }

    /// Product `id`'s record (blocking, see [`Store::product_count`]).
    pub fn product(&self, id: &str) -> Result<Option<ProductRecord>> {
        match self {
            Store::Local(i) => Ok(i.row_of(id).map(|r| i.products()[r].clone())),
            #[cfg(feature = "qdrant")]
            Store::Remote(r) => r.product(id),
        }
    }

    /// Checks `filters` against the labels before any expensive work.
    pub fn check_filters(&self, filters: &[Filter]) -> Result<()> {
        match self {
            Store::Local(i) => {
                crate::search::filter::compile(filters, i.payload(), i.len()).map(|_| ())
            }
            #[cfg(feature = "qdrant")]
            Store::Remote(r) => r.check_filters(filters),
        }
    }

    /// One page of [`crate::search::browse`]: the total and the products.
    pub fn browse(
        &self,
        filters: &[Filter],
        name: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<ProductRecord>)> {
        match self {
            Store::Local(i) => {
                let page = crate::search::browse(i, filters, name, offset, limit)?;
                Ok((page.total, page.products.into_iter().cloned().collect()))
            }
            #[cfg(feature = "qdrant")]
            Store::Remote(r) => r.browse(filters, name, offset, limit),
        }
    }

    /// Label values with counts per field (the name left out), fields of
    /// more than `max_values` values left out.
    pub fn facets(&self, max_values: usize) -> Result<BTreeMap<String, BTreeMap<String, usize>>> {
        match self {
            Store::Local(i) => {
                let mut out = BTreeMap::new();
                for field in &i.manifest().fields {
                    if field == crate::search::NAME_FIELD {
                        continue;
                    }
                    let values = i.payload().facet(field);
                    if !values.is_empty() && values.len() <= max_values {
                        out.insert(field.clone(), values);
                    }
                }
                Ok(out)
            }
            #[cfg(feature = "qdrant")]
            Store::Remote(r) => r.facets(max_values),
        }
    }

    /// Every product's record (a collection's are read in pages: blocking).
    pub fn products(&self) -> Result<Cow<'_, [ProductRecord]>> {
        match self {
            Store::Local(i) => Ok(Cow::Borrowed(i.products())),
            #[cfg(feature = "qdrant")]
            Store::Remote(r) => Ok(Cow::Owned(r.products()?)),
        }
    }
}
