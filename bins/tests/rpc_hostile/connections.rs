//! Connections that would hold the server's resources, with `--rpc-timeout 1`: half a request,
//! half a body, a client trickling a byte at a time and an idle keep-alive connection are each
//! closed after about 1 s; a client that pipelines large responses (REST headers, count 2000)
//! and never reads them holds up no one else and is closed at its deadline with most of them
//! never sent; of 300 sockets opened at once at most 128 stay open, and a normal client is
//! answered at once (at the cap the longest idle connection is closed to make room).

use std::io::{ErrorKind, Read};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use headway_api::http::DEFAULT_MAX_CONNECTIONS;
use serde_json::json;

use crate::node::{DISPATCH_SETTLE, EARLY_SLACK, LATE_SLACK, SERVER_TIMEOUT};
use crate::support::http::{get_request, post_request, rpc_body, Conn, Rpc};
use crate::support::load::REGTEST_GENESIS;
use crate::INITIAL_BLOCKS;

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
/// Sockets opened at once.
const FLOOD_SOCKETS: usize = 300;
/// Time for the server to accept (and close) the flood.
const FLOOD_SETTLE: Duration = Duration::from_millis(300);

pub fn slow_clients(rpc: &Rpc) {
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
pub fn stalled_reader(rpc: &Rpc) {
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

pub fn connection_flood(rpc: &Rpc) {
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
