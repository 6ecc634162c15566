//! The core thread: owns the [`Node`], feeds it every input with the wall-clock time, and routes
//! its outputs — socket commands to the socket thread, events and persist commands to the
//! application.
//!
//! It waits on one channel that carries both the socket thread's inputs and the users'
//! requests, with the node's next deadline as the timeout. It never touches a socket, and the
//! application's channel is unbounded, so neither a slow store nor a busy poll loop stalls it.

use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{SystemTime, UNIX_EPOCH};

use headway_core::{Event, Input, Node, Notification, Output, Time};
use tracing::{debug, info};

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
    notifications: Sender<Notification>,
) -> Node {
    loop {
        let input = match node.next_deadline() {
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
        };
        let received = match &input {
            Input::Received { bytes, .. } => bytes.len(),
            _ => 0,
        };
        node.handle(now(), input);
        if received > 0 {
            sockets.handled(received);
        }
        if drain(&mut node, &mut sockets, &notifications) {
            info!("node shut down");
            return node;
        }
    }
    info!("core thread stopped before the node shut down");
    node
}

/// Carries out every pending output in order. Returns true once the node reported
/// [`Event::ShutdownComplete`] (forwarded like any other event).
fn drain(node: &mut Node, sockets: &mut SocketLink, notifications: &Sender<Notification>) -> bool {
    let mut shutdown = false;
    while let Some(output) = node.poll() {
        let notification = match output {
            Output::Connect { addr } => {
                sockets.queue(SocketCommand::Connect { addr });
                continue;
            }
            Output::Send { peer, bytes } => {
                sockets.queue(SocketCommand::Send { peer, bytes });
                continue;
            }
            Output::Disconnect { peer, reason } => {
                sockets.queue(SocketCommand::Disconnect { peer, reason });
                continue;
            }
            Output::Persist(persist) => Notification::Persist(persist),
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
