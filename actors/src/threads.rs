//! Names and scheduling weights of a node's threads.
//!
//! Every thread is named for `top -H` and perf. Work that neither a view
//! nor a client waits for (serving metrics scrapes) runs at a lower
//! weight, so it never delays the threads that do. Lowering the weight of
//! the ledger, the verifier and the API as well was measured and not kept:
//! it delayed execution and once starved a catching-up member. Raising the
//! nice value needs no privilege; other threads keep the process's own.

/// What a thread does, which sets its scheduling weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadRole {
    /// On the path of a view or of a client's transaction: keeps the
    /// process's nice value.
    Foreground,
    /// Work nobody waits for.
    Background,
}

impl ThreadRole {
    /// The nice value to set (Linux: per thread), if any. A nice-10 thread
    /// has about a tenth of a nice-0 thread's weight.
    pub fn nice(self) -> Option<i32> {
        match self {
            ThreadRole::Foreground => None,
            ThreadRole::Background => Some(10),
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
        let Some(nice) = role.nice() else {
            return;
        };
        // SAFETY: gettid has no preconditions; on Linux the nice value of
        // PRIO_PROCESS with a thread id is that thread's own.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
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
    fn a_background_thread_is_named_and_runs_at_the_lower_weight() {
        let (name, nice) = std::thread::spawn(|| {
            label_current_thread("strata-test-background", ThreadRole::Background);
            let name = std::fs::read_to_string("/proc/thread-self/comm").expect("comm");
            // SAFETY: getpriority has no preconditions.
            let nice =
                unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) };
            (name, nice)
        })
        .join()
        .expect("thread");
        assert_eq!(name.trim_end(), "strata-test-bac");
        assert_eq!(Some(nice), ThreadRole::Background.nice());
    }
}
