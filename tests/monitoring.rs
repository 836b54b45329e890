//! The monitoring files in `configs/prometheus`: the alerting rules are
//! valid for Prometheus (`promtool check rules`) and fire on the series they
//! are for, and only then (`promtool test rules`, cases in
//! `alerts_test.yml`); every metric a rule reads is one a node exports.

use std::path::Path;
use std::process::Command;

fn promtool(args: &[&str]) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/prometheus");
    let o = Command::new("promtool")
        .args(args)
        .current_dir(&dir)
        .output()
        .expect("promtool (Debian package prometheus; scripts/ensure-deps installs it)");
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "promtool {args:?}:\n{out}");
    out
}

#[test]
fn the_alerting_rules_are_valid_and_fire_on_what_they_are_for() {
    let checked = promtool(&["check", "rules", "alerts.yml"]);
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");
    let tested = promtool(&["test", "rules", "alerts_test.yml"]);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

#[test]
fn every_metric_the_rules_read_is_one_a_node_exports() {
    let rules = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("configs/prometheus/alerts.yml"),
    )
    .unwrap();
    let metrics = strata_actors::service::metrics::Metrics::new();
    // Every family appears in the text once it has a series.
    metrics
        .committed_height
        .with_label_values(&["global"])
        .set(1);
    metrics
        .anchored_height
        .with_label_values(&["local-0"])
        .set(1);
    metrics.evidence.with_label_values(&["global"]).inc();
    metrics.votes.with_label_values(&["global"]).inc();
    metrics
        .anchor_conflicts
        .with_label_values(&["local-0"])
        .inc();
    metrics
        .anchors_submitted
        .with_label_values(&["local-0"])
        .inc();
    metrics
        .anchors_executed
        .with_label_values(&["0", "accepted"])
        .inc();
    let text = metrics.render();
    let mut names: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("strata_"))
        .collect();
    names.sort_unstable();
    names.dedup();
    assert!(names.len() >= 7, "{names:?}");
    for name in names {
        assert!(
            text.contains(&format!("\n{name}")) || text.contains(&format!("\n{name}{{")),
            "the rules read {name}, which no node exports:\n{text}"
        );
    }
}
