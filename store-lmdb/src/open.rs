//! Opening a store: the starting map size, the metadata checks that refuse a directory before
//! anything is written, and the creation of a new store.

use std::path::Path;

use headway_core::Network;
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, Env, RoTxn, WithoutTls};

use crate::error::StoreError;
use crate::layout::{self, SCHEMA_VERSION};
use crate::store::RawDb;

/// The four databases: meta, best, side, index.
pub(crate) type Dbs = (RawDb, RawDb, RawDb, RawDb);

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
/// given, schema). `None` if the environment is empty (a new store). Reads only.
pub(crate) fn open_existing(
    env: &Env<WithoutTls>,
    dir: &Path,
    wanted: Option<Network>,
) -> Result<Option<(Dbs, Network)>, StoreError> {
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
                Ok(CommitOrAbort::<Option<Dbs>, ()>::Commit(None))
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
        Ok(CommitOrAbort::Commit(Some((meta, best, side, index))))
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

/// Creates the databases of a new store and writes its metadata and the genesis header, in one
/// transaction.
pub(crate) fn create(env: &Env<WithoutTls>, network: Network) -> Result<Dbs, StoreError> {
    let params = network.params();
    let genesis = params.genesis;
    let hash = genesis.block_hash();
    let txn = env.write_txn()?;
    let dbs = env.create_databases_and_commit(txn, |opener, txn| {
        let meta = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_META))?;
        let best = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_BEST))?;
        let side = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_SIDE))?;
        let index = opener.create_database::<Bytes, Bytes>(txn, Some(layout::DB_INDEX))?;
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
        Ok::<_, StoreError>(CommitOrAbort::<_, ()>::Commit((meta, best, side, index)))
    })?;
    dbs.commit()
        .ok_or_else(|| StoreError::Mismatch("store creation was aborted".into()))
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
