//! The reveal half of SCRAPE PVSS (see the parent module): a participant
//! decrypts its share of a verified dealing with a DLEQ proof, anyone
//! checks that proof against the participant's key and the dealing, and
//! any `threshold` valid shares recover s·H by Lagrange interpolation in
//! the exponent.

use super::*;

fn share_challenge(
    ctx: &DealingContext,
    index: u32,
    key: &PvssPublicKey,
    share: &[u8; 32],
    encrypted: &[u8; 32],
    a: &[u8; 32],
    b: &[u8; 32],
) -> Scalar {
    let mut t = Transcript::new(b"decryption", ctx);
    t.append(&index.to_le_bytes())
        .append(&key.bytes)
        .append(share)
        .append(encrypted)
        .append(a)
        .append(b);
    t.challenge()
}

fn encrypted_share(d: &Dealing, index: u32) -> Result<(&[u8; 32], RistrettoPoint), PvssError> {
    let bytes = d
        .encrypted_shares
        .get(index as usize)
        .ok_or(PvssError::IndexOutOfRange {
            index,
            participants: d.encrypted_shares.len(),
        })?;
    let point = CompressedRistretto(*bytes)
        .decompress()
        .ok_or(PvssError::InvalidPoint {
            field: "encrypted_shares",
            index: index as usize,
        })?;
    Ok((bytes, point))
}

/// Participant `index` decrypts its share of a (verified) dealing. The proof
/// nonce is derived from the key and transcript, so no randomness is needed.
pub fn decrypt_share(
    key: &PvssSecretKey,
    ctx: &DealingContext,
    index: u32,
    d: &Dealing,
) -> Result<DecryptedShare, PvssError> {
    let (enc_bytes, enc) = encrypted_share(d, index)?;
    let pk = key.public_key();
    let share = key.0.invert() * enc;
    let share_bytes = share.compress().to_bytes();
    let nonce = {
        let mut h = Sha512::new();
        h.update(DOMAIN);
        h.update(b"/decryption-nonce");
        h.update(key.0.as_bytes());
        h.update(ctx.encode());
        h.update(index.to_le_bytes());
        h.update(enc_bytes);
        Scalar::from_hash(h)
    };
    let a = (nonce * h()).compress().to_bytes();
    let b = (nonce * share).compress().to_bytes();
    let c = share_challenge(ctx, index, &pk, &share_bytes, enc_bytes, &a, &b);
    Ok(DecryptedShare {
        index,
        share: share_bytes,
        challenge: c.to_bytes(),
        response: (nonce - c * key.0).to_bytes(),
    })
}

/// Checks a decrypted share against the participant's key and the dealing.
pub fn verify_share(
    ctx: &DealingContext,
    key: &PvssPublicKey,
    d: &Dealing,
    s: &DecryptedShare,
) -> Result<(), PvssError> {
    let (enc_bytes, enc) = encrypted_share(d, s.index)?;
    let bad = PvssError::InvalidShareProof { index: s.index };
    let share = CompressedRistretto(s.share)
        .decompress()
        .ok_or(bad.clone())?;
    let c = scalar_from("challenge", 0, &s.challenge).map_err(|_| bad.clone())?;
    let r = scalar_from("response", 0, &s.response).map_err(|_| bad.clone())?;
    let a = RistrettoPoint::vartime_multiscalar_mul([r, c], [*h(), key.point]);
    let b = RistrettoPoint::vartime_multiscalar_mul([r, c], [share, enc]);
    let expected = share_challenge(
        ctx,
        s.index,
        key,
        &s.share,
        enc_bytes,
        &a.compress().to_bytes(),
        &b.compress().to_bytes(),
    );
    if expected == c {
        Ok(())
    } else {
        Err(bad)
    }
}

/// Recovers s·H from the first `threshold` distinct (verified) shares.
pub fn recover(threshold: usize, shares: &[DecryptedShare]) -> Result<PvssSecret, PvssError> {
    let mut seen = std::collections::HashSet::new();
    let mut chosen = Vec::with_capacity(threshold);
    for s in shares {
        if !seen.insert(s.index) {
            return Err(PvssError::DuplicateIndex(s.index));
        }
        if chosen.len() < threshold {
            chosen.push(s);
        }
    }
    if threshold == 0 || chosen.len() < threshold {
        return Err(PvssError::NotEnoughShares {
            got: chosen.len(),
            needed: threshold,
        });
    }
    let points = chosen
        .iter()
        .map(|s| {
            CompressedRistretto(s.share)
                .decompress()
                .ok_or(PvssError::InvalidShareProof { index: s.index })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let xs: Vec<Scalar> = chosen
        .iter()
        .map(|s| Scalar::from(s.index as u64 + 1))
        .collect();
    let weights = lagrange_at_zero(&xs).expect("indices are distinct");
    Ok(PvssSecret(RistrettoPoint::vartime_multiscalar_mul(
        &weights, &points,
    )))
}
