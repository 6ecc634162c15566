//! The server's threads and their wiring, as in Bitcoin Core's `httpserver.cpp`:
//!
//! - one **IO thread** owns a `mio::Poll` with the listeners, every connection and a `Waker`;
//!   it accepts, reads, parses, writes and enforces every limit and deadline, and never blocks;
//! - a **work queue** (a bounded channel of `work_queue` complete requests) carries requests to
//!   the workers; when it is full the IO thread answers 503 at once, as Core does;
//! - **workers** (`threads` of them) call the [`Handler`], which may block for minutes (the
//!   long-polling `waitfor*` calls), and send each response back to the IO thread over a channel,
//!   waking its poll.
//!
//! Stopping closes the listeners and the idle connections at once, answers what is queued with
//! 503 without calling the handler, lets each worker finish the request it is running, writes
//! those responses, and joins every thread.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};
use tracing::{debug, error, warn};

use super::connection::{Connection, Progress, Settings};
use super::limits::{
    DEFAULT_HTTP_SERVER_TIMEOUT, DEFAULT_HTTP_THREADS, DEFAULT_HTTP_WORKQUEUE,
    DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_CONNECTIONS, DEFAULT_RPC_PORT, MAX_HEADERS_SIZE, READ_CHUNK,
};
use super::parse::Limits;
use super::response::plain;
use super::{Handler, HttpRequest, HttpResponse};

/// The poll token of the waker; listeners take `0..n`, connections the tokens after them.
const WAKER: Token = Token(usize::MAX);

/// A full work queue is logged at most this often; the rejections in between are counted.
/// Ours: Core logs every one, which lets any local process fill the log.
const OVERFLOW_WARNING_INTERVAL: Duration = Duration::from_secs(1);

/// How the HTTP server listens and what it tolerates. [`ServerConfig::default`] gives Bitcoin
/// Core's defaults where Core has one.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listen on each of these addresses (port 0 picks a free port; see
    /// [`HttpServer::local_addrs`]). Default: 127.0.0.1 on [`DEFAULT_RPC_PORT`].
    pub bind: Vec<SocketAddr>,
    /// Worker threads running the handler; at least 1 is used. Default
    /// [`DEFAULT_HTTP_THREADS`].
    pub threads: usize,
    /// Complete requests that may wait for a worker; one more is answered 503. At least 1 is
    /// used. Default [`DEFAULT_HTTP_WORKQUEUE`].
    pub work_queue: usize,
    /// How long a connection may take to deliver a complete request (from when it starts
    /// waiting for one) and to read a response. Default [`DEFAULT_HTTP_SERVER_TIMEOUT`].
    pub timeout: Duration,
    /// The most bytes of a request head; more is answered 431. Default [`MAX_HEADERS_SIZE`].
    pub max_header_bytes: usize,
    /// The most bytes of a request body; more is answered 413 without reading it. Default
    /// [`DEFAULT_MAX_BODY_SIZE`].
    pub max_body_bytes: usize,
    /// Connections open at once; one more is accepted and closed at once. At least 1 is used.
    /// Default [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: usize,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            bind: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_RPC_PORT))],
            threads: DEFAULT_HTTP_THREADS,
            work_queue: DEFAULT_HTTP_WORKQUEUE,
            timeout: DEFAULT_HTTP_SERVER_TIMEOUT,
            max_header_bytes: MAX_HEADERS_SIZE,
            max_body_bytes: DEFAULT_MAX_BODY_SIZE,
            max_connections: DEFAULT_MAX_CONNECTIONS,
        }
    }
}

/// A running HTTP server. [`HttpServer::stop`] (or dropping it) shuts it down and joins its
/// threads.
#[derive(Debug)]
pub struct HttpServer {
    local_addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    waker: Arc<Waker>,
    io_thread: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
}

/// A complete request for a worker, with the connection it came on.
struct Job {
    token: Token,
    request: HttpRequest,
}

impl HttpServer {
    /// Binds every address in `config.bind` (an error, such as a port in use, is returned
    /// here and nothing keeps running), then starts the IO thread and the workers.
    pub fn start(config: ServerConfig, handler: Arc<dyn Handler>) -> io::Result<HttpServer> {
        if config.bind.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the HTTP server needs an address to listen on",
            ));
        }
        let poll = Poll::new()?;
        let mut listeners = Vec::with_capacity(config.bind.len());
        for (i, addr) in config.bind.iter().enumerate() {
            let mut listener = TcpListener::bind(*addr)
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}")))?;
            poll.registry()
                .register(&mut listener, Token(i), Interest::READABLE)?;
            listeners.push(listener);
        }
        let local_addrs = listeners
            .iter()
            .map(TcpListener::local_addr)
            .collect::<io::Result<Vec<_>>>()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let stop = Arc::new(AtomicBool::new(false));
        // Core clamps both to at least 1: no worker, or no room in the queue, answers nothing.
        let (job_tx, job_rx) = crossbeam_channel::bounded::<Job>(config.work_queue.max(1));
        let (done_tx, done_rx) = crossbeam_channel::unbounded::<(Token, HttpResponse)>();

        let mut workers = Vec::with_capacity(config.threads.max(1));
        for i in 0..config.threads.max(1) {
            let worker = Worker {
                jobs: job_rx.clone(),
                done: done_tx.clone(),
                waker: Arc::clone(&waker),
                handler: Arc::clone(&handler),
                stop: Arc::clone(&stop),
            };
            // On an error the workers started so far end when `job_tx` is dropped.
            workers.push(
                thread::Builder::new()
                    .name(format!("http-worker-{i}"))
                    .spawn(move || worker.run())?,
            );
        }
        let first_connection = listeners.len();
        let io_loop = IoLoop {
            poll,
            listeners,
            first_connection,
            next_token: first_connection,
            connections: HashMap::new(),
            jobs: job_tx,
            done: done_rx,
            settings: Settings {
                limits: Limits {
                    max_header_bytes: config.max_header_bytes,
                    max_body_bytes: config.max_body_bytes,
                },
                timeout: config.timeout,
            },
            max_connections: config.max_connections.max(1),
            stop: Arc::clone(&stop),
            stopping: false,
            scratch: vec![0; READ_CHUNK],
            overflow: OverflowLog::default(),
        };
        let io_thread = thread::Builder::new()
            .name("http-io".to_string())
            .spawn(move || io_loop.run());
        let io_thread = match io_thread {
            Ok(handle) => handle,
            Err(e) => {
                // The loop (and with it the job sender) is gone, so the workers end.
                for worker in workers {
                    let _ = worker.join();
                }
                return Err(e);
            }
        };
        debug!(addresses = ?local_addrs, "HTTP server listening");
        Ok(HttpServer {
            local_addrs,
            stop,
            waker,
            io_thread: Some(io_thread),
            workers,
        })
    }

    /// The addresses listened on (with the ports chosen, where port 0 was asked for).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.local_addrs.clone()
    }

    /// Closes the listeners and idle connections, lets each worker finish (and answer) the
    /// request it is running, and joins every thread. A handler that blocks keeps this waiting:
    /// long-polling handlers must end their waits when the node shuts down.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let Some(io_thread) = self.io_thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::Release);
        if let Err(e) = self.waker.wake() {
            error!(error = %e, "cannot wake the HTTP server's IO thread");
        }
        if io_thread.join().is_err() {
            error!("the HTTP server's IO thread panicked");
        }
        for worker in self.workers.drain(..) {
            if worker.join().is_err() {
                error!("an HTTP worker thread panicked");
            }
        }
        debug!(addresses = ?self.local_addrs, "HTTP server stopped");
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// One worker thread: takes requests off the queue until the IO thread drops its end.
struct Worker {
    jobs: Receiver<Job>,
    done: Sender<(Token, HttpResponse)>,
    waker: Arc<Waker>,
    handler: Arc<dyn Handler>,
    stop: Arc<AtomicBool>,
}

impl Worker {
    fn run(self) {
        for Job { token, request } in self.jobs.iter() {
            let response = if self.stop.load(Ordering::Acquire) {
                // Queued before the stop: answered, but not started.
                plain(503, "server is shutting down")
            } else {
                let peer = request.peer;
                // A handler's bug costs its request a 500, not the server a worker.
                panic::catch_unwind(AssertUnwindSafe(|| self.handler.handle(request)))
                    .unwrap_or_else(|_| {
                        error!(%peer, "HTTP handler panicked");
                        plain(500, "internal error")
                    })
            };
            if self.done.send((token, response)).is_err() {
                return; // the IO thread is gone
            }
            if let Err(e) = self.waker.wake() {
                error!(error = %e, "cannot wake the HTTP server's IO thread");
            }
        }
    }
}

/// Rate-limits the queue-overflow warning.
#[derive(Debug, Default)]
struct OverflowLog {
    last: Option<Instant>,
    suppressed: u64,
}

impl OverflowLog {
    fn rejected(&mut self, now: Instant) {
        if self
            .last
            .is_some_and(|last| now.duration_since(last) < OVERFLOW_WARNING_INTERVAL)
        {
            self.suppressed += 1;
            return;
        }
        self.last = Some(now);
        let also = std::mem::take(&mut self.suppressed);
        warn!(
            also_rejected = also,
            "request rejected because http work queue depth exceeded, it can be increased with \
             the --rpc-work-queue= setting"
        );
    }
}

/// The IO thread's state.
struct IoLoop {
    poll: Poll,
    listeners: Vec<TcpListener>,
    /// The first token that is a connection's (the number of listeners).
    first_connection: usize,
    next_token: usize,
    connections: HashMap<Token, Connection>,
    jobs: Sender<Job>,
    done: Receiver<(Token, HttpResponse)>,
    settings: Settings,
    max_connections: usize,
    stop: Arc<AtomicBool>,
    stopping: bool,
    scratch: Vec<u8>,
    overflow: OverflowLog,
}

impl IoLoop {
    fn run(mut self) {
        let mut events = Events::with_capacity(256);
        loop {
            if !self.stopping && self.stop.load(Ordering::Acquire) {
                self.begin_stop();
            }
            if self.stopping && self.connections.is_empty() {
                return;
            }
            let timeout = self
                .next_deadline()
                .map(|deadline| deadline.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                error!(error = %e, "HTTP server poll failed; closing every connection");
                return;
            }
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    WAKER => {} // responses are collected below, woken or not
                    Token(i) if i < self.first_connection => self.accept(i, now),
                    token => self.drive(token, now),
                }
            }
            while let Ok((token, response)) = self.done.try_recv() {
                if let Some(connection) = self.connections.get_mut(&token) {
                    connection.respond(response, now, &self.settings);
                    self.drive(token, now);
                }
            }
            self.expire(now);
        }
    }

    /// Accepts every pending connection on listener `i`.
    fn accept(&mut self, i: usize, now: Instant) {
        loop {
            let Some(listener) = self.listeners.get(i) else {
                return; // closed by the stop
            };
            match listener.accept() {
                Ok((stream, peer)) => {
                    if self.connections.len() >= self.max_connections && !self.evict_idle() {
                        // Every connection is busy with a request: closing at once keeps the
                        // listen backlog moving; the client sees its connection end rather
                        // than hang.
                        debug!(%peer, limit = self.max_connections, "too many HTTP connections; closing");
                        continue;
                    }
                    // One write per response: no reason to let Nagle hold back the last segment.
                    let _ = stream.set_nodelay(true);
                    let token = self.new_token();
                    let mut connection = Connection::new(stream, peer, now, &self.settings);
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    if let Err(e) =
                        self.poll
                            .registry()
                            .register(connection.stream_mut(), token, interest)
                    {
                        debug!(%peer, error = %e, "cannot register an HTTP connection");
                        continue;
                    }
                    self.connections.insert(token, connection);
                    self.drive(token, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::Interrupted
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) => {}
                Err(e) => {
                    // Out of file descriptors, most likely: what is pending waits for the next
                    // connection's event.
                    warn!(error = %e, "cannot accept an HTTP connection");
                    return;
                }
            }
        }
    }

    fn new_token(&mut self) -> Token {
        loop {
            let token = Token(self.next_token);
            self.next_token = self.next_token.wrapping_add(1);
            if self.next_token < self.first_connection || self.next_token == WAKER.0 {
                self.next_token = self.first_connection;
            }
            if !self.connections.contains_key(&token) {
                return token;
            }
        }
    }

    /// Moves connection `token` on as far as it goes, dispatching its request if one completes.
    fn drive(&mut self, token: Token, now: Instant) {
        let Some(connection) = self.connections.get_mut(&token) else {
            return;
        };
        let why = loop {
            match connection.drive(now, &mut self.scratch, &self.settings) {
                Progress::Open => return,
                Progress::Close(why) => break why,
                Progress::Dispatch(request) => {
                    debug!(
                        peer = %request.peer,
                        method = %request.method,
                        target = %request.target,
                        "HTTP request"
                    );
                    let refusal = match self.jobs.try_send(Job { token, request }) {
                        Ok(()) => return,
                        Err(TrySendError::Full(_)) => {
                            self.overflow.rejected(now);
                            plain(503, "Work queue depth exceeded")
                        }
                        Err(TrySendError::Disconnected(_)) => plain(500, "no worker"),
                    };
                    connection.respond(refusal, now, &self.settings);
                }
            }
        };
        debug!(peer = %connection.peer(), why, "closing HTTP connection");
        self.close(token);
    }

    /// At the connection cap, closes the connection that has waited longest with nothing of a
    /// request received, so that idle sockets held open cannot lock real clients out until
    /// they time out; `false` if every connection is busy.
    fn evict_idle(&mut self) -> bool {
        let victim = self
            .connections
            .iter()
            .filter_map(|(token, c)| c.idle_deadline().map(|d| (d, *token)))
            .min();
        match victim {
            Some((_, token)) => {
                if let Some(c) = self.connections.get(&token) {
                    debug!(peer = %c.peer(), "connection cap reached: closing the longest idle connection");
                }
                self.close(token);
                true
            }
            None => false,
        }
    }

    fn close(&mut self, token: Token) {
        if let Some(mut connection) = self.connections.remove(&token) {
            // Closing the socket removes it from the poll anyway; this just says so.
            let _ = self.poll.registry().deregister(connection.stream_mut());
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.connections
            .values()
            .filter_map(Connection::deadline)
            .min()
    }

    /// Closes every connection whose deadline has passed.
    fn expire(&mut self, now: Instant) {
        let expired: Vec<Token> = self
            .connections
            .iter()
            .filter(|(_, c)| c.deadline().is_some_and(|d| d <= now))
            .map(|(token, _)| *token)
            .collect();
        for token in expired {
            if let Some(connection) = self.connections.get(&token) {
                debug!(peer = %connection.peer(), "closing HTTP connection: timed out");
            }
            self.close(token);
        }
    }

    fn begin_stop(&mut self) {
        self.stopping = true;
        for mut listener in self.listeners.drain(..) {
            let _ = self.poll.registry().deregister(&mut listener);
        }
        let idle: Vec<Token> = self
            .connections
            .iter_mut()
            .filter_map(|(token, c)| c.begin_stop().then_some(*token))
            .collect();
        for token in idle {
            self.close(token);
        }
    }
}
