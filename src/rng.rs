//! The seeded random generator every reproducible choice uses: evaluation
//! samples, training's initialisation, shuffles and dropout, synthetic test
//! data. One small generator, so that a seed gives the same numbers on
//! every machine and build (no dependency's algorithm can change under us).

/// SplitMix64: a tiny, well-mixed, seedable generator, so that the sample
/// is identical on every machine and build.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}
