//! Cryptographic sortition (Algorand-style, docs/design.md §4; Microchain §6.1
//! committee selection).
//!
//! A validator of weight w out of W, with τ expected seats in all, holds j
//! seats where its VRF output, read as a fraction u ∈ [0, 1), falls in
//! [C(j−1), C(j)) of the Binomial(w, τ/W) distribution function C. Every
//! node must reach the same j from the same output, so the distribution is
//! computed with integer arithmetic only: a software floating point with a
//! 64-bit mantissa and a wide exponent, rounding down at each step. It never
//! underflows for realistic parameters (where an f64 would, e.g. 0.5^2000).

use std::cmp::Ordering;

use crate::hash::{Digest, Hasher};
use crate::vrf::{VrfError, VrfOutput, VrfProof, VrfPublicKey};

/// Why a sortition question could not be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SortitionError {
    #[error("total weight must be positive and expected seats at least one")]
    BadParameters,
    #[error("weight {weight} exceeds the total weight {total}")]
    WeightAboveTotal { weight: u64, total: u64 },
    #[error("candidate claims {claimed} seats, its proof gives {actual}")]
    WrongSeatCount { claimed: u64, actual: u64 },
    #[error("candidate was not selected")]
    NotSelected,
    #[error(transparent)]
    Vrf(#[from] VrfError),
}

/// The draw's parameters: total registered weight W and expected seats τ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortitionParams {
    pub total_weight: u64,
    pub expected_seats: u64,
}

/// The VRF input of a draw: `seed ‖ chain ‖ epoch` under a domain tag.
pub fn sortition_input(seed: &Digest, chain: u32, epoch: u64) -> Vec<u8> {
    let mut h = Hasher::new("strata/sortition");
    h.update(&seed.0)
        .update(&chain.to_le_bytes())
        .update(&epoch.to_le_bytes());
    h.finalize().0.to_vec()
}

/// Seats won by a validator of `weight` whose VRF output is `output`.
pub fn seats(
    output: &VrfOutput,
    weight: u64,
    params: SortitionParams,
) -> Result<u64, SortitionError> {
    let SortitionParams {
        total_weight: total,
        expected_seats: tau,
    } = params;
    if total == 0 || tau == 0 {
        return Err(SortitionError::BadParameters);
    }
    if weight > total {
        return Err(SortitionError::WeightAboveTotal { weight, total });
    }
    if weight == 0 {
        return Ok(0);
    }
    if tau >= total {
        // Every unit of weight is a seat with probability one.
        return Ok(weight);
    }
    let u = output_fraction(output);
    let q = SoftFloat::ratio(total - tau, total); // 1 − p
    let odds = SoftFloat::ratio(tau, total - tau); // p / (1 − p)
    let mut term = q.pow(weight); // P(X = 0)
    let mut cdf = term;
    let mut j: u64 = 0;
    while j < weight && cdf <= u {
        // P(X = j+1) = P(X = j) · (w − j)/(j + 1) · p/(1 − p)
        term = term.mul_int(weight - j).div_int(j + 1).mul(odds);
        j += 1;
        let next = cdf.add(term);
        // Past the mean, once terms no longer move the sum, the remaining
        // tail is below the precision of u: stop deterministically.
        if next == cdf && (j as u128) * (total as u128) > (weight as u128) * (tau as u128) {
            break;
        }
        cdf = next;
    }
    Ok(j)
}

/// Verifies a candidacy: the VRF proof on `input`, and that it wins exactly
/// `claimed` (non-zero) seats for `weight`. Returns the VRF output, which
/// orders candidates when the committee is capped.
pub fn verify_candidate(
    key: &VrfPublicKey,
    input: &[u8],
    proof: &VrfProof,
    weight: u64,
    params: SortitionParams,
    claimed: u64,
) -> Result<VrfOutput, SortitionError> {
    let output = key.verify(input, proof)?;
    let actual = seats(&output, weight, params)?;
    if actual == 0 {
        return Err(SortitionError::NotSelected);
    }
    if actual != claimed {
        return Err(SortitionError::WrongSeatCount { claimed, actual });
    }
    Ok(output)
}

/// The first 64 bits of the output as a fraction of 2^64.
fn output_fraction(output: &VrfOutput) -> SoftFloat {
    let mut top = [0u8; 8];
    top.copy_from_slice(&output.0[..8]);
    SoftFloat::normalise(u64::from_be_bytes(top) as u128, -64)
}

/// A non-negative number `mant · 2^exp` with `mant` in [2^63, 2^64), or zero.
/// Every operation truncates, so results are bit-identical everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SoftFloat {
    mant: u64,
    exp: i64,
}

/// Below 2^(−2^40) a value is flushed to zero (far beyond any probability
/// that matters, and it keeps exponent arithmetic far from overflow).
const MIN_EXP: i64 = -(1 << 40);

impl SoftFloat {
    const ZERO: SoftFloat = SoftFloat { mant: 0, exp: 0 };

    /// `v · 2^exp`, normalised.
    fn normalise(v: u128, exp: i64) -> SoftFloat {
        if v == 0 {
            return SoftFloat::ZERO;
        }
        let bits = 128 - v.leading_zeros() as i64;
        let (mant, exp) = if bits > 64 {
            ((v >> (bits - 64)) as u64, exp + (bits - 64))
        } else {
            ((v << (64 - bits)) as u64, exp - (64 - bits))
        };
        if exp < MIN_EXP {
            SoftFloat::ZERO
        } else {
            SoftFloat { mant, exp }
        }
    }

    fn is_zero(self) -> bool {
        self.mant == 0
    }

    fn ratio(num: u64, den: u64) -> SoftFloat {
        SoftFloat::normalise(((num as u128) << 64) / den as u128, -64)
    }

    fn mul(self, o: SoftFloat) -> SoftFloat {
        if self.is_zero() || o.is_zero() {
            return SoftFloat::ZERO;
        }
        SoftFloat::normalise(self.mant as u128 * o.mant as u128, self.exp + o.exp)
    }

    fn mul_int(self, k: u64) -> SoftFloat {
        if self.is_zero() {
            return SoftFloat::ZERO;
        }
        SoftFloat::normalise(self.mant as u128 * k as u128, self.exp)
    }

    fn div_int(self, d: u64) -> SoftFloat {
        if self.is_zero() {
            return SoftFloat::ZERO;
        }
        SoftFloat::normalise(((self.mant as u128) << 64) / d as u128, self.exp - 64)
    }

    fn add(self, o: SoftFloat) -> SoftFloat {
        let (big, small) = match self.cmp(&o) {
            Ordering::Less => (o, self),
            _ => (self, o),
        };
        if small.is_zero() {
            return big;
        }
        let shift = (big.exp - small.exp) as u64;
        let a = (big.mant as u128) << 63;
        let b = if shift >= 127 {
            0
        } else {
            ((small.mant as u128) << 63) >> shift
        };
        SoftFloat::normalise(a + b, big.exp - 63)
    }

    fn pow(self, mut n: u64) -> SoftFloat {
        let mut base = self;
        let mut acc = SoftFloat::normalise(1, 0);
        while n > 0 {
            if n & 1 == 1 {
                acc = acc.mul(base);
            }
            base = base.mul(base);
            n >>= 1;
        }
        acc
    }
}

impl PartialOrd for SoftFloat {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SoftFloat {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            // Both normalised: the exponent decides, then the mantissa.
            _ => self.exp.cmp(&other.exp).then(self.mant.cmp(&other.mant)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vrf::VrfSecretKey;
    use rand_chacha::rand_core::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn output_with_fraction(u: u64, salt: u8) -> VrfOutput {
        let mut o = [salt; 64];
        o[..8].copy_from_slice(&u.to_be_bytes());
        VrfOutput(o)
    }

    fn params(total: u64, tau: u64) -> SortitionParams {
        SortitionParams {
            total_weight: total,
            expected_seats: tau,
        }
    }

    fn to_f64(x: SoftFloat) -> f64 {
        if x.is_zero() {
            0.0
        } else {
            x.mant as f64 * 2f64.powi(x.exp as i32)
        }
    }

    /// Reference: seats from the binomial CDF in f64 log space (tests may
    /// use floats; the implementation may not).
    fn reference_seats(u: f64, w: u64, p: f64) -> u64 {
        let ln_q = (1.0 - p).ln();
        let ln_odds = (p / (1.0 - p)).ln();
        let mut ln_term = w as f64 * ln_q;
        let mut cdf = ln_term.exp();
        let mut j = 0;
        while j < w && cdf <= u {
            ln_term += ((w - j) as f64).ln() - ((j + 1) as f64).ln() + ln_odds;
            j += 1;
            cdf += ln_term.exp();
        }
        j
    }

    #[test]
    fn soft_float_arithmetic() {
        let half = SoftFloat::ratio(1, 2);
        assert_eq!(to_f64(half), 0.5);
        assert_eq!(to_f64(half.mul(half)), 0.25);
        assert_eq!(to_f64(half.add(half)), 1.0);
        assert_eq!(to_f64(SoftFloat::ratio(3, 4).mul_int(4).div_int(3)), 1.0);
        assert!(SoftFloat::ratio(1, 3) < SoftFloat::ratio(1, 2));
        assert!(SoftFloat::ZERO < SoftFloat::ratio(1, u64::MAX));
        // 0.5^2000 underflows an f64 but not this type.
        let tiny = half.pow(2000);
        assert!(!tiny.is_zero());
        assert_eq!(tiny.exp + 63, -2000);
        assert_eq!(half.pow(0), SoftFloat::normalise(1, 0));
    }

    #[test]
    fn parameters_are_checked() {
        let o = output_with_fraction(0, 0);
        assert_eq!(
            seats(&o, 1, params(0, 1)),
            Err(SortitionError::BadParameters)
        );
        assert_eq!(
            seats(&o, 1, params(10, 0)),
            Err(SortitionError::BadParameters)
        );
        assert_eq!(
            seats(&o, 11, params(10, 1)),
            Err(SortitionError::WeightAboveTotal {
                weight: 11,
                total: 10
            })
        );
        assert_eq!(seats(&o, 0, params(10, 3)), Ok(0));
        assert_eq!(seats(&o, 7, params(10, 10)), Ok(7));
    }

    #[test]
    fn seats_grow_with_the_output_fraction() {
        let p = params(1000, 50);
        let mut last = 0;
        for k in 0..=256u64 {
            let u = if k == 256 { u64::MAX } else { k << 56 };
            let s = seats(&output_with_fraction(u, 1), 200, p).unwrap();
            assert!(s >= last);
            last = s;
        }
        assert_eq!(seats(&output_with_fraction(0, 1), 200, p), Ok(0));
        assert!(last > 10 && last <= 200);
    }

    #[test]
    fn matches_a_floating_point_reference_away_from_boundaries() {
        let cases = [
            (1000u64, 10u64, 50u64),
            (1000, 500, 100),
            (10_000, 3000, 2000),
            (100, 1, 1),
        ];
        for &(total, w, tau) in &cases {
            let p = tau as f64 / total as f64;
            for k in 1..200u64 {
                let u = k * (u64::MAX / 200);
                let uf = u as f64 / 2f64.powi(64);
                let ours = seats(&output_with_fraction(u, 2), w, params(total, tau)).unwrap();
                let theirs = reference_seats(uf, w, p);
                // Near a CDF step the two may round differently by one.
                let near =
                    reference_seats((uf - 1e-9).max(0.0), w, p) != reference_seats(uf + 1e-9, w, p);
                if !near {
                    assert_eq!(ours, theirs, "total {total} w {w} tau {tau} u {uf}");
                }
            }
        }
    }

    #[test]
    fn mean_seats_match_expectation() {
        // 4000 hash-derived outputs; mean seats ≈ w·τ/W = 8.
        let (w, total, tau) = (400u64, 5000u64, 100u64);
        let mut sum = 0u64;
        for i in 0..4000u32 {
            let d = Digest::of("test", &i.to_le_bytes());
            let mut o = [0u8; 64];
            o[..32].copy_from_slice(&d.0);
            sum += seats(&VrfOutput(o), w, params(total, tau)).unwrap();
        }
        let mean = sum as f64 / 4000.0;
        assert!((mean - 8.0).abs() < 0.3, "mean {mean}");
    }

    #[test]
    fn huge_weights_terminate() {
        let p = params(1 << 50, 1000);
        for salt in 0..4u8 {
            let s = seats(&output_with_fraction(u64::MAX, salt), 1 << 49, p).unwrap();
            // Mean 500, σ ≈ 22: the very top of [0, 1) is a few σ out.
            assert!(s > 500 && s < 800, "{s}");
        }
    }

    #[test]
    fn candidates_are_verified() {
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        let p = params(100, 20);
        let input = sortition_input(&Digest::of("seed", b"e7"), 0, 8);
        let mut checked = 0;
        for _ in 0..40 {
            let sk = VrfSecretKey::random(&mut rng);
            let pk = sk.public_key();
            let (out, proof) = sk.prove(&input);
            let s = seats(&out, 30, p).unwrap();
            if s == 0 {
                assert_eq!(
                    verify_candidate(&pk, &input, &proof, 30, p, 1),
                    Err(SortitionError::NotSelected)
                );
                continue;
            }
            checked += 1;
            assert_eq!(verify_candidate(&pk, &input, &proof, 30, p, s), Ok(out));
            assert_eq!(
                verify_candidate(&pk, &input, &proof, 30, p, s + 1),
                Err(SortitionError::WrongSeatCount {
                    claimed: s + 1,
                    actual: s
                })
            );
            let other = sortition_input(&Digest::of("seed", b"e7"), 0, 9);
            assert_eq!(
                verify_candidate(&pk, &other, &proof, 30, p, s),
                Err(SortitionError::Vrf(VrfError::InvalidProof))
            );
        }
        assert!(checked > 20);
    }
}
