//! What a run of a scenario leaves to compare, normalised, and the comparison itself.
//!
//! A [`Record`] holds, for each part in a scenario, either a node's notifications (its
//! `Notification::Persist` values and its `Notification::Event` values, in the one order the
//! driver delivered them) or a scripted peer's side: the size and hash of every byte it sent
//! (its script, which must be the same under every driver) and the messages it read from the
//! node. Runs of the same scenario under different drivers (or pairs of drivers) must give
//! equal records.
//!
//! Normalised, because some values legitimately differ between drivers and between runs:
//!
//! - **Peer ids** are chosen by the driver (mio counts from 1, async-std from 0; the core only
//!   requires them unique): each becomes its order of first appearance in the transcript.
//! - **Addresses** carry ephemeral ports that the operating system picks anew for every run:
//!   each becomes `0.0.0.0:N`, N its order of first appearance. The same peer still has to
//!   carry the same address everywhere.
//! - **Round trips** (`PingMeasured::rtt`) are wall-clock measurements: zero.
//! - **`SyncProgress`** events are paced by the wall clock (one every 2 s while syncing, plus
//!   one at the end unless one was just given) and carry a rate: dropped. What they summarise
//!   is in the `TipChanged`, `Synced` and persist entries, which are kept.
//! - **`PresyncProgress::estimated_height`** comes from a header's age at the time of the
//!   report: zero.
//! - **Texts written by the driver** (a failed dial's error, the cause in
//!   `DisconnectReason::Closed`) are the operating system's wording, or none, as each driver
//!   words it: replaced by a fixed text (an empty one stays empty).
//! - In messages from the node, a **version**'s timestamp (the wall clock) and its receiver
//!   address (our ephemeral port): zero and `0.0.0.0:0`.
//!
//! Everything else must be equal: the persist stream value for value (every header, every
//! height, the work), the events and their order, the reasons, the heights, the nonces on the
//! wire (both drivers' nodes get the same seed).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use headway_core::bitcoin::hashes::sha256;
use headway_core::bitcoin::p2p::address::Address;
use headway_core::bitcoin::p2p::message::NetworkMessage;
use headway_core::{DisconnectReason, Event, Notification, PeerId};

use super::script::ScriptedPeer;

/// What replaces a text the driver wrote.
const DRIVER_TEXT: &str = "(driver's text)";

/// Everything one run of a scenario leaves to compare, by part.
#[derive(Default)]
pub struct Record {
    parts: Vec<(String, Part)>,
}

enum Part {
    Node(Vec<Notification>),
    Peer {
        script: (usize, sha256::Hash),
        wire: Vec<NetworkMessage>,
    },
}

impl Record {
    /// Adds a node's transcript, normalised.
    pub fn node(&mut self, role: &str, log: &[Notification]) {
        self.parts
            .push((role.to_string(), Part::Node(normalise(log))));
    }

    /// Adds what a scripted peer sent (its script) and what it read from the node, normalised.
    pub fn peer(&mut self, role: &str, peer: &ScriptedPeer) {
        let wire = peer.log.iter().cloned().map(normalise_wire).collect();
        let script = peer.script();
        self.parts
            .push((role.to_string(), Part::Peer { script, wire }));
    }

    /// Applies `edit` to the normalised transcript of node `role` (a scenario's own
    /// normalisation, explained where it is used).
    pub fn edit_node(&mut self, role: &str, edit: impl FnOnce(&mut Vec<Notification>)) {
        for (name, part) in &mut self.parts {
            if let (true, Part::Node(log)) = (name == role, part) {
                edit(log);
                return;
            }
        }
        panic!("no node {role} in this record");
    }
}

/// Asserts that every run of `scenario` left the same record as the first.
pub fn assert_agree(scenario: &str, runs: &[(&str, Record)]) {
    let Some((first_label, first)) = runs.first() else {
        panic!("{scenario}: no runs")
    };
    for (label, record) in runs.iter().skip(1) {
        let names = |r: &Record| r.parts.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(
            names(first),
            names(record),
            "{scenario}: {first_label} and {label} record different parts"
        );
        for ((role, a), (_, b)) in first.parts.iter().zip(&record.parts) {
            let context = Context {
                scenario,
                role,
                left: first_label,
                right: label,
            };
            match (a, b) {
                (Part::Node(a), Part::Node(b)) => {
                    let persists = |log: &[Notification]| -> Vec<Notification> {
                        log.iter()
                            .filter(|n| matches!(n, Notification::Persist(_)))
                            .cloned()
                            .collect()
                    };
                    let events = |log: &[Notification]| -> Vec<Notification> {
                        log.iter()
                            .filter(|n| matches!(n, Notification::Event(_)))
                            .cloned()
                            .collect()
                    };
                    context.compare("persist stream", &persists(a), &persists(b), summary);
                    context.compare("event sequence", &events(a), &events(b), summary);
                    context.compare("order of persists and events", a, b, summary);
                }
                (
                    Part::Peer {
                        script: script_a,
                        wire: a,
                    },
                    Part::Peer {
                        script: script_b,
                        wire: b,
                    },
                ) => {
                    let show = |s: &(usize, sha256::Hash)| format!("{} bytes, sha256 {}", s.0, s.1);
                    context.compare("script", &[*script_a], &[*script_b], show);
                    context.compare("messages from the node", a, b, wire_summary)
                }
                _ => panic!("{scenario}: part {role} is of different kinds"),
            }
        }
    }
}

struct Context<'a> {
    scenario: &'a str,
    role: &'a str,
    left: &'a str,
    right: &'a str,
}

impl Context<'_> {
    fn compare<T: PartialEq>(&self, what: &str, a: &[T], b: &[T], show: fn(&T) -> String) {
        let differs = a.iter().zip(b).position(|(x, y)| x != y);
        let at = match differs {
            Some(at) => at,
            None if a.len() == b.len() => return,
            None => a.len().min(b.len()),
        };
        let list = |items: &[T]| -> String {
            items
                .iter()
                .enumerate()
                .map(|(i, item)| format!("  [{i}] {}\n", show(item)))
                .collect()
        };
        let entry = |items: &[T]| items.get(at).map_or("(nothing)".to_string(), show);
        panic!(
            "scenario `{}`, {}: the {what} differs at entry {at}\n  {}: {}\n  {}: {}\n\
             {}:\n{}{}:\n{}",
            self.scenario,
            self.role,
            self.left,
            entry(a),
            self.right,
            entry(b),
            self.left,
            list(a),
            self.right,
            list(b)
        );
    }
}

/// Normalises a node's transcript (see the module comment).
pub fn normalise(log: &[Notification]) -> Vec<Notification> {
    let mut labels = Labels::default();
    log.iter()
        .filter_map(|notification| match notification {
            Notification::Persist(p) => Some(Notification::Persist(p.clone())),
            Notification::Event(e) => labels.event(e.clone()).map(Notification::Event),
            // Address book writes depend on timing, not on the driver: left out.
            Notification::PersistAddrs(_) | Notification::ServeHeaders(_) => None,
        })
        .collect()
}

/// Peer ids and addresses by order of first appearance.
#[derive(Default)]
struct Labels {
    peers: HashMap<PeerId, u64>,
    addrs: HashMap<SocketAddr, u16>,
}

impl Labels {
    fn peer(&mut self, peer: PeerId) -> PeerId {
        let next = self.peers.len() as u64;
        PeerId(*self.peers.entry(peer).or_insert(next))
    }

    fn addr(&mut self, addr: SocketAddr) -> SocketAddr {
        let next = u16::try_from(self.addrs.len()).unwrap_or(u16::MAX);
        SocketAddr::from(([0, 0, 0, 0], *self.addrs.entry(addr).or_insert(next)))
    }

    fn event(&mut self, event: Event) -> Option<Event> {
        Some(match event {
            Event::PeerConnected {
                peer,
                addr,
                direction,
            } => Event::PeerConnected {
                peer: self.peer(peer),
                addr: self.addr(addr),
                direction,
            },
            Event::PeerNegotiated {
                peer,
                addr,
                direction,
                version,
                user_agent,
                services,
                start_height,
                transport,
            } => Event::PeerNegotiated {
                peer: self.peer(peer),
                addr: self.addr(addr),
                direction,
                version,
                user_agent,
                services,
                start_height,
                transport,
            },
            Event::PeerDisconnected { peer, addr, reason } => Event::PeerDisconnected {
                peer: self.peer(peer),
                addr: self.addr(addr),
                reason: normalise_reason(reason),
            },
            Event::ConnectFailed {
                addr,
                error,
                retry_in,
            } => Event::ConnectFailed {
                addr: self.addr(addr),
                error: driver_text(error),
                retry_in,
            },
            Event::PingMeasured { peer, addr, .. } => Event::PingMeasured {
                peer: self.peer(peer),
                addr: self.addr(addr),
                rtt: Duration::ZERO,
            },
            Event::SyncProgress { .. } => return None,
            Event::PresyncProgress {
                peer, addr, height, ..
            } => Event::PresyncProgress {
                peer: self.peer(peer),
                addr: self.addr(addr),
                height,
                estimated_height: 0,
            },
            Event::LowWorkChain {
                peer,
                addr,
                height,
                work,
                threshold,
            } => Event::LowWorkChain {
                peer: self.peer(peer),
                addr: self.addr(addr),
                height,
                work,
                threshold,
            },
            Event::PeerMisbehaved { peer, addr, reason } => Event::PeerMisbehaved {
                peer: self.peer(peer),
                addr: self.addr(addr),
                reason: normalise_reason(reason),
            },
            // Tip changes, `Synced` and `ShutdownComplete` hold nothing a driver chooses; an
            // event added later is compared as it is until it is given its own arm here.
            other => other,
        })
    }
}

fn driver_text(text: String) -> String {
    if text.is_empty() {
        text
    } else {
        DRIVER_TEXT.to_string()
    }
}

fn normalise_reason(reason: DisconnectReason) -> DisconnectReason {
    match reason {
        DisconnectReason::Closed(text) => DisconnectReason::Closed(driver_text(text)),
        other => other,
    }
}

/// Normalises a message the node sent (see the module comment).
pub fn normalise_wire(msg: NetworkMessage) -> NetworkMessage {
    match msg {
        NetworkMessage::Version(mut v) => {
            v.timestamp = 0;
            v.receiver = Address::new(&SocketAddr::from(([0, 0, 0, 0], 0)), v.receiver.services);
            NetworkMessage::Version(v)
        }
        other => other,
    }
}

/// One line for a notification: persist commands and tip changes without their header lists.
pub fn summary(notification: &Notification) -> String {
    match notification {
        Notification::Persist(p) => format!(
            "Persist {{ fork_height: {}, rejoined: {}, connected: {} (last {:?}), side: {}, tip_work: {:?} }}",
            p.fork_height,
            p.rejoined.len(),
            p.connected.len(),
            p.connected.last().map(|h| h.block_hash()),
            p.side.len(),
            p.tip_work
        ),
        Notification::Event(Event::TipChanged(c)) => format!(
            "TipChanged {{ fork_height: {}, disconnected: {}, connected: {}, tip: {} at {} }}",
            c.fork_height,
            c.disconnected.len(),
            c.connected.len(),
            c.tip,
            c.tip_height
        ),
        Notification::Event(e) => format!("{e:?}"),
        Notification::PersistAddrs(c) => format!(
            "PersistAddrs {{ key: {}, upsert: {}, remove: {} }}",
            c.key.is_some(),
            c.upsert.len(),
            c.remove.len()
        ),
        Notification::ServeHeaders(ask) => format!("{ask:?}"),
    }
}

/// One line for a message: header lists and locators by their size.
pub fn wire_summary(msg: &NetworkMessage) -> String {
    match msg {
        NetworkMessage::Headers(h) => format!(
            "headers ({}, last {:?})",
            h.len(),
            h.last().map(|h| h.block_hash())
        ),
        NetworkMessage::GetHeaders(g) => format!(
            "getheaders (locator of {}, first {:?})",
            g.locator_hashes.len(),
            g.locator_hashes.first()
        ),
        other => format!("{other:?}"),
    }
}
