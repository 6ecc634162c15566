//! Test helpers for the node's unit tests: a scripted peer that completes the handshake as
//! an inbound connection and sends messages, and what the node sent, decoded.

use std::net::SocketAddr;

use bitcoin::p2p::address::Address;
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::message_network::VersionMessage;
use bitcoin::p2p::ServiceFlags;

use crate::input::Input;
use crate::node::Node;
use crate::output::Output;
use crate::params::Network;
use crate::peer::{Direction, PeerId};
use crate::time::Time;
use crate::wire::{encode, FrameDecoder};

/// The message an output sends, decoded (`None` for any other output).
pub(crate) fn decoded(output: &Output) -> Option<NetworkMessage> {
    let Output::Send { bytes, .. } = output else {
        return None;
    };
    let mut decoder = FrameDecoder::new(Network::Regtest.params().magic);
    decoder.extend(bytes);
    decoder.next_message().ok().flatten()
}

/// `peer` sends `msg`, in one read.
pub(crate) fn receive(node: &mut Node, now: Time, peer: PeerId, msg: NetworkMessage) {
    let bytes = encode(Network::Regtest.params().magic, msg);
    node.handle(now, Input::Received { peer, bytes });
}

/// Every message the node sent since the last call, decoded, with its receiver.
pub(crate) fn sent(node: &mut Node) -> Vec<(PeerId, NetworkMessage)> {
    let magic = Network::Regtest.params().magic;
    let mut out = Vec::new();
    while let Some(output) = node.poll() {
        if let Output::Send { peer, bytes } = output {
            let mut decoder = FrameDecoder::new(magic);
            decoder.extend(&bytes);
            while let Ok(Some(msg)) = decoder.next_message() {
                out.push((peer, msg));
            }
        }
    }
    out
}

/// Connects `peer` inbound and sends version and verack; the node's answers, decoded.
pub(crate) fn handshake(node: &mut Node, now: Time, peer: PeerId) -> Vec<(PeerId, NetworkMessage)> {
    let magic = Network::Regtest.params().magic;
    let addr: SocketAddr = format!("10.5.0.{}:8333", peer.0).parse().unwrap();
    node.handle(
        now,
        Input::Connected {
            peer,
            addr,
            local_addr: None,
            direction: Direction::Inbound,
        },
    );
    let version = VersionMessage::new(
        ServiceFlags::NETWORK,
        1_700_000_000,
        Address::new(&addr, ServiceFlags::NONE),
        Address::new(&addr, ServiceFlags::NONE),
        peer.0,
        "/attacker:1/".to_string(),
        0,
    );
    let mut bytes = encode(magic, NetworkMessage::Version(version));
    bytes.extend(encode(magic, NetworkMessage::Verack));
    node.handle(now, Input::Received { peer, bytes });
    sent(node)
}
