//! The commit line of a chain's log: one `info` line per commit, at most
//! once a second, summing what committed since the last line (issue 28,
//! point 5). At thousands of blocks a minute a line per block would drown
//! everything else an operator reads; a line a second still shows the
//! chain moving, its height and its rate.

use std::time::{Duration, Instant};

use strata_chains::types::Block;

/// How often the line may be written.
pub const COMMIT_LINE_EVERY: Duration = Duration::from_secs(1);

/// What one line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitLine {
    /// The highest height committed.
    pub height: u64,
    /// Its view.
    pub view: u64,
    /// Blocks committed since the last line (this one's included).
    pub blocks: u64,
    /// Transactions those blocks carry.
    pub transactions: u64,
}

/// Counts commits between lines; the caller passes the clock.
#[derive(Debug, Default)]
pub struct CommitLog {
    last_line: Option<Instant>,
    blocks: u64,
    transactions: u64,
}

impl CommitLog {
    /// Notes committed blocks at `now`; returns the line to write, if one
    /// is due (the first commit always writes one).
    pub fn note(&mut self, now: Instant, blocks: &[std::sync::Arc<Block>]) -> Option<CommitLine> {
        let last = blocks.last()?;
        self.blocks = self.blocks.saturating_add(blocks.len() as u64);
        self.transactions = blocks.iter().fold(self.transactions, |n, b| {
            n.saturating_add(b.payload.tx_count())
        });
        let due = self
            .last_line
            .is_none_or(|at| now.saturating_duration_since(at) >= COMMIT_LINE_EVERY);
        if !due {
            return None;
        }
        self.last_line = Some(now);
        let line = CommitLine {
            height: last.header.height,
            view: last.header.view,
            blocks: self.blocks,
            transactions: self.transactions,
        };
        self.blocks = 0;
        self.transactions = 0;
        Some(line)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use strata_chains::test_support::batched_chain;

    use super::*;

    #[test]
    fn commits_within_a_second_share_one_line_that_sums_them() {
        // Six blocks above the genesis, three transactions each.
        let blocks: Vec<Arc<Block>> = batched_chain(6, 3).0[1..]
            .iter()
            .cloned()
            .map(Arc::new)
            .collect();
        assert_eq!(blocks.len(), 6);
        let t0 = Instant::now();
        let mut log = CommitLog::default();
        let first = log
            .note(t0, &blocks[0..1])
            .expect("the first commit writes a line");
        assert_eq!((first.height, first.blocks), (blocks[0].header.height, 1));
        // Three more commits inside the second: no line.
        for (i, ms) in [(1, 200), (2, 500), (3, 999)] {
            let at = t0 + Duration::from_millis(ms);
            assert_eq!(log.note(at, &blocks[i..i + 1]), None);
        }
        // The next commit after the second writes one line for all four.
        let line = log
            .note(t0 + Duration::from_millis(1_000), &blocks[4..6])
            .expect("a second passed");
        assert_eq!(line.height, blocks[5].header.height);
        assert_eq!(line.view, blocks[5].header.view);
        assert_eq!(line.blocks, 5);
        assert_eq!(line.transactions, 15);
        // Nothing committed: nothing written.
        assert_eq!(log.note(t0 + Duration::from_secs(5), &[]), None);
    }
}
