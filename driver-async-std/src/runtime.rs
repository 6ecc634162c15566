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

/// Executor threads [`init_runtime`] asks for. The tasks only move bytes between sockets and
/// channels (the core has its own thread), and one executor thread drives the reactor itself
/// whenever it is idle. With two (one a core, async-std's default), a readiness event went
/// from the reactor thread `async-io` to an executor thread: in a 1M sync from a local peer on
/// the 2-core bench machine, B's I/O threads woke 3,982 times and waited 144 ms for a CPU
/// (`perf sched`), against 1,180 and 54 ms for mio's socket thread.
pub(crate) const EXECUTOR_THREADS: usize = 1;

/// Sizes async-std's executor for the driver ([`EXECUTOR_THREADS`]), unless
/// `ASYNC_STD_THREAD_COUNT` says otherwise. Only the first initialisation counts, so call it
/// before anything in the process uses async-std; once the runtime has started, it does
/// nothing.
pub(crate) fn init_runtime() {
    let thread_name =
        std::env::var("ASYNC_STD_THREAD_NAME").unwrap_or_else(|_| "async-std/runtime".into());
    async_global_executor::init_with_config(
        async_global_executor::GlobalExecutorConfig::default()
            .with_env_var("ASYNC_STD_THREAD_COUNT")
            .with_min_threads(EXECUTOR_THREADS)
            .with_thread_name_fn(move || thread_name.clone()),
    );
}

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
