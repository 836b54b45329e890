//! Offline verification of a receipt (issue 25: ≤ 5 ms on the machine the
//! figures come from): an anchored receipt of the test kit, checked
//! against its genesis (two certificate pairings, a state proof, two
//! Merkle paths, a sr25519 signature).
//!
//! `cargo bench --bench receipts`

use criterion::{criterion_group, criterion_main, Criterion};
use strata_chains::anchor::Trust;
use strata_chains::test_support::ReceiptFixture;

fn verify_receipt(c: &mut Criterion) {
    let fixture = ReceiptFixture::new();
    let trust = Trust::new(&fixture.genesis);
    let receipt = fixture.anchored_receipt(1);
    c.bench_function("receipt_verify/anchored", |b| {
        b.iter(|| receipt.verify(&trust).expect("verifies"))
    });
}

criterion_group!(benches, verify_receipt);
criterion_main!(benches);
