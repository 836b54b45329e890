//! `strata bench epoch`: what a dynasty's randomness and draw cost
//! (issue 26). RandShare over SCRAPE PVSS at committee size n (threshold
//! f+1): one dealing made and checked, one share decrypted and checked,
//! one secret recovered; and what the executor spends per epoch to check
//! them all (n dealings, n reveals of n shares, n recoveries), which is
//! the cost a boundary puts on every node. The sortition draw (VRF prove
//! and verify with the seat count) is per validator and epoch.

use parity_scale_codec::Encode;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use strata_chains::dynasty::fault_bound;
use strata_crypto::hash::Digest;
use strata_crypto::pvss::{self, DealingContext, PvssSecretKey};
use strata_crypto::sortition::{seats, sortition_input, verify_candidate, SortitionParams};
use strata_crypto::vrf::VrfSecretKey;

use super::timing::{median_us, Budget};

/// One committee size's figures (microseconds unless named otherwise).
#[derive(Clone, Debug, Serialize)]
pub struct EpochFigures {
    pub members: usize,
    pub threshold: usize,
    pub deal_us: f64,
    pub verify_dealing_us: f64,
    pub decrypt_share_us: f64,
    pub verify_share_us: f64,
    pub recover_us: f64,
    /// Every dealing, every share and every secret of one epoch, checked
    /// by one node's executor.
    pub executor_per_epoch_ms: f64,
    pub dealing_bytes: usize,
    /// One member's reveal: its share of every dealing.
    pub reveal_bytes: usize,
    pub vrf_prove_us: f64,
    pub candidacy_verify_us: f64,
}

pub fn run(sizes: &[usize]) -> Vec<EpochFigures> {
    let mut rng = ChaCha20Rng::seed_from_u64(26);
    sizes
        .iter()
        .map(|&n| {
            let n = n.clamp(1, pvss::MAX_PARTICIPANTS);
            let t = fault_bound(n) + 1;
            let keys: Vec<PvssSecretKey> =
                (0..n).map(|_| PvssSecretKey::random(&mut rng)).collect();
            let public: Vec<_> = keys.iter().map(|k| k.public_key()).collect();
            let ctx = DealingContext {
                epoch: 1,
                chain: 0,
                dealer: 0,
            };
            let budget = Budget::DEFAULT;
            let deal_us = median_us(budget, || pvss::deal(&mut rng, &ctx, t, &public));
            let (dealing, _) = pvss::deal(&mut rng, &ctx, t, &public).expect("valid parameters");
            let verify_dealing_us =
                median_us(budget, || pvss::verify_dealing(&ctx, t, &public, &dealing));
            let decrypt_share_us =
                median_us(budget, || pvss::decrypt_share(&keys[0], &ctx, 0, &dealing));
            let shares: Vec<_> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| pvss::decrypt_share(k, &ctx, i as u32, &dealing).expect("own share"))
                .collect();
            let verify_share_us = median_us(budget, || {
                pvss::verify_share(&ctx, &public[0], &dealing, &shares[0])
            });
            let recover_us = median_us(budget, || pvss::recover(t, &shares[..t]));
            let n_f = n as f64;
            let executor_per_epoch_ms =
                (n_f * verify_dealing_us + n_f * n_f * verify_share_us + n_f * recover_us) / 1000.0;
            let vrf = VrfSecretKey::random(&mut rng);
            let input = sortition_input(&Digest::of("seed", b"bench"), 0, 1);
            let vrf_prove_us = median_us(budget, || vrf.prove(&input));
            let params = SortitionParams {
                total_weight: 1000,
                expected_seats: 8,
            };
            // A proof that wins a seat, to measure the check a chain runs.
            let (output, proof) = vrf.prove(&input);
            let won = seats(&output, 1000, params).unwrap_or(0);
            let candidacy_verify_us = median_us(budget, || {
                verify_candidate(&vrf.public_key(), &input, &proof, 1000, params, won.max(1))
            });
            EpochFigures {
                members: n,
                threshold: t,
                deal_us,
                verify_dealing_us,
                decrypt_share_us,
                verify_share_us,
                recover_us,
                executor_per_epoch_ms,
                dealing_bytes: dealing.encode().len(),
                reveal_bytes: shares[0].encode().len().saturating_add(4) * n,
                vrf_prove_us,
                candidacy_verify_us,
            }
        })
        .collect()
}
