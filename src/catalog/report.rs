//! What went wrong while reading a catalogue or embedding its images.

use std::collections::BTreeMap;
use std::fmt;

/// The kinds of problems counted during ingestion and indexing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemKind {
    /// A CSV row names an image that does not exist; the row is skipped.
    MissingImage,
    /// An image has no CSV row; it is indexed without labels.
    Unlabelled,
    /// A CSV id appears more than once; the first row wins.
    DuplicateId,
    /// A CSV row had extra fields (unquoted commas in the last column); they
    /// were joined back into it.
    RepairedRow,
    /// A CSV row is unusable (no id, too few fields, unreadable).
    MalformedRow,
    /// A CSV cell was not valid UTF-8 and was read lossily.
    InvalidUtf8,
    /// A file's name cannot be used as an id (not UTF-8).
    BadFileName,
    /// An image could not be read, decoded, or was refused.
    BadImage,
}

impl ProblemKind {
    /// A short human description, used in summaries.
    pub fn describe(self) -> &'static str {
        match self {
            ProblemKind::MissingImage => "CSV rows without an image (skipped)",
            ProblemKind::Unlabelled => "images without a CSV row (indexed unlabelled)",
            ProblemKind::DuplicateId => "duplicate ids (first row kept)",
            ProblemKind::RepairedRow => "rows with unquoted commas in the last column (repaired)",
            ProblemKind::MalformedRow => "malformed CSV rows (skipped)",
            ProblemKind::InvalidUtf8 => "CSV rows with invalid UTF-8 (read lossily)",
            ProblemKind::BadFileName => "files with unusable names (skipped)",
            ProblemKind::BadImage => "unreadable or refused images (skipped)",
        }
    }

    /// True when the problem means an item was left out of the index.
    pub fn is_skip(self) -> bool {
        matches!(
            self,
            ProblemKind::MissingImage
                | ProblemKind::MalformedRow
                | ProblemKind::BadFileName
                | ProblemKind::BadImage
        )
    }
}

/// One problem with one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// Where: a CSV line (`styles.csv:123`), a file path or an id.
    pub location: String,
    /// Details.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.detail)
    }
}

/// All problems seen, with counts by kind.
#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    /// Every problem, in the order seen.
    pub problems: Vec<Problem>,
}

impl IngestReport {
    /// Records a problem.
    pub fn push(
        &mut self,
        kind: ProblemKind,
        location: impl Into<String>,
        detail: impl Into<String>,
    ) {
        self.problems.push(Problem {
            kind,
            location: location.into(),
            detail: detail.into(),
        });
    }

    /// Adds all problems of `other`.
    pub fn extend(&mut self, other: IngestReport) {
        self.problems.extend(other.problems);
    }

    /// Counts by kind, in a stable order.
    pub fn counts(&self) -> BTreeMap<ProblemKind, usize> {
        let mut m = BTreeMap::new();
        for p in &self.problems {
            *m.entry(p.kind).or_insert(0) += 1;
        }
        m
    }

    /// Number of problems of `kind`.
    pub fn count(&self, kind: ProblemKind) -> usize {
        self.problems.iter().filter(|p| p.kind == kind).count()
    }

    /// Number of items left out of the index.
    pub fn skipped(&self) -> usize {
        self.problems.iter().filter(|p| p.kind.is_skip()).count()
    }
}
