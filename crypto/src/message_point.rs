//! H(m): a message hashed onto G2 under the signature DST (RFC 9380
//! hash_to_curve, as §2.6 of the BLS draft uses it), remembered per thread
//! for the last few messages.
//!
//! Each consensus view a member signs its vote on a block, and one view
//! later verifies the certificate its leader formed from those very votes;
//! the leader verifies the aggregate of the message it signed itself. Both
//! checks hash a message this thread hashed moments before. Hashing to G2
//! (two square roots in Fp2, an isogeny and a cofactor clearing) is about a
//! seventh of a verification (criterion: `bls/verify` cold 2.18 ms against
//! `bls/verify_signed_message` 1.87 ms), so remembering the point takes
//! that much off the certificate checks on every view's critical path. The
//! memo only caches a pure function: no result depends on what it holds.

use std::cell::RefCell;

use blst::{blst_p2, blst_p2_affine};

/// Domain separation tag of signatures.
pub const SIG_DST: &[u8] = b"BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_";

/// Messages remembered per thread: a view signs one or two (vote,
/// proposal) and checks the previous view's, and the simulator runs every
/// node of a committee on one thread.
const REMEMBERED: usize = 32;
/// Longer messages are hashed but not remembered, which bounds the memo's
/// memory whatever a caller signs (consensus statements are ~100 bytes).
const MAX_REMEMBERED_LEN: usize = 1024;

/// H(m) in both forms: projective for signing, affine for pairing.
#[derive(Clone, Copy)]
pub(crate) struct MessagePoint {
    pub(crate) projective: blst_p2,
    pub(crate) affine: blst_p2_affine,
}

#[derive(Default)]
struct Recent {
    entries: Vec<(Vec<u8>, MessagePoint)>,
    /// The slot the next new message overwrites once `entries` is full.
    next: usize,
}

thread_local! {
    static RECENT: RefCell<Recent> = RefCell::new(Recent::default());
}

/// H(m) under [`SIG_DST`], from the memo when this thread hashed `message`
/// recently.
pub(crate) fn message_point(message: &[u8]) -> MessagePoint {
    if message.len() > MAX_REMEMBERED_LEN {
        return hash_to_g2(message);
    }
    RECENT.with(|recent| {
        let mut recent = recent.borrow_mut();
        if let Some((_, point)) = recent.entries.iter().find(|(m, _)| m == message) {
            return *point;
        }
        let point = hash_to_g2(message);
        if recent.entries.len() < REMEMBERED {
            recent.entries.push((message.to_vec(), point));
        } else {
            let slot = recent.next;
            recent.entries[slot] = (message.to_vec(), point);
            recent.next = (slot + 1) % REMEMBERED;
        }
        point
    })
}

/// Empties this thread's memo, so the next check of any message hashes it
/// afresh (benchmarks measure cold verification with it).
pub fn forget_hashed_messages() {
    RECENT.with(|recent| *recent.borrow_mut() = Recent::default());
}

fn hash_to_g2(message: &[u8]) -> MessagePoint {
    let mut projective = blst_p2::default();
    let mut affine = blst_p2_affine::default();
    // SAFETY: every pointer is to a live, correctly sized value or slice
    // for the duration of the call; a zero-length augmentation is allowed.
    unsafe {
        blst::blst_hash_to_g2(
            &mut projective,
            message.as_ptr(),
            message.len(),
            SIG_DST.as_ptr(),
            SIG_DST.len(),
            std::ptr::null(),
            0,
        );
        blst::blst_p2_to_affine(&mut affine, &projective);
    }
    MessagePoint { projective, affine }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembered_points_equal_fresh_ones_also_after_eviction() {
        let messages: Vec<Vec<u8>> = (0..REMEMBERED as u32 * 2 + 3)
            .map(|i| i.to_le_bytes().to_vec())
            .collect();
        for _ in 0..2 {
            for m in &messages {
                let fresh = hash_to_g2(m);
                let memo = message_point(m);
                assert_eq!(memo.affine, fresh.affine);
                assert_eq!(message_point(m).affine, fresh.affine, "a hit");
            }
        }
        assert_ne!(
            message_point(b"a").affine,
            message_point(b"b").affine,
            "distinct messages, distinct points"
        );
        RECENT.with(|r| assert_eq!(r.borrow().entries.len(), REMEMBERED));
        forget_hashed_messages();
        let long = vec![7u8; MAX_REMEMBERED_LEN + 1];
        assert_eq!(message_point(&long).affine, hash_to_g2(&long).affine);
        RECENT.with(|r| assert!(r.borrow().entries.is_empty(), "not remembered"));
    }
}
