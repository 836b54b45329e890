//! Criterion benchmarks of every primitive in `strata-crypto`.
//!
//! `cargo bench --bench crypto` (or a filter, e.g. `-- pvss`). The figures
//! the issue targets are named in the group names: aggregator/leader_100,
//! threshold/combine_t67, vrf/*, pvss/*_n100, sr25519/batch_1000.

use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;
use strata_crypto::bls::forget_hashed_messages;
use strata_crypto::committee::{Committee, QuorumThreshold};
use strata_crypto::hash::Digest;
use strata_crypto::merkle::MerkleTree;
use strata_crypto::pvss::{self, DealingContext, PvssSecretKey};
use strata_crypto::qc::{QuorumCert, SignerBitmap};
use strata_crypto::sortition::{seats, SortitionParams};
use strata_crypto::sr25519::{self, BatchItem, TxKeypair};
use strata_crypto::test_support::TestCommittee;
use strata_crypto::threshold;
use strata_crypto::vrf::VrfSecretKey;
use strata_crypto::{SecretKey, Signature, VoteAggregator};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn committee_of(n: usize, seed: u64) -> (Vec<SecretKey>, Arc<Committee>) {
    let mut r = rng(seed);
    let keys: Vec<SecretKey> = (0..n).map(|_| SecretKey::random(&mut r)).collect();
    let TestCommittee { keys, committee } = TestCommittee::of_keys(keys);
    (keys, committee)
}

fn hashing(c: &mut Criterion) {
    let mut g = c.benchmark_group("hash");
    for size in [32usize, 1024] {
        let data = vec![7u8; size];
        g.bench_with_input(BenchmarkId::new("sha256", size), &data, |b, d| {
            b.iter(|| Digest::of("bench", d))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("merkle");
    let leaves: Vec<Vec<u8>> = (0..1000u32).map(|i| i.to_le_bytes().to_vec()).collect();
    g.bench_function("build_1000", |b| {
        b.iter(|| MerkleTree::from_leaves(&leaves))
    });
    let tree = MerkleTree::from_leaves(&leaves);
    let proof = tree.proof(517).unwrap();
    let root = tree.root();
    g.bench_function("verify_proof_1000", |b| {
        b.iter(|| proof.verify(&root, &leaves[517]).unwrap())
    });
    g.finish();
}

fn bls(c: &mut Criterion) {
    let mut g = c.benchmark_group("bls");
    let sk = SecretKey::random(&mut rng(1));
    let pk = sk.public_key();
    let sig = sk.sign(b"vote");
    let pop = sk.prove_possession();
    // Cold: the thread's memo of hashed messages is emptied first, so each
    // run hashes to G2 as for a message this node never signed.
    g.bench_function("sign", |b| {
        b.iter(|| {
            forget_hashed_messages();
            sk.sign(b"vote")
        })
    });
    g.bench_function("verify", |b| {
        b.iter(|| {
            forget_hashed_messages();
            sig.verify(b"vote", &pk).unwrap()
        })
    });
    // A member checking the certificate over the message it just signed.
    g.bench_function("verify_signed_message", |b| {
        b.iter(|| sig.verify(b"vote", &pk).unwrap())
    });
    g.bench_function("pop_verify", |b| b.iter(|| pop.verify(&pk).unwrap()));
    g.bench_function("key_validate", |b| {
        let bytes = pk.to_bytes();
        b.iter(|| strata_crypto::PublicKey::from_bytes(&bytes).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("qc");
    for n in [16usize, 256, 1024] {
        let (keys, committee) = committee_of(n, n as u64);
        let quorum = QuorumThreshold::TWO_THIRDS.quorum_size(n);
        let sigs: Vec<Signature> = keys[..quorum].iter().map(|k| k.sign(b"vote")).collect();
        g.bench_with_input(BenchmarkId::new("aggregate", quorum), &sigs, |b, s| {
            b.iter(|| Signature::aggregate(s).unwrap())
        });
        let qc = QuorumCert {
            signers: SignerBitmap::from_indices(n, 0..quorum),
            signature: Signature::aggregate(&sigs).unwrap(),
        };
        g.bench_with_input(BenchmarkId::new("verify", n), &qc, |b, qc| {
            b.iter(|| {
                forget_hashed_messages();
                qc.verify(&committee, QuorumThreshold::TWO_THIRDS, b"vote")
                    .unwrap()
            })
        });
    }
    g.finish();

    // The leader's path for 100 votes: a committee of 100 whose quorum
    // needs all 100, so the aggregator adds 100 votes then verifies once.
    let mut g = c.benchmark_group("aggregator");
    let (keys, committee) = committee_of(100, 100);
    let all = QuorumThreshold::parse("0.99").unwrap();
    let votes: Vec<Signature> = keys.iter().map(|k| k.sign(b"vote")).collect();
    g.bench_function("leader_100", |b| {
        b.iter(|| {
            forget_hashed_messages();
            let mut agg = VoteAggregator::new(committee.clone(), all);
            let mut qc = None;
            for (i, v) in votes.iter().enumerate() {
                qc = qc.or(agg.add(i, b"vote", *v).unwrap().certificate);
            }
            qc.expect("100 votes certify")
        })
    });
    let mut bad = votes.clone();
    bad[37] = keys[37].sign(b"other");
    g.bench_function("leader_100_one_bad", |b| {
        b.iter(|| {
            let mut agg = VoteAggregator::new(committee.clone(), QuorumThreshold::TWO_THIRDS);
            let mut out = None;
            for (i, v) in bad.iter().enumerate() {
                match agg.add(i, b"vote", *v) {
                    Ok(o) if o.certificate.is_some() => {
                        out = Some(o);
                        break;
                    }
                    _ => {}
                }
            }
            out.expect("certifies after dropping the bad vote")
        })
    });
    g.finish();
}

fn threshold_bls(c: &mut Criterion) {
    let mut g = c.benchmark_group("threshold");
    let (public, shares) = threshold::deal(&mut rng(2), 67, 100).unwrap();
    let sig_shares: Vec<_> = shares.iter().take(67).map(|s| s.sign(b"anchor")).collect();
    g.bench_function("combine_t67", |b| {
        b.iter(|| public.combine(&sig_shares).unwrap())
    });
    let group_sig = public.combine(&sig_shares).unwrap();
    g.bench_function("verify_group", |b| {
        b.iter(|| public.verify(b"anchor", &group_sig).unwrap())
    });
    g.bench_function("verify_share", |b| {
        b.iter(|| public.verify_share(&sig_shares[0], b"anchor").unwrap())
    });
    g.sample_size(10);
    g.bench_function("deal_t67_n100", |b| {
        b.iter(|| threshold::deal(&mut rng(3), 67, 100).unwrap())
    });
    g.finish();
}

fn vrf_and_sortition(c: &mut Criterion) {
    let mut g = c.benchmark_group("vrf");
    let sk = VrfSecretKey::random(&mut rng(4));
    let pk = sk.public_key();
    let (out, proof) = sk.prove(b"seed||chain||epoch");
    g.bench_function("prove", |b| b.iter(|| sk.prove(b"seed||chain||epoch")));
    g.bench_function("verify", |b| {
        b.iter(|| pk.verify(b"seed||chain||epoch", &proof).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("sortition");
    let params = SortitionParams {
        total_weight: 1_000_000,
        expected_seats: 100,
    };
    g.bench_function("seats_w10000", |b| {
        b.iter(|| seats(&out, 10_000, params).unwrap())
    });
    g.finish();
}

fn sr25519_sigs(c: &mut Criterion) {
    let mut g = c.benchmark_group("sr25519");
    let mut r = rng(5);
    let n = 1000;
    let keys: Vec<TxKeypair> = (0..n).map(|_| TxKeypair::random(&mut r)).collect();
    let msgs: Vec<Vec<u8>> = (0..n).map(|i| vec![i as u8; 512]).collect();
    let pubs: Vec<_> = keys.iter().map(|k| k.public()).collect();
    let sigs: Vec<_> = keys.iter().zip(&msgs).map(|(k, m)| k.sign(m)).collect();
    g.bench_function("sign_512B", |b| b.iter(|| keys[0].sign(&msgs[0])));
    g.bench_function("verify_512B", |b| {
        b.iter(|| pubs[0].verify(&msgs[0], &sigs[0]).unwrap())
    });
    let items: Vec<BatchItem<'_>> = (0..n)
        .map(|i| BatchItem {
            message: &msgs[i],
            key: &pubs[i],
            signature: &sigs[i],
        })
        .collect();
    g.sample_size(20);
    g.bench_function("batch_1000", |b| {
        b.iter(|| sr25519::verify_batch(&items).unwrap())
    });
    g.bench_function("one_by_one_1000", |b| {
        b.iter(|| {
            for it in &items {
                it.key.verify(it.message, it.signature).unwrap();
            }
        })
    });
    g.finish();
}

fn pvss_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pvss");
    g.sample_size(20);
    let (n, t) = (100usize, 34usize);
    let mut r = rng(6);
    let sks: Vec<PvssSecretKey> = (0..n).map(|_| PvssSecretKey::random(&mut r)).collect();
    let pks: Vec<_> = sks.iter().map(|k| k.public_key()).collect();
    let ctx = DealingContext {
        epoch: 1,
        chain: 0,
        dealer: 0,
    };
    g.bench_function("deal_n100", |b| {
        b.iter_batched(
            || rng(7),
            |mut r| pvss::deal(&mut r, &ctx, t, &pks).unwrap(),
            BatchSize::SmallInput,
        )
    });
    let (dealing, _) = pvss::deal(&mut rng(7), &ctx, t, &pks).unwrap();
    g.bench_function("verify_n100", |b| {
        b.iter(|| pvss::verify_dealing(&ctx, t, &pks, &dealing).unwrap())
    });
    g.bench_function("decrypt_share", |b| {
        b.iter(|| pvss::decrypt_share(&sks[3], &ctx, 3, &dealing).unwrap())
    });
    let shares: Vec<_> = (0..t)
        .map(|i| pvss::decrypt_share(&sks[i], &ctx, i as u32, &dealing).unwrap())
        .collect();
    g.bench_function("verify_share", |b| {
        b.iter(|| pvss::verify_share(&ctx, &pks[5], &dealing, &shares[5]).unwrap())
    });
    g.bench_function("recover_t34", |b| {
        b.iter(|| pvss::recover(t, &shares).unwrap())
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = hashing, bls, threshold_bls, vrf_and_sortition, sr25519_sigs, pvss_bench
}
criterion_main!(benches);
