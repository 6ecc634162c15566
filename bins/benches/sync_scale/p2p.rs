//! A minimal Bitcoin P2P v1 client over a blocking `TcpStream`: the version/verack handshake,
//! getheaders, and reading `headers` answers. It is the probe of the startup leg and the
//! do-nothing client of the floor leg: it asks and reads, and does nothing else with what it
//! reads (no proof of work, no chain, no store), so its download time is the fastest the
//! server allows.
//!
//! Framing is parsed by hand (magic, command, length <= [`MAX_MESSAGE`]); the checksum of a
//! received message is not checked, to keep the floor a floor. What it sends is encoded with
//! `bitcoin`'s `RawNetworkMessage`, which computes the checksum.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;

use headway_core::bitcoin::consensus::encode::serialize;
use headway_core::bitcoin::hashes::{sha256d, Hash};
use headway_core::bitcoin::p2p::address::Address;
use headway_core::bitcoin::p2p::message::{NetworkMessage, RawNetworkMessage};
use headway_core::bitcoin::p2p::message_blockdata::GetHeadersMessage;
use headway_core::bitcoin::p2p::message_network::VersionMessage;
use headway_core::bitcoin::p2p::{Magic, ServiceFlags};

use super::*;

/// The protocol version the client announces (sendheaders, feefilter, wtxid era: what headway
/// speaks).
const PROTOCOL_VERSION: u32 = 70016;
/// The largest message the protocol allows (Core's `MAX_PROTOCOL_MESSAGE_LENGTH`).
const MAX_MESSAGE: usize = 4_000_000;
/// The 24-byte v1 message header: magic 4, command 12, length 4, checksum 4.
const FRAME_HEADER: usize = 24;
/// A header in a `headers` message: 80 bytes and a zero transaction count.
const HEADER_ENTRY: usize = 81;
/// Headers in a full `headers` answer; a shorter one ends the download.
pub(super) const MAX_HEADERS_PER_MESSAGE: usize = 2000;
/// Read buffer of the client: a full `headers` message (162 kB) in a few reads.
const READ_BUFFER: usize = 256 * 1024;
/// How long one read may wait for the server before the client gives up.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the handshake may take in all.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(30);
/// The user agent the client announces.
const USER_AGENT: &str = "/headway-bench-sync-scale:0.1/";
/// A fixed version nonce: never headway's own, which is random.
const NONCE: u64 = 0x5c41_e000_0000_0001;

/// A connected, handshaken v1 peer.
pub(super) struct Peer {
    reader: BufReader<TcpStream>,
    payload: Vec<u8>,
}

/// One received message: its command and its payload (borrowed from the client's buffer).
struct Message<'a> {
    command: [u8; 12],
    payload: &'a [u8],
}

impl Message<'_> {
    fn is(&self, name: &str) -> bool {
        let name = name.as_bytes();
        self.command[..name.len()] == *name && self.command[name.len()..].iter().all(|b| *b == 0)
    }
}

impl Peer {
    /// Wraps a connected stream and runs the handshake: our version, their version, our
    /// verack, their verack (other messages on the way are ignored, pings answered).
    pub(super) fn handshake(stream: TcpStream) -> Result<Peer> {
        stream.set_nodelay(true).context("TCP_NODELAY")?;
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .context("read timeout")?;
        let peer_addr = stream.peer_addr().context("peer address")?;
        let local_addr = stream.local_addr().context("local address")?;
        let mut peer = Peer {
            reader: BufReader::with_capacity(READ_BUFFER, stream),
            payload: Vec::with_capacity(MAX_MESSAGE.min(READ_BUFFER)),
        };
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .context("the clock is before 1970")?
            .as_secs();
        let mut version = VersionMessage::new(
            ServiceFlags::NONE,
            i64::try_from(timestamp).context("timestamp beyond i64")?,
            Address::new(&peer_addr, ServiceFlags::NONE),
            Address::new(&local_addr, ServiceFlags::NONE),
            NONCE,
            USER_AGENT.to_string(),
            0,
        );
        version.version = PROTOCOL_VERSION;
        version.relay = false;
        peer.send(NetworkMessage::Version(version))?;
        let started = Instant::now();
        let (mut got_version, mut got_verack) = (false, false);
        while !(got_version && got_verack) {
            ensure!(
                started.elapsed() < HANDSHAKE_WAIT,
                "no handshake within {HANDSHAKE_WAIT:?}"
            );
            let (is_version, is_verack, ping) = {
                let m = peer.read()?;
                (
                    m.is("version"),
                    m.is("verack"),
                    m.is("ping").then(|| m.payload.to_vec()),
                )
            };
            if is_version {
                ensure!(!got_version, "a second version message");
                got_version = true;
                peer.send(NetworkMessage::Verack)?;
            } else if is_verack {
                got_verack = true;
            } else if let Some(nonce) = ping {
                peer.pong(&nonce)?;
            }
        }
        Ok(peer)
    }

    fn send(&mut self, message: NetworkMessage) -> Result<()> {
        let bytes = serialize(&RawNetworkMessage::new(Magic::REGTEST, message));
        self.reader
            .get_mut()
            .write_all(&bytes)
            .context("cannot send to the server")
    }

    fn pong(&mut self, ping_payload: &[u8]) -> Result<()> {
        let nonce: [u8; 8] = ping_payload
            .try_into()
            .map_err(|_| anyhow!("a ping of {} bytes", ping_payload.len()))?;
        self.send(NetworkMessage::Pong(u64::from_le_bytes(nonce)))
    }

    /// Asks for the headers after `locator` (a one-hash locator: the last header we have).
    pub(super) fn getheaders(&mut self, locator: BlockHash) -> Result<()> {
        self.send(NetworkMessage::GetHeaders(GetHeadersMessage {
            version: PROTOCOL_VERSION,
            locator_hashes: vec![locator],
            stop_hash: BlockHash::all_zeros(),
        }))
    }

    /// The next message, framing checked (magic and length), checksum not.
    fn read(&mut self) -> Result<Message<'_>> {
        let mut header = [0u8; FRAME_HEADER];
        self.reader
            .read_exact(&mut header)
            .context("reading a message header from the server")?;
        ensure!(
            header[..4] == Magic::REGTEST.to_bytes(),
            "wrong magic {:02x?}",
            &header[..4]
        );
        let mut command = [0u8; 12];
        command.copy_from_slice(&header[4..16]);
        let length = u32::from_le_bytes([header[16], header[17], header[18], header[19]]) as usize;
        ensure!(
            length <= MAX_MESSAGE,
            "a message of {length} bytes, over {MAX_MESSAGE}"
        );
        self.payload.resize(length, 0);
        self.reader
            .read_exact(&mut self.payload)
            .context("reading a message payload from the server")?;
        Ok(Message {
            command,
            payload: &self.payload,
        })
    }

    /// Reads until a `headers` message comes (answering pings, ignoring the rest): how many
    /// headers it holds and the hash of its last one (`None` for an empty answer).
    pub(super) fn read_headers(&mut self) -> Result<(usize, Option<BlockHash>)> {
        loop {
            let ping = {
                let m = self.read()?;
                if m.is("headers") {
                    return last_of_headers(m.payload);
                }
                if !m.is("ping") {
                    // sendheaders, sendcmpct, feefilter, getheaders, addr...: nothing to do.
                    continue;
                }
                m.payload.to_vec()
            };
            self.pong(&ping)?;
        }
    }
}

/// The count of a `headers` payload and the hash of its last header, found without decoding
/// the others.
fn last_of_headers(payload: &[u8]) -> Result<(usize, Option<BlockHash>)> {
    let (count, prefix) = compact_size(payload)?;
    let count = usize::try_from(count).context("header count beyond usize")?;
    ensure!(
        count <= MAX_HEADERS_PER_MESSAGE,
        "a headers message of {count} headers"
    );
    ensure!(
        payload.len() == prefix + count * HEADER_ENTRY,
        "a headers message of {count} headers in {} bytes",
        payload.len()
    );
    if count == 0 {
        return Ok((0, None));
    }
    let last = &payload[payload.len() - HEADER_ENTRY..payload.len() - 1];
    let hash = BlockHash::from_raw_hash(sha256d::Hash::hash(last));
    Ok((count, Some(hash)))
}

/// A compact-size integer at the start of `bytes`, and how many bytes it took.
fn compact_size(bytes: &[u8]) -> Result<(u64, usize)> {
    let first = *bytes.first().ok_or_else(|| anyhow!("an empty payload"))?;
    let width = match first {
        0xfd => 2,
        0xfe => 4,
        0xff => 8,
        n => return Ok((u64::from(n), 1)),
    };
    let digits = bytes
        .get(1..1 + width)
        .ok_or_else(|| anyhow!("a truncated compact size"))?;
    let mut value = [0u8; 8];
    value[..width].copy_from_slice(digits);
    Ok((u64::from_le_bytes(value), 1 + width))
}

/// Connects to `addr`, retrying while nothing listens there yet (the node is starting), for
/// at most `wait`; `node` is checked between tries so that a node that died fails at once.
pub(super) fn connect_when_listening(
    addr: SocketAddr,
    node: &mut Process,
    wait: Duration,
) -> Result<TcpStream> {
    let started = Instant::now();
    loop {
        match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(e) => {
                node.check_running()?;
                ensure!(
                    started.elapsed() < wait,
                    "{addr} not accepting {wait:?} after launch ({e}); log:\n{}",
                    node.log_tail()
                );
                thread::sleep(CONNECT_RETRY);
            }
        }
    }
}

/// What the do-nothing client measured.
pub(super) struct FloorRun {
    /// From the first connect to the answer that brought the count to the mark.
    pub(super) to_mark: Duration,
    /// From the first connect to the last (short) answer.
    pub(super) total: Duration,
    pub(super) headers: u64,
    /// The hash of the last header received.
    pub(super) tip: BlockHash,
}

/// The do-nothing client: handshake, then getheaders with the last hash received (genesis
/// first) until an answer holds fewer than [`MAX_HEADERS_PER_MESSAGE`] headers.
pub(super) fn floor_download(addr: SocketAddr, genesis: BlockHash, mark: u32) -> Result<FloorRun> {
    let started = Instant::now();
    let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
        .with_context(|| format!("cannot connect to {addr}"))?;
    let mut peer = Peer::handshake(stream)?;
    let mut last = genesis;
    let mut headers = 0u64;
    let mut to_mark = None;
    loop {
        ensure!(
            started.elapsed() < SYNC_WAIT,
            "the download took over {SYNC_WAIT:?}"
        );
        peer.getheaders(last)?;
        let (count, hash) = peer.read_headers()?;
        headers += count as u64;
        if to_mark.is_none() && headers >= u64::from(mark) {
            to_mark = Some(started.elapsed());
        }
        if let Some(hash) = hash {
            last = hash;
        }
        if count < MAX_HEADERS_PER_MESSAGE {
            break;
        }
    }
    let total = started.elapsed();
    Ok(FloorRun {
        to_mark: to_mark.ok_or_else(|| anyhow!("only {headers} headers, under {mark}"))?,
        total,
        headers,
        tip: last,
    })
}
