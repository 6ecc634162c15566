//! Properties of the address book over arbitrary sequences of gossip, handshakes, failures,
//! expiry and picks (quickcheck): it never exceeds its tables, a source never holds more than
//! its share, and the same inputs always give the same book and the same picks.

use std::net::Ipv4Addr;
use std::time::Duration;

use headway_core::addrbook::{
    AddrBook, AddrBookKey, KnownAddr, BUCKET_SIZE, CAPACITY, NEW_BUCKETS_PER_SOURCE_GROUP,
};
use headway_core::bitcoin::p2p::address::AddrV2;
use headway_core::bitcoin::p2p::ServiceFlags;
use headway_core::rng::SecretRng;
use headway_core::{SecretSeed, Time};
use quickcheck::{Arbitrary, Gen};

const START: u64 = 1_800_000_000;

/// A routable IPv4 address from any number (10/8, 127/8 and the like are moved away).
fn routable(n: u32) -> AddrV2 {
    let [a, b, c, d] = n.to_be_bytes();
    let a = 1 + a % 99;
    let a = if a == 10 { 11 } else { a };
    AddrV2::Ipv4(Ipv4Addr::new(a, b, c, d))
}

#[derive(Debug, Clone)]
enum Op {
    /// Gossip of `count` addresses derived from `seed`, from the source `source`.
    Gossip { seed: u32, count: u16, source: u32 },
    /// A handshake with the `i`th known address.
    Good(u16),
    /// A failed dial of the `i`th known address.
    Fail(u16),
    /// Time passes.
    Wait { hours: u16 },
    /// Expire what is stale.
    Expire,
    /// Pick an address (new only, if `feeler`).
    Select { feeler: bool },
    /// Answer a getaddr.
    Sample,
}

impl Arbitrary for Op {
    fn arbitrary(g: &mut Gen) -> Op {
        match u8::arbitrary(g) % 7 {
            0 | 1 => Op::Gossip {
                seed: u32::arbitrary(g),
                count: u16::arbitrary(g) % 1000,
                source: u32::arbitrary(g) % 50,
            },
            2 => Op::Good(u16::arbitrary(g)),
            3 => Op::Fail(u16::arbitrary(g)),
            4 => Op::Wait {
                hours: u16::arbitrary(g) % 400,
            },
            5 => Op::Expire,
            _ => {
                if bool::arbitrary(g) {
                    Op::Select {
                        feeler: bool::arbitrary(g),
                    }
                } else {
                    Op::Sample
                }
            }
        }
    }
}

/// Runs `ops` on a fresh book; returns it with everything it picked, checking the bounds after
/// every step.
fn run(ops: &[Op]) -> (AddrBook, Vec<String>) {
    let mut book = AddrBook::new(AddrBookKey::from_bytes([1; 32]), false);
    let mut rng = SecretRng::from_seed(&SecretSeed::from_bytes([2; 32]));
    let mut now = Time::from_secs(START);
    let mut picks = Vec::new();
    for op in ops {
        match op {
            Op::Gossip {
                seed,
                count,
                source,
            } => {
                let candidates: Vec<KnownAddr> = (0..u32::from(*count))
                    .map(|i| KnownAddr {
                        addr: routable(seed.wrapping_add(i.wrapping_mul(0x9e37_79b9))),
                        port: 8333,
                        services: ServiceFlags::NETWORK,
                        time: (now.as_secs() - 3600) as u32,
                    })
                    .collect();
                book.add(
                    &candidates,
                    &routable(source.wrapping_mul(65_537)),
                    7200,
                    now,
                    &mut rng,
                );
            }
            Op::Good(i) | Op::Fail(i) => {
                let known: Vec<(AddrV2, u16)> =
                    book.entries().map(|e| (e.addr.clone(), e.port)).collect();
                if let Some((addr, port)) = known.get(usize::from(*i) % known.len().max(1)) {
                    if matches!(op, Op::Good(_)) {
                        book.good(addr, *port, now);
                    } else {
                        book.attempt(addr, *port, true, now);
                    }
                }
            }
            Op::Wait { hours } => now = now + Duration::from_secs(u64::from(*hours) * 3600),
            Op::Expire => {
                book.expire(now);
            }
            Op::Select { feeler } => {
                picks.push(format!("{:?}", book.select(*feeler, now, &mut rng)))
            }
            Op::Sample => {
                let sample = book.sample(1000, 23, now, &mut rng);
                assert!(sample.len() <= 1000 && sample.len() <= book.len() * 23 / 100);
                picks.push(format!("{} sampled", sample.len()));
            }
        }
        assert!(book.len() <= CAPACITY);
        assert_eq!(book.new_len() + book.tried_len(), book.len());
        assert!(book.entries().all(|e| book.acceptable(&e.addr)));
    }
    (book, picks)
}

fn summary(book: &AddrBook) -> Vec<String> {
    book.entries()
        .map(|e| {
            format!(
                "{:?}:{} {} {} {}",
                e.addr, e.port, e.in_tried, e.attempts, e.time
            )
        })
        .collect()
}

/// Cases per property: each case is up to a hundred operations on books of thousands of
/// addresses, so a few dozen cases keep the suite quick while still covering many shapes.
const CASES: u64 = 40;

fn check<A: quickcheck::Testable>(property: A) {
    quickcheck::QuickCheck::new()
        .tests(CASES)
        .quickcheck(property);
}

#[test]
fn the_book_stays_within_its_tables() {
    fn property(ops: Vec<Op>) -> bool {
        run(&ops);
        true
    }
    check(property as fn(Vec<Op>) -> bool);
}

#[test]
fn the_same_inputs_give_the_same_book_and_picks() {
    fn property(ops: Vec<Op>) -> bool {
        let (a, picks_a) = run(&ops);
        let (b, picks_b) = run(&ops);
        picks_a == picks_b && summary(&a) == summary(&b)
    }
    check(property as fn(Vec<Op>) -> bool);
}

#[test]
fn one_source_holds_at_most_its_share() {
    fn property(seed: u32, source: u32) -> bool {
        let mut book = AddrBook::new(AddrBookKey::from_bytes([3; 32]), false);
        let mut rng = SecretRng::from_seed(&SecretSeed::from_bytes([4; 32]));
        let now = Time::from_secs(START);
        let candidates: Vec<KnownAddr> = (0..6000u32)
            .map(|i| KnownAddr {
                addr: routable(seed.wrapping_add(i.wrapping_mul(2_654_435_761))),
                port: 8333,
                services: ServiceFlags::NETWORK,
                time: (START - 60) as u32,
            })
            .collect();
        book.add(&candidates, &routable(source), 0, now, &mut rng);
        book.len() as u64 <= NEW_BUCKETS_PER_SOURCE_GROUP * BUCKET_SIZE as u64
    }
    check(property as fn(u32, u32) -> bool);
}
