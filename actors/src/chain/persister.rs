//! A chain's safety state made durable on a thread of its own. The core
//! yields after each `Persist` and signs what it guards (a vote, a
//! proposal) once resumed; with the flush here, the signature and the
//! disk's flush overlap instead of adding up on every view's critical path.
//! The committee actor still sends nothing before every earlier state is
//! durable ([`SafetyPersister::wait`]).

use std::sync::mpsc;

use strata_chains::consensus::SafetyState;
use strata_chains::store::{SafetySaver, StoreError};

use crate::threads::{label_current_thread, ThreadRole};

pub struct SafetyPersister {
    jobs: mpsc::Sender<SafetyState>,
    done: mpsc::Receiver<Result<(), StoreError>>,
    in_flight: usize,
}

impl SafetyPersister {
    /// Starts the thread; it ends when the persister is dropped. It holds
    /// the safety files only, so it never keeps a database open.
    pub fn start(name: String, saver: SafetySaver) -> std::io::Result<SafetyPersister> {
        let (jobs, queue) = mpsc::channel::<SafetyState>();
        let (report, done) = mpsc::channel();
        std::thread::Builder::new()
            .name(name.clone())
            .spawn(move || {
                label_current_thread(&name, ThreadRole::Foreground);
                for state in queue {
                    if report.send(saver.save(&state)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(SafetyPersister {
            jobs,
            done,
            in_flight: 0,
        })
    }

    /// Starts making `state` durable; states are written in order.
    pub fn persist(&mut self, state: SafetyState) -> Result<(), StoreError> {
        self.jobs.send(state).map_err(|_| ended())?;
        self.in_flight += 1;
        Ok(())
    }

    /// Returns once every state handed to [`SafetyPersister::persist`] is
    /// durable, or with the first failure.
    pub fn wait(&mut self) -> Result<(), StoreError> {
        while self.in_flight > 0 {
            let written = self.done.recv().map_err(|_| ended())?;
            self.in_flight -= 1;
            written?;
        }
        Ok(())
    }
}

impl Drop for SafetyPersister {
    /// A node that stops leaves its last state durable.
    fn drop(&mut self) {
        if let Err(e) = self.wait() {
            tracing::error!("persisting the safety state failed: {e}");
        }
    }
}

fn ended() -> StoreError {
    StoreError::Backend("the safety state's writer thread has ended".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_chains::store::{RocksStore, Store};
    use strata_chains::types::{ChainId, Round};
    use strata_crypto::hash::Digest;

    #[test]
    fn states_are_durable_in_order_once_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let store = RocksStore::open(dir.path()).unwrap();
        let mut persister =
            SafetyPersister::start("persist-test".into(), store.safety_saver()).unwrap();
        let mut last = SafetyState::fresh(ChainId::GLOBAL, 0, Digest::of("test", b"genesis"));
        for v in 1..=20u64 {
            last.last_voted = Round::new(1, v);
            persister.persist(last.clone()).unwrap();
        }
        persister.wait().unwrap();
        assert_eq!(store.load_safety().unwrap(), Some(last.clone()));
        // Nothing left in flight: waiting again returns at once.
        persister.wait().unwrap();
        drop(persister);
        drop(store);
        let reopened = RocksStore::open(dir.path()).unwrap();
        assert_eq!(reopened.load_safety().unwrap(), Some(last));
    }
}
