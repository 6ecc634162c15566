//! bcoin, an independent full node in JavaScript, as a real peer for tests: installed from
//! `tests-peer/` (npm) if needed, started on free loopback ports with an in-memory chain, driven
//! through its JSON-RPC (plain HTTP/1.1 with basic auth over a std `TcpStream`), and killed when
//! dropped. Nothing here talks to anything but 127.0.0.1.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// A regtest address (bcoin's regtest pubkey-hash prefix 0x3c) that mined coins go to.
pub const MINING_ADDRESS: &str = "R9HC5WtHbpoa51NCUAz86XLCmGTbkf45NT";
/// Blocks per `generatetoaddress` call: about a second of bcoin's mining, well inside the RPC
/// read timeout.
const MINE_CHUNK: u32 = 1000;
/// How long bcoin may take to start answering RPC.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// How long one RPC call may take.
const RPC_TIMEOUT: Duration = Duration::from_secs(120);
/// bcoin refuses blocks more than two hours ahead of its clock; fast mining runs block times
/// ahead of it, so past this lead the harness moves bcoin's clock with `setmocktime`.
const MOCKTIME_LEAD_SECS: u64 = 3600;

/// The `tests-peer/` folder with bcoin's npm manifest.
pub fn tests_peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("tests-peer")
}

/// Makes sure `tests-peer/node_modules` holds bcoin, running `npm ci` (or `npm install` without
/// a lock file) once if it does not. A file lock keeps parallel test binaries from installing
/// at the same time.
pub fn ensure_installed() -> PathBuf {
    let dir = tests_peer_dir();
    let entry = dir.join("node_modules/bcoin/bin/node");
    if entry.is_file() {
        return entry;
    }
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".install.lock"))
        .expect("create tests-peer/.install.lock");
    // SAFETY: flock on a file descriptor we own; released when `lock` is closed.
    let rc = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(rc, 0, "flock tests-peer/.install.lock");
    if !entry.is_file() {
        let verb = if dir.join("package-lock.json").is_file() {
            "ci"
        } else {
            "install"
        };
        let status = Command::new("npm")
            .arg(verb)
            .arg("--no-audit")
            .arg("--no-fund")
            .current_dir(&dir)
            .status()
            .expect(
                "npm is needed to install bcoin for the real-peer tests (install node and npm)",
            );
        assert!(status.success(), "npm {verb} in {} failed", dir.display());
    }
    assert!(entry.is_file(), "npm did not install {}", entry.display());
    drop(lock);
    entry
}

/// A free TCP port on 127.0.0.1 (bound and released: another process could take it in
/// between, which on a test machine does not happen in practice).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A running bcoin regtest node, killed on drop.
pub struct Bcoin {
    child: Child,
    /// The loopback address it listens on for P2P (127.0.0.1 unless started with
    /// [`Bcoin::start_on`]).
    pub host: std::net::Ipv4Addr,
    /// Its P2P port.
    pub p2p_port: u16,
    http_port: u16,
    api_key: String,
    /// Its prefix directory (holds `bcoin.log` with its stdout and stderr).
    pub dir: tempfile::TempDir,
}

impl Bcoin {
    /// Installs bcoin if needed, starts it on free ports and waits until its RPC answers.
    pub fn start() -> Bcoin {
        Bcoin::start_retrying(std::net::Ipv4Addr::LOCALHOST, free_port)
    }

    /// [`Bcoin::start`] with its P2P listener on `host:p2p_port` (another loopback address,
    /// so that several bcoin nodes can share one port, as real nodes share 8333). RPC stays on
    /// 127.0.0.1.
    pub fn start_on(host: std::net::Ipv4Addr, p2p_port: u16) -> Bcoin {
        Bcoin::start_retrying(host, || p2p_port)
    }

    /// Starts bcoin with its P2P port from `p2p_port` and a free RPC port, again with fresh
    /// ports when it exits because one was taken meanwhile: `free_port` only finds a port
    /// free, and a test running beside may bind it before bcoin does (seen as bcoin's
    /// `EADDRINUSE` under `cargo test --workspace`).
    fn start_retrying(host: std::net::Ipv4Addr, p2p_port: impl Fn() -> u16) -> Bcoin {
        const ATTEMPTS: usize = 4;
        for attempt in 1.. {
            match Bcoin::try_start(host, p2p_port()) {
                Ok(bcoin) => return bcoin,
                Err(log) if attempt < ATTEMPTS && log.contains("EADDRINUSE") => {
                    eprintln!("bcoin found a port taken (attempt {attempt}); again");
                }
                Err(log) => panic!("bcoin exited early; log:\n{log}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// One start: the running node once its RPC answers, or its log if it exited first.
    fn try_start(host: std::net::Ipv4Addr, p2p_port: u16) -> Result<Bcoin, String> {
        let entry = ensure_installed();
        let dir = tempfile::tempdir().expect("tempdir for bcoin");
        let http_port = free_port();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let api_key = format!("headway-test-{nanos}");
        let log = File::create(dir.path().join("bcoin.log")).expect("create bcoin.log");
        let log_err = log.try_clone().expect("clone log handle");
        let child = Command::new("node")
            .arg(&entry)
            .args([
                "--network=regtest",
                "--memory=true",
                "--workers=false",
                "--listen=true",
                "--log-console=true",
                "--log-level=info",
                "--no-wallet=true",
            ])
            .arg(format!("--host={host}"))
            .arg(format!("--port={p2p_port}"))
            .arg("--http-host=127.0.0.1")
            .arg(format!("--http-port={http_port}"))
            .arg(format!("--api-key={api_key}"))
            .arg(format!("--prefix={}", dir.path().display()))
            .current_dir(tests_peer_dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .expect("start bcoin with node (is Node.js installed?)");
        let mut bcoin = Bcoin {
            child,
            host,
            p2p_port,
            http_port,
            api_key,
            dir,
        };
        bcoin.wait_for_rpc()?;
        Ok(bcoin)
    }

    /// Its P2P address.
    pub fn p2p_addr(&self) -> SocketAddr {
        SocketAddr::from((self.host, self.p2p_port))
    }

    /// Waits until the RPC answers; the log if bcoin exits first.
    fn wait_for_rpc(&mut self) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("({status})\n{}", self.log()));
            }
            if self.try_rpc("getblockcount", json!([])).is_ok() {
                return Ok(());
            }
            assert!(
                started.elapsed() < START_TIMEOUT,
                "bcoin RPC not up after {START_TIMEOUT:?}; log:\n{}",
                self.log()
            );
            thread::sleep(Duration::from_millis(200));
        }
    }

    /// bcoin's own log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("bcoin.log")).unwrap_or_default()
    }

    /// Calls `method` with `params` (a JSON array) and returns its result; panics on an RPC
    /// error.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        match self.try_rpc(method, params) {
            Ok(value) => value,
            Err(e) => panic!("bcoin rpc {method}: {e}"),
        }
    }

    /// Calls `method`; an error describes the transport or RPC failure.
    pub fn try_rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let body = json!({ "method": method, "params": params, "id": 1 }).to_string();
        let addr = SocketAddr::from(([127, 0, 0, 1], self.http_port));
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
            .map_err(|e| format!("connect: {e}"))?;
        stream
            .set_read_timeout(Some(RPC_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let auth = base64(format!("x:{}", self.api_key).as_bytes());
        let request = format!(
            "POST / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Basic {auth}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.http_port,
            body.len()
        );
        stream
            .write_all(request.as_bytes())
            .map_err(|e| format!("send: {e}"))?;
        let mut response = Vec::new();
        stream
            .read_to_end(&mut response)
            .map_err(|e| format!("read: {e}"))?;
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP header end")?;
        let status = head.lines().next().unwrap_or_default();
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body = if chunked {
            dechunk(body)?
        } else {
            body.to_string()
        };
        let value: Value =
            serde_json::from_str(&body).map_err(|e| format!("{status}: bad JSON ({e}): {body}"))?;
        match value.get("error") {
            Some(error) if !error.is_null() => Err(format!("{status}: {error}")),
            _ => Ok(value.get("result").cloned().unwrap_or(Value::Null)),
        }
    }

    /// The best block hash.
    pub fn best_hash(&self) -> String {
        self.rpc("getbestblockhash", json!([]))
            .as_str()
            .expect("hash string")
            .to_string()
    }

    /// The best height.
    pub fn height(&self) -> u64 {
        self.rpc("getblockcount", json!([]))
            .as_u64()
            .expect("block count")
    }

    /// Mines `n` blocks to [`MINING_ADDRESS`], in chunks, moving bcoin's clock forward with
    /// `setmocktime` when fast mining has run its block times far ahead of the real clock.
    pub fn mine(&self, n: u32) {
        let mut left = n;
        while left > 0 {
            let chunk = left.min(MINE_CHUNK);
            self.advance_clock_if_needed();
            let hashes = self.rpc("generatetoaddress", json!([chunk, MINING_ADDRESS]));
            let mined = hashes.as_array().map(Vec::len).unwrap_or(0);
            assert_eq!(
                mined, chunk as usize,
                "bcoin mined {mined} of {chunk} blocks"
            );
            left -= chunk;
        }
    }

    fn advance_clock_if_needed(&self) {
        let best = self.best_hash();
        let header = self.rpc("getblockheader", json!([best, true]));
        let tip_time = header.get("time").and_then(Value::as_u64).unwrap_or(0);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        if tip_time > now + MOCKTIME_LEAD_SECS {
            self.rpc("setmocktime", json!([tip_time]));
        }
    }

    /// Its peers as `getpeerinfo` reports them.
    pub fn peers(&self) -> Vec<Value> {
        self.rpc("getpeerinfo", json!([]))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Bcoin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Standard base64 with padding, for the basic-auth header.
pub fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Decodes an HTTP/1.1 chunked body.
fn dechunk(mut body: &str) -> Result<String, String> {
    let mut out = String::new();
    loop {
        let (size, rest) = body.split_once("\r\n").ok_or("bad chunk header")?;
        let size = usize::from_str_radix(size.trim(), 16).map_err(|e| e.to_string())?;
        if size == 0 {
            return Ok(out);
        }
        out.push_str(rest.get(..size).ok_or("short chunk")?);
        body = rest.get(size + 2..).ok_or("short chunk trailer")?;
    }
}

#[test]
fn base64_matches_the_rfc_vectors() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}
