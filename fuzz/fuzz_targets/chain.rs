//! Fuzz target `chain`: header sequences fed in batches to `HeaderChain::accept` and compared
//! after every batch with the slow reference in `headway_fuzz::reference`.
//!
//! Byte 0 picks the mode. Even: headers built from the fuzz bytes on the regtest genesis (cheap
//! proof of work). Odd: the rest is raw 80-byte headers for mainnet (the seed corpus holds the
//! real first ones), in batches of `1 + (byte0 >> 1) % 64`, up to height 2015.
//!
//! Regtest mode:
//! Each header picks a parent (a recent header of the pool, valid or not, or a random hash), a
//! version, a time offset from its parent, its bits (the parent's or arbitrary) and whether its
//! nonce is ground to meet the target. Batches are 1 to 8 new headers, or a replay of known ones.
//!
//! Checks after every batch: the chain holds exactly the headers the reference accepted (so it
//! never accepts a header the reference rejects, and the header it reports as refused is one the
//! reference rejects too); `added` counts the new ones; the tip has the reference's most work
//! and height and links back to genesis through `header`/`hash_at`; a tip change is reported iff
//! the tip moved; there is something to persist iff headers were added.

#![no_main]

use bitcoin::block::{Header, Version};
use bitcoin::consensus::encode::deserialize;
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
use headway_core::chain::HeaderChain;
use headway_core::params::DIFFICULTY_ADJUSTMENT_INTERVAL;
use headway_core::time::Time;
use headway_fuzz::regtest::mine;
use headway_fuzz::{assert_best_chain_links, FuzzInput, ReferenceChain};
use libfuzzer_sys::fuzz_target;

/// Upper bound on headers per input, to keep an execution in the sub-millisecond range.
const MAX_HEADERS: usize = 400;

fn make_header(input: &mut FuzzInput, pool: &[Header], serial: u32) -> Header {
    let parent_choice = input.u8();
    let flags = input.u8();
    let (prev_blockhash, parent_time, parent_bits) = match pool.len() {
        n if parent_choice < 240 && n > 0 => {
            // Mostly recent headers, so that long chains and close forks both happen.
            let back = usize::from(parent_choice) % n.min(48);
            let parent = pool[n - 1 - back];
            (parent.block_hash(), parent.time, parent.bits)
        }
        _ => (
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
    let delta = if flags & 4 == 0 {
        // Near the usual spacing, sometimes a little backwards.
        i64::from(input.u8()) * 8 - 200
    } else {
        i64::from(input.u16() as i16) * 64
    };
    let time = (i64::from(parent_time) + delta).clamp(0, i64::from(u32::MAX)) as u32;
    let bits = if flags & 8 == 0 {
        parent_bits
    } else {
        CompactTarget::from_consensus(input.u32())
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
    // Grinding only pays at the regtest pow limit (half of all hashes pass, so 16 tries fail
    // once in 65536); with arbitrary bits a hard target would burn the time for nothing.
    if flags & 0x30 != 0 && flags & 8 == 0 {
        mine(&mut header, 16);
    }
    header
}

/// The chain under test, the reference, and every header either has been shown.
struct Harness {
    chain: HeaderChain,
    reference: ReferenceChain,
    pool: Vec<Header>,
    now_secs: u64,
}

impl Harness {
    fn new(reference: ReferenceChain, now_offset_minutes: u16) -> Harness {
        let params = reference.params().clone();
        let genesis = params.genesis;
        Harness {
            chain: HeaderChain::new(params),
            reference,
            pool: vec![genesis],
            now_secs: u64::from(genesis.time) + u64::from(now_offset_minutes) * 60,
        }
    }

    /// Feeds one batch to both and checks that they agree.
    fn feed(&mut self, batch: &[Header]) {
        let chain = &mut self.chain;
        let reference = &mut self.reference;
        let now_secs = self.now_secs;
        let tip_before = chain.tip_hash();
        let accepted = chain.accept(batch, Time::from_secs(now_secs));

        // The reference walks the batch the same way: stop at the first refusal.
        let known_before = reference.len();
        let mut refused = None;
        for header in batch {
            if let Err(rule) = reference.accept(header, now_secs) {
                refused = Some((header.block_hash(), rule));
                break;
            }
        }
        match (&accepted.error, refused) {
            (None, None) => {}
            (Some((hash, error)), Some((ref_hash, rule))) => {
                assert_eq!(
                    *hash, ref_hash,
                    "chain refused {error:?}, reference refused {rule:?}"
                );
            }
            (Some((hash, error)), None) => {
                panic!("HeaderChain refused {hash} ({error}) that the reference accepts");
            }
            (None, Some((hash, rule))) => {
                panic!("HeaderChain accepted {hash}, which breaks {rule:?}");
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
            chain.tip_work(),
            reference.best_work(),
            "the tip is not the most-work header"
        );
        assert_eq!(
            reference.work(&tip),
            Some(chain.tip_work()),
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
        }
    }
}

/// Regtest: headers built from the fuzz bytes (see the module comment).
fn run_regtest(input: &mut FuzzInput) {
    let mut h = Harness::new(ReferenceChain::regtest(), input.u16());
    let mut serial = 0u32;
    while !input.is_empty() && h.pool.len() < MAX_HEADERS {
        let kind = input.u8();
        let batch: Vec<Header> = if kind >= 240 {
            // Replay a slice of the pool: known headers are skipped, unknown ones re-judged.
            let start = input.below(h.pool.len());
            let len = 1 + input.below(8);
            h.pool.iter().skip(start).take(len).copied().collect()
        } else {
            let len = 1 + usize::from(kind % 8);
            let mut batch = Vec::with_capacity(len);
            for _ in 0..len {
                serial += 1;
                let header = make_header(input, &h.pool, serial);
                h.pool.push(header);
                batch.push(header);
            }
            batch
        };
        h.feed(&batch);
    }
    assert_best_chain_links(&h.chain, 0);
}

/// Whether a batch reaches mainnet height 2016, where the reference stops modelling.
fn reaches_first_retarget(reference: &ReferenceChain, batch: &[Header]) -> bool {
    let mut local: Vec<(BlockHash, u32)> = Vec::new();
    for header in batch {
        let parent = reference.height(&header.prev_blockhash).or_else(|| {
            local
                .iter()
                .find(|(hash, _)| *hash == header.prev_blockhash)
                .map(|(_, height)| *height)
        });
        if let Some(parent) = parent {
            if parent + 1 >= DIFFICULTY_ADJUSTMENT_INTERVAL {
                return true;
            }
            local.push((header.block_hash(), parent + 1));
        }
    }
    false
}

/// Mainnet: the bytes are raw 80-byte headers (real ones in the seed corpus), fed in batches.
fn run_mainnet(mode: u8, input: &mut FuzzInput) {
    let mut h = Harness::new(ReferenceChain::mainnet(), input.u16());
    let batch_len = 1 + usize::from(mode >> 1) % 64;
    let raw: Vec<Header> = input
        .rest()
        .chunks_exact(80)
        .take(MAX_HEADERS * 4)
        .filter_map(|bytes| deserialize::<Header>(bytes).ok())
        .collect();
    for batch in raw.chunks(batch_len) {
        if reaches_first_retarget(&h.reference, batch) {
            return;
        }
        h.pool.extend_from_slice(batch);
        h.feed(batch);
    }
    assert_best_chain_links(&h.chain, 0);
}

fuzz_target!(|data: &[u8]| {
    let mut input = FuzzInput::new(data);
    let mode = input.u8();
    if mode & 1 == 0 {
        run_regtest(&mut input);
    } else {
        run_mainnet(mode, &mut input);
    }
});
