//! The reads for serving and loading: `best_headers` (a `getheaders` answer from the store) and
//! `for_each_stored` (the streaming load), against the chain written, across group boundaries
//! (51 headers a group) and after a reorg.

mod support;

use headway_core::bitcoin::block::Header;
use headway_core::{Network, PersistChain};
use headway_store_lmdb::StoreError;
use support::{appends, mine, open_fast, regtest_chain, work_of};

#[test]
fn best_headers_reads_up_to_max_from_a_height_clamped_to_the_tip() {
    let chain = regtest_chain(5000, 1);
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    store.apply(&appends(&chain, 1, chain.len(), 2000)).unwrap();

    assert_eq!(store.best_headers(0, 1).unwrap(), vec![chain[0]]);
    assert_eq!(store.best_headers(0, 2000).unwrap(), chain[..2000]);
    // Every start inside a group and at its edges, several lengths.
    for from in [1usize, 50, 51, 52, 101, 102, 1999, 2000, 4949, 4950] {
        for max in [1usize, 2, 50, 51, 52, 2000] {
            let got = store.best_headers(from as u32, max).unwrap();
            let end = (from + max).min(chain.len());
            assert_eq!(got, chain[from..end], "from {from}, max {max}");
        }
    }
    // Clamped at the tip; empty above it or for max 0.
    assert_eq!(store.best_headers(4990, 2000).unwrap(), chain[4990..]);
    assert_eq!(store.best_headers(5000, 2000).unwrap(), vec![chain[5000]]);
    assert!(store.best_headers(5001, 2000).unwrap().is_empty());
    assert!(store.best_headers(u32::MAX, usize::MAX).unwrap().is_empty());
    assert!(store.best_headers(10, 0).unwrap().is_empty());
    assert_eq!(store.best_headers(4000, usize::MAX).unwrap(), chain[4000..]);
}

#[test]
fn best_headers_follows_a_reorg() {
    let a = regtest_chain(300, 1);
    let b = mine(&a[120], 250, 2); // heights 121..=370
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    store.apply(&appends(&a, 1, a.len(), 2000)).unwrap();
    store
        .apply(&[PersistChain {
            fork_height: 120,
            rejoined: vec![],
            connected: b.clone(),
            side: vec![],
            tip_work: work_of(&a[..=120]) + work_of(&b),
        }])
        .unwrap();
    let best: Vec<Header> = a[..=120].iter().chain(&b).copied().collect();
    assert_eq!(store.best_headers(100, 2000).unwrap(), best[100..]);
    assert_eq!(store.best_headers(0, 400).unwrap(), best);
}

#[test]
fn for_each_stored_visits_the_best_chain_then_side_headers_parents_first() {
    let a = regtest_chain(200, 1);
    let b = mine(&a[150], 20, 2); // heights 151..=170, replaced below by a's longer top
    let c = mine(&a[60], 3, 3); // heights 61..=63, side headers
    let dir = tempfile::tempdir().unwrap();
    let store = open_fast(dir.path(), Network::Regtest);
    store.apply(&appends(&a, 1, 151, 2000)).unwrap();
    store.apply(&appends_of(&a[..=150], &b)).unwrap();
    // Back to a (b's 20 headers go to the side set) and c's branch as side headers.
    store
        .apply(&[PersistChain {
            fork_height: 150,
            rejoined: vec![],
            connected: a[151..].to_vec(),
            side: (61u32..).zip(c.iter().copied()).collect(),
            tip_work: work_of(&a),
        }])
        .unwrap();

    let mut best = Vec::new();
    let side = std::cell::RefCell::new(Vec::new());
    store
        .for_each_stored(
            |header| {
                assert!(
                    side.borrow().is_empty(),
                    "a side header before the best chain ended"
                );
                best.push(*header);
                Ok(())
            },
            |height, header| {
                side.borrow_mut().push((height, *header));
                Ok(())
            },
        )
        .unwrap();
    let side = side.into_inner();
    assert_eq!(best, a);
    assert_eq!(side.len(), 23);
    assert!(side.windows(2).all(|w| w[0].0 <= w[1].0), "not by height");
    let (loaded_best, loaded_side) = store.load().unwrap();
    assert_eq!(loaded_best, best);
    assert_eq!(loaded_side, side);

    // A visitor's error stops the walk and comes back as it is.
    let mut calls = 0;
    let result = store.for_each_stored(
        |_| {
            calls += 1;
            if calls == 52 {
                return Err(StoreError::Callback("enough".into()));
            }
            Ok(())
        },
        |_, _| panic!("no side header after a best-chain error"),
    );
    assert!(matches!(result, Err(StoreError::Callback(m)) if m == "enough"));
    assert_eq!(calls, 52);
}

/// One change that replaces everything above `base`'s top with `branch`.
fn appends_of(base: &[Header], branch: &[Header]) -> Vec<PersistChain> {
    vec![PersistChain {
        fork_height: (base.len() - 1) as u32,
        rejoined: vec![],
        connected: branch.to_vec(),
        side: vec![],
        tip_work: work_of(base) + work_of(branch),
    }]
}
