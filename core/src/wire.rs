//! Framing: turns a peer's byte stream into messages and messages into frames.
//!
//! The 24-byte header (magic, command, length, checksum) is parsed here, not by `bitcoin`,
//! because its slice decoder checks no magic, enforces no size limit and allocates before it
//! notices a lying length field (DESIGN.md). Only once a whole frame is buffered is it handed to
//! `bitcoin`, which checks the checksum (the one double-SHA256 of the payload we pay for) and
//! decodes the payload by command.
//!
//! What breaks the stream and what only spoils one message follows Bitcoin Core's v1 transport:
//!
//! | what arrived | here | Core |
//! |---|---|---|
//! | another network's magic (or garbage) | [`WireError::BadMagic`]: the stream is dead | `V1Transport::readHeader`, "Wrong MessageStart", returns -1 and `CNode::ReceiveMsgBytes` fails: disconnect |
//! | a declared length over 4,000,000 | [`WireError::Oversize`]: the stream is dead | `V1Transport::readHeader`, "Size too large": disconnect |
//! | a checksum that does not match | [`Frame::Rejected`] ([`Rejected::BadChecksum`]): dropped, the stream goes on | `V1Transport::GetReceivedMessage` sets `reject_message`; `ReceiveMsgBytes` drops the message and keeps the peer |
//! | a command that is not printable ASCII padded with zeros | [`Frame::Rejected`] ([`Rejected::BadCommand`]) | the same function, "Invalid message type" |
//! | a payload its command cannot decode | [`Frame::Rejected`] ([`Rejected::Decode`]) | `PeerManagerImpl::ProcessMessages` catches the exception of `ProcessMessage`, logs it and goes on |
//!
//! None of these is misbehaviour: framing is not content (see
//! [`crate::DisconnectReason::is_misbehaviour`]).

use bitcoin::consensus::encode;
use bitcoin::hashes::Hash as _;
use bitcoin::p2p::message::{NetworkMessage, RawNetworkMessage};
use bitcoin::p2p::Magic;

/// Largest payload a peer may declare (Core's `MAX_PROTOCOL_MESSAGE_LENGTH`).
pub const MAX_MESSAGE_LENGTH: usize = 4_000_000;

/// The command of `headers`, zero padding included: the one message decoded here, not by
/// `bitcoin` (see [`decode_headers`]).
const HEADERS_COMMAND: &[u8; COMMAND_LEN] = b"headers\0\0\0\0\0";
/// Bytes of one entry of a `headers` payload: the 80-byte header and its transaction count,
/// which must be a zero (one byte).
const HEADERS_ENTRY_LEN: usize = 81;

/// Bytes in a frame header: magic 4, command 12, length 4, checksum 4.
pub const FRAME_HEADER_LEN: usize = 24;

/// Bytes of the command field in a frame header.
pub const COMMAND_LEN: usize = 12;

/// Consumed bytes at the front of the buffer are only moved away once there are at least this
/// many of them (and at least as many as live bytes): small messages then cost no copying, and a
/// compaction never copies more than was consumed since the last one.
const COMPACT_THRESHOLD: usize = 64 * 1024;

/// Why a byte stream cannot be read further. Every variant ends the connection, none is
/// misbehaviour (Core's `V1Transport::readHeader` failures).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The frame starts with another network's magic (or garbage).
    #[error("wrong magic {0:02x?}")]
    BadMagic([u8; 4]),
    /// The declared payload length is over the limit; nothing was buffered for it.
    #[error("declared payload length {0} over the limit of 4000000")]
    Oversize(u32),
}

/// Why one whole frame was dropped while the stream goes on (Core's `reject_message`, and
/// its handling of payloads that fail to deserialize).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    /// The payload does not match the checksum in the header.
    #[error("checksum mismatch in `{0}`")]
    BadChecksum(String),
    /// The command field is not printable ASCII padded with zeros (v2: or the contents are
    /// too short to name a message type).
    #[error("malformed command field")]
    BadCommand,
    /// A v2 packet names its message by a short ID that BIP324 does not assign (or that we do
    /// not know), as Core's `V2Transport::GetMessageType` rejects it.
    #[error("unknown v2 short message id {0}")]
    UnknownShortId(u8),
    /// The payload of a known command does not decode.
    #[error("cannot decode `{command}`: {error}")]
    Decode {
        /// The command whose payload failed.
        command: String,
        /// What the decoder said.
        error: String,
    },
}

/// One whole frame taken off the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A message, ready to handle.
    Message(NetworkMessage),
    /// A frame that was dropped; the next one may be fine.
    Rejected(Rejected),
}

/// The fields of a frame header that framing needs, once checked.
#[derive(Debug, Clone, Copy)]
struct FrameHeader {
    /// The command field, zero padding included (not yet checked to be well formed).
    command: [u8; COMMAND_LEN],
    /// The payload length, at most [`MAX_MESSAGE_LENGTH`].
    payload_len: usize,
}

impl FrameHeader {
    /// Checks the magic and the length of a 24-byte header, the two faults that break the
    /// stream; the command and the checksum only spoil this frame and are checked once it is
    /// whole (the payload decoder hashes the payload anyway).
    fn parse(magic: Magic, header: &[u8; FRAME_HEADER_LEN]) -> Result<FrameHeader, WireError> {
        let [m0, m1, m2, m3, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, l0, l1, l2, l3, ..] =
            *header;
        let got_magic = [m0, m1, m2, m3];
        if got_magic != magic.to_bytes() {
            return Err(WireError::BadMagic(got_magic));
        }
        let command = [c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11];
        let declared = u32::from_le_bytes([l0, l1, l2, l3]);
        let payload_len = usize::try_from(declared).map_err(|_| WireError::Oversize(declared))?;
        if payload_len > MAX_MESSAGE_LENGTH {
            return Err(WireError::Oversize(declared));
        }
        Ok(FrameHeader {
            command,
            payload_len,
        })
    }

    /// The command as text, for error messages.
    fn command_name(&self) -> String {
        let end = self
            .command
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(COMMAND_LEN);
        String::from_utf8_lossy(self.command.get(..end).unwrap_or_default()).into_owned()
    }
}

/// Core's rule (`CMessageHeader::IsCommandValid`): printable ASCII, then only zero bytes.
pub(crate) fn command_is_valid(command: &[u8; COMMAND_LEN]) -> bool {
    let text_len = command.iter().position(|&b| b == 0).unwrap_or(COMMAND_LEN);
    let (text, padding) = command.split_at(text_len);
    text.iter().all(|b| (0x20..=0x7e).contains(b)) && padding.iter().all(|&b| b == 0)
}

/// Buffer capacity kept between messages; a larger one (left by a big message) is released.
const RETAIN_CAPACITY: usize = 256 * 1024;

/// The received bytes of one stream not yet taken: what both transports read from.
///
/// Consumed bytes are dropped lazily (`COMPACT_THRESHOLD`), and a buffer left large by one
/// big message is released once it is drained (`RETAIN_CAPACITY`), so an idle peer pins
/// little memory and small messages are never copied twice.
#[derive(Debug, Clone, Default)]
pub struct ReceiveBuffer {
    /// Received bytes; those before `read` are consumed.
    pub(crate) buf: Vec<u8>,
    /// Start of the first byte not yet consumed.
    pub(crate) read: usize,
}

impl ReceiveBuffer {
    /// Appends bytes read from the socket.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(bytes);
    }

    /// The bytes not yet consumed.
    pub fn pending(&self) -> &[u8] {
        self.buf.get(self.read..).unwrap_or_default()
    }

    /// The bytes not yet consumed, writable (v2 decrypts packets in place).
    pub fn pending_mut(&mut self) -> &mut [u8] {
        self.buf.get_mut(self.read..).unwrap_or_default()
    }

    /// Marks the first `n` pending bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.read = (self.read + n).min(self.buf.len());
    }

    /// Drops consumed bytes from the front when that is cheap relative to what was consumed.
    fn compact(&mut self) {
        if self.read == 0 {
            return;
        }
        if self.read == self.buf.len() {
            // One large message must not pin megabytes per idle peer: drop a big allocation.
            if self.buf.capacity() > RETAIN_CAPACITY {
                self.buf = Vec::new();
            } else {
                self.buf.clear();
            }
            self.read = 0;
        } else if self.read >= COMPACT_THRESHOLD && self.read >= self.buf.len() - self.read {
            self.buf.drain(..self.read);
            self.read = 0;
        }
    }
}

/// Reassembles frames from one peer's byte stream.
///
/// Holds at most one partial frame: never more than `FRAME_HEADER_LEN + MAX_MESSAGE_LENGTH`
/// bytes plus the last chunk handed to [`FrameDecoder::extend`], provided the caller drains
/// [`FrameDecoder::next_message`] until `Ok(None)` after every `extend`. A lying length field
/// costs nothing up front: memory grows only with bytes actually received.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    magic: Magic,
    input: ReceiveBuffer,
    /// Set by the first error; from then on the stream is dead.
    failed: Option<WireError>,
}

impl FrameDecoder {
    /// A decoder for frames of the network with `magic`.
    pub fn new(magic: Magic) -> FrameDecoder {
        FrameDecoder {
            magic,
            input: ReceiveBuffer::default(),
            failed: None,
        }
    }

    /// Appends bytes read from the socket. Ignored once the stream has failed.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        self.input.extend(bytes);
    }

    /// Bytes held and not yet decoded (zero once the stream has failed).
    pub fn buffered(&self) -> usize {
        self.input.pending().len()
    }

    /// The error that ended the stream, if one did.
    pub fn error(&self) -> Option<&WireError> {
        self.failed.as_ref()
    }

    /// The bytes received and not yet taken as frames (at most what [`Self::buffered`] says).
    pub fn pending(&self) -> &[u8] {
        self.input.pending()
    }

    /// The next whole message, skipping rejected frames; `Ok(None)` if more bytes are needed.
    /// For callers that do not report drops (test peers); the node uses [`Self::next_frame`].
    pub fn next_message(&mut self) -> Result<Option<NetworkMessage>, WireError> {
        loop {
            match self.next_frame()? {
                Some(Frame::Message(message)) => return Ok(Some(message)),
                Some(Frame::Rejected(_)) => continue,
                None => return Ok(None),
            }
        }
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed. Messages with unknown
    /// commands come back as [`NetworkMessage::Unknown`]; frames with a bad checksum, a bad
    /// command or an undecodable payload as [`Frame::Rejected`], and the stream goes on. After
    /// an error the stream is unusable and the connection must end: every later call returns
    /// the same error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, WireError> {
        if let Some(error) = &self.failed {
            return Err(error.clone());
        }
        match self.decode_next() {
            Ok(message) => Ok(message),
            Err(error) => {
                // Nothing more will be read from this stream: give the memory back now.
                self.input = ReceiveBuffer::default();
                self.failed = Some(error.clone());
                Err(error)
            }
        }
    }

    fn decode_next(&mut self) -> Result<Option<Frame>, WireError> {
        let pending = self.input.pending();
        let Some(header_bytes) = pending.first_chunk::<FRAME_HEADER_LEN>() else {
            return Ok(None);
        };
        let header = FrameHeader::parse(self.magic, header_bytes)?;
        let frame_len = FRAME_HEADER_LEN + header.payload_len;
        let Some(frame) = pending.get(..frame_len) else {
            return Ok(None);
        };
        let frame = match decode_frame(&header, frame) {
            Ok(message) => Frame::Message(message),
            Err(rejected) => Frame::Rejected(rejected),
        };
        self.input.consume(frame_len);
        Ok(Some(frame))
    }
}

/// Decodes one whole frame whose header already passed [`FrameHeader::parse`]. `bitcoin`
/// verifies the checksum before it decodes the payload, so the payload is hashed exactly once
/// and a bad checksum is reported as such whatever the payload holds.
fn decode_frame(header: &FrameHeader, frame: &[u8]) -> Result<NetworkMessage, Rejected> {
    if !command_is_valid(&header.command) {
        return Err(Rejected::BadCommand);
    }
    if header.command == *HEADERS_COMMAND {
        // Nearly every byte of a sync: checked and decoded here, in the order `bitcoin` does
        // (the checksum first), without its per-field reader.
        let (head, payload) = frame.split_at(FRAME_HEADER_LEN.min(frame.len()));
        let checksum = bitcoin::hashes::sha256d::Hash::hash(payload);
        if head.get(20..24) != Some(&checksum.as_byte_array()[..4]) {
            return Err(Rejected::BadChecksum(header.command_name()));
        }
        return decode_headers(payload).map_err(|error| Rejected::Decode {
            command: header.command_name(),
            error: error.to_string(),
        });
    }
    match encode::deserialize::<RawNetworkMessage>(frame) {
        Ok(raw) => Ok(raw.into_payload()),
        Err(encode::Error::InvalidChecksum { .. }) => {
            Err(Rejected::BadChecksum(header.command_name()))
        }
        Err(error) => Err(Rejected::Decode {
            command: header.command_name(),
            error: error.to_string(),
        }),
    }
}

/// Decodes the payload of a message whose type arrived apart from a v1 header (in a BIP324
/// packet, which is authenticated, so it carries no checksum).
///
/// `headers`, nearly all the bytes of a sync, is decoded straight from the payload. Every other
/// message is rare and small: it is wrapped in a v1 frame with a fresh checksum and goes
/// through the same decoder as v1 frames, so both transports accept exactly the same payloads.
pub(crate) fn decode_payload(
    command: &[u8; COMMAND_LEN],
    payload: &[u8],
) -> Result<NetworkMessage, Rejected> {
    if !command_is_valid(command) {
        return Err(Rejected::BadCommand);
    }
    let header = FrameHeader {
        command: *command,
        payload_len: payload.len(),
    };
    if command == HEADERS_COMMAND {
        return decode_headers(payload).map_err(|error| Rejected::Decode {
            command: header.command_name(),
            error: error.to_string(),
        });
    }
    let Ok(len) = u32::try_from(payload.len()) else {
        return Err(Rejected::Decode {
            command: header.command_name(),
            error: "payload over 4 GiB".to_string(),
        });
    };
    let checksum = bitcoin::hashes::sha256d::Hash::hash(payload);
    let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(command);
    frame.extend_from_slice(&len.to_le_bytes());
    frame.extend_from_slice(&checksum.as_byte_array()[..4]);
    frame.extend_from_slice(payload);
    decode_frame(&header, &frame)
}

/// A `headers` payload as `bitcoin` reads it (a count, then each header followed by a zero
/// transaction count), without the frame around it: the same headers and the same verdicts
/// (`decode_headers_agrees_with_bitcoin` below), read as whole 81-byte entries instead of
/// field by field through `bitcoin`'s reader (about 60 ns a header, a tenth of a sync's
/// per-header work on the core's thread, in `perf` of `cargo bench -p headway --bench
/// sync_scale`).
fn decode_headers(payload: &[u8]) -> Result<NetworkMessage, encode::Error> {
    use bitcoin::consensus::Decodable;
    let mut reader = payload;
    let count = encode::VarInt::consensus_decode(&mut reader)?.0;
    // Every header takes 81 bytes: a lying count cannot reserve more than arrived.
    let room = reader.len() / HEADERS_ENTRY_LEN;
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let mut headers = Vec::with_capacity(count.min(room));
    let mut entries = reader.chunks_exact(HEADERS_ENTRY_LEN);
    for _ in 0..count {
        let Some(entry) = entries.next() else {
            return Err(encode::Error::ParseFailed("headers message ends early"));
        };
        let Some((bytes, [txs])) = entry.split_first_chunk::<80>() else {
            return Err(encode::Error::ParseFailed("headers message ends early"));
        };
        if *txs != 0 {
            return Err(encode::Error::ParseFailed(
                "Headers message should not contain transactions",
            ));
        }
        headers.push(crate::chain::header_bytes::decode(bytes));
    }
    if entries.next().is_some() || !entries.remainder().is_empty() {
        return Err(encode::Error::ParseFailed("data not consumed entirely"));
    }
    Ok(NetworkMessage::Headers(headers))
}

/// Encodes `msg` as one frame for the network with `magic`.
///
/// The checksum is computed from the re-encoded payload ([`RawNetworkMessage::new`]), so a
/// message that was decoded leniently still yields a consistent frame.
pub fn encode(magic: Magic, msg: NetworkMessage) -> Vec<u8> {
    if let NetworkMessage::Headers(headers) = &msg {
        if let Some(frame) = encode_headers(magic, headers) {
            return frame;
        }
    }
    encode::serialize(&RawNetworkMessage::new(magic, msg))
}

/// A `headers` frame, nearly every byte a serving node sends, laid out in one pass into a
/// buffer of its exact size, its checksum taken over the finished payload in one call.
/// `bitcoin`'s [`RawNetworkMessage::new`] encodes the payload twice, once field by field into
/// the hash engine (seven small writes a header, each buffered by the engine) and once into
/// the frame; that was about a quarter of the serving node's CPU in `sync_scale`. `None` only
/// for a payload too long for the frame's `u32` length, which no message we send comes near
/// (2000 headers at most; `bitcoin`'s encoder panics there).
fn encode_headers(magic: Magic, headers: &[bitcoin::block::Header]) -> Option<Vec<u8>> {
    let count = encode::VarInt(headers.len() as u64);
    // Each entry is the header and a transaction count of zero.
    let payload_len = count.size() + headers.len() * (crate::chain::header_bytes::HEADER_LEN + 1);
    let length = u32::try_from(payload_len).ok()?;
    let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + payload_len);
    frame.extend_from_slice(&magic.to_bytes());
    frame.extend_from_slice(HEADERS_COMMAND);
    frame.extend_from_slice(&length.to_le_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(&encode::serialize(&count));
    for header in headers {
        frame.extend_from_slice(&crate::chain::header_bytes::encode(header));
        frame.push(0);
    }
    let checksum = bitcoin::hashes::sha256d::Hash::hash(&frame[FRAME_HEADER_LEN..]);
    frame[20..FRAME_HEADER_LEN].copy_from_slice(&checksum.as_byte_array()[..4]);
    Some(frame)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `bitcoin` makes of a `headers` payload, through its whole-frame decoder.
    fn bitcoin_decode(payload: &[u8]) -> Option<NetworkMessage> {
        let mut frame = Vec::new();
        frame.extend_from_slice(&Magic::REGTEST.to_bytes());
        frame.extend_from_slice(HEADERS_COMMAND);
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&bitcoin::hashes::sha256d::Hash::hash(payload)[..4]);
        frame.extend_from_slice(payload);
        encode::deserialize::<RawNetworkMessage>(&frame)
            .ok()
            .map(|raw| raw.into_payload())
    }

    #[test]
    fn encode_headers_agrees_with_bitcoin() {
        for count in [0usize, 1, 2, 252, 253, 2000] {
            let headers: Vec<bitcoin::block::Header> = (0..count as u32)
                .map(|i| bitcoin::block::Header {
                    version: bitcoin::block::Version::from_consensus(0x2000_0000 | i as i32),
                    prev_blockhash: bitcoin::BlockHash::from_byte_array([i as u8; 32]),
                    merkle_root: bitcoin::TxMerkleNode::from_byte_array([!(i as u8); 32]),
                    time: 1_231_006_505 + i,
                    bits: bitcoin::CompactTarget::from_consensus(0x207f_ffff),
                    nonce: i.wrapping_mul(0x9e37_79b9),
                })
                .collect();
            let msg = NetworkMessage::Headers(headers);
            let ours = encode(Magic::REGTEST, msg.clone());
            let theirs = encode::serialize(&RawNetworkMessage::new(Magic::REGTEST, msg.clone()));
            assert_eq!(ours, theirs, "{count} headers");
            let back: RawNetworkMessage = encode::deserialize(&ours).expect("decodes");
            assert_eq!(back.payload(), &msg, "{count} headers round-trip");
        }
    }

    #[test]
    fn decode_headers_agrees_with_bitcoin() {
        let headers: Vec<bitcoin::block::Header> = (0..5u32)
            .map(|i| bitcoin::block::Header {
                version: bitcoin::block::Version::from_consensus(-(i as i32) - 7),
                prev_blockhash: bitcoin::BlockHash::from_byte_array([i as u8 + 1; 32]),
                merkle_root: bitcoin::TxMerkleNode::from_byte_array([0xf0 ^ i as u8; 32]),
                time: 0xfedc_ba98 - i,
                bits: bitcoin::CompactTarget::from_consensus(0x1d00_ffff + i),
                nonce: 0x8000_0001u32.wrapping_mul(i + 1),
            })
            .collect();
        let good = encode::serialize(&NetworkMessage::Headers(headers.clone()));
        let mut cases: Vec<Vec<u8>> = vec![good.clone(), vec![0], vec![], vec![0xfd, 0, 0]];
        for cut in [1, 2, 80, 81, 82, good.len() - 1] {
            cases.push(good[..cut].to_vec());
        }
        let mut trailing = good.clone();
        trailing.push(0);
        cases.push(trailing);
        let mut extra_entry = good.clone();
        extra_entry.extend_from_slice(&good[1..82]);
        cases.push(extra_entry);
        for entry in 0..headers.len() {
            let mut txs = good.clone();
            txs[1 + entry * HEADERS_ENTRY_LEN + 80] = 1;
            cases.push(txs);
        }
        let mut lying = good.clone();
        lying[0] = 6;
        cases.push(lying);
        // A count in three bytes that fits in one: `bitcoin` refuses non-minimal counts.
        let mut wide = vec![0xfd, 5, 0];
        wide.extend_from_slice(&good[1..]);
        cases.push(wide);
        for case in &cases {
            let ours = decode_headers(case).ok();
            assert_eq!(ours, bitcoin_decode(case), "payload {case:02x?}");
        }
        assert_eq!(
            decode_headers(&good).ok(),
            Some(NetworkMessage::Headers(headers))
        );
    }

    #[test]
    fn a_large_message_does_not_pin_its_buffer() {
        let magic = Magic::REGTEST;
        let big = encode(magic, NetworkMessage::Alert(vec![7; 1_000_000]));
        let mut decoder = FrameDecoder::new(magic);
        decoder.extend(&big);
        assert!(matches!(
            decoder.next_message(),
            Ok(Some(NetworkMessage::Alert(_)))
        ));
        decoder.extend(&encode(magic, NetworkMessage::Verack));
        assert!(
            decoder.input.buf.capacity() < RETAIN_CAPACITY,
            "the 1 MB buffer was released"
        );
        assert_eq!(decoder.next_message(), Ok(Some(NetworkMessage::Verack)));
    }

    #[test]
    fn command_rule_follows_core() {
        let mut c = [0u8; COMMAND_LEN];
        assert!(
            command_is_valid(&c),
            "all padding is a valid (empty) command"
        );
        c[..4].copy_from_slice(b"ping");
        assert!(command_is_valid(&c));
        c[6] = b'x';
        assert!(!command_is_valid(&c), "text after padding");
        let mut c = *b"sendaddrv2\0\0";
        assert!(command_is_valid(&c));
        c[0] = 0x7f;
        assert!(!command_is_valid(&c), "DEL is not printable");
        assert!(
            command_is_valid(b"abcdefghijkl"),
            "twelve letters need no padding"
        );
    }

    /// A stream of pings fed so that a partial frame is always pending: 5 bytes first, then
    /// chunks of exactly three frames. Returns the decoder's `read` and buffer length after
    /// each chunk, once every whole frame was taken.
    fn always_partial(frames: usize) -> Vec<(usize, usize)> {
        let magic = Magic::REGTEST;
        let ping = encode(magic, NetworkMessage::Ping(7));
        let stream: Vec<u8> = ping
            .iter()
            .copied()
            .cycle()
            .take(ping.len() * frames)
            .collect();
        let mut decoder = FrameDecoder::new(magic);
        let (head, rest) = stream.split_at(5);
        decoder.extend(head);
        let mut seen = 0;
        let mut states = Vec::new();
        for chunk in rest.chunks(ping.len() * 3) {
            decoder.extend(chunk);
            while let Some(msg) = decoder.next_message().expect("valid stream") {
                assert_eq!(msg, NetworkMessage::Ping(7));
                seen += 1;
            }
            assert!(
                decoder.buffered() > 0 || seen == frames,
                "a partial frame is pending"
            );
            states.push((decoder.input.read, decoder.input.buf.len()));
        }
        assert_eq!(seen, frames);
        states
    }

    #[test]
    fn small_frames_are_not_copied_until_the_compaction_threshold() {
        let states = always_partial(1_500);
        // About 48,000 bytes consumed: under the threshold, nothing was moved (the last
        // chunk ends the stream; look at the one before).
        let (read, len) = states[states.len() - 2];
        assert!(read > 40_000 && read < COMPACT_THRESHOLD, "{read}");
        assert_eq!(len - read, 5, "just the partial frame is live");
        assert!(
            states.windows(2).all(|w| w[1].0 > w[0].0),
            "read only grows"
        );
    }

    #[test]
    fn with_a_frame_always_pending_the_buffer_stays_bounded() {
        let states = always_partial(20_000);
        let largest = states.iter().map(|(_, len)| *len).max().unwrap_or(0);
        assert!(largest <= COMPACT_THRESHOLD + 3 * 32 + 5, "{largest}");
        assert!(
            states.iter().any(|(read, _)| *read < 100),
            "compaction moved the live bytes to the front"
        );
    }

    #[test]
    fn a_large_pending_frame_is_not_moved_while_it_outweighs_what_was_consumed() {
        let magic = Magic::REGTEST;
        let ping = encode(magic, NetworkMessage::Ping(7));
        let big = encode(magic, NetworkMessage::Alert(vec![7; 1_000_000]));
        let mut first: Vec<u8> = ping
            .iter()
            .copied()
            .cycle()
            .take(ping.len() * 3_000)
            .collect();
        first.extend_from_slice(&big[..500_000]);
        let mut decoder = FrameDecoder::new(magic);
        decoder.extend(&first);
        for _ in 0..3_000 {
            assert_eq!(decoder.next_message(), Ok(Some(NetworkMessage::Ping(7))));
        }
        assert_eq!(decoder.next_message(), Ok(None));
        let consumed = decoder.input.read;
        assert!(consumed > COMPACT_THRESHOLD, "{consumed}");
        for chunk in big[500_000..900_000].chunks(10_000) {
            decoder.extend(chunk);
            assert_eq!(decoder.next_message(), Ok(None));
            // Moving 0.5-0.9 MB to drop 96 kB on every read would be quadratic copying.
            assert_eq!(decoder.input.read, consumed, "the pending frame was moved");
        }
    }

    #[test]
    fn a_buffer_below_the_retained_capacity_is_kept_for_reuse() {
        let magic = Magic::REGTEST;
        let mid = encode(magic, NetworkMessage::Alert(vec![7; 200_000]));
        let mut decoder = FrameDecoder::new(magic);
        decoder.extend(&mid);
        assert!(matches!(
            decoder.next_message(),
            Ok(Some(NetworkMessage::Alert(_)))
        ));
        decoder.extend(&encode(magic, NetworkMessage::Verack));
        assert!(
            decoder.input.buf.capacity() >= 200_000,
            "a 200 kB buffer is kept (limit {RETAIN_CAPACITY})"
        );
        assert_eq!(decoder.next_message(), Ok(Some(NetworkMessage::Verack)));
    }

    #[test]
    fn compaction_keeps_live_bytes_and_bounds_the_buffer() {
        let magic = Magic::REGTEST;
        let ping = encode(magic, NetworkMessage::Ping(7));
        let mut decoder = FrameDecoder::new(magic);
        let mut seen = 0u32;
        // Feed frames with a split in the middle so that a partial frame is always pending.
        let stream: Vec<u8> = ping
            .iter()
            .copied()
            .cycle()
            .take(ping.len() * 20_000)
            .collect();
        for chunk in stream.chunks(ping.len() * 3 + 5) {
            decoder.extend(chunk);
            while let Some(msg) = decoder.next_message().expect("valid stream") {
                assert_eq!(msg, NetworkMessage::Ping(7));
                seen += 1;
            }
            assert!(decoder.buffered() < ping.len());
            assert!(decoder.input.buf.len() <= 2 * COMPACT_THRESHOLD + 2 * chunk.len());
        }
        assert_eq!(seen, 20_000);
    }
}
