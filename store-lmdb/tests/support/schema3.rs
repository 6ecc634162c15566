//! Schemas 2 and 3 for the migration tests: a closed store of today's schema turned back into
//! one of schema 2 or 3 (`hash_index` dropped; `hashes` written as those schemas did: height's
//! partition (u16 BE) ‖ the hash's first 6 bytes ‖ the height's low 16 bits (u16 BE), no
//! value, for every best-chain header in schema 2 and for those below the tip's partition in
//! schema 3), and a check that such a store is still whole. Written from the layouts'
//! description, not from the crate's code, so that the tests do not trust it.

use std::path::Path;

use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::consensus::serialize;
use headway_core::bitcoin::BlockHash;
use headway_core::Network;
use headway_store_lmdb::{HeaderStore, StoreOptions};
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, EnvOpenOptions, PutFlags};

use super::schema1::with_env;

/// The heights a partition covers.
const PARTITION_HEIGHTS: usize = 1 << 16;

/// A schema-2/3 `hashes` key.
pub fn key(height: usize, hash: &BlockHash) -> [u8; 10] {
    let mut out = [0u8; 10];
    out[..2].copy_from_slice(&((height >> 16) as u16).to_be_bytes());
    out[2..8].copy_from_slice(&hash.as_raw_hash()[..6]);
    out[8..].copy_from_slice(&((height & 0xffff) as u16).to_be_bytes());
    out
}

/// The heights schema `schema` (2 or 3) indexes on the best chain `best`.
pub fn indexed(best: &[Header], schema: u32) -> usize {
    match schema {
        2 => best.len(),
        3 => (best.len() - 1) / PARTITION_HEIGHTS * PARTITION_HEIGHTS,
        other => panic!("no schema {other} here"),
    }
}

/// Turns the closed store in `dir`, whose best chain is `best`, into a store of `schema` (2 or
/// 3), in one transaction.
pub fn downgrade(dir: &Path, best: &[Header], schema: u32) {
    let mut keys: Vec<[u8; 10]> = best[..indexed(best, schema)]
        .iter()
        .enumerate()
        .map(|(height, header)| key(height, &header.block_hash()))
        .collect();
    keys.sort_unstable();
    let mut options = EnvOpenOptions::new();
    options.max_dbs(8);
    // SAFETY: a closed store nothing else in this process opens.
    let env = unsafe { options.open(dir) }.expect("open the environment");
    let txn = env.write_txn().unwrap();
    env.create_databases_and_commit(txn, |opener, txn| {
        let packed: Database<Bytes, Bytes> = opener
            .open_database(txn, Some("hash_index"))?
            .expect("a schema-4 store");
        // SAFETY: the handle is not used again.
        unsafe { packed.remove(txn)? };
        let hashes: Database<Bytes, Bytes> = opener.create_database(txn, Some("hashes"))?;
        for key in &keys {
            hashes.put_with_flags(txn, PutFlags::APPEND, key, &[])?;
        }
        let meta: Database<Bytes, Bytes> = opener.open_database(txn, Some("meta"))?.expect("meta");
        meta.put(txn, b"schema", &schema.to_be_bytes())?;
        Ok::<_, heed::Error>(CommitOrAbort::<(), ()>::Commit(()))
    })
    .unwrap();
    env.prepare_for_closing().wait();
}

/// Checks that the store in `dir` is a whole store of `schema` (2 or 3) holding `best`: the
/// version, no schema-4 index, the best chain's groups byte for byte, and a `hashes` key for
/// each indexed height (every `sample_every`th checked by key, all by count).
pub fn assert_holds(dir: &Path, best: &[Header], schema: u32, sample_every: usize) {
    with_env(dir, |opener, txn| {
        let open = |name: &str| -> Option<Database<Bytes, Bytes>> {
            opener.open_database(txn, Some(name)).unwrap()
        };
        let meta = open("meta").expect("meta");
        assert_eq!(
            meta.get(txn, b"schema").unwrap(),
            Some(schema.to_be_bytes().as_slice())
        );
        assert!(
            open("hash_index").is_none(),
            "a schema-4 index in schema {schema}"
        );
        let headers = open("headers").expect("headers");
        let mut stored = Vec::with_capacity(best.len() * 80);
        for entry in headers.iter(txn).unwrap() {
            stored.extend_from_slice(entry.unwrap().1);
        }
        let written: Vec<u8> = best.iter().flat_map(serialize).collect();
        assert!(stored == written, "the best chain's groups changed");
        let hashes = open("hashes").expect("hashes");
        let count = indexed(best, schema);
        assert_eq!(hashes.len(txn).unwrap(), count as u64);
        for height in (0..count).step_by(sample_every) {
            let key = key(height, &best[height].block_hash());
            assert!(hashes.get(txn, &key).unwrap().is_some(), "key of {height}");
        }
    });
}

/// A schema-3 store of `best` and `side` in `dir`: written by the store (schema 4), then
/// turned back (`schema3::downgrade`).
pub fn write(dir: &Path, best: &[Header], side: &[(u32, Header)], options: &StoreOptions) {
    {
        let store = HeaderStore::open_with(dir, Network::Mainnet, options).unwrap();
        // The work summed as it goes (`appends` sums each batch's prefix anew).
        let mut work = best[0].work();
        for (i, batch) in best[1..].chunks(100_000).enumerate() {
            for header in batch {
                work = work + header.work();
            }
            store
                .apply(&[headway_core::PersistChain {
                    fork_height: (i * 100_000) as u32,
                    rejoined: vec![],
                    connected: batch.to_vec(),
                    side: vec![],
                    tip_work: work,
                }])
                .unwrap();
        }
        store
            .apply(&[headway_core::PersistChain {
                fork_height: best.len() as u32 - 1,
                rejoined: vec![],
                connected: vec![],
                side: side.to_vec(),
                tip_work: super::work_of(best),
            }])
            .unwrap();
    }
    downgrade(dir, best, 3);
}
