//! Runs a hierarchy's nodes as real processes of the tier binaries: start,
//! wait until healthy, kill (-9 or TERM), restart, and stop everything on
//! drop. Used by `strata testnet`, `strata bench consensus` and the
//! multi-process tests.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::init::{Hierarchy, NodeEntry};

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("no node named {0}")]
    UnknownNode(String),
    #[error("{name} exited before becoming healthy ({status}); its log {log}:\n{tail}")]
    Exited {
        name: String,
        status: String,
        log: String,
        tail: String,
    },
    #[error("{name} did not answer /health within {secs}s; its log {log}:\n{tail}")]
    Unhealthy {
        name: String,
        secs: u64,
        log: String,
        tail: String,
    },
    #[error("cannot reap {name}: {reason}")]
    Wait { name: String, reason: String },
}

/// The directory holding the tier binaries: beside the running executable
/// (`strata` and `strata-cloud` are built together).
pub fn default_bin_dir() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Running node processes of one hierarchy.
pub struct Cluster {
    pub hierarchy: Hierarchy,
    bin_dir: PathBuf,
    children: BTreeMap<String, Child>,
    /// Extra environment for every node (e.g. `STRATA_LOG`).
    env: Vec<(String, String)>,
    /// Extra arguments of one node.
    args: BTreeMap<String, Vec<String>>,
    /// The network namespace (a file under `/run/netns`) a node runs in.
    netns: BTreeMap<String, PathBuf>,
}

impl Cluster {
    pub fn new(hierarchy: Hierarchy, bin_dir: PathBuf) -> Cluster {
        Cluster {
            hierarchy,
            bin_dir,
            children: BTreeMap::new(),
            env: Vec::new(),
            args: BTreeMap::new(),
            netns: BTreeMap::new(),
        }
    }

    /// Runs node `name` in the network namespace at `path`.
    pub fn with_node_netns(mut self, name: &str, path: PathBuf) -> Cluster {
        self.netns.insert(name.to_string(), path);
        self
    }

    /// Extra command-line arguments for node `name` (e.g. a test mode).
    pub fn with_node_args(mut self, name: &str, args: &[&str]) -> Cluster {
        self.args
            .entry(name.to_string())
            .or_default()
            .extend(args.iter().map(|a| a.to_string()));
        self
    }

    pub fn with_env(mut self, key: &str, value: &str) -> Cluster {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn log_path(&self, name: &str) -> PathBuf {
        self.hierarchy.dir.join("logs").join(format!("{name}.log"))
    }

    fn entry(&self, name: &str) -> Result<NodeEntry, ClusterError> {
        self.hierarchy
            .node(name)
            .cloned()
            .ok_or_else(|| ClusterError::UnknownNode(name.into()))
    }

    /// Starts one node (appending to its log).
    pub fn start(&mut self, name: &str) -> Result<(), ClusterError> {
        let node = self.entry(name)?;
        let log = self.log_path(name);
        let io = |what: &Path| {
            let what = what.display().to_string();
            move |e| ClusterError::Io(what, e)
        };
        std::fs::create_dir_all(log.parent().unwrap_or(Path::new("."))).map_err(io(&log))?;
        let out = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .map_err(io(&log))?;
        let err = out.try_clone().map_err(io(&log))?;
        let binary = self.bin_dir.join(node.binary());
        let mut cmd = Command::new(&binary);
        cmd.arg("--config")
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(args) = self.args.get(name) {
            cmd.args(args);
        }
        let netns = match self.netns.get(name) {
            Some(path) => Some(File::open(path).map_err(io(path))?),
            None => None,
        };
        let netns_fd = netns.as_ref().map(std::os::fd::AsRawFd::as_raw_fd);
        // SAFETY: prctl and setns are async-signal-safe system calls; the
        // first asks the kernel to SIGKILL the node when the thread that
        // started it ends, so nothing is left behind even if we are killed;
        // the second moves the child into its namespace (`netns` stays open
        // until the spawn returns).
        unsafe {
            cmd.pre_exec(move || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if let Some(fd) = netns_fd {
                    if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(io(&binary))?;
        drop(netns);
        self.children.insert(name.to_string(), child);
        Ok(())
    }

    /// Every node's name, in the hierarchy's order.
    pub fn node_names(&self) -> Vec<String> {
        self.hierarchy
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    /// Starts every node, then waits until each answers `/health`.
    pub fn start_all(&mut self, timeout: Duration) -> Result<(), ClusterError> {
        let names = self.node_names();
        for name in &names {
            self.start(name)?;
        }
        for name in &names {
            self.wait_healthy(name, timeout)?;
        }
        Ok(())
    }

    pub fn log_tail(&self, name: &str) -> String {
        let text = std::fs::read_to_string(self.log_path(name)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Waits until a node answers `/health`, failing early if it exits.
    pub fn wait_healthy(&mut self, name: &str, timeout: Duration) -> Result<(), ClusterError> {
        let node = self.entry(name)?;
        let client = Client::with_timeout(&node.api_url(), Duration::from_secs(2));
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(child) = self.children.get_mut(name) {
                if let Ok(Some(status)) = child.try_wait() {
                    return Err(ClusterError::Exited {
                        name: name.into(),
                        status: status.to_string(),
                        log: self.log_path(name).display().to_string(),
                        tail: self.log_tail(name),
                    });
                }
            }
            if client.get("/health").is_ok_and(|a| a.status == 200) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(ClusterError::Unhealthy {
                    name: name.into(),
                    secs: timeout.as_secs(),
                    log: self.log_path(name).display().to_string(),
                    tail: self.log_tail(name),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Sends `signal` to a node and waits for it to exit (killing it after
    /// 10 s); returns how it exited.
    pub fn signal(&mut self, name: &str, signal: i32) -> Result<ExitStatus, ClusterError> {
        let Some(mut child) = self.children.remove(name) else {
            return Err(ClusterError::UnknownNode(name.into()));
        };
        // SAFETY: plain kill(2) on a child we own and have not reaped.
        unsafe {
            libc::kill(child.id() as libc::pid_t, signal);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() <= deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Ok(None) | Err(_) => {
                    let _ = child.kill();
                    return child.wait().map_err(|e| ClusterError::Wait {
                        name: name.into(),
                        reason: e.to_string(),
                    });
                }
            }
        }
    }

    /// kill -9.
    pub fn kill(&mut self, name: &str) -> Result<ExitStatus, ClusterError> {
        self.signal(name, libc::SIGKILL)
    }

    /// SIGTERM: a clean shutdown.
    pub fn terminate(&mut self, name: &str) -> Result<ExitStatus, ClusterError> {
        self.signal(name, libc::SIGTERM)
    }

    /// The process id of a running node.
    pub fn pid(&self, name: &str) -> Option<u32> {
        self.children.get(name).map(Child::id)
    }

    pub fn is_running(&mut self, name: &str) -> bool {
        self.children
            .get_mut(name)
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Stops every node: SIGTERM, then SIGKILL after a grace period.
    pub fn stop_all(&mut self) {
        for child in self.children.values() {
            // SAFETY: kill(2) on children we own and have not reaped.
            unsafe {
                libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && self
                .children
                .values_mut()
                .any(|c| matches!(c.try_wait(), Ok(None)))
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        for (_, mut child) in std::mem::take(&mut self.children) {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }

    /// CPU time (user + system) the running nodes have used so far, from
    /// `/proc` (`None` where it cannot be read, e.g. not Linux). Sampled
    /// twice, it says how many cores the nodes kept busy, which on a shared
    /// or noisy machine is a steadier figure than throughput.
    pub fn cpu_time(&self) -> Option<Duration> {
        let ticks_per_s = procfs::ticks_per_second();
        if ticks_per_s == 0 {
            return None;
        }
        let mut ticks = 0u64;
        for child in self.children.values() {
            ticks += process_cpu_ticks(child.id())?;
        }
        Some(Duration::from_secs_f64(ticks as f64 / ticks_per_s as f64))
    }

    pub fn client(&self, name: &str) -> Option<Client> {
        self.hierarchy.node(name).map(|n| Client::new(&n.api_url()))
    }
}

/// utime + stime of a process, in clock ticks (proc(5), through procfs).
fn process_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = procfs::process::Process::new(i32::try_from(pid).ok()?)
        .ok()?
        .stat()
        .ok()?;
    Some(stat.utime.saturating_add(stat.stime))
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}
