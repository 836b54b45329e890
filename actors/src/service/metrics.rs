//! Prometheus metrics of a node, in the text exposition format (the format
//! `promtool check metrics` reads): counters end in `_total`, durations are
//! histograms in `_seconds`.

use std::sync::Arc;

use prometheus::{
    exponential_buckets, Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter,
    IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder,
};
use strata_chains::types::ChainId;

pub struct Metrics {
    registry: Registry,
    pub committed_height: IntGaugeVec,
    pub committed_transactions: IntCounterVec,
    pub refused_transactions: IntCounterVec,
    pub current_view: IntGaugeVec,
    /// The epoch each chain's core serves (or observes).
    pub epoch: IntGaugeVec,
    pub view_changes: IntCounterVec,
    pub timeouts: IntCounterVec,
    /// Votes this node sent, by chain (a member that stopped voting shows).
    pub votes: IntCounterVec,
    pub qc_formation: HistogramVec,
    pub commit_latency: HistogramVec,
    pub mempool_transactions: IntGaugeVec,
    pub evidence: IntCounterVec,
    pub peers: IntGauge,
    pub received_bytes: IntCounter,
    pub sent_bytes: IntCounter,
    pub rejected_messages: IntCounterVec,
    /// Failed checks charged to the peer that sent the bytes, by reason.
    pub peer_penalties: IntCounterVec,
    /// Peers banned for a while after their penalties added up.
    pub peer_bans: IntCounter,
    /// The filesystem holding the data directory, read at each scrape.
    pub data_dir_available_bytes: IntGauge,
    pub data_dir_capacity_bytes: IntGauge,
    /// Signatures per batch verification: sr25519's cost per signature
    /// falls with the batch (one multi-scalar multiplication), so this
    /// says how much the verifier gains from coalescing.
    pub verifier_batch_signatures: Histogram,
    /// Bytes in a chain's batch logs, by log (staging, archive).
    pub batch_log_bytes: IntGaugeVec,
    /// Batches the staging log's collector handled, by outcome (archived,
    /// carried, dropped).
    pub batch_log_collected: IntCounterVec,
    /// A domain's anchoring, seen from its members: the local height the
    /// global chain last anchored, anchors this node submitted, and
    /// anchors the global chain holds whose state differs from this
    /// node's (evidence against the domain's committee).
    pub anchored_height: IntGaugeVec,
    pub anchors_submitted: IntCounterVec,
    pub anchor_conflicts: IntCounterVec,
    /// Anchors the global chain executed, by domain and outcome
    /// (accepted, refused, conflict).
    pub anchors_executed: IntCounterVec,
}

/// A reason as a label value: words joined by underscores.
fn label(reason: &str) -> String {
    reason
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// The label value of a chain.
pub fn chain_label(chain: ChainId) -> String {
    chain.to_string()
}

fn counter(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric definition")
}

fn gauge(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric definition")
}

fn seconds(name: &str, help: &str) -> HistogramVec {
    // 1 ms .. ~33 s.
    let buckets = exponential_buckets(0.001, 2.0, 16).expect("valid buckets");
    HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), &["chain"])
        .expect("valid metric definition")
}

impl Metrics {
    pub fn new() -> Arc<Metrics> {
        let registry = Registry::new_custom(Some("strata".into()), None).expect("valid prefix");
        let m = Metrics {
            committed_height: gauge(
                "committed_height",
                "Height of the highest committed block.",
                &["chain"],
            ),
            committed_transactions: counter(
                "committed_transactions_total",
                "Transactions committed and executed.",
                &["chain"],
            ),
            refused_transactions: counter(
                "refused_transactions_total",
                "Committed transactions the executor refused (replayed nonce, wrong domain).",
                &["chain"],
            ),
            current_view: gauge("current_view", "Current consensus view.", &["chain"]),
            epoch: gauge("epoch", "Epoch the chain's core serves or observes.", &["chain"]),
            view_changes: counter(
                "view_changes_total",
                "Views entered by timeout certificate.",
                &["chain"],
            ),
            timeouts: counter("timeouts_total", "Local view timeouts.", &["chain"]),
            votes: counter("votes_sent_total", "Votes this node sent.", &["chain"]),
            qc_formation: seconds(
                "qc_formation_seconds",
                "From receiving a proposal to holding its quorum certificate.",
            ),
            commit_latency: seconds(
                "commit_latency_seconds",
                "From receiving a proposal to committing it.",
            ),
            mempool_transactions: gauge(
                "mempool_transactions",
                "Transactions waiting to be committed.",
                &["chain"],
            ),
            evidence: counter(
                "evidence_total",
                "Proofs of misbehaviour published.",
                &["chain"],
            ),
            peers: IntGauge::new("peers", "Connected committee peers.")
                .expect("valid metric definition"),
            received_bytes: IntCounter::new(
                "network_received_bytes_total",
                "Payload bytes received from peers.",
            )
            .expect("valid metric definition"),
            sent_bytes: IntCounter::new("network_sent_bytes_total", "Payload bytes sent to peers.")
                .expect("valid metric definition"),
            rejected_messages: counter(
                "rejected_messages_total",
                "Messages refused, by reason.",
                &["reason"],
            ),
            peer_penalties: counter(
                "peer_penalties_total",
                "Failed checks charged to the peer that sent them, by reason.",
                &["reason"],
            ),
            peer_bans: IntCounter::new(
                "peer_bans_total",
                "Peers disconnected and refused for a while after repeated failed checks.",
            )
            .expect("valid metric definition"),
            data_dir_available_bytes: IntGauge::new(
                "data_dir_available_bytes",
                "Bytes an unprivileged writer can still use on the data directory's filesystem.",
            )
            .expect("valid metric definition"),
            data_dir_capacity_bytes: IntGauge::new(
                "data_dir_capacity_bytes",
                "Size of the data directory's filesystem.",
            )
            .expect("valid metric definition"),
            verifier_batch_signatures: Histogram::with_opts(
                HistogramOpts::new(
                    "verifier_batch_signatures",
                    "Transactions checked per batch signature verification.",
                )
                .buckets(exponential_buckets(1.0, 2.0, 13).expect("valid buckets")),
            )
            .expect("valid metric definition"),
            batch_log_bytes: gauge(
                "batch_log_bytes",
                "Bytes in a chain's batch logs: staging (batches that may still commit) and archive (batches of committed blocks).",
                &["chain", "log"],
            ),
            batch_log_collected: counter(
                "batch_log_collected_total",
                "Batches the staging log's collector moved to the archive (archived), kept (carried) or forgot (dropped).",
                &["chain", "outcome"],
            ),
            anchored_height: gauge(
                "anchored_height",
                "Local height of the domain's last anchor on the global chain.",
                &["chain"],
            ),
            anchors_submitted: counter(
                "anchors_submitted_total",
                "Anchors of its domain this node submitted to the global chain.",
                &["chain"],
            ),
            anchor_conflicts: counter(
                "anchor_conflicts_total",
                "Anchors of the domain whose state differs from this node's (evidence against the domain's committee).",
                &["chain"],
            ),
            anchors_executed: counter(
                "anchors_executed_total",
                "Anchors the global chain executed, by domain and outcome.",
                &["domain", "outcome"],
            ),
            registry,
        };
        let r = &m.registry;
        let register =
            |c: Box<dyn prometheus::core::Collector>| r.register(c).expect("unique metric names");
        register(Box::new(m.committed_height.clone()));
        register(Box::new(m.committed_transactions.clone()));
        register(Box::new(m.refused_transactions.clone()));
        register(Box::new(m.current_view.clone()));
        register(Box::new(m.epoch.clone()));
        register(Box::new(m.view_changes.clone()));
        register(Box::new(m.timeouts.clone()));
        register(Box::new(m.votes.clone()));
        register(Box::new(m.qc_formation.clone()));
        register(Box::new(m.commit_latency.clone()));
        register(Box::new(m.mempool_transactions.clone()));
        register(Box::new(m.evidence.clone()));
        register(Box::new(m.peers.clone()));
        register(Box::new(m.received_bytes.clone()));
        register(Box::new(m.sent_bytes.clone()));
        register(Box::new(m.rejected_messages.clone()));
        register(Box::new(m.peer_penalties.clone()));
        register(Box::new(m.peer_bans.clone()));
        register(Box::new(m.data_dir_available_bytes.clone()));
        register(Box::new(m.data_dir_capacity_bytes.clone()));
        register(Box::new(m.verifier_batch_signatures.clone()));
        register(Box::new(m.batch_log_bytes.clone()));
        register(Box::new(m.batch_log_collected.clone()));
        register(Box::new(m.anchored_height.clone()));
        register(Box::new(m.anchors_submitted.clone()));
        register(Box::new(m.anchor_conflicts.clone()));
        register(Box::new(m.anchors_executed.clone()));
        Arc::new(m)
    }

    /// Counts a failed check charged to a peer.
    pub fn penalty(&self, reason: &str) {
        self.peer_penalties
            .with_label_values(&[label(reason).as_str()])
            .inc();
    }

    pub fn reject(&self, reason: &str) {
        self.rejected_messages
            .with_label_values(&[label(reason).as_str()])
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("encoding gathered metrics");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_names() {
        let m = Metrics::new();
        m.committed_transactions
            .with_label_values(&["local-0"])
            .inc_by(5);
        m.qc_formation.with_label_values(&["global"]).observe(0.004);
        m.reject("not in genesis");
        let text = m.render();
        assert!(
            text.contains("strata_committed_transactions_total{chain=\"local-0\"} 5"),
            "{text}"
        );
        assert!(text.contains("# TYPE strata_committed_transactions_total counter"));
        assert!(text.contains("strata_qc_formation_seconds_bucket"));
        assert!(text.contains("strata_rejected_messages_total{reason=\"not_in_genesis\"} 1"));
    }
}
