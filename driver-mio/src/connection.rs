//! One connection as the socket thread holds it: the socket, where the dial stands, the bytes
//! still to write, and whether reading is paused for back-pressure; and the read/write work on
//! it when it is ready. (A SOCKS5 handshake in progress is `proxy`'s.)

use std::io::{self, Read};
use std::net::SocketAddr;
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::Instant;

use headway_core::{Direction, Input, PeerId};
use mio::net::TcpStream;
use mio::{Interest, Token};
use tracing::debug;

use crate::backlog::CoreBacklog;
use crate::core_loop::CoreMessage;
use crate::outbox::{Flushed, Outbox};
use crate::proxy::ProxyHandshake;

/// Where a connection stands.
#[derive(Debug)]
pub(crate) enum ConnectionState {
    /// Our dial is in progress (to the proxy, if there is one); it fails if not complete by
    /// `deadline`.
    Dialling {
        deadline: Instant,
        /// The name the proxy is to connect to, if the core gave one.
        host: Option<String>,
    },
    /// The TCP connection to the proxy is up and the SOCKS5 handshake for `addr` is under way;
    /// the core does not know this connection yet.
    Handshaking(Box<ProxyHandshake>),
    /// Connected, and the core knows it.
    Open,
}

/// One socket and what we hold for it.
pub(crate) struct Connection {
    pub(crate) peer: PeerId,
    /// The peer's address (behind a proxy: the target, not the proxy).
    pub(crate) addr: SocketAddr,
    pub(crate) direction: Direction,
    pub(crate) stream: TcpStream,
    pub(crate) state: ConnectionState,
    pub(crate) outbox: Outbox,
    /// Reading stopped because the outbox is over the cap; the socket is registered for
    /// writability only.
    pub(crate) reading_paused: bool,
}

/// Why a connection ends, as the core will be told.
pub(crate) struct Ended {
    pub(crate) error: Option<String>,
}

impl From<io::Error> for Ended {
    fn from(error: io::Error) -> Ended {
        Ended {
            error: Some(error.to_string()),
        }
    }
}

/// The socket thread's read side, shared by all connections: one buffer, the channel to the
/// core and the count of bytes the core has not handled yet.
pub(crate) struct Reader {
    pub(crate) buf: Vec<u8>,
    pub(crate) to_core: Sender<CoreMessage>,
    pub(crate) backlog: Arc<CoreBacklog>,
}

/// Whether a connection may hold unread bytes that no readiness event will announce again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadState {
    /// Nothing to catch up on: we read until `WouldBlock`, or we will get an event.
    UpToDate,
    /// We stopped reading because the core's backlog is full; read again once it is not.
    Deferred,
}

impl Connection {
    /// Writes (if `writable`) and reads (if `readable` and not paused) this open connection,
    /// pausing or resuming reads as the outbox crosses `cap` (pause) or `cap / 2` (resume).
    ///
    /// An `Err` means the connection is over: end of file, or a socket error.
    pub(crate) fn service(
        &mut self,
        registry: &mio::Registry,
        token: Token,
        mut readable: bool,
        writable: bool,
        cap: usize,
        reader: &mut Reader,
    ) -> Result<ReadState, Ended> {
        if writable && !self.outbox.is_empty() {
            // On `WouldBlock` the next writable edge continues the flush.
            let _: Flushed = self.outbox.flush_to(&mut self.stream)?;
        }
        let queued = self.outbox.len();
        if !self.reading_paused && queued > cap {
            self.reading_paused = true;
            registry.reregister(&mut self.stream, token, Interest::WRITABLE)?;
            debug!(peer = %self.peer, addr = %self.addr, queued, "peer not reading; reads paused");
        } else if self.reading_paused && queued <= cap / 2 {
            self.reading_paused = false;
            registry.reregister(
                &mut self.stream,
                token,
                Interest::READABLE | Interest::WRITABLE,
            )?;
            debug!(peer = %self.peer, addr = %self.addr, queued, "reads resumed");
            // The readable edge may have come and gone while we were not listening for it.
            readable = true;
        }
        if readable && !self.reading_paused {
            return self.read_until_blocked(reader);
        }
        Ok(ReadState::UpToDate)
    }

    /// Reads until the socket would block or the core's backlog is full, handing each chunk
    /// to the core as it comes.
    fn read_until_blocked(&mut self, reader: &mut Reader) -> Result<ReadState, Ended> {
        loop {
            if reader.backlog.is_full() {
                debug!(peer = %self.peer, addr = %self.addr, "core busy; read deferred");
                return Ok(ReadState::Deferred);
            }
            match self.stream.read(&mut reader.buf) {
                Ok(0) => return Err(Ended { error: None }),
                Ok(n) => {
                    let bytes = reader.buf.get(..n).unwrap_or_default().to_vec();
                    // Counted before sending, so the core's decrement never comes first.
                    reader.backlog.add(n);
                    let input = Input::Received {
                        peer: self.peer,
                        bytes,
                    };
                    if reader.to_core.send(CoreMessage::Input(input)).is_err() {
                        // The core is gone; `Stop` is on its way.
                        return Ok(ReadState::UpToDate);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadState::UpToDate),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => return Err(error.into()),
            }
        }
    }
}

/// Turns off Nagle's algorithm, so that small messages (pong, getheaders) leave at once.
pub(crate) fn set_nodelay(stream: &TcpStream, peer: PeerId, addr: SocketAddr) {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(peer = %peer, %addr, %error, "cannot set TCP_NODELAY");
    }
}
