//! Label filters: `gender=Women`, `articleType in (Shirts,Tshirts)`,
//! `year>=2012`, `baseColour!=Black`.
//!
//! Field names and text values match case-insensitively. Several filters are
//! combined with AND. A product without the field never matches (also not
//! `!=`), as in SQL. Filters compile to a row bitset from the index's posting
//! lists, and the search visits only the rows in it.

use crate::error::{Error, Result};
use crate::index::payload::PayloadIndex;
use crate::search::RowSet;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=` (also `==`).
    Eq,
    /// `!=`.
    Ne,
    /// `>=`, numeric.
    Ge,
    /// `<=`, numeric.
    Le,
    /// `>`, numeric.
    Gt,
    /// `<`, numeric.
    Lt,
    /// `in (a, b)`.
    In,
    /// `not in (a, b)`.
    NotIn,
}

/// One parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    /// The expression as written.
    pub expr: String,
    /// Field name.
    pub field: String,
    /// Operator.
    pub op: Op,
    /// Values (one, or the list of `in`).
    pub values: Vec<String>,
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.expr)
    }
}

impl std::str::FromStr for Filter {
    type Err = Error;
    fn from_str(s: &str) -> Result<Filter> {
        Filter::parse(s)
    }
}

fn bad(expr: &str, reason: impl Into<String>) -> Error {
    Error::BadFilter {
        expr: expr.to_string(),
        reason: reason.into(),
    }
}

impl Filter {
    /// Parses `FIELD OP VALUE` or `FIELD [not] in (V1, V2, ...)`.
    pub fn parse(expr: &str) -> Result<Filter> {
        let s = expr.trim();
        if s.is_empty() {
            return Err(bad(expr, "empty filter"));
        }
        if s.len() > 4096 {
            return Err(bad(&expr[..64], "filter longer than 4096 bytes"));
        }
        let lower = s.to_ascii_lowercase();
        for (kw, op) in [(" not in ", Op::NotIn), (" in ", Op::In)] {
            if let Some(pos) = lower.find(kw) {
                let field = s[..pos].trim();
                let rest = s[pos + kw.len()..].trim();
                let inner = rest
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| bad(expr, "a list is written `(a, b, c)`"))?;
                let values: Vec<String> = inner
                    .split(',')
                    .map(|v| unquote(v.trim()).to_string())
                    .filter(|v| !v.is_empty())
                    .collect();
                if values.is_empty() {
                    return Err(bad(expr, "empty list"));
                }
                return Filter::new(expr, field, op, values);
            }
        }
        // Two-character operators first so that `>=` is not read as `>`.
        for (tok, op) in [
            ("!=", Op::Ne),
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("==", Op::Eq),
            ("=", Op::Eq),
            (">", Op::Gt),
            ("<", Op::Lt),
        ] {
            if let Some(pos) = s.find(tok) {
                let field = s[..pos].trim();
                let value = unquote(s[pos + tok.len()..].trim());
                if value.is_empty() {
                    return Err(bad(expr, "missing value"));
                }
                return Filter::new(expr, field, op, vec![value.to_string()]);
            }
        }
        Err(bad(
            expr,
            "expected FIELD=VALUE, FIELD!=VALUE, FIELD>=N, FIELD<=N, FIELD>N, FIELD<N or FIELD in (A,B)",
        ))
    }

    fn new(expr: &str, field: &str, op: Op, values: Vec<String>) -> Result<Filter> {
        if field.is_empty() {
            return Err(bad(expr, "missing field name"));
        }
        if field.contains(|c: char| c.is_whitespace() || "=<>!()".contains(c)) {
            return Err(bad(expr, format!("`{field}` is not a field name")));
        }
        if matches!(op, Op::Ge | Op::Le | Op::Gt | Op::Lt) && values[0].parse::<f64>().is_err() {
            return Err(bad(expr, format!("`{}` is not a number", values[0])));
        }
        Ok(Filter {
            expr: expr.trim().to_string(),
            field: field.to_string(),
            op,
            values,
        })
    }

    /// The matching rows of `rows`, given the labels.
    fn matching(&self, payload: &PayloadIndex, rows: usize) -> Result<RowSet> {
        if payload.field_name(&self.field).is_none() {
            let known = payload.field_names();
            let hint = if known.is_empty() {
                "this index has no labels".to_string()
            } else {
                format!("known fields: {}", known.join(", "))
            };
            return Err(bad(
                &self.expr,
                format!("unknown field `{}` ({hint})", self.field),
            ));
        }
        let mut bits = RowSet::empty(rows);
        let mut set = |rs: &[u32]| bits.extend(rs);
        let wanted: Vec<String> = self.values.iter().map(|v| v.to_lowercase()).collect();
        match self.op {
            Op::Eq | Op::In => {
                for v in &self.values {
                    set(payload.rows_eq(&self.field, v));
                }
            }
            Op::Ne | Op::NotIn => {
                for (value, rs) in payload.values(&self.field) {
                    if !wanted.contains(&value.to_lowercase()) {
                        set(rs);
                    }
                }
            }
            Op::Ge | Op::Le | Op::Gt | Op::Lt => {
                let bound: f64 = self.values[0]
                    .parse()
                    .map_err(|_| bad(&self.expr, "not a number"))?;
                for (value, rs) in payload.values(&self.field) {
                    let Ok(x) = value.trim().parse::<f64>() else {
                        continue;
                    };
                    let keep = match self.op {
                        Op::Ge => x >= bound,
                        Op::Le => x <= bound,
                        Op::Gt => x > bound,
                        _ => x < bound,
                    };
                    if keep {
                        set(rs);
                    }
                }
            }
        }
        Ok(bits)
    }
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// The rows allowed by all `filters` (AND), or `None` when there are none.
pub fn compile(filters: &[Filter], payload: &PayloadIndex, rows: usize) -> Result<Option<RowSet>> {
    let mut acc: Option<RowSet> = None;
    for f in filters {
        let bits = f.matching(payload, rows)?;
        acc = Some(match acc {
            None => bits,
            Some(mut a) => {
                a.intersect_with(&bits);
                a
            }
        });
    }
    Ok(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Labels;
    use crate::index::ProductRecord;

    fn payload() -> (PayloadIndex, usize) {
        let rows = [
            ("Men", "Shirts", "2011"),
            ("Women", "Tshirts", "2012"),
            ("Women", "Shirts", "2016"),
            ("Men", "Jeans", "NA"),
        ];
        let products: Vec<ProductRecord> = rows
            .iter()
            .enumerate()
            .map(|(i, (g, t, y))| {
                let mut labels = Labels::default();
                labels.set("gender", g);
                labels.set("articleType", t);
                labels.set("year", y);
                ProductRecord {
                    id: i.to_string(),
                    hash: String::new(),
                    image: Default::default(),
                    labels,
                }
            })
            .collect();
        (PayloadIndex::build(&products), products.len())
    }

    fn rows(exprs: &[&str]) -> Vec<usize> {
        let (p, n) = payload();
        let filters: Vec<Filter> = exprs
            .iter()
            .map(|e| Filter::parse(e).expect("parses"))
            .collect();
        let bits = compile(&filters, &p, n).expect("compiles").expect("some");
        bits.iter().collect()
    }

    #[test]
    fn operators() {
        assert_eq!(rows(&["gender=Women"]), [1, 2]);
        assert_eq!(rows(&["gender = women"]), [1, 2]);
        assert_eq!(rows(&["GENDER==Men"]), [0, 3]);
        assert_eq!(rows(&["gender!=Men"]), [1, 2]);
        assert_eq!(rows(&["articleType in (Shirts,Tshirts)"]), [0, 1, 2]);
        assert_eq!(rows(&["articleType IN ( shirts , 'Jeans' )"]), [0, 2, 3]);
        assert_eq!(rows(&["articleType not in (Shirts)"]), [1, 3]);
        assert_eq!(rows(&["year>=2012"]), [1, 2]);
        assert_eq!(rows(&["year>2012"]), [2]);
        assert_eq!(rows(&["year<2012"]), [0]);
        assert_eq!(
            rows(&["year<=2016", "gender=Women", "articleType=Shirts"]),
            [2]
        );
        assert_eq!(rows(&["gender=Unisex"]), Vec::<usize>::new());
    }

    #[test]
    fn errors_name_the_problem() {
        for (e, needle) in [
            ("", "empty"),
            ("gender", "expected"),
            ("=Men", "missing field"),
            ("gender=", "missing value"),
            ("year>=twenty", "not a number"),
            ("articleType in Shirts", "list"),
            ("articleType in ()", "empty list"),
        ] {
            let err = Filter::parse(e).unwrap_err().to_string();
            assert!(err.contains(needle), "{e:?}: {err}");
        }
        let (p, n) = payload();
        let f = Filter::parse("colour=Red").expect("parses");
        let err = compile(&[f], &p, n).unwrap_err().to_string();
        assert!(
            err.contains("unknown field `colour`") && err.contains("articleType"),
            "{err}"
        );
    }
}
