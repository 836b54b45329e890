//! What a member of the node's test mode does wrong on purpose (see
//! `byzantine`): named here, apart from the driver, so that the node's
//! configuration can hold it without depending on the driver.

/// What a Byzantine member does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misdeed {
    /// Pushes batches of records whose signatures do not verify, again and
    /// again (each a new batch, so none is known yet).
    InvalidBatches,
    /// Asks for sync ranges whose target height is a lie (the block at
    /// the tip, claimed to be at height 1).
    LyingSync,
    /// Sends garbage down its lanes, and now and then a frame over the
    /// size limit.
    MalformedFrames,
    /// Gossips timeouts carrying a timeout certificate from the future
    /// whose signature is forged (to make the others skip views).
    BogusTimeouts,
    /// Signs a second, conflicting vote beside each of its votes, and a
    /// second block beside each of its proposals (sent to half the
    /// members).
    Equivocate,
    /// Sends its own consensus messages again long after their view.
    Replay,
    /// Pushes the same batch down its batch lane hundreds of times a
    /// second.
    LaneFlood,
}

impl Misdeed {
    pub const ALL: [(&'static str, Misdeed); 7] = [
        ("invalid-batches", Misdeed::InvalidBatches),
        ("lying-sync", Misdeed::LyingSync),
        ("malformed-frames", Misdeed::MalformedFrames),
        ("bogus-timeouts", Misdeed::BogusTimeouts),
        ("equivocate", Misdeed::Equivocate),
        ("replay", Misdeed::Replay),
        ("lane-flood", Misdeed::LaneFlood),
    ];
}

impl std::str::FromStr for Misdeed {
    type Err = String;
    fn from_str(s: &str) -> Result<Misdeed, String> {
        Misdeed::ALL
            .iter()
            .find(|(name, _)| *name == s)
            .map(|(_, m)| *m)
            .ok_or_else(|| {
                let names: Vec<&str> = Misdeed::ALL.iter().map(|(n, _)| *n).collect();
                format!("unknown misdeed {s:?} ({})", names.join(", "))
            })
    }
}
