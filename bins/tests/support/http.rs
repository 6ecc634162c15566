//! A plain HTTP/1.1 client for headway's JSON-RPC and REST server, over a std `TcpStream`:
//! one request per connection (`Connection: close`), the whole response read back with its
//! status, headers, body and how long it took, so that tests can check what a library client
//! would hide (statuses, `WWW-Authenticate`, the exact bytes, the 250 ms after a bad login).
//! Nothing here talks to anything but the address it is given.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::bcoin::base64;
use super::headway::{wait_for, HeadwayProcess};

/// How long one request may take, connect to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A response as it came off the wire.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked if it was chunked.
    pub body: Vec<u8>,
    /// From just before the connect to the last byte read.
    pub elapsed: Duration,
}

impl Response {
    /// The first header named `name` (any case).
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

/// The `Authorization` value for HTTP basic auth.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!("Basic {}", base64(format!("{user}:{password}").as_bytes()))
}

/// Sends one request and reads the whole response; an error describes what failed.
pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    let started = Instant::now();
    let mut stream =
        TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT).map_err(|e| format!("connect: {e}"))?;
    stream
        .set_read_timeout(Some(REQUEST_TIMEOUT))
        .map_err(|e| e.to_string())?;
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    stream.write_all(&bytes).map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .map_err(|e| format!("read: {e}"))?;
    let elapsed = started.elapsed();
    parse_response(&raw).map(|(status, headers, body)| Response {
        status,
        headers,
        body,
        elapsed,
    })
}

type Parsed = (u16, Vec<(String, String)>, Vec<u8>);

fn parse_response(raw: &[u8]) -> Result<Parsed, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no end of header in {:?}", String::from_utf8_lossy(raw)))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| format!("header not UTF-8: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(length) = find("content-length") {
        let length: usize = length
            .parse()
            .map_err(|e| format!("bad Content-Length {length:?}: {e}"))?;
        rest.get(..length)
            .ok_or_else(|| format!("body shorter than its Content-Length {length}"))?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok((status, headers, body))
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("bad chunk header")?;
        let size = std::str::from_utf8(&rest[..line_end]).map_err(|e| e.to_string())?;
        let size = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("bad chunk size {size:?}: {e}"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(rest.get(..size).ok_or("short chunk")?);
        rest = rest.get(size + 2..).ok_or("short chunk trailer")?;
    }
}

/// `GET target`; panics with the error.
pub fn get(addr: SocketAddr, target: &str) -> Response {
    request(addr, "GET", target, &[], &[]).unwrap_or_else(|e| panic!("GET {target}: {e}"))
}

/// A JSON-RPC 1.0 call of `method` with `params` as Core's `bitcoin-cli` sends it, logged in
/// with `authorization` (an `Authorization` value, or none); panics if no response came.
pub fn rpc_post(
    addr: SocketAddr,
    authorization: Option<&str>,
    method: &str,
    params: Value,
) -> Response {
    let body = json!({ "jsonrpc": "1.0", "id": "test", "method": method, "params": params });
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(auth) = authorization {
        headers.push(("Authorization", auth));
    }
    request(addr, "POST", "/", &headers, body.to_string().as_bytes())
        .unwrap_or_else(|e| panic!("rpc {method}: {e}"))
}

/// [`rpc_post`] that must succeed: the `result` of a 200 answer without an error.
pub fn rpc_result(addr: SocketAddr, authorization: &str, method: &str, params: Value) -> Value {
    let response = rpc_post(addr, Some(authorization), method, params);
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

#[test]
fn parses_content_length_and_chunked_responses() {
    let (status, headers, body) =
        parse_response(b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"jsonrpc\"\r\nContent-Length: 2\r\n\r\nabEXTRA")
            .unwrap();
    assert_eq!(status, 401);
    assert_eq!(headers[0].1, "Basic realm=\"jsonrpc\"");
    assert_eq!(body, b"ab");
    let (_, _, body) = parse_response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
    )
    .unwrap();
    assert_eq!(body, b"abcde");
    assert_eq!(
        basic_auth("Aladdin", "open sesame"),
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
}
