//! Name resolution for the core's [`headway_core::Output::Resolve`]: each name is resolved on a
//! short-lived thread of its own with the standard library's resolver (`ToSocketAddrs`, the
//! system's `getaddrinfo`), never on the socket loop or the core thread, and the answer goes
//! back to the core as [`Input::Resolved`] through its inbox.
//!
//! The core asks for a few names at a time (DNS seeds, three at once); [`MAX_RESOLVING`] bounds
//! the threads anyway, so a core bug cannot turn into a thread flood: a name asked beyond it
//! is answered at once with no addresses.

use std::net::{IpAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::thread;

use headway_core::Input;
use tracing::{debug, warn};

use crate::core_loop::CoreMessage;

/// Most resolutions under way at once.
pub const MAX_RESOLVING: usize = 8;

/// Starts resolutions and counts those under way.
#[derive(Debug, Clone)]
pub(crate) struct Resolver {
    inbox: Sender<CoreMessage>,
    running: Arc<AtomicUsize>,
}

impl Resolver {
    /// A resolver answering into `inbox`.
    pub(crate) fn new(inbox: Sender<CoreMessage>) -> Resolver {
        Resolver {
            inbox,
            running: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Resolves `host` in the background; the answer arrives as an input.
    pub(crate) fn resolve(&self, host: String) {
        if self.running.fetch_add(1, Ordering::SeqCst) >= MAX_RESOLVING {
            self.running.fetch_sub(1, Ordering::SeqCst);
            warn!(%host, limit = MAX_RESOLVING, "too many resolutions under way; answered empty");
            self.answer(host, Vec::new());
            return;
        }
        let this = self.clone();
        let spawned = thread::Builder::new()
            .name("headway-resolve".into())
            .spawn({
                let host = host.clone();
                move || {
                    let addrs = lookup(&host);
                    this.running.fetch_sub(1, Ordering::SeqCst);
                    this.answer(host, addrs);
                }
            });
        if let Err(e) = spawned {
            self.running.fetch_sub(1, Ordering::SeqCst);
            warn!(%host, error = %e, "cannot start a resolver thread; answered empty");
            self.answer(host, Vec::new());
        }
    }

    fn answer(&self, host: String, addrs: Vec<IpAddr>) {
        let _ = self
            .inbox
            .send(CoreMessage::Input(Input::Resolved { host, addrs }));
    }
}

/// The addresses `host` resolves to, none on failure.
pub(crate) fn lookup(host: &str) -> Vec<IpAddr> {
    match (host, 0u16).to_socket_addrs() {
        Ok(addrs) => addrs.map(|a| a.ip()).collect(),
        Err(e) => {
            debug!(%host, error = %e, "resolution failed");
            Vec::new()
        }
    }
}
