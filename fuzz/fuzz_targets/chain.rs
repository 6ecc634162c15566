//! Fuzz target `chain`: header sequences fed in batches to `HeaderChain::accept` and compared
//! after every batch with the slow reference in `headway_fuzz::reference`, which takes nothing
//! from the code under test.
//!
//! Byte 0 picks the network. Odd: the rest is raw 80-byte headers for mainnet (the seed corpus
//! holds the real first ones), in batches of `1 + (byte0 >> 1) % 64`. Even: headers built from
//! the fuzz bytes, on the network `(byte0 >> 1) % 8` names:
//!
//! | | network | starting from |
//! |---|---|---|
//! | 0 | regtest | genesis |
//! | 1 | easy testnet3 (testnet3's rules, regtest's pow limit) | genesis |
//! | 2, 3 | simnet | a premined chain at height 2010 (before the first retarget) or 2100 |
//! | 4, 5 | easy testnet3 | the same |
//! | 6, 7 | easy testnet4 (BIP94) | the same |
//!
//! The premined chains (mined once per process, see `headway_fuzz::premine`) have min-difficulty
//! blocks every seventh height, and cross height 2016 with a retarget of their own in the
//! 2100-high start; from 2010 the fuzz bytes choose the times and bits that decide the first
//! retarget.
//!
//! Each built header picks a parent (a recent header of the pool, any of it, or a random hash),
//! a version, a time (near its parent's, far from it, or at a boundary: the 20-minute rule, the
//! retarget clamps, BIP94's timewarp limit, the median time past, the 2-hour limit), its bits
//! (what the reference requires, near misses of it, or arbitrary) and whether its nonce is
//! ground to meet the target. Batches are 1 to 8 new headers, or a replay of known ones.
//!
//! Checks after every batch: the chain holds exactly the headers the reference accepted; a
//! refused header is the one the reference refuses, for the same reason (the `HeaderError`
//! variant and the values it carries, `headway_fuzz::verdict`) and with the same `is_offence`;
//! `added` counts the new ones; the tip is the first header with the most work, at its height,
//! linked back to genesis; a tip change is reported iff the tip moved; there is something to
//! persist iff headers were added, and replaying every `PersistChain` on a model store gives
//! the chain's best chain and all its headers.

#![no_main]

use std::sync::OnceLock;

use bitcoin::block::{Header, Version};
use bitcoin::consensus::encode::deserialize;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
use headway_core::chain::HeaderChain;
use headway_core::time::Time;
use headway_fuzz::crosscheck::core_params;
use headway_fuzz::premine::premine;
use headway_fuzz::reference::bignum::decode_compact;
use headway_fuzz::reference::networks::{Rules, MAX_FUTURE_BLOCK_TIME};
use headway_fuzz::regtest::mine;
use headway_fuzz::verdict::same_verdict;
use headway_fuzz::{assert_best_chain_links, FuzzInput, ModelStore, ReferenceChain};
use libfuzzer_sys::fuzz_target;

/// Upper bound on headers built per input, to keep an execution in the sub-millisecond range.
const MAX_HEADERS: u32 = 400;
/// Headers premined per network.
const PREMINED: usize = 2100;
/// The height of the earlier start: six headers below the first retarget.
const BEFORE_RETARGET: usize = 2010;
/// Recent headers a parent is usually picked from.
const RECENT: usize = 48;

/// `HEADWAY_FUZZ_DEBUG=1` prints every batch's outcome, to see what a corpus entry does.
fn debug() -> bool {
    static DEBUG: OnceLock<bool> = OnceLock::new();
    *DEBUG.get_or_init(|| std::env::var_os("HEADWAY_FUZZ_DEBUG").is_some())
}

/// The chain under test, the reference, the store model, and every header shown to them.
#[derive(Clone)]
struct Harness {
    chain: HeaderChain,
    reference: ReferenceChain,
    store: ModelStore,
    pool: Vec<Header>,
    now_secs: u64,
    /// The lowest fork height of this input: the best chain below it has not changed since
    /// it was last walked.
    lowest_fork: u32,
}

impl Harness {
    fn new(rules: Rules) -> Harness {
        let params = core_params(&rules);
        let genesis = rules.genesis;
        Harness {
            chain: HeaderChain::new(params),
            reference: ReferenceChain::new(rules),
            store: ModelStore::new(&genesis),
            pool: vec![genesis],
            now_secs: u64::from(genesis.time),
            lowest_fork: 0,
        }
    }

    /// Feeds one batch to both and checks that they agree.
    fn feed(&mut self, batch: &[Header]) {
        let chain = &mut self.chain;
        let reference = &mut self.reference;
        let now_secs = self.now_secs;
        let tip_before = chain.tip_hash();
        let accepted = chain.accept(batch, Time::from_secs(now_secs));
        if debug() {
            eprintln!(
                "{} batch of {}: added {}, tip {} at {}, bits {:#010x}, error {:?}",
                reference.rules().name,
                batch.len(),
                accepted.added,
                chain.tip_hash(),
                chain.tip_height(),
                chain.tip_header().bits.to_consensus(),
                accepted.error
            );
        }

        // The reference walks the batch the same way: stop at the first refusal.
        let known_before = reference.len();
        let mut refused = None;
        for header in batch {
            if let Err(rule) = reference.accept(header, now_secs) {
                refused = Some((*header, rule));
                break;
            }
        }
        match (&accepted.error, refused) {
            (None, None) => {}
            (Some((hash, error)), Some((header, rule))) => {
                assert_eq!(
                    *hash,
                    header.block_hash(),
                    "chain refused {error:?}, reference refused another header: {rule:?}"
                );
                if let Err(why) = same_verdict(error, &header, &rule) {
                    panic!("{hash}: {why}");
                }
            }
            (Some((hash, error)), None) => {
                panic!("HeaderChain refused {hash} ({error}) that the reference accepts");
            }
            (None, Some((header, rule))) => {
                panic!(
                    "HeaderChain accepted {}, which breaks {rule:?}",
                    header.block_hash()
                );
            }
        }

        // Exactly the reference's headers, no more, no fewer: the sets were equal before the
        // batch, so equal sizes and agreement on the batch make them equal again.
        assert_eq!(
            chain.len(),
            reference.len(),
            "the chain and the reference hold different counts"
        );
        for header in batch {
            let hash = header.block_hash();
            assert_eq!(
                chain.contains(&hash),
                reference.contains(&hash),
                "membership of {hash} differs (reference: {:?})",
                reference.check(header, now_secs)
            );
        }
        assert_eq!(
            accepted.added,
            reference.len() - known_before,
            "`added` miscounts new headers"
        );
        assert_eq!(
            accepted.persist.is_some(),
            accepted.added > 0,
            "persist iff headers were added"
        );

        let tip = chain.tip_hash();
        assert_eq!(
            tip,
            reference.best_hash(),
            "the tip is not the first header with the most work"
        );
        assert_eq!(
            chain.tip_work(),
            reference.best_work(),
            "tip work is miscounted"
        );
        assert_eq!(
            reference.height(&tip),
            Some(chain.tip_height()),
            "tip height is wrong"
        );
        assert_eq!(
            accepted.tip_change.is_some(),
            tip != tip_before,
            "tip change report is wrong"
        );
        if let Some(change) = &accepted.tip_change {
            assert_eq!(change.tip, tip);
            assert_eq!(change.tip_height, chain.tip_height());
            // The part below the fork was checked when it became best.
            assert_best_chain_links(chain, change.fork_height);
            self.lowest_fork = self.lowest_fork.min(change.fork_height);
        }
        if let Some(persist) = &accepted.persist {
            assert_eq!(persist.tip_work, chain.tip_work(), "persisted tip work");
            match &accepted.tip_change {
                Some(change) => assert_eq!(persist.fork_height, change.fork_height),
                None => {
                    assert!(
                        persist.connected.is_empty(),
                        "connected without a tip change"
                    );
                    assert_eq!(persist.fork_height, chain.tip_height());
                }
            }
            if let Err(why) = self.store.apply(persist) {
                panic!("the persisted changes do not replay: {why}");
            }
            // The rest of the best chain is compared at the end of the input.
            self.store
                .assert_matches_from(chain, persist.fork_height.saturating_sub(1));
        }
    }

    /// The end of an input: the chain links down to genesis (the part below the lowest fork
    /// was walked before the input began), and the store holds all of it.
    fn finish(&self) {
        assert_best_chain_links(&self.chain, self.lowest_fork);
        self.store.assert_matches(&self.chain);
    }

    /// The harness for an input starting from this one.
    fn start(&self) -> Harness {
        let mut h = self.clone();
        h.lowest_fork = h.chain.tip_height();
        h
    }
}

/// A premined network: harnesses at [`BEFORE_RETARGET`] and at [`PREMINED`], each with its
/// last headers (and for the later one those around height 2016) as the pool.
struct Premined {
    before: Harness,
    after: Harness,
}

fn premined(rules: Rules, salt: u8) -> Premined {
    let mut miner = ReferenceChain::new(rules.clone());
    let headers = premine(&mut miner, PREMINED, salt);
    let mut h = Harness::new(rules);
    h.now_secs = u64::MAX / 2;
    for batch in headers[..BEFORE_RETARGET].chunks(2000) {
        h.feed(batch);
    }
    let mut before = h.clone();
    before.pool = headers[BEFORE_RETARGET - RECENT..BEFORE_RETARGET].to_vec();
    before.now_secs = u64::from(headers[BEFORE_RETARGET - 1].time) - MAX_FUTURE_BLOCK_TIME;
    h.feed(&headers[BEFORE_RETARGET..]);
    let mut after = h;
    after.pool = headers[2000..2030].to_vec();
    after.pool.extend_from_slice(&headers[PREMINED - RECENT..]);
    after.now_secs = u64::from(headers[PREMINED - 1].time) - MAX_FUTURE_BLOCK_TIME;
    before.finish();
    after.finish();
    Premined {
        before: before.start(),
        after: after.start(),
    }
}

/// Simnet, easy testnet3 and easy testnet4, premined once per process.
fn snapshots() -> &'static [Premined; 3] {
    static SNAPSHOTS: OnceLock<[Premined; 3]> = OnceLock::new();
    SNAPSHOTS.get_or_init(|| {
        [
            premined(Rules::simnet(), 0x51),
            premined(Rules::easy_testnet3(), 0x53),
            premined(Rules::easy_testnet4(), 0x54),
        ]
    })
}

/// A time at one of the boundaries the rules draw, for a header at `height` on `parent`.
fn boundary_time(input: &mut FuzzInput, h: &Harness, parent: &Header, height: u32) -> i64 {
    let mode = input.u8();
    let sub = i64::from(mode >> 3);
    let prev = i64::from(parent.time);
    let rules = h.reference.rules();
    let parent_hash = parent.block_hash();
    match mode % 6 {
        // The 20-minute rule: 1199 to 1202 s after the parent.
        0 => prev + i64::from(2 * rules.spacing) - 1 + sub % 4,
        // Near k quarters of the timespan after the start of the period, which, for the last
        // header of a period, decides the retarget clamp.
        1 => {
            let start = height - height % rules.interval();
            let anchor = h
                .reference
                .ancestor_time(&parent_hash, start)
                .map_or(prev, i64::from);
            let quarter = i64::from(rules.timespan) / 4;
            anchor + quarter * (sub % 17) + i64::from(input.u8() as i8) * 16
        }
        // BIP94's timewarp limit: 602 to 599 s before the parent.
        2 => prev - 602 + sub % 4,
        // The median time past: at it, or one or two seconds after.
        3 => {
            let median = h.reference.median_time_past_of(&parent_hash);
            median.map_or(prev, i64::from) + sub % 3
        }
        // The 2-hour limit: one second either side.
        4 => h.now_secs as i64 + MAX_FUTURE_BLOCK_TIME as i64 - 1 + sub % 3,
        _ => i64::from(input.u32()),
    }
}

/// Bits near what the reference requires: the parent's, the pow limit, one off, genesis's.
fn near_miss_bits(input: &mut FuzzInput, h: &Harness, parent: &Header, required: u32) -> u32 {
    match input.u8() % 5 {
        0 => parent.bits.to_consensus(),
        1 => h.reference.pow_limit_bits(),
        2 => required.wrapping_add(1),
        3 => required.wrapping_sub(1),
        _ => h.reference.rules().genesis.bits.to_consensus(),
    }
}

fn make_header(input: &mut FuzzInput, h: &Harness, serial: u32) -> Header {
    let parent_choice = input.u8();
    let flags = input.u8();
    let pool = &h.pool;
    let parent = match pool.len() {
        n if parent_choice < 224 && n > 0 => {
            // Mostly recent headers, so that long chains and close forks both happen.
            let back = usize::from(parent_choice) % n.min(RECENT);
            Some(pool[n - 1 - back])
        }
        n if parent_choice < 240 && n > 0 => Some(pool[input.below(n)]),
        _ => None,
    };
    let (prev_blockhash, parent_time, parent_bits) = match parent {
        Some(parent) => (parent.block_hash(), parent.time, parent.bits),
        None => (
            BlockHash::from_byte_array(input.array32()),
            input.u32(),
            CompactTarget::from_consensus(input.u32()),
        ),
    };
    let version = match flags & 3 {
        0 | 1 => Version::from_consensus(0x2000_0000),
        2 => Version::from_consensus(4),
        _ => Version::from_consensus(input.u32() as i32),
    };
    let height = h.reference.height(&prev_blockhash).map_or(0, |p| p + 1);
    let time = match parent {
        Some(parent) if flags & 0x80 != 0 => boundary_time(input, h, &parent, height),
        _ if flags & 4 == 0 => {
            // Near the usual spacing, sometimes a little backwards.
            i64::from(parent_time) + i64::from(input.u8()) * 8 - 200
        }
        _ => i64::from(parent_time) + i64::from(input.u16() as i16) * 64,
    };
    let time = time.clamp(0, i64::from(u32::MAX)) as u32;
    let required = h.reference.required_bits(&prev_blockhash, time);
    let bits = match (flags & 8 != 0, parent, required) {
        (true, _, _) => CompactTarget::from_consensus(input.u32()),
        (false, Some(parent), Some(required)) if flags & 0x40 != 0 => {
            CompactTarget::from_consensus(near_miss_bits(input, h, &parent, required))
        }
        (false, _, Some(required)) => CompactTarget::from_consensus(required),
        (false, _, None) => parent_bits,
    };
    let mut merkle = [0u8; 32];
    merkle[..4].copy_from_slice(&serial.to_le_bytes());
    merkle[4] = input.u8();
    let mut header = Header {
        version,
        prev_blockhash,
        merkle_root: TxMerkleNode::from_byte_array(merkle),
        time,
        bits,
        nonce: u32::from(input.u8()),
    };
    // Grinding only pays on a known parent and near the pow limit: at it half of all hashes
    // pass, so 16 tries fail once in 65536; 256 tries cover targets down to a thirty-second
    // of it (the easy networks' genesis bits are a sixteenth). With arbitrary bits a hard
    // target would burn the time for nothing.
    if parent.is_some() && flags & 0x30 != 0 && flags & 8 == 0 {
        let target = decode_compact(bits.to_consensus()).value;
        let limit = h.reference.pow_limit();
        if target >= *limit {
            mine(&mut header, 16);
        } else if target.mul_u64(32) >= *limit {
            mine(&mut header, 256);
        }
    }
    header
}

/// Headers built from the fuzz bytes (see the module comment) on top of `h`.
fn run_built(mut h: Harness, input: &mut FuzzInput) {
    h.now_secs += u64::from(input.u16()) * 60;
    let mut serial = 0u32;
    while !input.is_empty() && serial < MAX_HEADERS {
        let kind = input.u8();
        let batch: Vec<Header> = if kind >= 240 {
            // Replay a slice of the pool: known headers are skipped, unknown ones re-judged.
            let start = input.below(h.pool.len());
            let len = 1 + input.below(8);
            h.pool.iter().skip(start).take(len).copied().collect()
        } else {
            // Each header is built on the reference holding the ones before it in the batch
            // (so that it can ask for the bits a child of any of them needs); the reference
            // forgets them again before it judges the batch.
            let len = 1 + usize::from(kind % 8);
            let mut batch = Vec::with_capacity(len);
            let mark = h.reference.mark();
            for _ in 0..len {
                serial += 1;
                let header = make_header(input, &h, serial);
                let _ = h.reference.accept(&header, h.now_secs);
                h.pool.push(header);
                batch.push(header);
            }
            h.reference.rewind(mark);
            batch
        };
        h.feed(&batch);
    }
    h.finish();
}

/// Mainnet: the bytes are raw 80-byte headers (real ones in the seed corpus), fed in batches.
fn run_mainnet(mode: u8, input: &mut FuzzInput) {
    let mut h = Harness::new(Rules::mainnet());
    h.now_secs += u64::from(input.u16()) * 60;
    let batch_len = 1 + usize::from(mode >> 1) % 64;
    let raw: Vec<Header> = input
        .rest()
        .chunks_exact(80)
        .take(MAX_HEADERS as usize * 4)
        .filter_map(|bytes| deserialize::<Header>(bytes).ok())
        .collect();
    for batch in raw.chunks(batch_len) {
        h.pool.extend_from_slice(batch);
        h.feed(batch);
    }
    h.finish();
}

fuzz_target!(|data: &[u8]| {
    let mut input = FuzzInput::new(data);
    let mode = input.u8();
    if mode & 1 == 1 {
        run_mainnet(mode, &mut input);
        return;
    }
    let start = match (mode >> 1) % 8 {
        0 => Harness::new(Rules::regtest()),
        1 => Harness::new(Rules::easy_testnet3()),
        n => {
            let net = &snapshots()[usize::from(n - 2) / 2];
            if n % 2 == 0 {
                net.before.start()
            } else {
                net.after.start()
            }
        }
    };
    run_built(start, &mut input);
});
