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
kernel!(
    /// Dot product of f32 `a` with i8 codes `b` (scale applied by the caller).
    dot_i8, dot_i8_avx2, dot_i8_portable, i8, |x, y| x * f32::from(y)
);

/// Scales `v` to unit length (leaves an all-zero vector as it is).
pub fn l2_normalise(v: &mut [f32]) {
    let n = dot(v, v).sqrt();
    if n > 0.0 && n.is_finite() {
        for x in v {
            *x /= n;
        }
    }
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
        let codes: Vec<i8> = (0..1283).map(|i| ((i * 13) % 255) as i8).collect();
        let naive_i8: f64 = a
            .iter()
            .zip(&codes)
            .map(|(x, c)| f64::from(*x) * f64::from(*c))
            .sum();
        assert!((f64::from(dot_i8(&a, &codes)) - naive_i8).abs() < 1e-2);
        assert!((dot_i8_portable(&a, &codes) - dot_i8(&a, &codes)).abs() < 1e-2);
    }
}
