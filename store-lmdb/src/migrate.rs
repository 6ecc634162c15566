//! The migrations of a schema-1 store (to schema 4, its databases built beside schema 1's) and
//! of a schema-2 or schema-3 store (to schema 4, its hash index rebuilt packed), run by a
//! read-write open before anything else touches the store. This module owns reading schema 1
//! (its `best` and `index` databases, see `layout::v1`) and the `migration` progress record.
//!
//! # How it stays safe
//!
//! Schema 1 stays authoritative until the last transaction: the schema version stays 1, its
//! `best` and `index` databases are only read, and `side`, `meta`'s tip and work and the
//! address book have the same format in both schemas and are left as they are. The new
//! databases (`headers`, `hash_index`) are built beside them in write transactions of at most
//! [`MIGRATION_CHUNK`] headers, a chunk that completes a partition writing its index value;
//! each transaction also writes the progress record (the next height to copy and the hash of
//! the header below it), so the new databases and the record always agree. The last
//! transaction checks that everything up to the tip is copied and every complete partition
//! indexed, sets the schema version to 4, deletes the record and drops `best` and `index`. A
//! kill at any moment therefore leaves a complete schema-1 store (with a partial copy that
//! schema 1 does not read) or a complete schema-4 store; the next read-write open resumes at
//! the record. If the schema-1 chain changed meanwhile (a build that only knows schema 1 wrote
//! to it: the header below the recorded height is no longer the recorded one), the copy is
//! cleared and starts over; headers appended meanwhile are simply copied too. A partial copy
//! left by a build of schema 3 (its index in schema 3's `hashes`) is started over too.
//!
//! The schema-2 and schema-3 migration ([`migrate_packed`]) is one transaction: it reads the
//! best chain's `prev_blockhash` links (about 80 bytes a header, read in place) and writes 6
//! bytes a header, so its size is bounded by the chain's (about 6 MB for mainnet's 930,000
//! headers); LMDB commits it whole or not at all.
//!
//! A read-only open of a schema-1 store (an inspection command, possibly while a node is
//! migrating it) gives [`StoreError::NeedsMigration`]: reading both layouts everywhere would
//! double every read path for a state that lasts seconds once per store.

use std::ops::Bound;
use std::path::Path;
use std::time::Instant;

use bitcoin::block::Header;
use bitcoin::BlockHash;
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, RwTxn, WithoutTls};

use crate::best;
use crate::error::StoreError;
use crate::index;
use crate::layout::{self, v1, PARTITION_BITS, SCHEMA_VERSION};
use crate::open::write_growing;

/// Headers copied per write transaction: one hash-index partition (65,536 heights), so that a
/// transaction from a partition's start appends the partition's index keys in key order
/// (`MDB_APPEND`: index pages filled completely, unlike the 69% of random inserts), and a
/// transaction stays bounded: about 5 MB read and 6 MB written, tens of milliseconds.
pub(crate) const MIGRATION_CHUNK: u32 = 1 << PARTITION_BITS;

/// What one migration transaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Copied heights up to `next - 1`; the tip is at `tip`.
    Copied { next: u32, tip: u32 },
    /// The schema-1 chain no longer holds what the record says was copied: the copy was
    /// cleared.
    Restarted,
    /// Everything was copied and the store is schema 3.
    Done { headers: u64 },
}

/// Migrates the schema-1 store in `env` to schema 4 (see the module docs). Called by a
/// read-write open after the metadata checks, with no other transaction of this process on
/// `env`; a full map is grown between transactions.
pub(crate) fn migrate(env: &Env<WithoutTls>, dir: &Path) -> Result<(), StoreError> {
    let started = Instant::now();
    let mut copied: u64 = 0;
    let mut first = true;
    loop {
        let step = write_growing(env, dir, |txn| {
            let mut step = None;
            env.create_databases_and_commit(txn, |opener, txn| {
                let dbs = Dbs {
                    meta: open(
                        opener.open_database(txn, Some(layout::DB_META))?,
                        dir,
                        "meta",
                    )?,
                    best1: open(opener.open_database(txn, Some(v1::DB_BEST))?, dir, "best")?,
                    index1: open(opener.open_database(txn, Some(v1::DB_INDEX))?, dir, "index")?,
                    headers: opener.create_database(txn, Some(layout::DB_HEADERS))?,
                    index: opener.create_database(txn, Some(layout::DB_HASH_INDEX))?,
                    hashes_v3: opener.open_database(txn, Some(layout::DB_HASHES_V3))?,
                };
                step = Some(one_step(&dbs, txn, dir, first)?);
                Ok::<_, StoreError>(CommitOrAbort::<(), ()>::Commit(()))
            })?;
            step.ok_or_else(|| StoreError::Mismatch("a migration step was aborted".into()))
        })?;
        first = false;
        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        match step {
            Step::Copied { next, tip } => {
                copied = u64::from(next);
                tracing::info!(
                    dir = %dir.display(),
                    copied = next,
                    tip,
                    headers_per_s = (copied as f64 / elapsed) as u64,
                    "header store migration: progress"
                );
                if next > tip {
                    tracing::info!(
                        dir = %dir.display(),
                        schema = SCHEMA_VERSION,
                        "header store migration: all headers copied, switching schema"
                    );
                }
            }
            Step::Restarted => {
                tracing::warn!(
                    dir = %dir.display(),
                    "header store migration: the schema-1 chain changed since the copy began, \
                     starting it over"
                );
            }
            Step::Done { headers } => {
                let headers = headers.max(copied);
                tracing::info!(
                    dir = %dir.display(),
                    headers,
                    seconds = elapsed,
                    headers_per_s = (headers as f64 / elapsed) as u64,
                    schema = SCHEMA_VERSION,
                    "header store migration: done"
                );
                return Ok(());
            }
        }
    }
}

/// Migrates the schema-2 or schema-3 store in `env` to schema 4 in one transaction: the
/// complete partitions are indexed packed from the best chain's headers, `hashes` is dropped
/// and the version set, so a kill leaves the old store or the schema-4 one (`layout.rs`,
/// "Schema 4"). Called as [`migrate`] is.
pub(crate) fn migrate_packed(env: &Env<WithoutTls>, dir: &Path) -> Result<(), StoreError> {
    let started = Instant::now();
    tracing::info!(
        dir = %dir.display(),
        schema = SCHEMA_VERSION,
        "header store migration: packing the hash index begins (one transaction)"
    );
    let tip = write_growing(env, dir, |txn| {
        let mut tip = None;
        env.create_databases_and_commit(txn, |opener, txn| {
            let meta = open(
                opener.open_database(txn, Some(layout::DB_META))?,
                dir,
                "meta",
            )?;
            let headers = open(
                opener.open_database(txn, Some(layout::DB_HEADERS))?,
                dir,
                "headers",
            )?;
            let hashes = open(
                opener.open_database(txn, Some(layout::DB_HASHES_V3))?,
                dir,
                "hashes",
            )?;
            let packed = opener.create_database(txn, Some(layout::DB_HASH_INDEX))?;
            let value = meta
                .get(txn, layout::META_TIP)?
                .ok_or_else(|| StoreError::corrupt(dir, "no tip record".into()))?;
            let (height, _) = layout::decode_tip_value(value)
                .ok_or_else(|| StoreError::corrupt(dir, "malformed tip record".into()))?;
            let stored = best::len(headers, txn, dir)?;
            if stored != height.saturating_add(1) {
                return Err(StoreError::corrupt(
                    dir,
                    format!(
                        "the best chain holds {stored} headers, the tip record says {}",
                        u64::from(height) + 1
                    ),
                ));
            }
            packed.clear(txn)?;
            for partition in 0..layout::index_partition(layout::indexed_end(height)) {
                index::write_partition(headers, packed, txn, dir, partition)?;
            }
            meta.put(txn, layout::META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
            // SAFETY: as in `switch`: this handle is local to this transaction, and the store
            // never opens `hashes`.
            unsafe { hashes.remove(txn)? };
            tip = Some(height);
            Ok::<_, StoreError>(CommitOrAbort::<(), ()>::Commit(()))
        })?;
        tip.ok_or_else(|| StoreError::Mismatch("the schema 4 migration was aborted".into()))
    })?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        dir = %dir.display(),
        tip,
        seconds,
        headers_per_s = (f64::from(tip) / seconds.max(1e-9)) as u64,
        schema = SCHEMA_VERSION,
        "header store migration: done, the hash index rebuilt packed"
    );
    Ok(())
}

/// The databases a migration transaction uses.
struct Dbs<'t> {
    meta: Database<'t, Bytes, Bytes>,
    best1: Database<'t, Bytes, Bytes>,
    index1: Database<'t, Bytes, Bytes>,
    headers: Database<'t, Bytes, Bytes>,
    index: Database<'t, Bytes, Bytes>,
    /// Schema 3's index, there only if a build of schema 3 began this migration.
    hashes_v3: Option<Database<'t, Bytes, Bytes>>,
}

fn open<'t>(
    db: Option<Database<'t, Bytes, Bytes>>,
    dir: &Path,
    name: &str,
) -> Result<Database<'t, Bytes, Bytes>, StoreError> {
    db.ok_or_else(|| StoreError::corrupt(dir, format!("the schema-1 {name} database is missing")))
}

/// One transaction's work: resume, copy a chunk, or switch.
fn one_step(dbs: &Dbs, txn: &mut RwTxn, dir: &Path, first: bool) -> Result<Step, StoreError> {
    let tip = dbs
        .meta
        .get(txn, layout::META_TIP)?
        .and_then(layout::decode_tip_value)
        .ok_or_else(|| StoreError::corrupt(dir, "no tip record (or a malformed one)".into()))?;
    let progress = match dbs.meta.get(txn, layout::META_MIGRATION)? {
        Some(raw) => Some(
            layout::decode_migration_value(raw)
                .ok_or_else(|| StoreError::corrupt(dir, "malformed migration record".into()))?,
        ),
        None => None,
    };
    if first {
        tracing::info!(
            dir = %dir.display(),
            tip = tip.0,
            from = progress.map_or(0, |(next, _)| next),
            chunk = MIGRATION_CHUNK,
            schema = SCHEMA_VERSION,
            "header store migration: schema 1 to the current schema begins"
        );
    }
    let next = match progress {
        None => {
            // Nothing recorded: whatever a new database holds is no copy of ours.
            if !dbs.headers.is_empty(txn)? || !dbs.index.is_empty(txn)? || v3_copy(dbs, txn)? {
                return restart(dbs, txn);
            }
            0
        }
        Some((next, below)) => {
            let still = !v3_copy(dbs, txn)?
                && next <= tip.0.saturating_add(1)
                && next > 0
                && v1_header(dbs, txn, dir, next - 1)?.map(|h| h.block_hash()) == Some(below);
            if !still {
                return restart(dbs, txn);
            }
            next
        }
    };
    if next > tip.0 {
        return switch(dbs, txn, dir, tip, next);
    }
    // Up to the end of `next`'s index partition (so that a chunk never spans two).
    let partition_end = ((next >> PARTITION_BITS) + 1)
        .checked_mul(MIGRATION_CHUNK)
        .map_or(u32::MAX, |end| end - 1);
    let last = tip.0.min(partition_end);
    // One header past the chunk, when there is one, for the last hash.
    let read_to = last.saturating_add(1).min(tip.0);
    let headers = v1_range(dbs, txn, dir, next, read_to)?;
    if headers.len() != (read_to - next) as usize + 1 {
        return Err(StoreError::corrupt(
            dir,
            format!("schema-1 best chain has gaps between heights {next} and {last}"),
        ));
    }
    let copy = &headers[..(last - next) as usize + 1];
    // A header's hash is the next one's parent link: only the tip needs hashing.
    let hash_of = |i: usize| match headers.get(i + 1) {
        Some(child) => child.prev_blockhash,
        None => headers[i].block_hash(),
    };
    best::append(dbs.headers, txn, dir, next, copy)?;
    // A chunk that completes its partition indexes it (from the copied headers: a resumed
    // tail chunk completes a partition an earlier chunk began).
    if last == partition_end {
        index::write_partition(
            dbs.headers,
            dbs.index,
            txn,
            dir,
            layout::index_partition(last),
        )?;
    }
    let below = hash_of(copy.len() - 1);
    dbs.meta.put(
        txn,
        layout::META_MIGRATION,
        &layout::migration_value(last + 1, &below),
    )?;
    Ok(Step::Copied {
        next: last + 1,
        tip: tip.0,
    })
}

/// Whether a build of schema 3 left index entries of its own copy.
fn v3_copy(dbs: &Dbs, txn: &RwTxn) -> Result<bool, StoreError> {
    Ok(match dbs.hashes_v3 {
        Some(db) => !db.is_empty(txn)?,
        None => false,
    })
}

/// Clears the copy and the record.
fn restart(dbs: &Dbs, txn: &mut RwTxn) -> Result<Step, StoreError> {
    dbs.headers.clear(txn)?;
    dbs.index.clear(txn)?;
    if let Some(db) = dbs.hashes_v3 {
        db.clear(txn)?;
    }
    dbs.meta.delete(txn, layout::META_MIGRATION)?;
    Ok(Step::Restarted)
}

/// The last transaction: check, set schema 4, drop schema 1's databases (and an earlier
/// build's empty `hashes`).
fn switch(
    dbs: &Dbs,
    txn: &mut RwTxn,
    dir: &Path,
    tip: (u32, BlockHash),
    next: u32,
) -> Result<Step, StoreError> {
    let stored = best::len(dbs.headers, txn, dir)?;
    let top = best::header_at(dbs.headers, txn, dir, tip.0)?.map(|h| h.block_hash());
    if stored != next || top != Some(tip.1) {
        return Err(StoreError::corrupt(
            dir,
            format!(
                "the migrated chain holds {stored} headers, the tip record says {}",
                tip.0 + 1
            ),
        ));
    }
    let partitions = u64::from(layout::index_partition(layout::indexed_end(tip.0)));
    let indexed = dbs.index.len(txn)?;
    if indexed != partitions {
        return Err(StoreError::corrupt(
            dir,
            format!(
                "the migrated hash index holds {indexed} partitions, the chain has {partitions} \
                 complete ones"
            ),
        ));
    }
    dbs.meta
        .put(txn, layout::META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
    dbs.meta.delete(txn, layout::META_MIGRATION)?;
    // SAFETY: `remove` invalidates the handles' database ids; these handles are local to this
    // transaction and not used after it, and no other handle of this environment names them
    // (the store opens its own after the migration, and never these).
    unsafe {
        dbs.best1.remove(txn)?;
        dbs.index1.remove(txn)?;
        if let Some(db) = dbs.hashes_v3 {
            db.remove(txn)?;
        }
    }
    Ok(Step::Done {
        headers: u64::from(stored),
    })
}

/// The schema-1 best-chain header at `height`.
fn v1_header(
    dbs: &Dbs,
    txn: &RwTxn,
    dir: &Path,
    height: u32,
) -> Result<Option<Header>, StoreError> {
    match dbs.best1.get(txn, &layout::height_key(height))? {
        Some(raw) => layout::decode_header(raw).map(Some).ok_or_else(|| {
            StoreError::corrupt(dir, format!("malformed schema-1 header at height {height}"))
        }),
        None => Ok(None),
    }
}

/// The schema-1 best-chain headers at heights `from..=to`, in order, stopping at a gap.
fn v1_range(
    dbs: &Dbs,
    txn: &RwTxn,
    dir: &Path,
    from: u32,
    to: u32,
) -> Result<Vec<Header>, StoreError> {
    let (start, end) = (layout::height_key(from), layout::height_key(to));
    let bounds = (
        Bound::Included(start.as_slice()),
        Bound::Included(end.as_slice()),
    );
    let mut out = Vec::with_capacity((to - from) as usize + 1);
    for entry in dbs.best1.range(txn, &bounds)? {
        let (key, value) = entry?;
        let height = from + out.len() as u32;
        if layout::decode_height(key) != Some(height) {
            break;
        }
        let header = layout::decode_header(value).ok_or_else(|| {
            StoreError::corrupt(dir, format!("malformed schema-1 header at height {height}"))
        })?;
        out.push(header);
    }
    Ok(out)
}
