use super::*;
use crate::test_support::{certify, record, signed_record, CertifiedChain, TestCommittee};
use crate::types::{
    chain_of_domain, domain_of, Anchor, ChainId, LinkedRecord, MetaEntry, ObjectId, ParentReceipt,
    Provenance, SystemTx, PARENT_RECORD_KEY,
};
use strata_crypto::codec::{BoundedBytes, BoundedVec};
use strata_crypto::sr25519::TxKeypair;

fn at(height: Height) -> BlockRef {
    BlockRef::bare(height, Digest::of("test/block", &height.to_le_bytes()))
}

fn local_ctx() -> ChainContext {
    ChainContext {
        chain: chain_of_domain(0),
        domains: 1,
    }
}

fn bare() -> GenesisState {
    GenesisState::bare(Digest::ZERO)
}

/// A record about `object` (in its own domain of `domains`) with `op`.
fn op_record(key: &TxKeypair, object: &str, nonce: u64, op: Op, domains: u32) -> Provenance {
    let domain = domain_of(object.as_bytes(), domains);
    Provenance {
        op,
        ..record(key, domain, object.as_bytes(), nonce)
    }
}

fn signed(p: Provenance, key: &TxKeypair) -> Transaction {
    Transaction::Provenance(p.sign(key))
}

fn run_block(state: &mut MemState, height: Height, txs: &[Transaction]) -> Writes {
    let hashes: Vec<Digest> = txs.iter().map(Transaction::hash).collect();
    let w = apply(state, local_ctx(), at(height), txs, &hashes).unwrap();
    state.execute(at(height), txs, &hashes).unwrap();
    w
}

#[test]
fn the_same_blocks_give_the_same_writes_and_digests_and_replays_are_refused() {
    let key = TxKeypair::from_seed(&[8; 32]);
    let create = |o: &str, n| signed(op_record(&key, o, n, Op::Create, 1), &key);
    let update = |o: &str, n| signed(op_record(&key, o, n, Op::Update, 1), &key);
    let block1 = vec![
        create("o0", 0),
        create("o1", 1),
        update("o0", 2),
        update("o1", 3),
    ];
    // A replay of nonce 1, a fresh nonce, a replay inside the block.
    let block2 = vec![update("o1", 1), update("o1", 9), update("o0", 9)];
    let run = || {
        let mut state = MemState::new(local_ctx(), &bare());
        run_block(&mut state, 1, &block1);
        run_block(&mut state, 2, &block2);
        state
    };
    let (a, b) = (run(), run());
    assert_eq!(a.root(), b.root());
    // The proven head of an object matches the history a node serves.
    assert_eq!(
        a.object_head(b"o1").unwrap(),
        ObjectHead::of_history(a.history(b"o1"))
    );
    assert_eq!(a.executed(), 5);
    assert_eq!(a.history(b"o1").len(), 3);
    assert_eq!(a.refused().len(), 2);
    assert!(a.refused().iter().all(|(_, why)| why == "replayed nonce"));
    // Each height records its block's hash.
    assert_eq!(a.value(&block_key(2)).unwrap(), Some(at(2).hash.0.to_vec()));
    // A different order of the same records is a different state.
    let mut c = MemState::new(local_ctx(), &bare());
    let swapped = vec![
        create("o1", 1),
        create("o0", 0),
        update("o1", 3),
        update("o0", 2),
    ];
    run_block(&mut c, 1, &swapped);
    let mut d = MemState::new(local_ctx(), &bare());
    run_block(&mut d, 1, &block1);
    assert_ne!(c.root(), d.root());
}

#[test]
fn evidence_that_proves_nothing_is_refused_and_changes_nothing_but_the_block_hash() {
    use crate::types::Evidence;
    let ctx = ChainContext {
        chain: ChainId::GLOBAL,
        domains: 1,
    };
    let blocks = crate::test_support::chain_of_blocks(2);
    let statement = blocks[1].proposal_statement();
    let tx = Transaction::System(Box::new(SystemTx::Evidence(Evidence::Equivocation {
        first: statement.clone(),
        second: statement,
    })));
    let state = MemState::new(ctx, &bare());
    let hashes = vec![tx.hash()];
    let w = apply(&state, ctx, at(1), std::slice::from_ref(&tx), &hashes).unwrap();
    assert_eq!(w.accepted, 0);
    // The same statement twice: no conflict (the genesis state records no
    // committee for it either).
    assert!(
        matches!(
            w.refused[0].1.as_str(),
            "the evidence proves no misbehaviour"
                | "no committee of the evidence's epoch is recorded"
        ),
        "{:?}",
        w.refused
    );
    assert_eq!(w.state, vec![(block_key(1), at(1).hash.0.to_vec())]);
}

#[test]
fn records_of_another_chain_are_refused() {
    let key = TxKeypair::from_seed(&[8; 32]);
    let ctx = ChainContext {
        chain: ChainId::GLOBAL,
        domains: 2,
    };
    let txs = vec![signed_record(&key, domain_of(b"o1", 2), b"o1", 1)];
    let hashes: Vec<Digest> = txs.iter().map(Transaction::hash).collect();
    let w = apply(&MemState::new(ctx, &bare()), ctx, at(1), &txs, &hashes).unwrap();
    assert_eq!(w.accepted, 0);
    assert_eq!(w.refused[0].1, "wrong domain");
}

struct Steps {
    state: MemState,
    nonce: u64,
    height: u64,
}

impl Steps {
    /// Executes one record in its own block; its refusal, if any.
    fn step(
        &mut self,
        key: &TxKeypair,
        object: &str,
        op: Op,
        parents: &[&str],
        to: Option<&TxKeypair>,
    ) -> (Option<String>, Transaction) {
        self.nonce += 1;
        self.height += 1;
        let mut p = op_record(key, object, self.nonce, op, 1);
        p.parents = BoundedVec::new(
            parents
                .iter()
                .map(|x| ObjectId::new(x.as_bytes().to_vec()).unwrap())
                .collect(),
        )
        .unwrap();
        if let Some(to) = to {
            p.meta = BoundedVec::new(vec![MetaEntry {
                key: BoundedBytes::new(TRANSFER_TO_KEY.to_vec()).unwrap(),
                value: BoundedBytes::new(hex::encode(to.public().to_bytes()).into_bytes()).unwrap(),
            }])
            .unwrap();
        }
        let tx = signed(p, key);
        let w = run_block(&mut self.state, self.height, std::slice::from_ref(&tx));
        (w.refused.first().map(|(_, why)| why.clone()), tx)
    }
}

/// Every rule of the table in `records.rs`, each with the reason it gives.
#[test]
fn each_operation_meets_the_objects_life_rules_or_is_refused_with_its_reason() {
    let alice = TxKeypair::from_seed(&[1; 32]);
    let bob = TxKeypair::from_seed(&[2; 32]);
    let mut s = Steps {
        state: MemState::new(local_ctx(), &bare()),
        nonce: 0,
        height: 0,
    };
    let ok = None;
    let why = |s: &str| Some(s.to_string());
    assert_eq!(
        s.step(&alice, "doc", Op::Update, &[], None).0,
        why("object does not exist")
    );
    assert_eq!(s.step(&alice, "doc", Op::Create, &[], None).0, ok);
    assert_eq!(
        s.step(&bob, "doc", Op::Create, &[], None).0,
        why("object already exists")
    );
    // Anyone may read or update a live object.
    assert_eq!(s.step(&bob, "doc", Op::Update, &[], None).0, ok);
    assert_eq!(s.step(&bob, "doc", Op::Read, &[], None).0, ok);
    // Only the holder transfers, and a transfer names its recipient.
    assert_eq!(
        s.step(&bob, "doc", Op::Transfer, &[], Some(&bob)).0,
        why("not the object's holder")
    );
    assert_eq!(
        s.step(&alice, "doc", Op::Transfer, &[], None).0,
        why("transfer names no recipient (metadata \"to\": the recipient's key in hex)")
    );
    assert_eq!(s.step(&alice, "doc", Op::Transfer, &[], Some(&bob)).0, ok);
    let head = s.state.object_head(b"doc").unwrap();
    assert_eq!(head.holder, bob.public().to_bytes());
    assert_eq!(head, ObjectHead::of_history(s.state.history(b"doc")));
    // The previous holder can no longer delete it; the new one can.
    assert_eq!(
        s.step(&alice, "doc", Op::Delete, &[], None).0,
        why("not the object's holder")
    );
    // Derivations need live parents that exist.
    assert_eq!(
        s.step(&alice, "summary", Op::Derive, &[], None).0,
        why("derive names no parent")
    );
    assert_eq!(
        s.step(&alice, "summary", Op::Derive, &["nothing"], None).0,
        why("parent does not exist")
    );
    assert_eq!(s.step(&alice, "summary", Op::Derive, &["doc"], None).0, ok);
    assert_eq!(
        s.state.object_head(b"summary").unwrap().holder,
        alice.public().to_bytes()
    );
    assert_eq!(s.step(&bob, "doc", Op::Delete, &[], None).0, ok);
    assert_eq!(s.state.object_head(b"doc").unwrap().life, Life::Deleted);
    assert_eq!(
        s.step(&bob, "doc", Op::Update, &[], None).0,
        why("object was deleted")
    );
    assert_eq!(
        s.step(&bob, "doc", Op::Create, &[], None).0,
        why("object already exists")
    );
    assert_eq!(
        s.step(&alice, "copy", Op::Derive, &["doc"], None).0,
        why("parent was deleted")
    );
    // A refused record spends its nonce: replayed later, when its rule
    // would hold, it is still refused.
    let (verdict, refused) = s.step(&alice, "late", Op::Update, &[], None);
    assert_eq!(verdict, why("object does not exist"));
    assert_eq!(s.step(&alice, "late", Op::Create, &[], None).0, ok);
    let next = s.height + 1;
    let w = run_block(&mut s.state, next, std::slice::from_ref(&refused));
    assert_eq!(w.refused[0].1, "replayed nonce");
}

/// Two domains and the global chain: domain 0 creates `x` and transfers
/// it to domain 1 (to bob); the transfer is anchored and globally final.
struct TwoDomains {
    genesis: GenesisState,
    a: CertifiedChain,
    global: CertifiedChain,
    alice: TxKeypair,
    bob: TxKeypair,
    x: String,
    transfer: Transaction,
    anchor: Anchor,
}

fn name_in(domain: u32, tag: &str) -> String {
    (0..)
        .map(|i| format!("{tag}-{i}"))
        .find(|n| domain_of(n.as_bytes(), 2) == domain)
        .unwrap()
}

fn meta_entry(key: &[u8], value: &str) -> MetaEntry {
    MetaEntry {
        key: BoundedBytes::new(key.to_vec()).unwrap(),
        value: BoundedBytes::new(value.as_bytes().to_vec()).unwrap(),
    }
}

impl TwoDomains {
    fn new() -> TwoDomains {
        let kit = |i: u64| TestCommittee::seeded(i + 1, 4);
        let chains = [chain_of_domain(0), chain_of_domain(1), ChainId::GLOBAL];
        let committees = (0u64..)
            .zip(chains)
            .map(|(i, c)| CertifiedChain::new(c, 2, kit(i), &bare()).committee_record(c))
            .collect();
        let genesis = GenesisState {
            config: Digest::ZERO,
            committees,
            ..GenesisState::default()
        };
        let alice = TxKeypair::from_seed(&[1; 32]);
        let bob = TxKeypair::from_seed(&[2; 32]);
        let x = name_in(0, "x");
        let mut a = CertifiedChain::new(chains[0], 2, kit(0), &genesis);
        let create = signed(
            Provenance {
                op: Op::Create,
                ..record(&alice, 0, x.as_bytes(), 1)
            },
            &alice,
        );
        let mut t = record(&alice, 0, x.as_bytes(), 2);
        t.op = Op::Transfer;
        t.meta = BoundedVec::new(vec![
            meta_entry(TRANSFER_TO_DOMAIN_KEY, "1"),
            meta_entry(TRANSFER_TO_KEY, &hex::encode(bob.public().to_bytes())),
        ])
        .unwrap();
        let transfer = signed(t, &alice);
        a.push(vec![create]);
        a.push(vec![transfer.clone()]);
        for _ in 0..6 {
            a.push(Vec::new());
        }
        assert!(a.state.refused().is_empty(), "{:?}", a.state.refused());
        assert_eq!(a.state.object_head(x.as_bytes()).unwrap().life, Life::Moved);
        let header = a.header(6).clone();
        let anchor = Anchor {
            domain: 0,
            qc: certify(&a.kit, &header),
            tip: a.state.prove(&block_key(5), 5).unwrap(),
            link: None,
            handoffs: Default::default(),
            header,
        };
        let mut global = CertifiedChain::new(ChainId::GLOBAL, 2, kit(2), &genesis);
        global.push(vec![crate::test_support::anchor_tx(&anchor)]);
        global.push(Vec::new());
        global.push(Vec::new());
        assert!(global.state.refused().is_empty());
        TwoDomains {
            genesis,
            a,
            global,
            alice,
            bob,
            x,
            transfer,
            anchor,
        }
    }

    /// The transfer's receipt: anchored, or only committed on domain 0.
    fn receipt(&self, anchored: bool) -> ParentReceipt {
        let Transaction::Provenance(record) = &self.transfer else {
            unreachable!()
        };
        let finality = if anchored {
            crate::types::Finality::Anchored(Box::new(crate::types::AnchoredProof {
                block_link: self.a.state.prove(&block_key(2), 5).unwrap(),
                anchored: crate::types::AnchorInclusion {
                    anchor: self.anchor.clone(),
                    anchor_block: crate::test_support::inclusion(
                        &self.global,
                        1,
                        &crate::test_support::anchor_tx(&self.anchor),
                    ),
                    global_commit: crate::test_support::commit(&self.global, 1),
                },
            }))
        } else {
            crate::types::Finality::Committed(Box::new(crate::test_support::commit(&self.a, 2)))
        };
        ParentReceipt {
            record: record.clone(),
            links: None,
            block: crate::test_support::inclusion(&self.a, 2, &self.transfer),
            finality,
            history: Default::default(),
        }
    }

    /// A linked record of domain 1 about `object` with parent `x`.
    fn linked(
        &self,
        key: &TxKeypair,
        object: &str,
        op: Op,
        nonce: u64,
        name: bool,
        anchored: bool,
    ) -> Transaction {
        let receipt = self.receipt(anchored);
        let mut p = record(key, 1, object.as_bytes(), nonce);
        p.op = op;
        p.parents =
            BoundedVec::new(vec![ObjectId::new(self.x.as_bytes().to_vec()).unwrap()]).unwrap();
        if name {
            p.meta = BoundedVec::new(vec![meta_entry(
                PARENT_RECORD_KEY,
                &receipt.tx_hash().to_hex(),
            )])
            .unwrap();
        }
        Transaction::Linked(Box::new(LinkedRecord {
            record: p.sign(key),
            parents: BoundedVec::new(vec![receipt]).unwrap(),
        }))
    }
}

/// Cross-domain lineage (issue 25, point 5): a parent of another domain is
/// accepted only with a receipt proving its record globally final, named
/// by hash under the record's signature; a transfer to another domain
/// moves the object out of its domain and is imported once.
#[test]
fn cross_domain_parents_need_a_global_receipt_and_a_transfer_is_imported_once() {
    let n = TwoDomains::new();
    let ctx = ChainContext {
        chain: chain_of_domain(1),
        domains: 2,
    };
    let mut b = MemState::new(ctx, &n.genesis);
    let mut height = 0;
    let mut run = |b: &mut MemState, tx: Transaction| {
        height += 1;
        let before = b.refused().len();
        b.execute(at(height), std::slice::from_ref(&tx), &[tx.hash()])
            .unwrap();
        b.refused().get(before).map(|(_, why)| why.clone())
    };
    let why = |s: &str| Some(s.to_string());
    let y = name_in(1, "y");
    // A plain record with a parent of another domain.
    let plain = signed(
        Provenance {
            op: Op::Derive,
            parents: BoundedVec::new(vec![ObjectId::new(n.x.as_bytes().to_vec()).unwrap()])
                .unwrap(),
            ..record(&n.alice, 1, y.as_bytes(), 10)
        },
        &n.alice,
    );
    assert_eq!(
        run(&mut b, plain),
        why("parent lives in another domain and no receipt proves its record")
    );
    // Not naming the parent record, or with a receipt of local commit only.
    assert_eq!(
        run(&mut b, n.linked(&n.alice, &y, Op::Derive, 11, false, true)),
        why("the record does not name its parent's record (metadata \"parent-record\")")
    );
    assert_eq!(
        run(&mut b, n.linked(&n.alice, &y, Op::Derive, 12, true, false)),
        why("the parent's record is not globally final")
    );
    // Globally final: a derive is accepted.
    assert_eq!(
        run(&mut b, n.linked(&n.alice, &y, Op::Derive, 13, true, true)),
        None
    );
    assert_eq!(b.object_head(y.as_bytes()).unwrap().life, Life::Live);
    // The transfer imported, by its transferee only, and once.
    let z = name_in(1, "z");
    assert_eq!(
        run(&mut b, n.linked(&n.alice, &z, Op::Transfer, 14, true, true)),
        why("not the transferee")
    );
    assert_eq!(
        run(&mut b, n.linked(&n.bob, &z, Op::Transfer, 15, true, true)),
        None
    );
    let head = b.object_head(z.as_bytes()).unwrap();
    assert_eq!(
        (head.life, head.holder),
        (Life::Live, n.bob.public().to_bytes())
    );
    let w = name_in(1, "w");
    assert_eq!(
        run(&mut b, n.linked(&n.bob, &w, Op::Transfer, 16, true, true)),
        why("the transfer was imported already")
    );
    // The source domain: the moved object takes no more records.
    let mut again = record(&n.alice, 0, n.x.as_bytes(), 3);
    again.op = Op::Transfer;
    again.meta = BoundedVec::new(vec![meta_entry(TRANSFER_TO_DOMAIN_KEY, "1")]).unwrap();
    let mut a = n.a.state.clone();
    let tx = signed(again, &n.alice);
    let h = a.applied_height() + 1;
    let ctx_a = ChainContext {
        chain: chain_of_domain(0),
        domains: 2,
    };
    let w = apply(&a, ctx_a, at(h), std::slice::from_ref(&tx), &[tx.hash()]).unwrap();
    assert_eq!(w.refused[0].1, "object moved to another domain");
    a.execute(at(h), std::slice::from_ref(&tx), &[tx.hash()])
        .unwrap();
}

/// A certified local chain of `heights` blocks (one record at height 2
/// when `salt` is odd, so two salts give two forks of one committee).
struct LocalChain(CertifiedChain);

impl LocalChain {
    fn new(salt: u64, heights: u64) -> LocalChain {
        let mut chain =
            CertifiedChain::new(chain_of_domain(0), 1, TestCommittee::seeded(1, 4), &bare());
        let key = TxKeypair::from_seed(&[9; 32]);
        for h in 1..=heights {
            let txs = if h == 2 && salt % 2 == 1 {
                vec![signed(op_record(&key, "o", 0, Op::Create, 1), &key)]
            } else {
                Vec::new()
            };
            chain.push(txs);
        }
        LocalChain(chain)
    }

    fn record(&self) -> CommitteeRecord {
        self.0.committee_record(chain_of_domain(0))
    }

    /// The anchor of the header at `height` (anchoring `height - 1`),
    /// linked to the anchor at `last`.
    fn anchor(&self, height: u64, last: Option<Height>) -> Anchor {
        let header = self.0.header(height).clone();
        let s = header.state_height;
        Anchor {
            domain: 0,
            qc: certify(&self.0.kit, &header),
            tip: self.0.state.prove(&block_key(s), s).unwrap(),
            link: last.map(|l| self.0.state.prove(&block_key(l), s).unwrap()),
            handoffs: Default::default(),
            header,
        }
    }
}

fn global_with(local: &LocalChain) -> MemState {
    let genesis = GenesisState {
        config: Digest::ZERO,
        committees: vec![local.record()],
        ..GenesisState::default()
    };
    MemState::new(
        ChainContext {
            chain: ChainId::GLOBAL,
            domains: 1,
        },
        &genesis,
    )
}

/// Executes one anchor at the next global height; the refusal, if any.
fn submit(global: &mut MemState, anchor: Anchor) -> Option<String> {
    let tx = Transaction::System(Box::new(SystemTx::Anchor(Box::new(anchor))));
    let h = global.applied_height() + 1;
    let before = global.refused().len();
    global
        .execute(at(h), std::slice::from_ref(&tx), &[tx.hash()])
        .unwrap();
    global.refused().get(before).map(|(_, why)| why.clone())
}

fn head(global: &MemState) -> Option<AnchorHead> {
    global
        .value(&anchor_key(0))
        .unwrap()
        .map(|b| AnchorHead::decode(&mut &b[..]).unwrap())
}

#[test]
fn anchors_extend_the_last_one_are_idempotent_and_refuse_what_does_not_hold() {
    let local = LocalChain::new(1, 30);
    let mut global = global_with(&local);
    let why = |s: &str| Some(s.to_string());

    // Refused: a certificate of another committee, a tip proof of another
    // height, the genesis state.
    let mut forged = local.anchor(10, None);
    forged.qc = certify(&TestCommittee::seeded(99, 4), &forged.header);
    assert_eq!(
        submit(&mut global, forged),
        why("certificate does not verify")
    );
    let mut wrong_tip = local.anchor(10, None);
    wrong_tip.tip = local.0.state.prove(&block_key(3), 9).unwrap();
    assert_eq!(
        submit(&mut global, wrong_tip),
        why("tip proof does not hold")
    );
    assert_eq!(
        submit(&mut global, local.anchor(1, None)),
        why("nothing to anchor (the genesis state)")
    );
    assert_eq!(head(&global), None);

    // The first anchor needs no link; the same height again is a no-op.
    assert_eq!(submit(&mut global, local.anchor(10, None)), None);
    let first = head(&global).unwrap();
    assert_eq!(first.last.height, 9);
    assert_eq!(first.last.block_hash, local.0.header(9).hash());
    assert_eq!(first.last.state_root, local.0.state.root_at(9).unwrap());
    let root = global.root();
    assert_eq!(
        submit(&mut global, local.anchor(10, None)),
        why("already anchored")
    );
    // Only the block hash of the no-op's height changed.
    assert_eq!(head(&global).unwrap(), first);
    assert_ne!(global.root(), root);

    // The next one must link to it: no link, or a link to another height,
    // is refused; a lower one too.
    assert_eq!(
        submit(&mut global, local.anchor(20, None)),
        why("does not extend the domain's last anchor")
    );
    assert_eq!(
        submit(&mut global, local.anchor(20, Some(8))),
        why("does not extend the domain's last anchor")
    );
    assert_eq!(submit(&mut global, local.anchor(20, Some(9))), None);
    assert_eq!(head(&global).unwrap().last.height, 19);
    assert_eq!(head(&global).unwrap().anchors, 2);
    assert_eq!(
        submit(&mut global, local.anchor(15, Some(9))),
        why("below the domain's last anchor")
    );
    // An older anchored height again is still a no-op.
    assert_eq!(
        submit(&mut global, local.anchor(10, None)),
        why("already anchored")
    );
}

#[test]
fn two_certified_states_for_one_height_are_recorded_as_evidence_and_the_first_stays() {
    let local = LocalChain::new(1, 12);
    // A fork the same committee certified: other blocks, other roots.
    let fork = LocalChain::new(2, 12);
    let mut global = global_with(&local);
    assert_eq!(submit(&mut global, local.anchor(10, None)), None);
    let recorded = head(&global).unwrap();
    assert_eq!(submit(&mut global, fork.anchor(10, None)), None);
    assert_eq!(head(&global).unwrap(), recorded);
    let conflict = global
        .value(&anchor::conflict_key(0, 9))
        .unwrap()
        .map(|b| anchor::AnchorConflict::decode(&mut &b[..]).unwrap())
        .unwrap();
    assert_eq!(conflict.recorded, recorded.last);
    assert_eq!(
        conflict.conflicting.state_root,
        fork.0.state.root_at(9).unwrap()
    );
    // Once recorded, the same conflict is not recorded twice.
    assert_eq!(
        submit(&mut global, fork.anchor(10, None)),
        Some("conflict already recorded".to_string())
    );
}

#[test]
fn anchors_are_refused_on_local_chains() {
    let local = LocalChain::new(1, 12);
    let mut other = MemState::new(local_ctx(), &bare());
    let tx = Transaction::System(Box::new(SystemTx::Anchor(Box::new(local.anchor(10, None)))));
    other
        .execute(at(1), std::slice::from_ref(&tx), &[tx.hash()])
        .unwrap();
    assert_eq!(other.refused()[0].1, "anchors go to the global chain");
}
