//! The core thread: owns the [`Node`], feeds it every input with the wall-clock time, and routes
//! its outputs — socket commands to the socket thread, events and persist commands to the
//! application.
//!
//! It waits on one channel that carries both the socket thread's inputs and the users'
//! requests, with the node's next deadline as the timeout. It never touches a socket, and the
//! application's channel is unbounded, so neither a slow store nor a busy poll loop stalls it.

use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{SystemTime, UNIX_EPOCH};

use headway_core::{Event, Input, Node, Notification, Output, Time};
use tracing::{debug, info};

use crate::resolver::Resolver;
use crate::socket_loop::{SocketCommand, SocketLink};

/// What arrives at the core thread.
#[derive(Debug)]
pub(crate) enum CoreMessage {
    /// An input for the node: from the socket thread, or a user request.
    Input(Input),
    /// End the thread now, without waiting for the node (the [`crate::Driver`] was dropped).
    Stop,
}

/// The wall clock as the core sees it.
pub(crate) fn now() -> Time {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0);
    Time::from_millis(millis)
}

/// Runs the node until it reports [`Event::ShutdownComplete`], a [`CoreMessage::Stop`]
/// arrives, or every sender is gone; gives the node back.
///
/// Dropping `sockets` on the way out (also when the node panics) stops the socket thread.
pub(crate) fn run(
    mut node: Node,
    inbox: Receiver<CoreMessage>,
    mut sockets: SocketLink,
    resolver: Resolver,
    notifications: Sender<Notification>,
) -> Node {
    // Answers to commands the socket thread could not take (see `SocketLink::queue`).
    let mut answered = VecDeque::new();
    loop {
        let input = if let Some(input) = answered.pop_front() {
            input
        } else {
            match node.next_deadline() {
                // Handle a due deadline before anything else, so that timers fire even while
                // inputs arrive without a pause.
                Some(deadline) if deadline <= now() => Input::Tick,
                Some(deadline) => match inbox.recv_timeout(deadline.saturating_since(now())) {
                    Ok(CoreMessage::Input(input)) => input,
                    Ok(CoreMessage::Stop) => break,
                    Err(RecvTimeoutError::Timeout) => Input::Tick,
                    Err(RecvTimeoutError::Disconnected) => break,
                },
                None => match inbox.recv() {
                    Ok(CoreMessage::Input(input)) => input,
                    Ok(CoreMessage::Stop) | Err(_) => break,
                },
            }
        };
        let received = match &input {
            Input::Received { bytes, .. } => bytes.len(),
            _ => 0,
        };
        node.handle(now(), input);
        if received > 0 {
            sockets.handled(received);
        }
        if drain(
            &mut node,
            &mut sockets,
            &resolver,
            &notifications,
            &mut answered,
        ) {
            info!("node shut down");
            return node;
        }
    }
    info!("core thread stopped before the node shut down");
    node
}

/// Carries out every pending output in order; answers the socket thread can no longer give go
/// to `answered`. Returns true once the node reported [`Event::ShutdownComplete`] (forwarded
/// like any other event).
fn drain(
    node: &mut Node,
    sockets: &mut SocketLink,
    resolver: &Resolver,
    notifications: &Sender<Notification>,
    answered: &mut VecDeque<Input>,
) -> bool {
    let mut shutdown = false;
    while let Some(output) = node.poll() {
        let notification = match output {
            Output::Connect { addr, host } => {
                answered.extend(sockets.queue(SocketCommand::Connect { addr, host }));
                continue;
            }
            Output::Send { peer, bytes } => {
                answered.extend(sockets.queue(SocketCommand::Send { peer, bytes }));
                if node.validation_pending() {
                    // The next poll validates a batch: this request (for the batch after it)
                    // leaves first, so that the peer serves while the node validates.
                    sockets.wake();
                }
                continue;
            }
            Output::Disconnect { peer, reason } => {
                answered.extend(sockets.queue(SocketCommand::Disconnect { peer, reason }));
                continue;
            }
            Output::Resolve { host } => {
                resolver.resolve(host);
                continue;
            }
            Output::Persist(persist) => Notification::Persist(persist),
            Output::PersistAddrs(change) => Notification::PersistAddrs(change),
            Output::ServeHeaders(ask) => Notification::ServeHeaders(ask),
            Output::Event(event) => {
                shutdown |= event == Event::ShutdownComplete;
                Notification::Event(event)
            }
        };
        if notifications.send(notification).is_err() {
            debug!("application gone; notification dropped");
        }
    }
    sockets.wake();
    shutdown
}

#[cfg(test)]
mod tests {
    use std::sync::{mpsc, Arc};
    use std::thread;
    use std::time::Duration;

    use headway_core::{
        Config, Direction, DisconnectReason, HeaderChain, Network, PeerId, Request,
    };
    use mio::{Poll, Waker};

    use super::*;
    use crate::backlog::CoreBacklog;
    use crate::socket_loop::WAKER;

    /// Long enough never to matter on a healthy machine; only a hung test hits it.
    const PATIENCE: Duration = Duration::from_secs(20);

    /// With the socket thread gone, the core still gets its answers: a dial fails, a disconnect
    /// is a disconnect, and a shutdown completes instead of waiting for ever.
    #[test]
    fn commands_the_socket_thread_cannot_take_are_answered_and_shutdown_completes() {
        let poll = Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).unwrap());
        let (commands, gone) = mpsc::channel();
        drop(gone); // the socket thread has ended
        let link = SocketLink::new(commands, waker, Arc::new(CoreBacklog::new(usize::MAX)));
        let (inbox, inbox_rx) = mpsc::channel();
        let (notify, notifications) = mpsc::channel();
        let node = Node::new(
            Config::new(Network::Regtest),
            HeaderChain::new(Network::Regtest.params()),
        );
        let resolver = Resolver::new(inbox.clone());
        let core = thread::spawn(move || run(node, inbox_rx, link, resolver, notify));

        let peer = PeerId(1);
        let inbound = "127.0.0.1:40001".parse().unwrap();
        let dialled = "127.0.0.1:40002".parse().unwrap();
        let input = |i| inbox.send(CoreMessage::Input(i)).unwrap();
        input(Input::Connected {
            peer,
            addr: inbound,
            local_addr: None,
            direction: Direction::Inbound,
        });
        input(Input::Request(Request::AddPeer(dialled)));
        input(Input::Request(Request::Shutdown));

        let mut dial_failed = false;
        let mut disconnected = false;
        loop {
            match notifications.recv_timeout(PATIENCE) {
                Ok(Notification::Event(Event::ConnectFailed { addr, .. })) => {
                    assert_eq!(addr, dialled);
                    dial_failed = true;
                }
                Ok(Notification::Event(Event::PeerDisconnected {
                    peer: gone, reason, ..
                })) => {
                    assert_eq!(gone, peer);
                    assert_eq!(reason, DisconnectReason::Shutdown);
                    disconnected = true;
                }
                Ok(Notification::Event(Event::ShutdownComplete)) => break,
                Ok(_) => {}
                Err(e) => panic!("the node never completed its shutdown: {e}"),
            }
        }
        assert!(dial_failed, "the dial was answered");
        assert!(disconnected, "the peer was let go");
        let node = core.join().unwrap();
        assert_eq!(node.peers().count(), 0, "no peer is left behind");
    }
}
