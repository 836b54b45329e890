//! What an IoT light client exports at `/metrics` (issue 28, point 6): the
//! headers it follows and checks, the records it forwards, the proofs it
//! verifies, and its data directory's free space (the same gauges as a
//! full node's, so the disk alerts cover it).

use std::path::Path;

use prometheus::{Encoder, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

use super::follow::FollowStatus;

pub struct LightMetrics {
    registry: Registry,
    /// Records forwarded upstream, by the upstream's answer.
    pub forwarded: IntCounterVec,
    /// Transaction lookups, by whether the commit was verified here.
    pub proofs: IntCounterVec,
    followed_height: IntGaugeVec,
    lowest_height: IntGaugeVec,
    anchored_height: IntGaugeVec,
    headers_refused: IntCounterVec,
    headers_pruned: IntCounterVec,
    upstream_ok: IntGauge,
    data_dir_available_bytes: IntGauge,
    data_dir_capacity_bytes: IntGauge,
}

fn counter(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("a valid metric");
    r.register(Box::new(c.clone())).expect("registered once");
    c
}

fn gauges(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("a valid metric");
    r.register(Box::new(g.clone())).expect("registered once");
    g
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("a valid metric");
    r.register(Box::new(g.clone())).expect("registered once");
    g
}

impl Default for LightMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl LightMetrics {
    pub fn new() -> LightMetrics {
        let r = Registry::new();
        LightMetrics {
            forwarded: counter(
                &r,
                "strata_light_forwarded_total",
                "Records forwarded to the upstream node, by its answer (accepted, refused, upstream_error).",
                &["outcome"],
            ),
            proofs: counter(
                &r,
                "strata_light_lookups_total",
                "Transaction lookups, by verdict: verified (the commit or receipt checked here against the genesis), unverified, pending.",
                &["verdict"],
            ),
            followed_height: gauges(
                &r,
                "strata_light_followed_height",
                "The highest header of the domain's chain checked here.",
                &["chain"],
            ),
            lowest_height: gauges(
                &r,
                "strata_light_lowest_height",
                "The lowest header kept (above 0 once pruned).",
                &["chain"],
            ),
            anchored_height: gauges(
                &r,
                "strata_light_anchored_height",
                "The chain's last anchored height as the upstream reports it.",
                &["chain"],
            ),
            headers_refused: counter(
                &r,
                "strata_light_headers_refused_total",
                "Headers refused: their link or certificate did not hold.",
                &["chain"],
            ),
            headers_pruned: counter(
                &r,
                "strata_light_headers_pruned_total",
                "Headers pruned after being anchored.",
                &["chain"],
            ),
            upstream_ok: gauge(
                &r,
                "strata_light_upstream_ok",
                "1 when the last poll of the upstream succeeded.",
            ),
            data_dir_available_bytes: gauge(
                &r,
                "strata_data_dir_available_bytes",
                "Bytes available to the node in its data directory's file system.",
            ),
            data_dir_capacity_bytes: gauge(
                &r,
                "strata_data_dir_capacity_bytes",
                "Size of the data directory's file system.",
            ),
            registry: r,
        }
    }

    /// The text exposition, with the follower's state and the disk read now.
    pub fn render(&self, follow: Option<&FollowStatus>, data_dir: &Path) -> String {
        if let Some(s) = follow {
            let chain = [s.chain.as_str()];
            let set = |g: &IntGaugeVec, v: u64| {
                g.with_label_values(&chain)
                    .set(i64::try_from(v).unwrap_or(i64::MAX))
            };
            set(&self.followed_height, s.tip);
            set(&self.lowest_height, s.lowest);
            if let Some(a) = s.anchored {
                set(&self.anchored_height, a);
            }
            // The follower counts; the counters catch up with it.
            let catch_up = |c: &IntCounterVec, v: u64| {
                let c = c.with_label_values(&chain);
                c.inc_by(v.saturating_sub(c.get()));
            };
            catch_up(&self.headers_refused, s.refused);
            catch_up(&self.headers_pruned, s.pruned);
            self.upstream_ok.set(i64::from(s.error.is_none()));
        }
        if let Some((available, capacity)) = crate::process::data_dir_bytes(data_dir) {
            self.data_dir_available_bytes.set(available);
            self.data_dir_capacity_bytes.set(capacity);
        }
        let mut out = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_follower_state_and_counts_are_exported() {
        let m = LightMetrics::new();
        m.forwarded.with_label_values(&["accepted"]).inc();
        m.proofs.with_label_values(&["verified"]).inc_by(2);
        let status = FollowStatus {
            chain: "local-0".into(),
            tip: 120,
            lowest: 20,
            anchored: Some(96),
            pruned: 20,
            refused: 1,
            error: None,
        };
        let dir = tempfile::tempdir().unwrap();
        let text = m.render(Some(&status), dir.path());
        for line in [
            "strata_light_followed_height{chain=\"local-0\"} 120",
            "strata_light_lowest_height{chain=\"local-0\"} 20",
            "strata_light_anchored_height{chain=\"local-0\"} 96",
            "strata_light_headers_refused_total{chain=\"local-0\"} 1",
            "strata_light_headers_pruned_total{chain=\"local-0\"} 20",
            "strata_light_upstream_ok 1",
            "strata_light_forwarded_total{outcome=\"accepted\"} 1",
            "strata_light_lookups_total{verdict=\"verified\"} 2",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
        assert!(text.contains("strata_data_dir_capacity_bytes "));
        // Rendering again does not count twice.
        let text = m.render(Some(&status), dir.path());
        assert!(text.contains("strata_light_headers_pruned_total{chain=\"local-0\"} 20"));
    }
}
