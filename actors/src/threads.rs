//! Names and scheduling weights of a node's threads.
//!
//! A view's critical path is a chain of thread wake-ups: the network thread
//! hands a proposal to the committee actor, which checks it and hands a
//! vote back. When the cores are busy (several nodes on one machine, or one
//! node under load), each wake-up waits behind whatever else is runnable.
//! Work that no view waits for (executing committed blocks, checking
//! client signatures, serving HTTP, RocksDB compaction) therefore runs at a
//! lower weight, so the consensus threads preempt it instead of queueing
//! behind it. Raising the nice value needs no privilege.

/// What a thread does, which sets its scheduling weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadRole {
    /// On the path of every view: committee actors, the network.
    Consensus,
    /// Throughput work that no view waits for.
    Bulk,
}

impl ThreadRole {
    /// The nice value (Linux: per thread). A nice-10 thread has about a
    /// tenth of a nice-0 thread's weight.
    pub fn nice(self) -> i32 {
        match self {
            ThreadRole::Consensus => 0,
            ThreadRole::Bulk => 10,
        }
    }
}

/// Names the calling thread (as `top -H` and `perf` show it; at most 15
/// bytes are kept) and sets its weight. Best effort: a failure is logged.
pub fn label_current_thread(name: &str, role: ThreadRole) {
    #[cfg(target_os = "linux")]
    {
        let mut bytes: Vec<u8> = name.bytes().filter(|b| *b != 0).take(15).collect();
        bytes.push(0);
        // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16
        // bytes, which `bytes` is, and acts on the calling thread only.
        unsafe {
            libc::prctl(libc::PR_SET_NAME, bytes.as_ptr() as libc::c_ulong, 0, 0, 0);
        }
        // SAFETY: gettid has no preconditions; on Linux the nice value of
        // PRIO_PROCESS with a thread id is that thread's own.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, role.nice())
        };
        if rc != 0 {
            tracing::debug!(
                name,
                "could not set the thread's nice value: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (name, role);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn a_bulk_thread_is_named_and_runs_at_the_lower_weight() {
        let (name, nice) = std::thread::spawn(|| {
            label_current_thread("strata-test-bulk-thread", ThreadRole::Bulk);
            let name = std::fs::read_to_string("/proc/thread-self/comm").expect("comm");
            // SAFETY: getpriority has no preconditions.
            let nice =
                unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
            (name, nice)
        })
        .join()
        .expect("thread");
        assert_eq!(name.trim_end(), "strata-test-bul");
        assert_eq!(nice, ThreadRole::Bulk.nice());
    }
}
