//! When to ask DNS seeds for addresses, after Core's `CConnman::ThreadDNSAddressSeed` (net.cpp):
//!
//! - with an empty address book, every seed is queried at once (at most
//!   [`SEEDS_AT_ONCE`] resolutions in flight);
//! - otherwise the node first waits [`DELAY_FEW_PEERS`] (or [`DELAY_MANY_PEERS`] when the book
//!   holds [`MANY_PEERS`] or more), and skips seeding altogether if by then
//!   [`ENOUGH_OUTBOUND`] outbound peers are up; it then queries [`SEEDS_AT_ONCE`] seeds and
//!   waits again before the next ones;
//! - each seed is asked for `x9.<seed>` first (peers with NODE_NETWORK and NODE_WITNESS, the
//!   seeds' service-bit filter) and for the bare name if that gives nothing.
//!
//! The core only decides: an [`crate::Output::Resolve`] asks the driver to resolve a name and
//! an [`crate::Input::Resolved`] brings the answer. Core resolves seeds one after the other on
//! its own thread; here up to three are in flight, which is what "three at a time" means when
//! the resolver is not our thread.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::seeds;
use crate::time::Time;

/// Seeds queried together (Core's `DNSSEEDS_TO_QUERY_AT_ONCE`).
pub const SEEDS_AT_ONCE: usize = 3;
/// The wait before seeding when the book holds a few addresses (Core's
/// `DNSSEEDS_DELAY_FEW_PEERS`).
pub const DELAY_FEW_PEERS: Duration = Duration::from_secs(11);
/// The wait when it holds [`MANY_PEERS`] or more (Core's `DNSSEEDS_DELAY_MANY_PEERS`).
pub const DELAY_MANY_PEERS: Duration = Duration::from_secs(5 * 60);
/// See [`DELAY_MANY_PEERS`] (Core's `DNSSEEDS_DELAY_PEER_THRESHOLD`).
pub const MANY_PEERS: usize = 1000;
/// Outbound peers that make seeding unnecessary (Core's
/// `SEED_OUTBOUND_CONNECTION_THRESHOLD`).
pub const ENOUGH_OUTBOUND: usize = 2;
/// Addresses taken from one answer (Core's `nMaxIPs` in `ThreadDNSAddressSeed`).
pub const MAX_ADDRESSES_PER_SEED: usize = 256;

/// A resolution the node is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Query {
    /// Index of the seed in the list.
    seed: usize,
    /// Whether this is the bare name (the `x9.` name gave nothing).
    bare: bool,
}

/// What the seeding wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeedStep {
    /// Resolve this name.
    Resolve(String),
    /// Seeding ended: every seed answered, or enough peers came without it.
    Finished {
        /// Whether it ended because peers were up before any seed was needed.
        skipped: bool,
    },
}

/// The DNS seeding schedule of one node run.
#[derive(Debug, Clone)]
pub struct Seeding {
    seeds: Vec<String>,
    /// Index of the next seed not yet queried.
    next: usize,
    /// Seeds that may still be started before the next wait (Core's `seeds_right_now`).
    budget: usize,
    /// The end of the current wait, if waiting.
    wait_until: Option<Time>,
    in_flight: BTreeMap<String, Query>,
    started: bool,
    finished: bool,
}

impl Seeding {
    /// A schedule over `seeds` (the network's list, or the user's).
    pub fn new(seeds: Vec<String>) -> Seeding {
        Seeding {
            finished: seeds.is_empty(),
            seeds,
            next: 0,
            budget: 0,
            wait_until: None,
            in_flight: BTreeMap::new(),
            started: false,
        }
    }

    /// Whether seeding is over.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// When the current wait ends, for the node's deadline.
    pub fn next_deadline(&self) -> Option<Time> {
        if self.finished {
            return None;
        }
        self.wait_until
    }

    /// Whether `host` is a name this schedule asked for.
    pub fn is_pending(&self, host: &str) -> bool {
        self.in_flight.contains_key(host)
    }

    /// Runs the schedule at `now`, given the book's size and the outbound peers that are up;
    /// returns what to do.
    pub fn poll(&mut self, now: Time, book_len: usize, outbound: usize) -> Vec<SeedStep> {
        let mut steps = Vec::new();
        if self.finished {
            return steps;
        }
        if !self.started {
            self.started = true;
            if book_len == 0 {
                self.budget = self.seeds.len();
            }
        }
        loop {
            if self.next >= self.seeds.len() {
                if self.in_flight.is_empty() {
                    self.finished = true;
                    steps.push(SeedStep::Finished { skipped: false });
                }
                return steps;
            }
            if self.budget == 0 {
                match self.wait_until {
                    None => {
                        let wait = if book_len >= MANY_PEERS {
                            DELAY_MANY_PEERS
                        } else {
                            DELAY_FEW_PEERS
                        };
                        self.wait_until = Some(now + wait);
                        return steps;
                    }
                    Some(until) if until > now => {
                        // Core wakes every 11 s of a long wait to see whether peers came.
                        if outbound >= ENOUGH_OUTBOUND && self.in_flight.is_empty() {
                            self.finish_skipped(&mut steps);
                        }
                        return steps;
                    }
                    Some(_) => {
                        self.wait_until = None;
                        if outbound >= ENOUGH_OUTBOUND && self.in_flight.is_empty() {
                            self.finish_skipped(&mut steps);
                            return steps;
                        }
                        self.budget = SEEDS_AT_ONCE;
                    }
                }
            }
            if self.in_flight.len() >= SEEDS_AT_ONCE {
                return steps;
            }
            let seed = self.next;
            self.next += 1;
            self.budget -= 1;
            let [filtered, _] = seeds::seed_queries(&self.seeds[seed]);
            self.in_flight
                .insert(filtered.clone(), Query { seed, bare: false });
            steps.push(SeedStep::Resolve(filtered));
        }
    }

    fn finish_skipped(&mut self, steps: &mut Vec<SeedStep>) {
        self.finished = true;
        steps.push(SeedStep::Finished {
            skipped: self.next == 0,
        });
    }

    /// The answer for `host` came with `found` addresses. Returns the bare name to resolve
    /// next if the `x9.` name gave nothing; `None` otherwise (including for names this
    /// schedule never asked for, whose answers the node ignores).
    pub fn resolved(&mut self, host: &str, found: usize) -> Option<String> {
        let query = self.in_flight.remove(host)?;
        if found > 0 || query.bare {
            return None;
        }
        let [_, bare] = seeds::seed_queries(&self.seeds[query.seed]);
        self.in_flight.insert(
            bare.clone(),
            Query {
                seed: query.seed,
                bare: true,
            },
        );
        Some(bare)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(steps: &[SeedStep]) -> Vec<String> {
        steps
            .iter()
            .filter_map(|s| match s {
                SeedStep::Resolve(h) => Some(h.clone()),
                SeedStep::Finished { .. } => None,
            })
            .collect()
    }

    fn five() -> Seeding {
        Seeding::new((1..=5).map(|i| format!("seed{i}.example")).collect())
    }

    const T0: Time = Time::from_secs(1_000_000);

    #[test]
    fn an_empty_book_queries_every_seed_at_once_three_in_flight() {
        let mut s = five();
        let steps = s.poll(T0, 0, 0);
        assert_eq!(
            names(&steps),
            ["x9.seed1.example", "x9.seed2.example", "x9.seed3.example"]
        );
        assert_eq!(s.next_deadline(), None, "no wait with an empty book");
        assert_eq!(s.resolved("x9.seed1.example", 10), None);
        assert_eq!(names(&s.poll(T0, 10, 0)), ["x9.seed4.example"]);
    }

    #[test]
    fn a_filtered_name_that_gives_nothing_falls_back_to_the_bare_name() {
        let mut s = Seeding::new(vec!["seed.example".to_string()]);
        assert_eq!(names(&s.poll(T0, 0, 0)), ["x9.seed.example"]);
        assert_eq!(
            s.resolved("x9.seed.example", 0).as_deref(),
            Some("seed.example")
        );
        assert!(s.is_pending("seed.example"));
        assert_eq!(s.resolved("seed.example", 0), None, "no third try");
        assert_eq!(s.poll(T0, 0, 0), [SeedStep::Finished { skipped: false }]);
        assert!(s.is_finished());
        assert_eq!(s.resolved("unasked.example", 5), None);
    }

    #[test]
    fn a_known_book_waits_11_seconds_then_queries_three() {
        let mut s = five();
        assert!(s.poll(T0, 10, 0).is_empty());
        assert_eq!(s.next_deadline(), Some(T0 + DELAY_FEW_PEERS));
        assert!(s.poll(T0 + Duration::from_secs(10), 10, 1).is_empty());
        let steps = s.poll(T0 + DELAY_FEW_PEERS, 10, 1);
        assert_eq!(names(&steps).len(), SEEDS_AT_ONCE);
        for h in names(&steps) {
            s.resolved(&h, 5);
        }
        // The next three wait again.
        assert!(s.poll(T0 + DELAY_FEW_PEERS, 25, 1).is_empty());
        assert_eq!(
            s.next_deadline(),
            Some(T0 + DELAY_FEW_PEERS + DELAY_FEW_PEERS)
        );
    }

    #[test]
    fn a_big_book_waits_five_minutes() {
        let mut s = five();
        assert!(s.poll(T0, MANY_PEERS, 0).is_empty());
        assert_eq!(s.next_deadline(), Some(T0 + DELAY_MANY_PEERS));
        let mut s = five();
        s.poll(T0, MANY_PEERS - 1, 0);
        assert_eq!(s.next_deadline(), Some(T0 + DELAY_FEW_PEERS));
    }

    #[test]
    fn two_outbound_peers_skip_seeding() {
        let mut s = five();
        s.poll(T0, 10, 0);
        assert_eq!(
            s.poll(T0 + Duration::from_secs(3), 10, ENOUGH_OUTBOUND),
            [SeedStep::Finished { skipped: true }]
        );
        assert!(s.is_finished());
        assert_eq!(s.next_deadline(), None);
        let mut s = five();
        s.poll(T0, 10, 0);
        assert!(names(&s.poll(T0 + DELAY_FEW_PEERS, 10, ENOUGH_OUTBOUND - 1)).len() == 3);
    }

    #[test]
    fn no_seeds_is_finished_from_the_start() {
        let mut s = Seeding::new(Vec::new());
        assert!(s.is_finished());
        assert!(s.poll(T0, 0, 0).is_empty());
    }
}
