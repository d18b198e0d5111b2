//! How the stored rows (the truth a new head or transform is made from)
//! are kept on disk: full f32, or f16 at half the bytes.
//!
//! Search never reads them (it reads the search rows and their codes), so
//! their precision moves no search result; it moves what is re-derived
//! from them: a head trained on them, and the search rows of a later
//! `train`/recommit, by about 1e-3 of a unit vector's length (f16 keeps
//! 11 significant bits).

use std::borrow::Cow;
use std::io::Write;

use serde::{Deserialize, Serialize};

/// The precision of a generation's stored rows (`index --stored-rows`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoredPrecision {
    /// 4 bytes per value: exactly what the embedder made.
    #[default]
    F32,
    /// 2 bytes per value: half the disk, for large catalogues.
    F16,
}

impl StoredPrecision {
    /// Bytes per value.
    pub fn bytes(self) -> usize {
        match self {
            StoredPrecision::F32 => 4,
            StoredPrecision::F16 => 2,
        }
    }

    /// The stored rows' file name in generation `g`, e.g.
    /// `vectors-000007.f16`: the extension names the precision.
    pub fn file_name(self, g: u64) -> String {
        let ext = match self {
            StoredPrecision::F32 => "f32",
            StoredPrecision::F16 => "f16",
        };
        format!("vectors-{g:06}.{ext}")
    }

    /// Writes one row in this precision (in memory order, as every index
    /// file: little-endian on the machines lookalike runs on).
    pub(crate) fn write_row(self, w: &mut impl Write, row: &[f32]) -> std::io::Result<()> {
        match self {
            StoredPrecision::F32 => w.write_all(bytemuck::cast_slice(row)),
            StoredPrecision::F16 => {
                let halves: Vec<half::f16> = row.iter().map(|&v| half::f16::from_f32(v)).collect();
                w.write_all(bytemuck::cast_slice(&halves))
            }
        }
    }

    /// Values `range` of the mapped file `bytes`, as f32 (borrowed where
    /// they are f32 already). `bytes` is 4-byte aligned (a mapping).
    pub(crate) fn read(self, bytes: &[u8], range: std::ops::Range<usize>) -> Cow<'_, [f32]> {
        let b = self.bytes();
        let Some(raw) = bytes.get(range.start * b..range.end * b) else {
            return Cow::Borrowed(&[]);
        };
        match self {
            StoredPrecision::F32 => Cow::Borrowed(bytemuck::cast_slice(raw)),
            StoredPrecision::F16 => Cow::Owned(
                bytemuck::cast_slice::<u8, half::f16>(raw)
                    .iter()
                    .map(|h| h.to_f32())
                    .collect(),
            ),
        }
    }
}

impl std::fmt::Display for StoredPrecision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            StoredPrecision::F32 => "f32",
            StoredPrecision::F16 => "f16",
        })
    }
}

impl std::str::FromStr for StoredPrecision {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(StoredPrecision::F32),
            "f16" => Ok(StoredPrecision::F16),
            _ => Err(format!("unknown stored-row precision `{s}` (f32 or f16)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_in_both_precisions() {
        let row = [0.0f32, 1.0, -0.5, 0.123_456_79, 1e-3, -7.25];
        for p in [StoredPrecision::F32, StoredPrecision::F16] {
            // Mapped files are 4-byte aligned: so is this buffer.
            let mut bytes: Vec<u8> = Vec::new();
            p.write_row(&mut bytes, &row).expect("write");
            p.write_row(&mut bytes, &row).expect("write");
            assert_eq!(bytes.len(), 2 * row.len() * p.bytes());
            let words: Vec<u32> = bytes
                .chunks(4)
                .map(|c| u32::from_ne_bytes(c.try_into().expect("4 bytes")))
                .collect();
            let aligned: &[u8] = bytemuck::cast_slice(&words);
            let back = p.read(aligned, row.len()..2 * row.len());
            assert_eq!(back.len(), row.len());
            for (a, b) in row.iter().zip(back.iter()) {
                // f16 keeps 11 significant bits: relative error <= 2^-11.
                let tol = if p == StoredPrecision::F16 {
                    a.abs() / 2048.0 + 1e-7
                } else {
                    0.0
                };
                assert!((a - b).abs() <= tol, "{p}: {a} read back as {b}");
            }
            assert!(p.read(aligned, 0..3 * row.len()).is_empty(), "out of range");
            assert_eq!(p.to_string().parse::<StoredPrecision>(), Ok(p));
        }
        assert!("f8".parse::<StoredPrecision>().is_err());
    }
}
