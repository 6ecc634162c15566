//! The store thread: everything the core asks to persist (header changes and address book
//! changes) arrives on one ordered channel as [`StoreJob`]s, and whatever is pending when the
//! thread wakes is written in one LMDB transaction
//! ([`HeaderStore::apply_with_addr_book`]), so a slow disk commit never stalls the sockets and
//! headers and book never drift apart.
//!
//! The thread runs below the node's other threads' priority ([`lower_store_priority`]): it
//! batches, so running late costs only a bigger commit.
//!
//! The thread returns only when the channel is closed and drained (or on a store error): the
//! run loop closes it after the core's `ShutdownComplete`, so the book change the core emits
//! at shutdown is written before the process exits.

use std::sync::mpsc::Receiver;
use std::time::Instant;

use headway_core::addrbook::AddrBookChange;
use headway_core::{PersistChain, Request, ServeHeaders, TipChange};
use headway_store_lmdb::HeaderStore;
use tracing::{debug, error, warn};

use crate::book_merge::PendingBook;

/// One thing to persist, in the order the core produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreJob {
    /// Headers connected, stored on a side branch, or a reorg.
    Headers(PersistChain),
    /// A change of the address book.
    Book(AddrBookChange),
    /// The best chain changed: reported to the tip's watchers once everything before it is
    /// committed.
    Tip(TipChange),
    /// A peer asked for headers: read once everything before is committed, and handed back to
    /// the node.
    Serve(ServeHeaders),
}

/// What the store thread wrote over its life, for the closing log line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Written {
    /// Headers written (best chain and side branches).
    pub headers: u64,
    /// Address book records written (after merging, so a record rewritten within one commit
    /// counts once).
    pub book_records: u64,
    /// Address book records deleted.
    pub book_removed: u64,
    /// Transactions committed.
    pub commits: u64,
}

/// The store thread's loop: writes every job, in order, batching whatever is pending into one
/// transaction, until `jobs` is closed and drained. After each commit it hands the tip changes
/// of the batch to `on_committed` (so whoever hears of a tip can read it from the store). On a
/// store error it calls `on_error` (which asks the node to shut down) and returns the error
/// with what was written before it.
pub fn write_store(
    store: &HeaderStore,
    jobs: &Receiver<StoreJob>,
    mut on_error: impl FnMut(),
    mut on_committed: impl FnMut(&[TipChange]),
    mut on_served: impl FnMut(Request),
) -> Result<Written, (anyhow::Error, Written)> {
    let mut written = Written::default();
    let mut book = PendingBook::new();
    while let Ok(first) = jobs.recv() {
        let mut batch = Batch::default();
        for job in std::iter::once(first).chain(jobs.try_iter()) {
            match job {
                StoreJob::Headers(change) => batch.headers.push(change),
                StoreJob::Book(change) => book.push(change),
                StoreJob::Tip(change) => batch.tips.push(change),
                StoreJob::Serve(ask) => {
                    // The heights are the core's best chain once everything before is written.
                    let step = commit(
                        store,
                        &mut batch,
                        &mut book,
                        &mut written,
                        &mut on_committed,
                    )
                    .and_then(|()| serve(store, &ask));
                    match step {
                        Ok(request) => on_served(request),
                        Err(e) => {
                            on_error();
                            return Err((e, written));
                        }
                    }
                }
            }
        }
        if let Err(e) = commit(
            store,
            &mut batch,
            &mut book,
            &mut written,
            &mut on_committed,
        ) {
            on_error();
            return Err((e, written));
        }
    }
    Ok(written)
}

/// What the store thread has taken off the channel and not yet written.
#[derive(Default)]
struct Batch {
    headers: Vec<PersistChain>,
    tips: Vec<TipChange>,
}

/// Writes `batch` and the pending book changes in one transaction (nothing if both are empty)
/// and hands the batch's tip changes to `on_committed`.
fn commit(
    store: &HeaderStore,
    batch: &mut Batch,
    book: &mut PendingBook,
    written: &mut Written,
    on_committed: &mut impl FnMut(&[TipChange]),
) -> anyhow::Result<()> {
    let headers = std::mem::take(&mut batch.headers);
    let tips = std::mem::take(&mut batch.tips);
    if headers.is_empty() && book.is_empty() {
        // Tip changes whose headers an earlier batch committed.
        on_committed(&tips);
        return Ok(());
    }
    let header_count: usize = headers
        .iter()
        .map(|c| c.connected.len() + c.side.len())
        .sum();
    let (upserts, removals) = (book.upserts(), book.removals());
    let change = book.take();
    let started = Instant::now();
    if let Err(e) = store.apply_with_addr_book(&headers, &change) {
        error!(error = %e, "store write failed; shutting down");
        return Err(anyhow::Error::from(e).context("store write failed"));
    }
    written.headers += header_count as u64;
    written.book_records += upserts as u64;
    written.book_removed += removals as u64;
    written.commits += 1;
    on_committed(&tips);
    debug!(
        changes = headers.len(),
        headers = header_count,
        book_upserts = upserts,
        book_removals = removals,
        commit_ms = started.elapsed().as_secs_f64() * 1000.0,
        "stored"
    );
    Ok(())
}

/// Reads the headers `ask` names, for the core to send.
fn serve(store: &HeaderStore, ask: &ServeHeaders) -> anyhow::Result<Request> {
    let count = ask.count.min(MAX_SERVED);
    let headers = store.best_headers(ask.first, count as usize).map_err(|e| {
        error!(error = %e, "store read for serving failed; shutting down");
        anyhow::Error::from(e).context("store read failed")
    })?;
    debug!(peer = %ask.peer, first = ask.first, count = headers.len(), "headers read for a peer");
    Ok(Request::SendHeaders {
        peer: ask.peer,
        headers,
    })
}

/// How much lower than the node's other threads the store thread runs: a nice increment.
///
/// Why: the store thread is a batching writer. Whatever is pending when it wakes goes into
/// one commit, so running it later costs a bigger batch, never lost work. The threads on a
/// sync's critical path are the core's and the sockets' (and, when a serving peer shares the
/// machine, the peer's). On the 2-core bench machine the store thread's writeback
/// (0.15–0.2 s of CPU for 1M headers) took a core from them when they woke. With it at nice
/// 10 in both nodes, a 1M sync from a local headway to B's stored tip went from a median of
/// 2.46x to 2.18x the floor client's download time, 5 alternated rounds (`sync_scale`, mio;
/// nice 5 gave 2.38x). At nice 10 a thread still gets about a tenth of a core against one
/// busy thread of normal priority, which is 0.6M headers a second of writing for this one:
/// faster than real peers serve, so the pending jobs stay small off a bench.
pub const STORE_NICENESS: i32 = 10;

/// Lowers the calling thread's priority by [`STORE_NICENESS`] (to at most 19, the lowest).
/// Lowering one's own priority needs no privilege; if the system refuses anyway (a seccomp
/// filter, say) the thread runs on at the priority it has, which is only slower.
pub fn lower_store_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let me = Some(rustix::thread::gettid());
        let lowered = getpriority_process(me)
            .and_then(|nice| setpriority_process(me, (nice + STORE_NICENESS).min(19)));
        match lowered {
            Ok(()) => debug!(niceness = STORE_NICENESS, "store thread priority lowered"),
            Err(e) => {
                warn!(error = %e, "cannot lower the store thread's priority; it runs at the node's")
            }
        }
    }
}

/// The most headers one answer reads: a `headers` message's limit (Core's
/// `MAX_HEADERS_RESULTS`), whatever an ask says.
const MAX_SERVED: u32 = 2000;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    use headway_core::addrbook::{AddrBookKey, AddrRecord};
    use headway_core::Network;

    fn record(key: u8, value: u8) -> AddrRecord {
        AddrRecord {
            key: vec![1, 127, 0, 0, key, 0x47, 0x6c],
            value: vec![value; 8],
        }
    }

    /// The thread that calls it runs STORE_NICENESS lower, and only that thread.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_store_priority_is_lowered_for_the_calling_thread_only() {
        use rustix::process::getpriority_process;
        let nice_of = |tid| getpriority_process(Some(tid)).unwrap();
        let me = rustix::thread::gettid();
        let before = nice_of(me);
        let (lowered, tid) = std::thread::spawn(move || {
            lower_store_priority();
            let tid = rustix::thread::gettid();
            (nice_of(tid), tid)
        })
        .join()
        .unwrap();
        assert_ne!(tid, me);
        assert_eq!(lowered, (before + STORE_NICENESS).min(19));
        assert_eq!(
            nice_of(me),
            before,
            "the caller's own thread kept its priority"
        );
    }

    #[test]
    fn every_job_is_written_even_after_the_channel_closes() {
        let dir = tempfile::tempdir().unwrap();
        let store = HeaderStore::open(dir.path(), Network::Regtest).unwrap();
        let (tx, rx) = mpsc::channel();
        tx.send(StoreJob::Book(AddrBookChange {
            key: Some(AddrBookKey::from_bytes([3; 32])),
            upsert: vec![record(1, 1), record(2, 2)],
            remove: Vec::new(),
        }))
        .unwrap();
        tx.send(StoreJob::Book(AddrBookChange {
            key: None,
            upsert: vec![record(1, 9)],
            remove: vec![record(2, 0).key],
        }))
        .unwrap();
        // As at shutdown: the last change is sent, then the channel closes before the thread
        // has read anything.
        drop(tx);
        let written =
            write_store(&store, &rx, || panic!("no error expected"), |_| {}, |_| {}).unwrap();
        assert_eq!(written.commits, 1, "one pending batch is one transaction");
        assert_eq!((written.book_records, written.book_removed), (1, 1));
        let book = store.load_addr_book().unwrap();
        assert_eq!(book.key, Some(AddrBookKey::from_bytes([3; 32])));
        assert_eq!(book.records, vec![record(1, 9)]);
    }

    #[test]
    fn a_refused_change_stops_the_thread_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let store = HeaderStore::open(dir.path(), Network::Regtest).unwrap();
        let (tx, rx) = mpsc::channel();
        // A record key starting with the store's reserved byte is refused.
        tx.send(StoreJob::Book(AddrBookChange {
            key: None,
            upsert: vec![AddrRecord {
                key: vec![0, 1],
                value: vec![1],
            }],
            remove: Vec::new(),
        }))
        .unwrap();
        drop(tx);
        let mut asked = false;
        let (error, written) =
            write_store(&store, &rx, || asked = true, |_| {}, |_| {}).unwrap_err();
        assert!(asked, "the node is asked to shut down");
        assert_eq!(written, Written::default());
        assert!(error.to_string().contains("store write failed"), "{error}");
    }
}
