use super::*;
use crate::threshold::SignatureShare;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn ctx(t: u32, n: u32) -> DkgContext {
    DkgContext {
        chain: 0,
        epoch: 7,
        threshold: t,
        participants: n,
    }
}

fn members(n: u32, seed: u64) -> Vec<PvssSecretKey> {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    (0..n).map(|_| PvssSecretKey::random(&mut rng)).collect()
}

/// A whole run in which every dealer is honest: the dealings, each
/// member's secret share and the group's public side.
fn run(t: u32, n: u32, seed: u64) -> (Vec<DkgDealing>, Vec<SecretShare>, GroupPublic) {
    let c = ctx(t, n);
    let sks = members(n, seed);
    let pks: Vec<PvssPublicKey> = sks.iter().map(|s| s.public_key()).collect();
    let mut rng = ChaCha20Rng::seed_from_u64(seed ^ 0xd1);
    let dealings: Vec<DkgDealing> = (0..n)
        .map(|i| deal(&mut rng, &c, i, &pks).unwrap())
        .collect();
    let checked: Vec<CheckedDealing> = dealings
        .iter()
        .map(|d| check_dealing(&c, d).unwrap())
        .collect();
    let public = group_public(&c, &checked).unwrap();
    let shares = shares_of(&c, &checked, &sks, &mut rng);
    (dealings, shares, public)
}

/// Every member's secret share from the qualified dealings (each opens
/// its share of every one).
fn shares_of(
    c: &DkgContext,
    qualified: &[CheckedDealing],
    sks: &[PvssSecretKey],
    rng: &mut ChaCha20Rng,
) -> Vec<SecretShare> {
    (0..c.participants)
        .map(|j| {
            let opened: Vec<Fr> = qualified
                .iter()
                .map(|d| d.open(rng, c, j, &sks[j as usize]).unwrap().unwrap())
                .collect();
            secret_share(j, &opened).unwrap()
        })
        .collect()
}

#[test]
fn every_members_share_matches_its_share_key_and_the_group_signs() {
    let (_, shares, public) = run(3, 5, 1);
    for s in &shares {
        assert_eq!(s.public_key(), *public.share_key(s.index).unwrap());
    }
    let sigs: Vec<SignatureShare> = shares.iter().take(3).map(|s| s.sign(b"m")).collect();
    let sig = public.combine(&sigs).unwrap();
    public.verify(b"m", &sig).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]
    /// Any t of the n members make the same, unique group signature.
    #[test]
    fn any_t_shares_make_the_same_group_signature(
        seed in any::<u64>(),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 2),
    ) {
        let (t, n) = (4u32, 7u32);
        let (_, shares, public) = run(t, n, seed);
        let mut sigs: Vec<SignatureShare> = shares.iter().map(|s| s.sign(b"beacon")).collect();
        let mut made = Vec::new();
        for pick in picks {
            // A rotation of the members: a different subset of t each time.
            let k = pick.index(n as usize);
            sigs.rotate_left(k);
            let sig = public.combine(&sigs[..t as usize]).unwrap();
            public.verify(b"beacon", &sig).unwrap();
            made.push(sig.to_bytes());
        }
        prop_assert!(made.windows(2).all(|w| w[0] == w[1]));
    }
}

#[test]
fn fewer_than_t_members_cannot_sign_for_the_group() {
    let (t, n) = (3, 5);
    let (_, shares, public) = run(t, n, 2);
    let sigs: Vec<SignatureShare> = shares.iter().take(2).map(|s| s.sign(b"m")).collect();
    assert!(public.combine(&sigs).is_err(), "combine needs t shares");
    // Their own interpolation, with t−1 points, is not the group's.
    let two = GroupPublic::from_parts(2, *public.group_key(), public_share_keys(&public, n));
    let sig = two.combine(&sigs).unwrap();
    assert!(public.verify(b"m", &sig).is_err());
}

fn public_share_keys(public: &GroupPublic, n: u32) -> Vec<PublicKey> {
    (1..=n).map(|i| *public.share_key(i).unwrap()).collect()
}

#[test]
fn a_cheating_dealer_is_excluded_by_a_complaint_anyone_can_judge() {
    let (t, n) = (3, 5);
    let c = ctx(t, n);
    let sks = members(n, 3);
    let pks: Vec<PvssPublicKey> = sks.iter().map(|s| s.public_key()).collect();
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let mut bad = deal(&mut rng, &c, 1, &pks).unwrap();
    // Dealer 1 gives member 4 a share off its polynomial.
    let wrong = Fr::from_be_bytes(&bad.shares[4]).unwrap() + Fr::from_u64(1);
    bad.shares[4] = wrong.to_be_bytes();
    let checked = check_dealing(&c, &bad).unwrap();
    // Every other member's share is good.
    for j in 0..4 {
        assert!(checked
            .open(&mut rng, &c, j, &sks[j as usize])
            .unwrap()
            .is_ok());
    }
    let complaint = checked
        .open(&mut rng, &c, 4, &sks[4])
        .unwrap()
        .expect_err("member 4 complains");
    assert_eq!(
        checked.judge(&c, &complaint, &pks[4]).unwrap(),
        Verdict::DealerCheated
    );
    // Through the wire form too.
    let decoded = DkgComplaint::decode(&mut &complaint.encode()[..]).unwrap();
    assert_eq!(
        checked.judge(&c, &decoded, &pks[4]).unwrap(),
        Verdict::DealerCheated
    );
    // Another member cannot pass the complaint off as its own.
    let stolen = DkgComplaint {
        complainer: 3,
        ..complaint.clone()
    };
    assert_eq!(
        checked.judge(&c, &stolen, &pks[3]),
        Err(DkgError::ComplaintProof)
    );
    // A revealed key that is not the member's DH key does not verify.
    let forged = DkgComplaint {
        key: (Scalar::from(5u64) * h_generator()).compress().to_bytes(),
        ..complaint.clone()
    };
    assert_eq!(
        checked.judge(&c, &forged, &pks[4]),
        Err(DkgError::ComplaintProof)
    );
    // The run goes on without dealer 1.
    let honest: Vec<DkgDealing> = (0..n)
        .filter(|&i| i != 1)
        .map(|i| deal(&mut rng, &c, i, &pks).unwrap())
        .collect();
    let qualified: Vec<CheckedDealing> = honest
        .iter()
        .map(|d| check_dealing(&c, d).unwrap())
        .collect();
    let public = group_public(&c, &qualified).unwrap();
    let shares = shares_of(&c, &qualified, &sks, &mut rng);
    let sigs: Vec<SignatureShare> = shares.iter().skip(2).map(|s| s.sign(b"m")).collect();
    public
        .verify(b"m", &public.combine(&sigs).unwrap())
        .unwrap();
}

#[test]
fn a_false_complaint_is_seen_as_one() {
    let (t, n) = (2, 4);
    let c = ctx(t, n);
    let sks = members(n, 4);
    let pks: Vec<PvssPublicKey> = sks.iter().map(|s| s.public_key()).collect();
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let good = check_dealing(&c, &deal(&mut rng, &c, 0, &pks).unwrap()).unwrap();
    // Member 2 reveals its real key with a valid proof, claiming a bad share.
    let key = sks[2].scalar() * good.ephemeral;
    let w = PvssSecretKey::random(&mut rng);
    let (a1, a2) = (w.scalar() * h_generator(), w.scalar() * good.ephemeral);
    let ch = dleq_challenge(&c, 0, 2, &pks[2].point(), &good.ephemeral, &key, &a1, &a2);
    let complaint = DkgComplaint {
        dealer: 0,
        complainer: 2,
        key: key.compress().to_bytes(),
        challenge: ch.to_bytes(),
        response: (w.scalar() - ch * sks[2].scalar()).to_bytes(),
    };
    assert_eq!(
        good.judge(&c, &complaint, &pks[2]).unwrap(),
        Verdict::ShareValid
    );
}

#[test]
fn malformed_dealings_are_refused_with_the_reason() {
    let (t, n) = (3, 4);
    let c = ctx(t, n);
    let pks: Vec<PvssPublicKey> = members(n, 5).iter().map(|s| s.public_key()).collect();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let d = deal(&mut rng, &c, 2, &pks).unwrap();
    let decoded = DkgDealing::decode(&mut &d.encode()[..]).unwrap();
    assert_eq!(decoded, d);
    check_dealing(&c, &d).unwrap();
    let short = DkgDealing {
        shares: d.shares[..3].to_vec(),
        ..d.clone()
    };
    assert!(matches!(
        check_dealing(&c, &short),
        Err(DkgError::Length {
            field: "shares",
            ..
        })
    ));
    // Another dealer's possession proof, or another epoch's, does not hold.
    let renamed = DkgDealing {
        dealer: 1,
        ..d.clone()
    };
    assert_eq!(
        check_dealing(&c, &renamed).unwrap_err(),
        DkgError::Possession
    );
    let later = DkgContext { epoch: 8, ..c };
    assert_eq!(check_dealing(&later, &d).unwrap_err(), DkgError::Possession);
    // A commitment that is not a point.
    let mut garbled = d.clone();
    garbled.commitments[1] = [0xff; 48];
    assert!(matches!(
        check_dealing(&c, &garbled),
        Err(DkgError::Encoding {
            field: "commitments"
        })
    ));
    // A bound on what a decoder allocates.
    let mut huge = Vec::new();
    2u32.encode_to(&mut huge);
    parity_scale_codec::Compact(u32::MAX).encode_to(&mut huge);
    assert!(DkgDealing::decode(&mut &huge[..]).is_err());
    assert_eq!(
        deal(&mut rng, &ctx(5, 4), 0, &pks).unwrap_err(),
        DkgError::BadParameters {
            threshold: 5,
            participants: 4
        }
    );
}
