//! One BIP324 (v2) connection: the handshake (keys, garbage and its terminator, decoys, the
//! version packet) and then the packet stream, on top of the `bip324` crate's sans-IO
//! [`Handshake`] and [`CipherSession`] (ChaCha20-Poly1305 with the BIP's rekeying every 224
//! packets, done inside the crate's ciphers).
//!
//! The crate's handshake is a chain of typestates, some of which borrow the garbage (ours, or
//! the peer's in the receive buffer) for the authenticated data of the first packet, so they
//! cannot be kept in a connection between two reads. Every step that must wait for bytes
//! therefore keeps only owned data: before the peer's key, our secret key and garbage; while
//! looking for the peer's garbage terminator, the crate's `Handshake<SentVersion>`, which owns
//! everything; after the terminator, the byte count that the next step needs, and the chain
//! is replayed from our secret (it is deterministic: the ElligatorSwift encoding uses no
//! randomness of its own) once those bytes are there. A replay costs one ECDH and happens
//! only when a whole new packet has arrived, at most [`HANDSHAKE_PACKET_LIMIT`] times.
//!
//! Limits, each from Bitcoin Core's `V2Transport` (`net.cpp`) unless it says otherwise:
//!
//! | what | limit | on breach |
//! |---|---|---|
//! | garbage before the terminator | [`MAX_GARBAGE_LEN`] (BIP324) | [`V2Error::NoGarbageTerminator`] (`ProcessReceivedGarbageBytes`) |
//! | contents of one packet | [`MAX_CONTENTS_LEN`] | [`V2Error::Oversize`] (`ProcessReceivedPacketBytes`, "packet too large") |
//! | a packet that fails its tag | – | [`V2Error::Authentication`] or, for the first packet, [`V2Error::HandshakeAuthentication`] ("packet decryption failure") |
//! | packets before the version packet | [`HANDSHAKE_PACKET_LIMIT`], [`HANDSHAKE_BYTES_LIMIT`] (ours) | [`V2Error::HandshakeTooLarge`] |
//! | a v1 `version` header with another network's magic (inbound) | – | [`V2Error::WrongNetworkV1`] (`ProcessReceivedKeyBytes`) |
//!
//! A peer that stops halfway is dropped by the node's handshake timeout, which runs until
//! version/verack completes over the finished transport.

use std::fmt;

use bip324::{
    CipherSession, GarbageResult, Handshake, Initialized, PacketType, ReceivedGarbage, ReceivedKey,
    Role, SentKey, SentVersion, VersionResult,
};
use bitcoin::p2p::message::NetworkMessage;
use bitcoin::secp256k1::Secp256k1;

use self::secrets::FixedKey;
pub use self::secrets::V2Secrets;
use super::message_id;
use crate::wire::{Frame, ReceiveBuffer, COMMAND_LEN, FRAME_HEADER_LEN, MAX_MESSAGE_LENGTH};

/// Most garbage a peer may send before its terminator (BIP324; Core's `MAX_GARBAGE_LEN`).
pub const MAX_GARBAGE_LEN: usize = 4095;

/// Bytes of the ElligatorSwift-encoded public key that opens each side's handshake.
pub const KEY_LEN: usize = 64;

/// Bytes of a garbage terminator.
pub const GARBAGE_TERMINATOR_LEN: usize = 16;

/// Bytes of the encrypted length that starts every packet.
const LENGTH_LEN: usize = 3;

/// What a packet adds to its contents: length 3, header byte 1, tag 16 (Core's
/// `BIP324Cipher::EXPANSION`).
pub const PACKET_EXPANSION: usize = LENGTH_LEN + 1 + 16;

/// Largest contents of one packet: the long-form type and the largest message (Core's
/// `MAX_CONTENTS_LEN` in `ProcessReceivedPacketBytes`).
pub const MAX_CONTENTS_LEN: usize = 1 + COMMAND_LEN + MAX_MESSAGE_LENGTH;

/// Most packets (decoys, then the version packet) we read before the handshake is done.
/// The BIP sets no number and Core none but its timeout; no implementation sends decoys
/// there today, and each packet beyond the first costs us a replay of the handshake, so the
/// bound is ours.
pub const HANDSHAKE_PACKET_LIMIT: usize = 16;

/// Most contents bytes, over all packets up to the version packet (ours, as above).
pub const HANDSHAKE_BYTES_LIMIT: usize = 64 * 1024;

/// Why a v2 stream cannot go on. Every one ends the connection; none is misbehaviour (Core
/// disconnects without a score on each).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum V2Error {
    /// More than [`MAX_GARBAGE_LEN`] bytes came after the peer's key without its terminator.
    #[error("no garbage terminator within 4095 bytes of garbage")]
    NoGarbageTerminator,
    /// The first packet (a decoy or the version packet) failed authentication: the garbage
    /// or the packet was altered on the way.
    #[error("handshake packet failed authentication (garbage or version packet altered)")]
    HandshakeAuthentication,
    /// A packet after the first failed authentication.
    #[error("packet failed authentication")]
    Authentication,
    /// A packet declared contents over [`MAX_CONTENTS_LEN`]; nothing was buffered for it.
    #[error("packet of {0} bytes over the limit of 4000013")]
    Oversize(usize),
    /// Too many packets, or too many bytes, before the version packet.
    #[error("more than {HANDSHAKE_PACKET_LIMIT} packets or {HANDSHAKE_BYTES_LIMIT} bytes before the version packet")]
    HandshakeTooLarge,
    /// An inbound peer opened with a v1 `version` header of another network.
    #[error("v1 version message with another network's magic {0:02x?}")]
    WrongNetworkV1([u8; 4]),
    /// The peer we dialled answered our key with a v1 message.
    #[error("the peer answered our v2 key in v1")]
    V1Reply,
    /// The crate refused a step (cannot happen with well-formed local state).
    #[error("BIP324 handshake failed: {0}")]
    Cipher(String),
}

impl From<bip324::Error> for V2Error {
    fn from(error: bip324::Error) -> V2Error {
        match error {
            bip324::Error::NoGarbageTerminator => V2Error::NoGarbageTerminator,
            bip324::Error::V1Protocol => V2Error::V1Reply,
            other => V2Error::Cipher(other.to_string()),
        }
    }
}

/// Where the handshake stands.
enum Stage {
    /// Our key and garbage are sent; the peer's 64-byte key is awaited.
    AwaitKey,
    /// Our terminator and version packet are sent; the peer's terminator is looked for.
    AwaitTerminator {
        handshake: Box<Handshake<SentVersion>>,
        their_key: [u8; KEY_LEN],
    },
    /// The terminator was found; the next packet up to the version packet ends at `need`
    /// bytes of the receive buffer.
    AwaitVersion {
        their_key: [u8; KEY_LEN],
        need: usize,
    },
    /// The handshake is done: packets flow.
    Ready {
        cipher: Box<CipherSession>,
        /// The decrypted length of the packet being received (its length bytes are consumed).
        pending_len: Option<usize>,
    },
    /// The stream broke; every later read returns this.
    Failed(V2Error),
}

/// What reading the packets after the terminator gave.
enum VersionRead {
    /// The version packet authenticated: the session and the bytes it took.
    Done { cipher: CipherSession, used: usize },
    /// The next packet ends at this many bytes of the buffer.
    Incomplete { need: usize },
}

/// One v2 connection, either side.
pub struct V2Session {
    magic: [u8; 4],
    role: Role,
    secrets: V2Secrets,
    stage: Stage,
    /// Received bytes after the peer's key (the peer's key itself until it is whole).
    input: ReceiveBuffer,
    /// Bytes to send, not yet taken by [`Self::take_outgoing`].
    output: Vec<u8>,
    /// Contents of messages sent before the cipher was ready, in order.
    queued: Vec<Vec<u8>>,
    /// Bytes handed out to send so far, and bytes received so far (Core's
    /// `ShouldReconnectV1` looks at both).
    sent: usize,
    received: usize,
}

impl fmt::Debug for V2Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stage = match &self.stage {
            Stage::AwaitKey => "await-key",
            Stage::AwaitTerminator { .. } => "await-terminator",
            Stage::AwaitVersion { .. } => "await-version",
            Stage::Ready { .. } => "ready",
            Stage::Failed(_) => "failed",
        };
        f.debug_struct("V2Session")
            .field("role", &self.role)
            .field("stage", &stage)
            .field("buffered", &self.input.pending().len())
            .finish()
    }
}

impl V2Session {
    /// The side that dialled: our key and garbage are ready to send at once.
    pub fn initiator(magic: [u8; 4], secrets: V2Secrets) -> V2Session {
        V2Session::start(magic, Role::Initiator, secrets)
    }

    /// The side that accepted, once the first bytes showed a v2 opening: our key and garbage
    /// are ready to send, and `received` (the peer's first bytes) is taken in.
    pub fn responder(magic: [u8; 4], secrets: V2Secrets, received: &[u8]) -> V2Session {
        let mut session = V2Session::start(magic, Role::Responder, secrets);
        session.receive(received);
        session
    }

    fn start(magic: [u8; 4], role: Role, secrets: V2Secrets) -> V2Session {
        let mut session = V2Session {
            magic,
            role,
            secrets,
            stage: Stage::AwaitKey,
            input: ReceiveBuffer::default(),
            output: Vec::new(),
            queued: Vec::new(),
            sent: 0,
            received: 0,
        };
        match session.opening() {
            Ok(bytes) => session.output = bytes,
            Err(error) => session.stage = Stage::Failed(error),
        }
        session
    }

    /// The handshake from our secret key up to our key and garbage, which it writes to a
    /// new buffer. Deterministic: every call gives the same bytes and the same state.
    fn key_sent(&self) -> Result<(Handshake<SentKey<'_>>, Vec<u8>), V2Error> {
        let curve = Secp256k1::signing_only();
        let handshake = Handshake::<Initialized>::new_with_rng(
            self.magic,
            self.role,
            &mut FixedKey(self.secrets.key),
            &curve,
        )?;
        let garbage = Some(self.secrets.garbage.as_slice());
        let mut bytes = vec![0u8; Handshake::<Initialized>::send_key_len(garbage)];
        let handshake = handshake.send_key(garbage, &mut bytes)?;
        Ok((handshake, bytes))
    }

    /// Our public key and garbage.
    fn opening(&self) -> Result<Vec<u8>, V2Error> {
        Ok(self.key_sent()?.1)
    }

    /// Runs the handshake from our secret to the point where the peer's garbage is looked
    /// for, returning it with our terminator and version packet.
    fn replay(
        &self,
        their_key: [u8; KEY_LEN],
    ) -> Result<(Handshake<SentVersion>, Vec<u8>), V2Error> {
        let (handshake, _) = self.key_sent()?;
        let handshake = handshake.receive_key(their_key)?;
        let mut version = vec![0u8; Handshake::<ReceivedKey>::send_version_len(None)];
        let handshake = handshake.send_version(&mut version, None)?;
        Ok((handshake, version))
    }

    /// Takes in bytes from the socket and moves the handshake on as far as they allow.
    /// Errors are kept and returned by [`Self::next_frame`].
    pub fn receive(&mut self, bytes: &[u8]) {
        if matches!(self.stage, Stage::Failed(_)) {
            return;
        }
        self.received += bytes.len();
        self.input.extend(bytes);
        if let Err(error) = self.advance() {
            self.fail(error);
        }
    }

    fn fail(&mut self, error: V2Error) {
        self.stage = Stage::Failed(error);
        self.input = ReceiveBuffer::default();
        self.queued = Vec::new();
    }

    /// Moves the handshake on while the buffered bytes allow.
    fn advance(&mut self) -> Result<(), V2Error> {
        loop {
            match std::mem::replace(&mut self.stage, Stage::AwaitKey) {
                Stage::AwaitKey => {
                    let pending = self.input.pending();
                    if self.role == Role::Responder {
                        check_v1_elsewhere(pending)?;
                    }
                    let Some(their_key) = pending.first_chunk::<KEY_LEN>().copied() else {
                        return Ok(());
                    };
                    self.input.consume(KEY_LEN);
                    let (handshake, version) = self.replay(their_key)?;
                    self.output.extend_from_slice(&version);
                    self.stage = Stage::AwaitTerminator {
                        handshake: Box::new(handshake),
                        their_key,
                    };
                }
                Stage::AwaitTerminator {
                    handshake,
                    their_key,
                } => {
                    let input = std::mem::take(&mut self.input);
                    let read = match handshake.receive_garbage(input.pending())? {
                        GarbageResult::NeedMoreData(handshake) => {
                            self.input = input;
                            self.stage = Stage::AwaitTerminator {
                                handshake: Box::new(handshake),
                                their_key,
                            };
                            return Ok(());
                        }
                        GarbageResult::FoundGarbage {
                            handshake,
                            consumed_bytes,
                        } => read_version(handshake, input.pending(), consumed_bytes),
                    };
                    self.input = input;
                    self.after_version_read(read?, their_key);
                }
                Stage::AwaitVersion { their_key, need } => {
                    if self.input.pending().len() < need {
                        self.stage = Stage::AwaitVersion { their_key, need };
                        return Ok(());
                    }
                    let (handshake, _) = self.replay(their_key)?;
                    let input = std::mem::take(&mut self.input);
                    let read = match handshake.receive_garbage(input.pending())? {
                        GarbageResult::FoundGarbage {
                            handshake,
                            consumed_bytes,
                        } => read_version(handshake, input.pending(), consumed_bytes),
                        // The same bytes gave a terminator before: the replay is identical.
                        GarbageResult::NeedMoreData(_) => Err(V2Error::Cipher(
                            "replayed handshake lost the garbage terminator".to_string(),
                        )),
                    };
                    self.input = input;
                    self.after_version_read(read?, their_key);
                }
                stage @ (Stage::Ready { .. } | Stage::Failed(_)) => {
                    self.stage = stage;
                    return Ok(());
                }
            }
        }
    }

    fn after_version_read(&mut self, read: VersionRead, their_key: [u8; KEY_LEN]) {
        match read {
            VersionRead::Incomplete { need } => {
                self.stage = Stage::AwaitVersion { their_key, need };
            }
            VersionRead::Done { cipher, used } => {
                self.input.consume(used);
                let mut cipher = Box::new(cipher);
                for contents in std::mem::take(&mut self.queued) {
                    encrypt_into(&mut cipher, &contents, &mut self.output);
                }
                self.stage = Stage::Ready {
                    cipher,
                    pending_len: None,
                };
            }
        }
    }

    /// The next message, `Ok(None)` until more bytes are needed (and throughout the
    /// handshake). Decoys are skipped; a malformed message type or payload comes back as
    /// [`Frame::Rejected`] and the stream goes on.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, V2Error> {
        loop {
            let step = match &mut self.stage {
                Stage::Failed(error) => return Err(error.clone()),
                Stage::Ready {
                    cipher,
                    pending_len,
                } => read_packet(cipher, pending_len, &mut self.input),
                _ => return Ok(None),
            };
            match step {
                Ok(Packet::Incomplete) => return Ok(None),
                Ok(Packet::Decoy) => continue,
                Ok(Packet::Genuine(frame)) => return Ok(Some(frame)),
                Err(error) => {
                    self.fail(error.clone());
                    return Err(error);
                }
            }
        }
    }

    /// Sends `msg`: encrypted at once once the handshake is done, before that kept and sent
    /// right after it.
    pub fn send(&mut self, msg: &NetworkMessage) {
        let contents = message_id::encode_contents(msg);
        match &mut self.stage {
            Stage::Ready { cipher, .. } => encrypt_into(cipher, &contents, &mut self.output),
            Stage::Failed(_) => {}
            _ => self.queued.push(contents),
        }
    }

    /// The bytes to write to the socket now.
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        let bytes = std::mem::take(&mut self.output);
        self.sent += bytes.len();
        bytes
    }

    /// Whether the handshake completed: the version packet authenticated.
    pub fn is_established(&self) -> bool {
        matches!(self.stage, Stage::Ready { .. })
    }

    /// The session id both sides derived (BIP324), once established.
    pub fn session_id(&self) -> Option<[u8; 32]> {
        match &self.stage {
            Stage::Ready { cipher, .. } => Some(*cipher.id()),
            _ => None,
        }
    }

    /// Whether a dialled peer closing now means it speaks only v1: it has sent nothing, and
    /// we have sent at least a v1 header's worth, so a v1 peer had reason to give up (Core's
    /// `V2Transport::ShouldReconnectV1`); or it opened with our network's magic, as a v1 peer
    /// that speaks first does (bcoin sends its version at once; Core would read it as a key
    /// and never retry).
    pub fn should_reconnect_v1(&self) -> bool {
        let silent = matches!(self.stage, Stage::AwaitKey)
            && self.received == 0
            && self.sent >= FRAME_HEADER_LEN;
        let answered_v1 = matches!(self.stage, Stage::Failed(V2Error::V1Reply));
        self.role == Role::Initiator && (silent || answered_v1)
    }

    /// Bytes held and not yet decoded.
    pub fn buffered(&self) -> usize {
        self.input.pending().len()
    }
}

/// An inbound stream whose bytes 4 to 16 are a v1 `version` header's (the magic already
/// differed, or it would be v1): a v1 peer of another network (Core's
/// `ProcessReceivedKeyBytes` special case).
fn check_v1_elsewhere(pending: &[u8]) -> Result<(), V2Error> {
    const VERSION_COMMAND: &[u8; 12] = b"version\0\0\0\0\0";
    match pending.get(4..16) {
        Some(command) if command == VERSION_COMMAND => {
            let mut magic = [0u8; 4];
            magic.copy_from_slice(pending.get(..4).unwrap_or(&[0; 4]));
            Err(V2Error::WrongNetworkV1(magic))
        }
        _ => Ok(()),
    }
}

/// Reads the packets after the peer's terminator (`at` bytes into `input`) up to its version
/// packet. Decoys are authenticated and dropped; the first packet carries the garbage as
/// authenticated data.
fn read_version(
    mut handshake: Handshake<ReceivedGarbage<'_>>,
    input: &[u8],
    mut at: usize,
) -> Result<VersionRead, V2Error> {
    let mut packets = 0usize;
    let mut contents_total = 0usize;
    loop {
        let Some(length) = input.get(at..at + LENGTH_LEN) else {
            return Ok(VersionRead::Incomplete {
                need: at + LENGTH_LEN,
            });
        };
        let mut length_bytes = [0u8; LENGTH_LEN];
        length_bytes.copy_from_slice(length);
        let len = handshake.decrypt_packet_len(length_bytes)?;
        let contents = len.saturating_sub(PACKET_EXPANSION - LENGTH_LEN);
        if contents > MAX_CONTENTS_LEN {
            return Err(V2Error::Oversize(contents));
        }
        packets += 1;
        contents_total += contents;
        if packets > HANDSHAKE_PACKET_LIMIT || contents_total > HANDSHAKE_BYTES_LIMIT {
            return Err(V2Error::HandshakeTooLarge);
        }
        let end = at + LENGTH_LEN + len;
        let Some(packet) = input.get(at + LENGTH_LEN..end) else {
            return Ok(VersionRead::Incomplete { need: end });
        };
        let mut packet = packet.to_vec();
        match handshake.receive_version(&mut packet) {
            Ok(VersionResult::Complete { cipher }) => {
                return Ok(VersionRead::Done { cipher, used: end })
            }
            Ok(VersionResult::Decoy(next)) => {
                handshake = next;
                at = end;
            }
            Err(_) if packets == 1 => return Err(V2Error::HandshakeAuthentication),
            Err(_) => return Err(V2Error::Authentication),
        }
    }
}

/// One step of reading the packet stream.
enum Packet {
    /// More bytes are needed.
    Incomplete,
    /// A decoy was read and dropped.
    Decoy,
    /// A genuine packet, decoded.
    Genuine(Frame),
}

/// Reads the next packet from `input` once the handshake is done.
fn read_packet(
    cipher: &mut CipherSession,
    pending_len: &mut Option<usize>,
    input: &mut ReceiveBuffer,
) -> Result<Packet, V2Error> {
    let len = match *pending_len {
        Some(len) => len,
        None => {
            let Some(length) = input.pending().first_chunk::<LENGTH_LEN>() else {
                return Ok(Packet::Incomplete);
            };
            // The crate's length counts the header byte and the tag.
            let len = cipher.inbound().decrypt_packet_len(*length);
            let contents = len.saturating_sub(PACKET_EXPANSION - LENGTH_LEN);
            if contents > MAX_CONTENTS_LEN {
                return Err(V2Error::Oversize(contents));
            }
            input.consume(LENGTH_LEN);
            *pending_len = Some(len);
            len
        }
    };
    let Some(packet) = input.pending_mut().get_mut(..len) else {
        return Ok(Packet::Incomplete);
    };
    let packet_type = cipher
        .inbound()
        .decrypt_in_place(packet, None)
        .map_err(|_| V2Error::Authentication)?
        .0;
    *pending_len = None;
    let step = match packet_type {
        PacketType::Decoy => Packet::Decoy,
        // The plaintext is the header byte and the contents; the 16 tag bytes follow.
        PacketType::Genuine => Packet::Genuine(message_id::decode_contents(
            input
                .pending()
                .get(1..len.saturating_sub(16))
                .unwrap_or_default(),
        )),
    };
    input.consume(len);
    Ok(step)
}

/// Appends one genuine packet carrying `contents` to `output`.
fn encrypt_into(cipher: &mut CipherSession, contents: &[u8], output: &mut Vec<u8>) {
    let start = output.len();
    output.resize(start + contents.len() + PACKET_EXPANSION, 0);
    // The buffer is exactly the size the crate asks for, so it cannot fail.
    let _ = cipher.outbound().encrypt(
        contents,
        output.get_mut(start..).unwrap_or_default(),
        PacketType::Genuine,
        None,
    );
}

mod secrets;
#[cfg(test)]
mod tests;
