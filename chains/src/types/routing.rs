//! Which chain a provenance record belongs to (docs/design.md §6): an object
//! lives in the edge domain its id hashes to, and its records go to that
//! domain's local chain; records naming `GLOBAL_DOMAIN` (data held by cloud
//! services) go to the global chain. One rule, used by the API to route a
//! submission, by the mempool to admit it and by the executor to accept it.

use strata_crypto::hash::Digest;

use super::{ChainId, Provenance};

/// The `domain` of provenance records that belong to the global chain.
pub const GLOBAL_DOMAIN: u32 = u32::MAX;

/// The edge domain that owns an object: its id hashed onto the domains.
pub fn domain_of(object_id: &[u8], domains: u32) -> u32 {
    let d = Digest::of("strata/object-domain", object_id);
    let mut first = [0u8; 8];
    first.copy_from_slice(&d.0[..8]);
    (u64::from_le_bytes(first) % u64::from(domains.max(1))) as u32
}

/// The chain a record's domain names.
pub fn chain_of_domain(domain: u32) -> ChainId {
    if domain == GLOBAL_DOMAIN {
        ChainId::GLOBAL
    } else {
        ChainId::local(domain)
    }
}

impl Provenance {
    /// The chain this record belongs to in a network of `domains` edge
    /// domains, or `None` if its domain is not the one its object lives in
    /// (a misrouted or forged record).
    pub fn home_chain(&self, domains: u32) -> Option<ChainId> {
        let owned =
            self.domain == GLOBAL_DOMAIN || domain_of(&self.object_id, domains) == self.domain;
        owned.then(|| chain_of_domain(self.domain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strata_crypto::sr25519::TxKeypair;

    fn record(domain: u32, object: &str) -> Provenance {
        let key = TxKeypair::from_seed(&[1; 32]);
        crate::test_support::record(&key, domain, object.as_bytes(), 0)
    }

    #[test]
    fn a_record_belongs_to_its_objects_domain_or_the_global_chain() {
        let domains = 3;
        let home = domain_of(b"sensor-7", domains);
        assert!(home < domains);
        assert_eq!(
            record(home, "sensor-7").home_chain(domains),
            Some(ChainId::local(home))
        );
        assert_eq!(
            record(GLOBAL_DOMAIN, "sensor-7").home_chain(domains),
            Some(ChainId::GLOBAL)
        );
        let elsewhere = (home + 1) % domains;
        assert_eq!(record(elsewhere, "sensor-7").home_chain(domains), None);
        assert_eq!(record(domains + 5, "sensor-7").home_chain(domains), None);
    }
}
