//! The one seam between the driver and its async runtime.
//!
//! Every async-std item the driver uses is named here and nowhere else, so that moving to
//! another runtime (async-std is discontinued upstream; its authors point to smol, which has
//! the same shapes: `smol::channel`, `smol::net`, `smol::spawn`, `smol::block_on`, a `Timer`
//! for timeouts) means rewriting this file, not the driver.

use std::future::Future;
use std::time::Duration;

pub(crate) use async_std::channel::{bounded, unbounded, Receiver, Sender};
pub(crate) use async_std::io::{ReadExt, WriteExt};
pub(crate) use async_std::net::{TcpListener, TcpStream};
pub(crate) use async_std::task::block_on;

/// A spawned task; dropping it lets the task run on, [`Task::cancel`] stops it.
pub(crate) struct Task<T>(async_std::task::JoinHandle<T>);

impl<T> Task<T> {
    /// Stops the task at its next await point and waits until it is gone.
    pub(crate) async fn cancel(self) {
        let _ = self.0.cancel().await;
    }
}

/// Runs `future` on the runtime's executor, detached unless the returned [`Task`] is cancelled.
pub(crate) fn spawn<F>(future: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Task(async_std::task::spawn(future))
}

/// The addresses `host` resolves to, none on failure: async-std runs the system resolver on
/// its blocking pool, off the tasks that move bytes.
pub(crate) async fn lookup_host(host: &str) -> Vec<std::net::IpAddr> {
    use async_std::net::ToSocketAddrs;
    match (host, 0u16).to_socket_addrs().await {
        Ok(addrs) => addrs.map(|a| a.ip()).collect(),
        Err(e) => {
            tracing::debug!(%host, error = %e, "resolution failed");
            Vec::new()
        }
    }
}

/// Runs `future` for at most `limit`; `None` if the time ran out first.
pub(crate) async fn timeout<F: Future>(limit: Duration, future: F) -> Option<F::Output> {
    async_std::future::timeout(limit, future).await.ok()
}

/// Waits for `duration`.
pub(crate) async fn sleep(duration: Duration) {
    async_std::task::sleep(duration).await
}
