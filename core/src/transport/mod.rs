//! The transport of each connection, between the socket's bytes and the messages: v1 (the
//! 24-byte frame headers of [`crate::wire`]) or BIP324 v2 ([`v2`]), and for inbound
//! connections the detection of which one the peer speaks ([`probe()`]), as Bitcoin Core's
//! `V2Transport` does.
//!
//! Why `bip324` 0.11 and not 0.10: 0.10 derives the network magic from rust-bitcoin's
//! `Network` enum, which knows neither a custom signet's magic nor simnet's, and carries its
//! message table as conversions of rust-bitcoin's messages. 0.11 takes the magic as bytes and
//! leaves messages to us; the short-ID table is 33 names copied from the BIP
//! ([`message_id`]), checked against it in tests. We use only the crate's sans-IO handshake
//! and ciphers (no `std` feature: no thread-local generator, no blocking IO): the keys come
//! from the core's [`crate::rng::SecretRng`], so the core stays deterministic.

pub mod message_id;
pub mod probe;
pub mod v2;

use std::fmt;

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::Magic;

pub use probe::{probe, v1_prefix, Probe, V1_PREFIX_LEN};
pub use v2::{V2Error, V2Secrets, V2Session};

use crate::wire::{self, Frame, FrameDecoder, WireError};

/// The protocol a connection speaks, as Core's `getpeerinfo` names it
/// (`TransportTypeAsString`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportProtocol {
    /// Not known yet: an inbound peer's first bytes are awaited, or a v2 handshake is under
    /// way.
    Detecting,
    /// Plain v1 framing.
    V1,
    /// BIP324, handshake done.
    V2,
}

impl TransportProtocol {
    /// Core's name for it: `detecting`, `v1` or `v2`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportProtocol::Detecting => "detecting",
            TransportProtocol::V1 => "v1",
            TransportProtocol::V2 => "v2",
        }
    }
}

impl fmt::Display for TransportProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a connection's byte stream cannot be read further.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// The v1 framing broke.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The v2 handshake or packet stream broke.
    #[error(transparent)]
    V2(#[from] V2Error),
    /// An inbound peer opened with v2 while v2 is off.
    #[error("v2 opening with v2 off")]
    V2Off,
}

/// Where a connection's transport stands.
#[derive(Debug)]
enum State {
    /// Inbound: the first bytes, until [`V1_PREFIX_LEN`] of them decide. `v2` holds the
    /// secrets to answer a v2 opening with, `None` when v2 is off.
    Probing {
        received: Vec<u8>,
        v2: Option<V2Secrets>,
    },
    V1(FrameDecoder),
    V2(Box<V2Session>),
    /// An inbound v2 opening with v2 off.
    Refused,
}

/// One connection's transport: what the node hands received bytes to, takes messages from,
/// and gives messages to send.
#[derive(Debug)]
pub struct Transport {
    magic: Magic,
    state: State,
    /// v1 bytes to send (v2 keeps its own until taken).
    output: Vec<u8>,
    /// Messages sent while an inbound peer's transport is undecided.
    queued: Vec<NetworkMessage>,
}

impl Transport {
    /// An outbound v1 connection.
    pub fn v1(magic: Magic) -> Transport {
        Transport::with_state(magic, State::V1(FrameDecoder::new(magic)))
    }

    /// An outbound v2 connection: our key and garbage are ready to send.
    pub fn v2_initiator(magic: Magic, secrets: V2Secrets) -> Transport {
        let session = V2Session::initiator(magic.to_bytes(), secrets);
        Transport::with_state(magic, State::V2(Box::new(session)))
    }

    /// An inbound connection, its transport judged from its first bytes; a v2 opening is
    /// answered with `v2` or, when that is `None` (v2 off), refused.
    pub fn inbound(magic: Magic, v2: Option<V2Secrets>) -> Transport {
        Transport::with_state(
            magic,
            State::Probing {
                received: Vec::new(),
                v2,
            },
        )
    }

    fn with_state(magic: Magic, state: State) -> Transport {
        Transport {
            magic,
            state,
            output: Vec::new(),
            queued: Vec::new(),
        }
    }

    /// Takes in bytes from the socket. Errors come out of [`Self::next_frame`].
    pub fn receive(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::V1(decoder) => decoder.extend(bytes),
            State::V2(session) => session.receive(bytes),
            State::Refused => {}
            State::Probing { received, v2 } => {
                received.extend_from_slice(bytes);
                match probe(self.magic, received) {
                    Probe::Undecided => {}
                    Probe::V1 => {
                        let mut decoder = FrameDecoder::new(self.magic);
                        decoder.extend(received);
                        self.state = State::V1(decoder);
                        self.flush_queued();
                    }
                    Probe::V2 => match v2.take() {
                        Some(secrets) => {
                            let session =
                                V2Session::responder(self.magic.to_bytes(), secrets, received);
                            self.state = State::V2(Box::new(session));
                            self.flush_queued();
                        }
                        None => self.state = State::Refused,
                    },
                }
            }
        }
    }

    fn flush_queued(&mut self) {
        for msg in std::mem::take(&mut self.queued) {
            self.send(msg);
        }
    }

    /// The next frame, `Ok(None)` when more bytes are needed. After an error the stream is
    /// dead and the connection must end.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, TransportError> {
        match &mut self.state {
            State::V1(decoder) => Ok(decoder.next_frame()?),
            State::V2(session) => Ok(session.next_frame()?),
            State::Probing { .. } => Ok(None),
            State::Refused => Err(TransportError::V2Off),
        }
    }

    /// Sends `msg`; its bytes come out of [`Self::take_outgoing`] (a v2 handshake under way
    /// and an undecided inbound transport keep it until they can).
    pub fn send(&mut self, msg: NetworkMessage) {
        match &mut self.state {
            // A frame goes out as it was encoded: no copy unless bytes are already waiting.
            State::V1(_) if self.output.is_empty() => self.output = wire::encode(self.magic, msg),
            State::V1(_) => self.output.extend(wire::encode(self.magic, msg)),
            State::V2(session) => session.send(&msg),
            State::Probing { .. } => self.queued.push(msg),
            State::Refused => {}
        }
    }

    /// The bytes to write to the socket now.
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        match &mut self.state {
            State::V2(session) => session.take_outgoing(),
            _ => std::mem::take(&mut self.output),
        }
    }

    /// The protocol spoken, as far as it is known.
    pub fn protocol(&self) -> TransportProtocol {
        match &self.state {
            State::V1(_) => TransportProtocol::V1,
            State::V2(session) if session.is_established() => TransportProtocol::V2,
            _ => TransportProtocol::Detecting,
        }
    }

    /// The BIP324 session id, once a v2 handshake is done.
    pub fn session_id(&self) -> Option<[u8; 32]> {
        match &self.state {
            State::V2(session) => session.session_id(),
            _ => None,
        }
    }

    /// Whether this is a v2 attempt (the handshake may be under way or done).
    pub fn is_v2(&self) -> bool {
        matches!(self.state, State::V2(_))
    }

    /// Whether the close of this outbound connection means the peer speaks only v1 and the
    /// address should be dialled again with v1 (Core's `ShouldReconnectV1`).
    pub fn should_reconnect_v1(&self) -> bool {
        match &self.state {
            State::V2(session) => session.should_reconnect_v1(),
            _ => false,
        }
    }

    /// Bytes received and not yet decoded.
    pub fn buffered(&self) -> usize {
        match &self.state {
            State::V1(decoder) => decoder.buffered(),
            State::V2(session) => session.buffered(),
            State::Probing { received, .. } => received.len(),
            State::Refused => 0,
        }
    }
}
