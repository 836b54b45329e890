//! End to end: `strata sim` as a user runs it.

use std::process::Command;

fn strata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strata"))
}

/// Runs `cmd`; its stdout, once it succeeded.
fn stdout_of(mut cmd: Command) -> Vec<u8> {
    let out = cmd.output().expect("strata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn json_summary_has_exactly_the_documented_fields() {
    let mut cmd = strata();
    cmd.args([
        "sim",
        "--protocol",
        "two-phase",
        "--nodes",
        "4",
        "--seeds",
        "6",
        "--json",
    ]);
    let stdout = String::from_utf8(stdout_of(cmd)).unwrap();
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    let obj = v.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "committed_blocks_min",
            "evidence_missed",
            "liveness_failures",
            "nodes",
            "protocol",
            "safety_violations",
            "seeds",
            "virtual_seconds",
            "wall_seconds"
        ]
    );
    assert_eq!(obj["protocol"], "two-phase");
    assert_eq!(obj["seeds"], 6);
    assert_eq!(obj["safety_violations"], 0);
    assert_eq!(obj["liveness_failures"], 0);
    assert_eq!(obj["evidence_missed"], 0);
    assert!(obj["committed_blocks_min"].as_u64().unwrap() >= 3);
    assert!(obj["virtual_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn one_seed_replays_with_its_trace() {
    let run = || {
        strata()
            .args(["sim", "--protocol", "hotstuff", "--seed", "7", "--trace"])
            .output()
            .expect("strata runs")
    };
    let (a, b) = (run(), run());
    assert!(a.status.success());
    let text = String::from_utf8(a.stdout.clone()).unwrap();
    assert!(text.contains("seed 7: passed"));
    assert!(text.lines().count() > 50, "the trace is printed");
    assert_eq!(a.stdout, b.stdout, "a seed replays exactly");
}

#[test]
fn bad_arguments_are_refused() {
    for args in [
        vec!["sim", "--protocol", "pbft"],
        vec!["sim", "--faults", "meteor"],
        vec!["sim", "--nodes", "0"],
        vec!["sim", "--dynasty", "--plot", "x.svg"],
    ] {
        let out = strata().args(&args).output().expect("strata runs");
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

/// `--plot`: the commit latency and view changes over the seeds, drawn as
/// an SVG, and the JSON summary on stdout unchanged.
#[test]
fn plot_draws_the_histograms_over_the_seeds() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("sim.svg");
    let mut cmd = strata();
    cmd.args(["sim", "--seeds", "6", "--json", "--plot"])
        .arg(&svg);
    let v: serde_json::Value = serde_json::from_slice(&stdout_of(cmd)).expect("one JSON object");
    assert_eq!(v["seeds"], 6);
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"));
    assert!(text.contains("commit latency") && text.contains("view changes per seed"));
    // Bars: one rectangle per non-empty bucket, at least one per panel.
    assert!(text.matches("<rect").count() >= 3, "{text}");
}
