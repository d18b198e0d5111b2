//! Label filters ([`Filter`]) as Qdrant filters, with exactly the CLI's
//! meaning: fields and text values match case-insensitively (the points
//! carry lower-case copies under `kw`), numeric comparisons read the
//! numeric copies under `num`, and a product without the field never
//! matches, `!=` and `not in` included (SQL's rule, as in the local index).

use serde_json::{json, Value};

use super::collection::{field_key, PAYLOAD_KEYWORDS, PAYLOAD_NUMBERS};
use crate::error::{Error, Result};
use crate::search::filter::Op;
use crate::search::Filter;

/// The Qdrant filter that keeps the products passing all `filters` (AND),
/// `exclude` (a point id) left out. `fields` are the catalogue's label
/// fields: a filter on another field is refused, naming them, as the local
/// index refuses it.
pub(crate) fn translate(
    filters: &[Filter],
    fields: &[String],
    exclude: Option<u64>,
) -> Result<Value> {
    let mut must = Vec::new();
    let mut must_not = Vec::new();
    for f in filters {
        let wanted = f.field.to_lowercase();
        if !fields.iter().any(|k| k.to_lowercase() == wanted) {
            let hint = if fields.is_empty() {
                "this catalogue has no labels".to_string()
            } else {
                format!("known fields: {}", fields.join(", "))
            };
            return Err(Error::BadFilter {
                expr: f.expr.clone(),
                reason: format!("unknown field `{}` ({hint})", f.field),
            });
        }
        let key = format!("{PAYLOAD_KEYWORDS}.{}", field_key(&f.field));
        let values: Vec<String> = f.values.iter().map(|v| v.to_lowercase()).collect();
        match f.op {
            Op::Eq | Op::In => must.push(json!({ "key": key, "match": { "any": values } })),
            Op::Ne | Op::NotIn => {
                // Not one of the values, and not without the field.
                must_not.push(json!({ "key": key, "match": { "any": values } }));
                must_not.push(json!({ "is_empty": { "key": key } }));
            }
            Op::Ge | Op::Le | Op::Gt | Op::Lt => {
                let bound: f64 = f.values[0].trim().parse().map_err(|_| Error::BadFilter {
                    expr: f.expr.clone(),
                    reason: "not a number".into(),
                })?;
                let op = match f.op {
                    Op::Ge => "gte",
                    Op::Le => "lte",
                    Op::Gt => "gt",
                    _ => "lt",
                };
                let key = format!("{PAYLOAD_NUMBERS}.{}", field_key(&f.field));
                must.push(json!({ "key": key, "range": { op: bound } }));
            }
        }
    }
    if let Some(id) = exclude {
        must_not.push(json!({ "has_id": [id] }));
    }
    Ok(json!({ "must": must, "must_not": must_not }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(exprs: &[&str]) -> Result<Value> {
        let fs: Vec<Filter> = exprs
            .iter()
            .map(|e| Filter::parse(e).expect("parses"))
            .collect();
        translate(
            &fs,
            &["gender".into(), "articleType".into(), "year".into()],
            Some(7),
        )
    }

    #[test]
    fn filters_keep_the_cli_meaning() {
        let f = filter(&[
            "GENDER = Women",
            "articleType not in (Shirts, 'Tops')",
            "year>=2012",
        ])
        .expect("translates");
        assert_eq!(
            f["must"],
            json!([
                { "key": "kw.gender", "match": { "any": ["women"] } },
                { "key": "num.year", "range": { "gte": 2012.0 } },
            ])
        );
        // `not in`: neither value, and the field must be there.
        assert_eq!(
            f["must_not"],
            json!([
                { "key": "kw.articletype", "match": { "any": ["shirts", "tops"] } },
                { "is_empty": { "key": "kw.articletype" } },
                { "has_id": [7] },
            ])
        );
        let err = filter(&["colour=Red"]).unwrap_err().to_string();
        assert!(
            err.contains("unknown field `colour`") && err.contains("articleType"),
            "{err}"
        );
    }
}
