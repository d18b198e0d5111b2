//! Query-string parameters, parsed by hand so that `filter` can repeat and
//! every bad value gets a 400 that names it.

use crate::imaging::Region;
use crate::search::{Filter, SearchRequest, MAX_K};

use super::error::ApiError;

/// Largest page of `GET /api/products`.
pub const MAX_PAGE: usize = 200;

/// The `(key, value)` pairs of a query string, percent-decoded.
fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ApiError> {
    value
        .trim()
        .parse()
        .map_err(|_| ApiError::bad_request(format!("`{key}` must be a number, got `{value}`")))
}

/// A number in `1..=max`.
fn count(key: &str, value: &str, max: usize) -> Result<usize, ApiError> {
    let n: usize = number(key, value)?;
    if n == 0 || n > max {
        return Err(ApiError::bad_request(format!(
            "`{key}` must be in 1..={max}, got {n}"
        )));
    }
    Ok(n)
}

fn unknown(key: &str, known: &str) -> ApiError {
    ApiError::bad_request(format!(
        "unknown parameter `{key}` (expected one of: {known})"
    ))
}

/// Parameters of the two search endpoints: `k`, `filter` (repeatable),
/// `metric`, `colour_weight`, `label_weight`, `vote_weight`.
pub fn search_request(raw: Option<&str>) -> Result<SearchRequest, ApiError> {
    parse_search(raw, false).map(|(req, _)| req)
}

/// Parameters of `POST /api/search`: those of [`search_request`] and
/// `crop=x,y,w,h`, the region of the upload to search with (checked against
/// the image once it is decoded).
pub fn upload_request(raw: Option<&str>) -> Result<(SearchRequest, Option<Region>), ApiError> {
    parse_search(raw, true)
}

fn parse_search(
    raw: Option<&str>,
    crop_allowed: bool,
) -> Result<(SearchRequest, Option<Region>), ApiError> {
    let mut req = SearchRequest::default();
    let mut crop = None;
    for (key, value) in pairs(raw) {
        match key.as_str() {
            "crop" if crop_allowed => {
                crop = Some(Region::parse(&value).map_err(ApiError::bad_request)?)
            }
            "k" => req.k = count(&key, &value, MAX_K)?,
            "filter" => req.filters.push(Filter::parse(&value)?),
            "metric" => {
                req.metric = value
                    .parse()
                    .map_err(|e: String| ApiError::bad_request(format!("`metric`: {e}")))?
            }
            "colour_weight" => req.colour_weight = number(&key, &value)?,
            "label_weight" => req.label_weight = number(&key, &value)?,
            "vote_weight" => req.vote_weight = number(&key, &value)?,
            _ => {
                return Err(unknown(
                    &key,
                    if crop_allowed {
                        "k, filter, metric, colour_weight, label_weight, vote_weight, crop"
                    } else {
                        "k, filter, metric, colour_weight, label_weight, vote_weight"
                    },
                ))
            }
        }
    }
    req.validate()?;
    Ok((req, crop))
}

/// Parameters of `GET /api/products`.
#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    /// Label filters (AND).
    pub filters: Vec<Filter>,
    /// Case-insensitive substring of the product name (or id).
    pub q: String,
    /// Products to skip.
    pub offset: usize,
    /// Page size, 1..=[`MAX_PAGE`].
    pub limit: usize,
}

/// Parses the parameters of `GET /api/products`.
pub fn list_params(raw: Option<&str>) -> Result<ListParams, ApiError> {
    let mut p = ListParams {
        filters: Vec::new(),
        q: String::new(),
        offset: 0,
        limit: 24,
    };
    for (key, value) in pairs(raw) {
        match key.as_str() {
            "filter" => p.filters.push(Filter::parse(&value)?),
            "q" => p.q = value.trim().to_string(),
            "offset" => p.offset = number(&key, &value)?,
            "limit" => p.limit = count(&key, &value, MAX_PAGE)?,
            _ => return Err(unknown(&key, "filter, q, offset, limit")),
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::Metric;
    use axum::http::StatusCode;

    #[test]
    fn search_parameters_parse_and_repeat() {
        let r = search_request(Some(
            "k=5&filter=gender%3DMen&filter=baseColour+in+(Navy+Blue,Black)&metric=euclidean",
        ))
        .unwrap();
        assert_eq!(r.k, 5);
        assert_eq!(r.filters.len(), 2);
        assert_eq!(r.filters[1].values, vec!["Navy Blue", "Black"]);
        assert_eq!(r.metric, Metric::Euclidean);
        let d = search_request(None).unwrap();
        assert_eq!((d.k, d.filters.len()), (10, 0));
    }

    #[test]
    fn bad_search_parameters_are_400_with_the_reason() {
        for (q, needle) in [
            ("k=0", "`k`"),
            ("k=1001", "`k`"),
            ("k=ten", "`k` must be a number"),
            ("k=-1", "`k` must be a number"),
            ("filter=gender", "bad filter"),
            ("metric=manhattan", "`metric`"),
            ("colour_weight=2", "colour weight"),
            ("colour_weight=NaN", "colour weight"),
            ("label_weight=-0.1", "label weight"),
            ("label_weight=inf", "label weight"),
            ("vote_weight=2", "vote weight"),
            ("kk=3", "unknown parameter `kk`"),
        ] {
            let e = search_request(Some(q)).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{q}");
            assert!(e.message.contains(needle), "{q}: {}", e.message);
        }
    }

    #[test]
    fn crops_are_parsed_for_uploads_only() {
        let (_, crop) = upload_request(Some("k=3&crop=10,20,30,40")).unwrap();
        assert_eq!(crop, Some(Region::parse("10,20,30,40").unwrap()));
        assert_eq!(upload_request(Some("k=3")).unwrap().1, None);
        for (q, needle) in [
            ("crop=1,2,0,4", "empty"),
            ("crop=1,2,3", "four integers"),
            ("crop=a,2,3,4", "x must be"),
            ("crop=", "four integers"),
        ] {
            let e = upload_request(Some(q)).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST, "{q}");
            assert!(e.message.contains(needle), "{q}: {}", e.message);
        }
        let e = search_request(Some("crop=1,2,3,4")).unwrap_err();
        assert!(
            e.message.contains("unknown parameter `crop`"),
            "{}",
            e.message
        );
    }

    #[test]
    fn list_parameters() {
        let p = list_params(Some("q=+Shirt+&offset=48&limit=24&filter=gender%3DWomen")).unwrap();
        assert_eq!((p.q.as_str(), p.offset, p.limit), ("Shirt", 48, 24));
        assert_eq!(p.filters.len(), 1);
        for q in ["limit=0", "limit=201", "offset=x", "page=2"] {
            assert_eq!(
                list_params(Some(q)).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{q}"
            );
        }
    }
}
