//! The HTTP layer's limits on real sockets: a declared body over the 1 MiB cap is refused with
//! 413 from the head alone, at once, and a chunked one that never ends is refused and cut off,
//! not swallowed; a head over 8192 bytes, complete or never ending, gets 431; garbage gets 400
//! and a close. A body and a head exactly at their limits are served.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::Instant;

use headway_api::http::{DEFAULT_MAX_BODY_SIZE, MAX_HEADERS_SIZE};
use serde_json::json;

use crate::node::{LATE_SLACK, PROMPT, SERVER_TIMEOUT};
use crate::support::http::{rpc_body, Conn, Rpc};

/// Bytes the client with the endless chunked body offers, and the most the server may take
/// before it stops reading (the cap, its lingering close's 4 MiB, and the kernel's buffers on
/// both sides, which loopback grows to several MiB).
const ENDLESS_BODY_OFFER: usize = 128 << 20;
const ENDLESS_BODY_TAKEN_MAX: usize = 32 << 20;
/// Chunk size of that body.
const BODY_CHUNK: usize = 64 * 1024;

pub fn http_refusals(rpc: &Rpc) {
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
    let reply = conn
        .read_response()
        .expect("413 for a declared oversize body");
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
                c.read_response()
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
            c.read_response()
        })
        .expect("a head at the limit is answered");
    assert_eq!(reply.status, 200, "head at the limit: {}", reply.text());
    let reply = Conn::open(rpc.addr)
        .and_then(|mut c| {
            c.send(format!("{}{body}", head(pad + 1)).as_bytes())?;
            c.read_response()
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
            .read_response()
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
    let replied = thread::spawn(move || {
        reader
            .read_response()
            .map(|r| (r.status, started.elapsed()))
    });
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
