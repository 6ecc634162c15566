//! Opening a store: the starting map size, the metadata checks that refuse a directory before
//! anything is written, and the creation of a new store.

use std::path::Path;

use headway_core::Network;
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, MdbError, RoTxn, WithoutTls};

use crate::error::StoreError;
use crate::layout::{self, SCHEMA_VERSION};
use crate::store::RawDb;

/// The four header databases: meta, best, side, index.
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

/// Opens the databases of an existing store and checks its metadata (network when `wanted` is
/// given, schema). `None` if the environment is empty (a new store). Reads only: a missing
/// address book database is reported as `None`, not created.
pub(crate) fn open_existing(
    env: &Env<WithoutTls>,
    dir: &Path,
    wanted: Option<Network>,
) -> Result<Option<(OpenedDbs, Network)>, StoreError> {
    let txn = env.read_txn()?;
    let mut network = None;
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
        network = Some(check_metadata(meta, txn, dir, wanted)?);
        let corrupt = |name: &str| StoreError::Corrupt {
            dir: dir.to_path_buf(),
            detail: format!("the {name} database is missing"),
        };
        let open = |name: &str| -> Result<_, StoreError> {
            opener
                .open_database::<Bytes, Bytes>(txn, Some(name))?
                .ok_or_else(|| corrupt(name))
        };
        let best = open(layout::DB_BEST)?;
        let side = open(layout::DB_SIDE)?;
        let index = open(layout::DB_INDEX)?;
        let addrbook = opener.open_database::<Bytes, Bytes>(txn, Some(layout::DB_ADDRBOOK))?;
        Ok(CommitOrAbort::Commit(Some((
            (meta, best, side, index),
            addrbook,
        ))))
    })?;
    Ok(match (opened.commit().flatten(), network) {
        (Some(dbs), Some(network)) => Some((dbs, network)),
        _ => None,
    })
}

/// Checks the schema version and, when `wanted` is given, the network; returns the store's
/// network.
fn check_metadata(
    meta: Database<'_, Bytes, Bytes>,
    txn: &RoTxn,
    dir: &Path,
    wanted: Option<Network>,
) -> Result<Network, StoreError> {
    let corrupt = |detail: &str| StoreError::Corrupt {
        dir: dir.to_path_buf(),
        detail: detail.into(),
    };
    let schema = meta
        .get(txn, layout::META_SCHEMA)?
        .ok_or_else(|| corrupt("no schema version"))?;
    let schema =
        layout::decode_height(schema).ok_or_else(|| corrupt("malformed schema version"))?;
    if schema != SCHEMA_VERSION {
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
        (Some(found), Some(wanted)) if found == wanted => Ok(found),
        (Some(found), None) => Ok(found),
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
pub(crate) fn create(env: &Env<WithoutTls>, network: Network) -> Result<OpenedDbs, StoreError> {
    let params = network.params();
    let genesis = params.genesis;
    let hash = genesis.block_hash();
    let txn = env.write_txn()?;
    let dbs = env.create_databases_and_commit(txn, |opener, txn| {
        let meta = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_META))?;
        let best = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_BEST))?;
        let side = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_SIDE))?;
        let index = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_INDEX))?;
        let addrbook = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_ADDRBOOK))?;
        meta.put(txn, layout::META_SCHEMA, &SCHEMA_VERSION.to_be_bytes())?;
        meta.put(txn, layout::META_NETWORK, network.name().as_bytes())?;
        meta.put(txn, layout::META_TIP, &layout::tip_value(0, &hash))?;
        meta.put(txn, layout::META_WORK, &genesis.work().to_be_bytes())?;
        best.put(
            txn,
            &layout::height_key(0),
            &layout::encode_header(&genesis),
        )?;
        index.put(txn, &layout::hash_key(&hash), &layout::index_value(0, true))?;
        Ok::<_, StoreError>(CommitOrAbort::<_, ()>::Commit((
            (meta, best, side, index),
            Some(addrbook),
        )))
    })?;
    dbs.commit()
        .ok_or_else(|| StoreError::Mismatch("store creation was aborted".into()))
}

/// Creates the (empty) address book database in a store written before it existed, in one
/// transaction of its own, called only after the metadata checks accepted the store. Runs
/// before any other transaction of this process exists, so a full map is grown right here
/// (doubling, as [`crate::HeaderStore`]'s writes do) and the creation retried.
pub(crate) fn create_addr_book(env: &Env<WithoutTls>, dir: &Path) -> Result<RawDb, StoreError> {
    loop {
        let txn = env.write_txn()?;
        let created = env.create_databases_and_commit(txn, |opener, txn| {
            let db = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_ADDRBOOK))?;
            Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit(db))
        });
        match created {
            Ok(done) => {
                tracing::info!(dir = %dir.display(), "address book database added to the store");
                return done.commit().ok_or_else(|| {
                    StoreError::Mismatch("address book creation was aborted".into())
                });
            }
            Err(heed::Error::Mdb(MdbError::MapFull)) => {
                let current = env.info().map_size;
                let exhausted = || StoreError::MapExhausted {
                    dir: dir.to_path_buf(),
                    map_size: current,
                };
                let next = current.checked_mul(2).ok_or_else(exhausted)?;
                // SAFETY: the environment was opened by the caller a moment ago and no
                // transaction of this process is open on it (the one above was aborted).
                unsafe { env.resize(next) }.map_err(|_| exhausted())?;
            }
            Err(e) => return Err(e.into()),
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
