//! The HTTP server on real sockets (127.0.0.1, port 0) with a small handler: requests answered,
//! keep-alive and pipelining, chunked bodies, every refusal and limit, the timeouts, the work
//! queue's 503, the connection cap, stopping, and many clients at once.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use headway_api::http::{Handler, HttpRequest, HttpResponse, HttpServer, ServerConfig};

/// `/echo` answers the body, `/block` waits to be released, `/close` asks to close, `/panic`
/// panics; anything else is answered with its method and target.
#[derive(Default)]
struct TestHandler {
    gate: Option<Gate>,
}

/// Lets a test hold `/block` requests inside the handler.
struct Gate {
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl Handler for TestHandler {
    fn handle(&self, request: HttpRequest) -> HttpResponse {
        match request.path() {
            "/echo" => HttpResponse::with_type(200, "application/octet-stream", request.body),
            "/close" => HttpResponse::new(200, "bye").header("Connection", "close"),
            "/panic" => panic!("the test handler panics on purpose"),
            "/block" => {
                if let Some(gate) = &self.gate {
                    let _ = gate.entered.lock().unwrap().send(());
                    let _ = gate
                        .release
                        .lock()
                        .unwrap()
                        .recv_timeout(Duration::from_secs(10));
                }
                HttpResponse::new(200, "released")
            }
            _ => HttpResponse::with_type(
                200,
                "text/plain",
                format!("{} {}", request.method, request.target),
            ),
        }
    }
}

fn config() -> ServerConfig {
    ServerConfig {
        bind: vec!["127.0.0.1:0".parse().unwrap()],
        threads: 4,
        timeout: Duration::from_secs(5),
        ..ServerConfig::default()
    }
}

fn start(config: ServerConfig) -> (HttpServer, SocketAddr) {
    start_with(config, TestHandler::default())
}

fn start_with(config: ServerConfig, handler: TestHandler) -> (HttpServer, SocketAddr) {
    let server = HttpServer::start(config, Arc::new(handler)).expect("server starts");
    let addr = server.local_addrs()[0];
    (server, addr)
}

/// A client connection: writes on `stream`, reads through `reader`.
struct Client {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let reader = BufReader::new(stream.try_clone().unwrap());
        Client { stream, reader }
    }

    fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).expect("writes");
    }

    fn get(&mut self, target: &str) -> Reply {
        self.send(format!("GET {target} HTTP/1.1\r\nHost: test\r\n\r\n"));
        self.reply()
    }

    fn reply(&mut self) -> Reply {
        read_reply(&mut self.reader).expect("a response")
    }

    /// Whether the server closed the connection (end of stream or reset) within `wait`.
    fn closed_within(&mut self, wait: Duration) -> bool {
        self.stream.set_read_timeout(Some(wait)).unwrap();
        let mut byte = [0u8; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() == io::ErrorKind::ConnectionReset,
        }
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

fn read_reply(reader: &mut BufReader<TcpStream>) -> io::Result<Reply> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {line:?}");
    let status = parts.next().unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line)?;
        let field = line.trim_end();
        if field.is_empty() {
            break;
        }
        let (name, value) = field.split_once(':').unwrap();
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let mut reply = Reply {
        status,
        headers,
        body: Vec::new(),
    };
    let length: usize = reply
        .header("Content-Length")
        .map_or(0, |v| v.parse().unwrap());
    reply.body = vec![0; length];
    reader.read_exact(&mut reply.body)?;
    Ok(reply)
}

#[test]
fn get_post_and_head_are_answered() {
    let (_server, addr) = start(config());
    let mut client = Client::connect(addr);
    let reply = client.get("/hello?x=1");
    assert_eq!((reply.status, reply.text()), (200, "GET /hello?x=1"));
    assert_eq!(reply.header("Content-Type"), Some("text/plain"));
    assert_eq!(reply.header("Connection"), None);

    client.send("POST /echo HTTP/1.1\r\nContent-Length: 5\r\n\r\nabcde");
    let reply = client.reply();
    assert_eq!((reply.status, reply.text()), (200, "abcde"));

    // HEAD: the length of the body, not the body; the next response follows at once.
    client.send("HEAD /x HTTP/1.1\r\n\r\nGET /after HTTP/1.1\r\n\r\n");
    let mut line = String::new();
    client.reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 200 OK\r\n");
    loop {
        line.clear();
        client.reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(length) = line.strip_prefix("Content-Length: ") {
            assert_eq!(length.trim(), "7");
        }
    }
    assert_eq!(client.reply().text(), "GET /after");
}

#[test]
fn keep_alive_pipelining_and_http10() {
    let (_server, addr) = start(config());
    let mut client = Client::connect(addr);
    assert_eq!(client.get("/one").text(), "GET /one");
    assert_eq!(client.get("/two").text(), "GET /two");

    // Three requests in one write, a body in the middle: three responses, in order.
    client.send(
        "GET /a HTTP/1.1\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nbbbGET /c HTTP/1.1\r\n\r\n",
    );
    assert_eq!(client.reply().text(), "GET /a");
    assert_eq!(client.reply().text(), "bbb");
    assert_eq!(client.reply().text(), "GET /c");

    // HTTP/1.0 stays open only when it asks to.
    client.send("GET /old HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let reply = client.reply();
    assert_eq!(reply.header("Connection"), Some("keep-alive"));
    assert_eq!(client.get("/still").text(), "GET /still");
    client.send("GET /old HTTP/1.0\r\n\r\n");
    let reply = client.reply();
    assert_eq!(reply.header("Connection"), Some("close"));
    assert!(client.closed_within(Duration::from_secs(2)));
}

#[test]
fn connection_close_is_honoured() {
    let (_server, addr) = start(config());
    let mut client = Client::connect(addr);
    client.send("GET /x HTTP/1.1\r\nConnection: close\r\n\r\n");
    let reply = client.reply();
    assert_eq!(
        (reply.status, reply.header("Connection")),
        (200, Some("close"))
    );
    assert!(client.closed_within(Duration::from_secs(2)));

    // A handler may ask for it too.
    let mut client = Client::connect(addr);
    let reply = client.get("/close");
    assert_eq!(
        (reply.text(), reply.header("Connection")),
        ("bye", Some("close"))
    );
    assert!(client.closed_within(Duration::from_secs(2)));
}

#[test]
fn chunked_bodies_and_100_continue() {
    let (_server, addr) = start(config());
    let mut client = Client::connect(addr);
    client.send("POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
    thread::sleep(Duration::from_millis(50));
    client.send("lo\r\n6;name=value\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    let reply = client.reply();
    assert_eq!((reply.status, reply.text()), (200, "hello world"));

    // curl's way with a large body: wait for 100 Continue before sending it.
    client.send("POST /echo HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
    assert_eq!(client.reply().status, 100);
    client.send("body");
    assert_eq!(client.reply().text(), "body");
}

#[test]
fn oversized_bodies_get_413_without_being_read() {
    let (_server, addr) = start(config());
    let mut client = Client::connect(addr);
    // Declared 10 MB, none of it sent: the answer cannot have waited for it.
    client.send("POST /echo HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n");
    let reply = client.reply();
    assert_eq!(
        (reply.status, reply.header("Connection")),
        (413, Some("close"))
    );
    assert!(client.closed_within(Duration::from_secs(3)));

    let mut client = Client::connect(addr);
    let chunk = format!("{:x}\r\n", 2 << 20);
    client.send(format!(
        "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}"
    ));
    assert_eq!(client.reply().status, 413);
    assert!(client.closed_within(Duration::from_secs(3)));

    // Exactly the limit is fine.
    let limit = ServerConfig {
        max_body_bytes: 1000,
        ..config()
    };
    let (_server, addr) = start(limit);
    let mut client = Client::connect(addr);
    client.send("POST /echo HTTP/1.1\r\nContent-Length: 1000\r\n\r\n");
    client.send(vec![b'x'; 1000]);
    assert_eq!(client.reply().body.len(), 1000);
    client.send("POST /echo HTTP/1.1\r\nContent-Length: 1001\r\n\r\n");
    assert_eq!(client.reply().status, 413);
}

#[test]
fn oversized_headers_get_431_and_garbage_400() {
    let (_server, addr) = start(config());
    let mut client = Client::connect(addr);
    let big = "a".repeat(9000);
    client.send(format!("GET / HTTP/1.1\r\nX-Big: {big}\r\n\r\n"));
    let reply = client.reply();
    assert_eq!(
        (reply.status, reply.header("Connection")),
        (431, Some("close"))
    );
    assert!(client.closed_within(Duration::from_secs(3)));

    for garbage in [
        b"GARBAGE\r\n\r\n".to_vec(),
        (0..=255u8).collect::<Vec<u8>>(),
        b"GET / HTTP/1.1\r\nContent-Length: nine\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
    ] {
        let mut client = Client::connect(addr);
        client.send(&garbage);
        let reply = client.reply();
        assert_eq!(reply.status, 400, "for {garbage:?}");
        assert!(client.closed_within(Duration::from_secs(3)));
    }

    let mut client = Client::connect(addr);
    client.send("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
    assert_eq!(client.reply().status, 501);
}

#[test]
fn a_panicking_handler_costs_one_500() {
    let (_server, addr) = start(config());
    let mut client = Client::connect(addr);
    assert_eq!(client.get("/panic").status, 500);
    assert_eq!(client.get("/fine").text(), "GET /fine");
}

fn short_timeout() -> ServerConfig {
    ServerConfig {
        timeout: Duration::from_millis(300),
        ..config()
    }
}

#[test]
fn slowloris_is_closed_after_the_timeout() {
    let (_server, addr) = start(short_timeout());
    let mut client = Client::connect(addr);
    client
        .stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let started = Instant::now();
    let request = b"GET /slow HTTP/1.1\r\nHost: test\r\nX-Padding: ".repeat(10);
    let mut closed_after = None;
    // A byte every 50 ms keeps the connection busy but never completes a request.
    for byte in request {
        if client.stream.write_all(&[byte]).is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut buf = [0u8; 1];
        match client.reader.read(&mut buf) {
            Ok(0) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(_) => panic!("no response expected"),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                closed_after = Some(started.elapsed());
                break;
            }
            Err(_) => {} // timed out: send the next byte
        }
        if started.elapsed() > Duration::from_secs(3) {
            break;
        }
    }
    let closed_after = closed_after.expect("the trickling connection is closed");
    assert!(
        closed_after >= Duration::from_millis(250),
        "{closed_after:?}"
    );
    assert!(
        closed_after < Duration::from_millis(1500),
        "{closed_after:?}"
    );
}

#[test]
fn idle_keep_alive_is_closed_after_the_timeout() {
    let (_server, addr) = start(short_timeout());
    let mut client = Client::connect(addr);
    assert_eq!(client.get("/x").status, 200);
    let answered = Instant::now();
    assert!(client.closed_within(Duration::from_secs(3)));
    let idle = answered.elapsed();
    assert!(idle >= Duration::from_millis(250), "{idle:?}");
    assert!(idle < Duration::from_millis(1500), "{idle:?}");
}

#[test]
fn a_full_work_queue_gets_503_while_the_others_complete() {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let handler = TestHandler {
        gate: Some(Gate {
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
        }),
    };
    // A timeout shorter than the handler's wait: no deadline runs while the handler does.
    let config = ServerConfig {
        threads: 1,
        work_queue: 1,
        ..short_timeout()
    };
    let (_server, addr) = start_with(config, handler);
    let wait = Duration::from_secs(5);

    let mut first = Client::connect(addr);
    first.send("GET /block HTTP/1.1\r\n\r\n");
    entered
        .recv_timeout(wait)
        .expect("the worker runs the first request");
    let mut second = Client::connect(addr);
    second.send("GET /block HTTP/1.1\r\n\r\n");
    // Nothing to observe when the second request is queued: give the IO thread a moment.
    thread::sleep(Duration::from_millis(200));
    let mut third = Client::connect(addr);
    let reply = third.get("/x");
    assert_eq!(
        (reply.status, reply.text()),
        (503, "Work queue depth exceeded")
    );

    thread::sleep(Duration::from_millis(400));
    release.send(()).unwrap();
    assert_eq!(first.reply().text(), "released");
    entered
        .recv_timeout(wait)
        .expect("the worker runs the second request");
    release.send(()).unwrap();
    assert_eq!(second.reply().text(), "released");
}

#[test]
fn at_the_cap_the_longest_idle_connection_makes_room() {
    let config = ServerConfig {
        max_connections: 2,
        ..config()
    };
    let (_server, addr) = start(config);
    let mut a = Client::connect(addr);
    assert_eq!(a.get("/a").status, 200);
    thread::sleep(Duration::from_millis(20));
    let mut b = Client::connect(addr);
    assert_eq!(b.get("/b").status, 200);
    // Both idle: the newcomer takes the place of the one idle longest (a). The server's
    // timeout is 5 s, so closed within 2 s is the eviction, not a timeout.
    let mut c = Client::connect(addr);
    assert_eq!(c.get("/c").status, 200);
    assert!(
        a.closed_within(Duration::from_secs(2)),
        "the oldest idle one is evicted"
    );
    assert_eq!(b.get("/b").status, 200, "the younger idle one stays");
}

#[test]
fn at_the_cap_with_every_connection_busy_a_newcomer_is_closed_at_once() {
    let config = ServerConfig {
        max_connections: 2,
        ..config()
    };
    let (_server, addr) = start(config);
    // Both hold part of a request: neither is idle, neither may be evicted.
    let mut a = Client::connect(addr);
    a.send("GET /a HTTP/1.1\r\n");
    let mut b = Client::connect(addr);
    b.send("GET /b HTTP/1.1\r\n");
    thread::sleep(Duration::from_millis(50));
    let mut c = Client::connect(addr);
    assert!(c.closed_within(Duration::from_secs(2)));
    // The busy ones finish their requests.
    a.send("\r\n");
    assert_eq!(
        read_reply(&mut a.reader).expect("a is answered").text(),
        "GET /a"
    );
    b.send("\r\n");
    assert_eq!(
        read_reply(&mut b.reader).expect("b is answered").text(),
        "GET /b"
    );
}

#[test]
fn stop_is_prompt_and_the_port_refuses_afterwards() {
    let (server, addr) = start(config());
    let mut idle = Client::connect(addr);
    assert_eq!(idle.get("/x").status, 200);
    let mut partial = Client::connect(addr);
    partial.send("GET /half");
    thread::sleep(Duration::from_millis(50));

    let started = Instant::now();
    server.stop();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "stop took {took:?}");
    assert!(TcpStream::connect(addr).is_err(), "the port still accepts");
    assert!(idle.closed_within(Duration::from_secs(1)));
    assert!(partial.closed_within(Duration::from_secs(1)));
}

#[test]
fn stop_lets_the_running_request_finish_and_answers_the_queued_with_503() {
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let handler = TestHandler {
        gate: Some(Gate {
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
        }),
    };
    let config = ServerConfig {
        threads: 1,
        work_queue: 1,
        ..config()
    };
    let (server, addr) = start_with(config, handler);
    let mut running = Client::connect(addr);
    running.send("GET /block HTTP/1.1\r\n\r\n");
    entered
        .recv_timeout(Duration::from_secs(5))
        .expect("the worker runs the request");
    let mut queued = Client::connect(addr);
    queued.send("GET /block HTTP/1.1\r\n\r\n");
    thread::sleep(Duration::from_millis(100));

    let stopping = thread::spawn(move || server.stop());
    thread::sleep(Duration::from_millis(200));
    assert!(
        !stopping.is_finished(),
        "stop waits for the running request"
    );
    assert!(
        TcpStream::connect(addr).is_err(),
        "the listener is closed first"
    );
    release.send(()).unwrap();
    let reply = running.reply();
    assert_eq!(
        (reply.text(), reply.header("Connection")),
        ("released", Some("close"))
    );
    let reply = queued.reply();
    assert_eq!(
        (reply.status, reply.header("Connection")),
        (503, Some("close"))
    );
    let started = Instant::now();
    stopping.join().unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    // The queued request never reached the handler.
    assert!(entered.try_recv().is_err());
}

#[test]
fn a_port_in_use_is_an_error_from_start() {
    let (_server, addr) = start(config());
    let taken = ServerConfig {
        bind: vec![addr],
        ..config()
    };
    let error = HttpServer::start(taken, Arc::new(TestHandler::default())).unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
}

#[test]
fn many_clients_are_all_answered() {
    let (_server, addr) = start(config());
    let clients: Vec<_> = (0..50)
        .map(|c| {
            thread::spawn(move || {
                let mut client = Client::connect(addr);
                for r in 0..40 {
                    let target = format!("/c{c}/r{r}");
                    let reply = client.get(&target);
                    assert_eq!(reply.status, 200);
                    assert_eq!(reply.text(), format!("GET {target}"));
                }
            })
        })
        .collect();
    for client in clients {
        client.join().expect("every request answered");
    }
}
