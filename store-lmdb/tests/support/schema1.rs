//! Schema 1 for the migration tests: a small writer of the layout this crate used before
//! schema 2 (`best`: height → header, `index`: hash → height ‖ best/side flag, `side`, `meta`,
//! `addrbook`, as `layout::v1` and the `schema1-regtest-100` fixture describe it), and a
//! reader that checks such a store holds what was written. The migration itself reads schema
//! 1 through the crate's own code; this copy exists so that the tests do not trust it.

use std::path::Path;

use headway_core::bitcoin::block::Header;
use headway_core::bitcoin::consensus::{deserialize, serialize};
use headway_core::bitcoin::hashes::Hash;
use headway_core::bitcoin::BlockHash;
use headway_core::Network;
use heed::types::Bytes;
use heed::{CommitOrAbort, Database, EnvFlags, EnvOpenOptions, PutFlags};

use super::work_of;

/// Headers a writer transaction holds.
const WRITE_BATCH: usize = 100_000;
/// The map of a written store: room for a few million schema-1 headers.
const MAP_SIZE: usize = 4 << 30;

/// Writes a schema-1 store for `network` into the empty directory `dir`: `best` (index =
/// height, genesis first) as the best chain, `side` as side headers. No fsync.
pub fn write(dir: &Path, network: Network, best: &[Header], side: &[(u32, Header)]) {
    let mut options = EnvOpenOptions::new();
    options.map_size(MAP_SIZE).max_dbs(8);
    // SAFETY: a fresh directory nothing else opens; NO_SYNC only weakens power-loss safety.
    let env = unsafe {
        options.flags(EnvFlags::NO_SYNC);
        options.open(dir)
    }
    .expect("open a schema-1 environment");
    let tip = best.len() - 1;
    let mut done = 0;
    while done < best.len() || done == 0 {
        let end = (done + WRITE_BATCH).min(best.len());
        let txn = env.write_txn().unwrap();
        env.create_databases_and_commit(txn, |opener, txn| {
            let meta: Database<Bytes, Bytes> = opener.create_database(txn, Some("meta"))?;
            let best_db: Database<Bytes, Bytes> = opener.create_database(txn, Some("best"))?;
            let side_db: Database<Bytes, Bytes> = opener.create_database(txn, Some("side"))?;
            let index: Database<Bytes, Bytes> = opener.create_database(txn, Some("index"))?;
            let _: Database<Bytes, Bytes> = opener.create_database(txn, Some("addrbook"))?;
            for (height, header) in best.iter().enumerate().take(end).skip(done) {
                let height = height as u32;
                best_db.put_with_flags(
                    txn,
                    PutFlags::APPEND,
                    &height.to_be_bytes(),
                    &serialize(header),
                )?;
                index.put(
                    txn,
                    header.block_hash().as_byte_array(),
                    &index_value(height, true),
                )?;
            }
            if end == best.len() {
                for (height, header) in side {
                    let mut value = height.to_be_bytes().to_vec();
                    value.extend_from_slice(&serialize(header));
                    side_db.put(txn, header.block_hash().as_byte_array(), &value)?;
                    index.put(
                        txn,
                        header.block_hash().as_byte_array(),
                        &index_value(*height, false),
                    )?;
                }
                meta.put(txn, b"schema", &1u32.to_be_bytes())?;
                meta.put(txn, b"network", network.name().as_bytes())?;
                let mut tip_value = (tip as u32).to_be_bytes().to_vec();
                tip_value.extend_from_slice(best[tip].block_hash().as_byte_array());
                meta.put(txn, b"tip", &tip_value)?;
                meta.put(txn, b"work", &work_of(best).to_be_bytes())?;
            }
            Ok::<_, heed::Error>(CommitOrAbort::<(), ()>::Commit(()))
        })
        .unwrap();
        done = end;
        if best.is_empty() {
            break;
        }
    }
}

fn index_value(height: u32, on_best: bool) -> [u8; 5] {
    let h = height.to_be_bytes();
    [h[0], h[1], h[2], h[3], u8::from(on_best)]
}

/// The schema version recorded in the store in `dir` (opened read-only, closed again).
pub fn schema(dir: &Path) -> u32 {
    with_env(dir, |opener, txn| {
        let meta: Database<Bytes, Bytes> = opener
            .open_database(txn, Some("meta"))
            .unwrap()
            .expect("a meta database");
        let raw = meta.get(txn, b"schema").unwrap().expect("a schema record");
        u32::from_be_bytes(raw.try_into().expect("4 bytes"))
    })
}

/// Whether the named database exists in the store in `dir`.
pub fn has_database(dir: &Path, name: &str) -> bool {
    with_env(dir, |opener, txn| {
        let db: Option<Database<Bytes, Bytes>> = opener.open_database(txn, Some(name)).unwrap();
        db.is_some()
    })
}

/// Checks that the schema-1 store in `dir` holds exactly `best` and `side`: the tip record,
/// every height of `best`, the side set, and the index entry of every `sample_every`th best
/// header (and of the tip and every side header).
pub fn assert_holds(dir: &Path, best: &[Header], side: &[(u32, Header)], sample_every: usize) {
    with_env(dir, |opener, txn| {
        let open = |name: &str| -> Database<Bytes, Bytes> {
            opener
                .open_database(txn, Some(name))
                .unwrap()
                .unwrap_or_else(|| panic!("schema-1 database {name} is missing"))
        };
        let (meta, best_db, side_db, index) =
            (open("meta"), open("best"), open("side"), open("index"));
        let tip = meta.get(txn, b"tip").unwrap().expect("a tip");
        let tip_height = best.len() as u32 - 1;
        assert_eq!(&tip[..4], &tip_height.to_be_bytes());
        assert_eq!(
            &tip[4..],
            best[tip_height as usize].block_hash().as_byte_array()
        );
        let mut count = 0;
        for (i, entry) in best_db.iter(txn).unwrap().enumerate() {
            let (key, value) = entry.unwrap();
            assert_eq!(key, (i as u32).to_be_bytes());
            let header: Header = deserialize(value).unwrap();
            assert_eq!(header, best[i], "schema-1 header at height {i}");
            count += 1;
        }
        assert_eq!(count, best.len(), "schema-1 best chain length");
        assert_eq!(side_db.len(txn).unwrap(), side.len() as u64);
        let indexed = |hash: BlockHash| {
            index
                .get(txn, hash.as_byte_array())
                .unwrap()
                .map(|v| v.to_vec())
        };
        let sampled = (0..best.len())
            .step_by(sample_every.max(1))
            .chain([best.len() - 1]);
        for height in sampled {
            let value = indexed(best[height].block_hash());
            assert_eq!(
                value,
                Some(index_value(height as u32, true).to_vec()),
                "{height}"
            );
        }
        for (height, header) in side {
            assert_eq!(
                indexed(header.block_hash()),
                Some(index_value(*height, false).to_vec())
            );
            let mut value = height.to_be_bytes().to_vec();
            value.extend_from_slice(&serialize(header));
            assert_eq!(
                side_db
                    .get(txn, header.block_hash().as_byte_array())
                    .unwrap(),
                Some(value.as_slice())
            );
        }
    })
}

/// Runs `f` on the environment in `dir` opened read-only, then closes it (heed refuses a
/// second open of one path in a process, and the store opens it next).
pub fn with_env<R>(
    dir: &Path,
    f: impl FnOnce(&heed::DatabaseOpener<'_, heed::WithTls>, &heed::RoTxn<'_>) -> R,
) -> R {
    let mut options = EnvOpenOptions::new();
    options.max_dbs(8);
    // SAFETY: read-only; the files are LMDB's and nothing in this process has them open.
    let env = unsafe {
        options.flags(EnvFlags::READ_ONLY);
        options.open(dir)
    }
    .expect("open the environment read-only");
    let mut out = None;
    let txn = env.read_txn().unwrap();
    env.open_databases_and_commit(txn, |opener, txn| {
        out = Some(f(opener, txn));
        Ok::<_, heed::Error>(CommitOrAbort::<(), ()>::Commit(()))
    })
    .unwrap();
    env.prepare_for_closing().wait();
    out.expect("the closure ran")
}

/// Headers never mined: `count` headers chained on `network`'s genesis (index 0), distinct,
/// fast to make (one hash each). The store does not check proof of work.
pub fn synthetic_chain(network: Network, count: usize) -> Vec<Header> {
    use headway_core::bitcoin::block::Version;
    use headway_core::bitcoin::{CompactTarget, TxMerkleNode};
    let genesis = network.params().genesis;
    let mut chain = Vec::with_capacity(count + 1);
    chain.push(genesis);
    let mut prev = genesis.block_hash();
    for i in 1..=count as u32 {
        let mut merkle = [0u8; 32];
        merkle[..4].copy_from_slice(&i.to_le_bytes());
        let header = Header {
            version: Version::from_consensus(4),
            prev_blockhash: prev,
            merkle_root: TxMerkleNode::from_byte_array(merkle),
            time: genesis.time + 600 * i,
            bits: CompactTarget::from_consensus(0x1d00_ffff),
            nonce: i,
        };
        prev = header.block_hash();
        chain.push(header);
    }
    chain
}

/// Side headers for `chain`: a stale branch of `len` headers forking below its tip at
/// `fork` (heights `fork + 1..`), built as [`synthetic_chain`] does but with another nonce.
pub fn side_branch(chain: &[Header], fork: usize, len: usize) -> Vec<(u32, Header)> {
    let mut out = Vec::with_capacity(len);
    let mut prev = chain[fork];
    for i in 0..len {
        let header = Header {
            nonce: prev.nonce ^ 0x5a5a_0000 ^ i as u32,
            prev_blockhash: prev.block_hash(),
            ..chain[fork + 1 + i]
        };
        out.push(((fork + 1 + i) as u32, header));
        prev = header;
    }
    out
}
