//! The reference against real chains and Core's own test vectors.

use bitcoin::block::Version;
use bitcoin::consensus::encode::deserialize;
use bitcoin::hashes::Hash;
use bitcoin::{CompactTarget, TxMerkleNode};

use super::*;
use crate::regtest::mine;

fn mainnet_headers(count: usize) -> Vec<Header> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/testdata/mainnet-headers-0-39999.bin"
    );
    let bytes = std::fs::read(path).expect("core/testdata holds the mainnet headers");
    bytes
        .chunks_exact(80)
        .take(count)
        .map(|b| deserialize(b).expect("80-byte header"))
        .collect()
}

#[test]
fn accepts_the_real_mainnet_chain_through_the_first_difficulty_change() {
    // Height 32256 is the first retarget that changes the bits (to 0x1d00d86a).
    let headers = mainnet_headers(32_300);
    let mut reference = ReferenceChain::mainnet();
    let now = u64::from(headers[32_299].time);
    for (height, header) in headers.iter().enumerate().skip(1) {
        assert_eq!(reference.accept(header, now), Ok(()), "height {height}");
    }
    assert_eq!(reference.len(), 32_300);
    assert_eq!(reference.best_hash(), headers[32_299].block_hash());
    assert_eq!(headers[32_256].bits.to_consensus(), 0x1d00d86a);
    assert_eq!(
        reference.required_bits(&headers[32_255].block_hash(), headers[32_256].time),
        Some(0x1d00d86a)
    );
}

#[test]
fn core_pow_test_vectors() {
    // Core's src/test/pow_tests.cpp: (last time, last bits), first time -> bits.
    let main = ReferenceChain::mainnet();
    let cases = [
        ((1262152739, 0x1d00ffff), 1261130161, 0x1d00d86a), // get_next_work
        ((1233061996, 0x1d00ffff), 1231006505, 0x1d00ffff), // get_next_work_pow_limit
        ((1279297671, 0x1c05a3f4), 1279008237, 0x1c0168fd), // lower_limit_actual
        ((1269211443, 0x1c387f6f), 1263163443, 0x1d00e1fd), // upper_limit_actual
    ];
    for (last, first_time, expected) in cases {
        assert_eq!(
            main.calculate_next_work_required(last, (first_time, 0)),
            expected
        );
    }
    // protocol.md: a fast simnet period (under 3.5 days) clamps to a quarter: 0x201fffff; a
    // slow one stays at the pow limit (btcd's unbounded product, no 256-bit wrap).
    let simnet = ReferenceChain::new(Rules::simnet());
    assert_eq!(
        simnet.calculate_next_work_required((200_000_000, 0x207fffff), (200_000_000, 0)),
        0x201fffff
    );
    assert_eq!(
        simnet.calculate_next_work_required((200_000_000, 0x207fffff), (100_000_000, 0)),
        0x207fffff
    );
    // Regtest never retargets.
    let regtest = ReferenceChain::regtest();
    assert_eq!(
        regtest.calculate_next_work_required((5, 0x207fffff), (0, 0)),
        0x207fffff
    );
    // BIP94 retargets from the first block's bits.
    let t4 = ReferenceChain::new(Rules::easy_testnet4());
    let two_weeks = networks::POW_TARGET_TIMESPAN;
    assert_eq!(
        t4.calculate_next_work_required((two_weeks, 0x207fffff), (0, 0x200fffff)),
        0x200fffff
    );
}

fn child(parent: &Header, time: u32, bits: u32) -> Header {
    let mut header = Header {
        version: Version::from_consensus(0x2000_0000),
        prev_blockhash: parent.block_hash(),
        merkle_root: TxMerkleNode::from_byte_array([9; 32]),
        time,
        bits: CompactTarget::from_consensus(bits),
        nonce: 0,
    };
    assert!(mine(&mut header, 10_000));
    header
}

#[test]
fn twenty_minute_rule_and_walk_back() {
    let mut r = ReferenceChain::new(Rules::easy_testnet3());
    let genesis = r.rules().genesis;
    let real = genesis.bits.to_consensus();
    let limit = r.rules().pow_limit_bits();
    let far = u64::MAX / 2;
    // 20 minutes exactly: real bits; one second more: the pow limit.
    let gh = genesis.block_hash();
    assert_eq!(r.required_bits(&gh, genesis.time + 1200), Some(real));
    assert_eq!(r.required_bits(&gh, genesis.time + 1201), Some(limit));
    let a = child(&genesis, genesis.time + 1201, limit);
    r.accept(&a, far).unwrap();
    let b = child(&a, a.time + 1300, limit);
    r.accept(&b, far).unwrap();
    // Soon after two min-difficulty blocks: walk back to genesis's bits.
    let late = child(&b, b.time + 60, limit);
    assert_eq!(
        r.check(&late, far),
        Err(RuleBroken::BadDiffBits { expected: real })
    );
    let c = child(&b, b.time + 60, real);
    assert_eq!(r.check(&c, far), Ok(()));
}

#[test]
fn rejects_each_broken_rule() {
    let headers = mainnet_headers(20);
    let mut reference = ReferenceChain::mainnet();
    let now = u64::from(headers[19].time);
    for header in &headers[1..12] {
        assert_eq!(reference.accept(header, now), Ok(()));
    }
    let next = headers[12];
    let mut orphan = next;
    orphan.prev_blockhash = headers[13].block_hash();
    assert_eq!(
        reference.check(&orphan, now),
        Err(RuleBroken::UnknownParent)
    );
    let mut easier = next;
    easier.bits = CompactTarget::from_consensus(0x1d01ffff);
    assert_eq!(
        reference.check(&easier, now),
        Err(RuleBroken::BadTarget {
            negative: false,
            zero: false,
            overflow: false,
            above_limit: true
        })
    );
    let mut harder = next;
    harder.bits = CompactTarget::from_consensus(0x1d00fffe);
    assert_eq!(reference.check(&harder, now), Err(RuleBroken::HighHash));
    let mut negative = next;
    negative.bits = CompactTarget::from_consensus(0x1d80ffff);
    assert!(matches!(
        reference.check(&negative, now),
        Err(RuleBroken::BadTarget { negative: true, .. })
    ));
    let mut tampered = next;
    tampered.nonce ^= 1;
    assert_eq!(reference.check(&tampered, now), Err(RuleBroken::HighHash));
    assert_eq!(
        reference.check(&next, u64::from(next.time) - 7201),
        Err(RuleBroken::TimeTooNew)
    );
    assert!(!RuleBroken::TimeTooNew.is_offence());
    assert!(!RuleBroken::UnknownParent.is_offence());
    assert!(RuleBroken::HighHash.is_offence());
    assert_eq!(reference.check(&next, now), Ok(()));

    // Regtest: version 4 from height 1, and a time at the median is too old.
    let regtest = ReferenceChain::regtest();
    let genesis = regtest.rules().genesis;
    let mut header = Header {
        version: Version::from_consensus(3),
        prev_blockhash: genesis.block_hash(),
        merkle_root: genesis.merkle_root,
        time: genesis.time + 1,
        bits: genesis.bits,
        nonce: 0,
    };
    assert!(mine(&mut header, 64));
    let far_future = u64::MAX / 2;
    assert_eq!(
        regtest.check(&header, far_future),
        Err(RuleBroken::BadVersion { min: 4, height: 1 })
    );
    header.version = Version::from_consensus(4);
    header.time = genesis.time;
    assert!(mine(&mut header, 64));
    assert_eq!(
        regtest.check(&header, far_future),
        Err(RuleBroken::TimeTooOld {
            median: genesis.time
        })
    );
    header.time = genesis.time + 1;
    assert!(mine(&mut header, 64));
    assert_eq!(regtest.check(&header, far_future), Ok(()));
}

#[test]
fn timewarp_only_at_a_period_start_under_bip94() {
    let rules = Rules::easy_testnet4();
    let mut r = ReferenceChain::new(rules.clone());
    let far = u64::MAX / 2;
    let mut tip = rules.genesis;
    // Fast blocks, the last few 1000 s apart so that the median stays well behind the tip:
    // every one carries genesis's bits by walk-back.
    for height in 1..2016 {
        let step = if height < 2010 { 1 } else { 1000 };
        let next = child(&tip, tip.time + step, rules.genesis.bits.to_consensus());
        r.accept(&next, far).unwrap();
        tip = next;
    }
    let bits = r.required_bits(&tip.block_hash(), tip.time).unwrap();
    // A quarter of the timespan at most: the target shrinks fourfold from genesis's.
    assert_eq!(bits, 0x2003ffff);
    let early = child(&tip, tip.time - 601, bits);
    assert_eq!(r.check(&early, far), Err(RuleBroken::TimewarpAttack));
    let ok = child(&tip, tip.time - 600, bits);
    assert_eq!(r.check(&ok, far), Ok(()));
    // The same at height 2017 is no timewarp.
    r.accept(&ok, far).unwrap();
    let bits = r.required_bits(&ok.block_hash(), ok.time).unwrap();
    let later = child(&ok, ok.time - 601, bits);
    assert_eq!(r.check(&later, far), Ok(()));
}

#[test]
fn rewind_forgets_what_came_after_the_mark() {
    let mut r = ReferenceChain::regtest();
    let genesis = r.rules().genesis;
    let far = u64::MAX / 2;
    let a = child(&genesis, genesis.time + 600, 0x207fffff);
    r.accept(&a, far).unwrap();
    let mark = r.mark();
    let b = child(&a, a.time + 600, 0x207fffff);
    r.accept(&b, far).unwrap();
    assert_eq!(r.best_hash(), b.block_hash());
    r.rewind(mark);
    assert_eq!(r.len(), 2);
    assert!(!r.contains(&b.block_hash()));
    assert_eq!(r.best_hash(), a.block_hash());
    assert_eq!(r.accept(&b, far), Ok(()));
}
