//! Every limit and default of the HTTP server, each with where its value comes from. Bitcoin
//! Core's come from `src/httpserver.h` and `src/httpserver.cpp`; the others are ours, and say
//! why.

use std::time::Duration;

/// Worker threads serving requests by default. Bitcoin Core: `DEFAULT_HTTP_THREADS` (16,
/// `-rpcthreads`).
pub const DEFAULT_HTTP_THREADS: usize = 16;

/// Complete requests that may wait for a worker by default; one more is answered 503. Bitcoin
/// Core: `DEFAULT_HTTP_WORKQUEUE` (64, `-rpcworkqueue`).
pub const DEFAULT_HTTP_WORKQUEUE: usize = 64;

/// How long a connection may take to deliver a complete request, and a client to read a
/// response, by default. Bitcoin Core: `DEFAULT_HTTP_SERVER_TIMEOUT` (30 s,
/// `-rpcservertimeout`).
pub const DEFAULT_HTTP_SERVER_TIMEOUT: Duration = Duration::from_secs(30);

/// The most bytes of a request head (request line and header fields, with their line ends);
/// more is answered 431. Bitcoin Core: `MAX_HEADERS_SIZE` (8192), given to libevent's
/// `evhttp_set_max_headers_size`.
pub const MAX_HEADERS_SIZE: usize = 8192;

/// The most bytes of a request body by default (after chunked decoding); more is answered 413
/// before the body is read. Ours: Core allows 32 MB (`MAX_SIZE`), but our largest real request
/// is a JSON-RPC batch of small calls, and 1 MiB keeps the worst case of
/// [`DEFAULT_MAX_CONNECTIONS`] buffers in memory small.
pub const DEFAULT_MAX_BODY_SIZE: usize = 1 << 20;

/// Connections open at once by default; one more is accepted and closed at once. Ours: libevent
/// has no such limit, so Core's is the process's file descriptors; a fixed cap keeps a flood of
/// idle sockets from costing a buffer each and from filling the listen backlog.
pub const DEFAULT_MAX_CONNECTIONS: usize = 128;

/// Header fields in one request head; more is answered 431. Ours: `httparse` parses into a
/// fixed array. Real clients send fewer than 20; libevent bounds only the bytes.
pub const MAX_HEADER_FIELDS: usize = 128;

/// The most bytes of one chunk-size line of a chunked body, chunk extensions included; a longer
/// one is answered 400. Ours: the size of a chunk fits in 16 hex digits and nobody sends
/// extensions to an RPC server, so this bounds what is buffered while waiting for a line end.
pub const MAX_CHUNK_LINE: usize = 1024;

/// Bytes asked for per socket read. Ours: a request rarely needs more than one read, and a
/// connection never buffers more than one read beyond the request it is parsing.
pub const READ_CHUNK: usize = 16 * 1024;

/// After the last response on a connection is written and the write side shut, how long input
/// is still read and thrown away before closing. Ours (nginx calls this a lingering close):
/// closing a socket with unread input makes the kernel send a reset, which can destroy the
/// response before the client reads it; a 413 for a body the client is still sending is the
/// common case. Bounded by the server timeout when that is shorter.
pub const LINGER_TIMEOUT: Duration = Duration::from_secs(2);

/// The most bytes read and thrown away during a lingering close. Ours: bounds the work a client
/// that keeps sending can cost after its last response.
pub const LINGER_MAX_BYTES: usize = 4 << 20;

/// The port the server listens on by default, on 127.0.0.1. Bitcoin Core: mainnet's `-rpcport`
/// (8332); the node passes the port of its network.
pub const DEFAULT_RPC_PORT: u16 = 8332;
