//! One connection's tasks: the reader that turns socket bytes into inputs, the writer that
//! drains the core's sends, the shared send queue that lets the reader pause while the peer
//! does not take our bytes (back-pressure), and the tasks that open connections (dial and
//! accept).

use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use headway_core::{Direction, Input, PeerId};
use tracing::{debug, warn};

use crate::proxy;
use crate::runtime::{
    bounded, sleep, spawn, timeout, unbounded, ReadExt, Receiver, Sender, TcpListener, TcpStream,
    WriteExt,
};

/// How long the accept loop rests after a failed accept (for example out of file
/// descriptors), so that a persistent error does not spin a core.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// What the tasks send to the core loop.
#[derive(Debug)]
pub(crate) enum CoreMsg {
    /// An input for the node as it is.
    Input(Input),
    /// A connection is up (accepted or dialled); the core loop names it and starts its tasks.
    Stream {
        /// The socket.
        stream: TcpStream,
        /// The remote address (for outbound ones, the address we dialled).
        addr: SocketAddr,
        /// Who opened it.
        direction: Direction,
        /// Bytes already read from the peer, to hand to the core right after the connection
        /// (what followed a SOCKS5 proxy's reply); empty for direct connections.
        leftover: Vec<u8>,
    },
    /// The [`crate::Driver`] was dropped without joining: stop without waiting for the node.
    Stop,
}

/// The bytes queued for one peer's writer, shared by the core loop (which adds), the writer
/// (which subtracts once written) and the reader (which pauses while the total is over the
/// cap, so that a peer that does not read cannot make us buffer without end).
#[derive(Debug)]
pub(crate) struct SendQueue {
    queued: AtomicUsize,
    cap: usize,
    /// Level-triggered wake-up: one token means "the queue shrank, look again".
    drained_tx: Sender<()>,
    drained_rx: Receiver<()>,
    /// Why the writer gave up, reported by the reader with the disconnect.
    write_error: Mutex<Option<String>>,
}

impl SendQueue {
    /// An empty queue that pauses the reader above `cap` bytes.
    pub(crate) fn new(cap: usize) -> Arc<SendQueue> {
        let (drained_tx, drained_rx) = bounded(1);
        Arc::new(SendQueue {
            queued: AtomicUsize::new(0),
            cap,
            drained_tx,
            drained_rx,
            write_error: Mutex::new(None),
        })
    }

    /// Counts `len` more bytes handed to the writer.
    pub(crate) fn push(&self, len: usize) {
        self.queued.fetch_add(len, Ordering::AcqRel);
    }

    /// Counts `len` bytes as gone (written, or dropped) and wakes a paused reader if the queue
    /// is back under the cap.
    pub(crate) fn pop(&self, len: usize) {
        let before = self
            .queued
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |q| {
                Some(q.saturating_sub(len))
            })
            .unwrap_or(0);
        if before.saturating_sub(len) <= self.cap {
            // A full token slot already says "look again"; nothing more to do then.
            let _ = self.drained_tx.try_send(());
        }
    }

    /// Bytes handed to the writer and not yet written.
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    /// Whether the reader must pause.
    pub(crate) fn is_over_cap(&self) -> bool {
        self.queued() > self.cap
    }

    /// Returns once the queue is at or under the cap, or the writer is gone.
    pub(crate) async fn wait_under_cap(&self) {
        while self.is_over_cap() {
            if self.drained_rx.recv().await.is_err() {
                return;
            }
        }
    }

    /// The writer is gone: wake the reader for good and remember why, if it failed.
    pub(crate) fn close(&self, write_error: Option<String>) {
        if let Some(error) = write_error {
            if let Ok(mut slot) = self.write_error.lock() {
                slot.get_or_insert(error);
            }
        }
        self.drained_tx.close();
    }

    fn take_write_error(&self) -> Option<String> {
        self.write_error
            .lock()
            .ok()
            .and_then(|mut slot| slot.take())
    }
}

/// Starts a connection's reader and writer tasks; both are detached and end with the
/// connection. Returns the sender that queues bytes for the writer.
pub(crate) fn start_connection_tasks(
    peer: PeerId,
    addr: SocketAddr,
    stream: &TcpStream,
    queue: &Arc<SendQueue>,
    read_chunk: usize,
    core: Sender<CoreMsg>,
) -> Sender<Vec<u8>> {
    let (outgoing, outgoing_rx) = unbounded();
    let _ = spawn(write_loop(
        peer,
        addr,
        stream.clone(),
        Arc::clone(queue),
        outgoing_rx,
    ));
    let _ = spawn(read_loop(
        peer,
        addr,
        stream.clone(),
        Arc::clone(queue),
        read_chunk,
        core,
    ));
    outgoing
}

/// Reads the peer until the stream ends, pausing while the send queue is over its cap, and
/// reports every chunk and finally the disconnect (exactly once) to the core loop.
pub(crate) async fn read_loop(
    peer: PeerId,
    addr: SocketAddr,
    stream: TcpStream,
    queue: Arc<SendQueue>,
    read_chunk: usize,
    core: Sender<CoreMsg>,
) {
    let mut buf = vec![0u8; read_chunk.max(1)];
    let error = loop {
        if queue.is_over_cap() {
            debug!(%peer, %addr, queued = queue.queued(), "send queue over cap: reading paused");
            queue.wait_under_cap().await;
            debug!(%peer, %addr, queued = queue.queued(), "reading resumed");
        }
        match (&stream).read(&mut buf).await {
            Ok(0) => break queue.take_write_error(),
            Ok(n) => {
                let bytes = buf.get(..n).unwrap_or_default().to_vec();
                debug!(%peer, %addr, len = n, "received");
                let msg = CoreMsg::Input(Input::Received { peer, bytes });
                if core.send(msg).await.is_err() {
                    // The core loop is gone: the driver is shutting down.
                    let _ = stream.shutdown(Shutdown::Both);
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => break Some(queue.take_write_error().unwrap_or_else(|| e.to_string())),
        }
    };
    let _ = stream.shutdown(Shutdown::Both);
    let _ = core
        .send(CoreMsg::Input(Input::Disconnected { peer, error }))
        .await;
}

/// Writes what the core loop queues for the peer, in order, until the queue's sender is
/// dropped or a write fails; a failed write shuts the stream so the reader reports it.
pub(crate) async fn write_loop(
    peer: PeerId,
    addr: SocketAddr,
    stream: TcpStream,
    queue: Arc<SendQueue>,
    outgoing: Receiver<Vec<u8>>,
) {
    let mut error = None;
    while let Ok(bytes) = outgoing.recv().await {
        let result = (&stream).write_all(&bytes).await;
        queue.pop(bytes.len());
        if let Err(e) = result {
            debug!(%peer, %addr, error = %e, "write failed");
            error = Some(format!("write failed: {e}"));
            let _ = stream.shutdown(Shutdown::Both);
            break;
        }
    }
    // Whatever is still queued will never be written.
    outgoing.close();
    while let Ok(bytes) = outgoing.try_recv() {
        queue.pop(bytes.len());
    }
    queue.close(error);
}

/// How a dial reaches its peer: directly, or through a SOCKS5 proxy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DialPlan {
    /// A dial that has not connected (to the peer, or to the proxy) by then fails.
    pub(crate) connect_timeout: Duration,
    /// The SOCKS5 proxy and the limit on its handshake; `None`: connect directly.
    pub(crate) proxy: Option<(SocketAddr, Duration)>,
}

#[cfg(test)]
impl DialPlan {
    /// A direct dial within `connect_timeout`.
    pub(crate) fn direct(connect_timeout: Duration) -> DialPlan {
        DialPlan {
            connect_timeout,
            proxy: None,
        }
    }
}

/// Dials `addr` as `plan` says and hands the stream (with any bytes the proxy handshake read
/// past its reply), or the failure, to the core loop.
pub(crate) async fn dial(
    addr: SocketAddr,
    host: Option<String>,
    plan: DialPlan,
    core: Sender<CoreMsg>,
) {
    let msg = match open(addr, host.as_deref(), plan).await {
        Ok((stream, leftover)) => CoreMsg::Stream {
            stream,
            addr,
            direction: Direction::Outbound,
            leftover,
        },
        Err(error) => {
            // The node logs the failure for the operator (`connect failed`, with its retry);
            // this line is the driver's, as in the mio driver.
            debug!(%addr, %error, "dial failed");
            CoreMsg::Input(Input::ConnectFailed { addr, error })
        }
    };
    if let Err(unsent) = core.send(msg).await {
        if let CoreMsg::Stream { stream, .. } = unsent.into_inner() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }
}

/// Opens the connection to `addr`: a TCP connection to the peer, or to the proxy followed by
/// the SOCKS5 handshake. Returns the stream and the peer's bytes read with the proxy's reply.
async fn open(
    addr: SocketAddr,
    host: Option<&str>,
    plan: DialPlan,
) -> Result<(TcpStream, Vec<u8>), String> {
    let limit = plan.connect_timeout;
    let Some((proxy, handshake_limit)) = plan.proxy else {
        if let Some(host) = host {
            return Err(format!(
                "{host} can only be reached through a proxy (--proxy)"
            ));
        }
        return match timeout(limit, TcpStream::connect(addr)).await {
            Some(Ok(stream)) => Ok((stream, Vec::new())),
            Some(Err(e)) => Err(e.to_string()),
            None => Err(format!("connect timed out after {limit:?}")),
        };
    };
    let stream = match timeout(limit, TcpStream::connect(proxy)).await {
        Some(Ok(stream)) => stream,
        Some(Err(e)) => {
            return Err(proxy::failure(
                proxy,
                &format!("cannot connect to the proxy: {e}"),
            ))
        }
        None => {
            return Err(proxy::failure(
                proxy,
                &format!("connect to the proxy timed out after {limit:?}"),
            ))
        }
    };
    let target = headway_socks5::Target::for_peer(addr, host)
        .map_err(|e| proxy::failure(proxy, &e.to_string()))?;
    match proxy::socks5_connect(&stream, proxy, target, handshake_limit).await {
        Ok(leftover) => {
            debug!(%addr, %proxy, leftover = leftover.len(), "tunnel open");
            Ok((stream, leftover))
        }
        Err(error) => {
            let _ = stream.shutdown(Shutdown::Both);
            Err(error)
        }
    }
}

/// Accepts inbound connections for ever (until cancelled or the core loop is gone).
pub(crate) async fn accept_loop(listener: TcpListener, core: Sender<CoreMsg>) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                let msg = CoreMsg::Stream {
                    stream,
                    addr,
                    direction: Direction::Inbound,
                    leftover: Vec::new(),
                };
                if core.send(msg).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                sleep(ACCEPT_ERROR_BACKOFF).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;
    use std::pin::pin;
    use std::task::{Context, Poll, Waker};

    /// Long enough that only a hang reaches it.
    const PATIENCE: Duration = Duration::from_secs(20);

    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    #[test]
    fn reader_waits_while_over_cap_and_resumes_once_drained() {
        let queue = SendQueue::new(10);
        queue.push(25);
        assert!(queue.is_over_cap());
        let mut wait = pin!(queue.wait_under_cap());
        assert!(
            poll_once(wait.as_mut()).is_pending(),
            "must pause above the cap"
        );
        queue.pop(10);
        assert!(
            poll_once(wait.as_mut()).is_pending(),
            "15 bytes is still over a cap of 10"
        );
        queue.pop(5);
        assert!(
            poll_once(wait.as_mut()).is_ready(),
            "10 bytes is at the cap: resume"
        );
        assert_eq!(queue.queued(), 10);
    }

    #[test]
    fn closing_the_queue_releases_a_paused_reader_and_keeps_the_write_error() {
        let queue = SendQueue::new(0);
        queue.push(1);
        let mut wait = pin!(queue.wait_under_cap());
        assert!(poll_once(wait.as_mut()).is_pending());
        queue.close(Some("write failed: broken pipe".into()));
        assert!(poll_once(wait.as_mut()).is_ready());
        assert_eq!(
            queue.take_write_error().as_deref(),
            Some("write failed: broken pipe")
        );
        assert_eq!(queue.take_write_error(), None);
    }

    /// The core's disconnect (drop the writer's queue, shut the socket) must end a reader that
    /// is paused behind a writer stuck on a peer that never reads: the core waits for that
    /// `Disconnected` before it forgets the peer or completes a shutdown.
    #[test]
    fn a_disconnect_ends_a_reader_paused_behind_a_peer_that_does_not_read() {
        use crate::runtime::block_on;
        block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let mut hostile = std::net::TcpStream::connect(addr).unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let peer = PeerId(7);
            let queue = SendQueue::new(1024);
            let (core, inputs) = bounded(16);
            let outgoing = start_connection_tasks(peer, addr, &stream, &queue, 1024, core);
            // Far more than the kernel buffers hold: the writer blocks for good, and the
            // reader pauses.
            let chunk = vec![0u8; 1 << 20];
            for _ in 0..64 {
                queue.push(chunk.len());
                outgoing.try_send(chunk.clone()).unwrap();
            }
            // Bytes from the peer wait unread: the reader pauses before it reads.
            std::io::Write::write_all(&mut hostile, b"unread").unwrap();
            assert!(queue.is_over_cap(), "the reader is paused");
            // What the core loop does on `Output::Disconnect`.
            drop(outgoing);
            stream.shutdown(Shutdown::Both).unwrap();
            loop {
                match timeout(PATIENCE, inputs.recv()).await {
                    Some(Ok(CoreMsg::Input(Input::Disconnected { peer: gone, .. }))) => {
                        assert_eq!(gone, peer);
                        break;
                    }
                    Some(Ok(CoreMsg::Input(Input::Received { .. }))) => continue,
                    other => panic!("expected the disconnect, got {other:?}"),
                }
            }
            drop(hostile);
        });
    }

    #[test]
    fn an_endless_connect_timeout_is_not_an_overflow() {
        use crate::runtime::block_on;
        block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let (core, inputs) = bounded(1);
            dial(addr, None, DialPlan::direct(Duration::MAX), core).await;
            match inputs.recv().await {
                Ok(CoreMsg::Stream {
                    addr: got,
                    direction: Direction::Outbound,
                    ..
                }) => assert_eq!(got, addr),
                other => panic!("expected the dial to complete, got {other:?}"),
            }
        });
    }

    #[test]
    fn pop_never_underflows() {
        let queue = SendQueue::new(100);
        queue.push(3);
        queue.pop(7);
        assert_eq!(queue.queued(), 0);
        assert!(!queue.is_over_cap());
    }
}
