//! The scripted peer: a raw std `TcpStream` that the test drives message by message, the same
//! bytes under every driver. It writes fixed messages (its version has a fixed timestamp,
//! nonce and addresses) and reads the node's, each read bounded by the hang guard; the messages
//! it reads are logged for comparison. And the header chains the scripts serve.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener as StdListener, TcpStream as StdStream};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::thread;

use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::consensus::encode::deserialize;
use headway_core::bitcoin::hashes::{sha256, Hash, HashEngine};
use headway_core::bitcoin::p2p::address::Address;
use headway_core::bitcoin::p2p::message::{NetworkMessage, RawNetworkMessage};
use headway_core::bitcoin::p2p::message_blockdata::GetHeadersMessage;
use headway_core::bitcoin::p2p::message_network::VersionMessage;
use headway_core::bitcoin::p2p::{Magic, ServiceFlags};
use headway_core::bitcoin::BlockHash;
use headway_core::wire::{self, FRAME_HEADER_LEN};
use headway_core::Network;

use super::harness::HANG_GUARD;

/// Headers in the long served chain: more than one 2000-header message.
pub const CHAIN_LEN: usize = 2500;
/// Where the scripted fork leaves the served chain.
pub const FORK_HEIGHT: usize = 2490;
/// Headers of the fork: more than the 10 it replaces, so it has more work.
pub const FORK_LEN: usize = 20;

pub const MAGIC: Magic = Magic::REGTEST;

/// Our protocol version, as Core and headway speak it.
const PROTOCOL_VERSION: u32 = 70016;

/// A raw peer, scripted by the test.
pub struct ScriptedPeer {
    /// For failure messages.
    pub who: String,
    stream: StdStream,
    /// Every message read from the node, in order (except frames read with
    /// [`ScriptedPeer::read_raw`]).
    pub log: Vec<NetworkMessage>,
    /// Every byte of the script so far, hashed: what the peer sent must be the same under
    /// every driver, and the record compares it.
    sent: sha256::HashEngine,
}

impl ScriptedPeer {
    /// Dials the node at `addr`.
    pub fn connect(addr: SocketAddr, who: String) -> ScriptedPeer {
        match StdStream::connect(addr) {
            Ok(stream) => ScriptedPeer::over(stream, who),
            Err(e) => panic!("{who}: cannot reach the node at {addr}: {e}"),
        }
    }

    /// Takes the node's connection to `listener`, within the hang guard.
    pub fn accept(listener: &StdListener, who: String) -> ScriptedPeer {
        let listener = match listener.try_clone() {
            Ok(listener) => listener,
            Err(e) => panic!("{who}: cannot share the listener: {e}"),
        };
        // std's accept has no timeout: it runs on a helper thread, and the wait is bounded.
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let _ = tx.send(listener.accept());
        });
        match rx.recv_timeout(HANG_GUARD) {
            Ok(Ok((stream, _))) => ScriptedPeer::over(stream, who),
            Ok(Err(e)) => panic!("{who}: accept failed: {e}"),
            Err(e) => panic!("{who}: the node did not connect before the hang guard: {e}"),
        }
    }

    fn over(stream: StdStream, who: String) -> ScriptedPeer {
        if let Err(e) = stream
            .set_read_timeout(Some(HANG_GUARD))
            .and_then(|()| stream.set_write_timeout(Some(HANG_GUARD)))
            .and_then(|()| stream.set_nodelay(true))
        {
            panic!("{who}: cannot set up the socket: {e}");
        }
        ScriptedPeer {
            who,
            stream,
            log: Vec::new(),
            sent: sha256::HashEngine::default(),
        }
    }

    /// The script so far: how many bytes, and their hash.
    pub fn script(&self) -> (usize, sha256::Hash) {
        (
            self.sent.n_bytes_hashed(),
            sha256::Hash::from_engine(self.sent.clone()),
        )
    }

    /// Counts `bytes` as sent by the script (for bytes written through
    /// [`ScriptedPeer::stream_clone`]).
    pub fn note_sent(&mut self, bytes: &[u8]) {
        self.sent.input(bytes);
    }

    /// A second handle on the socket (for a writer thread).
    pub fn stream_clone(&self) -> StdStream {
        match self.stream.try_clone() {
            Ok(stream) => stream,
            Err(e) => panic!("{}: cannot clone the socket: {e}", self.who),
        }
    }

    pub fn send(&mut self, msg: NetworkMessage) {
        let bytes = wire::encode(MAGIC, msg);
        self.send_bytes(&bytes);
    }

    /// Sends `msg` if the socket still takes it (the node may have closed it already).
    pub fn try_send(&mut self, msg: NetworkMessage) {
        let bytes = wire::encode(MAGIC, msg);
        self.note_sent(&bytes);
        let _ = self.stream.write_all(&bytes);
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.note_sent(bytes);
        if let Err(e) = self.stream.write_all(bytes) {
            panic!("{}: write failed: {e}", self.who);
        }
    }

    /// Reads one whole frame, as it came, without decoding or logging it.
    pub fn read_raw(&mut self, what: &str) -> Vec<u8> {
        let mut frame = vec![0u8; FRAME_HEADER_LEN];
        self.read_exact(&mut frame, what);
        let len = match frame.get(16..20) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
            _ => 0,
        };
        assert!(
            len <= wire::MAX_MESSAGE_LENGTH,
            "{}: the node announced a {len}-byte payload",
            self.who
        );
        frame.resize(FRAME_HEADER_LEN + len, 0);
        if let Some(payload) = frame.get_mut(FRAME_HEADER_LEN..) {
            self.read_exact(payload, what);
        }
        frame
    }

    fn read_exact(&mut self, buf: &mut [u8], what: &str) {
        if let Err(e) = self.stream.read_exact(buf) {
            panic!(
                "{}: reading {what} from the node failed (or timed out): {e}; read so far: {:?}",
                self.who,
                self.log.iter().map(NetworkMessage::cmd).collect::<Vec<_>>()
            );
        }
    }

    /// Decodes a frame the node sent.
    pub fn decode(&self, frame: &[u8]) -> NetworkMessage {
        match deserialize::<RawNetworkMessage>(frame) {
            Ok(raw) if *raw.magic() == MAGIC => raw.into_payload(),
            Ok(raw) => panic!("{}: a frame with magic {}", self.who, raw.magic()),
            Err(e) => panic!("{}: the node sent an undecodable frame: {e}", self.who),
        }
    }

    /// Reads, decodes and logs one message.
    pub fn read(&mut self, what: &str) -> NetworkMessage {
        let frame = self.read_raw(what);
        let msg = self.decode(&frame);
        self.log.push(msg.clone());
        msg
    }

    /// Reads until `pick` gives something; every message read is logged.
    pub fn read_until<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&NetworkMessage) -> Option<T>,
    ) -> T {
        loop {
            let msg = self.read(what);
            if let Some(found) = pick(&msg) {
                return found;
            }
        }
    }

    /// Sends a ping with `nonce` and reads until its pong: once it is here, the node has
    /// handled everything sent before, and said everything it had to say about it.
    pub fn barrier(&mut self, nonce: u64) {
        self.send(NetworkMessage::Ping(nonce));
        self.read_until("the barrier's pong", |m| {
            matches!(m, NetworkMessage::Pong(n) if *n == nonce).then_some(())
        });
    }

    /// The handshake with a node we dialled, up to the point where the node has nothing more
    /// to say: version, verack, then the node's ping (left unanswered; its nonce is returned),
    /// its getheaders if it is not synced yet (answered with no headers: "nothing newer"), and
    /// its sendheaders.
    pub fn handshake_inbound(&mut self) -> u64 {
        self.send(NetworkMessage::Version(version(0, ServiceFlags::NONE)));
        self.read_until("verack", |m| {
            matches!(m, NetworkMessage::Verack).then_some(())
        });
        self.send(NetworkMessage::Verack);
        let mut ping = None;
        loop {
            match self.read("the node's ping, getheaders and sendheaders") {
                NetworkMessage::Ping(nonce) => ping = Some(nonce),
                NetworkMessage::GetHeaders(_) => self.send(NetworkMessage::Headers(Vec::new())),
                NetworkMessage::SendHeaders => break,
                _ => {}
            }
        }
        match ping {
            Some(nonce) => nonce,
            None => panic!("{}: the node did not ping after the handshake", self.who),
        }
    }

    /// The handshake with a node that dialled us: its version first, then ours and our
    /// verack, until its verack.
    pub fn handshake_outbound(&mut self, start_height: i32) {
        self.read_until("the node's version", |m| {
            matches!(m, NetworkMessage::Version(_)).then_some(())
        });
        self.send(NetworkMessage::Version(version(
            start_height,
            ServiceFlags::NETWORK,
        )));
        self.send(NetworkMessage::Verack);
        self.read_until("verack", |m| {
            matches!(m, NetworkMessage::Verack).then_some(())
        });
    }

    /// Reads until the node closes the connection, with at most its BIP324 answer before it
    /// (its key, garbage, terminator and version packet): a node that closes a hostile peer
    /// may or may not have flushed that answer first, by the driver's timing. Returns how
    /// many bytes came.
    pub fn assert_closed_within_a_v2_answer(&mut self) -> usize {
        let mut rest = Vec::new();
        match self.stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("{}: the node did not close the socket: {e}", self.who),
        }
        assert!(
            rest.len() <= 64 + 4095 + 16 + 20,
            "{}: {} bytes before the close",
            self.who,
            rest.len()
        );
        rest.len()
    }

    /// Reads until the node closes the connection, which must come without another byte.
    pub fn assert_closed(&mut self) {
        let mut rest = Vec::new();
        match self.stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Err(e) => panic!("{}: the node did not close the socket: {e}", self.who),
        }
        assert!(
            rest.is_empty(),
            "{}: {} more bytes before the close",
            self.who,
            rest.len()
        );
    }
}

/// The scripted peer's version: fixed in every field, so its bytes are the same every run.
pub fn version(start_height: i32, services: ServiceFlags) -> VersionMessage {
    let somewhere = SocketAddr::from(([192, 0, 2, 1], 18444));
    let mut msg = VersionMessage::new(
        services,
        1_700_000_000,
        Address::new(&somewhere, ServiceFlags::NONE),
        Address::new(&somewhere, services),
        0x5c21_97ed_0000_0001,
        "/scripted-peer:1.0/".to_string(),
        start_height,
    );
    msg.version = PROTOCOL_VERSION;
    msg.relay = false;
    msg
}

/// A getheaders message asking for what follows the genesis.
pub fn getheaders_from_genesis() -> NetworkMessage {
    NetworkMessage::GetHeaders(GetHeadersMessage {
        version: PROTOCOL_VERSION,
        locator_hashes: vec![Network::Regtest.params().genesis.block_hash()],
        stop_hash: BlockHash::all_zeros(),
    })
}

/// What a serving peer answers to `req` from `chain` (genesis first), as Core does: the
/// headers after the first locator entry it knows (after the genesis if none), 2000 at most.
pub fn answer(chain: &[Header], req: &GetHeadersMessage) -> Vec<Header> {
    let start = req
        .locator_hashes
        .iter()
        .find_map(|hash| chain.iter().position(|h| h.block_hash() == *hash))
        .unwrap_or(0);
    chain.iter().skip(start + 1).take(2000).copied().collect()
}

/// A header on `prev`, mined for regtest; `salt` tells branches apart.
fn mine(prev: &Header, salt: u8) -> Header {
    headway_regtest::mine(prev, 1, salt)[0]
}

/// Regtest headers on the regtest genesis, 10 minutes apart, the genesis itself first: mined
/// once for every test.
pub fn served_chain() -> &'static [Header] {
    static CHAIN: OnceLock<Vec<Header>> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let mut chain = vec![Network::Regtest.params().genesis];
        for height in 1..=CHAIN_LEN {
            let prev = chain
                .last()
                .copied()
                .unwrap_or(Network::Regtest.params().genesis);
            chain.push(mine(&prev, (height % 251) as u8));
        }
        chain
    })
}

/// [`FORK_LEN`] headers on the served chain's header at [`FORK_HEIGHT`].
pub fn fork_branch() -> &'static [Header] {
    static BRANCH: OnceLock<Vec<Header>> = OnceLock::new();
    BRANCH.get_or_init(|| {
        let base = served_chain()
            .get(FORK_HEIGHT)
            .copied()
            .unwrap_or(Network::Regtest.params().genesis);
        let mut branch: Vec<Header> = Vec::with_capacity(FORK_LEN);
        for _ in 0..FORK_LEN {
            let prev = branch.last().copied().unwrap_or(base);
            branch.push(mine(&prev, 0xf0));
        }
        branch
    })
}
