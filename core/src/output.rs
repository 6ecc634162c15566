//! Everything the core asks of its driver and tells its application: the one way out.
//!
//! The driver's one rule: after every [`crate::Node::handle`], drain [`crate::Node::poll`]
//! until it returns `None`, carry out each [`Output`] in order, then sleep until
//! [`crate::Node::next_deadline`] or the next input.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use bitcoin::block::Header;
use bitcoin::p2p::ServiceFlags;
use bitcoin::{BlockHash, Work};

use crate::chain::HeaderError;
use crate::peer::{Direction, PeerId};
use crate::wire::WireError;

/// A command for the driver or a notice for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Dial `addr`; answer with [`crate::Input::Connected`] or [`crate::Input::ConnectFailed`]
    /// naming `addr`.
    Connect {
        /// Where to dial, and the connection's address from then on.
        addr: SocketAddr,
        /// A name to dial instead, through the proxy (an `.onion` service, or a DNS seed
        /// behind a proxy): `addr` is then a stand-in that only names the connection
        /// ([`crate::node::named_peers`]), and `addr`'s port is the one to ask for. Without a
        /// proxy the driver fails the dial.
        host: Option<String>,
    },
    /// Write these bytes to the peer, after everything sent to it before.
    Send {
        /// The receiver.
        peer: PeerId,
        /// One or more whole frames.
        bytes: Vec<u8>,
    },
    /// Close the connection; the driver answers with [`crate::Input::Disconnected`].
    Disconnect {
        /// The connection to close.
        peer: PeerId,
        /// Why, for the log.
        reason: DisconnectReason,
    },
    /// Resolve this host name (a DNS seed) off the socket loop and answer with
    /// [`crate::Input::Resolved`], an empty list on failure.
    Resolve {
        /// The name to resolve.
        host: String,
    },
    /// Write this change of the address book to the store (its own transaction, or with the
    /// next header write); order among these matters, as among [`Output::Persist`].
    PersistAddrs(crate::addrbook::AddrBookChange),
    /// Persist this change of the header tree. Carry these out in order: each one builds on
    /// the ones before.
    Persist(PersistChain),
    /// A peer asked for headers (getheaders): read them from the store, after every
    /// [`Output::Persist`] before this one, and hand them back with
    /// [`crate::Request::SendHeaders`]. The core keeps no full headers; the heights are on its
    /// best chain as of this output, which is the store's once those persists are written.
    ServeHeaders(ServeHeaders),
    /// Something the application may want to know.
    Event(Event),
}

/// A change of the header tree for the store to write, as one transaction.
///
/// The best chain up to and including `fork_height` is unchanged; above it the best chain is now
/// exactly `rejoined` followed by `connected` (heights `fork_height + 1 ..`). Former best-chain headers above
/// `fork_height` that `connected` does not replace stay known as side-chain headers. `side`
/// holds newly accepted headers that are not on the best chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistChain {
    /// The highest height at which the best chain did not change.
    pub fork_height: u32,
    /// Headers the store already holds off the best chain (sent by earlier changes) that join
    /// it right above `fork_height`, in height order: the core keeps no full headers, so a
    /// reorganisation onto a known branch names them by hash.
    pub rejoined: Vec<BlockHash>,
    /// The new best chain above `fork_height` and `rejoined`, in height order: headers new to
    /// the store.
    pub connected: Vec<Header>,
    /// Newly accepted headers off the best chain, each with its height, parents first.
    pub side: Vec<(u32, Header)>,
    /// The cumulative work of the best chain's tip after this change.
    pub tip_work: Work,
}

/// Best-chain headers a peer asked for, by height.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeHeaders {
    /// Who asked.
    pub peer: PeerId,
    /// The first height to send.
    pub first: u32,
    /// How many (at most 2000, Core's `MAX_HEADERS_RESULTS`; never 0).
    pub count: u32,
}

/// The best chain changed: one notice per change, however deep the reorg.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TipChange {
    /// The highest height at which the old and new best chains agree.
    pub fork_height: u32,
    /// Hashes that left the best chain, highest first.
    pub disconnected: Vec<BlockHash>,
    /// Hashes that joined the best chain, in height order.
    pub connected: Vec<BlockHash>,
    /// The new tip's height.
    pub tip_height: u32,
    /// The new tip's hash.
    pub tip: BlockHash,
    /// The new tip's cumulative work.
    pub tip_work: Work,
}

/// A notice for the application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A connection is up; the handshake starts.
    PeerConnected {
        /// The connection.
        peer: PeerId,
        /// The remote address.
        addr: SocketAddr,
        /// Who opened it.
        direction: Direction,
    },
    /// The handshake completed: version and verack went both ways.
    PeerNegotiated {
        /// The connection.
        peer: PeerId,
        /// The remote address.
        addr: SocketAddr,
        /// Who opened it.
        direction: Direction,
        /// The protocol version the peer announced.
        version: u32,
        /// The peer's user agent, as sent (untrusted text).
        user_agent: String,
        /// The services the peer announced.
        services: ServiceFlags,
        /// The best height the peer claimed (a hint, not a fact).
        start_height: i32,
        /// The transport the connection speaks: v1, or v2 with its handshake done.
        transport: crate::transport::TransportProtocol,
    },
    /// A connection ended.
    PeerDisconnected {
        /// The connection.
        peer: PeerId,
        /// The remote address.
        addr: SocketAddr,
        /// Why.
        reason: DisconnectReason,
    },
    /// A dial failed; the address will be tried again after `retry_in`.
    ConnectFailed {
        /// The address.
        addr: SocketAddr,
        /// What the driver reported.
        error: String,
        /// The backoff before the next attempt.
        retry_in: Duration,
    },
    /// A pong answered our ping.
    PingMeasured {
        /// The connection.
        peer: PeerId,
        /// The remote address.
        addr: SocketAddr,
        /// The round trip.
        rtt: Duration,
    },
    /// The best chain changed.
    TipChanged(TipChange),
    /// Header sync made progress.
    SyncProgress {
        /// Our best height.
        height: u32,
        /// The best height the sync peer is known or claimed to have.
        peer_height: u32,
        /// Headers accepted per second over the last report interval.
        headers_per_sec: u32,
    },
    /// A headers presync is downloading a peer's chain for the first time, to measure its work
    /// before anything is stored (Core's "Pre-synchronizing blockheaders" line).
    PresyncProgress {
        /// The connection.
        peer: PeerId,
        /// The remote address.
        addr: SocketAddr,
        /// Height of the last header received in the first download.
        height: u32,
        /// Where the chain's tip probably is, from that header's age at 10 minutes a block
        /// (Core's estimate): `height / estimated_height` is the progress.
        estimated_height: u32,
    },
    /// A peer's chain was refused: it ended with less work than the anti-DoS threshold, so it
    /// is not stored (Core's "Ignoring low-work chain"). Reported once per peer and chain.
    LowWorkChain {
        /// The connection.
        peer: PeerId,
        /// The remote address.
        addr: SocketAddr,
        /// Height of the last header of the chain the peer showed us.
        height: u32,
        /// That chain's cumulative work.
        work: Work,
        /// The work it needed: max(our tip less 144 blocks, the minimum chain work).
        threshold: Work,
    },
    /// A sync peer ran out of headers to give us: we hold its whole chain.
    Synced {
        /// Our best height.
        height: u32,
        /// Our tip.
        tip: BlockHash,
    },
    /// A peer broke the rules and is being disconnected.
    PeerMisbehaved {
        /// The connection.
        peer: PeerId,
        /// The remote address.
        addr: SocketAddr,
        /// What it did.
        reason: DisconnectReason,
    },
    /// The set of connected peers changed (a handshake completed or a negotiated peer left):
    /// the counts an operator wants to see.
    PeersChanged {
        /// Negotiated outbound peers, every kind.
        outbound: usize,
        /// Negotiated inbound peers.
        inbound: usize,
        /// Addresses in the book's new table.
        book_new: usize,
        /// Addresses in the book's tried table.
        book_tried: usize,
    },
    /// A DNS seed answered.
    SeedResolved {
        /// The name resolved.
        host: String,
        /// Addresses it gave (at most 256 are used).
        found: usize,
        /// Of those, how many the book took.
        added: usize,
    },
    /// DNS seeding is over.
    SeedingFinished {
        /// It ended because enough outbound peers were up before any seed was asked.
        skipped: bool,
        /// Addresses in the book.
        addresses: usize,
    },
    /// The book was still empty a minute after start: the network's fixed seeds were added.
    FixedSeedsAdded {
        /// How many the book took.
        count: usize,
    },
    /// The answer to [`crate::Request::ReportPeers`].
    PeerReport(PeerReport),
    /// After [`crate::Request::Shutdown`]: every connection is closed.
    ShutdownComplete,
}

/// The node's connections at one moment, answering [`crate::Request::ReportPeers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerReport {
    /// The token of the request this answers.
    pub token: u64,
    /// Every open connection that is not closing, by id.
    pub peers: Vec<crate::node::report::PeerSummary>,
    /// The peers kept connected ([`crate::Request::AddPeer`]: `--connect`, `--addnode`, the
    /// RPC's `addnode add`).
    pub added: Vec<SocketAddr>,
}

/// Why the core closes (or saw the close of) a connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisconnectReason {
    /// The byte stream broke the framing rules.
    #[error("bad frame: {0}")]
    Wire(#[from] WireError),
    /// No version/verack exchange within the handshake timeout.
    #[error("handshake timed out after {0:?}")]
    HandshakeTimeout(Duration),
    /// The peer speaks a protocol older than we accept.
    #[error("obsolete protocol version {0} (minimum 31800)")]
    ObsoleteVersion(u32),
    /// The version nonce is one we sent: we dialled ourselves.
    #[error("connected to ourselves")]
    SelfConnection,
    /// An outbound peer does not serve headers.
    #[error("peer lacks required services ({0})")]
    MissingServices(ServiceFlags),
    /// An inbound peer opened with a BIP324 v2 handshake while v2 is off
    /// (`--v2transport=false`). Not an offence: Core retries such a connection with v1.
    #[error("peer opened with a BIP324 v2 handshake and v2 is off (it may retry with v1)")]
    V2Handshake,
    /// The BIP324 handshake or packet stream broke (Core: "V2 transport error", a disconnect
    /// without a score).
    #[error("v2 transport: {0}")]
    V2Transport(crate::transport::V2Error),
    /// Our ping stayed unanswered too long.
    #[error("no pong within {0:?}")]
    PingTimeout(Duration),
    /// A headers message with more than 2000 headers.
    #[error("headers message with {0} headers (limit 2000)")]
    TooManyHeaders(usize),
    /// Headers in one message that do not chain to each other.
    #[error("non-continuous headers sequence")]
    NonContinuousHeaders,
    /// A header that breaks a consensus rule.
    #[error("invalid header {hash}: {error}")]
    InvalidHeader {
        /// The offending header.
        hash: BlockHash,
        /// The rule it breaks.
        error: HeaderError,
    },
    /// A getheaders locator longer than 101 entries.
    #[error("locator with {0} entries (limit 101)")]
    LocatorTooLarge(usize),
    /// Our getheaders went unanswered and another peer can serve.
    #[error("headers request unanswered for {0:?}")]
    SyncStalled(Duration),
    /// The address misbehaved recently and may not connect for now.
    #[error("address discouraged after misbehaving")]
    Discouraged,
    /// We already have as many inbound connections as allowed.
    #[error("too many inbound connections (limit {0})")]
    TooManyInbound(usize),
    /// The user asked for it.
    #[error("requested by the user")]
    Requested,
    /// The node is shutting down.
    #[error("node shutting down")]
    Shutdown,
    /// The driver closed the connection or the socket failed.
    #[error("connection closed: {0}")]
    Closed(String),
    /// An addr or addrv2 message with more than 1000 addresses.
    #[error("addr message with {0} addresses (limit 1000)")]
    TooManyAddresses(usize),
    /// A feeler connection completed its handshake: its test is done.
    #[error("feeler done")]
    FeelerDone,
    /// A seed node answered our getaddr: its job is done.
    #[error("seed node answered")]
    AddrFetchDone,
    /// An automatic outbound peer stayed behind our tip past its time (Core's
    /// `ConsiderEviction`).
    #[error("outbound peer stayed behind our tip")]
    BehindOurTip,
    /// The extra outbound peer of a stale tip is no longer needed.
    #[error("extra outbound peer no longer needed")]
    ExtraOutbound,
    /// Inbound slots were full and this peer was chosen to make room (Core's
    /// `AttemptToEvictConnection`).
    #[error("evicted to make room for another inbound peer")]
    EvictedInbound,
}

impl DisconnectReason {
    /// Whether this is a protocol offence that marks the peer as misbehaving (and, unless it is
    /// a loopback or user-added peer, discourages its address for a day).
    ///
    /// Exactly where Bitcoin Core calls `Misbehaving` (`net_processing.cpp`):
    ///
    /// | offence | here | Core |
    /// |---|---|---|
    /// | more than 2000 headers in one message | [`Self::TooManyHeaders`] | `ProcessMessage`, `NetMsgType::HEADERS`: "headers message size = %u" |
    /// | headers that do not chain to each other | [`Self::NonContinuousHeaders`] | `ProcessHeadersMessage` → `CheckHeadersAreContinuous`: "non-continuous headers sequence" |
    /// | a header with bad proof of work or that breaks a consensus rule | [`Self::InvalidHeader`] (every [`HeaderError`] but time-too-new and a missing parent, [`HeaderError::is_offence`]) | `CheckHeadersPoW` ("header with invalid proof of work"), `MaybePunishNodeForBlock` |
    /// | more than 1000 addresses in one addr or addrv2 message | [`Self::TooManyAddresses`] | `ProcessMessage`, `NetMsgType::ADDR`/`ADDRV2`: "%s message size = %u" |
    ///
    /// Disconnected without a score, as Core does:
    ///
    /// | what | here | Core |
    /// |---|---|---|
    /// | wrong magic, a length over 4,000,000 | [`Self::Wire`] | `V1Transport::readHeader` fails; `CNode::ReceiveMsgBytes` returns false |
    /// | a getheaders locator of more than 101 entries | [`Self::LocatorTooLarge`] | `ProcessMessage`, `NetMsgType::GETHEADERS`: "getheaders locator size %lld > %d, disconnect peer" sets `fDisconnect` |
    /// | a v2 opening on an inbound connection with v2 off | [`Self::V2Handshake`] | (Core with `-v2transport=0` reads it as a bad v1 magic; the peer retries with v1) |
    /// | no garbage terminator, a failed tag, an oversized packet, a v1 peer of another network | [`Self::V2Transport`] | `V2Transport::ReceivedBytes` returns false, "V2 transport error: ..." |
    ///
    /// Neither disconnected nor scored (the stream goes on; see [`crate::wire`]): a bad
    /// checksum, a malformed command, a payload that does not decode.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(
            self,
            DisconnectReason::TooManyHeaders(_)
                | DisconnectReason::NonContinuousHeaders
                | DisconnectReason::InvalidHeader { .. }
                | DisconnectReason::TooManyAddresses(_)
        )
    }
}

impl fmt::Display for PersistChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "persist fork at {} +{} best, +{} side",
            self.fork_height,
            self.rejoined.len() + self.connected.len(),
            self.side.len()
        )
    }
}

/// What a driver hands to the application: the outputs that are not for the sockets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// An [`Output::Event`].
    Event(Event),
    /// An [`Output::Persist`]; the application writes it to its store, in order.
    Persist(PersistChain),
    /// An [`Output::PersistAddrs`]; the application writes it to its store, in order.
    PersistAddrs(crate::addrbook::AddrBookChange),
    /// An [`Output::ServeHeaders`]; the application reads the headers from its store, in order
    /// with the persists, and answers with [`crate::Request::SendHeaders`].
    ServeHeaders(ServeHeaders),
}
