//! Framing: turns a peer's byte stream into messages and messages into frames.
//!
//! The 24-byte header (magic, command, length, checksum) is parsed here, not by `bitcoin`,
//! because its slice decoder checks no magic, enforces no size limit and allocates before it
//! notices a lying length field (DESIGN.md).

use bitcoin::p2p::message::NetworkMessage;
use bitcoin::p2p::Magic;

/// Largest payload a peer may declare (Core's `MAX_PROTOCOL_MESSAGE_LENGTH`).
pub const MAX_MESSAGE_LENGTH: usize = 4_000_000;

/// Bytes in a frame header: magic 4, command 12, length 4, checksum 4.
pub const FRAME_HEADER_LEN: usize = 24;

/// Why a byte stream cannot be read further. Every variant ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The frame starts with another network's magic (or garbage).
    #[error("wrong magic {0:02x?}")]
    BadMagic([u8; 4]),
    /// The declared payload length is over the limit; nothing was buffered for it.
    #[error("declared payload length {0} over the limit of 4000000")]
    Oversize(u32),
    /// The payload does not match the checksum in the header.
    #[error("checksum mismatch in `{0}`")]
    BadChecksum(String),
    /// The command field is not printable ASCII padded with zeros.
    #[error("malformed command field")]
    BadCommand,
    /// The payload of a known command does not decode.
    #[error("cannot decode `{command}`: {error}")]
    Decode {
        /// The command whose payload failed.
        command: String,
        /// What the decoder said.
        error: String,
    },
}

/// Reassembles frames from one peer's byte stream.
///
/// Holds at most one partial frame: never more than `FRAME_HEADER_LEN + MAX_MESSAGE_LENGTH`
/// bytes plus the last chunk handed to [`FrameDecoder::extend`].
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    magic: Magic,
    buf: Vec<u8>,
}

impl FrameDecoder {
    /// A decoder for frames of the network with `magic`.
    pub fn new(magic: Magic) -> FrameDecoder {
        FrameDecoder { magic, buf: Vec::new() }
    }

    /// Appends bytes read from the socket.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes held and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole message, `Ok(None)` if more bytes are needed. Messages with unknown
    /// commands come back as [`NetworkMessage::Unknown`]. After an error the stream is
    /// unusable and the connection must end.
    pub fn next_message(&mut self) -> Result<Option<NetworkMessage>, WireError> {
        let _ = self.magic;
        todo!("wire helper implements this")
    }
}

/// Encodes `msg` as one frame for the network with `magic`.
pub fn encode(magic: Magic, msg: NetworkMessage) -> Vec<u8> {
    let _ = (magic, msg);
    todo!("wire helper implements this")
}
