//! A plain HTTP/1.1 client for headway's JSON-RPC and REST server, over std `TcpStream`s, for
//! tests that check what a library client would hide (statuses, header fields such as
//! `WWW-Authenticate`, the exact bytes, how long an answer took) and for tests that misbehave
//! on purpose:
//!
//! - [`request`], [`get`], [`rpc_post`] and [`rpc_result`]: one request per connection
//!   (`Connection: close`), timed from just before the connect;
//! - [`Conn`]: a keep-alive connection that sends whatever bytes it is given, reads one
//!   response at a time, and can wait to be disconnected ([`Conn::closed_within`]);
//! - [`Rpc`]: the JSON-RPC endpoint with a login, one well-behaved call per connection, for
//!   checks in between.
//!
//! Every response is read by [`read_response`]: its body by `Content-Length`, de-chunked if
//! chunked, none for 204 and 304, else up to the end of the stream. Nothing here talks to
//! anything but the address it is given.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::bcoin::base64;
use super::headway::{wait_for, HeadwayProcess};

/// How long a test waits for one response before calling the server stuck.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A response head (or a chunk-size line, or a chunked body's trailer) longer than this is
/// not from our server.
const MAX_HEAD: usize = 64 * 1024;

/// A response as it came off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was chunked (none for 204 and 304).
    pub body: Vec<u8>,
    /// Until the last byte was read: for [`request`] from just before the connect, for
    /// [`Conn::post`] and [`Conn::get`] from just before the request was sent, for
    /// [`Conn::read_response`] from its call.
    pub elapsed: Duration,
}

impl Response {
    /// The first header field named `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; panics with the body if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.text()))
    }
}

/// Reads one response from `reader`, timed from `started`. A stream that ends before a status
/// line is `UnexpectedEof`.
pub fn read_response(reader: &mut impl BufRead, started: Instant) -> io::Result<Response> {
    let mut budget = MAX_HEAD;
    let mut line = String::new();
    read_line(reader, &mut line, &mut budget)?;
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid(format!("bad status line {line:?}")))?;
    let headers = read_fields(reader, &mut line, &mut budget)?;
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
        elapsed: Duration::ZERO,
    };
    if status != 204 && status != 304 {
        let chunked = response
            .header("transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let length = response
            .header("content-length")
            .map(|v| {
                v.parse::<usize>()
                    .map_err(|e| invalid(format!("bad Content-Length {v:?}: {e}")))
            })
            .transpose()?;
        response.body = match (chunked, length) {
            (true, _) => read_chunked(reader, &mut line)?,
            (false, Some(n)) => {
                let mut body = vec![0; n];
                reader.read_exact(&mut body)?;
                body
            }
            (false, None) => {
                let mut body = Vec::new();
                reader.read_to_end(&mut body)?;
                body
            }
        };
    }
    response.elapsed = started.elapsed();
    Ok(response)
}

/// Reads one line into `line`, without its line end, counting its bytes against `budget`.
fn read_line(reader: &mut impl BufRead, line: &mut String, budget: &mut usize) -> io::Result<()> {
    line.clear();
    let n = reader.read_line(line)?;
    if n == 0 {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    *budget = budget
        .checked_sub(n)
        .ok_or_else(|| invalid("response head too long"))?;
    line.truncate(line.trim_end_matches(['\r', '\n']).len());
    Ok(())
}

/// Reads header (or trailer) fields up to the empty line that ends them.
fn read_fields(
    reader: &mut impl BufRead,
    line: &mut String,
    budget: &mut usize,
) -> io::Result<Vec<(String, String)>> {
    let mut fields = Vec::new();
    loop {
        read_line(reader, line, budget)?;
        if line.is_empty() {
            return Ok(fields);
        }
        if let Some((name, value)) = line.split_once(':') {
            fields.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
}

/// Reads a chunked body, trailer included.
fn read_chunked(reader: &mut impl BufRead, line: &mut String) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_HEAD;
        read_line(reader, line, &mut budget)?;
        let size = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size, 16)
            .map_err(|e| invalid(format!("bad chunk size {size:?}: {e}")))?;
        if size == 0 {
            read_fields(reader, line, &mut budget)?;
            return Ok(body);
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        read_line(reader, line, &mut budget)?;
        if !line.is_empty() {
            return Err(invalid(format!("{line:?} after a chunk")));
        }
    }
}

fn invalid(what: impl Into<String>) -> io::Error {
    io::Error::new(ErrorKind::InvalidData, what.into())
}

/// The `Authorization` value of HTTP basic auth for `user` and `password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// A JSON-RPC 1.0 request body as `bitcoin-cli` sends it (id 1).
pub fn rpc_body(method: &str, params: Value) -> String {
    json!({ "jsonrpc": "1.0", "id": 1, "method": method, "params": params }).to_string()
}

/// A request's bytes: the request line, `fields` in order, the empty line, and `body`.
fn encode_request(method: &str, target: &str, fields: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in fields {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A keep-alive `POST /` request with `body`, logged in with `auth` (an `Authorization`
/// value) if given.
pub fn post_request(auth: Option<&str>, body: &[u8]) -> Vec<u8> {
    let length = body.len().to_string();
    let mut fields = vec![("Host", "127.0.0.1")];
    if let Some(auth) = auth {
        fields.push(("Authorization", auth));
    }
    fields.extend([
        ("Content-Type", "application/json"),
        ("Content-Length", length.as_str()),
    ]);
    encode_request("POST", "/", &fields, body)
}

/// A keep-alive `GET target` request.
pub fn get_request(target: &str) -> Vec<u8> {
    encode_request("GET", target, &[("Host", "127.0.0.1")], &[])
}

/// Sends one request with `headers` and `body` on a new connection (`Connection: close`) and
/// reads its response; an error describes what failed.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    let started = Instant::now();
    let mut conn = Conn::open(addr).map_err(|e| format!("connect: {e}"))?;
    let host = addr.to_string();
    let length = body.len().to_string();
    let mut fields = vec![
        ("Host", host.as_str()),
        ("Connection", "close"),
        ("Content-Length", length.as_str()),
    ];
    fields.extend_from_slice(headers);
    conn.send(&encode_request(method, target, &fields, body))
        .map_err(|e| format!("send: {e}"))?;
    read_response(&mut conn.reader, started).map_err(|e| format!("read: {e}"))
}

/// `GET target` with [`request`]; panics with the error.
pub fn get(addr: SocketAddr, target: &str) -> Response {
    request(addr, "GET", target, &[], &[]).unwrap_or_else(|e| panic!("GET {target}: {e}"))
}

/// A JSON-RPC 1.0 call of `method` with `params` as Core's `bitcoin-cli` sends it, logged in
/// with `authorization` (an `Authorization` value, or none), with [`request`]; panics if no
/// response came.
pub fn rpc_post(
    addr: SocketAddr,
    authorization: Option<&str>,
    method: &str,
    params: Value,
) -> Response {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = authorization {
        headers.push(("Authorization", auth));
    }
    request(
        addr,
        "POST",
        "/",
        &headers,
        rpc_body(method, params).as_bytes(),
    )
    .unwrap_or_else(|e| panic!("rpc {method}: {e}"))
}

/// [`rpc_post`] that must succeed: the `result` of a 200 answer without an error.
pub fn rpc_result(addr: SocketAddr, authorization: &str, method: &str, params: Value) -> Value {
    success(&rpc_post(addr, Some(authorization), method, params), method)
}

/// The `result` of `response` to `method`, which must be a 200 with a null `error`.
fn success(response: &Response, method: &str) -> Value {
    let value = response.json();
    assert_eq!(
        response.status,
        200,
        "rpc {method}: status {} body {}",
        response.status,
        response.text()
    );
    assert!(value["error"].is_null(), "rpc {method}: {value}");
    value["result"].clone()
}

/// The first address the log of `node` says the RPC server listens on (`RPC server listening
/// addr=...`), waiting up to `timeout` for it.
pub fn rpc_listening(node: &HeadwayProcess, timeout: Duration) -> SocketAddr {
    wait_for(
        timeout,
        "the `RPC server listening` log line",
        || {
            node.log().lines().find_map(|line| {
                let (_, rest) = line.split_once("RPC server listening addr=")?;
                rest.split_whitespace().next()?.parse().ok()
            })
        },
        || node.log(),
    )
}

/// One client connection, kept alive across requests.
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to `addr`; reads time out after [`REPLY_TIMEOUT`].
    pub fn open(addr: SocketAddr) -> io::Result<Conn> {
        let stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
        stream.set_nodelay(true)?;
        Ok(Conn::open_with(stream))
    }

    /// A connection over `stream` (a clone, say, to read on while another thread writes);
    /// reads time out after [`REPLY_TIMEOUT`].
    pub fn open_with(stream: TcpStream) -> Conn {
        let _ = stream.set_read_timeout(Some(REPLY_TIMEOUT));
        Conn {
            reader: BufReader::new(stream),
        }
    }

    /// The socket (to write on, shut down, or change timeouts).
    pub fn stream(&mut self) -> &mut TcpStream {
        self.reader.get_mut()
    }

    /// Writes all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream().write_all(bytes)
    }

    /// Reads one response. A connection the server closed before a status line is
    /// `UnexpectedEof`.
    pub fn read_response(&mut self) -> io::Result<Response> {
        read_response(&mut self.reader, Instant::now())
    }

    /// Sends `request`, then reads its response.
    fn exchange(&mut self, request: &[u8]) -> io::Result<Response> {
        let started = Instant::now();
        self.send(request)?;
        read_response(&mut self.reader, started)
    }

    /// `POST /` with `body`, then its response.
    pub fn post(&mut self, auth: Option<&str>, body: &[u8]) -> io::Result<Response> {
        self.exchange(&post_request(auth, body))
    }

    /// `GET target`, then its response.
    pub fn get(&mut self, target: &str) -> io::Result<Response> {
        self.exchange(&get_request(target))
    }

    /// Reads and drops input until the server closes the connection (end of stream or a
    /// reset): how long that took and how many bytes came (buffered ones included), or `None`
    /// if it was still open after `timeout`.
    pub fn closed_within(&mut self, timeout: Duration) -> Option<(Duration, usize)> {
        let started = Instant::now();
        let mut received = self.reader.buffer().len();
        self.reader.consume(received);
        let mut scratch = [0u8; 16 * 1024];
        loop {
            let left = timeout.checked_sub(started.elapsed())?;
            let _ = self
                .stream()
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.stream().read(&mut scratch) {
                Ok(0) => return Some((started.elapsed(), received)),
                Ok(n) => received += n,
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return Some((started.elapsed(), received)),
            }
        }
    }
}

/// headway's JSON-RPC endpoint with a login: one call per keep-alive connection.
#[derive(Debug, Clone)]
pub struct Rpc {
    /// Where the server listens.
    pub addr: SocketAddr,
    /// The `Authorization` value.
    pub auth: String,
}

impl Rpc {
    /// The endpoint at `addr` with `user` and `password`.
    pub fn new(addr: SocketAddr, user: &str, password: &str) -> Rpc {
        Rpc {
            addr,
            auth: basic_auth(user, password),
        }
    }

    /// Posts `body` (logged in) on a new connection; panics if no response came.
    pub fn post(&self, body: &str) -> Response {
        self.try_post(body)
            .unwrap_or_else(|e| panic!("POST {body} to {}: {e}", self.addr))
    }

    /// Posts `body` (logged in) on a new connection.
    pub fn try_post(&self, body: &str) -> io::Result<Response> {
        Conn::open(self.addr)?.post(Some(&self.auth), body.as_bytes())
    }

    /// Calls `method` with `params` (JSON-RPC 1.0); the whole response.
    pub fn call(&self, method: &str, params: Value) -> Response {
        self.post(&rpc_body(method, params))
    }

    /// Calls `method`, which must succeed: the `result` of a 200 answer with a null `error`.
    pub fn result(&self, method: &str, params: Value) -> Value {
        success(&self.call(method, params), method)
    }

    /// `GET target` on a new connection; panics if no response came.
    pub fn get(&self, target: &str) -> Response {
        Conn::open(self.addr)
            .and_then(|mut c| c.get(target))
            .unwrap_or_else(|e| panic!("GET {target} from {}: {e}", self.addr))
    }

    /// The `result` of `method` without parameters, if a 200 answer came.
    fn try_result(&self, method: &str) -> Option<Value> {
        let response = self.try_post(&rpc_body(method, json!([]))).ok()?;
        (response.status == 200).then_some(())?;
        let mut value: Value = serde_json::from_slice(&response.body).ok()?;
        Some(value["result"].take())
    }

    /// The node's best height, if it answers.
    pub fn height(&self) -> Option<u64> {
        self.try_result("getblockcount")?.as_u64()
    }

    /// The node's best block hash, if it answers.
    pub fn best_hash(&self) -> Option<String> {
        self.try_result("getbestblockhash")?
            .as_str()
            .map(str::to_string)
    }
}

#[test]
fn reads_responses_by_length_chunked_and_without_body() {
    let read = |mut raw: &[u8]| {
        let response = read_response(&mut raw, Instant::now()).unwrap();
        (response, raw.to_vec())
    };
    let (response, rest) = read(
        b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"jsonrpc\"\r\nContent-Length: 2\r\n\r\nabEXTRA",
    );
    assert_eq!(response.status, 401);
    assert_eq!(response.headers[0].1, "Basic realm=\"jsonrpc\"");
    assert_eq!(
        response.header("www-authenticate"),
        Some("Basic realm=\"jsonrpc\"")
    );
    assert_eq!(response.body, b"ab");
    assert_eq!(rest, b"EXTRA", "nothing read past the body");
    let (response, rest) = read(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nNEXT",
    );
    assert_eq!(response.body, b"abcde");
    assert_eq!(
        rest, b"NEXT",
        "the chunked body and its trailer read to the end"
    );
    let (response, rest) = read(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n");
    assert_eq!((response.status, response.body.len()), (204, 0));
    assert_eq!(rest, b"HTTP/1.1 200 OK\r\n", "204 has no body");
    let (response, _) = read(b"HTTP/1.1 200 OK\r\n\r\nto the end");
    assert_eq!(response.body, b"to the end");
    let mut cut = &b"HTTP/1.1 200 OK\r\nContent-"[..];
    let error = read_response(&mut cut, Instant::now()).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::UnexpectedEof);
}

#[test]
fn builds_requests_and_logins_as_clients_do() {
    assert_eq!(
        basic_auth("Aladdin", "open sesame"),
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
    let request = String::from_utf8(post_request(Some("Basic x"), b"{}")).unwrap();
    assert!(request.starts_with("POST / HTTP/1.1\r\n"), "{request}");
    assert!(
        request.ends_with("Content-Length: 2\r\n\r\n{}"),
        "{request}"
    );
    assert_eq!(
        post_request(Some("Basic x"), b"{}"),
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Basic x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    );
    assert_eq!(
        get_request("/rest/chaininfo.json"),
        b"GET /rest/chaininfo.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    );
    assert_eq!(
        rpc_body("getblockhash", json!([0])),
        r#"{"jsonrpc":"1.0","id":1,"method":"getblockhash","params":[0]}"#
    );
}
