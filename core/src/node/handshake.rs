//! The version/verack handshake of one peer, in both directions, as Bitcoin Core orders it:
//! the dialler sends version first; whoever receives a version answers with its own (if it has
//! not sent one), then wtxidrelay and sendaddrv2 (70016+) and verack, without waiting for the
//! other side's verack. The peer is negotiated once both versions and both veracks crossed.

use std::net::SocketAddr;

use bitcoin::p2p::address::Address;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::ServiceFlags;

use super::{MIN_PEER_PROTOCOL_VERSION, PROTOCOL_VERSION, WTXID_RELAY_VERSION};
use crate::output::DisconnectReason;
use crate::time::Time;

/// What we learned from the peer's version message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerVersion {
    /// The protocol version it announced.
    pub version: u32,
    /// Its services.
    pub services: ServiceFlags,
    /// Its user agent (untrusted text).
    pub user_agent: String,
    /// The height it claimed.
    pub start_height: i32,
    /// Whether it understands sendheaders.
    pub supports_sendheaders: bool,
}

/// Where one peer's handshake stands.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The nonce of the version we sent, if we sent one.
    pub our_nonce: Option<u64>,
    /// The peer's version, once received.
    pub peer: Option<PeerVersion>,
    /// Whether the peer's verack arrived.
    pub verack_received: bool,
    /// When the handshake must be complete.
    pub deadline: Time,
}

/// What the node must do after the peer's version message.
#[derive(Debug)]
pub enum VersionOutcome {
    /// Send these messages, in order.
    Reply(Vec<NetworkMessage>),
    /// A second version: ignored, as Core does.
    Ignored,
}

impl Handshake {
    /// A handshake that must finish by `deadline`.
    pub fn new(deadline: Time) -> Handshake {
        Handshake {
            our_nonce: None,
            peer: None,
            verack_received: false,
            deadline,
        }
    }

    /// Whether both versions and both veracks crossed.
    pub fn is_complete(&self) -> bool {
        self.peer.is_some() && self.verack_received
    }

    /// Handles the peer's version. `own_nonce` tells whether a nonce is one of ours (a
    /// connection to ourselves); `make_version` builds our version if we still owe one.
    pub fn on_version(
        &mut self,
        msg: &VersionMessage,
        is_own_nonce: impl Fn(u64) -> bool,
        make_version: impl FnOnce() -> VersionMessage,
    ) -> Result<VersionOutcome, DisconnectReason> {
        if self.peer.is_some() {
            return Ok(VersionOutcome::Ignored);
        }
        if msg.version < MIN_PEER_PROTOCOL_VERSION {
            return Err(DisconnectReason::ObsoleteVersion(msg.version));
        }
        if is_own_nonce(msg.nonce) {
            return Err(DisconnectReason::SelfConnection);
        }
        let mut replies = Vec::new();
        if self.our_nonce.is_none() {
            let ours = make_version();
            self.our_nonce = Some(ours.nonce);
            replies.push(NetworkMessage::Version(ours));
        }
        let common = msg.version.min(PROTOCOL_VERSION);
        if common >= WTXID_RELAY_VERSION {
            replies.push(NetworkMessage::WtxidRelay);
            replies.push(NetworkMessage::SendAddrV2);
        }
        replies.push(NetworkMessage::Verack);
        self.peer = Some(PeerVersion {
            version: msg.version,
            services: msg.services,
            user_agent: msg.user_agent.clone(),
            start_height: msg.start_height,
            supports_sendheaders: common >= super::SENDHEADERS_VERSION,
        });
        Ok(VersionOutcome::Reply(replies))
    }
}

/// Builds our version message for a peer at `addr`.
pub fn version_message(
    addr: SocketAddr,
    services: ServiceFlags,
    now: Time,
    nonce: u64,
    user_agent: &str,
    start_height: u32,
) -> VersionMessage {
    let unspecified = SocketAddr::from(([0, 0, 0, 0], 0));
    let mut msg = VersionMessage::new(
        services,
        i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
        Address::new(&addr, ServiceFlags::NONE),
        Address::new(&unspecified, services),
        nonce,
        user_agent.to_string(),
        i32::try_from(start_height).unwrap_or(i32::MAX),
    );
    msg.version = PROTOCOL_VERSION;
    // We relay no transactions: headway is a header node.
    msg.relay = false;
    msg
}

/// Whether a message may arrive between version and verack (Core accepts these feature
/// negotiations there and ignores everything else).
pub fn is_pre_verack_negotiation(msg: &NetworkMessage) -> bool {
    match msg {
        NetworkMessage::WtxidRelay
        | NetworkMessage::SendAddrV2
        | NetworkMessage::SendHeaders
        | NetworkMessage::SendCmpct(_) => true,
        NetworkMessage::Unknown { command, .. } => command.as_ref() == "sendtxrcncl",
        _ => false,
    }
}
