//! Everything that can happen to the core: the one way in.

use std::net::SocketAddr;

use crate::peer::{Direction, PeerId};

/// One thing that happened, handed to [`crate::Node::handle`] with the time it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A connection is up: the driver dialled `addr` (after an [`crate::Output::Connect`]) or
    /// accepted it.
    Connected {
        /// The id the driver gives this connection.
        peer: PeerId,
        /// The remote address.
        addr: SocketAddr,
        /// Our end of it, when the socket could tell (getpeerinfo's `addrbind`).
        local_addr: Option<SocketAddr>,
        /// Who opened it.
        direction: Direction,
    },
    /// A dial asked for with [`crate::Output::Connect`] failed.
    ConnectFailed {
        /// The address that could not be reached.
        addr: SocketAddr,
        /// What the operating system said, for the log.
        error: String,
    },
    /// Bytes arrived from a peer, in order.
    Received {
        /// Who sent them.
        peer: PeerId,
        /// The bytes, exactly as read from the socket.
        bytes: Vec<u8>,
    },
    /// The connection ended (closed by the peer, a socket error, or after a
    /// [`crate::Output::Disconnect`]).
    Disconnected {
        /// The connection that ended.
        peer: PeerId,
        /// What the driver saw, for the log.
        error: Option<String>,
    },
    /// The driver resolved a name the core asked for with [`crate::Output::Resolve`]; an
    /// error or an unknown name is an empty list.
    Resolved {
        /// The name, exactly as asked.
        host: String,
        /// The addresses it resolved to.
        addrs: Vec<std::net::IpAddr>,
    },
    /// Nothing happened but time passed: the driver's timer for
    /// [`crate::Node::next_deadline`] fired.
    Tick,
    /// The user asked for something.
    Request(Request),
}

/// What a user (the binary, an embedding application) can ask of the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// Keep a connection to `addr`: dial it now and redial it after every disconnect or
    /// failed dial, with backoff.
    AddPeer(SocketAddr),
    /// Keep a connection to the peer named `host` at `port`, dialled by that name through the
    /// proxy, which resolves it (a `--connect` or `--addnode` name, or a `.onion` service,
    /// behind `--proxy`: Core's `ConnectNode` hands a name to its name proxy). The node names
    /// the connection by the name's stand-in address
    /// ([`crate::node::named_peers::identity`]) and otherwise treats it as
    /// [`Request::AddPeer`] does. Without a proxy the driver fails every dial of it.
    AddNamedPeer {
        /// The name the proxy is asked to connect to.
        host: String,
        /// The port to ask for.
        port: u16,
    },
    /// Stop keeping a connection to `addr` (Core's `addnode remove`): it is no longer
    /// redialled; an open connection to it stays open, as in Core.
    RemovePeer(SocketAddr),
    /// Dial `addr` once, as a manual connection that is not redialled (Core's
    /// `addnode onetry`); nothing happens if it is connected already.
    ConnectOnce(SocketAddr),
    /// Close a connection.
    Disconnect(PeerId),
    /// Report every open connection and the added peers in an [`crate::Event::PeerReport`]
    /// carrying this token, so the asker can tell its answer from others'.
    ReportPeers(u64),
    /// The answer to an [`crate::Output::ServeHeaders`]: send these headers (read from the
    /// store, at most 2000) to `peer` as one `headers` message, if it is still connected.
    SendHeaders {
        /// The peer that asked.
        peer: PeerId,
        /// The headers, in height order.
        headers: Vec<bitcoin::block::Header>,
    },
    /// Close every connection and stop dialling; the node emits
    /// [`crate::Event::ShutdownComplete`] once nothing is left.
    Shutdown,
}
