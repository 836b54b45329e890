//! CPU cost of the consensus cores: a fault-free simulation (real BLS, one
//! thread, virtual time) until every node has committed the target number
//! of blocks; each measurement is the run's CPU time divided by committed
//! blocks × nodes, i.e. CPU per committed block per node.
//!
//! `cargo bench --bench consensus`

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use strata_chains::sim::{run, FaultSet, SimConfig};
use strata_chains::types::Protocol;

const BLOCKS: u64 = 12;

fn fault_free(protocol: Protocol, nodes: usize, seed: u64) -> SimConfig {
    let mut cfg = SimConfig::new(protocol, nodes, seed, FaultSet::default());
    cfg.fault_phase = Duration::ZERO;
    cfg.liveness_blocks = BLOCKS;
    cfg
}

fn per_block_per_node(c: &mut Criterion) {
    for protocol in [Protocol::HotStuff, Protocol::TwoPhase] {
        let mut g = c.benchmark_group(format!("core_cpu_per_block_per_node/{protocol}"));
        g.sampling_mode(SamplingMode::Flat);
        g.sample_size(10);
        g.warm_up_time(Duration::from_millis(100));
        for nodes in [4usize, 16, 64] {
            g.bench_with_input(BenchmarkId::from_parameter(nodes), &nodes, |b, &n| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for i in 0..iters {
                        let cfg = fault_free(protocol, n, i);
                        let start = Instant::now();
                        let report = run(&cfg);
                        let elapsed = start.elapsed();
                        assert!(report.passed(), "fault-free run must pass");
                        total += elapsed / (report.committed_min.max(1) as u32 * n as u32);
                    }
                    total
                })
            });
        }
        g.finish();
    }
}

criterion_group!(benches, per_block_per_node);
criterion_main!(benches);
