//! A small HTTP/1.1 server for the RPC and REST interfaces, shaped like Bitcoin Core's
//! (`httpserver.cpp`): one thread reads and writes every connection, a bounded work queue
//! hands complete requests to a fixed pool of worker threads, and a full queue is answered
//! with 503 at once, as Core's `-rpcworkqueue` does.
//!
//! [`message`] holds the request and response types the handlers see; [`limits`] every limit
//! and default with its source. The rest is private: `server` (the threads and their wiring),
//! `connection` (one client's buffers, cycle and deadline), `parse` (request framing, checked
//! against the limits) and `response` (responses on the wire).

mod connection;
#[doc(hidden)]
pub mod fuzzing;
pub mod limits;
pub mod message;
mod parse;
mod response;
mod server;

pub use limits::*;
pub use message::{HttpRequest, HttpResponse};
pub use response::reason_phrase;
pub use server::{HttpServer, ServerConfig};

/// What serves the requests: called on a worker thread, may block (the `waitfor*` methods do).
pub trait Handler: Send + Sync + 'static {
    /// Answers one complete request.
    fn handle(&self, request: HttpRequest) -> HttpResponse;
}
