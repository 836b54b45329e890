//! `strata bench sigs --dkg 4,16,64,128`: what a committee's dealerless
//! key generation costs (issue 27, point 1; `crypto/src/dkg.rs`) at
//! committee size n with threshold t = ⌈2n/3⌉: one dealing made, one
//! checked (shape, encodings, proof of possession), one member's share
//! opened and checked against the commitments, a complaint judged, and
//! the completion (group key and every share key from the qualified
//! dealings). Per node and run: n dealings checked, n shares opened, one
//! completion.

use parity_scale_codec::Encode;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use strata_crypto::dkg::{self, CheckedDealing, DkgContext};
use strata_crypto::pvss::PvssSecretKey;

use super::timing::{median_us, Budget};

#[derive(Clone, Debug, Serialize)]
pub struct DkgFigures {
    pub members: u32,
    pub threshold: u32,
    pub deal_ms: f64,
    pub check_dealing_ms: f64,
    pub open_share_ms: f64,
    pub complete_ms: f64,
    /// One member's whole run: n dealings checked, n shares opened, the
    /// completion.
    pub member_run_ms: f64,
    pub dealing_bytes: usize,
}

/// t = ⌈2n/3⌉, the threshold the issue measures at.
pub fn two_thirds(n: u32) -> u32 {
    (2 * n).div_ceil(3).max(1)
}

pub fn run(sizes: &[u32]) -> Vec<DkgFigures> {
    let mut rng = ChaCha20Rng::seed_from_u64(27);
    sizes
        .iter()
        .map(|&n| {
            let n = n.clamp(1, strata_crypto::threshold::MAX_PARTICIPANTS);
            let t = two_thirds(n);
            let ctx = DkgContext {
                chain: 0,
                epoch: 1,
                threshold: t,
                participants: n,
            };
            let sks: Vec<PvssSecretKey> = (0..n).map(|_| PvssSecretKey::random(&mut rng)).collect();
            let pks: Vec<_> = sks.iter().map(|k| k.public_key()).collect();
            let budget = Budget::DEFAULT;
            let deal_us = median_us(budget, || dkg::deal(&mut rng, &ctx, 0, &pks));
            let dealings: Vec<_> = (0..n)
                .map(|i| dkg::deal(&mut rng, &ctx, i, &pks).expect("valid parameters"))
                .collect();
            let check_us = median_us(budget, || dkg::check_dealing(&ctx, &dealings[0]));
            let checked: Vec<CheckedDealing> = dealings
                .iter()
                .map(|d| dkg::check_dealing(&ctx, d).expect("an honest dealing"))
                .collect();
            let open_us = median_us(budget, || checked[0].open(&mut rng, &ctx, 1, &sks[1]));
            let complete_us = median_us(budget, || dkg::group_public(&ctx, &checked));
            let ms = |us: f64| us / 1000.0;
            let nf = f64::from(n);
            DkgFigures {
                members: n,
                threshold: t,
                deal_ms: ms(deal_us),
                check_dealing_ms: ms(check_us),
                open_share_ms: ms(open_us),
                complete_ms: ms(complete_us),
                member_run_ms: ms(nf * check_us + nf * open_us + complete_us),
                dealing_bytes: dealings[0].encode().len(),
            }
        })
        .collect()
}

pub fn table_header() -> String {
    format!(
        "{:>7} {:>4} {:>9} {:>9} {:>9} {:>11} {:>12} {:>9}",
        "members", "t", "deal_ms", "check_ms", "open_ms", "complete_ms", "member_ms", "deal_B"
    )
}

pub fn table_row(r: &DkgFigures) -> String {
    format!(
        "{:>7} {:>4} {:>9.2} {:>9.2} {:>9.3} {:>11.1} {:>12.1} {:>9}",
        r.members,
        r.threshold,
        r.deal_ms,
        r.check_dealing_ms,
        r.open_share_ms,
        r.complete_ms,
        r.member_run_ms,
        r.dealing_bytes
    )
}
