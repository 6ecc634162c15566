//! Fuzz target `node`: a whole `Node` on regtest driven by a sequence of inputs decoded from fuzz
//! bytes, the way rust-lightning fuzzes its peer manager.
//!
//! Steps: a peer connects (inbound, or outbound to an address the node asked to dial); raw
//! bytes arrive (arbitrary, or a prefix of a v1 `version` opening followed by arbitrary bytes,
//! so that an inbound peer's first 16 bytes are judged v1, v2 or undecided at every byte);
//! valid frames arrive (some with a corrupted checksum, which the node must drop and go on)
//! (version, verack, ping, pong echoing the node's nonce, getheaders from the node's own
//! locator or junk, headers mined on the node's chain with optional faults, sendheaders,
//! wtxidrelay, an unknown command), whole or split; time jumps (arbitrary, or exactly to
//! `next_deadline`); a peer disconnects; a dial fails; the user adds a peer, drops one or shuts
//! down. Disconnects the node asks for are answered the next step, as a driver would.
//!
//! Checks after every step: no panic; `poll` drains in bounded time; every `Send` is whole,
//! well-formed frames; two nodes fed the same inputs give the same outputs (determinism);
//! `next_deadline` is after `now` (all due timers ran); the best chain links back to genesis
//! through `header` parents, with `hash_at` agreeing at every height; replaying every
//! `Output::Persist` on a model store (`headway_fuzz::ModelStore`: the best chain as a list of
//! hashes, cut back to the fork and extended by the connected headers, other headers in a side
//! set) gives exactly the node's best chain, height by height, and as many headers as its
//! chain holds, so that a store fed those changes would reopen to the node's chain; a peer's
//! headers presync holds no more commitment bits than its cap, no more buffered headers than
//! the redownload buffer (none while still in PRESYNC), and both nodes report the same presync
//! state.
//!
//! Byte 0 chooses the parameters. Even: plain regtest (minimum chain work zero, so presync
//! only screens forks far below a grown tip). Odd: regtest with a minimum chain work of
//! `K = 1500 + 32 · (byte 0 >> 1)` headers (1500..=5564) above genesis, then two more bytes:
//! a commitment period of 1..=16 and a redownload buffer of 20..=305 headers; the start clock
//! (now, or so close to genesis that the commitment cap bites). With K > 2000 (85% of these
//! inputs) a full message of headers from genesis starts a presync; below, it already carries
//! enough work. The premined chains (`premined`, by default served as the 2000 headers that
//! answer the node's last `getheaders`) take a presync through PRESYNC and REDOWNLOAD or,
//! served from the fork chain the second time, into a commitment mismatch; a message that does
//! not continue a running presync is processed afresh and may restart it from the fork point.

#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::p2p::message::{CommandString, NetworkMessage};
use bitcoin::p2p::message_blockdata::GetHeadersMessage;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::{Address, ServiceFlags};
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode, Work};
use headway_core::chain::HeaderChain;
use headway_core::input::{Input, Request};
use headway_core::node::presync::PresyncPhase;
use headway_core::node::{Config, Node};
use headway_core::output::{Output, ServeHeaders};
use headway_core::params::{Network, Params};
use headway_core::peer::{Direction, PeerId};
use headway_core::time::Time;
use headway_core::transport::v1_prefix;
use headway_core::wire::{encode, FrameDecoder, FRAME_HEADER_LEN, MAX_MESSAGE_LENGTH};
use headway_core::HeaderArchive;
use headway_fuzz::regtest::{mine, mine_chain};
use headway_fuzz::{assert_best_chain_links, FuzzInput, ModelStore};
use libfuzzer_sys::fuzz_target;

/// Steps per input: enough for a handshake, a sync and a few timeouts.
const MAX_STEPS: usize = 96;
/// Outputs one step may produce before we call the queue runaway.
const MAX_OUTPUTS_PER_STEP: usize = 100_000;
/// Distinct peer ids the fuzzer plays with.
const PEERS: u8 = 4;
/// Headers in a full `headers` message (Core's `MAX_HEADERS_RESULTS`): only full messages
/// start or continue a presync.
const FULL: usize = 2000;
/// Length of the premined main chain: past the highest minimum work (5564 headers) by more
/// than a full message, so that a presync completes and sync carries on after it.
const PREMINED_LEN: usize = 7800;
/// Height after which the premined fork chain leaves the main chain.
const FORK_HEIGHT: usize = 1000;

/// Two regtest chains from genesis, mined once per process: `main`, and `fork`, which shares
/// `main`'s first `FORK_HEIGHT` headers. `chains[c][i]` is at height `i + 1`.
struct Premined {
    chains: [Vec<Header>; 2],
    /// Height of every hash of each chain (genesis at 0).
    heights: [HashMap<BlockHash, usize>; 2],
}

fn premined() -> &'static Premined {
    static PREMINED: OnceLock<Premined> = OnceLock::new();
    PREMINED.get_or_init(|| {
        let genesis = Network::Regtest.params().genesis;
        let main = mine_chain(&genesis, PREMINED_LEN, 0xa1);
        let mut fork = main[..FORK_HEIGHT].to_vec();
        let fork_parent = fork.last().copied().unwrap_or(genesis);
        fork.extend(mine_chain(&fork_parent, PREMINED_LEN - FORK_HEIGHT, 0xf0));
        let heights = |chain: &[Header]| {
            let mut map: HashMap<BlockHash, usize> = chain
                .iter()
                .enumerate()
                .map(|(i, h)| (h.block_hash(), i + 1))
                .collect();
            map.insert(genesis.block_hash(), 0);
            map
        };
        Premined {
            heights: [heights(&main), heights(&fork)],
            chains: [main, fork],
        }
    })
}

/// The node's parameters, chosen by the first bytes (see the module comment), and the clock
/// to start from.
fn params_and_clock(input: &mut FuzzInput) -> (Params, Time) {
    let mut params = Network::Regtest.params();
    let now = Time::from_secs(1_700_000_000);
    let choice = input.u8();
    if choice & 1 == 0 {
        return (params, now);
    }
    // Each regtest header (bits 0x207fffff) carries work 2: K headers plus genesis.
    let k = 1500 + 32 * u128::from(choice >> 1);
    let mut be = [0u8; 32];
    be[16..].copy_from_slice(&(2 * (k + 1)).to_be_bytes());
    params.minimum_chain_work = Work::from_be_bytes(be);
    let sizes = input.u8();
    params.headers_commitment_period = 1 + u32::from(sizes & 0x0f);
    params.headers_redownload_buffer = 20 + 19 * u32::from(sizes >> 4);
    let clock = input.u8();
    let now = if clock & 1 == 0 {
        now
    } else {
        // Up to ~12.7 h after "two hours before genesis": the commitment cap,
        // 6 · (now − median time past + 2 h) / period, is between 0 and ~274,000 bits.
        Time::from_secs(u64::from(params.genesis.time) - 7200 + 180 * u64::from(clock >> 1))
    };
    (params, now)
}

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
    /// The locator of the last `getheaders` the node sent to each peer.
    locators: BTreeMap<PeerId, Vec<BlockHash>>,
    /// Asks for headers to serve; the "store" answers them on the next step.
    asks: Vec<ServeHeaders>,
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
fn headers(input: &mut FuzzInput, chain: &HeaderChain, archive: &HeaderArchive) -> NetworkMessage {
    let tip = chain.tip_height();
    let base_height = match input.u8() % 4 {
        0 => 0,
        1 => tip.saturating_sub(u32::from(input.u8() % 8)),
        _ => tip,
    };
    let Some(mut parent) = archive.best().get(base_height as usize).copied() else {
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

/// Headers from a premined chain (main or fork): by default the full message that answers the
/// node's last `getheaders` to `peer`, which is what drives a presync through both phases;
/// else from a chosen height, or a short message.
fn premined_headers(input: &mut FuzzInput, peer: PeerId, observed: &Observed) -> NetworkMessage {
    let premined = premined();
    let selector = input.u8();
    let c = usize::from(selector & 1);
    let (chain, heights) = (&premined.chains[c], &premined.heights[c]);
    let start = match (selector >> 1) % 4 {
        0..=2 => observed
            .locators
            .get(&peer)
            .and_then(|locator| locator.iter().find_map(|h| heights.get(h).copied()))
            .unwrap_or(0),
        _ => input.below(chain.len()),
    };
    let count = match (selector >> 3) % 8 {
        0..=5 => FULL,
        6 => FULL - 1,
        _ => usize::from(input.u16()) % (FULL + 2),
    };
    let end = start.saturating_add(count).min(chain.len());
    NetworkMessage::Headers(chain.get(start..end).unwrap_or_default().to_vec())
}

fn message(
    input: &mut FuzzInput,
    peer: PeerId,
    node: &Node,
    observed: &Observed,
    archive: &HeaderArchive,
) -> NetworkMessage {
    match input.u8() % 18 {
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
        7 | 8 => headers(input, node.chain(), archive),
        9 => NetworkMessage::SendHeaders,
        10 => NetworkMessage::WtxidRelay,
        11 | 12 => premined_headers(input, peer, observed),
        14 => addr(input),
        15 => addrv2(input),
        16 => NetworkMessage::GetAddr,
        17 => NetworkMessage::SendAddrV2,
        13 => {
            let len = usize::from(input.u8());
            NetworkMessage::Unknown {
                command: CommandString::try_from_static("zzfuzz").expect("valid command"),
                payload: input.bytes(len).to_vec(),
            }
        }
        _ => NetworkMessage::GetAddr,
    }
}

/// How many addresses a gossip message holds: mostly a few, sometimes around the 1000 limit.
fn addr_count(input: &mut FuzzInput) -> usize {
    match input.u8() % 8 {
        0 => 995 + input.below(12),
        _ => input.below(40),
    }
}

/// An addr message of fuzzed IPv4 and IPv6 addresses, services and times.
fn addr(input: &mut FuzzInput) -> NetworkMessage {
    let count = addr_count(input);
    let list = (0..count)
        .map(|_| {
            let ip = input.array32();
            let sa = if ip[0] & 1 == 0 {
                SocketAddr::from((
                    [ip[1], ip[2], ip[3], ip[4]],
                    u16::from_le_bytes([ip[5], ip[6]]),
                ))
            } else {
                let mut v6 = [0u8; 16];
                v6.copy_from_slice(&ip[8..24]);
                SocketAddr::from((v6, u16::from_le_bytes([ip[5], ip[6]])))
            };
            let services = ServiceFlags::from(u64::from(ip[7] & 0x0f) | 1 << (ip[24] % 12));
            let time = u32::from_le_bytes([ip[25], ip[26], ip[27], ip[28]]);
            (time, Address::new(&sa, services))
        })
        .collect();
    NetworkMessage::Addr(list)
}

/// An addrv2 message of every BIP155 network, valid and not.
fn addrv2(input: &mut FuzzInput) -> NetworkMessage {
    use bitcoin::p2p::address::{AddrV2, AddrV2Message};
    let count = addr_count(input);
    let list = (0..count)
        .map(|_| {
            let b = input.array32();
            let addr = match b[0] % 7 {
                0 => AddrV2::Ipv4([b[1], b[2], b[3], b[4]].into()),
                1 => {
                    let mut v6 = [0u8; 16];
                    v6.copy_from_slice(&b[8..24]);
                    AddrV2::Ipv6(v6.into())
                }
                2 => AddrV2::TorV3(b),
                3 => AddrV2::I2p(b),
                4 => {
                    let mut v6 = [0u8; 16];
                    v6.copy_from_slice(&b[8..24]);
                    v6[0] = 0xfc;
                    AddrV2::Cjdns(v6.into())
                }
                5 => AddrV2::Unknown(b[1], b[2..2 + usize::from(b[3] % 20)].to_vec()),
                _ => AddrV2::Ipv4([127, 0, b[3], b[4]].into()),
            };
            AddrV2Message {
                time: u32::from_le_bytes([b[25], b[26], b[27], b[28]]),
                services: ServiceFlags::from(u64::from(b[29])),
                addr,
                port: u16::from_le_bytes([b[30], b[31]]),
            }
        })
        .collect();
    NetworkMessage::AddrV2(list)
}

/// Drains both nodes, compares them, checks every output, learns from the sends and carries
/// out every persist on `store`.
fn drain(
    a: &mut Node,
    b: &mut Node,
    observed: &mut Observed,
    store: &mut ModelStore,
    archive: &mut HeaderArchive,
    debug: bool,
) {
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
                        Ok(Some(NetworkMessage::GetHeaders(g))) => {
                            observed.locators.insert(peer, g.locator_hashes);
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
            Output::Connect { addr, .. } => observed.dials.push(addr),
            Output::ServeHeaders(ask) => {
                let last = ask.first.saturating_add(ask.count.saturating_sub(1));
                assert!(
                    (1..=2000).contains(&ask.count) && last <= a.chain().tip_height(),
                    "an ask beyond the best chain: {ask:?}"
                );
                observed.asks.push(ask);
            }
            Output::Persist(change) => {
                if let Err(why) = store.apply(&change) {
                    panic!("the node's persist does not replay: {why}: {change}");
                }
                if let Err(why) = archive.apply(&change) {
                    panic!("the node's persist does not fit its headers: {why}: {change}");
                }
            }
            Output::Resolve { host } => assert!(!host.is_empty(), "empty name to resolve"),
            Output::PersistAddrs(change) => assert!(!change.is_empty(), "empty book change"),
            Output::Event(_) => {}
        }
    }
}

/// The documented bounds of a peer's presync memory, and determinism of its state.
fn check_presync(a: &Node, b: &Node, id: PeerId, params: &Params, debug: bool) {
    let status = a.presync_status(id);
    assert_eq!(status, b.presync_status(id), "nodes disagree on presync");
    let Some(status) = status else { return };
    if debug {
        eprintln!("  presync {id}: {status:?}");
    }
    assert!(
        status.commitments as u64 <= status.max_commitments,
        "peer {id} presync holds {} commitments, cap {}",
        status.commitments,
        status.max_commitments
    );
    let cap = params.headers_redownload_buffer as usize;
    match status.phase {
        PresyncPhase::Presync => assert_eq!(status.buffered, 0, "buffered during PRESYNC"),
        PresyncPhase::Redownload => assert!(
            status.buffered <= cap,
            "peer {id} presync buffers {} headers, buffer {cap}",
            status.buffered
        ),
    }
    assert!(status.height >= status.chain_start_height);
}

fuzz_target!(|data: &[u8]| {
    // HEADWAY_FUZZ_DEBUG=1 prints every input and output, to see what a corpus entry does.
    let debug = std::env::var_os("HEADWAY_FUZZ_DEBUG").is_some();
    let mut input = FuzzInput::new(data);
    let (params, mut now) = params_and_clock(&mut input);
    let mut config = Config::new(Network::Regtest);
    config.seed = input.u64();
    // The input programs speak v1 frames, and every send is checked as one; v2 sessions
    // have their own target (`v2`).
    config.v2_transport = false;
    let mut a = Node::new(config.clone(), HeaderChain::new(params.clone()));
    let mut b = Node::new(config, HeaderChain::new(params.clone()));
    let mut observed = Observed::default();
    let mut store = ModelStore::new(&params.genesis);
    let mut archive = HeaderArchive::new(&params);
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
        for ask in observed.asks.drain(..) {
            inputs.push(Input::Request(archive.serve(&ask)));
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
                    local_addr: None,
                    direction,
                });
            }
            1 => {
                let mut bytes = Vec::new();
                if op & 0x80 != 0 {
                    let prefix = v1_prefix(a.chain().params().magic);
                    let keep = usize::from(input.u8()) % (prefix.len() + 1);
                    bytes.extend_from_slice(&prefix[..keep]);
                }
                let len = usize::from(input.u8());
                bytes.extend_from_slice(input.bytes(len));
                inputs.push(Input::Received { peer, bytes });
            }
            2..=5 => {
                let msg = message(&mut input, peer, &a, &observed, &archive);
                let mut frame = encode(a.chain().params().magic, msg);
                if op & 0x40 != 0 {
                    // A corrupted checksum: Core drops such a frame and keeps the peer.
                    frame[FRAME_HEADER_LEN - 1] ^= 0x5a;
                }
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
            drain(
                &mut a,
                &mut b,
                &mut observed,
                &mut store,
                &mut archive,
                debug,
            );
            // What the persists describe is the node's best chain, at every height.
            store.assert_matches(a.chain());
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
                check_presync(&a, &b, id, &params, debug);
            }
            if let Some(deadline) = a.next_deadline() {
                assert!(
                    deadline > now,
                    "a due timer did not run: deadline {deadline:?} <= now {now:?}"
                );
            }
            assert_eq!(a.next_deadline(), b.next_deadline());
            let book = a.addr_book();
            assert!(
                book.len() <= headway_core::addrbook::CAPACITY,
                "book over its tables"
            );
            assert_eq!(book.new_len() + book.tried_len(), book.len());
            assert_eq!(
                book.len(),
                b.addr_book().len(),
                "same inputs, different books"
            );
            if a.chain().tip_hash() != checked_tip {
                assert_best_chain_links(a.chain(), 0);
                checked_tip = a.chain().tip_hash();
            }
        }
        assert_eq!(a.chain().tip_hash(), b.chain().tip_hash());
    }
});
