//! headway's header store: one network's header tree in an LMDB environment (through `heed`),
//! the node's source of truth across restarts.
//!
//! The node's store thread drains its channel of [`headway_core::PersistChain`] changes and
//! hands everything pending to [`HeaderStore::apply`], which carries them out in one write
//! transaction. On start the node rebuilds its tree with [`HeaderStore::load_chain`]. Inspection
//! commands open the same directory with [`HeaderStore::open_read_only`] while the node runs.
//!
//! # Layout
//!
//! Five named databases (see `layout.rs`, schema version [`SCHEMA_VERSION`]):
//!
//! | database | key | value |
//! |---|---|---|
//! | `best` | height, u32 big-endian | header, 80 bytes |
//! | `side` | hash, 32 bytes | height ‖ header (84 bytes) |
//! | `index` | hash, 32 bytes | height ‖ best/side flag (5 bytes) |
//! | `meta` | `network`, `schema`, `tip`, `work` | name, version, height ‖ hash, chain work |
//! | `addrbook` | address record key; `0x00` ‖ `secret` | record value; the book's 32-byte secret |
//!
//! The address book (`addrbook.rs`) is the core's: the store keeps its records as opaque bytes
//! ([`HeaderStore::load_addr_book`], [`HeaderStore::write_addr_book`]) and the store thread can
//! write a book change in the same transaction as a header batch
//! ([`HeaderStore::apply_with_addr_book`]). It joined schema 1 without a version change: a
//! store written before it gains the empty database on its next read-write open, and reads as
//! an empty book when opened read-only.
//!
//! Why this shape:
//!
//! - **Appends are cheap.** Big-endian height keys sort like heights, so extending the best chain
//!   writes at the right edge of the `best` B-tree with `MDB_APPEND`: no search, no page splits
//!   in the middle, and pages are filled completely (LMDB splits an appended-to page at the
//!   end, not in half). Sync writes almost only this tree.
//! - **Loading is a scan.** `load` reads `best` in key order (sequential pages) and needs no
//!   hashing; the core rebuilds its own index from it.
//! - **Every header can be found by hash** for inspection and for `verify`: `index` maps each
//!   stored hash, best or side, to its height and a flag. Its keys are random, so its pages
//!   split and end up partly full; this is the main cost beyond the 80 bytes of a header (see
//!   the measurements below), accepted because side headers and the inspection commands need
//!   lookups by hash and a 32-byte key is the only collision-free one.
//! - **Side headers are rare** (stale blocks, short reorgs) and live in their own database keyed
//!   by hash, so the dense `best` tree never has holes.
//! - **A reorg is one transaction.** Best headers above the fork height move to `side` (and
//!   their index flag flips), the `best` keys above the fork are deleted in one range delete,
//!   and the new branch is appended; a header returning from `side` to `best` is taken out of
//!   `side`. The metadata's tip and work are rewritten at the end of every transaction, so the
//!   tip, the height index and the hash index always change together.
//!
//! # Durability
//!
//! LMDB is copy-on-write: a commit writes new pages, then the meta page that points at them.
//! Whatever flags are used, a killed process (SIGKILL) loses nothing that `apply` returned for:
//! the pages are in the OS page cache, which outlives the process, and LMDB's lock file lets
//! the next opener recover from a writer that died mid-transaction (the half-written
//! transaction was never made visible). Power loss is the only question:
//!
//! - [`Durability::Full`] (the default) fsyncs the data pages and then the meta page on every
//!   commit: nothing acknowledged is ever lost.
//! - [`Durability::NoMetaSync`] fsyncs the data pages and lets the meta page reach the disk with
//!   the next commit: a power loss can roll back the last commit, never corrupt the store
//!   (the older meta page still points at intact pages).
//! - [`Durability::NoSync`] skips fsync: only for benchmarks and throw-away stores.
//!
//! `Full` is the default because it measured as fast as `NoMetaSync` (below): a commit carries
//! tens of megabytes of data pages, and the extra 4 KiB meta fsync is lost in the noise.
//! Batching is what makes fsync affordable: `apply` takes every pending change, so while one
//! commit waits for the disk the core keeps producing headers and the next commit carries all
//! of them; a slower disk means bigger commits rather than a lower rate.
//!
//! # Growth
//!
//! The map starts at [`DEFAULT_INITIAL_MAP_SIZE`] (or above the data file's size when
//! reopening) and doubles whenever LMDB reports `MDB_MAP_FULL`: the transaction is aborted, the
//! map resized while no transaction of this process is open (an internal lock guarantees it)
//! and the whole `apply` retried. A read-only opener whose map a writer outgrew gets
//! `MDB_MAP_RESIZED` and adopts the writer's size the same way.
//!
//! # Refusals
//!
//! Opening a directory made for another network, with an unknown schema version, holding
//! another program's LMDB files, or with files LMDB cannot read fails with a one-line
//! [`StoreError`] that says what to do. The check reads the metadata before anything is
//! written, so the data file is left byte for byte as it was (LMDB's `lock.mdb`, its
//! reader table, is shared bookkeeping that every opener uses). A read-only open of a
//! directory without `data.mdb` creates nothing.
//!
//! # Measurements
//!
//! `cargo bench -p headway-store-lmdb --bench write_million` (2 shared cores, virtual disk;
//! 1,000,000 synthetic headers, 2000 a change, 10 changes an apply, fresh store):
//!
//! | mode | headers/s written | reopen | `load` | `load_chain` | bytes on disk / header |
//! |---|---|---|---|---|---|
//! | `Full` (default) | 108k–175k | 0.2 ms | 100–210 ms | 370–610 ms | 263 |
//! | `NoMetaSync` | 106k–165k | 0.2 ms | 100–200 ms | 550–570 ms | 263 |
//! | `NoSync` | 260k–393k | 0.3 ms | 100–150 ms | 430–580 ms | 263 |
//! | raw 80-byte append + fdatasync | 1.37M–1.51M | | 70 ms (read back) | | 80 |
//!
//! (Ranges are two runs on a machine shared with other builds.) What the numbers say:
//!
//! - The `best` tree costs about 94 bytes a header (80 + 4-byte key + LMDB's 8-byte node
//!   header and 2-byte slot), packed full by `APPEND`; the rest of the 263 bytes is the hash
//!   index. Its random keys spread every commit's inserts over most of its leaf pages, so LMDB
//!   copies most of the index on every commit (and keeps the freed copies for reuse): that
//!   write amplification, not the appends, is why a synced commit costs what it does and why
//!   `NoSync` is only 2.4x faster. The raw file shows the floor: the store is 7–14x slower
//!   than appending bytes, in exchange for transactions, reorgs and lookups by hash.
//! - Even synced, the store writes over 100k headers a second, well above the ~30k/s the test
//!   peer (bcoin) serves; and since the store thread runs beside the core, a slow commit delays
//!   only persistence, never validation or the sockets.
//! - Reopening is instant and `load` reads a million headers in about 0.1–0.2 s; the rest of
//!   `load_chain` is the core rebuilding its tree (hashing every header).
//! - If the index ever matters, the next step is a smaller one: an 8-byte hash prefix as key
//!   (`DUPSORT`, candidates confirmed against the header) halves its entries, or the best
//!   chain could be left out of the index and found by height through the core's own index.

#![warn(missing_docs)]

mod addrbook;
mod apply;
mod best;
mod error;
mod index;
mod layout;
mod migrate;
mod open;
mod options;
mod snapshot;
mod store;
mod verify;

pub use addrbook::{ADDR_BOOK_MAX_RECORDS, ADDR_BOOK_MAX_VALUE_LEN};
pub use error::StoreError;
pub use layout::{META_NETWORK, META_SCHEMA, SCHEMA_VERSION};
pub use options::{Durability, StoreOptions, StoredHeaders, StoredTip, DEFAULT_INITIAL_MAP_SIZE};
pub use snapshot::Snapshot;
pub use store::HeaderStore;
pub use verify::VerifyReport;
