//! [`HeaderStore`]: opening (and refusing, or migrating) a data directory, the read paths, and
//! the growth of the memory map. The write path is in `apply.rs`, the consistency check in
//! `verify.rs`, the best chain's groups in `best.rs`, the hash index in `index.rs`, the
//! migrations from schemas 1, 2 and 3 in `migrate.rs`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use bitcoin::block::Header;
use bitcoin::{BlockHash, Work};
use headway_core::chain::ChainLoader;
use headway_core::{HeaderChain, Network};
use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions, MdbError, RoTxn, WithoutTls};

use crate::best;
use crate::compact;
use crate::error::StoreError;
use crate::layout;
use crate::migrate;
use crate::open::{create, create_addr_book, open_existing, starting_map_size, Existing};
use crate::options::{StoreOptions, StoredHeaders, StoredTip};

/// A database of raw bytes, valid for the life of the environment.
pub(crate) type RawDb = Database<'static, Bytes, Bytes>;

/// How many times a read retries after adopting a map grown by another process.
const MAX_MAP_RETRIES: u32 = 8;

/// The header store: one LMDB environment in a data directory, holding one network's header
/// tree. Safe to share between threads; other processes may read it at the same time through
/// [`HeaderStore::open_read_only`].
pub struct HeaderStore {
    pub(crate) env: Env<WithoutTls>,
    pub(crate) meta: RawDb,
    /// The best chain's header groups (`headers`, see `best.rs`).
    pub(crate) best: RawDb,
    pub(crate) side: RawDb,
    /// The best chain's hash index (`hash_index`, see `index.rs`).
    pub(crate) index: RawDb,
    /// The address book (`addrbook.rs`). Always present on a read-write store (created on open
    /// if the store predates it); `None` on a read-only open of such an older store.
    pub(crate) addrbook: Option<RawDb>,
    pub(crate) network: Network,
    pub(crate) dir: PathBuf,
    pub(crate) read_only: bool,
    /// Transactions hold it shared; changing the map size (allowed only while no transaction of
    /// this process is open) holds it exclusively.
    map_lock: RwLock<()>,
    /// The size of this process's map, kept beside it: reading it from LMDB goes through the
    /// map, which a growth on another thread replaces, and taking the map lock for it would
    /// deadlock a caller inside a read transaction while a growth waits.
    map_size: AtomicUsize,
}

impl std::fmt::Debug for HeaderStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeaderStore")
            .field("dir", &self.dir)
            .field("network", &self.network)
            .field("read_only", &self.read_only)
            .finish()
    }
}

/// Compacts the data file of `env`, just migrated (or whose last compaction was cut short),
/// and gives the environment reopened by `reopen` (see `compact.rs`). A failure before the
/// environment is closed only warns and gives `env` back as it was.
fn compacted(
    env: Env<WithoutTls>,
    dir: &Path,
    reopen: impl FnOnce() -> Result<Env<WithoutTls>, StoreError>,
) -> Result<Env<WithoutTls>, StoreError> {
    let started = Instant::now();
    let before = compact::data_len(dir);
    tracing::info!(
        dir = %dir.display(),
        bytes = before,
        "header store: compacting the data file begins"
    );
    let after = match compact::write_copy(&env, dir) {
        Ok(after) => after,
        Err(error) => {
            tracing::warn!(
                dir = %dir.display(), %error,
                "header store: cannot compact the data file after its upgrade; it keeps its \
                 size, and LMDB reuses its free pages for new headers"
            );
            return Ok(env);
        }
    };
    env.prepare_for_closing().wait();
    if let Err(error) = compact::install_copy(dir) {
        tracing::warn!(
            dir = %dir.display(), %error,
            "header store: cannot put the compacted copy in place; the next start tries again"
        );
    } else {
        tracing::info!(
            dir = %dir.display(),
            bytes_before = before,
            bytes_after = after,
            seconds = started.elapsed().as_secs_f64(),
            "header store: data file compacted"
        );
    }
    reopen()
}

impl HeaderStore {
    /// Opens or creates the store in `dir` for `network` (read-write), with the default
    /// [`StoreOptions`]. Refuses a directory made for another network, an unknown schema
    /// version, or unreadable files, without writing to the data file. A schema-1 store is
    /// migrated to schema 4 first, in bounded transactions, resumable; a schema-2 or schema-3
    /// store in one transaction (see the crate docs); both logged at info.
    pub fn open(dir: &Path, network: Network) -> Result<HeaderStore, StoreError> {
        HeaderStore::open_with(dir, network, &StoreOptions::default())
    }

    /// [`HeaderStore::open`] with explicit options.
    pub fn open_with(
        dir: &Path,
        network: Network,
        options: &StoreOptions,
    ) -> Result<HeaderStore, StoreError> {
        fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            dir: dir.to_path_buf(),
            source,
        })?;
        let data_len = compact::data_len(dir);
        let map_size = starting_map_size(options.initial_map_size, data_len);
        let mut env_options = EnvOpenOptions::new().read_txn_without_tls();
        env_options.map_size(map_size).max_dbs(layout::DB_COUNT);
        // SAFETY: the flags are LMDB's documented durability trade-offs (see `Durability`);
        // none of them affects memory safety, only what a power loss may undo.
        unsafe { env_options.flags(options.durability.env_flags()) };
        // SAFETY: while an environment is open the store never modifies its files behind
        // LMDB's back (a compaction replaces them only once it is closed, `compact.rs`), it
        // keeps LMDB's lock file meanwhile (so other processes coordinate), and heed refuses
        // a second open of the same path in this process.
        let open_env = || {
            unsafe { env_options.open(dir) }.map_err(|source| StoreError::Open {
                dir: dir.to_path_buf(),
                source,
            })
        };
        let compaction_cut_short = compact::interrupted(dir);
        let mut env = open_env()?;
        let mut existing = open_existing(&env, dir, Some(network), false)?;
        let migrated = match existing {
            Existing::Schema1 => migrate::migrate(&env, dir).map(|()| true)?,
            Existing::KeyPerHeader => migrate::migrate_packed(&env, dir).map(|()| true)?,
            _ => false,
        };
        if migrated {
            existing = open_existing(&env, dir, Some(network), false)?;
        }
        if (migrated || compaction_cut_short) && matches!(existing, Existing::Current(..)) {
            env = compacted(env, dir, open_env)?;
            existing = open_existing(&env, dir, Some(network), false)?;
        }
        let ((meta, best, side, index), addrbook) = match existing {
            Existing::Current(dbs, _) => dbs,
            Existing::New => create(&env, dir, network)?,
            Existing::Schema1 | Existing::KeyPerHeader => {
                return Err(StoreError::Corrupt {
                    dir: dir.to_path_buf(),
                    detail: "still of an older schema after its migration".into(),
                })
            }
        };
        // A store written before the address book existed gains its database now, after the
        // checks above accepted it (a refused directory is never written).
        let addrbook = match addrbook {
            Some(db) => db,
            None => create_addr_book(&env, dir)?,
        };
        tracing::info!(dir = %dir.display(), %network, map_size, "header store opened");
        // No other thread can hold this environment yet: reading through the map is safe.
        let env_map_size = env.info().map_size;
        Ok(HeaderStore {
            env,
            meta,
            best,
            side,
            index,
            addrbook: Some(addrbook),
            network,
            dir: dir.to_path_buf(),
            read_only: false,
            map_lock: RwLock::new(()),
            map_size: AtomicUsize::new(env_map_size),
        })
    }

    /// Opens an existing store read-only, safe while a node writes it; the network comes from
    /// the store's metadata. A directory without a store gives [`StoreError::NoStore`] and
    /// nothing is created. A schema-1 store (not yet migrated, or being migrated by a node
    /// right now) gives [`StoreError::NeedsMigration`]: a read-only open never writes, and
    /// the old layout is read only by the migration.
    pub fn open_read_only(dir: &Path) -> Result<HeaderStore, StoreError> {
        if !dir.join("data.mdb").is_file() {
            return Err(StoreError::NoStore {
                dir: dir.to_path_buf(),
            });
        }
        let mut env_options = EnvOpenOptions::new().read_txn_without_tls();
        env_options.max_dbs(layout::DB_COUNT);
        // SAFETY: READ_ONLY only restricts what this process may do.
        unsafe { env_options.flags(EnvFlags::READ_ONLY) };
        // SAFETY: as in `open_with`; a writer in another process coordinates through the lock
        // file, which a read-only opener uses too.
        let env = unsafe { env_options.open(dir) }.map_err(|source| StoreError::Open {
            dir: dir.to_path_buf(),
            source,
        })?;
        let Existing::Current(((meta, best, side, index), addrbook), network) =
            open_existing(&env, dir, None, true)?
        else {
            return Err(StoreError::NoStore {
                dir: dir.to_path_buf(),
            });
        };
        tracing::debug!(dir = %dir.display(), %network, "header store opened read-only");
        // No other thread can hold this environment yet: reading through the map is safe.
        let env_map_size = env.info().map_size;
        Ok(HeaderStore {
            env,
            meta,
            best,
            side,
            index,
            addrbook,
            network,
            dir: dir.to_path_buf(),
            read_only: true,
            map_lock: RwLock::new(()),
            map_size: AtomicUsize::new(env_map_size),
        })
    }

    /// The network this store belongs to.
    pub fn network(&self) -> Network {
        self.network
    }

    /// The store directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The current size of the memory map in bytes (it grows by doubling when full). Safe
    /// beside a growing writer and inside a read transaction: it reads a copy kept with the
    /// map, never the map itself.
    pub fn map_size(&self) -> usize {
        self.map_size.load(Ordering::Acquire)
    }

    /// The map size from LMDB, for callers that hold the map lock (shared or exclusive);
    /// refreshes the kept copy.
    fn map_size_unlocked(&self) -> usize {
        let size = self.env.info().map_size;
        self.map_size.store(size, Ordering::Release);
        size
    }

    /// The best chain from genesis in height order, and the side headers with their heights,
    /// parents first (by height). [`HeaderStore::for_each_stored`] into two vectors.
    pub fn load(&self) -> Result<StoredHeaders, StoreError> {
        self.read(|txn| {
            let (tip_height, _) = self.read_tip(txn)?;
            // Size from the stored groups, not the tip record: a corrupt tip far above the
            // chain must end in the length check, not in a huge up-front allocation.
            let stored = best::len(self.best, txn, &self.dir)?;
            let mut best = Vec::with_capacity(stored.min(tip_height.saturating_add(1)) as usize);
            let mut side = Vec::new();
            self.walk_stored(
                txn,
                |header| {
                    best.push(*header);
                    Ok(())
                },
                |height, header| {
                    side.push((height, *header));
                    Ok(())
                },
            )?;
            Ok((best, side))
        })
    }

    /// Visits everything stored, in one read transaction (one consistent state): `best` with
    /// each best-chain header from genesis to the tip in height order (one cursor pass over the
    /// groups), then `side` with each side header and its height, parents first (by height).
    /// A gap in the best chain, or a best chain that ends before or after the tip record, is
    /// [`StoreError::Corrupt`]; the first error of a visitor stops the walk and is returned as
    /// it is. The visitors must not call [`HeaderStore::apply`] on this store. This is the
    /// streaming form of [`HeaderStore::load`], for a loader that keeps less than whole
    /// headers.
    pub fn for_each_stored(
        &self,
        best: impl FnMut(&Header) -> Result<(), StoreError>,
        side: impl FnMut(u32, &Header) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.read(|txn| self.walk_stored(txn, best, side))
    }

    /// [`HeaderStore::for_each_stored`] inside a read transaction.
    fn walk_stored(
        &self,
        txn: &RoTxn,
        mut best: impl FnMut(&Header) -> Result<(), StoreError>,
        mut side: impl FnMut(u32, &Header) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let (tip_height, _) = self.read_tip(txn)?;
        let next = best::visit(self.best, txn, &self.dir, 0, u32::MAX, |_, header| {
            best(header)
        })?;
        if next != tip_height.saturating_add(1) {
            return Err(self.corrupt(format!(
                "best chain has {next} headers but the tip is at height {tip_height}"
            )));
        }
        let mut sides = Vec::new();
        for entry in self.side.iter(txn)? {
            let (_, value) = entry?;
            let decoded = layout::decode_side_value(value)
                .ok_or_else(|| self.corrupt("malformed side header".into()))?;
            sides.push(decoded);
        }
        // A parent is one height below its child, so height order puts parents first.
        sides.sort_by_key(|(height, _)| *height);
        for (height, header) in &sides {
            side(*height, header)?;
        }
        Ok(())
    }

    /// Up to `max` best-chain headers from height `from` upward, in height order, read in one
    /// transaction on one cursor pass; empty if `from` is above the tip (or `max` is 0). For
    /// answering `getheaders`: the core says where to start and how many (at most 2000), the
    /// store reads them without the core holding full headers.
    pub fn best_headers(&self, from: u32, max: usize) -> Result<Vec<Header>, StoreError> {
        self.read(|txn| {
            let (tip_height, _) = self.read_tip(txn)?;
            if from > tip_height || max == 0 {
                return Ok(Vec::new());
            }
            let count = u32::try_from(max).unwrap_or(u32::MAX);
            let to = tip_height.min(from.saturating_add(count - 1));
            // Sized from what is stored, not from the tip record or `max` alone.
            let stored = best::len(self.best, txn, &self.dir)?;
            let mut out =
                Vec::with_capacity((to - from + 1).min(stored.saturating_sub(from)) as usize);
            let next = best::visit(self.best, txn, &self.dir, from, to, |_, header| {
                out.push(*header);
                Ok(())
            })?;
            if next <= to {
                return Err(self.corrupt(format!("best chain lacks height {next}")));
            }
            Ok(out)
        })
    }

    /// The stored headers rebuilt into a [`HeaderChain`], streamed from one read transaction
    /// into the core's [`ChainLoader`] (no `Vec` of every header, no hashing of the best
    /// chain); a new store gives the genesis-only chain.
    pub fn load_chain(&self) -> Result<HeaderChain, StoreError> {
        let capacity = self.tip()?.map_or(1, |tip| tip.height as usize + 1);
        let loader = std::cell::RefCell::new(ChainLoader::new(self.network.params(), capacity));
        self.for_each_stored(
            |header| Ok(loader.borrow_mut().push_best(header)?),
            |height, header| Ok(loader.borrow_mut().push_side(height, header)?),
        )?;
        Ok(loader.into_inner().finish()?)
    }

    /// The best chain's tip. `None` never happens on a store opened by this crate (a new store
    /// holds genesis); it is kept for stores whose metadata lacks a tip.
    pub fn tip(&self) -> Result<Option<StoredTip>, StoreError> {
        self.read(|txn| {
            let Some(raw_tip) = self.meta.get(txn, layout::META_TIP)? else {
                return Ok(None);
            };
            let (height, hash) = layout::decode_tip_value(raw_tip)
                .ok_or_else(|| self.corrupt("malformed tip record".into()))?;
            let work = self.read_work(txn)?;
            let header = self.best_header(txn, height)?.ok_or_else(|| {
                self.corrupt(format!("no best-chain header at tip height {height}"))
            })?;
            Ok(Some(StoredTip {
                height,
                hash,
                header,
                work,
            }))
        })
    }

    /// The best chain's header at `height`.
    pub fn header_at(&self, height: u32) -> Result<Option<Header>, StoreError> {
        self.read(|txn| self.best_header(txn, height))
    }

    /// A stored header by hash: (height, header, whether it is on the best chain). The full
    /// hash of the header found is checked, whatever the index's prefix matched.
    pub fn header_by_hash(
        &self,
        hash: &BlockHash,
    ) -> Result<Option<(u32, Header, bool)>, StoreError> {
        self.read(|txn| self.entry_by_hash(txn, hash))
    }

    /// Calls `f` for each best-chain header with height in `from..=to` (clamped to the tip), in
    /// height order, inside one read transaction (a consistent snapshot). Stops at the first
    /// error `f` returns. `f` must not call [`HeaderStore::apply`] on this store.
    pub fn for_each_best(
        &self,
        from: u32,
        to: u32,
        mut f: impl FnMut(u32, &Header) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        self.read(|txn| {
            let (tip_height, _) = self.read_tip(txn)?;
            let to = to.min(tip_height);
            if from > to {
                return Ok(());
            }
            let next = best::visit(self.best, txn, &self.dir, from, to, &mut f)?;
            if next <= to {
                return Err(self.corrupt(format!("best chain lacks height {next}")));
            }
            Ok(())
        })
    }

    /// Runs `f` in a read transaction, adopting a map another process has grown.
    pub(crate) fn read<R>(
        &self,
        f: impl FnOnce(&RoTxn<'_, WithoutTls>) -> Result<R, StoreError>,
    ) -> Result<R, StoreError> {
        let mut attempts = 0;
        loop {
            let guard = self.map_shared();
            match self.env.read_txn() {
                Ok(txn) => {
                    let result = f(&txn);
                    drop(txn);
                    drop(guard);
                    return result;
                }
                Err(heed::Error::Mdb(MdbError::MapResized)) if attempts < MAX_MAP_RETRIES => {
                    drop(guard);
                    attempts += 1;
                    self.adopt_grown_map()?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Another process grew the map beyond ours: take the size from the data file.
    fn adopt_grown_map(&self) -> Result<(), StoreError> {
        let _exclusive = self.map_exclusive();
        // SAFETY: the exclusive lock guarantees no transaction of this process is open; size 0
        // tells LMDB to use the size the writer recorded.
        unsafe { self.env.resize(0) }?;
        // Outside the macro: its fields are not evaluated when debug logging is off.
        let map_size = self.map_size_unlocked();
        tracing::debug!(dir = %self.dir.display(), map_size, "adopted grown map");
        Ok(())
    }

    /// Doubles the map after `MDB_MAP_FULL`.
    pub(crate) fn grow_map(&self) -> Result<(), StoreError> {
        let _exclusive = self.map_exclusive();
        let current = self.map_size_unlocked();
        let exhausted = || StoreError::MapExhausted {
            dir: self.dir.clone(),
            map_size: current,
        };
        let next = current.checked_mul(2).ok_or_else(exhausted)?;
        // SAFETY: the exclusive lock guarantees no transaction of this process is open.
        unsafe { self.env.resize(next) }.map_err(|_| exhausted())?;
        self.map_size_unlocked();
        tracing::info!(dir = %self.dir.display(), map_size = next, "header store map grown");
        Ok(())
    }

    pub(crate) fn map_shared(&self) -> RwLockReadGuard<'_, ()> {
        // A poisoned lock guards no data, only exclusion: carry on.
        self.map_lock.read().unwrap_or_else(|e| e.into_inner())
    }

    fn map_exclusive(&self) -> RwLockWriteGuard<'_, ()> {
        self.map_lock.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn corrupt(&self, detail: String) -> StoreError {
        StoreError::corrupt(&self.dir, detail)
    }

    /// The tip record: (height, hash).
    pub(crate) fn read_tip(&self, txn: &RoTxn) -> Result<(u32, BlockHash), StoreError> {
        let raw = self
            .meta
            .get(txn, layout::META_TIP)?
            .ok_or_else(|| self.corrupt("no tip record".into()))?;
        layout::decode_tip_value(raw).ok_or_else(|| self.corrupt("malformed tip record".into()))
    }

    pub(crate) fn read_work(&self, txn: &RoTxn) -> Result<Work, StoreError> {
        let raw = self
            .meta
            .get(txn, layout::META_WORK)?
            .ok_or_else(|| self.corrupt("no chain work record".into()))?;
        layout::decode_work(raw).ok_or_else(|| self.corrupt("malformed chain work record".into()))
    }

    pub(crate) fn best_header(
        &self,
        txn: &RoTxn,
        height: u32,
    ) -> Result<Option<Header>, StoreError> {
        best::header_at(self.best, txn, &self.dir, height)
    }

    pub(crate) fn side_header(
        &self,
        txn: &RoTxn,
        hash: &BlockHash,
    ) -> Result<Option<(u32, Header)>, StoreError> {
        match self.side.get(txn, &layout::hash_key(hash))? {
            Some(raw) => layout::decode_side_value(raw)
                .map(Some)
                .ok_or_else(|| self.corrupt(format!("malformed side header {hash}"))),
            None => Ok(None),
        }
    }
}
