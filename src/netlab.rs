//! A network laboratory for the fault tests: every node in a network
//! namespace of its own, joined by a veth pair to one bridge in a hub
//! namespace, where the test itself talks to the nodes. The lab cuts links
//! (partitions, isolation) with blackhole routes and impairs them (delay with
//! jitter, random loss) with a userspace delayer on each node's egress,
//! and removes everything it made when dropped.
//!
//! Delay goes through NFQUEUE rather than `tc netem` because kernels built
//! without `sch_netem` (this project's CI machine among them) still have
//! netfilter queues; the effect is netem's: each packet a node sends to
//! another node is held for `delay ± jitter` (uniform, so packets may
//! reorder) and dropped with the given probability. Traffic to the hub (the
//! test's API calls) is never impaired.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Why the lab could not be built or changed.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// This machine cannot run the lab (not root, no `ip`, no namespaces).
    #[error("network namespaces are unavailable here: {0}")]
    Unavailable(String),
    #[error("`{command}` failed: {stderr}")]
    Command { command: String, stderr: String },
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
}

/// The hub's address on the bridge; node k is `10.77.0.(FIRST_NODE + k)`.
const HUB: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
const FIRST_NODE: u8 = 10;
/// Namespaces this lab names start with `PREFIX<pid>-`, so that a later run
/// can remove those a killed run left behind.
const PREFIX: &str = "stlab-";

/// How each node's packets to other nodes are impaired.
#[derive(Clone, Copy, Debug)]
pub struct Impairment {
    pub delay: Duration,
    pub jitter: Duration,
    /// Loss probability in basis points (200 = 2%).
    pub loss_bp: u32,
    pub seed: u64,
}

struct Delayer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<DelayerStats>,
}

/// What one node's delayer did.
#[derive(Clone, Copy, Debug, Default)]
pub struct DelayerStats {
    pub delayed: u64,
    pub dropped: u64,
}

/// Namespaces, links and faults of one lab.
pub struct NetLab {
    hub: String,
    nodes: Vec<String>,
    /// Node pairs (low, high) that cannot reach each other.
    cut: BTreeSet<(usize, usize)>,
    delayers: Vec<Delayer>,
}

fn run(program: &str, args: &[&str]) -> Result<(), LabError> {
    let command = format!("{program} {}", args.join(" "));
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| LabError::Io(command.clone(), e))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(LabError::Command {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

fn netns_path(name: &str) -> PathBuf {
    Path::new("/run/netns").join(name)
}

/// Moves the calling thread (only it) into the namespace at `path`.
fn enter(path: &Path) -> Result<(), LabError> {
    let file = File::open(path).map_err(|e| LabError::Io(path.display().to_string(), e))?;
    // SAFETY: setns on a valid descriptor changes only this thread's
    // network namespace.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(LabError::Io(
            format!("setns {}", path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

/// Removes namespaces left by labs whose process is gone.
fn remove_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name
            .strip_prefix(PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = run("ip", &["netns", "del", &name]);
        }
    }
}

impl NetLab {
    /// Builds a hub and `nodes` node namespaces, each linked to the hub's
    /// bridge. Fails with [`LabError::Unavailable`] where namespaces cannot
    /// be made (not root, no `ip`).
    pub fn create(nodes: usize) -> Result<NetLab, LabError> {
        if nodes == 0 || nodes > 200 {
            return Err(LabError::Unavailable(format!("{nodes} nodes")));
        }
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err(LabError::Unavailable("not running as root".into()));
        }
        if Command::new("ip").arg("-V").output().is_err() {
            return Err(LabError::Unavailable("no `ip` command (iproute2)".into()));
        }
        remove_stale();
        static LABS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let id = format!(
            "{PREFIX}{}-{}",
            std::process::id(),
            LABS.fetch_add(1, Ordering::Relaxed)
        );
        let hub = format!("{id}-hub");
        let mut lab = NetLab {
            hub: hub.clone(),
            nodes: Vec::new(),
            cut: BTreeSet::new(),
            delayers: Vec::new(),
        };
        run("ip", &["netns", "add", &hub])
            .map_err(|e| LabError::Unavailable(format!("cannot create a namespace: {e}")))?;
        let hub_addr = format!("{HUB}/24");
        for args in [
            vec!["link", "set", "lo", "up"],
            vec!["link", "add", "br0", "type", "bridge"],
            vec!["addr", "add", &hub_addr, "dev", "br0"],
            vec!["link", "set", "br0", "up"],
        ] {
            lab.ip(&hub, &args)?;
        }
        for k in 0..nodes {
            let ns = format!("{id}-n{k}");
            run("ip", &["netns", "add", &ns])?;
            lab.nodes.push(ns.clone());
            let veth = format!("v{k}");
            let addr = format!("{}/24", lab.addr(k));
            lab.ip(
                &hub,
                &[
                    "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
                ],
            )?;
            lab.ip(&hub, &["link", "set", &veth, "master", "br0", "up"])?;
            lab.ip(&ns, &["link", "set", "lo", "up"])?;
            lab.ip(&ns, &["addr", "add", &addr, "dev", "eth0"])?;
            lab.ip(&ns, &["link", "set", "eth0", "up"])?;
        }
        Ok(lab)
    }

    fn ip(&self, ns: &str, args: &[&str]) -> Result<(), LabError> {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Node k's address on the bridge.
    pub fn addr(&self, k: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 77, 0, FIRST_NODE + k as u8)
    }

    /// Every node's address, in order.
    pub fn addrs(&self) -> Vec<Ipv4Addr> {
        (0..self.nodes.len()).map(|k| self.addr(k)).collect()
    }

    /// The namespace file of node k (for `setns` before a node starts).
    pub fn netns(&self, k: usize) -> PathBuf {
        netns_path(&self.nodes[k])
    }

    /// Moves the calling thread into the hub, from where every node is
    /// reachable whatever the faults.
    pub fn enter_hub(&self) -> Result<(), LabError> {
        enter(&netns_path(&self.hub))
    }

    /// Cuts every link between nodes of different groups (both ways).
    pub fn partition(&mut self, groups: &[&[usize]]) -> Result<(), LabError> {
        for (i, a) in groups.iter().enumerate() {
            for b in groups.iter().skip(i + 1) {
                for &x in a.iter() {
                    for &y in b.iter() {
                        self.cut_pair(x, y)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Cuts node k off from every other node.
    pub fn isolate(&mut self, k: usize) -> Result<(), LabError> {
        let rest: Vec<usize> = (0..self.nodes.len()).filter(|&j| j != k).collect();
        self.partition(&[&[k], &rest])
    }

    fn cut_pair(&mut self, x: usize, y: usize) -> Result<(), LabError> {
        let pair = (x.min(y), x.max(y));
        if x == y || !self.cut.insert(pair) {
            return Ok(());
        }
        // A blackhole route drops silently, as a real partition does: TCP
        // sees no error, only silence, until the link returns.
        for (from, to) in [(x, y), (y, x)] {
            let dst = format!("{}/32", self.addr(to));
            self.ip(&self.nodes[from], &["route", "add", "blackhole", &dst])?;
        }
        Ok(())
    }

    /// Restores every cut link.
    pub fn heal(&mut self) -> Result<(), LabError> {
        for (x, y) in std::mem::take(&mut self.cut) {
            for (from, to) in [(x, y), (y, x)] {
                let dst = format!("{}/32", self.addr(to));
                self.ip(&self.nodes[from], &["route", "del", "blackhole", &dst])?;
            }
        }
        Ok(())
    }

    /// Delays and drops every packet a node sends to another node.
    pub fn impair(&mut self, how: Impairment) -> Result<(), LabError> {
        self.clear_impairment()?;
        let first = self.addr(0).to_string();
        let last = self.addr(self.nodes.len() - 1).to_string();
        let range = format!("{first}-{last}");
        for (k, ns) in self.nodes.clone().into_iter().enumerate() {
            let stop = Arc::new(AtomicBool::new(false));
            let (ready_tx, ready_rx) = std::sync::mpsc::channel();
            let path = netns_path(&ns);
            let seed = how.seed ^ (k as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let flag = stop.clone();
            let thread = std::thread::spawn(move || delay_loop(&path, how, seed, flag, ready_tx));
            self.delayers.push(Delayer { stop, thread });
            match ready_rx.recv() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(LabError::Unavailable(format!("NFQUEUE in {ns}: {e}"))),
                Err(_) => return Err(LabError::Unavailable(format!("delayer of {ns} died"))),
            }
            // --queue-bypass: were the delayer gone, packets would pass.
            run(
                "ip",
                &[
                    "netns",
                    "exec",
                    &ns,
                    "iptables",
                    "-w",
                    "-A",
                    "OUTPUT",
                    "-m",
                    "iprange",
                    "--dst-range",
                    &range,
                    "-j",
                    "NFQUEUE",
                    "--queue-num",
                    "0",
                    "--queue-bypass",
                ],
            )
            .map_err(|e| LabError::Unavailable(format!("iptables: {e}")))?;
        }
        Ok(())
    }

    /// Removes the impairment; returns what each node's delayer did.
    pub fn clear_impairment(&mut self) -> Result<Vec<DelayerStats>, LabError> {
        if self.delayers.is_empty() {
            return Ok(Vec::new());
        }
        for ns in &self.nodes {
            run(
                "ip",
                &["netns", "exec", ns, "iptables", "-w", "-F", "OUTPUT"],
            )?;
        }
        let mut stats = Vec::new();
        for d in self.delayers.drain(..) {
            d.stop.store(true, Ordering::Relaxed);
            stats.push(d.thread.join().unwrap_or_default());
        }
        Ok(stats)
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        let _ = self.clear_impairment();
        for ns in self.nodes.iter().chain(std::iter::once(&self.hub)) {
            let _ = run("ip", &["netns", "del", ns]);
        }
    }
}

/// One node's delayer: takes each queued packet, drops it with the loss
/// probability or gives it back after `delay ± jitter`. On stop, gives back
/// everything it holds.
fn delay_loop(
    netns: &Path,
    how: Impairment,
    seed: u64,
    stop: Arc<AtomicBool>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) -> DelayerStats {
    let open = || -> Result<nfq::Queue, String> {
        enter(netns).map_err(|e| e.to_string())?;
        let mut q = nfq::Queue::open().map_err(|e| e.to_string())?;
        q.bind(0).map_err(|e| e.to_string())?;
        // Metadata only: verdicts never rewrite the packet.
        q.set_copy_range(0, 0).map_err(|e| e.to_string())?;
        q.set_queue_max_len(0, 16_384).map_err(|e| e.to_string())?;
        q.set_nonblocking(true);
        Ok(q)
    };
    let mut q = match open() {
        Ok(q) => {
            let _ = ready.send(Ok(()));
            q
        }
        Err(e) => {
            let _ = ready.send(Err(e));
            return DelayerStats::default();
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut held: BTreeMap<(Instant, u64), nfq::Message> = BTreeMap::new();
    let mut seq = 0u64;
    let mut stats = DelayerStats::default();
    let jitter_us = how.jitter.as_micros() as i64;
    loop {
        let stopping = stop.load(Ordering::Relaxed);
        let mut received = false;
        while let Ok(mut msg) = q.recv() {
            received = true;
            if rng.gen_range(0..10_000) < how.loss_bp {
                msg.set_verdict(nfq::Verdict::Drop);
                let _ = q.verdict(msg);
                stats.dropped += 1;
                continue;
            }
            let shift = rng.gen_range(-jitter_us..=jitter_us);
            let wait = (how.delay.as_micros() as i64 + shift).max(0) as u64;
            held.insert((Instant::now() + Duration::from_micros(wait), seq), msg);
            seq += 1;
        }
        let now = Instant::now();
        while let Some(entry) = held.first_entry() {
            if entry.key().0 > now && !stopping {
                break;
            }
            let mut msg = entry.remove();
            msg.set_verdict(nfq::Verdict::Accept);
            let _ = q.verdict(msg);
            stats.delayed += 1;
        }
        if stopping {
            let _ = q.unbind(0);
            return stats;
        }
        if !received {
            std::thread::sleep(Duration::from_micros(300));
        }
    }
}
