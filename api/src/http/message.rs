//! The request a handler receives and the response it returns: complete messages, already
//! bounded by the server's limits, with no connection state.

use std::net::SocketAddr;

/// One complete HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method as sent (`GET`, `POST`, ...), upper case as the client wrote it.
    pub method: String,
    /// The request target as sent: the path and, after `?`, the query.
    pub target: String,
    /// The header fields in order, names in lower case, values with surrounding white space
    /// trimmed.
    pub headers: Vec<(String, String)>,
    /// The body (after any chunked transfer coding is removed).
    pub body: Vec<u8>,
    /// The client's address, for the log.
    pub peer: SocketAddr,
}

impl HttpRequest {
    /// The first header field named `name` (compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The target's path, without the query.
    pub fn path(&self) -> &str {
        match self.target.split_once('?') {
            Some((path, _)) => path,
            None => &self.target,
        }
    }

    /// The target's query (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }
}

/// One HTTP response. The server adds `Content-Length`, `Date` is not sent (Core's libevent
/// sends it; no client depends on it) and `Connection` follows the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header fields beyond `Content-Length` and `Connection`, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with `status`, no extra headers and `body`.
    pub fn new(status: u16, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }

    /// A response whose body has content type `content_type`.
    pub fn with_type(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse::new(status, body).header("Content-Type", content_type)
    }

    /// Adds a header field.
    pub fn header(mut self, name: &str, value: &str) -> HttpResponse {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}
