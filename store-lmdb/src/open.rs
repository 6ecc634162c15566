//! Opening a store: the starting map size, the metadata checks that refuse a directory before
//! anything is written (and tell a schema-1 store, which a read-write open migrates, from the
//! current one), the creation of a new store, and the growth loop of the writes made while
//! opening.

use std::path::Path;

use headway_core::Network;
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, RoTxn, RwTxn, WithoutTls};

use crate::best;
use crate::error::StoreError;
use crate::layout::{self, SCHEMA_VERSION};
use crate::store::RawDb;

/// The four header databases: meta, headers (the best chain's groups), side, hashes (the best
/// chain's index).
pub(crate) type Dbs = (RawDb, RawDb, RawDb, RawDb);

/// The header databases and the address book database, which stores written before it existed
/// lack (see [`create_addr_book`]).
pub(crate) type OpenedDbs = (Dbs, Option<RawDb>);

/// The first map size: the configured one, doubled until it exceeds the data already stored
/// (so that a reopened store does not start with a full map).
pub(crate) fn starting_map_size(initial: usize, data_len: u64) -> usize {
    let page = 4096;
    let mut size = initial.max(page) / page * page;
    while (size as u64) <= data_len {
        match size.checked_mul(2) {
            Some(next) => size = next,
            None => break,
        }
    }
    size
}

/// What [`open_existing`] found.
pub(crate) enum Existing {
    /// An empty environment: a new store.
    New,
    /// A store of the current schema, its databases opened.
    Current(OpenedDbs, Network),
    /// A schema-1 store (only reported to a read-write open, which migrates it; a read-only
    /// open gets [`StoreError::NeedsMigration`]).
    Schema1,
    /// A schema-2 or schema-3 store, its hash index a key a header (the same: a read-write
    /// open migrates it).
    KeyPerHeader,
}

/// Opens the databases of an existing store and checks its metadata (network when `wanted` is
/// given, schema). Reads only: a missing address book database is reported as `None`, not
/// created.
pub(crate) fn open_existing(
    env: &Env<WithoutTls>,
    dir: &Path,
    wanted: Option<Network>,
    read_only: bool,
) -> Result<Existing, StoreError> {
    let txn = env.read_txn()?;
    let mut found = None;
    let opened = env.open_databases_and_commit(txn, |opener, txn| {
        let Some(meta) = opener.open_database::<Bytes, Bytes>(txn, Some(layout::DB_META))? else {
            let main = opener.open_database::<Bytes, Bytes>(txn, None)?;
            let empty = match main {
                Some(db) => db.is_empty(txn)?,
                None => true,
            };
            return if empty {
                Ok(CommitOrAbort::<Option<OpenedDbs>, ()>::Commit(None))
            } else {
                Err(StoreError::NotAStore {
                    dir: dir.to_path_buf(),
                })
            };
        };
        let (schema, network) = check_metadata(meta, txn, dir, wanted)?;
        found = Some((schema, network));
        if schema == layout::v1::SCHEMA_VERSION
            || schema == layout::SCHEMA_V2
            || schema == layout::SCHEMA_V3
        {
            return if read_only {
                Err(StoreError::NeedsMigration {
                    dir: dir.to_path_buf(),
                    found: schema,
                })
            } else {
                Ok(CommitOrAbort::Commit(None))
            };
        }
        let corrupt = |name: &str| StoreError::Corrupt {
            dir: dir.to_path_buf(),
            detail: format!("the {name} database is missing"),
        };
        let open = |name: &str| -> Result<_, StoreError> {
            opener
                .open_database::<Bytes, Bytes>(txn, Some(name))?
                .ok_or_else(|| corrupt(name))
        };
        let best = open(layout::DB_HEADERS)?;
        let side = open(layout::DB_SIDE)?;
        let index = open(layout::DB_HASH_INDEX)?;
        let addrbook = opener.open_database::<Bytes, Bytes>(txn, Some(layout::DB_ADDRBOOK))?;
        Ok(CommitOrAbort::Commit(Some((
            (meta, best, side, index),
            addrbook,
        ))))
    })?;
    Ok(match (opened.commit().flatten(), found) {
        (Some(dbs), Some((_, network))) => Existing::Current(dbs, network),
        (None, Some((schema, _))) if schema == layout::v1::SCHEMA_VERSION => Existing::Schema1,
        (None, Some((schema, _))) if schema == layout::SCHEMA_V2 || schema == layout::SCHEMA_V3 => {
            Existing::KeyPerHeader
        }
        _ => Existing::New,
    })
}

/// Checks the schema version (this one, or schema 1, 2 or 3, which are migrated) and, when
/// `wanted` is given, the network; returns the store's schema version and network.
fn check_metadata(
    meta: Database<'_, Bytes, Bytes>,
    txn: &RoTxn,
    dir: &Path,
    wanted: Option<Network>,
) -> Result<(u32, Network), StoreError> {
    let corrupt = |detail: &str| StoreError::Corrupt {
        dir: dir.to_path_buf(),
        detail: detail.into(),
    };
    let schema = meta
        .get(txn, layout::META_SCHEMA)?
        .ok_or_else(|| corrupt("no schema version"))?;
    let schema =
        layout::decode_height(schema).ok_or_else(|| corrupt("malformed schema version"))?;
    if schema != SCHEMA_VERSION
        && schema != layout::SCHEMA_V3
        && schema != layout::SCHEMA_V2
        && schema != layout::v1::SCHEMA_VERSION
    {
        return Err(StoreError::UnknownSchema {
            dir: dir.to_path_buf(),
            found: schema,
            supported: SCHEMA_VERSION,
        });
    }
    let name = meta
        .get(txn, layout::META_NETWORK)?
        .ok_or_else(|| corrupt("no network name"))?;
    let name = String::from_utf8_lossy(name).into_owned();
    let found: Option<Network> = name.parse().ok().filter(|n: &Network| n.name() == name);
    match (found, wanted) {
        (Some(found), Some(wanted)) if found == wanted => Ok((schema, found)),
        (Some(found), None) => Ok((schema, found)),
        (_, Some(wanted)) => Err(StoreError::WrongNetwork {
            dir: dir.to_path_buf(),
            found: name,
            wanted,
        }),
        (None, None) => Err(corrupt("unknown network name")),
    }
}

/// Creates the databases of a new store (the address book's included) and writes its metadata
/// and the genesis header, in one transaction.
pub(crate) fn create(
    env: &Env<WithoutTls>,
    dir: &Path,
    network: Network,
) -> Result<OpenedDbs, StoreError> {
    let params = network.params();
    let genesis = params.genesis;
    let hash = genesis.block_hash();
    let txn = env.write_txn()?;
    let dbs = env.create_databases_and_commit(txn, |opener, txn| {
        let meta = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_META))?;
        let best = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_HEADERS))?;
        let side = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_SIDE))?;
        let index = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_HASH_INDEX))?;
        let addrbook = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_ADDRBOOK))?;
        meta.put(txn, layout::META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
        meta.put(txn, layout::META_NETWORK, network.name().as_bytes())?;
        meta.put(txn, layout::META_TIP, &layout::tip_value(0, &hash))?;
        meta.put(txn, layout::META_WORK, &genesis.work().to_be_bytes())?;
        // Genesis alone is the tail: nothing is indexed yet (`layout::indexed_end`).
        best::append(best, txn, dir, 0, &[genesis])?;
        Ok::<_, StoreError>(CommitOrAbort::<_, ()>::Commit((
            (meta, best, side, index),
            Some(addrbook),
        )))
    })?;
    dbs.commit()
        .ok_or_else(|| StoreError::Mismatch("store creation was aborted".into()))
}

/// Creates the (empty) address book database in a store written before it existed, in one
/// transaction of its own, called only after the metadata checks accepted the store.
pub(crate) fn create_addr_book(env: &Env<WithoutTls>, dir: &Path) -> Result<RawDb, StoreError> {
    let db = write_growing(env, dir, |txn| {
        let created = env.create_databases_and_commit(txn, |opener, txn| {
            let db = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_ADDRBOOK))?;
            Ok::<_, StoreError>(CommitOrAbort::<_, ()>::Commit(db))
        })?;
        created
            .commit()
            .ok_or_else(|| StoreError::Mismatch("address book creation was aborted".into()))
    })?;
    tracing::info!(dir = %dir.display(), "address book database added to the store");
    Ok(db)
}

/// Runs `f` with a new write transaction, which `f` commits (heed's database creation commits
/// it); when LMDB reports the map full the map is doubled and `f` run again. Only for writes
/// made while opening, before any other transaction of this process exists on `env` (which
/// is what makes the resize safe); a [`crate::HeaderStore`] grows its map in `apply`'s loop.
pub(crate) fn write_growing<R>(
    env: &Env<WithoutTls>,
    dir: &Path,
    mut f: impl FnMut(RwTxn<'_>) -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    loop {
        match f(env.write_txn()?) {
            Err(e) if e.is_map_full() => {
                let current = env.info().map_size;
                let exhausted = || StoreError::MapExhausted {
                    dir: dir.to_path_buf(),
                    map_size: current,
                };
                let next = current.checked_mul(2).ok_or_else(exhausted)?;
                // SAFETY: the caller opened the environment and holds no transaction on it
                // (the one `f` got was aborted when it returned the error).
                unsafe { env.resize(next) }.map_err(|_| exhausted())?;
                tracing::info!(dir = %dir.display(), map_size = next, "header store map grown");
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starting_map_size_covers_existing_data() {
        assert_eq!(starting_map_size(1 << 20, 0), 1 << 20);
        assert_eq!(starting_map_size(1 << 20, 3 << 20), 4 << 20);
        assert_eq!(starting_map_size(1 << 20, 1 << 20), 2 << 20);
        assert_eq!(starting_map_size(5000, 0), 4096);
    }
}
