//! Reader for Kaggle's `styles.csv`, quirks included.
//!
//! The file as downloaded from Kaggle is not quite CSV: 22 product names
//! contain commas but are not quoted, so those lines have 11 or 12 fields for a
//! 10-column header. The extra fields belong to the last column (the name) and
//! are joined back. `NA` and empty cells mean "missing". A UTF-8 BOM and CRLF
//! line ends are accepted.

use std::io::Read;
use std::path::Path;

use super::labels::Labels;
use super::report::{IngestReport, ProblemKind};
use crate::error::{Error, Result};

/// The rows of a styles CSV: one `(id, labels)` per usable row, plus problems.
#[derive(Debug, Clone, Default)]
pub struct StylesCsv {
    /// Label columns (the header without `id`), in file order.
    pub fields: Vec<String>,
    /// Usable rows in file order, duplicates removed (first wins).
    pub rows: Vec<(String, Labels)>,
    /// Problems found.
    pub report: IngestReport,
}

/// Reads a styles CSV from a file. See `parse_styles_csv`.
pub fn read_styles_csv(path: &Path) -> Result<StylesCsv> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::io(path, e))?;
    parse_styles_csv(&bytes, path)
}

/// Parses styles CSV content; `path` only names the file in messages.
///
/// Fails only when the content is not a catalogue at all (no header with an
/// `id` column); every problem with a single row is reported and the row
/// skipped or repaired.
pub fn parse_styles_csv(bytes: &[u8], path: &Path) -> Result<StylesCsv> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let not_catalog = |reason: String| Error::NotACatalog {
        path: path.to_path_buf(),
        reason,
    };

    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut records = reader.byte_records();

    let header = match records.next() {
        None => return Err(not_catalog("the file is empty".into())),
        Some(Err(e)) => return Err(not_catalog(format!("unreadable header: {e}"))),
        Some(Ok(h)) => h,
    };
    let header: Vec<String> = header
        .iter()
        .map(|f| String::from_utf8_lossy(f).trim().to_string())
        .collect();
    let id_col = header
        .iter()
        .position(|h| h.eq_ignore_ascii_case("id"))
        .ok_or_else(|| {
            not_catalog(format!(
                "the header has no `id` column (found `{}`; expected e.g. \
                 `id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName`)",
                truncate(&header.join(","), 120)
            ))
        })?;
    if header.len() < 2 {
        return Err(not_catalog(
            "the header has no label columns besides `id`".into(),
        ));
    }
    if let Some(empty) = header.iter().position(String::is_empty) {
        return Err(not_catalog(format!(
            "header column {} has no name",
            empty + 1
        )));
    }
    for (i, h) in header.iter().enumerate() {
        if header[..i].iter().any(|o| o.eq_ignore_ascii_case(h)) {
            return Err(not_catalog(format!("header column `{h}` appears twice")));
        }
    }

    let fields: Vec<String> = header
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != id_col)
        .map(|(_, h)| h.clone())
        .collect();
    let mut out = StylesCsv {
        fields,
        ..StylesCsv::default()
    };
    let mut seen = std::collections::HashSet::new();
    let last = header.len() - 1;

    for record in records {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(0);
                out.report.push(
                    ProblemKind::MalformedRow,
                    format!("{name}:{line}"),
                    format!("unreadable row: {e}"),
                );
                continue;
            }
        };
        let line = record.position().map(|p| p.line()).unwrap_or(0);
        let loc = format!("{name}:{line}");
        if record.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
            continue; // blank line
        }
        let mut cells: Vec<String> = Vec::with_capacity(record.len());
        let mut lossy = false;
        for f in record.iter() {
            match std::str::from_utf8(f) {
                Ok(s) => cells.push(s.to_string()),
                Err(_) => {
                    lossy = true;
                    cells.push(String::from_utf8_lossy(f).into_owned());
                }
            }
        }
        if lossy {
            out.report.push(
                ProblemKind::InvalidUtf8,
                loc.clone(),
                "invalid UTF-8 replaced by U+FFFD",
            );
        }
        if cells.len() > header.len() {
            if id_col == last {
                out.report.push(
                    ProblemKind::MalformedRow,
                    loc,
                    format!(
                        "{} fields for a {}-column header",
                        cells.len(),
                        header.len()
                    ),
                );
                continue;
            }
            // Unquoted commas in the last column: the extra fields are its tail.
            let tail = cells.split_off(last).join(",");
            cells.push(tail);
            out.report.push(
                ProblemKind::RepairedRow,
                loc.clone(),
                format!("unquoted commas in `{}` joined back", header[last]),
            );
        }
        if cells.len() <= id_col {
            out.report.push(
                ProblemKind::MalformedRow,
                loc,
                format!("{} fields, no `id`", cells.len()),
            );
            continue;
        }
        let id = cells[id_col].trim().to_string();
        if super::labels::is_missing(&id) {
            out.report
                .push(ProblemKind::MalformedRow, loc, "empty or NA id");
            continue;
        }
        if cells.len() < header.len() {
            out.report.push(
                ProblemKind::RepairedRow,
                loc.clone(),
                format!(
                    "{} fields for a {}-column header; missing cells read as NA",
                    cells.len(),
                    header.len()
                ),
            );
        }
        if !seen.insert(id.clone()) {
            out.report.push(
                ProblemKind::DuplicateId,
                loc,
                format!("id `{id}` already seen; row ignored"),
            );
            continue;
        }
        let mut labels = Labels::default();
        for (i, cell) in cells.iter().enumerate() {
            if i != id_col {
                labels.set(&header[i], cell);
            }
        }
        out.rows.push((id, labels));
    }
    Ok(out)
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName";

    fn parse(s: &str) -> StylesCsv {
        parse_styles_csv(s.as_bytes(), Path::new("styles.csv")).expect("parses")
    }

    #[test]
    fn plain_rows() {
        let csv = format!(
            "{HEADER}\n15970,Men,Apparel,Topwear,Shirts,Navy Blue,Fall,2011,Casual,Turtle Check Men Navy Blue Shirt\n"
        );
        let s = parse(&csv);
        assert_eq!(s.rows.len(), 1);
        let (id, l) = &s.rows[0];
        assert_eq!(id, "15970");
        assert_eq!(l.get("baseColour"), Some("Navy Blue"));
        assert_eq!(l.get("year"), Some("2011"));
        assert_eq!(s.fields.len(), 9);
        assert!(s.report.problems.is_empty());
    }

    #[test]
    fn unquoted_commas_join_into_the_name() {
        let csv = format!(
            "{HEADER}\n1,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Name, with, commas\n\
             2,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,One, comma\n"
        );
        let s = parse(&csv);
        assert_eq!(s.rows.len(), 2);
        assert_eq!(
            s.rows[0].1.get("productDisplayName"),
            Some("Name, with, commas")
        );
        assert_eq!(s.rows[1].1.get("productDisplayName"), Some("One, comma"));
        assert_eq!(s.report.count(ProblemKind::RepairedRow), 2);
    }

    #[test]
    fn quoted_commas_are_plain_csv() {
        let csv =
            format!("{HEADER}\n1,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,\"A, B\"\n");
        let s = parse(&csv);
        assert_eq!(s.rows[0].1.get("productDisplayName"), Some("A, B"));
        assert!(s.report.problems.is_empty());
    }

    #[test]
    fn na_and_empty_are_missing() {
        let csv = format!("{HEADER}\n1,Men,Apparel,Topwear,Shirts,NA,,2011,NA,Shirt\n");
        let s = parse(&csv);
        let l = &s.rows[0].1;
        assert_eq!(l.get("baseColour"), None);
        assert_eq!(l.get("season"), None);
        assert_eq!(l.get("usage"), None);
        assert_eq!(l.get("gender"), Some("Men"));
    }

    #[test]
    fn bom_and_crlf() {
        let csv = format!(
            "\u{feff}{HEADER}\r\n1,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Shirt\r\n"
        );
        let s = parse(&csv);
        assert_eq!(s.rows.len(), 1);
        assert_eq!(s.rows[0].0, "1");
        assert_eq!(s.rows[0].1.get("productDisplayName"), Some("Shirt"));
    }

    #[test]
    fn duplicate_ids_keep_the_first() {
        let csv = format!(
            "{HEADER}\n1,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,First\n\
             1,Women,Apparel,Topwear,Shirts,Red,Fall,2011,Casual,Second\n"
        );
        let s = parse(&csv);
        assert_eq!(s.rows.len(), 1);
        assert_eq!(s.rows[0].1.get("productDisplayName"), Some("First"));
        assert_eq!(s.report.count(ProblemKind::DuplicateId), 1);
    }

    #[test]
    fn short_and_idless_rows() {
        let csv = format!(
            "{HEADER}\n1,Men,Apparel\n,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,X\n\n"
        );
        let s = parse(&csv);
        assert_eq!(s.rows.len(), 1);
        assert_eq!(s.rows[0].1.get("masterCategory"), Some("Apparel"));
        assert_eq!(s.rows[0].1.get("articleType"), None);
        assert_eq!(s.report.count(ProblemKind::RepairedRow), 1);
        assert_eq!(s.report.count(ProblemKind::MalformedRow), 1);
    }

    #[test]
    fn invalid_utf8_is_read_lossily() {
        let mut bytes = format!("{HEADER}\n1,Men,Apparel,Topwear,Shirts,Blue,Fall,2011,Casual,Caf")
            .into_bytes();
        bytes.extend_from_slice(b"\xe9\n");
        let s = parse_styles_csv(&bytes, Path::new("styles.csv")).expect("parses");
        assert_eq!(s.rows.len(), 1);
        assert_eq!(s.report.count(ProblemKind::InvalidUtf8), 1);
    }

    #[test]
    fn wrong_header_is_an_error() {
        for bad in ["", "name,price\nshoe,3\n", "\u{0}\u{1}binary"] {
            let err = parse_styles_csv(bad.as_bytes(), Path::new("styles.csv")).unwrap_err();
            assert!(
                matches!(err, Error::NotACatalog { .. }),
                "{bad:?} gave {err}"
            );
        }
        let err = parse_styles_csv(b"name,price\n", Path::new("x.csv")).unwrap_err();
        assert!(err.to_string().contains("no `id` column"), "{err}");
    }
}
