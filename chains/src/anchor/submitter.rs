//! Who anchors a domain's local chain, and when (issue 25, point 1): a pure
//! machine every member of the domain's committee runs (the node's
//! `AnchorSubmitter` actor and the simulator carry it out).
//!
//! - What to anchor: the newest certified header whose state is at least
//!   `interval` heights above the domain's last anchor *as the global chain
//!   records it* (learned by polling; never from local memory, so a
//!   restarted member resumes where the global chain is).
//! - Who: every member, staggered. The k-th anchor of a domain falls to
//!   member k mod n first; member k+1 mod n submits `stagger` later if the
//!   global chain has not recorded it by then, and so on: a crashed or
//!   slow submitter delays an anchor by one stagger, never stops anchoring.
//!   Anchors are idempotent on the global chain, so a second submission of
//!   the same height costs a refusal ("already anchored") and nothing else.
//! - Until the global chain records it: the submission is retried every
//!   `retry`, each time with the newest eligible header and a link to the
//!   last recorded anchor.

use std::time::Duration;

use crate::execution::AnchorRecord;
use crate::types::{BlockHeader, Height, QuorumCertificate};

/// How a member anchors its domain.
#[derive(Clone, Debug)]
pub struct SubmitterConfig {
    /// Local heights between anchors.
    pub interval: u64,
    /// This member's position in the domain's committee, and its size.
    pub position: u32,
    pub members: u32,
    /// How long each member in turn waits before it submits too.
    pub stagger: Duration,
    /// How often an unrecorded anchor is submitted again.
    pub retry: Duration,
    /// How often the global chain is asked for the domain's last anchor.
    pub poll: Duration,
}

/// What the machine learns (one event per committed block at most: the
/// size of a header is no concern).
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum SubmitterEvent {
    /// A local header and its certificate (the justify of the committed
    /// block above it): the state it names is committed.
    Certified {
        header: BlockHeader,
        qc: QuorumCertificate,
    },
    /// The domain's last anchor as the global chain records it (checked by
    /// the host against the global chain's certificates); `None`: none yet.
    Recorded(Option<AnchorRecord>),
    /// The global chain could not be asked (the host keeps polling).
    Unreachable,
    /// Time passed.
    Tick,
}

/// What the machine asks its host to do.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubmitterAction {
    /// Build the anchor of `header` (the tip proof of its state height and,
    /// when `link_from` is set, the proof of the block there, both against
    /// its state root) and submit it to the global chain.
    Submit {
        header: BlockHeader,
        qc: QuorumCertificate,
        link_from: Option<Height>,
    },
    /// Ask the global chain for the domain's last anchor.
    Poll,
}

/// The anchoring duty of one member.
pub struct AnchorSubmitter {
    cfg: SubmitterConfig,
    /// The global chain's last anchor of the domain; `None` until learned.
    recorded: Option<Option<AnchorRecord>>,
    /// The newest certified header and its certificate.
    newest: Option<(BlockHeader, QuorumCertificate)>,
    /// When this member submits the anchor due next (virtual or wall ms).
    due_ms: Option<u64>,
    next_poll_ms: u64,
    /// Submissions made, for metrics and tests.
    pub submitted: u64,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl AnchorSubmitter {
    pub fn new(cfg: SubmitterConfig) -> AnchorSubmitter {
        AnchorSubmitter {
            cfg,
            recorded: None,
            newest: None,
            due_ms: None,
            next_poll_ms: 0,
            submitted: 0,
        }
    }

    /// This member's position in the committee of a new epoch, and its
    /// size (a position past the end: not a member; it anchors last).
    pub fn set_seat(&mut self, position: u32, members: u32) {
        self.cfg.position = position;
        self.cfg.members = members;
    }

    /// The domain's last anchored height as learned from the global chain.
    pub fn anchored_height(&self) -> Option<Height> {
        self.recorded
            .as_ref()
            .map(|r| r.as_ref().map_or(0, |a| a.height))
    }

    /// The global chain's last anchor of the domain, if learned.
    pub fn recorded(&self) -> Option<&AnchorRecord> {
        self.recorded.as_ref().and_then(Option::as_ref)
    }

    pub fn on_event(&mut self, now_ms: u64, event: SubmitterEvent) -> Vec<SubmitterAction> {
        let mut out = Vec::new();
        match event {
            SubmitterEvent::Certified { header, qc } => {
                let newer = self
                    .newest
                    .as_ref()
                    .is_none_or(|(h, _)| header.state_height > h.state_height);
                if newer {
                    self.newest = Some((header, qc));
                }
            }
            SubmitterEvent::Recorded(record) => {
                let advanced =
                    self.anchored_height() != Some(record.as_ref().map_or(0, |a| a.height));
                self.recorded = Some(record);
                if advanced {
                    // A new anchor (ours or another member's): the turn
                    // for the next one starts over.
                    self.due_ms = None;
                }
            }
            SubmitterEvent::Unreachable => {}
            SubmitterEvent::Tick => {}
        }
        self.schedule(now_ms);
        if self.due_ms.is_some_and(|due| due <= now_ms) {
            if let Some((header, qc)) = self.eligible().cloned() {
                let link_from = self.recorded().map(|a| a.height);
                out.push(SubmitterAction::Submit {
                    header,
                    qc,
                    link_from,
                });
                self.submitted = self.submitted.saturating_add(1);
                self.due_ms = Some(now_ms.saturating_add(ms(self.cfg.retry)));
                // Learn soon whether it was recorded.
                self.next_poll_ms = self
                    .next_poll_ms
                    .min(now_ms.saturating_add(ms(self.cfg.poll) / 4));
            }
        }
        if now_ms >= self.next_poll_ms {
            out.push(SubmitterAction::Poll);
            self.next_poll_ms = now_ms.saturating_add(ms(self.cfg.poll));
        }
        out
    }

    /// The newest certified header worth anchoring now, if any.
    fn eligible(&self) -> Option<&(BlockHeader, QuorumCertificate)> {
        let base = self.anchored_height()?;
        self.newest
            .as_ref()
            .filter(|(h, _)| h.state_height >= base.saturating_add(self.cfg.interval.max(1)))
    }

    /// Sets when this member submits the next anchor: its turn after the
    /// member whose duty it is.
    fn schedule(&mut self, now_ms: u64) {
        if self.due_ms.is_some() || self.eligible().is_none() {
            return;
        }
        let Some(base) = self.anchored_height() else {
            return;
        };
        let n = u64::from(self.cfg.members.max(1));
        let k = base / self.cfg.interval.max(1) + 1;
        let first = k % n;
        let position = u64::from(self.cfg.position);
        // A node outside the committee (one that follows a dynasty chain
        // it is not drawn for) comes after every member.
        let rank = if position >= n {
            n
        } else {
            (position + n - first) % n
        };
        self.due_ms = Some(now_ms.saturating_add(rank.saturating_mul(ms(self.cfg.stagger))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::chain_of_blocks;
    use strata_crypto::hash::Digest;

    fn cfg(position: u32) -> SubmitterConfig {
        SubmitterConfig {
            interval: 10,
            position,
            members: 4,
            stagger: Duration::from_millis(500),
            retry: Duration::from_millis(2000),
            poll: Duration::from_millis(400),
        }
    }

    fn certified(state_height: Height) -> SubmitterEvent {
        let mut header = chain_of_blocks(2)[1].header.clone();
        header.height = state_height + 1;
        header.state_height = state_height;
        let qc = header.justify.clone();
        SubmitterEvent::Certified { header, qc }
    }

    fn record(height: Height) -> AnchorRecord {
        AnchorRecord {
            height,
            state_root: Digest::ZERO,
            block_hash: Digest::ZERO,
            header_hash: Digest::ZERO,
            epoch: 0,
            tx: Digest::ZERO,
            global_height: 1,
        }
    }

    fn submits(actions: &[SubmitterAction]) -> Vec<(Height, Option<Height>)> {
        actions
            .iter()
            .filter_map(|a| match a {
                SubmitterAction::Submit {
                    header, link_from, ..
                } => Some((header.state_height, *link_from)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn nothing_is_submitted_before_the_global_chain_says_where_anchoring_is() {
        let mut m = AnchorSubmitter::new(cfg(1));
        let out = m.on_event(0, certified(30));
        assert_eq!(out, vec![SubmitterAction::Poll]);
        assert!(submits(&m.on_event(10_000, SubmitterEvent::Tick)).is_empty());
        // No anchor yet: the first is member 1's duty (k = 1), at once.
        let out = m.on_event(10_001, SubmitterEvent::Recorded(None));
        assert_eq!(submits(&out), vec![(30, None)]);
    }

    #[test]
    fn members_take_turns_after_a_stagger_and_stop_once_recorded() {
        // Anchor k = 2 (last at 10, interval 10) falls to member 2 first,
        // then 3, 0, 1.
        let mut ms: Vec<AnchorSubmitter> = (0..4).map(|p| AnchorSubmitter::new(cfg(p))).collect();
        let mut first_at = vec![None; 4];
        for m in ms.iter_mut() {
            m.on_event(0, SubmitterEvent::Recorded(Some(record(10))));
        }
        for t in (0..=2_000).step_by(100) {
            for (i, m) in ms.iter_mut().enumerate() {
                let event = if t == 0 {
                    certified(25)
                } else {
                    SubmitterEvent::Tick
                };
                if !submits(&m.on_event(t, event)).is_empty() && first_at[i].is_none() {
                    first_at[i] = Some(t);
                }
            }
        }
        assert_eq!(first_at, vec![Some(1000), Some(1500), Some(0), Some(500)]);
        // Recorded by the global chain: nobody submits it again; the next
        // anchor waits for the next interval.
        for m in ms.iter_mut() {
            m.on_event(3_000, SubmitterEvent::Recorded(Some(record(25))));
            assert!(submits(&m.on_event(60_000, certified(34))).is_empty());
        }
        let out = ms[3].on_event(60_001, certified(35));
        assert_eq!(submits(&out), vec![(35, Some(25))], "k = 3 is member 3's");
    }

    #[test]
    fn an_unrecorded_anchor_is_retried_with_the_newest_header() {
        let mut m = AnchorSubmitter::new(cfg(1));
        m.on_event(0, SubmitterEvent::Recorded(Some(record(0))));
        assert_eq!(submits(&m.on_event(0, certified(12))), vec![(12, Some(0))]);
        assert!(submits(&m.on_event(1_000, certified(15))).is_empty());
        assert_eq!(
            submits(&m.on_event(2_000, SubmitterEvent::Tick)),
            vec![(15, Some(0))]
        );
        assert_eq!(m.submitted, 2);
    }
}
