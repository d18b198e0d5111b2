//! Vector maths shared by embedding and search: dot products and distances
//! written so that the compiler vectorises them.
//!
//! The loops keep 16 independent accumulators (floating-point addition is not
//! associative, so LLVM will not reorder a single running sum into SIMD
//! lanes by itself). On x86-64 the same code is also compiled with AVX2+FMA
//! and picked at run time when the CPU has it.

/// Generates `pub fn $name(a: &[f32], b: &[$t]) -> f32`, the lane sum of
/// `$term(a[i], b[i])`, with an AVX2+FMA copy of the same loop chosen at run
/// time, and `$portable`, the copy without it (for tests).
macro_rules! kernel {
    ($(#[$doc:meta])* $name:ident, $avx2:ident, $portable:ident, $t:ty, $term:expr) => {
        $(#[$doc])*
        #[inline]
        pub fn $name(a: &[f32], b: &[$t]) -> f32 {
            #[cfg(target_arch = "x86_64")]
            {
                if has_avx2_fma() {
                    // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                    return unsafe { $avx2(a, b) };
                }
            }
            $portable(a, b)
        }

        #[inline]
        fn $portable(a: &[f32], b: &[$t]) -> f32 {
            lane_sum(a, b, $term)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2(a: &[f32], b: &[$t]) -> f32 {
            lane_sum(a, b, $term)
        }
    };
}

// Plain multiply-then-add (not `mul_add`): without an FMA target feature,
// `mul_add` is a slow libm call, and the AVX2 build vectorises this as is.
kernel!(
    /// Dot product of two equal-length slices.
    dot, dot_avx2, dot_portable, f32, |x, y| x * y
);
kernel!(
    /// Squared Euclidean distance of two equal-length slices.
    squared_l2, squared_l2_avx2, squared_l2_portable, f32, |x, y| (x - y) * (x - y)
);

/// Dot product of i16 `a` with i8 `b` over the common length, exact in i32
/// as long as `len * 2^15 * 2^7` fits (callers bound `a`'s values by the
/// length; see `QueryCodes`). The AVX2 copy
/// multiplies 16 pairs and adds them pairwise in one instruction
/// (`vpmaddwd`), about three times fewer operations than converting the i8
/// codes to f32.
#[inline]
pub fn dot_i16_i8(a: &[i16], b: &[i8]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { dot_i16_i8_avx2(a, b) };
        }
    }
    dot_i16_i8_portable(a, b)
}

#[inline]
fn dot_i16_i8_portable(a: &[i16], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i32::from(x) * i32::from(y))
        .fold(0i32, i32::wrapping_add)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_i16_i8_avx2(a: &[i16], b: &[i8]) -> i32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n, the length of both slices, so the 16 i8 and
        // 16 i16 read here are in bounds; the loads are unaligned ones.
        let (x, y) = unsafe {
            (
                _mm256_loadu_si256(a.as_ptr().add(i).cast::<__m256i>()),
                _mm_loadu_si128(b.as_ptr().add(i).cast::<__m128i>()),
            )
        };
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(x, _mm256_cvtepi8_epi16(y)));
        i += 16;
    }
    let half = _mm_add_epi32(
        _mm256_castsi256_si128(acc),
        _mm256_extracti128_si256::<1>(acc),
    );
    let pair = _mm_add_epi32(half, _mm_shuffle_epi32::<0b01_00_11_10>(half));
    let one = _mm_add_epi32(pair, _mm_shuffle_epi32::<0b10_11_00_01>(pair));
    let tail = dot_i16_i8_portable(&a[i..n], &b[i..n]);
    _mm_cvtsi128_si32(one).wrapping_add(tail)
}

/// Scales `v` to unit length (leaves an all-zero vector as it is).
pub fn l2_normalise(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 && n.is_finite() {
        for x in v {
            *x /= n;
        }
    }
}

/// `normalise(matrix (x - mean))` for a row-major `matrix` of
/// `rows x mean.len()`: the projection step, shared with the learned head's
/// instance part.
pub fn project(mean: &[f32], matrix: &[f32], x: &[f32]) -> Vec<f32> {
    let centred: Vec<f32> = x.iter().zip(mean).map(|(v, m)| v - m).collect();
    let mut y: Vec<f32> = matrix
        .chunks_exact(mean.len().max(1))
        .map(|axis| dot(axis, &centred))
        .collect();
    l2_normalise(&mut y);
    y
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2_fma() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    static CACHE: AtomicU8 = AtomicU8::new(0);
    match CACHE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma");
            CACHE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

const LANES: usize = 16;

/// The sum of `term(a[i], b[i])` over the common length, in `LANES`
/// independent accumulators; inlined into each kernel so that each copy is
/// vectorised for its target features.
#[inline(always)]
fn lane_sum<T: Copy>(a: &[f32], b: &[T], term: impl Fn(f32, T) -> f32) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..LANES {
            acc[i] += term(x[i], y[i]);
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        sum += term(*x, *y);
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_cases() {
        assert_eq!(dot(&[1.0, 2.0, 3.0], &[4.0, -5.0, 6.0]), 12.0);
        assert_eq!(
            squared_l2(&[1.0, 2.0, 3.0], &[4.0, -5.0, 6.0]),
            9.0 + 49.0 + 9.0
        );
        let mut v = [3.0, 4.0];
        l2_normalise(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0, 0.0];
        l2_normalise(&mut z);
        assert_eq!(z, [0.0, 0.0]);
    }

    #[test]
    fn integer_dot_is_exact() {
        // 1283 = 80 full blocks of 16 + a remainder of 3; extreme values.
        let a: Vec<i16> = (0..1283)
            .map(|i| ((i * 7919) % 26_153) as i16 - 13_076)
            .collect();
        let mut b: Vec<i8> = (0..1283).map(|i| ((i * 31) % 256) as u8 as i8).collect();
        b[0] = -128;
        let naive: i64 = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| i64::from(x) * i64::from(y))
            .sum();
        assert_eq!(i64::from(dot_i16_i8(&a, &b)), naive);
        assert_eq!(dot_i16_i8_portable(&a, &b), dot_i16_i8(&a, &b));
        for n in [0, 1, 15, 16, 17, 33] {
            let naive: i32 = a[..n]
                .iter()
                .zip(&b)
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
            assert_eq!(dot_i16_i8(&a[..n], &b[..n]), naive, "n={n}");
        }
    }

    #[test]
    fn long_vectors_match_naive_sums() {
        // 1283 = 80 full chunks + a remainder of 3.
        let a: Vec<f32> = (0..1283)
            .map(|i| ((i * 7) % 13) as f32 / 13.0 - 0.5)
            .collect();
        let b: Vec<f32> = (0..1283)
            .map(|i| ((i * 5) % 11) as f32 / 11.0 - 0.5)
            .collect();
        let naive_dot: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum();
        let naive_l2: f64 = a
            .iter()
            .zip(&b)
            .map(|(x, y)| f64::from(x - y).powi(2))
            .sum();
        assert!((f64::from(dot(&a, &b)) - naive_dot).abs() < 1e-3);
        assert!((f64::from(squared_l2(&a, &b)) - naive_l2).abs() < 1e-3);
        assert!((dot_portable(&a, &b) - dot(&a, &b)).abs() < 1e-3);
        assert!((squared_l2_portable(&a, &b) - squared_l2(&a, &b)).abs() < 1e-3);
    }
}
