//! Browsing: the products that pass label filters and a name query, a page at
//! a time, in index (id) order.

use crate::error::Result;
use crate::index::{Index, ProductRecord};

use super::filter::{self, Filter};

/// One page of a browse.
#[derive(Debug, Clone)]
pub struct Page<'a> {
    /// Products matching in all (not only on this page).
    pub total: usize,
    /// The products of this page.
    pub products: Vec<&'a ProductRecord>,
}

/// The label holding a product's name, searched by the name query.
pub const NAME_FIELD: &str = "productDisplayName";

/// Products of `index` that pass `filters` and whose name (or, unlabelled, id)
/// contains `name` case-insensitively; `limit` of them from `offset`.
pub fn browse<'a>(
    index: &'a Index,
    filters: &[Filter],
    name: &str,
    offset: usize,
    limit: usize,
) -> Result<Page<'a>> {
    let allowed = filter::compile(filters, index.payload(), index.len())?;
    let needle = name.to_lowercase();
    let matches = |row: usize| {
        if allowed.as_ref().is_some_and(|bits| !bits.contains(row)) {
            return false;
        }
        if needle.is_empty() {
            return true;
        }
        let p = &index.products()[row];
        let hay = p.labels.get(NAME_FIELD).unwrap_or(&p.id);
        hay.to_lowercase().contains(&needle)
    };
    let mut total = 0;
    let mut products = Vec::with_capacity(limit.min(1024));
    for row in 0..index.len() {
        if matches(row) {
            if total >= offset && products.len() < limit {
                products.push(&index.products()[row]);
            }
            total += 1;
        }
    }
    Ok(Page { total, products })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::SearchSettings;

    #[test]
    fn filters_name_and_pages() {
        let dir = tempfile::tempdir().expect("tempdir");
        let index = super::super::tests::random_index(dir.path(), 100, &SearchSettings::default());
        let women = [Filter::parse("gender=women").expect("filter")];
        let all = browse(&index, &women, "", 0, 1000).expect("browse");
        assert_eq!(all.total, 34);
        assert!(all
            .products
            .iter()
            .all(|p| p.labels.get("gender") == Some("Women")));
        let page = browse(&index, &women, "", 30, 10).expect("browse");
        assert_eq!((page.total, page.products.len()), (34, 4));
        assert_eq!(page.products[0].id, all.products[30].id);
        // Unlabelled names fall back to the id: p1, p10..p19.
        let named = browse(&index, &[], "P1", 0, 1000).expect("browse");
        assert_eq!(named.total, 11);
        let past_end = browse(&index, &[], "", 500, 10).expect("browse");
        assert_eq!((past_end.total, past_end.products.len()), (100, 0));
        assert!(browse(&index, &[Filter::parse("colour=Red").expect("f")], "", 0, 1).is_err());
    }
}
