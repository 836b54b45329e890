//! End to end: the `strata bench sigs` command line as a user runs it.

use std::process::Command;

fn strata() -> Command {
    Command::new(env!("CARGO_BIN_EXE_strata"))
}

#[test]
fn json_output_has_exactly_the_documented_fields() {
    let out = strata()
        .args(["bench", "sigs", "--signers", "4,8", "--json"])
        .output()
        .expect("strata runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "one JSON object per committee size");
    let mut fields = [
        "signers",
        "single_verify_us",
        "naive_verify_us",
        "aggregate_us",
        "qc_verify_us",
        "threshold_combine_us",
        "threshold_verify_us",
        "threshold_leader_us",
        "multisig_cert_bytes",
        "threshold_cert_bytes",
        "sr25519_verify_us",
        "sr25519_batch_verify_us",
        "sr25519_batch_few_senders_verify_us",
    ];
    fields.sort();
    for (line, n) in lines.iter().zip([4, 8]) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let obj = v.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(|k| k.as_str()).collect();
        keys.sort();
        assert_eq!(keys, fields);
        assert_eq!(obj["signers"], n);
        for f in fields.iter().filter(|f| **f != "signers") {
            assert!(obj[*f].as_f64().is_some_and(|x| x > 0.0), "{f} in {line}");
        }
    }
}

#[test]
fn table_output_has_a_header_and_a_row_per_size() {
    let out = strata()
        .args([
            "bench",
            "sigs",
            "--signers",
            "4",
            "--threshold-fraction",
            "2/3",
        ])
        .output()
        .expect("strata runs");
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].contains("signers") && lines[0].contains("qc_us"));
    assert!(lines[1].trim_start().starts_with('4'));
}

#[test]
fn bad_arguments_fail_with_a_message() {
    for args in [
        vec!["bench", "sigs", "--threshold-fraction", "1.5"],
        vec!["bench", "sigs", "--signers", "0"],
        vec!["bench", "sigs", "--signers", "four"],
    ] {
        let out = strata().args(&args).output().expect("strata runs");
        assert!(!out.status.success(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} explains itself");
    }
}
