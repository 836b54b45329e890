//! The BLS12-381 scalar field F_r, for Shamir sharing and Lagrange weights.
//!
//! A thin safe wrapper over blst's `blst_fr` (Montgomery form). All `unsafe`
//! here is calls into blst on values owned by this module.

use std::ops::{Add, Mul, Neg, Sub};

use blst::{blst_fr, blst_scalar};
use rand_core::{CryptoRng, RngCore};

/// An element of the scalar field of BLS12-381.
#[derive(Clone, Copy, Default)]
pub struct Fr(blst_fr);

impl Fr {
    pub fn from_u64(v: u64) -> Fr {
        let limbs = [v, 0, 0, 0];
        let mut out = blst_fr::default();
        // SAFETY: blst reads four limbs from `limbs` and writes `out`.
        unsafe { blst::blst_fr_from_uint64(&mut out, limbs.as_ptr()) };
        Fr(out)
    }

    /// Reduces an arbitrary big-endian byte string modulo r (uniform for
    /// inputs of 64 bytes or more).
    pub fn from_be_bytes_reduced(bytes: &[u8]) -> Fr {
        let mut s = blst_scalar::default();
        // SAFETY: blst reads `bytes.len()` bytes and writes `s`.
        unsafe { blst::blst_scalar_from_be_bytes(&mut s, bytes.as_ptr(), bytes.len()) };
        Fr::from_scalar(&s)
    }

    /// Parses a canonical (fully reduced) 32-byte big-endian encoding.
    pub fn from_be_bytes(bytes: &[u8; 32]) -> Option<Fr> {
        let mut s = blst_scalar::default();
        // SAFETY: blst reads 32 bytes and writes `s`; then checks `s < r`.
        let canonical = unsafe {
            blst::blst_scalar_from_bendian(&mut s, bytes.as_ptr());
            blst::blst_scalar_fr_check(&s)
        };
        canonical.then(|| Fr::from_scalar(&s))
    }

    pub fn random<R: RngCore + CryptoRng>(rng: &mut R) -> Fr {
        let mut wide = [0u8; 64];
        rng.fill_bytes(&mut wide);
        Fr::from_be_bytes_reduced(&wide)
    }

    fn from_scalar(s: &blst_scalar) -> Fr {
        let mut out = blst_fr::default();
        // SAFETY: converts an owned scalar into an owned field element.
        unsafe { blst::blst_fr_from_scalar(&mut out, s) };
        Fr(out)
    }

    pub(crate) fn to_scalar(self) -> blst_scalar {
        let mut s = blst_scalar::default();
        // SAFETY: converts an owned field element into an owned scalar.
        unsafe { blst::blst_scalar_from_fr(&mut s, &self.0) };
        s
    }

    /// Little-endian canonical bytes, the scalar format of blst's
    /// multi-scalar multiplication.
    pub fn to_le_bytes(self) -> [u8; 32] {
        self.to_scalar().b
    }

    /// Big-endian canonical bytes, the format of a BLS secret key.
    pub fn to_be_bytes(self) -> [u8; 32] {
        let s = self.to_scalar();
        let mut out = [0u8; 32];
        // SAFETY: writes 32 bytes into `out`.
        unsafe { blst::blst_bendian_from_scalar(out.as_mut_ptr(), &s) };
        out
    }
}

impl PartialEq for Fr {
    fn eq(&self, other: &Fr) -> bool {
        // blst keeps elements fully reduced, so limbs are canonical.
        self.0.l == other.0.l
    }
}

impl Eq for Fr {}

impl std::fmt::Debug for Fr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fr({})", hex::encode(self.to_be_bytes()))
    }
}

impl Add for Fr {
    type Output = Fr;
    fn add(self, rhs: Fr) -> Fr {
        let mut out = blst_fr::default();
        // SAFETY: owned operands and output.
        unsafe { blst::blst_fr_add(&mut out, &self.0, &rhs.0) };
        Fr(out)
    }
}

impl Sub for Fr {
    type Output = Fr;
    fn sub(self, rhs: Fr) -> Fr {
        let mut out = blst_fr::default();
        // SAFETY: owned operands and output.
        unsafe { blst::blst_fr_sub(&mut out, &self.0, &rhs.0) };
        Fr(out)
    }
}

impl Mul for Fr {
    type Output = Fr;
    fn mul(self, rhs: Fr) -> Fr {
        let mut out = blst_fr::default();
        // SAFETY: owned operands and output.
        unsafe { blst::blst_fr_mul(&mut out, &self.0, &rhs.0) };
        Fr(out)
    }
}

impl Neg for Fr {
    type Output = Fr;
    fn neg(self) -> Fr {
        <Fr as Field>::zero() - self
    }
}

/// What Shamir sharing needs of a prime field; implemented for the BLS12-381
/// scalar field (threshold BLS) and the ristretto255 scalar field (PVSS), so
/// interpolation is written once.
pub trait Field:
    Copy + PartialEq + Add<Output = Self> + Sub<Output = Self> + Mul<Output = Self>
{
    fn zero() -> Self;
    fn one() -> Self;
    fn from_u64(v: u64) -> Self;
    /// The multiplicative inverse, `None` for zero.
    fn invert(&self) -> Option<Self>;
    fn is_zero(&self) -> bool {
        *self == Self::zero()
    }
}

impl Field for Fr {
    fn zero() -> Fr {
        Fr(blst_fr::default())
    }
    fn one() -> Fr {
        Fr::from_u64(1)
    }
    fn from_u64(v: u64) -> Fr {
        Fr::from_u64(v)
    }
    fn invert(&self) -> Option<Fr> {
        if self.0.l == [0u64; 4] {
            return None;
        }
        let mut out = blst_fr::default();
        // SAFETY: inverts an owned non-zero field element.
        unsafe { blst::blst_fr_eucl_inverse(&mut out, &self.0) };
        Some(Fr(out))
    }
}

impl Field for curve25519_dalek::Scalar {
    fn zero() -> Self {
        curve25519_dalek::Scalar::ZERO
    }
    fn one() -> Self {
        curve25519_dalek::Scalar::ONE
    }
    fn from_u64(v: u64) -> Self {
        curve25519_dalek::Scalar::from(v)
    }
    fn invert(&self) -> Option<Self> {
        (*self != curve25519_dalek::Scalar::ZERO).then(|| curve25519_dalek::Scalar::invert(self))
    }
}

/// Inverts every element with one field inversion (Montgomery's trick).
/// Returns `None`, leaving `values` untouched, if any element is zero.
pub fn batch_invert<F: Field>(values: &mut [F]) -> Option<()> {
    let mut prefix = Vec::with_capacity(values.len());
    let mut acc = F::one();
    for v in values.iter() {
        prefix.push(acc);
        acc = acc * *v;
    }
    let mut inv = acc.invert()?;
    for (v, before) in values.iter_mut().zip(prefix).rev() {
        let next_inv = inv * *v;
        *v = inv * before;
        inv = next_inv;
    }
    Some(())
}

/// Evaluates the polynomial with `coefficients` (constant term first) at `x`.
pub fn eval_poly<F: Field>(coefficients: &[F], x: F) -> F {
    coefficients
        .iter()
        .rev()
        .fold(F::zero(), |acc, c| acc * x + *c)
}

/// Lagrange coefficients for interpolating at x = 0 from the points `xs`
/// (distinct, non-zero): λ_i = Π_{j≠i} x_j / (x_j − x_i). O(k²) field
/// multiplications and a single inversion; `None` if two points coincide.
pub fn lagrange_at_zero<F: Field>(xs: &[F]) -> Option<Vec<F>> {
    let mut numerators = Vec::with_capacity(xs.len());
    let mut denominators = Vec::with_capacity(xs.len());
    for (i, xi) in xs.iter().enumerate() {
        let mut num = F::one();
        let mut den = F::one();
        for (j, xj) in xs.iter().enumerate() {
            if i != j {
                num = num * *xj;
                den = den * (*xj - *xi);
            }
        }
        numerators.push(num);
        denominators.push(den);
    }
    batch_invert(&mut denominators)?;
    Some(
        numerators
            .into_iter()
            .zip(denominators)
            .map(|(n, d)| n * d)
            .collect(),
    )
}

/// `lagrange_at_zero` at the integer points `xs` (share indices:
/// distinct, non-zero). The same coefficients in O(k²) machine-integer
/// operations and O(k) field multiplications: the numerators from prefix
/// and suffix products, each denominator Π_{j≠i} (x_j − x_i) multiplied as
/// integers a few differences at a time (each below 2^32), with its sign
/// kept apart. At k = 683 this is what makes a combination cheap (the
/// field version spends ~2k² multiplications).
pub fn lagrange_at_zero_indices<F: Field + std::ops::Neg<Output = F>>(
    xs: &[u32],
) -> Option<Vec<F>> {
    if xs.contains(&0) {
        return None;
    }
    let k = xs.len();
    let fx: Vec<F> = xs.iter().map(|&x| F::from_u64(u64::from(x))).collect();
    // Π_{j<i} x_j and Π_{j>i} x_j.
    let mut prefix = Vec::with_capacity(k);
    let mut acc = F::one();
    for x in &fx {
        prefix.push(acc);
        acc = acc * *x;
    }
    let mut suffix = vec![F::one(); k];
    let mut acc = F::one();
    for i in (0..k).rev() {
        suffix[i] = acc;
        acc = acc * fx[i];
    }
    let mut denominators = Vec::with_capacity(k);
    let mut negative = Vec::with_capacity(k);
    for (i, &xi) in xs.iter().enumerate() {
        let mut den = F::one();
        let mut chunk: u64 = 1;
        let mut below = 0usize;
        for (j, &xj) in xs.iter().enumerate() {
            if i == j {
                continue;
            }
            if xj == xi {
                return None;
            }
            below += usize::from(xj < xi);
            let d = u64::from(xj.abs_diff(xi));
            chunk = match chunk.checked_mul(d) {
                Some(c) => c,
                None => {
                    den = den * F::from_u64(chunk);
                    d
                }
            };
        }
        denominators.push(den * F::from_u64(chunk));
        negative.push(below % 2 == 1);
    }
    batch_invert(&mut denominators)?;
    Some(
        (0..k)
            .map(|i| {
                let lambda = prefix[i] * suffix[i] * denominators[i];
                if negative[i] {
                    -lambda
                } else {
                    lambda
                }
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn integer_lagrange_matches_the_field_version(
            set in proptest::collection::btree_set(1u32..5000, 1..40)
        ) {
            let xs: Vec<u32> = set.into_iter().collect();
            let fast: Vec<Fr> = lagrange_at_zero_indices(&xs).unwrap();
            let field: Vec<Fr> = xs.iter().map(|&x| Fr::from_u64(u64::from(x))).collect();
            prop_assert_eq!(fast, lagrange_at_zero(&field).unwrap());
            let fast: Vec<curve25519_dalek::Scalar> = lagrange_at_zero_indices(&xs).unwrap();
            let field: Vec<curve25519_dalek::Scalar> =
                xs.iter().map(|&x| curve25519_dalek::Scalar::from(u64::from(x))).collect();
            prop_assert_eq!(fast, lagrange_at_zero(&field).unwrap());
        }
    }

    #[test]
    fn integer_lagrange_refuses_zero_and_repeated_points() {
        assert!(lagrange_at_zero_indices::<Fr>(&[1, 0, 3]).is_none());
        assert!(lagrange_at_zero_indices::<Fr>(&[2, 5, 2]).is_none());
    }

    fn fr(v: u64) -> Fr {
        Fr::from_u64(v)
    }

    fn zero() -> Fr {
        <Fr as Field>::zero()
    }

    fn one() -> Fr {
        <Fr as Field>::one()
    }

    #[test]
    fn small_arithmetic() {
        assert_eq!(fr(2) + fr(3), fr(5));
        assert_eq!(fr(2) * fr(3), fr(6));
        assert_eq!(fr(3) - fr(5) + fr(2), zero());
        assert_eq!(-fr(1) + fr(1), zero());
        assert_eq!(fr(7).invert().unwrap() * fr(7), one());
        assert!(zero().invert().is_none());
    }

    #[test]
    fn canonical_parsing_rejects_values_at_or_above_r() {
        // r = 0x73eda753...00000001
        let r = hex::decode("73eda753299d7d483339d80809a1d80553bda402fffe5bfeffffffff00000001")
            .unwrap();
        let r: [u8; 32] = r.try_into().unwrap();
        assert!(Fr::from_be_bytes(&r).is_none());
        let mut below = r;
        below[31] = 0;
        let v = Fr::from_be_bytes(&below).unwrap();
        assert_eq!(v + fr(1), zero());
        assert_eq!(Fr::from_be_bytes_reduced(&r), zero());
    }

    #[test]
    fn batch_invert_refuses_zero() {
        let mut v = vec![fr(1), zero(), fr(3)];
        assert!(batch_invert(&mut v).is_none());
        assert_eq!(v[2], fr(3));
    }

    #[test]
    fn lagrange_recovers_constant_term() {
        // p(x) = 5 + 2x + 3x^2 sampled at 1, 4, 9.
        let p = |x: u64| fr(5) + fr(2) * fr(x) + fr(3) * fr(x) * fr(x);
        let xs = [fr(1), fr(4), fr(9)];
        let l = lagrange_at_zero(&xs).unwrap();
        let at0 = l[0] * p(1) + l[1] * p(4) + l[2] * p(9);
        assert_eq!(at0, fr(5));
        assert!(lagrange_at_zero(&[fr(1), fr(1)]).is_none());
    }

    proptest! {
        #[test]
        fn field_laws(a in any::<[u8; 64]>(), b in any::<[u8; 64]>(), c in any::<[u8; 64]>()) {
            let (a, b, c) = (
                Fr::from_be_bytes_reduced(&a),
                Fr::from_be_bytes_reduced(&b),
                Fr::from_be_bytes_reduced(&c),
            );
            prop_assert_eq!(a * (b + c), a * b + a * c);
            prop_assert_eq!(a + b - b, a);
            if !a.is_zero() {
                prop_assert_eq!(a * a.invert().unwrap(), one());
            }
            prop_assert_eq!(Fr::from_be_bytes(&a.to_be_bytes()), Some(a));
            let mut v = vec![a, b, c];
            if batch_invert(&mut v).is_some() {
                prop_assert_eq!(v[1] * b, one());
            }
        }
    }
}
