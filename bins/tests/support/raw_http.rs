//! HTTP/1.1 at the byte level against headway's JSON-RPC and REST server, for tests that
//! misbehave on purpose: a keep-alive connection ([`Conn`]) that sends whatever bytes it is
//! given, reads one response at a time, and can wait to be disconnected; and [`Rpc`], one
//! well-behaved call per connection, for checks in between. Nothing here talks to anything
//! but the address it is given.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

/// How long a test waits for one response before calling the server stuck.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A response head longer than this is not from our server.
const MAX_REPLY_HEAD: usize = 64 * 1024;

/// One response.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The header fields in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (by `Content-Length`; none for 204 and 304).
    pub body: Vec<u8>,
}

impl Reply {
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

/// The `Authorization` value of HTTP basic auth for `user` and `password`.
pub fn basic_auth(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

/// A JSON-RPC 1.0 request body as `bitcoin-cli` sends it (id 1).
pub fn rpc_body(method: &str, params: Value) -> String {
    json!({ "jsonrpc": "1.0", "id": 1, "method": method, "params": params }).to_string()
}

/// A `POST /` request with `body`, logged in with `auth` (an `Authorization` value) if given.
pub fn post_request(auth: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut head = String::from("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if let Some(auth) = auth {
        head.push_str(&format!("Authorization: {auth}\r\n"));
    }
    head.push_str(&format!(
        "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    ));
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A `GET target` request.
pub fn get_request(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
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
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        let mut head_bytes = 0;
        let mut line = String::new();
        let mut read_line = |reader: &mut BufReader<TcpStream>, line: &mut String| {
            line.clear();
            let n = reader.read_line(line)?;
            head_bytes += n;
            if n == 0 {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
            if head_bytes > MAX_REPLY_HEAD {
                return Err(io::Error::new(
                    ErrorKind::InvalidData,
                    "response head too long",
                ));
            }
            Ok(())
        };
        read_line(&mut self.reader, &mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse::<u16>().ok())
            .ok_or_else(|| {
                io::Error::new(ErrorKind::InvalidData, format!("bad status line {line:?}"))
            })?;
        let mut headers = Vec::new();
        loop {
            read_line(&mut self.reader, &mut line)?;
            let field = line.trim_end_matches(['\r', '\n']);
            if field.is_empty() {
                break;
            }
            if let Some((name, value)) = field.split_once(':') {
                headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        let mut reply = Reply {
            status,
            headers,
            body: Vec::new(),
        };
        if status != 204 && status != 304 {
            let length = reply
                .header("content-length")
                .map(|v| v.parse::<usize>())
                .transpose()
                .map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
            match length {
                Some(n) => {
                    reply.body = vec![0; n];
                    self.reader.read_exact(&mut reply.body)?;
                }
                None => {
                    self.reader.read_to_end(&mut reply.body)?;
                }
            }
        }
        Ok(reply)
    }

    /// `POST /` with `body`, then its response.
    pub fn post(&mut self, auth: Option<&str>, body: &[u8]) -> io::Result<Reply> {
        self.send(&post_request(auth, body))?;
        self.read_reply()
    }

    /// `GET target`, then its response.
    pub fn get(&mut self, target: &str) -> io::Result<Reply> {
        self.send(&get_request(target))?;
        self.read_reply()
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

/// headway's JSON-RPC endpoint with a login: one call per connection.
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
    pub fn post(&self, body: &str) -> Reply {
        self.try_post(body)
            .unwrap_or_else(|e| panic!("POST {body} to {}: {e}", self.addr))
    }

    /// Posts `body` (logged in) on a new connection.
    pub fn try_post(&self, body: &str) -> io::Result<Reply> {
        Conn::open(self.addr)?.post(Some(&self.auth), body.as_bytes())
    }

    /// Calls `method` with `params` (JSON-RPC 1.0); the whole response.
    pub fn call(&self, method: &str, params: Value) -> Reply {
        self.post(&rpc_body(method, params))
    }

    /// Calls `method`, which must succeed: the `result` of a 200 answer with a null `error`.
    pub fn result(&self, method: &str, params: Value) -> Value {
        let reply = self.call(method, params);
        let value = reply.json();
        assert_eq!(
            reply.status,
            200,
            "rpc {method}: status {} body {}",
            reply.status,
            reply.text()
        );
        assert!(value["error"].is_null(), "rpc {method}: {value}");
        value["result"].clone()
    }

    /// `GET target` on a new connection; panics if no response came.
    pub fn get(&self, target: &str) -> Reply {
        Conn::open(self.addr)
            .and_then(|mut c| c.get(target))
            .unwrap_or_else(|e| panic!("GET {target} from {}: {e}", self.addr))
    }

    /// The node's best height, if it answers.
    pub fn height(&self) -> Option<u64> {
        let reply = self.try_post(&rpc_body("getblockcount", json!([]))).ok()?;
        (reply.status == 200).then_some(())?;
        serde_json::from_slice::<Value>(&reply.body).ok()?["result"].as_u64()
    }

    /// The node's best block hash, if it answers.
    pub fn best_hash(&self) -> Option<String> {
        let reply = self
            .try_post(&rpc_body("getbestblockhash", json!([])))
            .ok()?;
        (reply.status == 200).then_some(())?;
        let value: Value = serde_json::from_slice(&reply.body).ok()?;
        value["result"].as_str().map(str::to_string)
    }
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
        rpc_body("getblockhash", json!([0])),
        r#"{"jsonrpc":"1.0","id":1,"method":"getblockhash","params":[0]}"#
    );
}
