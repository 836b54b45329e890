//! The fault schedule of a run: crashes and restarts, partitions and their
//! heal, the moment the network turns synchronous (GST), drawn from the
//! run's seed.

use super::*;

impl<'a> Sim<'a> {
    pub(super) fn schedule_faults(&mut self) {
        let n = self.cfg.nodes as u32;
        if self.cfg.faults.crash {
            for _ in 0..self.rng.gen_range(1..=4) {
                let node = self.rng.gen_range(0..n);
                let at = self.rng.gen_range(0..self.gst);
                let down = self.rng.gen_range(50_000..1_500_000);
                self.push(at, SimEvent::Crash(node));
                self.push((at + down).min(self.gst), SimEvent::Restart(node));
            }
        }
        if self.cfg.faults.partition {
            for _ in 0..self.rng.gen_range(1..=3) {
                let at = self.rng.gen_range(0..self.gst);
                let len = self.rng.gen_range(200_000..1_500_000);
                let mut side: Vec<bool> = (0..self.nodes.len())
                    .map(|_| self.rng.gen_bool(0.5))
                    .collect();
                side[0] = true;
                let other = self.rng.gen_range(1..n as usize);
                side[other] = false;
                self.push(at, SimEvent::Partition(side));
                self.push((at + len).min(self.gst), SimEvent::Heal);
            }
        }
        for i in 0..self.nodes.len() {
            if self.nodes[i].has(Behavior::ReplayStale) {
                let at = self.rng.gen_range(100_000..400_000);
                self.push(at, SimEvent::Replay(i as u32));
            }
            if self.nodes[i].has(Behavior::LyingSync) {
                let at = self.rng.gen_range(100_000..400_000);
                self.push(at, SimEvent::LyingSync(i as u32));
            }
        }
        self.push(self.gst, SimEvent::Gst);
        self.push(
            self.gst + us(self.cfg.liveness_deadline),
            SimEvent::Deadline,
        );
    }

    pub(super) fn crash(&mut self, i: usize, why: &'static str) {
        self.nodes[i].core = None;
        self.nodes[i].mempool = None;
        self.nodes[i].incarnation += 1;
        self.log(|| format!("n{i} crashes ({why})"));
    }

    pub(super) fn down_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.core.is_none()).count()
    }

    pub(super) fn gst_reached(&mut self) {
        self.after_gst = true;
        self.net = NetConditions::synchronous();
        self.log(|| "network heals: synchronous from now on".to_string());
        for i in 0..self.nodes.len() {
            if self.nodes[i].core.is_none() {
                self.log(|| format!("n{i} restarts at the heal"));
                self.start_node(i);
            }
        }
        for i in 0..self.cfg.nodes {
            if self.nodes[i].honest() {
                let h = self.executed_height(i);
                self.targets[i] = Some(h + self.cfg.liveness_blocks);
            }
        }
    }
}
