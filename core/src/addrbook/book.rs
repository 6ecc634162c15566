//! The address book proper, after Core's `AddrManImpl` (addrman.cpp): entries, the new and
//! tried tables, adding gossip (`AddSingle`), promoting after a handshake (`Good_`/`MakeTried`),
//! counting attempts (`Attempt_`), picking an address to dial (`Select_`), answering getaddr
//! (`GetAddr_`), expiring terrible entries, and the changes the store must write.
//!
//! Bounded by construction: an entry exists only while a table slot refers to it, and the
//! tables have fixed sizes (65,536 new slots, 16,384 tried), so the book never holds more than
//! 81,920 addresses however much is gossiped. Where Core differs, it says so below.

use std::collections::{BTreeMap, BTreeSet};

use bitcoin::p2p::address::AddrV2;
use bitcoin::p2p::ServiceFlags;

use super::buckets::{Hasher, BUCKET_SIZE, NEW_BUCKETS, NEW_BUCKETS_PER_ADDRESS, TRIED_BUCKETS};
use super::entry::{address_key, Entry};
use super::netgroup::{self, NetGroup};
use super::record::AddrBookKey;
use super::table::Table;
use crate::rng::SecretRng;
use crate::time::Time;

mod stored;

/// Most addresses the book can hold: every slot of both tables.
pub const CAPACITY: usize = (NEW_BUCKETS + TRIED_BUCKETS) * BUCKET_SIZE;
/// Gossiped times are moved back by this much before they are stored, so that addresses
/// relayed around the network do not look fresher than they are (Core passes 2 h to
/// `AddrMan::Add` from `ProcessAddrs`).
pub const GOSSIP_TIME_PENALTY_SECS: u64 = 2 * 3600;
/// A known address's time is refreshed at most this often while it is online (seen in the
/// last 24 h), else once a day (Core's `AddSingle`).
const ONLINE_UPDATE_SECS: u64 = 3600;
const OFFLINE_UPDATE_SECS: u64 = 24 * 3600;
/// A connected peer's time is refreshed if it is older than this (Core's `Connected_`).
const CONNECTED_UPDATE_SECS: u64 = 20 * 60;
/// `select` gives up after this many rejected picks: Core loops forever, raising the chance
/// each round by 1.2, so this is reached only by a bug, never by an attacker.
const MAX_SELECT_ROUNDS: u32 = 10_000;

/// One address as gossip and seeds give it to the book, and as the book hands it out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownAddr {
    /// The address.
    pub addr: AddrV2,
    /// Its port.
    pub port: u16,
    /// The services it was announced with.
    pub services: ServiceFlags,
    /// When it was last seen, Unix seconds, as claimed.
    pub time: u32,
}

/// The address book. Deterministic: the same key, the same inputs and the same generator
/// give the same tables and the same picks.
#[derive(Debug, Clone)]
pub struct AddrBook {
    key: AddrBookKey,
    hasher: Hasher,
    /// Accept non-routable addresses (loopback, private ranges): regtest and simnet, whose
    /// peers are local by nature. Each such address is then its own group.
    accept_local: bool,
    entries: BTreeMap<u32, Entry>,
    by_key: BTreeMap<Vec<u8>, u32>,
    /// Every id, for getaddr's sampling (Core's `vRandom`).
    ids: Vec<u32>,
    ids_at: BTreeMap<u32, usize>,
    pub(super) new_table: Table,
    tried_table: Table,
    next_id: u32,
    /// Keys whose records changed since the last [`AddrBook::take_change`].
    dirty: BTreeSet<Vec<u8>>,
    /// When a handshake last succeeded with any book address, Unix seconds (Core's
    /// `m_last_good`, which starts at 1): failures count once per such period, so an outage
    /// of our own link does not mark every address it touched as failing again and again.
    last_good: u64,
    /// Keys deleted since the last [`AddrBook::take_change`].
    removed: BTreeSet<Vec<u8>>,
    key_unsaved: bool,
}

impl AddrBook {
    /// An empty book keyed by `key` (drawn from the cryptographic generator). Its first
    /// [`AddrBook::take_change`] carries the key for the store.
    pub fn new(key: AddrBookKey, accept_local: bool) -> AddrBook {
        AddrBook {
            hasher: Hasher::new(&key),
            key,
            accept_local,
            entries: BTreeMap::new(),
            by_key: BTreeMap::new(),
            ids: Vec::new(),
            ids_at: BTreeMap::new(),
            new_table: Table::new(NEW_BUCKETS),
            tried_table: Table::new(TRIED_BUCKETS),
            next_id: 0,
            dirty: BTreeSet::new(),
            last_good: 1,
            removed: BTreeSet::new(),
            key_unsaved: true,
        }
    }

    /// Addresses held.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the book is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Addresses in the new table (heard of, never connected).
    pub fn new_len(&self) -> usize {
        // Every entry is referenced by a table: in tried, or by new slots.
        self.entries.len() - self.tried_table.len()
    }

    /// Addresses in the tried table (we completed a handshake with them).
    pub fn tried_len(&self) -> usize {
        self.tried_table.len()
    }

    /// Every entry, in key order (for inspection and tests).
    pub fn entries(&self) -> impl Iterator<Item = &Entry> + '_ {
        self.by_key.values().filter_map(|id| self.entries.get(id))
    }

    /// The entry for `addr`:`port`, if known.
    pub fn get(&self, addr: &AddrV2, port: u16) -> Option<&Entry> {
        let id = self.by_key.get(&address_key(addr, port))?;
        self.entries.get(id)
    }

    /// Whether the book takes `addr` at all: valid, and routable unless local addresses are
    /// accepted (Core's `AddSingle`: `if (!addr.IsRoutable()) return false`).
    pub fn acceptable(&self, addr: &AddrV2) -> bool {
        netgroup::is_valid(addr) && (self.accept_local || netgroup::is_routable(addr))
    }

    /// The group `addr` counts in: its network group, or on local networks, where everything
    /// shares the one "unroutable" group, the address itself, so that peers on 127.0.0.2 and
    /// 127.0.0.3 count as two groups.
    pub fn group(&self, addr: &AddrV2) -> NetGroup {
        if self.accept_local && !netgroup::is_routable(addr) {
            return NetGroup::of_address(addr);
        }
        netgroup::group(addr)
    }

    /// Adds gossiped addresses told by the peer at `source` (Core's `Add_`); returns how many
    /// took a new slot. Claimed times are moved back by `penalty_secs`, except for the
    /// source's own address.
    pub fn add(
        &mut self,
        candidates: &[KnownAddr],
        source: &AddrV2,
        penalty_secs: u64,
        now: Time,
        rng: &mut SecretRng,
    ) -> usize {
        let source_group = self.group(source);
        candidates
            .iter()
            .filter(|c| {
                let penalty = if netgroup::canonical(c.addr.clone()) == *source {
                    0
                } else {
                    penalty_secs
                };
                self.add_one(c, &source_group, penalty, now, rng)
            })
            .count()
    }

    /// Adds addresses from a source that is not a peer (a DNS seed, the fixed seeds), named by
    /// its group ([`NetGroup::internal_source`]), with no time penalty.
    pub fn add_from(
        &mut self,
        candidates: &[KnownAddr],
        source_group: &NetGroup,
        now: Time,
        rng: &mut SecretRng,
    ) -> usize {
        candidates
            .iter()
            .filter(|c| self.add_one(c, source_group, 0, now, rng))
            .count()
    }

    /// Core's `AddSingle`.
    fn add_one(
        &mut self,
        c: &KnownAddr,
        source_group: &NetGroup,
        penalty: u64,
        now: Time,
        rng: &mut SecretRng,
    ) -> bool {
        let addr = netgroup::canonical(c.addr.clone());
        if !self.acceptable(&addr) {
            return false;
        }
        let now_secs = now.as_secs();
        let key = address_key(&addr, c.port);
        let id = match self.by_key.get(&key) {
            Some(&id) => {
                let Some(entry) = self.entries.get_mut(&id) else {
                    return false;
                };
                let online = now_secs.saturating_sub(u64::from(c.time)) < 24 * 3600;
                let interval = if online {
                    ONLINE_UPDATE_SECS
                } else {
                    OFFLINE_UPDATE_SECS
                };
                let mut changed = false;
                if u64::from(entry.time) + interval + penalty < u64::from(c.time) {
                    entry.time = u64::from(c.time).saturating_sub(penalty) as u32;
                    changed = true;
                }
                let services = entry.services | c.services;
                if services != entry.services {
                    entry.services = services;
                    changed = true;
                }
                if changed {
                    self.dirty.insert(key.clone());
                }
                if c.time <= entry.time || entry.in_tried || entry.refs >= NEW_BUCKETS_PER_ADDRESS {
                    return false;
                }
                // Each further reference is twice as hard to get (Core's stochastic test).
                if entry.refs > 0 && rng.below(1 << entry.refs) != 0 {
                    return false;
                }
                id
            }
            None => {
                let entry = Entry {
                    addr: addr.clone(),
                    port: c.port,
                    services: c.services,
                    time: u64::from(c.time).saturating_sub(penalty) as u32,
                    last_try: 0,
                    last_success: 0,
                    last_count_attempt: 0,
                    attempts: 0,
                    source_group: source_group.clone(),
                    in_tried: false,
                    refs: 0,
                };
                self.insert_entry(key.clone(), entry)
            }
        };
        let group = self.group(&addr);
        let bucket = self.hasher.new_bucket(&group, source_group);
        let position = self.hasher.position(true, bucket, &key);
        let mut insert = true;
        if let Some(existing) = self.new_table.get(bucket, position) {
            if existing == id {
                return false;
            }
            let (terrible, refs) = self
                .entries
                .get(&existing)
                .map_or((true, 0), |e| (e.is_terrible(now_secs), e.refs));
            let our_refs = self.entries.get(&id).map_or(0, |e| e.refs);
            insert = terrible || (refs > 1 && our_refs == 0);
            if insert {
                self.clear_new_slot(bucket, position);
            }
        }
        if insert {
            self.new_table.set(bucket, position, id);
            if let Some(entry) = self.entries.get_mut(&id) {
                entry.refs += 1;
                entry.source_group = source_group.clone();
            }
            self.dirty.insert(key);
            true
        } else {
            if self.entries.get(&id).is_some_and(|e| e.refs == 0) {
                self.delete(id);
            }
            false
        }
    }

    /// A dial to `addr`:`port` is being tried (Core's `Attempt_`): counted as a failure unless
    /// one was already counted since the last success.
    pub fn attempt(&mut self, addr: &AddrV2, port: u16, count_failure: bool, now: Time) {
        let key = address_key(addr, port);
        let last_good = self.last_good;
        let Some(entry) = self.entry_mut(&key) else {
            return;
        };
        let now_secs = now.as_secs();
        entry.last_try = now_secs;
        if count_failure && entry.last_count_attempt < last_good {
            entry.last_count_attempt = now_secs;
            entry.attempts = entry.attempts.saturating_add(1);
        }
        self.dirty.insert(key);
    }

    /// A handshake with `addr`:`port` completed on an outbound connection (Core's `Good_`):
    /// the attempts are forgiven and the address moves to the tried table. Unknown addresses
    /// (a `--connect` peer, say) are not added: the book keeps what gossip told it.
    ///
    /// Core parks a tried-table collision until a feeler has tested the occupant
    /// (`test_before_evict`); here the occupant goes back to the new table at once, as Core
    /// did before 0.20 (`MakeTried`). A collision needs the same 8-bucket group and slot, so
    /// an attacker cannot aim at one without knowing the key.
    pub fn good(&mut self, addr: &AddrV2, port: u16, now: Time) {
        let key = address_key(addr, port);
        let Some(&id) = self.by_key.get(&key) else {
            return;
        };
        let now_secs = now.as_secs();
        self.last_good = now_secs;
        let Some(entry) = self.entries.get_mut(&id) else {
            return;
        };
        entry.last_success = now_secs;
        entry.last_try = now_secs;
        entry.attempts = 0;
        self.dirty.insert(key.clone());
        if entry.in_tried {
            return;
        }
        self.make_tried(id, &key);
    }

    /// Core's `MakeTried`.
    fn make_tried(&mut self, id: u32, key: &[u8]) {
        // Out of every new bucket that refers to it.
        for bucket in 0..NEW_BUCKETS {
            let position = self.hasher.position(true, bucket, key);
            if self.new_table.get(bucket, position) == Some(id) {
                self.new_table.clear(bucket, position);
            }
        }
        let Some(group) = self.entries.get(&id).map(|e| self.group(&e.addr)) else {
            return;
        };
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.refs = 0;
        }
        let bucket = self.hasher.tried_bucket(key, &group);
        let position = self.hasher.position(false, bucket, key);
        if let Some(evicted) = self.tried_table.clear(bucket, position) {
            self.back_to_new(evicted);
        }
        self.tried_table.set(bucket, position, id);
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.in_tried = true;
        }
    }

    /// An entry pushed out of the tried table goes to its new bucket (Core's `MakeTried`),
    /// replacing whatever was there.
    fn back_to_new(&mut self, id: u32) {
        let Some(entry) = self.entries.get(&id) else {
            return;
        };
        let key = address_key(&entry.addr, entry.port);
        let group = self.group(&entry.addr);
        let bucket = self.hasher.new_bucket(&group, &entry.source_group);
        let position = self.hasher.position(true, bucket, &key);
        self.clear_new_slot(bucket, position);
        self.new_table.set(bucket, position, id);
        if let Some(entry) = self.entries.get_mut(&id) {
            entry.in_tried = false;
            entry.refs = 1;
        }
        self.dirty.insert(key);
    }

    /// A peer at `addr`:`port` was connected until now: its time is refreshed, at most every
    /// 20 minutes so that a long connection does not leak its timing (Core's `Connected_`).
    pub fn connected(&mut self, addr: &AddrV2, port: u16, now: Time) {
        let key = address_key(addr, port);
        let Some(entry) = self.entry_mut(&key) else {
            return;
        };
        let now_secs = now.as_secs();
        if now_secs.saturating_sub(u64::from(entry.time)) > CONNECTED_UPDATE_SECS {
            entry.time = u32::try_from(now_secs).unwrap_or(u32::MAX);
            self.dirty.insert(key);
        }
    }

    /// The services a connected peer really has, from its version message (Core's
    /// `SetServices_`).
    pub fn set_services(&mut self, addr: &AddrV2, port: u16, services: ServiceFlags) {
        let key = address_key(addr, port);
        let Some(entry) = self.entry_mut(&key) else {
            return;
        };
        if entry.services != services {
            entry.services = services;
            self.dirty.insert(key);
        }
    }

    /// An address to dial (Core's `Select_`): from the new or the tried table with equal
    /// odds (only new if `new_only`, for feelers), a random non-empty bucket, a random slot
    /// walked forward to the first entry, accepted with its [`Entry::chance`] times a factor
    /// that grows by 1.2 with every rejection. `None` if the table is empty.
    pub fn select(&self, new_only: bool, now: Time, rng: &mut SecretRng) -> Option<KnownAddr> {
        let tried = self.tried_table.len();
        let fresh = self.new_table.len();
        let use_tried = if new_only || tried == 0 {
            false
        } else if fresh == 0 {
            true
        } else {
            rng.below(2) == 0
        };
        let table = if use_tried {
            &self.tried_table
        } else {
            &self.new_table
        };
        if table.nonempty_buckets() == 0 {
            return None;
        }
        let now_secs = now.as_secs();
        let mut factor = 1.0f64;
        for _ in 0..MAX_SELECT_ROUNDS {
            let bucket = table.nonempty_bucket(rng.below(table.nonempty_buckets()));
            let start = rng.below(BUCKET_SIZE);
            let id = table.first_from(bucket, start)?;
            let entry = self.entries.get(&id)?;
            let draw = (rng.next_u64() >> 34) as f64;
            if draw < factor * entry.chance(now_secs) * f64::from(1u32 << 30) {
                return Some(known(entry));
            }
            factor *= 1.2;
        }
        None
    }

    /// Addresses for a getaddr answer (Core's `GetAddr_`): a random `max_pct` percent of the
    /// book, at most `max`, skipping terrible ones.
    pub fn sample(
        &mut self,
        max: usize,
        max_pct: usize,
        now: Time,
        rng: &mut SecretRng,
    ) -> Vec<KnownAddr> {
        let wanted = (self.ids.len() * max_pct / 100).min(max);
        let now_secs = now.as_secs();
        let mut out = Vec::with_capacity(wanted);
        for n in 0..self.ids.len() {
            if out.len() >= wanted {
                break;
            }
            let pick = n + rng.below(self.ids.len() - n);
            self.swap_ids(n, pick);
            if let Some(entry) = self.entries.get(&self.ids[n]) {
                if !entry.is_terrible(now_secs) {
                    out.push(known(entry));
                }
            }
        }
        out
    }

    /// Deletes the new-table entries that have become terrible (stale, or failed too often),
    /// returning how many went. Core only overwrites them when their slot is wanted; deleting
    /// them keeps getaddr answers and the store clean. Tried entries stay: they proved
    /// themselves, and they are what a restart reconnects to.
    pub fn expire(&mut self, now: Time) -> usize {
        let now_secs = now.as_secs();
        let stale: BTreeSet<u32> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.in_tried && e.is_terrible(now_secs))
            .map(|(id, _)| *id)
            .collect();
        if stale.is_empty() {
            return 0;
        }
        // One sweep of the new table's slots, not 1024 bucket hashes per stale entry: a whole
        // book can go stale at once (a node started after a month off).
        for bucket in 0..NEW_BUCKETS {
            for position in 0..BUCKET_SIZE {
                if self
                    .new_table
                    .get(bucket, position)
                    .is_some_and(|id| stale.contains(&id))
                {
                    self.new_table.clear(bucket, position);
                }
            }
        }
        for &id in &stale {
            self.delete(id);
        }
        stale.len()
    }

    fn insert_entry(&mut self, key: Vec<u8>, entry: Entry) -> u32 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        self.removed.remove(&key);
        self.by_key.insert(key, id);
        self.entries.insert(id, entry);
        self.ids_at.insert(id, self.ids.len());
        self.ids.push(id);
        id
    }

    /// Forgets `id` entirely (no table may still refer to it).
    fn delete(&mut self, id: u32) {
        let Some(entry) = self.entries.remove(&id) else {
            return;
        };
        let key = address_key(&entry.addr, entry.port);
        self.by_key.remove(&key);
        self.dirty.remove(&key);
        self.removed.insert(key);
        if let Some(at) = self.ids_at.remove(&id) {
            self.ids.swap_remove(at);
            if let Some(&moved) = self.ids.get(at) {
                self.ids_at.insert(moved, at);
            }
        }
    }

    /// Core's `ClearNew`: drops one reference from the slot's occupant, deleting it at zero.
    fn clear_new_slot(&mut self, bucket: usize, position: usize) {
        let Some(id) = self.new_table.clear(bucket, position) else {
            return;
        };
        let gone = match self.entries.get_mut(&id) {
            Some(entry) => {
                entry.refs = entry.refs.saturating_sub(1);
                entry.refs == 0 && !entry.in_tried
            }
            None => false,
        };
        if gone {
            self.delete(id);
        }
    }

    /// The entry stored under `key`, for changing it.
    fn entry_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let id = self.by_key.get(key)?;
        self.entries.get_mut(id)
    }

    fn swap_ids(&mut self, a: usize, b: usize) {
        if a == b {
            return;
        }
        self.ids.swap(a, b);
        self.ids_at.insert(self.ids[a], a);
        self.ids_at.insert(self.ids[b], b);
    }
}

fn known(entry: &Entry) -> KnownAddr {
    KnownAddr {
        addr: entry.addr.clone(),
        port: entry.port,
        services: entry.services,
        time: entry.time,
    }
}
