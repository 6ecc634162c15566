//! Difficulty and proof-of-work rules against Bitcoin Core's test vectors and every mainnet
//! retarget, plus the testnet min-difficulty and BIP94 rules on synthetic ancestries.

mod chain_support;

use std::collections::HashMap;

use chain_support::retarget_boundaries;
use headway_core::bitcoin::BlockHash;
use headway_core::chain::difficulty::{Ancestry, BlockInfo, DifficultyRules};
use headway_core::chain::pow::{check_proof_of_work, decode_compact, encode_compact, U256};
use headway_core::chain::validate::check_timewarp;
use headway_core::chain::HeaderError;
use headway_core::params::Network;

fn mainnet() -> DifficultyRules {
    DifficultyRules::new(&Network::Mainnet.params())
}

fn info(height: u32, time: u32, bits: u32) -> BlockInfo {
    BlockInfo { height, time, bits }
}

/// Blocks by height, as a chain the rules can look back into.
struct Blocks(HashMap<u32, BlockInfo>);

impl Blocks {
    fn from_list(list: &[BlockInfo]) -> Blocks {
        Blocks(list.iter().map(|b| (b.height, *b)).collect())
    }
}

impl Ancestry for Blocks {
    fn ancestor(&self, height: u32) -> BlockInfo {
        *self
            .0
            .get(&height)
            .unwrap_or_else(|| panic!("test ancestry lacks height {height}"))
    }
}

#[test]
fn core_pow_tests_vectors() {
    // (first time, last height, last time, last bits, expected) from Core's pow_tests.cpp.
    let vectors = [
        (
            1261130161u32,
            32255u32,
            1262152739u32,
            0x1d00ffffu32,
            0x1d00d86au32,
        ),
        (1231006505, 2015, 1233061996, 0x1d00ffff, 0x1d00ffff),
        (1279008237, 68543, 1279297671, 0x1c05a3f4, 0x1c0168fd),
        (1263163443, 46367, 1269211443, 0x1c387f6f, 0x1d00e1fd),
    ];
    let rules = mainnet();
    for (first_time, h, t, bits, expected) in vectors {
        let got = rules.calculate_next_work_required(info(h, t, bits), first_time, 0);
        assert_eq!(
            got, expected,
            "last height {h}: got {got:#x}, want {expected:#x}"
        );
    }
}

#[test]
fn every_mainnet_retarget_is_recomputed() {
    let records = retarget_boundaries();
    assert_eq!(records.len(), 827);
    let by_height: HashMap<u32, _> = records.iter().map(|(h, hd)| (*h, *hd)).collect();
    let rules = mainnet();
    let mut checked = 0;
    for k in 1..=413u32 {
        let last = by_height[&(2016 * k - 1)];
        let first = by_height[&(2016 * (k - 1))];
        let next = by_height[&(2016 * k)];
        let last_info = info(2016 * k - 1, last.time, last.bits.to_consensus());
        let got =
            rules.calculate_next_work_required(last_info, first.time, first.bits.to_consensus());
        assert_eq!(
            got,
            next.bits.to_consensus(),
            "retarget at height {}",
            2016 * k
        );

        // The same through GetNextWorkRequired, which must find the first block itself
        // (height - 2015: the off-by-one Core keeps).
        let blocks = Blocks::from_list(&[
            info(2016 * (k - 1), first.time, first.bits.to_consensus()),
            last_info,
        ]);
        assert_eq!(rules.next_work_required(last_info, next.time, &blocks), got);
        // The header's own proof of work holds against its bits.
        let hash = next.block_hash();
        assert!(check_proof_of_work(&hash, next.bits.to_consensus(), &rules.pow_limit).is_ok());
        checked += 1;
    }
    assert_eq!(checked, 413);
}

#[test]
fn mainnet_keeps_bits_between_retargets_whatever_the_time() {
    let rules = mainnet();
    let parent = info(100, 1_300_000_000, 0x1c05a3f4);
    let blocks = Blocks::from_list(&[parent]);
    assert_eq!(
        rules.next_work_required(parent, parent.time + 100_000, &blocks),
        0x1c05a3f4
    );
}

fn pow_limit_hash_times_two() -> BlockHash {
    let limit = mainnet().pow_limit;
    let doubled = limit.shifted_left(1);
    BlockHash::from_byte_array(doubled.to_le_bytes())
}

use headway_core::bitcoin::hashes::Hash;

#[test]
fn core_check_proof_of_work_cases() {
    let rules = mainnet();
    let one = BlockHash::from_byte_array(U256::from_u64(1).to_le_bytes());
    let limit_bits = encode_compact(rules.pow_limit);
    assert_eq!(limit_bits, 0x1d00ffff);

    // Negative: the pow limit with the sign bit set.
    let negative = limit_bits | 0x0080_0000;
    assert_eq!(
        check_proof_of_work(&one, negative, &rules.pow_limit),
        Err(HeaderError::NegativeTarget(negative))
    );

    // Overflow: ~0x00800000.
    let overflow = !0x0080_0000u32;
    assert_eq!(
        check_proof_of_work(&one, overflow, &rules.pow_limit),
        Err(HeaderError::OverflowTarget(overflow))
    );

    // Too easy: compact(pow limit * 2).
    // (2^224 - 1) * 2 keeps its top three bytes 0x01ffff; the reference notes' 0x1d01fffe
    // is just below that and too easy as well.
    let too_easy = encode_compact(rules.pow_limit.shifted_left(1));
    assert_eq!(too_easy, 0x1d01ffff);
    for bits in [too_easy, 0x1d01fffe] {
        assert_eq!(
            check_proof_of_work(&one, bits, &rules.pow_limit),
            Err(HeaderError::TargetAbovePowLimit(bits))
        );
    }

    // A hash above the target.
    assert_eq!(
        check_proof_of_work(&pow_limit_hash_times_two(), limit_bits, &rules.pow_limit),
        Err(HeaderError::HighHash)
    );

    // Zero target, zero hash.
    let zero_hash = BlockHash::all_zeros();
    assert_eq!(
        check_proof_of_work(&zero_hash, 0, &rules.pow_limit),
        Err(HeaderError::ZeroTarget(0))
    );

    // The good case: a hash equal to the target passes, one above it does not (0x1d00ffff
    // stands for 0xffff << 208, a little below the pow limit 2^224 - 1 itself).
    let target = decode_compact(limit_bits).value;
    let at_target = BlockHash::from_byte_array(target.to_le_bytes());
    assert_eq!(
        check_proof_of_work(&at_target, limit_bits, &rules.pow_limit),
        Ok(target)
    );
    let mut bytes = target.to_le_bytes();
    bytes[0] = 1;
    let just_above = BlockHash::from_byte_array(bytes);
    assert_eq!(
        check_proof_of_work(&just_above, limit_bits, &rules.pow_limit),
        Err(HeaderError::HighHash)
    );
}

#[test]
fn compact_decoding_flags_follow_set_compact() {
    // Small exponents shift the mantissa right; a mantissa shifted to zero is not negative.
    assert_eq!(decode_compact(0x01003456).value, U256::ZERO);
    assert_eq!(decode_compact(0x01123456).value, U256::from_u64(0x12));
    assert_eq!(decode_compact(0x02123456).value, U256::from_u64(0x1234));
    assert!(!decode_compact(0x01803456).negative);
    assert!(decode_compact(0x04923456).negative);
    // Overflow edges: size 34 with a one-byte mantissa fits, size 35 does not.
    assert!(!decode_compact(0x22000001).overflow);
    assert!(decode_compact(0x23000001).overflow);
    assert!(decode_compact(0x22000100).overflow);
    assert!(!decode_compact(0x21000100).overflow);
    assert!(decode_compact(0x21010000).overflow);
    // Zero mantissa: never negative nor overflowing.
    let z = decode_compact(0xff800000);
    assert!(!z.negative && !z.overflow && z.value.is_zero());
}

/// A testnet-style chain: real bits `real` up to `last_real`, then min-difficulty blocks up to
/// `tip`, 10 minutes apart.
fn testnet_chain(rules: &DifficultyRules, real: u32, last_real: u32, tip: u32) -> Vec<BlockInfo> {
    (0..=tip)
        .map(|h| {
            info(
                h,
                1_000_000 + h * 600,
                if h <= last_real {
                    real
                } else {
                    rules.pow_limit_bits
                },
            )
        })
        .collect()
}

#[test]
fn testnet3_twenty_minute_rule_and_walk_back() {
    let rules = DifficultyRules::new(&Network::Testnet3.params());
    let real = 0x1c00ffff;
    let list = testnet_chain(&rules, real, 2020, 2030);
    let chain = Blocks::from_list(&list);
    let parent = list[2030];
    // More than 20 minutes after the parent: the pow limit.
    assert_eq!(
        rules.next_work_required(parent, parent.time + 1201, &chain),
        rules.pow_limit_bits
    );
    // Exactly 20 minutes: walk back over the min-difficulty blocks to the real bits.
    assert_eq!(
        rules.next_work_required(parent, parent.time + 1200, &chain),
        real
    );
    // The walk stops at a period start, even if that block is min-difficulty.
    let list = testnet_chain(&rules, real, 2015, 2030);
    let chain = Blocks::from_list(&list);
    assert_eq!(
        rules.next_work_required(list[2030], list[2030].time + 600, &chain),
        rules.pow_limit_bits
    );
    // Mainnet has no such rule: the same chain gives the parent's bits.
    let main = mainnet();
    let list = testnet_chain(&rules, real, 2020, 2030);
    assert_eq!(
        main.next_work_required(
            list[2030],
            list[2030].time + 5000,
            &Blocks::from_list(&list)
        ),
        list[2030].bits
    );
}

#[test]
fn testnet3_retargets_from_the_last_block_but_testnet4_from_the_first() {
    let t3 = DifficultyRules::new(&Network::Testnet3.params());
    let t4 = DifficultyRules::new(&Network::Testnet4.params());
    let real = 0x1c00ffff;
    // Period 0..=2015 with a min-difficulty last block, spaced exactly on target.
    let mut list: Vec<BlockInfo> = (0..2016)
        .map(|h| info(h, 1_000_000 + h * 600, real))
        .collect();
    list[2015].bits = t3.pow_limit_bits;
    // Keep the timespan at the target so only the base differs.
    list[2015].time = list[0].time + 1_209_600;
    let chain = Blocks::from_list(&list);
    let parent = list[2015];
    let new_time = parent.time + 600;
    // testnet3: the base is the last block's bits (the "block storm" bug): the pow limit.
    assert_eq!(
        t3.next_work_required(parent, new_time, &chain),
        t3.pow_limit_bits
    );
    // testnet4 (BIP94): the base is the first block of the period.
    assert_eq!(t4.next_work_required(parent, new_time, &chain), real);
}

#[test]
fn bip94_timewarp_rule() {
    let t4 = Network::Testnet4.params();
    let prev = 1_700_000_000;
    assert!(check_timewarp(&t4, 4032, prev - 600, prev).is_ok());
    assert_eq!(
        check_timewarp(&t4, 4032, prev - 601, prev),
        Err(HeaderError::TimewarpAttack {
            time: prev - 601,
            prev
        })
    );
    // Not at a period start, and not on testnet3.
    assert!(check_timewarp(&t4, 4033, prev - 10_000, prev).is_ok());
    assert!(check_timewarp(&Network::Testnet3.params(), 4032, prev - 10_000, prev).is_ok());
}

#[test]
fn regtest_never_retargets_and_signet_caps_at_its_limit() {
    let reg = DifficultyRules::new(&Network::Regtest.params());
    let list: Vec<BlockInfo> = (0..2016)
        .map(|h| info(h, 1_000_000 + h, 0x207fffff))
        .collect();
    let chain = Blocks::from_list(&list);
    // A very fast period would raise the difficulty anywhere else.
    assert_eq!(
        reg.next_work_required(list[2015], list[2015].time + 1, &chain),
        0x207fffff
    );
    // Non-retarget heights: every block of a bcoin-mined chain carries the limit.
    assert_eq!(
        reg.next_work_required(list[100], list[100].time + 1, &chain),
        0x207fffff
    );

    let signet = DifficultyRules::new(&Network::Signet.params());
    assert_eq!(signet.pow_limit_bits, 0x1e0377ae);
    let slow = info(2015, 1_000_000 + 10 * 1_209_600, 0x1e0377ae);
    assert_eq!(
        signet.calculate_next_work_required(slow, 1_000_000, 0),
        0x1e0377ae
    );
}
