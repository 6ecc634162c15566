//! Holding `HeaderChain`'s verdicts to the reference's: the same header refused, for the same
//! reason (which [`HeaderError`] variant, and the values it reports), with the same offence.

use bitcoin::block::Header;
use headway_core::chain::HeaderError;

use crate::reference::RuleBroken;

/// Whether `error`, given by `HeaderChain` for `header`, is the reference's `rule`. `Err` says
/// how they differ.
pub fn same_verdict(error: &HeaderError, header: &Header, rule: &RuleBroken) -> Result<(), String> {
    let bits = header.bits.to_consensus();
    let same = match (error, rule) {
        (HeaderError::UnknownParent(prev), RuleBroken::UnknownParent) => {
            *prev == header.prev_blockhash
        }
        // Core folds these four into "high-hash"; headway names the first that holds, in its
        // own order, so it must be one of those the reference found.
        (HeaderError::NegativeTarget(b), RuleBroken::BadTarget { negative, .. }) => {
            *negative && *b == bits
        }
        (HeaderError::OverflowTarget(b), RuleBroken::BadTarget { overflow, .. }) => {
            *overflow && *b == bits
        }
        (HeaderError::ZeroTarget(b), RuleBroken::BadTarget { zero, .. }) => *zero && *b == bits,
        (HeaderError::TargetAbovePowLimit(b), RuleBroken::BadTarget { above_limit, .. }) => {
            *above_limit && *b == bits
        }
        (HeaderError::HighHash, RuleBroken::HighHash) => true,
        (
            HeaderError::BadDiffBits { expected, got },
            RuleBroken::BadDiffBits {
                expected: reference,
            },
        ) => expected == reference && *got == bits,
        (
            HeaderError::TimeTooOld { time, median },
            RuleBroken::TimeTooOld { median: reference },
        ) => median == reference && *time == header.time,
        (HeaderError::TimewarpAttack { time, .. }, RuleBroken::TimewarpAttack) => {
            *time == header.time
        }
        (HeaderError::TimeTooNew { time, .. }, RuleBroken::TimeTooNew) => *time == header.time,
        (
            HeaderError::BadVersion {
                version,
                min,
                height,
            },
            RuleBroken::BadVersion {
                min: ref_min,
                height: ref_height,
            },
        ) => min == ref_min && height == ref_height && *version == header.version.to_consensus(),
        _ => false,
    };
    if !same {
        return Err(format!(
            "HeaderChain says {error:?} ({error}), the reference {rule:?}"
        ));
    }
    if error.is_offence() != rule.is_offence() {
        return Err(format!(
            "HeaderChain counts {error:?} as offence: {}, the reference: {}",
            error.is_offence(),
            rule.is_offence()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use bitcoin::CompactTarget;
    use headway_core::time::Time;
    use headway_core::HeaderChain;

    use super::*;
    use crate::reference::ReferenceChain;

    #[test]
    fn verdicts_agree_on_each_broken_rule() {
        let mut reference = ReferenceChain::regtest();
        let mut chain = HeaderChain::new(headway_core::params::Network::Regtest.params());
        let genesis = reference.rules().genesis;
        let now = u64::from(genesis.time) + 600;
        let mut header = Header {
            version: bitcoin::block::Version::from_consensus(4),
            prev_blockhash: genesis.block_hash(),
            merkle_root: genesis.merkle_root,
            time: genesis.time + 1,
            bits: genesis.bits,
            nonce: 0,
        };
        let mut cases = Vec::new();
        let mut bad_version = header;
        bad_version.version = bitcoin::block::Version::from_consensus(1);
        cases.push(bad_version);
        let mut too_new = header;
        too_new.time = genesis.time + 600 + 7201;
        cases.push(too_new);
        let mut too_old = header;
        too_old.time = genesis.time;
        cases.push(too_old);
        let mut harder = header;
        harder.bits = CompactTarget::from_consensus(0x200fffff);
        cases.push(harder);
        for case in &mut cases {
            crate::regtest::mine(case, 10_000);
        }
        let mut negative = header;
        negative.bits = CompactTarget::from_consensus(0x20800001);
        cases.push(negative);
        for case in cases {
            let rule = reference.check(&case, now).expect_err("a broken rule");
            let accepted = chain.accept(&[case], Time::from_secs(now));
            let (hash, error) = accepted.error.expect("refused");
            assert_eq!(hash, case.block_hash());
            assert_eq!(same_verdict(&error, &case, &rule), Ok(()), "{case:?}");
        }
        crate::regtest::mine(&mut header, 64);
        assert_eq!(reference.accept(&header, now), Ok(()));
        assert_eq!(chain.accept(&[header], Time::from_secs(now)).added, 1);
    }
}
