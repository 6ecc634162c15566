//! Difficulty beyond regtest (issue 9): retargets, the 20-minute rule and BIP94, driven
//! through the public `HeaderChain::accept` on branches that disagree.
//!
//! Regtest never retargets, so every simulation leaves side-branch difficulty to the unit
//! vectors. Here real retargeting rule sets are mined cheaply: simnet as it is (pow limit
//! 0x207fffff), and testnet3 and testnet4 with simnet's pow limit and a genesis mined with
//! easy bits. Each test builds two histories that require different bits and checks that
//! every header is judged by its own ancestry, with the required bits computed here by an
//! independent copy of Core's `CalculateNextWorkRequired` (320-bit integers on `u64` limbs,
//! checked against Core's `pow_tests.cpp` vectors), never by the code under test.

mod chain_support;

use chain_support::{mine_one, solve};
use headway_core::bitcoin::block::{Header, Version};
use headway_core::bitcoin::hashes::Hash;
use headway_core::bitcoin::{BlockHash, CompactTarget, Target, TxMerkleNode};
use headway_core::chain::{header_hash, Accepted};
use headway_core::{HeaderChain, HeaderError, Network, Params, Time};

/// A clock after every synthetic header below.
const NOW: Time = Time::from_secs(2_000_000_000);
/// Core's `nPowTargetTimespan` (two weeks).
const TIMESPAN: u64 = 1_209_600;
/// compact(2^255 - 1): simnet's pow limit, and the one given to testnet3 and testnet4 here.
const LIMIT_BITS: u32 = 0x207f_ffff;
/// The header version used throughout (BIP65 level, valid at every height on every network).
const VERSION: i32 = 4;

// ---- An independent CalculateNextWorkRequired --------------------------------------------

/// A 320-bit unsigned integer, little-endian `u64` limbs: room for a 256-bit target times a
/// timespan before the division.
type Wide = [u64; 5];

/// The pow limit 2^255 - 1.
const POW_LIMIT: Wide = [u64::MAX, u64::MAX, u64::MAX, u64::MAX >> 1, 0];

/// Core's `SetCompact` for the positive, non-overflowing targets used here.
fn wide_from_compact(bits: u32) -> Wide {
    let size = bits >> 24;
    let word = u128::from(bits & 0x007f_ffff);
    let mut v = [0u64; 5];
    if size <= 3 {
        v[0] = (word >> (8 * (3 - size))) as u64;
        return v;
    }
    let shift = 8 * (size as usize - 3);
    let shifted = word << (shift % 64);
    v[shift / 64] = shifted as u64;
    if shift / 64 + 1 < v.len() {
        v[shift / 64 + 1] = (shifted >> 64) as u64;
    }
    v
}

/// Core's `GetCompact`: three bytes of mantissa, and one more byte of size when the top
/// mantissa bit would read as a sign.
fn compact_from_wide(v: Wide) -> u32 {
    let top = v.iter().rposition(|&l| l != 0).unwrap_or(0);
    let mut size = (top as u32 * 64 + (64 - v[top].leading_zeros())).div_ceil(8);
    let mut mantissa = if size <= 3 {
        (v[0] << (8 * (3 - size))) as u32
    } else {
        let shift = 8 * (size as usize - 3);
        let (limb, bit) = (shift / 64, shift % 64);
        let mut low = v[limb] >> bit;
        if bit > 0 && limb + 1 < v.len() {
            low |= v[limb + 1] << (64 - bit);
        }
        (low & 0x00ff_ffff) as u32
    };
    if mantissa & 0x0080_0000 != 0 {
        mantissa >>= 8;
        size += 1;
    }
    mantissa | (size << 24)
}

fn mul_small(v: Wide, m: u64) -> Wide {
    let mut out = [0u64; 5];
    let mut carry = 0u128;
    for (o, &limb) in out.iter_mut().zip(&v) {
        let x = u128::from(limb) * u128::from(m) + carry;
        *o = x as u64;
        carry = x >> 64;
    }
    assert_eq!(carry, 0, "product fits 320 bits");
    out
}

fn div_small(v: Wide, d: u64) -> Wide {
    let mut out = [0u64; 5];
    let mut rem = 0u128;
    for i in (0..v.len()).rev() {
        let x = (rem << 64) | u128::from(v[i]);
        out[i] = (x / u128::from(d)) as u64;
        rem = x % u128::from(d);
    }
    out
}

/// Core's `CalculateNextWorkRequired` with the pow limit 2^255 - 1: `base_bits` (the last
/// block's bits, or under BIP94 the first block's) scaled by the clamped actual timespan.
fn expected_retarget(base_bits: u32, first_time: u32, last_time: u32) -> u32 {
    let t = TIMESPAN as i64;
    let actual = (i64::from(last_time) - i64::from(first_time)).clamp(t / 4, t * 4) as u64;
    let next = div_small(mul_small(wide_from_compact(base_bits), actual), TIMESPAN);
    let capped = if next.iter().rev().cmp(POW_LIMIT.iter().rev()).is_gt() {
        POW_LIMIT
    } else {
        next
    };
    compact_from_wide(capped)
}

#[test]
fn the_independent_retarget_reproduces_cores_pow_test_vectors() {
    // Core's pow_tests.cpp (none of them reaches the pow limit, so ours serves).
    assert_eq!(
        expected_retarget(0x1d00ffff, 1261130161, 1262152739),
        0x1d00d86a
    );
    assert_eq!(
        expected_retarget(0x1c05a3f4, 1279008237, 1279297671),
        0x1c0168fd
    );
    assert_eq!(
        expected_retarget(0x1c387f6f, 1263163443, 1269211443),
        0x1d00e1fd
    );
    // reference/protocol.md §5's simnet vectors: clamped to T/4, and capped at the limit.
    assert_eq!(expected_retarget(LIMIT_BITS, 0, 1), 0x201fffff);
    assert_eq!(expected_retarget(LIMIT_BITS, 0, u32::MAX), LIMIT_BITS);
    assert_eq!(compact_from_wide(POW_LIMIT), LIMIT_BITS);
}

// ---- Mining and accepting ----------------------------------------------------------------

/// `network`'s rules with simnet's pow limit and a genesis mined at `time` with its bits.
fn easy_params(network: Network, time: u32) -> Params {
    let mut params = network.params();
    let mut limit = [0xffu8; 32];
    limit[0] = 0x7f;
    params.pow_limit = Target::from_be_bytes(limit);
    params.genesis = solve(Header {
        version: Version::ONE,
        prev_blockhash: BlockHash::all_zeros(),
        merkle_root: TxMerkleNode::from_byte_array([0x94; 32]),
        time,
        bits: CompactTarget::from_consensus(LIMIT_BITS),
        nonce: 0,
    });
    params
}

/// `n` headers on `parent`, `spacing` seconds apart, all carrying `bits`.
fn extend(parent: &Header, n: usize, spacing: u32, bits: u32, salt: u32) -> Vec<Header> {
    let mut out: Vec<Header> = Vec::with_capacity(n);
    let mut prev = *parent;
    for _ in 0..n {
        prev = mine_one(&prev, prev.time + spacing, bits, VERSION, salt);
        out.push(prev);
    }
    out
}

/// One header on `parent`, `delay` seconds after it (negative: before it).
fn next(parent: &Header, delay: i64, bits: u32, salt: u32) -> Header {
    let time = u32::try_from(i64::from(parent.time) + delay).expect("time fits");
    mine_one(parent, time, bits, VERSION, salt)
}

/// Accepts `headers`, all of which must be new and valid.
fn accept_all(chain: &mut HeaderChain, headers: &[Header]) -> Accepted {
    let got = chain.accept(headers, NOW);
    assert_eq!(got.error, None, "every header is valid");
    assert_eq!(got.added, headers.len());
    got
}

/// Offers one header that must be refused; why.
fn refused(chain: &mut HeaderChain, header: &Header) -> HeaderError {
    let got = chain.accept(std::slice::from_ref(header), NOW);
    assert_eq!(got.added, 0, "refused header was kept");
    let (hash, error) = got.error.expect("header refused");
    assert_eq!(hash, header_hash(header));
    error
}

fn bad_bits(expected: u32, got: u32) -> HeaderError {
    HeaderError::BadDiffBits { expected, got }
}

/// Two histories from genesis to height 2015 that retarget differently at 2016: a common
/// stem to height 1900, 150 s apart, then a fast branch (150 s, so the period took less than
/// T/4 and is clamped) and a slow one (1000 s, still under 20 minutes). All of period 0
/// carries the pow limit, as genesis does.
struct Fork {
    /// Heights 1..=1900.
    stem: Vec<Header>,
    /// Heights 1901..=2015, 150 s apart.
    fast: Vec<Header>,
    /// Heights 1901..=2015, 1000 s apart.
    slow: Vec<Header>,
    /// What height 2016 must carry on the fast branch.
    fast_bits: u32,
    /// What height 2016 must carry on the slow branch.
    slow_bits: u32,
}

fn fork_before_retarget(genesis: &Header) -> Fork {
    let stem = extend(genesis, 1900, 150, LIMIT_BITS, 0);
    let fast = extend(&stem[1899], 115, 150, LIMIT_BITS, 1);
    let slow = extend(&stem[1899], 115, 1000, LIMIT_BITS, 2);
    // The period's first block is genesis (height 2016 - 2016) and its base the last bits.
    let fast_bits = expected_retarget(LIMIT_BITS, genesis.time, fast[114].time);
    let slow_bits = expected_retarget(LIMIT_BITS, genesis.time, slow[114].time);
    // 302,250 s < T/4: clamped, a quarter of the target. 400,000 s: 400000/1209600 of it.
    assert_eq!(fast_bits, 0x201f_ffff);
    assert_eq!(slow_bits, 0x202a_53fa);
    Fork {
        stem,
        fast,
        slow,
        fast_bits,
        slow_bits,
    }
}

// ---- 1. Simnet: a reorg across a retarget boundary ---------------------------------------

#[test]
fn simnet_reorg_across_a_retarget_holds_each_branch_to_its_own_retarget_bits() {
    let params = Network::Simnet.params();
    assert!(params.allow_min_difficulty_blocks && !params.no_retargeting);
    let genesis = params.genesis;
    let mut chain = HeaderChain::new(params);
    let f = fork_before_retarget(&genesis);
    let (fast_bits, slow_bits) = (f.fast_bits, f.slow_bits);

    // Per-block work (bitcoin's own arithmetic): 5 slow blocks outweigh 3 fast ones, not 4.
    let work = |bits| Target::from_compact(CompactTarget::from_consensus(bits)).to_work();
    let (wf, ws) = (work(fast_bits), work(slow_bits));
    assert!(wf + wf + wf < ws + ws + ws + ws + ws && ws + ws + ws + ws + ws < wf + wf + wf + wf);

    // The slow branch arrives first and crosses the retarget: 2016..=2020 at its bits.
    accept_all(&mut chain, &f.stem);
    accept_all(&mut chain, &f.slow);
    let slow_tail = extend(&f.slow[114], 5, 600, slow_bits, 3);
    accept_all(&mut chain, &slow_tail);
    assert_eq!(chain.tip_hash(), header_hash(&slow_tail[4]));
    assert_eq!(chain.tip_height(), 2020);

    // The fast branch to 2015 only ties the slow one there: a side branch.
    let got = accept_all(&mut chain, &f.fast);
    assert_eq!(got.tip_change, None);
    let fast_last = f.fast[114];

    // At height 2016 each branch's bits are refused on the other, naming that one's own.
    let wrong = next(&fast_last, 600, slow_bits, 4);
    assert_eq!(refused(&mut chain, &wrong), bad_bits(fast_bits, slow_bits));
    let wrong = next(&f.slow[114], 600, fast_bits, 4);
    assert_eq!(refused(&mut chain, &wrong), bad_bits(slow_bits, fast_bits));
    // A retarget height gets no min-difficulty allowance, however late it comes.
    let late = next(&fast_last, 5000, LIMIT_BITS, 4);
    assert_eq!(refused(&mut chain, &late), bad_bits(fast_bits, LIMIT_BITS));

    // The fast branch at its own bits: three blocks are not enough, the fourth reorganises.
    let fast_tail = extend(&fast_last, 4, 600, fast_bits, 5);
    assert_eq!(accept_all(&mut chain, &fast_tail[..3]).tip_change, None);
    let change = accept_all(&mut chain, &fast_tail[3..])
        .tip_change
        .expect("the heavier fast branch becomes best");
    assert_eq!(change.fork_height, 1900);
    assert_eq!(change.disconnected.len(), 120); // slow 1901..=2020
    assert_eq!(change.connected.len(), 119); // fast 1901..=2019
    assert_eq!(change.tip, header_hash(&fast_tail[3]));
    assert!(chain.is_on_best_chain(&header_hash(&fast_tail[0])));
    assert!(!chain.is_on_best_chain(&header_hash(&slow_tail[0])));
    assert_eq!(
        chain
            .entry(&header_hash(&slow_tail[0]))
            .map(|e| CompactTarget::from_consensus(e.bits)),
        Some(CompactTarget::from_consensus(slow_bits))
    );

    // After the reorg the next best header must carry exactly the fast branch's bits...
    let tip = fast_tail[3];
    assert_eq!(
        refused(&mut chain, &next(&tip, 600, slow_bits, 6)),
        bad_bits(fast_bits, slow_bits)
    );
    let good = next(&tip, 600, fast_bits, 6);
    accept_all(&mut chain, &[good]);
    assert_eq!(chain.tip_hash(), header_hash(&good));
    // ...and the now-side slow branch still its own.
    let slow_tip = slow_tail[4];
    assert_eq!(
        refused(&mut chain, &next(&slow_tip, 600, fast_bits, 6)),
        bad_bits(slow_bits, fast_bits)
    );
    let side = next(&slow_tip, 600, slow_bits, 6);
    assert_eq!(accept_all(&mut chain, &[side]).tip_change, None);
    assert_eq!(chain.height_of(&header_hash(&side)), Some(2021));

    // A third branch crawls (2.5 hours a block, each allowed the pow limit by the 20-minute
    // rule): its period took longer than T, and the retarget is capped at the pow limit.
    let crawl = extend(&f.stem[1899], 115, 9000, LIMIT_BITS, 7);
    assert_eq!(accept_all(&mut chain, &crawl).tip_change, None);
    assert_eq!(
        expected_retarget(LIMIT_BITS, genesis.time, crawl[114].time),
        LIMIT_BITS
    );
    let wrong = next(&crawl[114], 600, fast_bits, 8);
    assert_eq!(refused(&mut chain, &wrong), bad_bits(LIMIT_BITS, fast_bits));
    accept_all(&mut chain, &[next(&crawl[114], 600, LIMIT_BITS, 8)]);
}

#[test]
fn simnet_slow_period_is_clamped_to_four_timespans_from_the_last_real_bits() {
    let params = Network::Simnet.params();
    let genesis = params.genesis;
    let mut chain = HeaderChain::new(params);
    let period0 = extend(&genesis, 2015, 150, LIMIT_BITS, 30);
    let hard = expected_retarget(LIMIT_BITS, genesis.time, period0[2014].time);
    assert_eq!(hard, 0x201f_ffff);
    accept_all(&mut chain, &period0);
    // Period 1 crawls: 2017..=4030 are 2500 s apart at the pow limit, then 4031 comes
    // within 20 minutes and must carry the real bits found 2014 blocks back, at 2016.
    let first = next(&period0[2014], 150, hard, 31);
    let crawl = extend(&first, 2014, 2500, LIMIT_BITS, 31);
    accept_all(&mut chain, &[first]);
    accept_all(&mut chain, &crawl);
    let last = next(&crawl[2013], 600, hard, 31);
    accept_all(&mut chain, &[last]);
    // About 4.16 T, clamped to 4 T: four times the quarter target, just under the limit.
    assert!(u64::from(last.time - first.time) > 4 * TIMESPAN);
    let bits = expected_retarget(hard, first.time, last.time);
    assert_eq!(bits, 0x207f_fffc);
    let capped = next(&last, 600, LIMIT_BITS, 32);
    assert_eq!(refused(&mut chain, &capped), bad_bits(bits, LIMIT_BITS));
    accept_all(&mut chain, &[next(&last, 600, bits, 32)]);
    assert_eq!(chain.tip_height(), 4032);
}

#[test]
fn simnet_side_branch_retargets_from_its_own_period_start() {
    let params = Network::Simnet.params();
    let genesis = params.genesis;
    let mut chain = HeaderChain::new(params);
    let f = fork_before_retarget(&genesis);
    // Both branches run a full period 1 (2016..=4031), 600 s apart at their own bits; the
    // slow one (less work) stays a side branch, and its 2016 is later than the main one's.
    let fast = extend(&f.fast[114], 2016, 600, f.fast_bits, 40);
    let slow = extend(&f.slow[114], 2016, 600, f.slow_bits, 41);
    accept_all(&mut chain, &f.stem);
    accept_all(&mut chain, &f.fast);
    accept_all(&mut chain, &fast);
    accept_all(&mut chain, &f.slow);
    assert_eq!(accept_all(&mut chain, &slow).tip_change, None);
    assert_eq!(chain.tip_hash(), header_hash(&fast[2015]));
    assert!(slow[0].time > fast[0].time);

    // Height 4032 on the side branch measures from the side branch's own 2016.
    let own = expected_retarget(f.slow_bits, slow[0].time, slow[2015].time);
    let mains_start = expected_retarget(f.slow_bits, fast[0].time, slow[2015].time);
    assert_ne!(own, mains_start);
    let wrong = next(&slow[2015], 600, mains_start, 42);
    assert_eq!(refused(&mut chain, &wrong), bad_bits(own, mains_start));
    let side = next(&slow[2015], 600, own, 42);
    assert_eq!(accept_all(&mut chain, &[side]).tip_change, None);
    // And the main branch from its own.
    let main_bits = expected_retarget(f.fast_bits, fast[0].time, fast[2015].time);
    accept_all(&mut chain, &[next(&fast[2015], 600, main_bits, 42)]);
    assert_eq!(chain.tip_height(), 4032);
}

// ---- 2. testnet3-like: the 20-minute rule and the walk back on each branch ---------------

#[test]
fn testnet3_twenty_minute_rule_and_walk_back_follow_each_branchs_own_ancestry() {
    let params = easy_params(Network::Testnet3, 1_600_000_000);
    assert!(params.allow_min_difficulty_blocks && !params.no_retargeting);
    assert!(!params.enforce_bip94);
    let genesis = params.genesis;
    let mut chain = HeaderChain::new(params);
    let f = fork_before_retarget(&genesis);
    let (fast_bits, slow_bits) = (f.fast_bits, f.slow_bits);
    accept_all(&mut chain, &f.stem);
    accept_all(&mut chain, &f.fast);

    // Main (fast) branch: real bits at 2016, then two blocks more than 20 minutes late, which
    // may (and do) carry the pow limit.
    let a2016 = next(&f.fast[114], 600, fast_bits, 10);
    let a2017 = next(&a2016, 1201, LIMIT_BITS, 10);
    let a2018 = next(&a2017, 1300, LIMIT_BITS, 10);
    accept_all(&mut chain, &[a2016, a2017, a2018]);
    assert_eq!(chain.tip_hash(), header_hash(&a2018));

    // Exactly 20 minutes is not "more than": the walk back over 2018 and 2017 finds 2016's
    // bits. So does any delay over one spacing but within two.
    let at_twenty = next(&a2018, 1200, LIMIT_BITS, 11);
    assert_eq!(
        refused(&mut chain, &at_twenty),
        bad_bits(fast_bits, LIMIT_BITS)
    );
    let within = next(&a2018, 900, slow_bits, 11);
    assert_eq!(refused(&mut chain, &within), bad_bits(fast_bits, slow_bits));
    // Past 20 minutes only the pow limit will do, not the real bits.
    let late_real = next(&a2018, 1201, fast_bits, 11);
    assert_eq!(
        refused(&mut chain, &late_real),
        bad_bits(LIMIT_BITS, fast_bits)
    );

    // Side (slow) branch: its own real bits at 2016, then one late min-difficulty block.
    let got = accept_all(&mut chain, &f.slow);
    assert_eq!(got.tip_change, None);
    let b2016 = next(&f.slow[114], 600, slow_bits, 12);
    let b2017 = next(&b2016, 1500, LIMIT_BITS, 12);
    assert_eq!(accept_all(&mut chain, &[b2016, b2017]).tip_change, None);
    assert!(!chain.is_on_best_chain(&header_hash(&b2017)));

    // The walk back from b2017 runs along the side branch to b2016, not along the main chain
    // (whose 2016 carries the fast bits).
    let b_within = next(&b2017, 900, fast_bits, 13);
    assert_eq!(
        refused(&mut chain, &b_within),
        bad_bits(slow_bits, fast_bits)
    );
    let b_limit = next(&b2017, 900, LIMIT_BITS, 13);
    assert_eq!(
        refused(&mut chain, &b_limit),
        bad_bits(slow_bits, LIMIT_BITS)
    );
    // With its own bits it is accepted, and its real-bits work makes the slow branch best.
    let b2018 = next(&b2017, 900, slow_bits, 13);
    let change = accept_all(&mut chain, &[b2018])
        .tip_change
        .expect("slow branch overtakes");
    assert_eq!((change.fork_height, change.tip_height), (1900, 2018));

    // Now the fast branch is the side one, and is still judged by its own ancestry.
    let a_within = next(&a2018, 900, slow_bits, 14);
    assert_eq!(
        refused(&mut chain, &a_within),
        bad_bits(fast_bits, slow_bits)
    );
    let a2019 = next(&a2018, 900, fast_bits, 14);
    let change = accept_all(&mut chain, &[a2019])
        .tip_change
        .expect("fast branch takes back the lead");
    assert_eq!(change.tip, header_hash(&a2019));
    // And a late block may drop to the pow limit on either branch.
    accept_all(&mut chain, &[next(&b2018, 1201, LIMIT_BITS, 15)]);
    accept_all(&mut chain, &[next(&a2019, 1201, LIMIT_BITS, 15)]);
}

// ---- 3. testnet4-like: BIP94 ----------------------------------------------------------------

/// Periods 0 and 1 for a testnet4-like chain: period 0 (1..=2015) 150 s apart at the pow
/// limit; period 1 starts at 2016 with the clamped bits, runs 300 s apart, and ends with a
/// min-difficulty block at 4031, 1300 s late. Valid under testnet3 rules too: through height
/// 4031 the two rule sets agree.
fn two_periods(genesis: &Header) -> (Vec<Header>, u32) {
    let mut headers = extend(genesis, 2015, 150, LIMIT_BITS, 20);
    let first_bits = expected_retarget(LIMIT_BITS, genesis.time, headers[2014].time);
    assert_eq!(first_bits, 0x201f_ffff);
    let first = next(&headers[2014], 150, first_bits, 21);
    headers.push(first);
    headers.extend(extend(&first, 2014, 300, first_bits, 21));
    let last = next(&headers[4029], 1300, LIMIT_BITS, 21);
    headers.push(last);
    assert_eq!(headers.len(), 4031);
    (headers, first_bits)
}

#[test]
fn testnet4_retargets_from_the_periods_first_block_and_refuses_a_timewarp() {
    let params = easy_params(Network::Testnet4, 1_700_000_000);
    assert!(params.enforce_bip94 && params.allow_min_difficulty_blocks);
    let genesis = params.genesis;
    let (headers, first_bits) = two_periods(&genesis);
    let (first, last) = (headers[2015], headers[4030]);
    assert_eq!(last.bits.to_consensus(), LIMIT_BITS);
    // The base is the first block's bits (BIP94), not the last's (the block-storm base).
    let bip94_bits = expected_retarget(first_bits, first.time, last.time);
    let storm_bits = expected_retarget(LIMIT_BITS, first.time, last.time);
    // 605,500 s, a little over T/2: 0x1fffff and 0x7fffff mantissas scaled by 605500/1209600.
    assert_eq!((bip94_bits, storm_bits), (0x2010_04bd, 0x2040_12f6));

    let mut chain = HeaderChain::new(params);
    accept_all(&mut chain, &headers);
    assert_eq!(chain.tip_height(), 4031);

    // Height 4032 must carry the bits retargeted from the first block of period 1.
    let storm = next(&last, 600, storm_bits, 22);
    assert_eq!(
        refused(&mut chain, &storm),
        bad_bits(bip94_bits, storm_bits)
    );
    // The timewarp rule: a period start more than 600 s before its parent is refused...
    let warped = next(&last, -601, bip94_bits, 22);
    assert_eq!(
        refused(&mut chain, &warped),
        HeaderError::TimewarpAttack {
            time: last.time - 601,
            prev: last.time,
        }
    );
    // ...600 s before is allowed (it is still after the median time past).
    let start = next(&last, -600, bip94_bits, 22);
    accept_all(&mut chain, &[start]);
    assert_eq!(chain.tip_hash(), header_hash(&start));
    // Away from a period start a block may be older than its parent by more than 600 s,
    // and it carries the period start's bits.
    let inside = next(&start, -700, bip94_bits, 22);
    accept_all(&mut chain, &[inside]);
    assert_eq!(chain.tip_height(), 4033);
}

#[test]
fn testnet3_retargets_the_same_period_from_its_min_difficulty_last_block() {
    // The contrast: the very same headers under testnet3 rules (no BIP94).
    let params = easy_params(Network::Testnet3, 1_700_000_000);
    let genesis = params.genesis;
    let (headers, first_bits) = two_periods(&genesis);
    let (first, last) = (headers[2015], headers[4030]);
    let bip94_bits = expected_retarget(first_bits, first.time, last.time);
    let storm_bits = expected_retarget(LIMIT_BITS, first.time, last.time);

    let mut chain = HeaderChain::new(params);
    accept_all(&mut chain, &headers);
    let first_based = next(&last, 600, bip94_bits, 22);
    assert_eq!(
        refused(&mut chain, &first_based),
        bad_bits(storm_bits, bip94_bits)
    );
    // And no timewarp rule: 601 s before the parent is fine.
    let early = next(&last, -601, storm_bits, 22);
    accept_all(&mut chain, &[early]);
    assert_eq!(chain.tip_height(), 4032);
}

#[test]
fn testnet3_walk_back_stops_at_a_period_start_that_retargeted_to_the_pow_limit() {
    // Genesis and period 0 carry real bits of half the pow limit; one block two weeks late
    // (a min-difficulty block) makes the period slow enough that the retarget at 2016 is
    // capped at the pow limit. The walk-back of the next block stops at that period start:
    // its pow-limit bits are real bits there, not a min-difficulty marker to walk past.
    const HALF: u32 = 0x203f_ffff;
    let mut params = easy_params(Network::Testnet3, 1_600_000_000);
    params.genesis = solve(Header {
        bits: CompactTarget::from_consensus(HALF),
        ..params.genesis
    });
    let genesis = params.genesis;
    let mut chain = HeaderChain::new(params);
    let mut period = extend(&genesis, 999, 1000, HALF, 1);
    let late = next(&period[998], 1_300_000, LIMIT_BITS, 1);
    period.push(late);
    period.extend(extend(&late, 1015, 1000, HALF, 1));
    assert_eq!(period.len(), 2015);
    accept_all(&mut chain, &period);
    let last = period[2014];
    let retarget = expected_retarget(HALF, genesis.time, last.time);
    assert_eq!(
        retarget, LIMIT_BITS,
        "the slow period is capped at the pow limit"
    );
    let start = next(&last, 1000, retarget, 1);
    accept_all(&mut chain, &[start]);
    // Ten minutes later: no min-difficulty allowance, so the walk-back decides, and it stops
    // at the period start.
    let wrong = next(&start, 600, HALF, 1);
    assert_eq!(refused(&mut chain, &wrong), bad_bits(LIMIT_BITS, HALF));
    let right = next(&start, 600, LIMIT_BITS, 2);
    accept_all(&mut chain, &[right]);
}
