//! Progress bars for long commands (indicatif): shown on stderr when it is
//! a terminal, hidden when it is not or with `--json`, so piped and
//! machine-read output stays clean.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

fn bar(len: u64, quiet: bool, template: &str) -> ProgressBar {
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        // Draws on stderr only when it is a terminal.
        ProgressBar::new(len)
    };
    bar.set_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// A bar over a run of fixed length (testnet, benchmarks): advanced in
/// milliseconds, with the caller's message (heights, rates).
pub fn for_duration(duration: Duration, quiet: bool) -> ProgressBar {
    bar(
        u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
        quiet,
        "{spinner} [{elapsed_precise}] {bar:24} ETA {eta} {msg}",
    )
}

/// A bar over `len` items (`unit`: seeds, blocks, …) with the rate and
/// ETA; the prefix names the run, the message says what went wrong.
pub fn for_count(len: u64, unit: &str, quiet: bool) -> ProgressBar {
    bar(
        len,
        quiet,
        &format!(
            "{{prefix}} [{{elapsed_precise}}] {{bar:24}} {{pos}}/{{len}} {unit} ({{per_sec}}, ETA {{eta}}) {{msg}}"
        ),
    )
}
