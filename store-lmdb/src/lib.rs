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
//! Schema 4 ([`SCHEMA_VERSION`]), five named databases; the byte formats and the reasons are
//! in `layout.rs`:
//!
//! | database | key | value |
//! |---|---|---|
//! | `headers` | group `height / 51`, u32 big-endian | the group's best-chain headers, 80 bytes each, 1..=51 |
//! | `hash_index` | partition `height >> 16` (u16 BE), for each complete partition below the tip's | its 65,536 entries sorted: first 4 bytes of the hash ‖ `height & 0xffff` (u16 BE), 6 bytes each |
//! | `side` | hash, 32 bytes | height ‖ header (84 bytes) |
//! | `meta` | `network`, `schema`, `tip`, `work` (and `migration` while migrating) | name, version, height ‖ hash, chain work |
//! | `addrbook` | address record key; `0x00` ‖ `secret` | record value; the book's 32-byte secret |
//!
//! The address book (`addrbook.rs`) is the core's: the store keeps its records as opaque bytes
//! ([`HeaderStore::load_addr_book`], [`HeaderStore::write_addr_book`]) and the store thread can
//! write a book change in the same transaction as a header batch
//! ([`HeaderStore::apply_with_addr_book`]). It joined schema 1 without a version change: a
//! schema-1 store written before it gains the empty database on its next read-write open.
//!
//! Why this shape:
//!
//! - **Appends are cheap and dense.** The best chain is stored 51 headers to a value: 4080
//!   bytes, exactly one LMDB overflow page, so a full group costs its 80-byte headers plus a
//!   22-byte leaf node shared by 51 (80.4 bytes a header, against about 95 for a key per
//!   height). Big-endian group keys sort like heights: extending the chain rewrites the last,
//!   partial group and appends new ones with `MDB_APPEND` (`best.rs`).
//! - **Loading and serving are scans.** `load`, [`HeaderStore::for_each_stored`] and
//!   [`HeaderStore::best_headers`] read the groups in key order on one cursor (sequential
//!   overflow pages, 80 bytes a header copied out, no hashing).
//! - **Every header can be found by hash**, for the API and the inspection commands: side
//!   headers by their full hash in `side`, best-chain headers through `hash_index`
//!   (`index.rs`). It is partitioned by height, 65,536 heights a partition, and only complete
//!   partitions are indexed: the write that takes the chain into a new partition writes the
//!   one below as one value (one put, 6 bytes a header), and headers of the tip's partition
//!   (the tail) are found by scanning it from the tip down, comparing each header's
//!   `prev_blockhash`. Schema 1's random 32-byte keys made every commit copy nearly the whole
//!   index (LMDB is copy-on-write, and keeps freed copies two commits), which was most of its
//!   263 bytes a header; schema 2's per-header inserts into the newest partition were most of
//!   a sync's store time, and schema 3's 65,536 puts a partition (a 10-byte key each) were
//!   still about a fifth of it. A lookup binary-searches each partition's sorted entries (15
//!   at a million headers) for a 4-byte prefix of the hash and compares the full hash of
//!   every candidate's header, so a shared prefix never returns the wrong header.
//! - **Side headers are rare** (stale blocks, short reorgs) and live in their own database
//!   keyed by hash, so the dense `headers` tree never has holes.
//! - **A reorg is one transaction.** Best headers above the fork height move to `side` (their
//!   index entries are deleted), the groups above the fork are cut back (the straddling group
//!   rewritten, the rest range-deleted), and the new branch is appended; a header returning
//!   from `side` to the best chain is taken out of `side` (`rejoin` in `apply.rs` does this by
//!   hash, for the core's coming `PersistChain::rejoined`). The metadata's tip and work are
//!   rewritten at the end of every transaction, so the tip, the groups and the hash index
//!   always change together.
//!
//! # Migration from schemas 1, 2 and 3
//!
//! A schema-2 store (every best-chain header indexed, a key each) or a schema-3 store (the
//! complete partitions indexed, a key each) is migrated by the first read-write open in one
//! transaction that writes the packed partitions from the best chain's headers, drops
//! `hashes` and sets version 4 (`migrate::migrate_packed`): a kill leaves the old store or the
//! schema-4 one. It is bounded by the chain: about 80 bytes a header read in place and 6
//! written (mainnet's 930,000 headers: about 6 MB); 1,000,000 headers took 0.06–0.07 s in the
//! kill test (`migration_crash.rs`, which kills it at eight moments and finds a whole store
//! each time).
//!
//! Schema 1 (`best`: height → header; `index`: hash → height ‖ best/side flag; the same
//! `side`, `meta` and `addrbook`) is migrated by the first read-write open, before it returns
//! (`migrate.rs`): the new databases are built beside the schema-1 ones in write transactions
//! of 65,536 headers (one index partition each), each recording its progress in `meta`;
//! schema 1 stays authoritative until one last transaction checks the copy, sets the schema
//! version to 4 and drops `best` and `index`. A kill at any moment leaves a whole schema-1 or
//! a whole schema-4 store; the next read-write open resumes (or, if the schema-1 chain changed
//! meanwhile, or a schema-3 build began the copy, starts over). It is logged at info: start,
//! progress after every transaction, done with headers/s. Measured in `write_million`: a
//! million headers in 0.4 to 0.9 s with `Full` durability. The data file keeps its size (LMDB
//! never shrinks it): the freed schema-1 pages are reused by the headers that follow.
//!
//! A read-only open of a schema-1, 2 or 3 store gives [`StoreError::NeedsMigration`], one line
//! that says to start the node once; a read-only open never writes, and reading both layouts
//! in every read path would double them for a state that lasts about a second once per store.
//! A store with a schema newer than this build is refused ([`StoreError::UnknownSchema`])
//! untouched, and builds that only know schemas up to 3 refuse a schema-4 store the same way.
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
//! Opening a directory made for another network, with an unknown (newer) schema version, holding
//! another program's LMDB files, or with files LMDB cannot read fails with a one-line
//! [`StoreError`] that says what to do. The check reads the metadata before anything is
//! written, so the data file is left byte for byte as it was (LMDB's `lock.mdb`, its
//! reader table, is shared bookkeeping that every opener uses). A read-only open of a
//! directory without `data.mdb` creates nothing.
//!
//! # Measurements
//!
//! `cargo bench -p headway-store-lmdb --bench write_million` (2 shared cores, virtual disk;
//! 1,000,000 synthetic headers, 2000 a change, 10 changes an apply, fresh store). Schema 4, at
//! the commit that introduced it (2026-12-03 evening machine; the oldest tail header by hash
//! 465–536 µs):
//!
//! | mode | headers/s written | `load_chain` | `best_headers` (2000) | by hash | bytes on disk / header |
//! |---|---|---|---|---|---|
//! | `Full` (default) | 4.1M | 122 ms | 57 µs | 16 µs | 86.8 |
//! | `NoMetaSync` | 5.5M | 124 ms | 44 µs | 11 µs | 86.8 |
//! | `NoSync` | 15.0M | 95 ms | 41 µs | 7 µs | 86.8 |
//! | raw 80-byte append + fdatasync | 1.19M | | | | 80 |
//!
//! Schema 3
//! (measured at the commit that introduced it; the oldest tail header by hash took 262–282
//! µs, a tail of 16,960 headers):
//!
//! | mode | headers/s written | `load_chain` | `best_headers` (2000) | by hash | bytes on disk / header |
//! |---|---|---|---|---|---|
//! | `Full` (default) | 2.17M–2.64M | 68–70 ms | 19–20 µs | 10 µs | 100.7 |
//! | `NoMetaSync` | 3.44M–5.22M | 66–85 ms | 20 µs | 12 µs | 100.7 |
//! | `NoSync` | 2.65M–7.53M | 63–67 ms | 20 µs | 10 µs | 100.7 |
//! | raw 80-byte append + fdatasync | 1.44M–1.99M | | | | 80 |
//!
//! Schema 2, an earlier machine (the figures below): 654k–677k headers/s `Full`, 104.4 bytes
//! a header; on this session's machine 1.22M/s `Full` and 2.08M/s `NoSync` just before
//! schema 3 (with sorted index writes), 4.8M/s with the index writes left out.
//!
//! | mode | headers/s written | `load` | `for_each_stored` | `load_chain` | `best_headers` (2000) | by hash | bytes on disk / header |
//! |---|---|---|---|---|---|---|---|
//! | `Full` (default) | 654k–677k | 66–67 ms | 9 ms | 411–417 ms | 34–36 µs | 12 µs | 104.4 |
//! | `NoMetaSync` | 646k–686k | 63–65 ms | 9 ms | 382–411 ms | 36–41 µs | 10–12 µs | 104.4 |
//! | `NoSync` | 795k–807k | 61 ms | 9 ms | 392–394 ms | 31–41 µs | 11 µs | 104.4 |
//! | raw 80-byte append + fdatasync | 1.36M–1.90M | 59–70 ms (read back) | | | | | 80 |
//!
//! (Ranges are two runs on a machine shared with other builds.) Schema 1, same machine and
//! command: 150k (`Full`) to 277k (`NoSync`) headers/s, `load` 126–153 ms, `load_chain`
//! 504–588 ms, `verify` about 2.1 s (now 0.75 s), 262.9 bytes a header. Migrating a schema-1
//! store of the same million headers (`Full`): 0.44–0.68 s, 1.5M–2.3M headers/s. What the
//! numbers say:
//!
//! - The groups cost 80.4 bytes a header; the hash index 6 in its complete partitions in
//!   schema 4 (20 in schema 3, a key a header written in key order) and nothing in the tail.
//!   In schema 2 the newest partition took about 29 (random inserts fill pages to about 69%)
//!   plus the copies recent commits freed, and its inserts held `Full` writes to half the raw
//!   file's rate; since schema 3 a commit writes only the groups it appends (and, once each
//!   65,536 headers, one partition's index: 65,536 keys in schema 3, one value in schema 4),
//!   as fast as the raw append.
//! - `for_each_stored` streams a million headers in about 9 ms; `load` adds building an 80 MB
//!   vector. The rest of `load_chain` (about 350 ms) is the core rebuilding its tree, hashing
//!   every header: the store's share of a 100 ms start is the streaming read.
//! - Serving a `getheaders` answer of 2000 headers takes about 35 µs; a lookup by hash about
//!   12 µs (16 partitions probed).
//! - A migrated store is compacted by the open that migrated it (`compact.rs`): LMDB never
//!   shrinks its file, so without it a schema-1 store kept 263 bytes a header on disk. A
//!   compacting copy (`mdb_env_copy2` with `MDB_CP_COMPACT`) of the live pages is synced and
//!   renamed over `data.mdb` with the environment closed: a 1M-header schema-3 store went from
//!   106.6 MB to 86.7 MB in 0.1 s (`migration_crash.rs`, which also kills the compaction at
//!   eight moments and finds a whole schema-4 store each time). A copy a kill left is removed,
//!   and the compaction done again, at the next read-write open. A read-only process that had
//!   the store open during the upgrade goes on reading the old file until it reopens.

#![warn(missing_docs)]

mod addrbook;
mod apply;
mod best;
mod compact;
mod error;
mod index;
mod layout;
mod migrate;
mod open;
mod options;
mod snapshot;
mod store;
#[cfg(test)]
mod test_support;
mod verify;

pub use addrbook::{ADDR_BOOK_MAX_RECORDS, ADDR_BOOK_MAX_VALUE_LEN};
pub use error::StoreError;
pub use layout::{META_NETWORK, META_SCHEMA, SCHEMA_VERSION};
pub use options::{Durability, StoreOptions, StoredHeaders, StoredTip, DEFAULT_INITIAL_MAP_SIZE};
pub use snapshot::Snapshot;
pub use store::HeaderStore;
pub use verify::VerifyReport;
