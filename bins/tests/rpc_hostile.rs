//! headway's JSON-RPC and REST server against hostile and broken clients, on the built
//! headway-mio binary syncing from a real peer (bcoin, regtest). It proves that every bad input
//! gets Bitcoin Core's status and error, that none of it crashes the node or stalls its sync,
//! and that the server's limits hold on real sockets:
//!
//! - JSON-RPC: malformed JSON and non-object bodies (-32700), wrong parameter types (-3 with
//!   Core's "Wrong type passed" text), wrong argument counts (-1 with the method's help),
//!   unknown methods (HTTP 404, -32601), unknown hashes (-5), malformed hashes (-8 with
//!   ParseHashV's messages), bad heights (-8 "Block height out of range" or -1 "JSON integer
//!   out of range"), JSON-RPC 2.0 errors inside HTTP 200, a notification's 204, a mixed batch
//!   and an empty one, and GET on `/` (405);
//! - HTTP: a body over the 1 MiB cap is refused with 413 before it is read (and a chunked one
//!   that never ends is cut off, not swallowed), a head over 8192 bytes gets 431, garbage gets
//!   400 (a body and a head exactly at their limits are served);
//! - slow clients, with `--rpc-timeout 1`: half a request, half a body, a client trickling a
//!   byte at a time and an idle keep-alive connection are each closed after about 1 s, and a
//!   client that never reads its large responses (REST headers, count 2000, pipelined) holds up
//!   no one else and is closed too;
//! - REST with `--rest`: Core's statuses and messages for a bad hash, counts 0 and 2001, no or
//!   an unknown extension, negative and huge heights; without `--rest`, 404;
//! - 300 sockets opened at once: at most 128 stay open, and a normal client is answered at
//!   once (at the cap the longest idle connection is closed to make room);
//! - the work queue, with `--rpc-threads 1 --rpc-work-queue 1`: with the worker in a
//!   `waitfornewblock` and the queue holding a second one, a third request gets 503 "Work
//!   queue depth exceeded" at once; one block on bcoin releases both waits; SIGTERM during a
//!   wait answers it and exits 0.
//!
//! Throughout the first test bcoin keeps mining, and afterwards headway's tip is bcoin's: the
//! abuse did not stall the sync. The node then still answers and exits 0 on SIGTERM.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use headway_api::http::{DEFAULT_MAX_BODY_SIZE, DEFAULT_MAX_CONNECTIONS, MAX_HEADERS_SIZE};
use serde_json::{json, Value};
use support::bcoin::{free_port, Bcoin};
use support::headway::{wait_for, HeadwayProcess, HEADWAY_MIO};
use support::load::REGTEST_GENESIS;
use support::raw_http::{get_request, post_request, rpc_body, Conn, Reply, Rpc};

const RPC_USER: &str = "hostile";
const RPC_PASSWORD: &str = "hostile-test-password";
/// Blocks mined before the node starts: more than 2000, so that a REST request for 2000
/// headers gets a full (large) answer.
const INITIAL_BLOCKS: u32 = 2_500;
/// While the abuse runs, bcoin mines this many blocks after every pause, so that the node is
/// syncing the whole time.
const BACKGROUND_CHUNK: u32 = 20;
const BACKGROUND_PAUSE: Duration = Duration::from_millis(100);
/// Blocks mined for the work-queue test (any short chain will do).
const QUEUE_BLOCKS: u32 = 10;
/// The server timeout of the first test's node (`--rpc-timeout`).
const SERVER_TIMEOUT: Duration = Duration::from_secs(1);
const SERVER_TIMEOUT_ARG: &str = "1";
/// A timed-out connection may be closed this much before the timeout by our clock (it is
/// timed from the accept, which we see a little after our connect returns)...
const EARLY_SLACK: Duration = Duration::from_millis(150);
/// ...and at most this much after it (a busy 2-core machine).
const LATE_SLACK: Duration = Duration::from_secs(2);
/// An answer "at once".
const PROMPT: Duration = Duration::from_secs(1);
/// How fast other clients must be answered while one client refuses to read.
const FAST_ANSWER: Duration = Duration::from_millis(500);
/// Clients that ask while one client refuses to read.
const BYSTANDER_CALLS: usize = 20;
/// How long after its deadline the client that never reads is looked at.
const STALL_MARGIN: Duration = Duration::from_millis(500);
/// REST requests pipelined by the client that never reads.
const PIPELINED_LARGE: usize = 40;
/// How many headers each of those asks for (Core's maximum).
const LARGE_COUNT: u32 = 2000;
/// Bytes the client with the endless chunked body offers, and the most the server may take
/// before it stops reading (the cap, its lingering close's 4 MiB, and the kernel's buffers on
/// both sides, which loopback grows to several MiB).
const ENDLESS_BODY_OFFER: usize = 128 << 20;
const ENDLESS_BODY_TAKEN_MAX: usize = 32 << 20;
/// Chunk size of that body.
const BODY_CHUNK: usize = 64 * 1024;
/// Sockets opened at once.
const FLOOD_SOCKETS: usize = 300;
/// Time for the server to accept (and close) the flood.
const FLOOD_SETTLE: Duration = Duration::from_millis(300);
/// Time for a request sent on one connection to reach a worker before the next one is sent.
const DISPATCH_SETTLE: Duration = Duration::from_millis(300);
/// Liveness bounds: a stuck node fails the test instead of hanging it.
const START_WAIT: Duration = Duration::from_secs(60);
const SYNC_WAIT: Duration = Duration::from_secs(120);
const FOLLOW_WAIT: Duration = Duration::from_secs(30);
const EXIT_WAIT: Duration = Duration::from_secs(30);

/// Starts headway-mio on regtest, connected only to `bcoin`, with our login on a free port
/// and `extra` flags, and waits until its RPC answers.
fn start_node(bcoin: &Bcoin, dir: &Path, extra: &[&str]) -> (HeadwayProcess, Rpc) {
    let port = free_port();
    let datadir = dir.join("data");
    let connect = bcoin.p2p_addr().to_string();
    let port_arg = port.to_string();
    let mut args = vec![
        "--network",
        "regtest",
        "--connect",
        &connect,
        "--datadir",
        datadir.to_str().unwrap(),
        "--rpc-port",
        &port_arg,
        "--rpc-user",
        RPC_USER,
        "--rpc-password",
        RPC_PASSWORD,
    ];
    args.extend_from_slice(extra);
    let node = HeadwayProcess::start(HEADWAY_MIO, &args, dir, "headway");
    let rpc = Rpc::new(
        SocketAddr::from(([127, 0, 0, 1], port)),
        RPC_USER,
        RPC_PASSWORD,
    );
    wait_for(
        START_WAIT,
        "headway's RPC to answer",
        || rpc.height(),
        || node.log(),
    );
    (node, rpc)
}

/// Asserts `reply` is `status` with exactly `body` and Core's line end.
fn expect_body(reply: &Reply, status: u16, body: &str, what: &str) {
    assert_eq!(
        (reply.status, reply.text()),
        (status, format!("{body}\n")),
        "{what}"
    );
}

/// Asserts a JSON-RPC 1.0 error reply: `status`, a null result, `code` and `message`.
fn expect_error(reply: &Reply, status: u16, code: i64, message: &str, what: &str) {
    let value = reply.json();
    assert_eq!(reply.status, status, "{what}: {value}");
    assert!(value["result"].is_null(), "{what}: {value}");
    assert_eq!(value["error"]["code"], json!(code), "{what}: {value}");
    assert_eq!(value["error"]["message"], json!(message), "{what}: {value}");
}

/// Asserts a REST error: `status`, `text/plain`, `message` and CRLF.
fn expect_rest(reply: &Reply, status: u16, message: &str, what: &str) {
    assert_eq!(
        (reply.status, reply.text()),
        (status, format!("{message}\r\n")),
        "{what}"
    );
    assert_eq!(reply.header("content-type"), Some("text/plain"), "{what}");
}

/// Core's type error for one argument.
fn wrong_type(position: usize, name: &str, got: &str, expected: &str) -> String {
    format!(
        "    \"Position {position} ({name})\": \"JSON value of type {got} is not of expected type {expected}\""
    )
}

fn rpc_inputs(rpc: &Rpc) {
    // Not JSON at all, or cut short.
    for body in ["", "not json", r#"{"method":"getblockcount""#, "[1,", "{]"] {
        expect_body(
            &rpc.post(body),
            500,
            r#"{"result":null,"error":{"code":-32700,"message":"Parse error"},"id":null}"#,
            &format!("body {body:?}"),
        );
    }
    // JSON, but neither an object nor a batch.
    for body in ["5", "\"getblockcount\"", "null", "true"] {
        expect_body(
            &rpc.post(body),
            500,
            r#"{"result":null,"error":{"code":-32700,"message":"Top-level object parse error"},"id":null}"#,
            &format!("body {body}"),
        );
    }

    // Wrong types: Core's RPCHelpMan lists every mismatch, indented as UniValue writes it.
    expect_error(
        &rpc.call("getblockhash", json!(["x"])),
        500,
        -3,
        &format!(
            "Wrong type passed:\n{{\n{}\n}}",
            wrong_type(1, "height", "string", "number")
        ),
        "getblockhash \"x\"",
    );
    expect_error(
        &rpc.call("getblockheader", json!([1, "yes"])),
        500,
        -3,
        &format!(
            "Wrong type passed:\n{{\n{},\n{}\n}}",
            wrong_type(1, "blockhash", "number", "string"),
            wrong_type(2, "verbose", "string", "bool")
        ),
        "getblockheader 1 \"yes\"",
    );

    // Wrong argument counts: the message is the method's help, as `help <method>` gives it.
    for (method, params) in [
        ("getblockhash", json!([])),
        ("getblockhash", json!([1, 2])),
        ("getblockcount", json!([1])),
        ("getblockheader", json!([])),
    ] {
        let help = rpc.result("help", json!([method]));
        let help = help.as_str().expect("help text");
        assert!(help.starts_with(method), "help {method}: {help}");
        expect_error(
            &rpc.call(method, params.clone()),
            500,
            -1,
            help,
            &format!("{method} {params}"),
        );
    }

    expect_body(
        &rpc.call("nosuchmethod", json!([])),
        404,
        r#"{"result":null,"error":{"code":-32601,"message":"Method not found"},"id":1}"#,
        "unknown method",
    );
    expect_error(
        &rpc.call("getblockheader", json!(["00".repeat(32)])),
        500,
        -5,
        "Block not found",
        "unknown hash",
    );
    let not_hex = "g".repeat(64);
    for (text, message) in [
        (
            "abc".to_string(),
            "hash must be of length 64 (not 3, for 'abc')".to_string(),
        ),
        (
            "0".repeat(65),
            format!(
                "hash must be of length 64 (not 65, for '{}')",
                "0".repeat(65)
            ),
        ),
        (
            not_hex.clone(),
            format!("hash must be hexadecimal string (not '{not_hex}')"),
        ),
    ] {
        expect_error(
            &rpc.call("getblockheader", json!([text])),
            500,
            -8,
            &message,
            &format!("hash {text}"),
        );
    }

    // Heights: -1 and past the tip are out of the chain; what is not a 32-bit integer is out
    // of UniValue's range. Bodies are written out so that the numbers are sent as given.
    for (height, code, message) in [
        ("-1", -8, "Block height out of range"),
        ("2147483647", -8, "Block height out of range"),
        ("2147483648", -1, "JSON integer out of range"),
        ("-2147483649", -1, "JSON integer out of range"),
        ("1e300", -1, "JSON integer out of range"),
        ("1.5", -1, "JSON integer out of range"),
    ] {
        let body = format!(r#"{{"method":"getblockhash","params":[{height}],"id":1}}"#);
        expect_error(
            &rpc.post(&body),
            500,
            code,
            message,
            &format!("height {height}"),
        );
    }

    // JSON-RPC 2.0: errors travel inside HTTP 200; a notification gets 204 and no body.
    expect_body(
        &rpc.post(r#"{"jsonrpc":"2.0","method":"getblockhash","params":[-1],"id":7}"#),
        200,
        r#"{"jsonrpc":"2.0","error":{"code":-8,"message":"Block height out of range"},"id":7}"#,
        "2.0 error",
    );
    expect_body(
        &rpc.post(r#"{"jsonrpc":"2.0","method":"nosuchmethod","id":"x"}"#),
        200,
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":"x"}"#,
        "2.0 unknown method",
    );
    expect_body(
        &rpc.post(r#"{"jsonrpc":"2.0","method":"getblockhash","params":[0],"id":8}"#),
        200,
        &format!(r#"{{"jsonrpc":"2.0","result":"{REGTEST_GENESIS}","id":8}}"#),
        "2.0 result",
    );
    for body in [
        r#"{"jsonrpc":"2.0","method":"getblockcount"}"#,
        r#"{"jsonrpc":"2.0","method":"nosuchmethod"}"#,
    ] {
        let reply = rpc.post(body);
        assert_eq!(
            (reply.status, reply.body.len()),
            (204, 0),
            "notification {body}"
        );
    }

    // A batch: a non-object first (no id to echo yet), a 2.0 success, a 2.0 error, a
    // notification (left out) and a 1.0 error, answered together in one HTTP 200.
    let batch = format!(
        "[5,{},{},{},{}]",
        r#"{"jsonrpc":"2.0","method":"getblockhash","params":[0],"id":1}"#,
        r#"{"jsonrpc":"2.0","method":"nosuchmethod","id":2}"#,
        r#"{"jsonrpc":"2.0","method":"getblockcount"}"#,
        r#"{"method":"getblockhash","params":[-1],"id":3}"#,
    );
    let expected = format!(
        "[{},{},{},{}]",
        r#"{"result":null,"error":{"code":-32600,"message":"Invalid Request object"},"id":null}"#,
        format_args!(r#"{{"jsonrpc":"2.0","result":"{REGTEST_GENESIS}","id":1}}"#),
        r#"{"jsonrpc":"2.0","error":{"code":-32601,"message":"Method not found"},"id":2}"#,
        r#"{"result":null,"error":{"code":-8,"message":"Block height out of range"},"id":3}"#,
    );
    expect_body(&rpc.post(&batch), 200, &expected, "mixed batch");
    expect_body(&rpc.post("[]"), 200, "[]", "empty batch");

    // JSON-RPC is POST only.
    let mut conn = Conn::open(rpc.addr).expect("connect");
    conn.send(
        format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\n\r\n",
            rpc.auth
        )
        .as_bytes(),
    )
    .expect("send");
    let reply = conn.read_reply().expect("GET / answered");
    assert_eq!(
        (reply.status, reply.text().as_str()),
        (405, "JSONRPC server handles only POST requests"),
        "GET /"
    );
    // Core checks the method before the login: no login, no delay, still 405.
    let started = Instant::now();
    let mut conn = Conn::open(rpc.addr).expect("connect");
    conn.send(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("send");
    let reply = conn.read_reply().expect("GET / without a login answered");
    assert_eq!(reply.status, 405, "GET / without a login");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "no login delay"
    );
}

fn http_refusals(rpc: &Rpc) {
    let auth = Some(rpc.auth.as_str());
    // A declared length over the cap is refused from the head alone, at once.
    let mut conn = Conn::open(rpc.addr).expect("connect");
    let started = Instant::now();
    conn.send(
        format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
            rpc.auth,
            DEFAULT_MAX_BODY_SIZE + 1
        )
        .as_bytes(),
    )
    .expect("send head");
    let reply = conn.read_reply().expect("413 for a declared oversize body");
    assert_eq!(reply.status, 413, "{}", reply.text());
    assert!(
        started.elapsed() < PROMPT,
        "413 took {:?}",
        started.elapsed()
    );

    // A body of exactly the cap is read and served.
    let call = rpc_body("getblockcount", json!([]));
    let mut body = call.into_bytes();
    body.resize(DEFAULT_MAX_BODY_SIZE, b' ');
    let reply = Conn::open(rpc.addr)
        .and_then(|mut c| c.post(auth, &body))
        .expect("a body at the cap is answered");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.json()["result"].is_u64(), "{}", reply.text());

    // A chunked body that never ends: refused once past the cap, and the server stops reading
    // (the writer is cut off) long before it has taken what the client offers.
    endless_chunked_body(rpc);

    // A head over the limit, complete or still coming.
    let filler = "a".repeat(MAX_HEADERS_SIZE);
    let huge_head = format!("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Filler: {filler}\r\n\r\n{{}}");
    // One field that never ends: refused by its bytes, not by a count of fields.
    let endless_head = format!(
        "GET / HTTP/1.1\r\nX-Endless: {}",
        "a".repeat(4 * MAX_HEADERS_SIZE)
    );
    for (what, bytes) in [("huge head", huge_head), ("endless head", endless_head)] {
        let reply = Conn::open(rpc.addr)
            .and_then(|mut c| {
                c.send(bytes.as_bytes())?;
                c.read_reply()
            })
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(reply.status, 431, "{what}: {}", reply.text());
    }
    // A head of exactly the limit is served: pad a real call's head to MAX_HEADERS_SIZE.
    let body = rpc_body("getblockcount", json!([]));
    let head = |pad: usize| {
        format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nX-Pad: {}\r\nContent-Length: {}\r\n\r\n",
            rpc.auth,
            "p".repeat(pad),
            body.len()
        )
    };
    let pad = MAX_HEADERS_SIZE - head(0).len();
    let exact = head(pad);
    assert_eq!(exact.len(), MAX_HEADERS_SIZE);
    let reply = Conn::open(rpc.addr)
        .and_then(|mut c| {
            c.send(format!("{exact}{body}").as_bytes())?;
            c.read_reply()
        })
        .expect("a head at the limit is answered");
    assert_eq!(reply.status, 200, "head at the limit: {}", reply.text());
    let reply = Conn::open(rpc.addr)
        .and_then(|mut c| {
            c.send(format!("{}{body}", head(pad + 1)).as_bytes())?;
            c.read_reply()
        })
        .expect("a head one byte over is answered");
    assert_eq!(reply.status, 431, "head one byte over: {}", reply.text());

    // Garbage: each is answered 400 and the connection closed.
    let garbage: [&[u8]; 7] = [
        b"HELLO\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / SMTP/1.0\r\n\r\n",
        // The start of a TLS ClientHello: a client that speaks HTTPS to us.
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: ten\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    ];
    for bytes in garbage {
        let what = String::from_utf8_lossy(bytes);
        let mut conn = Conn::open(rpc.addr).expect("connect");
        conn.send(bytes).expect("send garbage");
        let reply = conn
            .read_reply()
            .unwrap_or_else(|e| panic!("{what:?}: {e}"));
        assert_eq!(reply.status, 400, "{what:?}: {}", reply.text());
        assert_eq!(reply.header("connection"), Some("close"), "{what:?}");
        assert!(
            conn.closed_within(PROMPT + LATE_SLACK).is_some(),
            "{what:?}: still open after the 400"
        );
    }
}

/// Streams a chunked body without end; the reply is read on another thread, so that it is
/// seen even if the server's close resets the connection.
fn endless_chunked_body(rpc: &Rpc) {
    let mut stream = TcpStream::connect(rpc.addr).expect("connect");
    stream
        .set_write_timeout(Some(SERVER_TIMEOUT + LATE_SLACK * 2))
        .expect("write timeout");
    let mut reader = Conn::open_with(stream.try_clone().expect("clone"));
    let started = Instant::now();
    let replied = thread::spawn(move || reader.read_reply().map(|r| (r.status, started.elapsed())));
    let head = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {}\r\nTransfer-Encoding: chunked\r\n\r\n",
        rpc.auth
    );
    stream.write_all(head.as_bytes()).expect("send head");
    let mut chunk = format!("{BODY_CHUNK:x}\r\n").into_bytes();
    chunk.extend(std::iter::repeat_n(b' ', BODY_CHUNK));
    chunk.extend_from_slice(b"\r\n");
    let mut offered = 0;
    let stopped = loop {
        if offered >= ENDLESS_BODY_OFFER {
            break None;
        }
        match stream.write_all(&chunk) {
            Ok(()) => offered += chunk.len(),
            Err(e) => break Some(e),
        }
    };
    let (status, after) = replied
        .join()
        .expect("reader thread")
        .expect("a reply to the endless body");
    assert_eq!(status, 413, "endless chunked body");
    assert!(
        after < SERVER_TIMEOUT + LATE_SLACK,
        "413 only after {after:?}"
    );
    assert!(
        stopped.is_some() && offered <= ENDLESS_BODY_TAKEN_MAX,
        "the server took {offered} bytes of an endless body ({stopped:?})"
    );
}

fn slow_clients(rpc: &Rpc) {
    let in_time = |what: &str, closed: Option<(Duration, usize)>| {
        let (after, _) = closed.unwrap_or_else(|| {
            panic!("{what}: still open {:?} after", SERVER_TIMEOUT + LATE_SLACK)
        });
        assert!(
            after + EARLY_SLACK >= SERVER_TIMEOUT,
            "{what}: closed after only {after:?}"
        );
    };
    // Half a request head, then nothing.
    let mut conn = Conn::open(rpc.addr).expect("connect");
    conn.send(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        .expect("send");
    in_time(
        "half a head",
        conn.closed_within(SERVER_TIMEOUT + LATE_SLACK),
    );
    // A whole head, half its body.
    let mut conn = Conn::open(rpc.addr).expect("connect");
    let request = post_request(Some(&rpc.auth), &[b' '; 100]);
    conn.send(&request[..request.len() - 50]).expect("send");
    in_time(
        "half a body",
        conn.closed_within(SERVER_TIMEOUT + LATE_SLACK),
    );
    // A byte at a time: bytes arriving do not extend the deadline.
    let mut conn = Conn::open(rpc.addr).expect("connect");
    let started = Instant::now();
    let request = post_request(
        Some(&rpc.auth),
        rpc_body("getblockcount", json!([])).as_bytes(),
    );
    let trickle = Duration::from_millis(200);
    let mut closed = None;
    for byte in request.iter() {
        if conn.send(&[*byte]).is_err() {
            closed = Some(started.elapsed());
            break;
        }
        if conn.closed_within(trickle).is_some() {
            closed = Some(started.elapsed());
            break;
        }
        if started.elapsed() > SERVER_TIMEOUT + LATE_SLACK {
            break;
        }
    }
    let after = closed.expect("a trickling client is closed");
    assert!(
        after + EARLY_SLACK >= SERVER_TIMEOUT && after <= SERVER_TIMEOUT + LATE_SLACK,
        "trickling client closed after {after:?}"
    );
    // An idle keep-alive connection, after one answer.
    let mut conn = Conn::open(rpc.addr).expect("connect");
    let reply = conn
        .post(
            Some(&rpc.auth),
            rpc_body("getblockcount", json!([])).as_bytes(),
        )
        .expect("answered");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("connection"), None, "kept alive");
    in_time(
        "idle keep-alive",
        conn.closed_within(SERVER_TIMEOUT + LATE_SLACK),
    );
}

/// A client pipelines large REST answers and never reads them: the IO thread does not wait
/// for it, others are answered at once, and it is closed at its deadline with most of what it
/// asked for never sent.
fn stalled_reader(rpc: &Rpc) {
    let target = format!("/rest/headers/{REGTEST_GENESIS}.json?count={LARGE_COUNT}");
    let one = rpc.get(&target);
    assert_eq!(one.status, 200, "{}", one.text());
    let headers = one.json();
    assert_eq!(
        headers.as_array().map(Vec::len),
        Some(LARGE_COUNT as usize),
        "a full answer"
    );
    let answer_size = one.body.len();

    let mut stalled = Conn::open(rpc.addr).expect("connect");
    let requests: Vec<u8> = (0..PIPELINED_LARGE)
        .flat_map(|_| get_request(&target))
        .collect();
    stalled.send(&requests).expect("pipeline");
    let started = Instant::now();
    thread::sleep(DISPATCH_SETTLE);
    for _ in 0..BYSTANDER_CALLS {
        let asked = Instant::now();
        assert!(rpc.height().is_some(), "a bystander is answered");
        let took = asked.elapsed();
        assert!(
            took < FAST_ANSWER,
            "a bystander waited {took:?} behind a client that does not read"
        );
    }
    // Reading now would let the server go on, so first let its write deadline pass; then
    // what is left to read is only what the kernel had buffered before the close.
    let deadline_passed = started + SERVER_TIMEOUT + STALL_MARGIN;
    thread::sleep(deadline_passed.saturating_duration_since(Instant::now()));
    let (_, received) = stalled
        .closed_within(LATE_SLACK)
        .expect("the client that does not read is closed at its deadline");
    assert!(
        received < answer_size * PIPELINED_LARGE / 2,
        "the server wrote {received} bytes to a client that read none (answers are \
         {answer_size} bytes)"
    );
}

fn rest_errors(rpc: &Rpc) {
    let genesis = REGTEST_GENESIS;
    let range = "Header count is invalid or out of acceptable range (1-2000)";
    let formats = "output format not found (available: .bin, .hex, .json)";
    let cases: Vec<(String, u16, String)> = vec![
        (
            "/rest/headers/nothex.json".into(),
            400,
            "Invalid hash: nothex".into(),
        ),
        (
            format!("/rest/headers/{}.json", "0".repeat(63)),
            400,
            format!("Invalid hash: {}", "0".repeat(63)),
        ),
        (
            format!("/rest/headers/{genesis}.json?count=0"),
            400,
            format!("{range}: 0"),
        ),
        (
            format!("/rest/headers/{genesis}.json?count=2001"),
            400,
            format!("{range}: 2001"),
        ),
        (
            format!("/rest/headers/{genesis}.json?count=-1"),
            400,
            format!("{range}: -1"),
        ),
        (
            format!("/rest/headers/{genesis}.json?count=99999999999999999999"),
            400,
            format!("{range}: 99999999999999999999"),
        ),
        (format!("/rest/headers/{genesis}"), 404, formats.into()),
        // An unknown extension stays part of the hash (Core's ParseDataFormat).
        (
            format!("/rest/headers/{genesis}.xml"),
            400,
            format!("Invalid hash: {genesis}.xml"),
        ),
        (
            "/rest/chaininfo.xml".into(),
            404,
            "output format not found (available: json)".into(),
        ),
        (
            "/rest/blockhashbyheight/-1.json".into(),
            400,
            "Invalid height: -1".into(),
        ),
        (
            "/rest/blockhashbyheight/99999999999.json".into(),
            400,
            "Invalid height: 99999999999".into(),
        ),
        (
            "/rest/blockhashbyheight/2147483647.json".into(),
            404,
            "Block height out of range".into(),
        ),
        (
            "/rest/blockhashbyheight/1.5.json".into(),
            400,
            "Invalid height: 1.5".into(),
        ),
        ("/rest/blockhashbyheight/0".into(), 404, formats.into()),
    ];
    for (target, status, message) in &cases {
        expect_rest(&rpc.get(target), *status, message, target);
    }
    // What is right is still served between the errors.
    let reply = rpc.get("/rest/blockhashbyheight/0.json");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), json!({ "blockhash": genesis }));
    // Paths Core has no handler for here, and methods it does not know.
    let reply = rpc.get(&format!("/rest/block/{genesis}.json"));
    assert_eq!((reply.status, reply.body.len()), (404, 0), "/rest/block/");
    let reply = Conn::open(rpc.addr)
        .and_then(|mut c| {
            c.send(b"DELETE /rest/chaininfo.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")?;
            c.read_reply()
        })
        .expect("DELETE answered");
    assert_eq!(reply.status, 405, "DELETE on REST");
}

fn connection_flood(rpc: &Rpc) {
    let mut sockets: Vec<TcpStream> = (0..FLOOD_SOCKETS)
        .map(|i| TcpStream::connect(rpc.addr).unwrap_or_else(|e| panic!("socket {i}: {e}")))
        .collect();
    thread::sleep(FLOOD_SETTLE);
    let mut open = 0;
    for socket in &mut sockets {
        socket.set_nonblocking(true).expect("nonblocking");
        match socket.read(&mut [0u8; 1]) {
            Err(e) if e.kind() == ErrorKind::WouldBlock => open += 1,
            _ => {} // end of stream or a reset: closed
        }
    }
    let closed = FLOOD_SOCKETS - open;
    assert!(
        open <= DEFAULT_MAX_CONNECTIONS && closed >= FLOOD_SOCKETS - DEFAULT_MAX_CONNECTIONS,
        "{open} of {FLOOD_SOCKETS} idle sockets held open (cap {DEFAULT_MAX_CONNECTIONS})"
    );
    // At the cap the longest idle socket makes room: a normal client is answered at once,
    // not after the held sockets time out.
    let started = Instant::now();
    let answered = rpc
        .height()
        .expect("a normal client is answered during the flood");
    assert!(answered >= u64::from(INITIAL_BLOCKS));
    assert!(
        started.elapsed() < SERVER_TIMEOUT,
        "answered after {:?}, as late as a timeout",
        started.elapsed()
    );
    drop(sockets);
}

/// One part of the abuse, against the node's endpoint.
type Step = fn(&Rpc);

/// Waits until the chain mined before the start is synced (REST's large answers need 2000
/// headers).
fn initial_sync_done(rpc: &Rpc) {
    wait_for(
        SYNC_WAIT,
        "the initial sync",
        || (rpc.height()? >= u64::from(INITIAL_BLOCKS)).then_some(()),
        || format!("headway at {:?}", rpc.height()),
    );
}

/// Stops the background miner when dropped, so that a failing step ends the test instead of
/// leaving the miner's scope waiting.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[test]
fn hostile_clients_get_cores_answers_and_never_stall_the_sync() {
    let bcoin = Bcoin::start();
    bcoin.mine(INITIAL_BLOCKS);
    let dir = tempfile::tempdir().unwrap();
    let (mut node, rpc) = start_node(
        &bcoin,
        dir.path(),
        &["--rest", "--rpc-timeout", SERVER_TIMEOUT_ARG],
    );
    let mining = AtomicBool::new(true);
    let mut heights = Vec::new();
    thread::scope(|s| {
        s.spawn(|| {
            while mining.load(Ordering::Acquire) {
                bcoin.mine(BACKGROUND_CHUNK);
                thread::sleep(BACKGROUND_PAUSE);
            }
        });
        let _stop = StopOnDrop(&mining);
        let steps: [(&str, Step); 7] = [
            ("rpc inputs", rpc_inputs),
            ("http refusals", http_refusals),
            ("slow clients", slow_clients),
            ("initial sync", initial_sync_done),
            ("stalled reader", stalled_reader),
            ("rest errors", rest_errors),
            ("connection flood", connection_flood),
        ];
        for (name, run) in steps {
            run(&rpc);
            node.assert_running();
            let height = rpc
                .height()
                .unwrap_or_else(|| panic!("no answer after {name}; log:\n{}", node.log()));
            heights.push((name, height));
        }
    });
    eprintln!("heights after each step: {heights:?}");
    let synced = heights.iter().find(|(name, _)| *name == "initial sync");
    let last = heights.last();
    assert!(
        matches!((synced, last), (Some((_, a)), Some((_, b))) if b > a),
        "the node followed bcoin while the abuse went on: {heights:?}"
    );

    // The sync kept going: once bcoin stops mining, headway's tip is bcoin's.
    let best = bcoin.best_hash();
    let height = bcoin.height();
    wait_for(
        FOLLOW_WAIT,
        "headway's tip to reach bcoin's after the abuse",
        || (rpc.best_hash()? == best).then_some(()),
        || {
            format!(
                "headway at {:?}, bcoin at {height}\n{}",
                rpc.height(),
                node.log()
            )
        },
    );
    assert!(
        height > u64::from(INITIAL_BLOCKS),
        "bcoin mined during the abuse"
    );
    assert_eq!(rpc.result("getblockcount", json!([])), json!(height));
    expect_error(
        &rpc.call("getblockhash", json!([height + 1])),
        500,
        -8,
        "Block height out of range",
        "the height after the tip",
    );
    assert!(!node.log().contains("panicked"), "{}", node.log());
    let status = node.terminate(EXIT_WAIT);
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM; log:\n{}",
        node.log()
    );
}

#[test]
fn a_full_work_queue_is_refused_at_once_and_rest_is_off_by_default() {
    let bcoin = Bcoin::start();
    bcoin.mine(QUEUE_BLOCKS);
    let dir = tempfile::tempdir().unwrap();
    let (mut node, rpc) = start_node(
        &bcoin,
        dir.path(),
        &["--rpc-threads", "1", "--rpc-work-queue", "1"],
    );
    let tip = bcoin.best_hash();
    wait_for(
        SYNC_WAIT,
        "headway to sync bcoin's chain",
        || (rpc.best_hash()? == tip).then_some(()),
        || node.log(),
    );

    // Without --rest, Core registers no REST handler: every REST path is unknown.
    for target in [
        "/rest/chaininfo.json".to_string(),
        format!("/rest/headers/{REGTEST_GENESIS}.json"),
        "/rest/blockhashbyheight/0.json".to_string(),
    ] {
        let reply = rpc.get(&target);
        assert_eq!((reply.status, reply.body.len()), (404, 0), "{target}");
    }

    // The one worker waits for a new block; the one queue slot holds a second wait (from the
    // tip now, so that the same block ends it); a third request finds the queue full.
    let wait = |params: Value| {
        let mut conn = Conn::open(rpc.addr).expect("connect");
        conn.send(&post_request(
            Some(&rpc.auth),
            rpc_body("waitfornewblock", params).as_bytes(),
        ))
        .expect("send wait");
        thread::sleep(DISPATCH_SETTLE);
        conn
    };
    let mut in_worker = wait(json!([]));
    let mut in_queue = wait(json!([0, tip]));
    let asked = Instant::now();
    let refused = rpc.call("getblockcount", json!([]));
    assert_eq!(
        (refused.status, refused.text().as_str()),
        (503, "Work queue depth exceeded"),
        "a third request with the worker and the queue taken"
    );
    assert!(
        asked.elapsed() < PROMPT,
        "the 503 took {:?}",
        asked.elapsed()
    );

    bcoin.mine(1);
    let new_tip = bcoin.best_hash();
    let released = json!({ "hash": new_tip, "height": QUEUE_BLOCKS + 1 });
    for (what, conn) in [("in the worker", &mut in_worker), ("queued", &mut in_queue)] {
        let reply = conn
            .read_reply()
            .unwrap_or_else(|e| panic!("wait {what}: {e}; log:\n{}", node.log()));
        assert_eq!(reply.status, 200, "wait {what}: {}", reply.text());
        assert_eq!(reply.json()["result"], released, "wait {what}");
    }
    assert_eq!(
        rpc.result("getblockcount", json!([])),
        json!(QUEUE_BLOCKS + 1),
        "the worker is free again"
    );

    // SIGTERM while a wait holds the worker: the wait is answered with the tip and the node
    // exits cleanly.
    let mut waiting = wait(json!([]));
    let status = node.terminate(EXIT_WAIT);
    assert_eq!(
        status.code(),
        Some(0),
        "exit after SIGTERM during a wait; log:\n{}",
        node.log()
    );
    let reply = waiting
        .read_reply()
        .expect("the wait is answered at shutdown");
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json()["result"],
        released,
        "a wait ended by shutdown returns the tip"
    );
}
