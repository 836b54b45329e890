//! Scheduling classes of a node's threads. Nodes of a committee may share
//! a few cores (the benchmark runs four on two), and there a vote or a
//! proposal that wakes its thread while bulk work holds the core waits out
//! the rest of a time slice: milliseconds per hop, several hops per view.
//! So the consensus path (committee actor, network, mempool payloads)
//! keeps the default priority and bulk work (client intake, signature
//! batches, execution, RocksDB flushes and compactions) runs niced: it
//! still gets every idle cycle, but yields the core when consensus wakes.

/// The nice value of bulk-work threads (CFS weight 110 against 1024).
const BULK_NICE: libc::c_int = 10;

/// Lowers the calling thread's priority to the bulk class.
pub fn mark_bulk_thread() {
    // On Linux the nice value is per thread and `who = 0` names the caller.
    // SAFETY: `setpriority` takes plain integers and touches no memory.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, BULK_NICE) };
    if rc != 0 {
        tracing::debug!(
            "cannot lower a bulk thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn marking_lowers_only_the_calling_thread() {
        let nice = || unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        let before = nice();
        let inside = std::thread::spawn(move || {
            super::mark_bulk_thread();
            nice()
        })
        .join()
        .unwrap();
        assert_eq!(inside, super::BULK_NICE.max(before));
        assert_eq!(nice(), before, "other threads keep their priority");
    }
}
