//! The header tree on synthetic chains mined on regtest and simnet (easy proof of work): fork
//! choice and reorgs, what accept reports and persists, every refusal through `accept`,
//! locators off the best chain, and the min-difficulty rules through a real tree.

mod chain_support;

use chain_support::{hashes, mine_chain, mine_one, regtest_now, unsolve, StoreModel};
use headway_core::bitcoin::block::Header;
use headway_core::chain::{header_hash, HeaderError, HeaderRange};
use headway_core::params::Network;
use headway_core::{HeaderChain, Time};

fn regtest() -> HeaderChain {
    HeaderChain::new(Network::Regtest.params())
}

fn genesis(chain: &HeaderChain) -> Header {
    chain.params().genesis
}

#[test]
fn more_work_side_chain_reorgs_in_one_tip_change() {
    let mut chain = regtest();
    let g = genesis(&chain);
    let mut store = StoreModel::new(&chain);
    let a = mine_chain(&g, 5, 600, 1);
    let acc = chain.accept(&a, regtest_now());
    store.apply(acc.persist.as_ref().expect("persist"));
    assert_eq!(chain.tip_height(), 5);

    // A branch from height 2 with 4 headers: height 6, more work than 5.
    let b = mine_chain(&a[1], 4, 600, 2);
    let acc = chain.accept(&b, regtest_now());
    assert_eq!(acc.error, None);
    assert_eq!(acc.added, 4);
    let change = acc.tip_change.expect("reorg");
    assert_eq!(change.fork_height, 2);
    assert_eq!(
        change.disconnected,
        vec![header_hash(&a[4]), header_hash(&a[3]), header_hash(&a[2])]
    );
    assert_eq!(change.connected, hashes(&b));
    assert_eq!(change.tip_height, 6);
    assert_eq!(change.tip, header_hash(&b[3]));
    assert_eq!(change.tip_work, chain.tip_work());
    let persist = acc.persist.expect("persist");
    assert_eq!(persist.fork_height, 2);
    assert_eq!(persist.connected, b);
    assert!(persist.side.is_empty());
    store.apply(&persist);

    // The old branch is still known, off the best chain.
    assert!(chain.contains(&header_hash(&a[4])));
    assert!(!chain.is_on_best_chain(&header_hash(&a[4])));
    assert_eq!(chain.height_of(&header_hash(&a[4])), Some(5));
    assert_eq!(chain.hash_at(3), Some(header_hash(&b[0])));
    assert_eq!(chain.hash_at(6), Some(header_hash(&b[3])));
    assert_eq!(chain.hash_at(7), None);

    // Extending the old branch back ahead (two more: height 7) reorgs back.
    let a2 = mine_chain(&a[4], 2, 600, 3);
    let acc = chain.accept(&a2, regtest_now());
    let change = acc.tip_change.expect("reorg back");
    assert_eq!(change.fork_height, 2);
    assert_eq!(
        change.disconnected,
        hashes(&b).into_iter().rev().collect::<Vec<_>>()
    );
    let mut back = hashes(&a[2..]);
    back.extend(hashes(&a2));
    assert_eq!(change.connected, back);
    let persist = acc.persist.expect("persist");
    // The store gets the headers new to it in full, and the old branch it holds by hash.
    assert_eq!(persist.rejoined, hashes(&a[2..]));
    assert_eq!(persist.connected, a2);
    store.apply(&persist);

    // What the store holds rebuilds the same tree.
    let loaded = HeaderChain::from_stored(
        Network::Regtest.params(),
        store.best.clone(),
        store.side.clone(),
    )
    .expect("store model loads");
    assert_eq!(loaded.tip_hash(), chain.tip_hash());
    assert_eq!(loaded.tip_work(), chain.tip_work());
    assert_eq!(loaded.len(), chain.len());
    for h in a.iter().chain(&b).chain(&a2) {
        assert_eq!(
            loaded.work_of(&header_hash(h)),
            chain.work_of(&header_hash(h))
        );
    }
}

#[test]
fn equal_work_side_chain_does_not_reorg() {
    let mut chain = regtest();
    let g = genesis(&chain);
    let a = mine_chain(&g, 5, 600, 1);
    chain.accept(&a, regtest_now());
    let tip = chain.tip_hash();
    // Height 5 again from height 2: the same work.
    let b = mine_chain(&a[1], 3, 600, 2);
    let acc = chain.accept(&b, regtest_now());
    assert_eq!(acc.added, 3);
    assert_eq!(acc.tip_change, None);
    assert_eq!(chain.tip_hash(), tip);
    let persist = acc.persist.expect("side headers are persisted");
    assert_eq!(persist.fork_height, 5);
    assert!(persist.connected.is_empty());
    assert_eq!(persist.side, vec![(3, b[0]), (4, b[1]), (5, b[2])]);
    assert_eq!(chain.work_of(&header_hash(&b[2])), Some(chain.tip_work()));
}

#[test]
fn within_one_batch_a_tie_keeps_the_first_seen_and_the_tip_moves_once() {
    let mut chain = regtest();
    let g = genesis(&chain);
    let a = mine_chain(&g, 3, 600, 1);
    let b = mine_chain(&g, 3, 600, 2);
    let mut batch = a.clone();
    batch.extend(&b);
    let acc = chain.accept(&batch, regtest_now());
    assert_eq!(acc.added, 6);
    let change = acc.tip_change.expect("tip moved");
    assert_eq!(change.fork_height, 0);
    assert_eq!(change.connected, hashes(&a));
    let persist = acc.persist.expect("persist");
    assert_eq!(persist.connected, a);
    assert_eq!(persist.side, vec![(1, b[0]), (2, b[1]), (3, b[2])]);
}

#[test]
fn a_refused_header_keeps_the_valid_prefix() {
    let mut chain = regtest();
    let g = genesis(&chain);
    let mut a = mine_chain(&g, 6, 600, 1);
    a[3] = unsolve(a[3]);
    let acc = chain.accept(&a, regtest_now());
    assert_eq!(acc.added, 3);
    assert_eq!(acc.error, Some((header_hash(&a[3]), HeaderError::HighHash)));
    assert_eq!(acc.tip_change.map(|c| c.connected), Some(hashes(&a[..3])));
    assert_eq!(acc.persist.map(|p| p.connected), Some(a[..3].to_vec()));
    assert_eq!(chain.tip_height(), 3);
    assert!(acc.error.is_some_and(|(_, e)| e.is_offence()));
}

#[test]
fn unknown_parent_stops_the_batch() {
    let mut chain = regtest();
    let g = genesis(&chain);
    let a = mine_chain(&g, 4, 600, 1);
    let acc = chain.accept(&a[2..], regtest_now());
    assert_eq!(acc.added, 0);
    assert_eq!(
        acc.error,
        Some((
            header_hash(&a[2]),
            HeaderError::UnknownParent(header_hash(&a[1]))
        ))
    );
    assert_eq!((acc.tip_change, acc.persist), (None, None));
    // Known headers are skipped, new ones after them accepted.
    chain.accept(&a[..2], regtest_now());
    let acc = chain.accept(&a, regtest_now());
    assert_eq!(acc.added, 2);
    assert_eq!(acc.error, None);
    assert_eq!(chain.tip_hash(), header_hash(&a[3]));
}

#[test]
fn median_time_past_rule() {
    let mut chain = regtest();
    let g = genesis(&chain);
    // 11 headers one second apart after genesis: the median of the last 11 is the 6th newest.
    let a = mine_chain(&g, 11, 1, 1);
    assert_eq!(chain.accept(&a, regtest_now()).error, None);
    let times: Vec<u32> = a.iter().map(|h| h.time).collect();
    let median = times[5];
    let tip = a[10];
    let at_median = mine_one(&tip, median, 0x207fffff, 4, 9);
    let acc = chain.accept(&[at_median], regtest_now());
    assert_eq!(
        acc.error,
        Some((
            header_hash(&at_median),
            HeaderError::TimeTooOld {
                time: median,
                median
            }
        ))
    );
    let after = mine_one(&tip, median + 1, 0x207fffff, 4, 9);
    assert_eq!(chain.accept(&[after], regtest_now()).error, None);
}

#[test]
fn future_time_rule_is_not_an_offence() {
    let mut chain = regtest();
    let g = genesis(&chain);
    let now_secs = u64::from(g.time) + 100_000;
    let now = Time::from_secs(now_secs);
    let ok = mine_one(&g, (now_secs + 7200) as u32, 0x207fffff, 4, 1);
    let too_new = mine_one(&ok, (now_secs + 7201) as u32, 0x207fffff, 4, 1);
    let acc = chain.accept(&[ok, too_new], now);
    assert_eq!(acc.added, 1);
    let (hash, err) = acc.error.expect("refused");
    assert_eq!(hash, header_hash(&too_new));
    assert_eq!(
        err,
        HeaderError::TimeTooNew {
            time: (now_secs + 7201) as u32,
            now: now_secs
        }
    );
    assert!(!err.is_offence());
    // Later the same header is fine.
    let later = chain.accept(&[too_new], Time::from_secs(now_secs + 1));
    assert_eq!(later.error, None);
}

#[test]
fn version_bits_and_target_rules_through_accept() {
    let mut chain = regtest();
    let g = genesis(&chain);
    // Regtest activates BIP34/66/65 at height 1: version 3 is too low there.
    let v3 = mine_one(&g, g.time + 600, 0x207fffff, 3, 1);
    let acc = chain.accept(&[v3], regtest_now());
    assert_eq!(
        acc.error,
        Some((
            header_hash(&v3),
            HeaderError::BadVersion {
                version: 3,
                min: 4,
                height: 1
            }
        ))
    );
    // A harder target than required is still the wrong nBits.
    let hard = mine_one(&g, g.time + 600, 0x2000ffff, 4, 1);
    let acc = chain.accept(&[hard], regtest_now());
    assert_eq!(
        acc.error,
        Some((
            header_hash(&hard),
            HeaderError::BadDiffBits {
                expected: 0x207fffff,
                got: 0x2000ffff
            }
        ))
    );
    // An easier target than the pow limit.
    let easy = mine_one(&g, g.time + 600, 0x2100ffff, 4, 1);
    let acc = chain.accept(&[easy], regtest_now());
    assert_eq!(
        acc.error,
        Some((
            header_hash(&easy),
            HeaderError::TargetAbovePowLimit(0x2100ffff)
        ))
    );
    assert_eq!(chain.tip_height(), 0);
    assert_eq!(chain.len(), 1);
}

#[test]
fn locator_from_a_side_branch_follows_its_own_ancestors() {
    let mut chain = regtest();
    let g = genesis(&chain);
    let a = mine_chain(&g, 30, 600, 1);
    chain.accept(&a, regtest_now());
    // A side branch of 14 from height 10 (to height 24, less work than 30).
    let b = mine_chain(&a[9], 14, 600, 2);
    assert_eq!(chain.accept(&b, regtest_now()).tip_change, None);
    let loc = chain.locator_from(&header_hash(&b[13]));
    // Heights 24..14 single steps, then 13, 11, 7, 0 (Core's shape).
    let expected_heights = [24u32, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 11, 7, 0];
    assert_eq!(loc.len(), expected_heights.len());
    for (hash, h) in loc.iter().zip(expected_heights) {
        let want = if h > 10 {
            header_hash(&b[(h - 11) as usize])
        } else if h > 0 {
            header_hash(&a[(h - 1) as usize])
        } else {
            header_hash(&g)
        };
        assert_eq!(*hash, want, "height {h}");
    }
    // Serving a peer on that side branch: the fork point is where its locator meets our best
    // chain.
    let served = chain.headers_after(&loc, &headway_core::bitcoin::BlockHash::all_zeros(), 5);
    // The first entry on our best chain is height 7 (a[6]): serve from height 8.
    assert_eq!(served, HeaderRange { first: 8, count: 5 });
    assert_eq!(chain.hash_at(8), Some(header_hash(&a[7])));
    // An empty locator asks for the stop header alone, and only from our best chain (Core
    // answers nothing for a header it holds off the active chain).
    let zero: [headway_core::bitcoin::BlockHash; 0] = [];
    assert_eq!(
        chain.headers_after(&zero, &header_hash(&a[20]), 5),
        HeaderRange {
            first: 21,
            count: 1
        }
    );
    assert_eq!(chain.headers_after(&zero, &header_hash(&b[3]), 5).count, 0);
    // The tree always holds genesis.
    assert!(!chain.is_empty());
    assert!(!regtest().is_empty());
}

use headway_core::bitcoin::hashes::Hash;

#[test]
fn simnet_min_difficulty_and_retarget_through_the_tree() {
    let params = Network::Simnet.params();
    let mut chain = HeaderChain::new(params.clone());
    let g = params.genesis;
    let now = Time::from_secs(u64::from(g.time) + 10_000_000);
    // 2015 fast blocks (60 s apart): all at the pow limit, which is also what the walk-back
    // gives.
    let period = mine_chain(&g, 2015, 60, 1);
    let acc = chain.accept(&period, now);
    assert_eq!(acc.error, None);
    assert_eq!(chain.tip_height(), 2015);
    // Height 2016 retargets: 2015 intervals of 60 s is below T/4, so the target shrinks 4x.
    let last = period[2014];
    let wrong = mine_one(&last, last.time + 60, 0x207fffff, 4, 2);
    let acc = chain.accept(&[wrong], now);
    assert_eq!(
        acc.error,
        Some((
            header_hash(&wrong),
            HeaderError::BadDiffBits {
                expected: 0x201fffff,
                got: 0x207fffff
            }
        ))
    );
    let first = mine_one(&last, last.time + 60, 0x201fffff, 4, 2);
    assert_eq!(chain.accept(&[first], now).error, None);
    // Height 2017 within 20 minutes: the walk-back stops at 2016 (a period start).
    let quick = mine_one(&first, first.time + 1200, 0x201fffff, 4, 3);
    assert_eq!(chain.accept(&[quick], now).error, None);
    // Height 2018 more than 20 minutes later: the pow limit is required.
    let slow_wrong = mine_one(&quick, quick.time + 1201, 0x201fffff, 4, 4);
    let acc = chain.accept(&[slow_wrong], now);
    assert_eq!(
        acc.error,
        Some((
            header_hash(&slow_wrong),
            HeaderError::BadDiffBits {
                expected: 0x207fffff,
                got: 0x201fffff
            }
        ))
    );
    let slow = mine_one(&quick, quick.time + 1201, 0x207fffff, 4, 4);
    assert_eq!(chain.accept(&[slow], now).error, None);
    // Height 2019 back within 20 minutes: the walk-back skips the min-difficulty 2018 and
    // finds 2017's real bits.
    let back = mine_one(&slow, slow.time + 600, 0x201fffff, 4, 5);
    assert_eq!(chain.accept(&[back], now).error, None);
    assert_eq!(chain.tip_height(), 2019);
    // Reloading gives the same min-difficulty cache: the next header validates the same way.
    let mut best = vec![g];
    best.extend_from_slice(&period);
    best.extend([first, quick, slow, back]);
    for (h, header) in best.iter().enumerate() {
        assert_eq!(chain.hash_at(h as u32), Some(header_hash(header)));
    }
    let mut loaded = HeaderChain::from_stored(params, best, vec![]).expect("loads");
    let next = mine_one(&back, back.time + 600, 0x201fffff, 4, 6);
    assert_eq!(loaded.accept(&[next], now).error, None);
}
