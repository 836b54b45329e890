//! `strata bench receipts`: what checking a receipt offline costs, and how
//! large receipts are. The receipt is the test kit's anchored receipt
//! (`ReceiptFixture`: a record in a certified local block, the block's
//! hash proven in the anchored state, a certified anchor, its path in a
//! global block and that block's HotStuff commit proof, 4-member
//! committees), the shape a node serves for any anchored record; a local
//! record's receipt before its anchor (its block's commit proof only) is
//! measured beside it.

use std::time::Instant;

use parity_scale_codec::Encode;
use serde::Serialize;
use strata_chains::anchor::{Finality, Receipt, Trust};
use strata_chains::test_support::{commit, inclusion, ReceiptFixture};

/// One kind of receipt's figures.
#[derive(Clone, Debug, Serialize)]
pub struct ReceiptFigures {
    pub kind: &'static str,
    pub scale_bytes: usize,
    pub json_bytes: usize,
    pub verify_p50_us: f64,
    pub verify_p99_us: f64,
    pub runs: usize,
}

fn measure(
    kind: &'static str,
    receipt: &Receipt,
    trust: &Trust<'_>,
    runs: usize,
) -> ReceiptFigures {
    let summary = receipt.verify(trust).expect("the kit's receipts verify");
    let json = serde_json::to_vec(&receipt.to_json(summary)).expect("receipts serialise");
    let mut times: Vec<f64> = (0..runs.max(1))
        .map(|_| {
            let started = Instant::now();
            let ok = receipt.verify(trust).is_ok();
            let us = started.elapsed().as_secs_f64() * 1e6;
            assert!(ok);
            us
        })
        .collect();
    times.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    ReceiptFigures {
        kind,
        scale_bytes: receipt.encode().len(),
        json_bytes: json.len(),
        verify_p50_us: at(0.5),
        verify_p99_us: at(0.99),
        runs: times.len(),
    }
}

/// Measures both kinds of receipt `runs` times each.
pub fn run(runs: usize) -> Vec<ReceiptFigures> {
    let fixture = ReceiptFixture::new();
    let trust = Trust::new(&fixture.genesis);
    let anchored = fixture.anchored_receipt(1);
    let local = Receipt {
        tx: fixture.records[1].clone(),
        block: inclusion(&fixture.local, 3, &fixture.records[1]),
        finality: Finality::Committed(Box::new(commit(&fixture.local, 3))),
        history: Default::default(),
    };
    vec![
        measure("anchored (local + global)", &anchored, &trust, runs),
        measure("local only", &local, &trust, runs),
    ]
}
