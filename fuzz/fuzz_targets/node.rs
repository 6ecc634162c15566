//! Fuzz target `node`: a whole `Node` on regtest driven by a sequence of inputs decoded from fuzz
//! bytes, the way rust-lightning fuzzes its peer manager.
//!
//! Steps: a peer connects (inbound, or outbound to an address the node asked to dial); raw
//! bytes arrive; valid frames arrive (version, verack, ping, pong echoing the node's nonce,
//! getheaders from the node's own locator or junk, headers mined on the node's chain with
//! optional faults, sendheaders, wtxidrelay, an unknown command), whole or split; time jumps
//! (arbitrary, or exactly to `next_deadline`); a peer disconnects; a dial fails; the user adds a
//! peer, drops one or shuts down. Disconnects the node asks for are answered the next step, as a
//! driver would.
//!
//! Checks after every step: no panic; `poll` drains in bounded time; every `Send` is whole,
//! well-formed frames; two nodes fed the same inputs give the same outputs (determinism);
//! `next_deadline` is after `now` (all due timers ran); the best chain links back to genesis
//! through `header` parents, with `hash_at` agreeing at every height.

#![no_main]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::{CommandString, NetworkMessage};
use bitcoin::p2p::message_blockdata::GetHeadersMessage;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Address, ServiceFlags};
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};
use headway_core::chain::HeaderChain;
use headway_core::input::{Input, Request};
use headway_core::node::{Config, Node};
use headway_core::output::Output;
use headway_core::params::Network;
use headway_core::peer::{Direction, PeerId};
use headway_core::time::Time;
use headway_core::wire::{encode, FrameDecoder, FRAME_HEADER_LEN, MAX_MESSAGE_LENGTH};
use headway_fuzz::regtest::mine;
use headway_fuzz::FuzzInput;
use libfuzzer_sys::fuzz_target;

/// Steps per input: enough for a handshake, a sync and a few timeouts.
const MAX_STEPS: usize = 96;
/// Outputs one step may produce before we call the queue runaway.
const MAX_OUTPUTS_PER_STEP: usize = 100_000;
/// Distinct peer ids the fuzzer plays with.
const PEERS: u8 = 4;

/// What the harness learned from the node's own messages, to answer them in kind.
#[derive(Default)]
struct Observed {
    /// The nonce of the last version the node sent.
    version_nonce: Option<u64>,
    /// The last ping nonce the node sent to each peer.
    ping_nonce: BTreeMap<PeerId, u64>,
    /// Addresses the node asked to dial.
    dials: Vec<SocketAddr>,
    /// Peers the node asked to drop; the "driver" reports them closed on the next step.
    closing: Vec<PeerId>,
}

fn peer_addr(peer: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 18444 + u16::from(peer)))
}

fn address(input: &mut FuzzInput) -> Address {
    Address::new(
        &peer_addr(input.u8() % PEERS),
        ServiceFlags::from(input.u64()),
    )
}

fn version(input: &mut FuzzInput, observed: &Observed) -> NetworkMessage {
    let selector = input.u8();
    let version = match selector % 5 {
        0 | 1 => 70016,
        2 => 70015,
        3 => 31800,
        _ => input.u32(),
    };
    let services = match (selector >> 3) % 3 {
        0 => ServiceFlags::NETWORK | ServiceFlags::WITNESS,
        1 => ServiceFlags::NONE,
        _ => ServiceFlags::from(input.u64()),
    };
    let nonce = match (observed.version_nonce, selector >> 6) {
        (Some(ours), 3) => ours,
        _ => input.u64(),
    };
    let agent_len = usize::from(input.u8() % 32);
    NetworkMessage::Version(VersionMessage {
        version,
        services,
        timestamp: i64::from(input.u32()),
        receiver: address(input),
        sender: address(input),
        nonce,
        user_agent: String::from_utf8_lossy(input.bytes(agent_len)).into_owned(),
        start_height: i32::from(input.u16()),
        relay: input.u8() & 1 == 1,
    })
}

/// Headers on top of a header of the node's chain: valid by construction unless a fault is
/// chosen, so that sync, reorgs and the misbehaviour paths are all reachable.
fn headers(input: &mut FuzzInput, chain: &HeaderChain) -> NetworkMessage {
    let tip = chain.tip_height();
    let base_height = match input.u8() % 4 {
        0 => 0,
        1 => tip.saturating_sub(u32::from(input.u8() % 8)),
        _ => tip,
    };
    let Some(mut parent) = chain.header_at(base_height) else {
        return NetworkMessage::Headers(Vec::new());
    };
    let count = match input.u8() % 16 {
        0 => 0,
        1 => 2001,
        n => usize::from(n) * 3,
    };
    let fault_at = usize::from(input.u8());
    let fault = input.u8() % 6;
    let salt = input.u8();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let mut header = Header {
            version: Version::from_consensus(0x2000_0000),
            prev_blockhash: parent.block_hash(),
            merkle_root: TxMerkleNode::from_byte_array([salt; 32]),
            time: parent.time.saturating_add(600),
            bits: parent.bits,
            nonce: 0,
        };
        if i == fault_at {
            match fault {
                0 => header.version = Version::from_consensus(1),
                1 => header.bits = CompactTarget::from_consensus(0x1d00ffff),
                2 => header.time = 0,
                3 => header.prev_blockhash = BlockHash::from_byte_array([salt; 32]),
                4 => header.time = u32::MAX,
                _ => {}
            }
        }
        mine(&mut header, 16);
        if i == fault_at && fault == 5 {
            // A high hash: bump the nonce until the header fails its target.
            let target = header.target();
            while header.validate_pow(target).is_ok() {
                header.nonce = header.nonce.wrapping_add(1);
            }
        }
        out.push(header);
        parent = header;
    }
    NetworkMessage::Headers(out)
}

fn message(
    input: &mut FuzzInput,
    peer: PeerId,
    node: &Node,
    observed: &Observed,
) -> NetworkMessage {
    match input.u8() % 12 {
        0 | 1 => version(input, observed),
        2 | 3 => NetworkMessage::Verack,
        4 => NetworkMessage::Ping(input.u64()),
        5 => NetworkMessage::Pong(match observed.ping_nonce.get(&peer) {
            Some(n) if input.u8() & 1 == 0 => *n,
            _ => input.u64(),
        }),
        6 => {
            let mut locator = node.chain().locator();
            if input.u8() & 1 == 1 {
                let extra = usize::from(input.u8());
                locator = (0..extra)
                    .map(|_| BlockHash::from_byte_array(input.array32()))
                    .collect();
            }
            let stop = if input.u8() & 1 == 0 {
                BlockHash::all_zeros()
            } else {
                node.chain()
                    .hash_at(u32::from(input.u8()))
                    .unwrap_or_else(BlockHash::all_zeros)
            };
            NetworkMessage::GetHeaders(GetHeadersMessage {
                version: 70016,
                locator_hashes: locator,
                stop_hash: stop,
            })
        }
        7 | 8 => headers(input, node.chain()),
        9 => NetworkMessage::SendHeaders,
        10 => NetworkMessage::WtxidRelay,
        _ => {
            let len = usize::from(input.u8());
            NetworkMessage::Unknown {
                command: CommandString::try_from_static("zzfuzz").expect("valid command"),
                payload: input.bytes(len).to_vec(),
            }
        }
    }
}

/// Drains both nodes, compares them, checks every output and learns from the sends.
fn drain(a: &mut Node, b: &mut Node, observed: &mut Observed, debug: bool) {
    for count in 0.. {
        assert!(count < MAX_OUTPUTS_PER_STEP, "poll never drains");
        let out = a.poll();
        assert_eq!(out, b.poll(), "same inputs, different outputs");
        let Some(out) = out else { break };
        if debug {
            eprintln!("  <- {out:?}");
        }
        match out {
            Output::Send { peer, bytes } => {
                let mut decoder = FrameDecoder::new(Network::Regtest.params().magic);
                decoder.extend(&bytes);
                let mut frames = 0;
                loop {
                    match decoder.next_message() {
                        Ok(Some(NetworkMessage::Version(v))) => {
                            observed.version_nonce = Some(v.nonce)
                        }
                        Ok(Some(NetworkMessage::Ping(n))) => {
                            observed.ping_nonce.insert(peer, n);
                        }
                        Ok(Some(_)) => {}
                        Ok(None) => break,
                        Err(e) => panic!("node sent a malformed frame to {peer}: {e}"),
                    }
                    frames += 1;
                }
                assert!(frames > 0, "empty send");
                assert_eq!(decoder.buffered(), 0, "node sent a partial frame");
            }
            Output::Disconnect { peer, .. } => observed.closing.push(peer),
            Output::Connect { addr } => observed.dials.push(addr),
            Output::Persist(_) | Output::Event(_) => {}
        }
    }
}

fn assert_best_chain_links_to_genesis(chain: &HeaderChain) {
    let mut hash = chain.tip_hash();
    let mut height = chain.tip_height();
    loop {
        assert_eq!(
            chain.hash_at(height),
            Some(hash),
            "best chain index disagrees at {height}"
        );
        let header = chain
            .header(&hash)
            .expect("best-chain header is in the tree");
        if height == 0 {
            assert_eq!(
                hash,
                chain.params().genesis_hash(),
                "best chain does not start at genesis"
            );
            return;
        }
        hash = header.prev_blockhash;
        height -= 1;
    }
}

fuzz_target!(|data: &[u8]| {
    // HEADWAY_FUZZ_DEBUG=1 prints every input and output, to see what a corpus entry does.
    let debug = std::env::var_os("HEADWAY_FUZZ_DEBUG").is_some();
    let mut input = FuzzInput::new(data);
    let mut config = Config::new(Network::Regtest);
    config.seed = input.u64();
    let params = Network::Regtest.params();
    let mut a = Node::new(config.clone(), HeaderChain::new(params.clone()));
    let mut b = Node::new(config, HeaderChain::new(params));
    let mut observed = Observed::default();
    let mut now = Time::from_secs(1_700_000_000);
    // The genesis-only chain trivially links; re-walk only when the tip moves.
    let mut checked_tip = a.chain().tip_hash();

    for _ in 0..MAX_STEPS {
        if input.is_empty() {
            break;
        }
        let mut inputs = Vec::new();
        for peer in observed.closing.drain(..) {
            inputs.push(Input::Disconnected { peer, error: None });
        }
        let op = input.u8();
        let peer_n = input.u8() % PEERS;
        let peer = PeerId(u64::from(peer_n));
        match op % 10 {
            0 => {
                let (addr, direction) = match observed.dials.pop() {
                    Some(addr) if op & 0x80 == 0 => (addr, Direction::Outbound),
                    _ => (peer_addr(peer_n), Direction::Inbound),
                };
                inputs.push(Input::Connected {
                    peer,
                    addr,
                    direction,
                });
            }
            1 => {
                let len = usize::from(input.u8());
                inputs.push(Input::Received {
                    peer,
                    bytes: input.bytes(len).to_vec(),
                });
            }
            2..=5 => {
                let msg = message(&mut input, peer, &a, &observed);
                let frame = encode(a.chain().params().magic, msg);
                // The high bit of `op` splits the frame across two reads at a chosen byte.
                let cut = if op & 0x80 == 0 {
                    frame.len()
                } else {
                    input.below(frame.len() + 1)
                };
                let (first, second) = frame.split_at(cut);
                inputs.push(Input::Received {
                    peer,
                    bytes: first.to_vec(),
                });
                if !second.is_empty() {
                    inputs.push(Input::Received {
                        peer,
                        bytes: second.to_vec(),
                    });
                }
            }
            6 => {
                now = match a.next_deadline() {
                    Some(deadline) if op & 0x80 == 0 => deadline.max(now),
                    _ => now + Duration::from_millis(u64::from(input.u32() % 10_800_000)),
                };
                inputs.push(Input::Tick);
            }
            7 => inputs.push(Input::Disconnected {
                peer,
                error: Some("reset".to_string()),
            }),
            8 => inputs.push(Input::ConnectFailed {
                addr: observed.dials.pop().unwrap_or_else(|| peer_addr(peer_n)),
                error: "refused".to_string(),
            }),
            _ => inputs.push(Input::Request(match input.u8() % 8 {
                0..=3 => Request::AddPeer(peer_addr(peer_n)),
                4..=6 => Request::Disconnect(peer),
                _ => Request::Shutdown,
            })),
        }

        for inp in inputs {
            a.handle(now, inp.clone());
            b.handle(now, inp.clone());
            if debug {
                eprintln!("-> {inp:?}");
            }
            drain(&mut a, &mut b, &mut observed, debug);
            let chunk = match &inp {
                Input::Received { bytes, .. } => bytes.len(),
                _ => 0,
            };
            let peers: Vec<PeerId> = a.peers().map(|(id, _, _)| id).collect();
            for id in peers {
                let held = a.buffered(id).unwrap_or(0);
                assert!(
                    held <= FRAME_HEADER_LEN + MAX_MESSAGE_LENGTH + chunk,
                    "peer {id} holds {held} undecoded bytes"
                );
            }
            if let Some(deadline) = a.next_deadline() {
                assert!(
                    deadline > now,
                    "a due timer did not run: deadline {deadline:?} <= now {now:?}"
                );
            }
            assert_eq!(a.next_deadline(), b.next_deadline());
            if a.chain().tip_hash() != checked_tip {
                assert_best_chain_links_to_genesis(a.chain());
                checked_tip = a.chain().tip_hash();
            }
        }
        assert_eq!(a.chain().tip_hash(), b.chain().tip_hash());
    }
});
