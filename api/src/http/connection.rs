//! One client connection, as the IO thread sees it: its socket, its input and output buffers,
//! where it is in the request/response cycle, and its deadline.
//!
//! A connection has at most one request in flight. Pipelined bytes behind it stay in the input
//! buffer (and in the kernel, which holds the client back) until the response is written; then
//! the next request is parsed from what is buffered. The buffer holds at most one read beyond
//! what the request being parsed is allowed (the head limit, the declared body length, or one
//! incomplete chunk line), so memory per connection is bounded whatever the client sends.
//!
//! Deadlines: a request must be complete within the server timeout of the moment the connection
//! started waiting for it (accepted, or the previous response written). Unlike libevent, which
//! Core uses, bytes arriving do not extend it: that is what makes a client that trickles a byte
//! at a time (slowloris) harmless. A response must likewise be read within the timeout. While
//! the handler runs there is no deadline.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use tracing::debug;

use super::limits::{LINGER_MAX_BYTES, LINGER_TIMEOUT};
use super::message::{HttpRequest, HttpResponse};
use super::parse::{parse_head, ChunkedDecoder, Framing, Head, Limits, Reject};
use super::response::{self, Delivery};

/// A buffer that grew past this for one large message is freed rather than kept for the next.
const KEEP_BUFFER_CAPACITY: usize = 64 * 1024;

/// What the connections share from the server's configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub limits: Limits,
    pub timeout: Duration,
}

/// What the IO thread does next with a connection.
#[derive(Debug)]
pub(crate) enum Progress {
    /// Nothing until the socket is ready again (or a response arrives).
    Open,
    /// A complete request to hand to a worker; the connection waits for
    /// [`Connection::respond`].
    Dispatch(HttpRequest),
    /// Close it, for this reason (for the log).
    Close(&'static str),
}

/// Where the connection is in the request/response cycle.
#[derive(Debug)]
enum Phase {
    /// Waiting for a request head.
    Head,
    /// Head parsed, waiting for the body (the decoder is used only for chunked bodies).
    Body(Head, ChunkedDecoder),
    /// The request is with a worker.
    InFlight {
        keep_alive: bool,
        http11: bool,
        head_only: bool,
    },
    /// A response is being written; then the next request, or the end.
    Writing { close: bool },
    /// The last response is written and the write side shut; input is read and dropped until
    /// the client closes (see [`LINGER_TIMEOUT`]).
    Lingering,
}

/// One client connection.
#[derive(Debug)]
pub(crate) struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    phase: Phase,
    input: Vec<u8>,
    output: Vec<u8>,
    written: usize,
    deadline: Option<Instant>,
    /// The client shut its write side: answer what is complete, then close.
    read_eof: bool,
    /// The server is stopping: close after the response in flight.
    stopping: bool,
    lingered: usize,
}

impl Connection {
    /// A connection just accepted at `now`, waiting for its first request.
    pub(crate) fn new(
        stream: TcpStream,
        peer: SocketAddr,
        now: Instant,
        settings: &Settings,
    ) -> Connection {
        Connection {
            stream,
            peer,
            phase: Phase::Head,
            input: Vec::new(),
            output: Vec::new(),
            written: 0,
            deadline: now.checked_add(settings.timeout),
            read_eof: false,
            stopping: false,
            lingered: 0,
        }
    }

    /// The client's address.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The socket, to register with the poll.
    pub(crate) fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// When the connection is closed if nothing completes first; `None` while the handler runs
    /// (and for a timeout too large to add to the clock, which never comes).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Since when the connection has sat with nothing of a request received (waiting for a head
    /// with an empty buffer, or lingering after its last response): the eviction order when
    /// the connection cap is reached. `None` while it holds part of a request or a request is
    /// in flight or being answered.
    pub(crate) fn idle_deadline(&self) -> Option<Instant> {
        let idle = match self.phase {
            Phase::Head => self.input.is_empty(),
            Phase::Lingering => true,
            Phase::Body(..) | Phase::InFlight { .. } | Phase::Writing { .. } => false,
        };
        if idle {
            self.deadline
        } else {
            None
        }
    }

    /// The server is stopping: `true` if the connection should close now (nothing in flight),
    /// `false` if it closes after the response to its request in flight.
    pub(crate) fn begin_stop(&mut self) -> bool {
        self.stopping = true;
        !matches!(self.phase, Phase::InFlight { .. } | Phase::Writing { .. })
    }

    /// Reads, parses and writes as far as the socket allows without blocking. Called on every
    /// readiness event and after [`Connection::respond`].
    pub(crate) fn drive(
        &mut self,
        now: Instant,
        scratch: &mut [u8],
        settings: &Settings,
    ) -> Progress {
        loop {
            match self.flush() {
                Ok(true) => {}
                Ok(false) => return Progress::Open,
                Err(_) => return Progress::Close("write failed"),
            }
            match self.phase {
                Phase::InFlight { .. } => return Progress::Open,
                Phase::Lingering => return self.linger(scratch),
                Phase::Writing { close } => {
                    if self.stopping {
                        return Progress::Close("server stopping");
                    }
                    if !close {
                        self.phase = Phase::Head;
                        self.deadline = now.checked_add(settings.timeout);
                    } else if self.read_eof {
                        return Progress::Close("response written");
                    } else {
                        // Errors here mean the client is gone: the reads below will say so.
                        let _ = self.stream.shutdown(Shutdown::Write);
                        self.phase = Phase::Lingering;
                        self.deadline = now.checked_add(LINGER_TIMEOUT.min(settings.timeout));
                    }
                }
                Phase::Head | Phase::Body(..) => {
                    match self.parse(settings.limits) {
                        Ok(Some(request)) => return Progress::Dispatch(request),
                        Ok(None) => {}
                        Err(reject) => {
                            self.refuse(reject, now, settings);
                            continue;
                        }
                    }
                    if self.written < self.output.len() {
                        continue; // a 100 Continue to send before the body comes
                    }
                    if self.read_eof {
                        let idle = matches!(self.phase, Phase::Head) && self.input.is_empty();
                        return Progress::Close(if idle {
                            "closed by client"
                        } else {
                            "closed by client mid-request"
                        });
                    }
                    match self.stream.read(scratch) {
                        Ok(0) => self.read_eof = true,
                        Ok(n) => self.input.extend_from_slice(&scratch[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Open,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return Progress::Close("read failed"),
                    }
                }
            }
        }
    }

    /// The answer to the request in flight (from a worker, or the server's 503); written by the
    /// next [`Connection::drive`].
    pub(crate) fn respond(&mut self, response: HttpResponse, now: Instant, settings: &Settings) {
        let Phase::InFlight {
            keep_alive,
            http11,
            head_only,
        } = self.phase
        else {
            debug!(peer = %self.peer, "dropping a response with no request in flight");
            return;
        };
        let close =
            !keep_alive || self.read_eof || self.stopping || response::asks_close(&response);
        let delivery = Delivery {
            close,
            http10_keep_alive: !http11 && !close,
            head_only,
        };
        response::encode(&response, delivery, &mut self.output);
        self.phase = Phase::Writing { close };
        self.deadline = now.checked_add(settings.timeout);
    }

    /// Parses what is buffered: a complete request (the connection is then in flight), nothing
    /// yet, or a refusal.
    fn parse(&mut self, limits: Limits) -> Result<Option<HttpRequest>, Reject> {
        if let Phase::Head = self.phase {
            let Some((head, length)) = parse_head(&self.input, limits)? else {
                return Ok(None);
            };
            self.input.drain(..length);
            // A client that already started its body did not wait; one that waits hears
            // 100 Continue now, before the body is read (curl waits a second otherwise).
            if head.expect_continue && self.input.is_empty() {
                self.output.extend_from_slice(response::CONTINUE);
            }
            self.phase = Phase::Body(head, ChunkedDecoder::new());
        }
        let Phase::Body(head, decoder) = &mut self.phase else {
            return Ok(None);
        };
        let body = match head.framing {
            Framing::Empty => Vec::new(),
            Framing::Length(n) => {
                if self.input.len() < n {
                    return Ok(None);
                }
                // The body keeps the large allocation; what follows it (pipelined) is copied.
                let rest = self.input.split_off(n);
                std::mem::replace(&mut self.input, rest)
            }
            Framing::Chunked => {
                let used = decoder.feed(&self.input, limits)?;
                self.input.drain(..used);
                if !decoder.is_done() {
                    return Ok(None);
                }
                std::mem::replace(decoder, ChunkedDecoder::new()).into_body()
            }
        };
        if self.input.capacity() > KEEP_BUFFER_CAPACITY && self.input.len() < KEEP_BUFFER_CAPACITY {
            self.input.shrink_to(KEEP_BUFFER_CAPACITY);
        }
        let Phase::Body(head, _) = std::mem::replace(&mut self.phase, Phase::Head) else {
            return Ok(None);
        };
        self.phase = Phase::InFlight {
            keep_alive: head.keep_alive,
            http11: head.http11,
            head_only: head.method == "HEAD",
        };
        self.deadline = None;
        Ok(Some(HttpRequest {
            method: head.method,
            target: head.target,
            headers: head.headers,
            body,
            peer: self.peer,
        }))
    }

    /// Answers a refused request and closes after it; the rest of the input is not read.
    fn refuse(&mut self, reject: Reject, now: Instant, settings: &Settings) {
        debug!(
            peer = %self.peer,
            status = reject.status,
            reason = reject.reason,
            "refusing request"
        );
        self.input = Vec::new();
        let delivery = Delivery {
            close: true,
            http10_keep_alive: false,
            head_only: false,
        };
        let answer = response::plain(reject.status, reject.reason);
        response::encode(&answer, delivery, &mut self.output);
        self.phase = Phase::Writing { close: true };
        self.deadline = now.checked_add(settings.timeout);
    }

    /// Writes what is pending: `Ok(true)` when nothing is left, `Ok(false)` when the socket is
    /// full.
    fn flush(&mut self) -> io::Result<bool> {
        while self.written < self.output.len() {
            match self.stream.write(&self.output[self.written..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.written = 0;
        if self.output.capacity() > KEEP_BUFFER_CAPACITY {
            self.output = Vec::new();
        } else {
            self.output.clear();
        }
        Ok(true)
    }

    /// Reads and drops input until the client closes, or enough has been dropped.
    fn linger(&mut self, scratch: &mut [u8]) -> Progress {
        loop {
            match self.stream.read(scratch) {
                Ok(0) => return Progress::Close("response written"),
                Ok(n) => {
                    self.lingered += n;
                    if self.lingered > LINGER_MAX_BYTES {
                        return Progress::Close("client kept sending after the last response");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Progress::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Progress::Close("response written"),
            }
        }
    }
}
