//! The dynasty simulator's accountability check (issue 27, point 6): only
//! the Byzantine process is ever convicted, a proof posted in time
//! convicts it, and no committee decided after a conviction seats it.

use super::*;

impl DynastySim<'_> {
    pub(super) fn check_convictions(
        &self,
        state: &MemState,
        committed_min: Height,
        report: &mut DynastySimReport,
    ) {
        // Accountability (issue 27, point 6): only the Byzantine process
        // is ever convicted, and a posted proof convicts it; no
        // committee decided after its conviction seats it.
        let convictions =
            crate::dynasty::accountability::convicted(state, self.chain).unwrap_or_default();
        report.convicted = convictions.len() as u64;
        let byzantine_key = report
            .byzantine
            .as_ref()
            .map(|(i, _)| self.procs[*i].keys.bls.public_key());
        for c in &convictions {
            if Some(c.validator) != byzantine_key {
                report
                    .violations
                    .push(format!("an honest validator convicted: {c:?}"));
            }
            for e in 1.. {
                let (Ok(Some(before)), Ok(Some(c_e))) = (
                    crate::dynasty::epoch_record(state, self.chain, e - 1),
                    crate::dynasty::committee(state, self.chain, e),
                ) else {
                    break;
                };
                let serves_on = crate::dynasty::committee(state, self.chain, e - 1)
                    .ok()
                    .flatten()
                    .is_some_and(|p| p.members == c_e.members);
                if before.decision() > c.height
                    && !serves_on
                    && c_e.members.iter().any(|m| m.key == c.validator)
                {
                    report.violations.push(format!(
                        "epoch {e}'s committee, decided after the conviction at height {}, seats the convict",
                        c.height
                    ));
                }
            }
        }
        // Posted in time to commit: every honest process executed a
        // dozen blocks past the height it was posted at.
        let in_time = self
            .evidence_posted
            .is_some_and(|h| committed_min > h.saturating_add(EVIDENCE_COMMITS_WITHIN));
        if in_time && report.liveness_failure.is_none() && convictions.is_empty() {
            report.liveness_failure = Some(format!(
                "a proof of misbehaviour was posted and not convicted within {EVIDENCE_COMMITS_WITHIN} blocks"
            ));
        }
    }
}
