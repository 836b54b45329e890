//! `strata bench sigs`: the cost of certifying votes, by committee size.
//!
//! For a committee of `signers` equal-weight members, the certificate is the
//! one a leader forms: the first quorum of votes (weight above the threshold
//! fraction). Measured per size, medians over repeated runs:
//!
//! * `single_verify_us`: verify one vote signature;
//! * `naive_verify_us`: verify the quorum's votes one by one;
//! * `aggregate_us`: aggregate the quorum's signatures;
//! * `qc_verify_us`: verify the certificate (bitmap, weight, one pairing check);
//! * `threshold_combine_us` / `threshold_verify_us`: combine t = ⌈fraction·n⌉
//!   threshold signature shares, and verify the group signature;
//! * `threshold_leader_us`: a threshold committee's collector forming its
//!   certificate from t shares (combine, one check against the group key);
//! * `multisig_cert_bytes` / `threshold_cert_bytes`: a commit certificate
//!   as a receipt carries it (bitmap and aggregate, or the group signature
//!   alone: the same size for any committee);
//! * `sr25519_verify_us` / `sr25519_batch_verify_us`: per transaction
//!   signature (hashing the 512-byte record to the digest its sender signed,
//!   then checking), alone and in a batch of `signers` transactions from
//!   distinct senders;
//! * `sr25519_batch_few_senders_verify_us`: the same batch with records from
//!   `FEW_SENDERS` senders, interleaved (a batch verification has one term
//!   per distinct sender key, so records of repeat senders cost less; the
//!   `bench consensus` load has one sender per node).
//!
//! BLS checks are measured cold: each run first empties the thread's memo
//! of hashed messages, so every check hashes its message to G2 as a check
//! of a message this node never signed does. (A member checking the
//! certificate over its own vote skips that hash, about a seventh of a
//! check; `cargo bench --bench crypto` shows both.)

use std::sync::Arc;

use parity_scale_codec::Encode;
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Serialize;
use strata_chains::types::PROVENANCE_SIGNING_DOMAIN;
use strata_crypto::bls::forget_hashed_messages;
use strata_crypto::committee::{Committee, QuorumThreshold};
use strata_crypto::hash::Digest;
use strata_crypto::qc::{QuorumCert, SignerBitmap};
use strata_crypto::sr25519::{self, BatchItem, TxKeypair, TxPublicKey, TxSignature};
use strata_crypto::test_support::TestCommittee;
use strata_crypto::threshold;
use strata_crypto::{SecretKey, Signature, VoteAggregator};

use super::timing::{median_us, Budget};

/// One row of the report (the JSON line has exactly these fields).
#[derive(Clone, Debug, Serialize)]
pub struct SigsRow {
    pub signers: usize,
    pub single_verify_us: f64,
    pub naive_verify_us: f64,
    pub aggregate_us: f64,
    pub qc_verify_us: f64,
    pub threshold_combine_us: f64,
    pub threshold_verify_us: f64,
    /// A threshold committee's collector: t shares in, the combination
    /// checked once against the group key (`VoteAggregator`).
    pub threshold_leader_us: f64,
    /// A commit certificate as a receipt carries it, encoded: multisig
    /// (bitmap and aggregate) and threshold (the group signature alone).
    pub multisig_cert_bytes: usize,
    pub threshold_cert_bytes: usize,
    pub sr25519_verify_us: f64,
    pub sr25519_batch_verify_us: f64,
    pub sr25519_batch_few_senders_verify_us: f64,
}

/// Senders in the few-senders batch: as many as the `bench consensus` load
/// has at its default of 4 nodes.
pub const FEW_SENDERS: usize = 4;

/// What checking transaction signatures costs on this machine, in µs.
#[derive(Clone, Copy, Debug)]
pub struct Sr25519Costs {
    pub single_us: f64,
    /// Per signature, in a batch of `n` from `n` senders.
    pub batch_us_per_signature: f64,
    /// Per signature, in a batch of `n` from `few_senders` senders.
    pub batch_few_senders_us_per_signature: f64,
}

/// Times sr25519 checks of `n` records of 512 bytes, by distinct senders
/// and by `few_senders` senders, as a node checks them: each record hashed
/// to the digest its sender signed (the same domain and cost as
/// `Provenance::signing_digest`, over raw bytes instead of a record's
/// encoding), then one signature alone and all `n` in one batch
/// verification (what a node's verifier does with a batch of
/// transactions). Keys are decompressed in every run, as for senders a node
/// has not seen before.
pub fn sr25519_costs(
    n: usize,
    few_senders: usize,
    rng: &mut ChaCha20Rng,
    budget: Budget,
) -> Sr25519Costs {
    let n = n.max(1);
    let tx_keys: Vec<TxKeypair> = (0..n).map(|_| TxKeypair::random(&mut *rng)).collect();
    let records: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let mut m = vec![0u8; 512];
            m[..8].copy_from_slice(&(i as u64).to_le_bytes());
            m
        })
        .collect();
    let digest = |record: &[u8]| Digest::of(PROVENANCE_SIGNING_DOMAIN, record);
    let signed_by = |sender: &dyn Fn(usize) -> usize| -> (Vec<TxPublicKey>, Vec<TxSignature>) {
        (0..n)
            .map(|i| {
                let key = &tx_keys[sender(i)];
                (key.public(), key.sign(digest(&records[i]).as_bytes()))
            })
            .unzip()
    };
    let (distinct_pubs, distinct_sigs) = signed_by(&|i| i);
    let (few_pubs, few_sigs) = signed_by(&|i| i % few_senders.clamp(1, n));
    let single_us = median_us(budget, || {
        distinct_pubs[0].verify(digest(&records[0]).as_bytes(), &distinct_sigs[0])
    });
    let batch = |pubs: &[TxPublicKey], sigs: &[TxSignature]| {
        let digests: Vec<Digest> = records.iter().map(|m| digest(m)).collect();
        let items: Vec<BatchItem<'_>> = (0..n)
            .map(|i| BatchItem {
                message: digests[i].as_bytes(),
                key: &pubs[i],
                signature: &sigs[i],
            })
            .collect();
        sr25519::verify_batch(&items)
    };
    assert!(batch(&distinct_pubs, &distinct_sigs).is_ok());
    assert!(batch(&few_pubs, &few_sigs).is_ok());
    Sr25519Costs {
        single_us,
        batch_us_per_signature: median_us(budget, || batch(&distinct_pubs, &distinct_sigs))
            / n as f64,
        batch_few_senders_us_per_signature: median_us(budget, || batch(&few_pubs, &few_sigs))
            / n as f64,
    }
}

/// Figures shown in the table only: the leader's whole path.
#[derive(Clone, Debug)]
pub struct LeaderFigures {
    pub quorum: usize,
    pub threshold_t: usize,
    /// Feeding a quorum of votes to the aggregator, including its one check.
    pub leader_aggregation_us: f64,
}

/// The vote message a committee signs in the benchmark, shaped like a real
/// vote: (chain, epoch, view, phase, block hash).
fn vote_message() -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&0u32.to_le_bytes());
    m.extend_from_slice(&1u64.to_le_bytes());
    m.extend_from_slice(&42u64.to_le_bytes());
    m.push(1);
    m.extend_from_slice(&[0xab; 32]);
    m
}

pub fn threshold_shares_needed(fraction: QuorumThreshold, n: usize) -> usize {
    let num = n as u128 * fraction.numerator() as u128;
    let den = fraction.denominator() as u128;
    (num.div_ceil(den) as usize).clamp(1, n)
}

pub fn measure(n: usize, fraction: QuorumThreshold) -> (SigsRow, LeaderFigures) {
    let mut rng = ChaCha20Rng::seed_from_u64(n as u64);
    let msg = vote_message();
    let keys: Vec<SecretKey> = (0..n).map(|_| SecretKey::random(&mut rng)).collect();
    let TestCommittee { keys, committee } = TestCommittee::of_keys(keys);
    let votes: Vec<Signature> = keys.iter().map(|k| k.sign(&msg)).collect();
    let quorum = fraction.quorum_size(n).min(n);
    let quorum_votes = &votes[..quorum];

    let budget = Budget::DEFAULT;
    let single_verify_us = median_us(budget, || {
        forget_hashed_messages();
        votes[0].verify(&msg, &committee.members()[0].key)
    });
    let naive_budget = Budget {
        min_runs: 3,
        ..budget
    };
    let naive_verify_us = median_us(naive_budget, || {
        quorum_votes.iter().zip(committee.members()).all(|(s, m)| {
            forget_hashed_messages();
            s.verify(&msg, &m.key).is_ok()
        })
    });
    let aggregate_us = median_us(budget, || Signature::aggregate(quorum_votes));
    let qc = QuorumCert {
        signers: SignerBitmap::from_indices(n, 0..quorum),
        signature: Signature::aggregate(quorum_votes).expect("quorum is non-empty"),
    };
    assert!(
        qc.verify(&committee, fraction, &msg).is_ok(),
        "benchmark certificate must verify"
    );
    let qc_verify_us = median_us(budget, || {
        forget_hashed_messages();
        qc.verify(&committee, fraction, &msg)
    });

    let leader_aggregation_us = median_us(budget, || {
        forget_hashed_messages();
        let mut agg = VoteAggregator::new(committee.clone(), fraction);
        let mut formed = None;
        for (i, v) in quorum_votes.iter().enumerate() {
            if let Ok(out) = agg.add(i, &msg, *v) {
                formed = formed.or(out.certificate);
            }
        }
        assert!(formed.is_some());
        formed
    });

    let t = threshold_shares_needed(fraction, n);
    let (group, shares) = threshold::deal(&mut rng, t as u32, n as u32).expect("valid sharing");
    let sig_shares: Vec<threshold::SignatureShare> =
        shares.iter().take(t).map(|s| s.sign(&msg)).collect();
    let threshold_combine_us = median_us(budget, || group.combine(&sig_shares));
    let group_sig = group.combine(&sig_shares).expect("t shares combine");
    let threshold_verify_us = median_us(budget, || {
        forget_hashed_messages();
        group.verify(&msg, &group_sig)
    });
    let group_committee = Arc::new(
        Committee::new(committee.members().to_vec())
            .and_then(|c| c.with_group(group.clone()))
            .expect("the sharing fits the committee"),
    );
    let share_votes: Vec<Signature> = shares
        .iter()
        .take(t)
        .map(|s| s.sign(&msg).signature)
        .collect();
    let mut threshold_qc = None;
    let threshold_leader_us = median_us(budget, || {
        forget_hashed_messages();
        let mut agg = VoteAggregator::new(group_committee.clone(), fraction);
        for (i, v) in share_votes.iter().enumerate() {
            if let Ok(out) = agg.add(i, &msg, *v) {
                threshold_qc = threshold_qc.take().or(out.certificate);
            }
        }
        assert!(agg.certificate().is_some());
    });
    let threshold_qc = threshold_qc.expect("t shares certify");
    let multisig_cert_bytes = qc.encode().len();
    let threshold_cert_bytes = threshold_qc.compact(&group_committee).encode().len();

    let sr = sr25519_costs(n, FEW_SENDERS, &mut rng, budget);

    (
        SigsRow {
            signers: n,
            single_verify_us,
            naive_verify_us,
            aggregate_us,
            qc_verify_us,
            threshold_combine_us,
            threshold_verify_us,
            threshold_leader_us,
            multisig_cert_bytes,
            threshold_cert_bytes,
            sr25519_verify_us: sr.single_us,
            sr25519_batch_verify_us: sr.batch_us_per_signature,
            sr25519_batch_few_senders_verify_us: sr.batch_few_senders_us_per_signature,
        },
        LeaderFigures {
            quorum,
            threshold_t: t,
            leader_aggregation_us,
        },
    )
}

pub fn table_header() -> String {
    format!(
        "{:>7} {:>6} {:>5} {:>10} {:>12} {:>10} {:>10} {:>12} {:>12} {:>12} {:>12} {:>9} {:>9} {:>10} {:>12} {:>12}",
        "signers",
        "quorum",
        "t",
        "single_us",
        "naive_us",
        "agg_us",
        "qc_us",
        "leader_us",
        "thr_comb_us",
        "thr_ver_us",
        "thr_lead_us",
        "ms_bytes",
        "th_bytes",
        "sr_us",
        "sr_batch_us",
        "sr_few_us"
    )
}

pub fn table_row(r: &SigsRow, l: &LeaderFigures) -> String {
    format!(
        "{:>7} {:>6} {:>5} {:>10.1} {:>12.1} {:>10.1} {:>10.1} {:>12.1} {:>12.1} {:>12.1} {:>12.1} {:>9} {:>9} {:>10.2} {:>12.2} {:>12.2}",
        r.signers,
        l.quorum,
        l.threshold_t,
        r.single_verify_us,
        r.naive_verify_us,
        r.aggregate_us,
        r.qc_verify_us,
        l.leader_aggregation_us,
        r.threshold_combine_us,
        r.threshold_verify_us,
        r.threshold_leader_us,
        r.multisig_cert_bytes,
        r.threshold_cert_bytes,
        r.sr25519_verify_us,
        r.sr25519_batch_verify_us,
        r.sr25519_batch_few_senders_verify_us
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_needed_rounds_up_and_stays_in_range() {
        let f = QuorumThreshold::parse("0.67").unwrap();
        assert_eq!(threshold_shares_needed(f, 100), 67);
        assert_eq!(threshold_shares_needed(f, 4), 3);
        assert_eq!(
            threshold_shares_needed(QuorumThreshold::new(0, 1).unwrap(), 4),
            1
        );
    }

    #[test]
    fn a_small_committee_measures_every_field() {
        let (row, leader) = measure(4, QuorumThreshold::TWO_THIRDS);
        assert_eq!(row.signers, 4);
        assert_eq!(leader.quorum, 3);
        let v = serde_json::to_value(&row).unwrap();
        let fields: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        assert_eq!(fields.len(), 13);
        // The threshold certificate a receipt carries is the signature
        // and an empty record; the multisig one adds the bitmap.
        assert_eq!(row.threshold_cert_bytes, 97);
        assert!(row.multisig_cert_bytes > row.threshold_cert_bytes);
        for f in fields {
            let x = v[f].as_f64().unwrap();
            assert!(x.is_finite() && x > 0.0, "{f} = {x}");
        }
    }
}
