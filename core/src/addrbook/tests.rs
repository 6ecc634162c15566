//! The address book's rules, one by one, against Core's addrman behaviour.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use bitcoin::p2p::address::AddrV2;
use bitcoin::p2p::ServiceFlags;

use super::buckets::{BUCKET_SIZE, NEW_BUCKETS, NEW_BUCKETS_PER_SOURCE_GROUP};
use super::*;
use crate::rng::{SecretRng, SecretSeed};
use crate::time::Time;

const NOW: u64 = 1_800_000_000;
const DAY: u64 = 24 * 3600;

fn now() -> Time {
    Time::from_secs(NOW)
}

fn key(b: u8) -> AddrBookKey {
    AddrBookKey::from_bytes([b; 32])
}

fn rng(b: u8) -> SecretRng {
    SecretRng::from_seed(&SecretSeed::from_bytes([b; 32]))
}

fn ip(a: u8, b: u8, c: u8, d: u8) -> AddrV2 {
    AddrV2::Ipv4(Ipv4Addr::new(a, b, c, d))
}

fn cand(addr: AddrV2, time: u64) -> KnownAddr {
    KnownAddr {
        addr,
        port: 8333,
        services: ServiceFlags::NETWORK | ServiceFlags::WITNESS,
        time: time as u32,
    }
}

/// A routable address for `i`, spread over many /16s.
fn spread(i: u32) -> AddrV2 {
    let [a, b, c, d] = (i.wrapping_mul(2_654_435_761)).to_be_bytes();
    // Keep to 1.0.0.0–99.255.255.255 minus the reserved 10/8: all routable.
    let a = 1 + a % 99;
    let a = if a == 10 { 11 } else { a };
    ip(a, b, c, d)
}

fn book_with(addrs: &[AddrV2], source: &AddrV2) -> (AddrBook, SecretRng) {
    let mut book = AddrBook::new(key(1), false);
    let mut r = rng(2);
    let cands: Vec<KnownAddr> = addrs.iter().map(|a| cand(a.clone(), NOW - 3600)).collect();
    book.add(&cands, source, 0, now(), &mut r);
    (book, r)
}

#[test]
fn only_routable_addresses_are_taken_unless_the_network_is_local() {
    let source = ip(8, 8, 8, 8);
    let private = [ip(10, 0, 0, 1), ip(192, 168, 1, 1), ip(127, 0, 0, 2)];
    let (book, _) = book_with(&private, &source);
    assert!(book.is_empty());
    let mut local = AddrBook::new(key(1), true);
    let cands: Vec<KnownAddr> = private.iter().map(|a| cand(a.clone(), NOW)).collect();
    assert_eq!(local.add(&cands, &source, 0, now(), &mut rng(2)), 3);
    // On local networks each address is its own group, so three loopback peers are three
    // groups.
    let groups: BTreeSet<_> = private.iter().map(|a| local.group(a)).collect();
    assert_eq!(groups.len(), 3);
}

#[test]
fn a_handshake_moves_an_address_to_tried_and_forgives_its_attempts() {
    let a = ip(1, 2, 3, 4);
    let (mut book, _) = book_with(std::slice::from_ref(&a), &ip(8, 8, 8, 8));
    assert_eq!((book.new_len(), book.tried_len()), (1, 0));
    book.attempt(&a, 8333, true, now());
    assert_eq!(book.get(&a, 8333).map(|e| e.attempts), Some(1));
    book.good(&a, 8333, now());
    let e = book.get(&a, 8333).cloned();
    assert_eq!((book.new_len(), book.tried_len()), (0, 1));
    assert!(e
        .as_ref()
        .is_some_and(|e| e.in_tried && e.attempts == 0 && e.refs == 0));
    assert_eq!(e.map(|e| e.last_success), Some(NOW));
    // A second handshake changes nothing in the tables.
    book.good(&a, 8333, now());
    assert_eq!((book.len(), book.tried_len()), (1, 1));
}

#[test]
fn failures_count_once_per_success_anywhere_as_core_s_last_good() {
    let (a, b) = (ip(1, 2, 3, 4), ip(5, 6, 7, 8));
    let (mut book, _) = book_with(&[a.clone(), b.clone()], &ip(8, 8, 8, 8));
    book.attempt(&a, 8333, true, now());
    book.attempt(&a, 8333, true, now() + std::time::Duration::from_secs(60));
    assert_eq!(
        book.get(&a, 8333).map(|e| e.attempts),
        Some(1),
        "our own outage"
    );
    book.good(&b, 8333, now() + std::time::Duration::from_secs(120));
    book.attempt(&a, 8333, true, now() + std::time::Duration::from_secs(180));
    assert_eq!(book.get(&a, 8333).map(|e| e.attempts), Some(2));
    // Feelers do not count.
    book.good(&b, 8333, now() + std::time::Duration::from_secs(240));
    book.attempt(&a, 8333, false, now() + std::time::Duration::from_secs(300));
    assert_eq!(book.get(&a, 8333).map(|e| e.attempts), Some(2));
}

#[test]
fn terrible_and_chance_follow_core() {
    let base = Entry {
        addr: ip(1, 2, 3, 4),
        port: 8333,
        services: ServiceFlags::NETWORK,
        time: (NOW - 3600) as u32,
        last_try: 0,
        last_success: 0,
        last_count_attempt: 0,
        attempts: 0,
        source_group: netgroup::group(&ip(8, 8, 8, 8)),
        in_tried: false,
        refs: 1,
    };
    assert!(!base.is_terrible(NOW));
    let stale = Entry {
        time: (NOW - 31 * DAY) as u32,
        ..base.clone()
    };
    assert!(stale.is_terrible(NOW));
    let future = Entry {
        time: (NOW + 11 * 60) as u32,
        ..base.clone()
    };
    assert!(future.is_terrible(NOW));
    let failing = Entry {
        attempts: 3,
        ..base.clone()
    };
    assert!(
        failing.is_terrible(NOW),
        "three failures and never a success"
    );
    let tried_now = Entry {
        last_try: NOW - 30,
        ..stale.clone()
    };
    assert!(
        !tried_now.is_terrible(NOW),
        "never terrible within a minute of a try"
    );
    let old_success = Entry {
        last_success: NOW - 8 * DAY,
        attempts: 10,
        ..base.clone()
    };
    assert!(old_success.is_terrible(NOW));
    let recent_success = Entry {
        last_success: NOW - 6 * DAY,
        ..old_success.clone()
    };
    assert!(!recent_success.is_terrible(NOW));

    assert_eq!(base.chance(NOW), 1.0);
    let just_tried = Entry {
        last_try: NOW - 60,
        ..base.clone()
    };
    assert!((just_tried.chance(NOW) - 0.01).abs() < 1e-12);
    let many = Entry {
        attempts: 20,
        ..base.clone()
    };
    assert!(
        (many.chance(NOW) - 0.66f64.powi(8)).abs() < 1e-12,
        "capped at 8"
    );
}

#[test]
fn one_source_fills_at_most_its_share_of_new_buckets() {
    let source = ip(8, 8, 8, 8);
    let addrs: Vec<AddrV2> = (0..20_000).map(spread).collect();
    let (book, _) = book_with(&addrs, &source);
    let mut buckets = BTreeSet::new();
    for bucket in 0..NEW_BUCKETS {
        for position in 0..BUCKET_SIZE {
            if book.new_table.get(bucket, position).is_some() {
                buckets.insert(bucket);
            }
        }
    }
    assert!(
        buckets.len() as u64 <= NEW_BUCKETS_PER_SOURCE_GROUP,
        "{} buckets",
        buckets.len()
    );
    assert!(
        buckets.len() > 50,
        "the source's share is used: {}",
        buckets.len()
    );
    assert!(book.len() <= 64 * 64, "{} entries", book.len());
    assert!(book.len() > 3000, "{} entries", book.len());
    // A second source in another group gets its own share.
    let mut book = book;
    let mut r = rng(3);
    let more: Vec<KnownAddr> = (20_000..40_000).map(|i| cand(spread(i), NOW)).collect();
    book.add(&more, &ip(9, 9, 9, 9), 0, now(), &mut r);
    assert!(book.len() > 6000, "{} entries", book.len());
}

#[test]
fn select_picks_from_the_tables_and_only_new_for_feelers() {
    let mut book = AddrBook::new(key(1), false);
    let mut r = rng(5);
    assert_eq!(book.select(false, now(), &mut r), None);
    let a = ip(1, 2, 3, 4);
    book.add(&[cand(a.clone(), NOW)], &ip(8, 8, 8, 8), 0, now(), &mut r);
    let picked = book.select(false, now(), &mut r);
    assert_eq!(picked.map(|k| k.addr), Some(a.clone()));
    book.good(&a, 8333, now());
    assert_eq!(
        book.select(true, now(), &mut r),
        None,
        "nothing new to feel"
    );
    assert_eq!(book.select(false, now(), &mut r).map(|k| k.addr), Some(a));
}

#[test]
fn select_is_deterministic_and_spreads_over_the_book() {
    let addrs: Vec<AddrV2> = (0..500).map(spread).collect();
    let picks = |seed: u8| {
        let (book, _) = book_with(&addrs, &ip(8, 8, 8, 8));
        let mut r = rng(seed);
        (0..200)
            .map(|_| book.select(false, now(), &mut r).map(|k| k.addr))
            .collect::<Vec<_>>()
    };
    assert_eq!(picks(7), picks(7));
    assert_ne!(picks(7), picks(8));
    let distinct: BTreeSet<_> = picks(7)
        .into_iter()
        .flatten()
        .map(|a| format!("{a:?}"))
        .collect();
    assert!(distinct.len() > 100, "{} distinct of 200", distinct.len());
}

#[test]
fn getaddr_samples_23_percent_at_most_1000_and_no_terrible_ones() {
    let addrs: Vec<AddrV2> = (0..2000).map(spread).collect();
    let (mut book, mut r) = book_with(&addrs, &ip(8, 8, 8, 8));
    let n = book.len();
    let sample = book.sample(1000, 23, now(), &mut r);
    assert_eq!(sample.len(), n * 23 / 100);
    let distinct: BTreeSet<_> = sample.iter().map(|k| format!("{:?}", k.addr)).collect();
    assert_eq!(distinct.len(), sample.len(), "no address twice");
    assert!(book.sample(10, 23, now(), &mut r).len() == 10);
    // Thirty-one days later every entry is stale: nothing is given away.
    let later = now() + std::time::Duration::from_secs(31 * DAY);
    assert!(book.sample(1000, 23, later, &mut r).is_empty());
}

#[test]
fn stale_new_entries_expire_and_the_store_hears_of_it() {
    let (a, b) = (ip(1, 2, 3, 4), ip(5, 6, 7, 8));
    let (mut book, _) = book_with(&[a.clone(), b.clone()], &ip(8, 8, 8, 8));
    book.good(&b, 8333, now());
    let first = book.take_change();
    assert!(first.key.is_some(), "the first change carries the key");
    assert_eq!(first.upsert.len(), 2);
    assert!(book.take_change().is_empty());
    let later = now() + std::time::Duration::from_secs(31 * DAY);
    assert_eq!(book.expire(later), 1, "the tried entry stays");
    assert!(book.get(&a, 8333).is_none());
    let change = book.take_change();
    assert_eq!(change.remove, vec![address_key(&a, 8333)]);
    assert!(change.key.is_none());
}

#[test]
fn records_round_trip_and_a_restored_book_matches() {
    let addrs: Vec<AddrV2> = (0..300).map(spread).collect();
    let (mut book, _) = book_with(&addrs, &ip(8, 8, 8, 8));
    let tried: Vec<AddrV2> = addrs.iter().take(20).cloned().collect();
    for a in &tried {
        book.good(a, 8333, now());
    }
    book.attempt(&addrs[50], 8333, true, now());
    let change = book.take_change();
    let mut records = change.upsert.clone();
    records.sort();
    for record in &records {
        let entry = Entry::from_record(record);
        assert_eq!(entry.map(|e| e.to_record()), Some(record.clone()));
    }
    let mut garbage = records.clone();
    garbage.push(AddrRecord {
        key: vec![1, 1, 2, 3, 4, 0x20, 0x8d],
        value: vec![99, 1, 2],
    });
    garbage.push(AddrRecord {
        key: vec![3, 0],
        value: records[0].value.clone(),
    });
    let (restored, skipped) = AddrBook::restore(key(1), &garbage, false);
    assert_eq!(skipped, 2);
    let summary = |b: &AddrBook| {
        b.entries()
            .map(|e| (address_key(&e.addr, e.port), e.in_tried, e.attempts, e.time))
            .collect::<Vec<_>>()
    };
    assert_eq!(summary(&restored), summary(&book));
    assert_eq!(restored.tried_len(), book.tried_len());
    // The key came from the store: it is not written again.
    let mut restored = restored;
    assert!(restored.take_change().key.is_none());
}

#[test]
fn a_record_of_an_unknown_version_or_truncated_is_refused() {
    let (mut book, _) = book_with(&[ip(1, 2, 3, 4)], &ip(8, 8, 8, 8));
    let record = book.take_change().upsert.remove(0);
    for cut in 0..record.value.len() {
        let short = AddrRecord {
            key: record.key.clone(),
            value: record.value[..cut].to_vec(),
        };
        assert_eq!(Entry::from_record(&short), None, "cut at {cut}");
    }
    let mut longer = record.clone();
    longer.value.push(0);
    assert_eq!(Entry::from_record(&longer), None);
    let mut other_version = record.clone();
    other_version.value[0] = 2;
    assert_eq!(Entry::from_record(&other_version), None);
    assert!(Entry::from_record(&record).is_some());
}

#[test]
fn the_book_never_exceeds_its_tables() {
    let mut book = AddrBook::new(key(4), false);
    let mut r = rng(4);
    for s in 0..40u32 {
        let source = spread(1_000_000 + s);
        let cands: Vec<KnownAddr> = (0..4000).map(|i| cand(spread(s * 4000 + i), NOW)).collect();
        book.add(&cands, &source, 0, now(), &mut r);
        assert!(book.len() <= CAPACITY);
        assert_eq!(book.new_len() + book.tried_len(), book.len());
    }
    assert!(book.len() > 40_000, "{}", book.len());
}
