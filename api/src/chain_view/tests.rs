//! ChainView on real LMDB stores of mined regtest chains, checked against the core's own
//! `HeaderChain` (rebuilt from the same store) and against sums done here.

use std::sync::Arc;

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode, Work};
use headway_core::chain::validate::median_time_past;
use headway_core::{Network, PersistChain};
use headway_store_lmdb::{Durability, HeaderStore, StoreOptions};

use super::*;

use headway_regtest::work_of;

fn open(dir: &std::path::Path) -> Arc<HeaderStore> {
    let options = StoreOptions {
        durability: Durability::NoSync,
        ..StoreOptions::default()
    };
    Arc::new(HeaderStore::open_with(dir, Network::Regtest, &options).unwrap())
}

/// A store whose best chain is `chain` (index = height), written 2000 headers a change.
fn store_with(dir: &std::path::Path, chain: &[Header]) -> Arc<HeaderStore> {
    let store = open(dir);
    let changes: Vec<PersistChain> = (1..chain.len())
        .step_by(2000)
        .map(|start| {
            let end = (start + 2000).min(chain.len());
            PersistChain {
                fork_height: (start - 1) as u32,
                rejoined: vec![],
                connected: chain[start..end].to_vec(),
                side: vec![],
                tip_work: work_of(&chain[..end]),
            }
        })
        .collect();
    store.apply(&changes).unwrap();
    store
}

/// Side headers `branch` whose first one's parent is at height `fork`.
fn add_side(store: &HeaderStore, best: &[Header], fork: u32, branch: &[Header]) {
    store
        .apply(&[PersistChain {
            fork_height: (best.len() - 1) as u32,
            rejoined: vec![],
            connected: vec![],
            side: (fork + 1..).zip(branch.iter().copied()).collect(),
            tip_work: work_of(best),
        }])
        .unwrap();
}

/// Valid headers on `parent` with the given times and nBits (the regtest miner fixes both).
fn mine_with(parent: &Header, times: &[u32], salt: u8, bits: u32) -> Vec<Header> {
    let mut out: Vec<Header> = Vec::new();
    for (i, time) in times.iter().enumerate() {
        let prev = out.last().unwrap_or(parent).block_hash();
        let mut merkle = [salt; 32];
        merkle[..8].copy_from_slice(&(i as u64).to_le_bytes());
        let mut header = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::from_byte_array(merkle),
            time: *time,
            bits: CompactTarget::from_consensus(bits),
            nonce: 0,
        };
        while header.validate_pow(header.target()).is_err() {
            header.nonce += 1;
        }
        out.push(header);
    }
    out
}

/// The median time past of the last (up to) 11 of `times`.
fn median_of(times: &[u32]) -> u32 {
    let mut last: Vec<u32> = times[times.len().saturating_sub(11)..].to_vec();
    median_time_past(&mut last)
}

#[test]
fn chain_work_median_and_next_match_the_core_at_every_height() {
    let chain = headway_regtest::chain(4500, 1);
    let side = headway_regtest::mine(&chain[4000], 30, 2); // heights 4001..=4030
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &chain);
    add_side(&store, &chain, 4000, &side);
    let core = store.load_chain().unwrap();
    let times: Vec<u32> = chain.iter().map(|h| h.time).collect();

    let view = ChainView::new(store.clone());
    let mut all = Vec::new();
    view.read(|read| {
        let mut from = chain[0].block_hash();
        loop {
            let batch = read.best_headers_from(&from, 2000)?;
            let Some(last) = batch.last() else { break };
            let Some(next) = last.next else {
                all.extend(batch);
                break;
            };
            from = next;
            all.extend(batch);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(all.len(), chain.len());
    for (height, info) in all.iter().enumerate() {
        let hash = chain[height].block_hash();
        assert_eq!(info.hash, hash);
        assert_eq!(info.height as usize, height);
        assert_eq!(info.header, chain[height]);
        assert_eq!(info.confirmations, 4500 - height as i64 + 1);
        assert_eq!(
            info.median_time,
            median_of(&times[..=height]),
            "at {height}"
        );
        assert_eq!(
            Some(info.chainwork),
            core.work_of(&hash),
            "work at {height}"
        );
        assert_eq!(info.next, chain.get(height + 1).map(|h| h.block_hash()));
    }

    // Fresh views, so each first query builds its checkpoint by the shorter walk (up from
    // genesis low in the chain, down from the tip high in it); then the same view again.
    for height in [
        0u32, 1, 5, 1023, 1024, 1025, 2047, 2048, 3000, 4095, 4096, 4499, 4500,
    ] {
        let fresh = ChainView::new(store.clone());
        for _ in 0..2 {
            let info = fresh.read(|r| r.header_info_at(height)).unwrap().unwrap();
            assert_eq!(info, all[height as usize], "fresh view at {height}");
            let by_hash = fresh.read(|r| r.header_info(&info.hash)).unwrap();
            assert_eq!(by_hash.as_ref(), Some(&info));
        }
    }

    // Side headers: the branch walked to the fork, the rest of the median from the best chain.
    for (i, header) in side.iter().enumerate() {
        let hash = header.block_hash();
        let info = view.read(|r| r.header_info(&hash)).unwrap().unwrap();
        let mut branch_times: Vec<u32> = times[..=4000].to_vec();
        branch_times.extend(side[..=i].iter().map(|h| h.time));
        assert_eq!(info.height as usize, 4001 + i);
        assert_eq!(info.header, *header);
        assert_eq!(info.confirmations, -1);
        assert_eq!(info.next, None);
        assert_eq!(info.median_time, median_of(&branch_times));
        assert_eq!(Some(info.chainwork), core.work_of(&hash), "side work {i}");
    }
    assert_eq!(
        view.read(|r| Ok(r.tip()?.hash)).unwrap(),
        chain[4500].block_hash()
    );
    assert_eq!(
        view.read(|r| r.hash_at(4000)).unwrap(),
        Some(chain[4000].block_hash())
    );
    assert_eq!(view.read(|r| r.hash_at(4501)).unwrap(), None);
    assert!(view.size_on_disk() > 4500 * 80);
    assert_eq!(view.network(), Network::Regtest);
}

#[test]
fn checkpoints_are_dropped_when_a_reorg_lands_below_them() {
    let chain = headway_regtest::chain(3000, 1);
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &chain);
    let view = ChainView::new(store.clone());
    // 2900 walks down from the tip (checkpoint 2048), 1100 up from genesis (checkpoint 1024).
    view.read(|r| r.header_info_at(2900)).unwrap();
    view.read(|r| r.header_info_at(1100)).unwrap();
    let held = view.work.held();
    assert_eq!(
        held,
        vec![
            (1024, chain[1024].block_hash()),
            (2048, chain[2048].block_hash())
        ]
    );

    // A branch from 1500 whose headers carry 8 times the work of regtest's pow limit: a
    // checkpoint from the old chain would now give a wrong sum.
    let branch_times: Vec<u32> = (1..=1600).map(|i| chain[1500].time + 600 * i).collect();
    let branch = mine_with(&chain[1500], &branch_times, 3, 0x200f_ffff);
    store
        .apply(&[PersistChain {
            fork_height: 1500,
            rejoined: vec![],
            connected: branch.clone(),
            side: vec![],
            tip_work: work_of(&chain[..=1500]) + work_of(&branch),
        }])
        .unwrap();
    let core = store.load_chain().unwrap();
    let best: Vec<Header> = chain[..=1500].iter().chain(&branch).copied().collect();
    for height in [2500u32, 2048, 3100, 1600, 1024] {
        let info = view.read(|r| r.header_info_at(height)).unwrap().unwrap();
        assert_eq!(info.hash, best[height as usize].block_hash());
        assert_eq!(
            Some(info.chainwork),
            core.work_of(&info.hash),
            "at {height}"
        );
        assert_eq!(info.chainwork, work_of(&best[..=height as usize]));
    }
    // The old 2048 is gone; the one held at 2048 now is the new chain's.
    for (height, hash) in view.work.held() {
        assert_eq!(
            hash,
            best[height as usize].block_hash(),
            "stale checkpoint {height}"
        );
    }
    // The old chain's headers are a side branch now, their work still the core's.
    for height in [1501usize, 2048, 3000] {
        let hash = chain[height].block_hash();
        let info = view.read(|r| r.header_info(&hash)).unwrap().unwrap();
        assert_eq!(info.confirmations, -1);
        assert_eq!(Some(info.chainwork), core.work_of(&hash), "old {height}");
    }
}

#[test]
fn heights_near_genesis_take_the_median_of_fewer_than_eleven() {
    let genesis = headway_regtest::genesis();
    let g = genesis.time;
    // Out of order on purpose: the median is of the sorted times.
    let offsets = [
        600, 100, 5000, 50, 7000, 20, 9000, 8000, 300, 10_000, 400, 11_000, 12_000,
    ];
    let times: Vec<u32> = offsets.iter().map(|o| g + o).collect();
    let mut chain = vec![genesis];
    chain.extend(mine_with(
        &genesis,
        &times,
        1,
        headway_regtest::REGTEST_BITS,
    ));
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &chain);
    let view = ChainView::new(store);
    let all_times: Vec<u32> = chain.iter().map(|h| h.time).collect();
    for height in 0..chain.len() {
        let info = view
            .read(|r| r.header_info_at(height as u32))
            .unwrap()
            .unwrap();
        assert_eq!(
            info.median_time,
            median_of(&all_times[..=height]),
            "at {height}"
        );
    }
    let genesis_info = view.read(|r| r.header_info_at(0)).unwrap().unwrap();
    assert_eq!(genesis_info.median_time, g);
    assert_eq!(genesis_info.confirmations, chain.len() as i64);
    assert_eq!(genesis_info.next, Some(chain[1].block_hash()));
    assert_eq!(genesis_info.chainwork, genesis.work());
    let tip = view.read(|r| r.header_info_at(13)).unwrap().unwrap();
    assert_eq!((tip.confirmations, tip.next), (1, None));
}

#[test]
fn tips_list_the_active_tip_and_each_side_leaf_highest_first() {
    let chain = headway_regtest::chain(300, 1);
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &chain);
    let a = headway_regtest::mine(&chain[250], 5, 2); // 251..=255
    let b = headway_regtest::mine(&a[1], 2, 3); // 253..=254, off A's 252
    let c = headway_regtest::mine(&chain[100], 1, 4); // 101
    let d = headway_regtest::mine(&chain[299], 1, 5); // 300, beside the tip
    add_side(&store, &chain, 250, &a);
    add_side(&store, &chain, 252, &b);
    add_side(&store, &chain, 100, &c);
    add_side(&store, &chain, 299, &d);
    let view = ChainView::new(store);
    let tips = view.read(|r| r.tips()).unwrap();
    let tip = |header: &Header, height, branchlen, active| ChainTip {
        height,
        hash: header.block_hash(),
        branchlen,
        active,
    };
    assert_eq!(
        tips,
        vec![
            tip(&chain[300], 300, 0, true),
            tip(&d[0], 300, 1, false),
            tip(&a[4], 255, 5, false),
            tip(&b[1], 254, 4, false),
            tip(&c[0], 101, 1, false),
        ]
    );

    let lone = tempfile::tempdir().unwrap();
    let only_genesis = ChainView::new(open(lone.path()));
    let tips = only_genesis.read(|r| r.tips()).unwrap();
    assert_eq!(tips, vec![tip(&chain[0], 0, 0, true)]);
}

#[test]
fn best_headers_stop_at_the_tip_and_ignore_unknown_and_side_hashes() {
    let chain = headway_regtest::chain(40, 1);
    let side = headway_regtest::mine(&chain[30], 3, 2);
    let dir = tempfile::tempdir().unwrap();
    let store = store_with(dir.path(), &chain);
    add_side(&store, &chain, 30, &side);
    let view = ChainView::new(store);
    view.read(|r| {
        let unknown = BlockHash::from_byte_array([9; 32]);
        assert!(r.best_headers_from(&unknown, 5)?.is_empty());
        assert!(r.best_raw_headers_from(&unknown, 5)?.is_empty());
        assert!(r.best_headers_from(&side[0].block_hash(), 5)?.is_empty());
        assert!(r
            .best_raw_headers_from(&side[0].block_hash(), 5)?
            .is_empty());
        assert!(r.header_info(&unknown)?.is_none());
        assert!(r.header_info_at(41)?.is_none());
        let from_ten = chain[10].block_hash();
        assert!(r.best_headers_from(&from_ten, 0)?.is_empty());
        let near_tip = r.best_headers_from(&chain[38].block_hash(), 5)?;
        assert_eq!(near_tip.len(), 3);
        let everything = r.best_headers_from(&from_ten, usize::MAX)?;
        assert_eq!(everything.len(), 31);
        let raw = r.best_raw_headers_from(&from_ten, usize::MAX)?;
        assert_eq!(raw, chain[10..].to_vec());
        assert_eq!(
            r.best_raw_headers_from(&from_ten, 5)?,
            chain[10..15].to_vec()
        );
        let infos: Vec<Header> = everything.iter().map(|i| i.header).collect();
        assert_eq!(infos, raw);
        Ok(())
    })
    .unwrap();
}

#[test]
fn the_view_can_be_shared_between_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<ChainView>();
    shared::<Arc<ChainView>>();
}

#[test]
fn a_tip_work_below_its_headers_is_corrupt_not_a_panic() {
    let chain = headway_regtest::chain(3000, 1);
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store
        .apply(&[PersistChain {
            fork_height: 0,
            rejoined: vec![],
            connected: chain[1..].to_vec(),
            side: vec![],
            tip_work: Work::from_be_bytes([0; 32]),
        }])
        .unwrap();
    let view = ChainView::new(store);
    // Near the tip the work is the tip's minus the headers above: impossible here.
    let near_tip = view.read(|r| r.header_info_at(2990));
    assert!(
        matches!(near_tip, Err(ChainError::Store(StoreError::Corrupt { .. }))),
        "{near_tip:?}"
    );
    // Near genesis it is summed upwards and does not depend on the record.
    let low = view.read(|r| r.header_info_at(10)).unwrap().unwrap();
    assert_eq!(low.chainwork, work_of(&chain[..=10]));
}
