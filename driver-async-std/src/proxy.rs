//! Dialling through a SOCKS5 proxy: the short async loop around `headway-socks5`'s sans-IO
//! handshake, and nothing else.
//!
//! With [`crate::DriverConfig::proxy`] set, a dial opens the TCP connection to the proxy (under
//! the usual connect timeout) and then runs [`socks5_connect`]: it writes what
//! [`Socks5Connect::poll_transmit`] gives, feeds every read to [`Socks5Connect::received`], and
//! returns once the proxy reports the tunnel open, with the bytes that came after the proxy's
//! reply (the peer's first bytes, handed to the core before anything the reader reads). The
//! whole handshake is bounded by [`crate::DriverConfig::proxy_handshake_timeout`]. Every failure
//! comes back as one line of text naming the proxy and the reason, which the dial task passes to
//! the core as the `ConnectFailed` error. Nothing here parses the proxy's bytes itself: that is
//! the state machine's job, shared with the mio driver.

use std::net::SocketAddr;
use std::time::Duration;

use headway_socks5::{Progress, Socks5Connect, Socks5Error, Target};

use crate::runtime::{timeout, ReadExt, TcpStream, WriteExt};

/// Bytes read from the proxy at once during the handshake: more than its longest reply (262
/// bytes), so a reply never needs more than a few reads; what follows it in the same read is
/// handed on as the peer's first bytes.
const HANDSHAKE_READ: usize = 512;

/// Asks the proxy at the other end of `stream` (at `proxy`) to connect to `target`, within
/// `limit`. Returns the bytes that followed the proxy's success reply in the same read (often
/// none); they are the first bytes of the tunnelled stream. The error text names the proxy and
/// why the handshake failed.
pub(crate) async fn socks5_connect(
    stream: &TcpStream,
    proxy: SocketAddr,
    target: Target,
    limit: Duration,
) -> Result<Vec<u8>, String> {
    match timeout(limit, handshake(stream, target)).await {
        Some(Ok(leftover)) => Ok(leftover),
        Some(Err(reason)) => Err(failure(proxy, &reason)),
        None => Err(failure(
            proxy,
            &format!("no answer to the SOCKS5 handshake within {limit:?}"),
        )),
    }
}

/// The text of a failed dial through `proxy`.
pub(crate) fn failure(proxy: SocketAddr, reason: &str) -> String {
    format!("through SOCKS5 proxy {proxy}: {reason}")
}

/// Why a handshake step failed: the proxy's answer, or the socket's error.
fn io_failure(what: &str, error: &std::io::Error) -> String {
    format!("{what}: {error}")
}

/// The handshake itself, unbounded in time (the caller bounds it).
async fn handshake(stream: &TcpStream, target: Target) -> Result<Vec<u8>, String> {
    let mut hs = Socks5Connect::new(target);
    let mut buf = [0u8; HANDSHAKE_READ];
    loop {
        while let Some(bytes) = hs.poll_transmit() {
            let mut writer = stream;
            writer
                .write_all(&bytes)
                .await
                .map_err(|e| io_failure("writing to the proxy failed", &e))?;
        }
        let mut reader = stream;
        let n = match reader.read(&mut buf).await {
            Ok(0) => return Err(Socks5Error::ProxyClosed.to_string()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_failure("reading from the proxy failed", &e)),
        };
        match hs.received(buf.get(..n).unwrap_or_default()) {
            Ok(Progress::NeedMore) => {}
            Ok(Progress::Connected { leftover, .. }) => return Ok(leftover),
            Err(e) => return Err(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{block_on, TcpListener};

    /// A fake proxy on a loopback port that runs `serve` on the one connection it accepts;
    /// returns its address and the dialled stream.
    async fn against(
        serve: impl FnOnce(std::net::TcpStream) + Send + 'static,
    ) -> (SocketAddr, TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((conn, _)) = listener.accept() {
                serve(conn);
            }
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        (addr, stream)
    }

    /// Reads the greeting (3 bytes) and a CONNECT request for an IPv4 target (10 bytes),
    /// answering the method in between.
    fn accept_handshake(conn: &mut std::net::TcpStream) {
        use std::io::{Read, Write};
        let mut greeting = [0u8; 3];
        conn.read_exact(&mut greeting).unwrap();
        assert_eq!(greeting, [5, 1, 0]);
        conn.write_all(&[5, 0]).unwrap();
        let mut request = [0u8; 10];
        conn.read_exact(&mut request).unwrap();
        assert_eq!(&request[..4], &[5, 1, 0, 1]);
    }

    const TARGET: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
        std::net::Ipv4Addr::LOCALHOST,
        8333,
    ));

    #[test]
    fn bytes_after_the_reply_come_back_as_leftover() {
        block_on(async {
            let (proxy, stream) = against(|mut conn| {
                use std::io::Write;
                accept_handshake(&mut conn);
                // The reply and the peer's first bytes in one write.
                conn.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0, b'h', b'i'])
                    .unwrap();
                std::thread::sleep(Duration::from_secs(1));
            })
            .await;
            let got = socks5_connect(
                &stream,
                proxy,
                Target::Addr(TARGET),
                Duration::from_secs(20),
            )
            .await;
            // The two bytes may arrive in the reply's read or later; either way, nothing after
            // the reply is lost or taken for the reply.
            let leftover = got.unwrap();
            assert!(b"hi".starts_with(&leftover), "leftover {leftover:?}");
        });
    }

    #[test]
    fn a_refusal_names_the_proxy_and_the_reason() {
        block_on(async {
            let (proxy, stream) = against(|mut conn| {
                use std::io::Write;
                accept_handshake(&mut conn);
                conn.write_all(&[5, 5, 0, 1, 0, 0, 0, 0, 0, 0]).unwrap();
            })
            .await;
            let err = socks5_connect(
                &stream,
                proxy,
                Target::Addr(TARGET),
                Duration::from_secs(20),
            )
            .await
            .unwrap_err();
            assert!(
                err.starts_with(&format!("through SOCKS5 proxy {proxy}: ")),
                "{err}"
            );
            assert!(err.contains("connection refused"), "{err}");
        });
    }

    #[test]
    fn a_proxy_that_closes_is_a_failure_not_a_hang() {
        block_on(async {
            // It reads our greeting first: closing with it unread would reset the connection,
            // a failure too but a different one, decided by the scheduler.
            let (proxy, stream) = against(|mut conn| {
                use std::io::Read;
                let mut greeting = [0u8; 3];
                let _ = conn.read_exact(&mut greeting);
            })
            .await;
            let err = socks5_connect(
                &stream,
                proxy,
                Target::Addr(TARGET),
                Duration::from_secs(20),
            )
            .await
            .unwrap_err();
            assert!(err.contains("closed"), "{err}");
        });
    }

    #[test]
    fn a_silent_proxy_times_out() {
        block_on(async {
            let (proxy, stream) = against(|conn| {
                std::thread::sleep(Duration::from_secs(5));
                drop(conn);
            })
            .await;
            let err = socks5_connect(
                &stream,
                proxy,
                Target::Addr(TARGET),
                Duration::from_millis(200),
            )
            .await
            .unwrap_err();
            assert!(err.contains("within 200ms"), "{err}");
        });
    }

    #[test]
    fn a_proxy_that_answers_http_fails_at_once() {
        // A plain listener that answers HTTP: a wrong version byte, at once.
        block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let proxy = listener.local_addr().unwrap();
            let serve = crate::runtime::spawn(async move {
                let (conn, _) = listener.accept().await.unwrap();
                let mut writer = &conn;
                writer
                    .write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                    .await
                    .unwrap();
                crate::runtime::sleep(Duration::from_secs(1)).await;
            });
            let stream = TcpStream::connect(proxy).await.unwrap();
            let err = socks5_connect(
                &stream,
                proxy,
                Target::Addr(TARGET),
                Duration::from_secs(20),
            )
            .await
            .unwrap_err();
            assert!(err.contains("version byte 0x48"), "{err}");
            serve.cancel().await;
        });
    }
}
