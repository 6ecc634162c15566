//! Reorgs, side headers and refused changes, on mined regtest branches.

mod support;

use headway_core::bitcoin::block::Header;
use headway_core::{Network, PersistChain};
use headway_store_lmdb::{HeaderStore, StoreError};
use support::{appends, assert_consistent, mine, open_fast, regtest_chain, work_of};

/// The change that replaces the best chain above `fork` with `branch`.
fn reorg(best_to_fork: &[Header], branch: &[Header]) -> PersistChain {
    PersistChain {
        fork_height: (best_to_fork.len() - 1) as u32,
        rejoined: vec![],
        connected: branch.to_vec(),
        side: vec![],
        tip_work: work_of(best_to_fork) + work_of(branch),
    }
}

fn with_heights(first: u32, headers: &[Header]) -> Vec<(u32, Header)> {
    (first..).zip(headers.iter().copied()).collect()
}

fn assert_state(store: &HeaderStore, best: &[Header], side: &[(u32, Header)]) {
    let (loaded_best, loaded_side) = store.load().unwrap();
    assert_eq!(loaded_best, best);
    let mut expected_side = side.to_vec();
    expected_side.sort_by_key(|(h, header)| (*h, header.block_hash()));
    let mut got_side = loaded_side.clone();
    got_side.sort_by_key(|(h, header)| (*h, header.block_hash()));
    assert_eq!(got_side, expected_side);
    assert!(
        loaded_side.windows(2).all(|w| w[0].0 <= w[1].0),
        "side not in height order"
    );
    for (height, header) in best.iter().enumerate() {
        let found = store.header_by_hash(&header.block_hash()).unwrap();
        assert_eq!(found, Some((height as u32, *header, true)));
    }
    for (height, header) in side {
        let found = store.header_by_hash(&header.block_hash()).unwrap();
        assert_eq!(found, Some((*height, *header, false)));
    }
    let tip = store.tip().unwrap().unwrap();
    assert_eq!(tip.height as usize, best.len() - 1);
    assert_eq!(tip.header, best[best.len() - 1]);
    assert_eq!(tip.work, work_of(best));
    assert_consistent(store);
}

#[test]
fn a_reorg_moves_replaced_headers_to_side_and_survives_reopen() {
    let a = regtest_chain(30, 1); // heights 0..=30
    let b = mine(&a[20], 15, 2); // heights 21..=35
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    store.apply(&appends(&a, 1, a.len(), 2000)).unwrap();
    store.apply(&[reorg(&a[..=20], &b)]).unwrap();

    let best_b: Vec<Header> = a[..=20].iter().chain(&b).copied().collect();
    let side_a = with_heights(21, &a[21..]);
    assert_eq!(store.header_at(25).unwrap(), Some(b[4]));
    assert_eq!(
        store.header_by_hash(&a[25].block_hash()).unwrap(),
        Some((25, a[25], false))
    );
    assert_state(&store, &best_b, &side_a);

    drop(store);
    let store = open_fast(dir.path(), Network::Regtest);
    assert_state(&store, &best_b, &side_a);

    // Back to branch A, now longer: A's headers leave the side set, B's join it.
    let a_more = mine(&a[30], 10, 1); // heights 31..=40
    let branch: Vec<Header> = a[21..].iter().chain(&a_more).copied().collect();
    store.apply(&[reorg(&a[..=20], &branch)]).unwrap();
    let best_a: Vec<Header> = a.iter().chain(&a_more).copied().collect();
    assert_state(&store, &best_a, &with_heights(21, &b));

    // A heavier but shorter branch from 30: the best keys above its tip disappear.
    let c = mine(&a[30], 3, 3); // heights 31..=33
    store.apply(&[reorg(&a, &c)]).unwrap();
    let best_c: Vec<Header> = a.iter().chain(&c).copied().collect();
    let mut side = with_heights(21, &b);
    side.extend(with_heights(31, &a_more));
    assert_state(&store, &best_c, &side);
    assert_eq!(store.header_at(34).unwrap(), None);

    drop(store);
    let store = open_fast(dir.path(), Network::Regtest);
    assert_state(&store, &best_c, &side);
}

#[test]
fn changes_in_one_apply_build_on_each_other() {
    let a = regtest_chain(30, 1);
    let b = mine(&a[20], 15, 2);
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    let mut changes = appends(&a, 1, a.len(), 7);
    changes.push(reorg(&a[..=20], &b));
    store.apply(&changes).unwrap();
    let best_b: Vec<Header> = a[..=20].iter().chain(&b).copied().collect();
    assert_state(&store, &best_b, &with_heights(21, &a[21..]));
}

#[test]
fn side_headers_are_stored_without_moving_the_tip() {
    let a = regtest_chain(10, 1);
    let fork = mine(&a[5], 3, 9); // heights 6..=8
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    store.apply(&appends(&a, 1, a.len(), 2000)).unwrap();
    let side = with_heights(6, &fork);
    store
        .apply(&[PersistChain {
            fork_height: 10,
            rejoined: vec![],
            connected: vec![],
            side: side.clone(),
            tip_work: work_of(&a),
        }])
        .unwrap();
    assert_state(&store, &a, &side);

    // Known again: nothing changes.
    store
        .apply(&[PersistChain {
            fork_height: 10,
            rejoined: vec![],
            connected: vec![],
            side: side.clone(),
            tip_work: work_of(&a),
        }])
        .unwrap();
    assert_state(&store, &a, &side);

    // A side header can later join the best chain.
    let extended = mine(&fork[2], 5, 9); // heights 9..=13
    let branch: Vec<Header> = fork.iter().chain(&extended).copied().collect();
    store.apply(&[reorg(&a[..=5], &branch)]).unwrap();
    let best: Vec<Header> = a[..=5].iter().chain(&branch).copied().collect();
    assert_state(&store, &best, &with_heights(6, &a[6..]));
}

#[test]
fn a_change_that_does_not_fit_writes_nothing() {
    let a = regtest_chain(10, 1);
    let stranger = regtest_chain(3, 7);
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    store.apply(&appends(&a, 1, 6, 2000)).unwrap(); // heights 1..=5

    // Above the tip even after the good change (tip 7) that precedes it.
    let above_tip = PersistChain {
        fork_height: 9,
        rejoined: vec![],
        connected: vec![a[10]],
        side: vec![],
        tip_work: work_of(&a[..11]),
    };
    let unlinked = PersistChain {
        fork_height: 5,
        rejoined: vec![],
        connected: vec![a[7]],
        side: vec![],
        tip_work: work_of(&a[..8]),
    };
    let orphan_side = PersistChain {
        fork_height: 5,
        rejoined: vec![],
        connected: vec![],
        side: vec![(2, stranger[2])],
        tip_work: work_of(&a[..6]),
    };
    for bad in [above_tip, unlinked, orphan_side] {
        // A good change first: the bad one must take it down with it.
        let good = appends(&a, 6, 8, 2000);
        let result = store.apply(&[good[0].clone(), bad]);
        assert!(matches!(result, Err(StoreError::Mismatch(_))), "{result:?}");
        assert_state(&store, &a[..6], &[]);
    }
}

#[test]
fn load_chain_knows_side_headers_after_a_reorg() {
    let a = regtest_chain(30, 1);
    let b = mine(&a[20], 15, 2);
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    store.apply(&appends(&a, 1, a.len(), 2000)).unwrap();
    store.apply(&[reorg(&a[..=20], &b)]).unwrap();
    let chain = store.load_chain().unwrap();
    assert_eq!(chain.tip_height(), 35);
    assert_eq!(chain.tip_hash(), b[14].block_hash());
    assert_eq!(chain.tip_work(), store.tip().unwrap().unwrap().work);
    assert!(chain.contains(&a[30].block_hash()));
    assert!(!chain.is_on_best_chain(&a[30].block_hash()));
    assert!(chain.is_on_best_chain(&b[0].block_hash()));
}

#[test]
fn a_reorg_across_an_index_partition_boundary_keeps_every_header_findable() {
    // The hash index packs a partition of 65,536 heights when the chain enters the next one;
    // a reorg back below the boundary and a chain that crosses it again must keep it right.
    let a = support::schema1::synthetic_chain(Network::Mainnet, 70_000);
    let fork = 65_530;
    let b: Vec<Header> = support::schema1::side_branch(&a, fork, 20)
        .into_iter()
        .map(|(_, h)| h)
        .collect(); // heights 65,531..=65,550
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Mainnet);
    for group in appends(&a, 1, a.len(), 2000).chunks(10) {
        store.apply(group).unwrap();
    }
    store.apply(&[reorg(&a[..=fork], &b)]).unwrap();
    let best: Vec<Header> = a[..=fork].iter().chain(&b).copied().collect();
    assert_state(
        &store,
        &best,
        &with_heights(fork as u32 + 1, &a[fork + 1..]),
    );
    // Back to a, whose top above the fork is stored as side headers and comes back.
    store
        .apply(&[PersistChain {
            fork_height: fork as u32,
            rejoined: vec![],
            connected: a[fork + 1..].to_vec(),
            side: vec![],
            tip_work: work_of(&a),
        }])
        .unwrap();
    assert_state(&store, &a, &with_heights(fork as u32 + 1, &b));
    for (height, header) in a.iter().enumerate().skip(fork - 100) {
        assert_eq!(
            store.header_by_hash(&header.block_hash()).unwrap(),
            Some((height as u32, *header, true))
        );
    }
}
