//! The store's tuning ([`StoreOptions`], [`Durability`]) and the plain data it hands out.

use bitcoin::block::Header;
use bitcoin::{BlockHash, Work};
use heed::EnvFlags;

/// How hard a commit works to reach the disk. Every level survives a killed process: a commit
/// is in the OS page cache when `apply` returns. They differ on power loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every commit waits for the data and then the meta page to reach the disk (two `fsync`s).
    /// A power loss loses nothing that `apply` returned for. The default: measured as fast as
    /// `NoMetaSync` (see the crate docs), because the data fsync dominates.
    #[default]
    Full,
    /// One `fsync` a commit (LMDB `MDB_NOMETASYNC`): the data pages are synced, the meta page
    /// that points at them is synced by the next commit. A power loss can roll back the last
    /// commit, never corrupt the store.
    NoMetaSync,
    /// No `fsync` at all (LMDB `MDB_NOSYNC`): for benchmarks and throw-away stores only. A
    /// power loss may lose recent commits or, on file systems that reorder writes, corrupt it.
    NoSync,
}

impl Durability {
    pub(crate) fn env_flags(self) -> EnvFlags {
        match self {
            Durability::Full => EnvFlags::empty(),
            Durability::NoMetaSync => EnvFlags::NO_META_SYNC,
            Durability::NoSync => EnvFlags::NO_SYNC,
        }
    }
}

/// Tuning for [`crate::HeaderStore::open_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// The first size of the memory map in bytes (a multiple of the page size). The map doubles
    /// whenever it is full, so this only saves a few regrowths; on reopen the map starts at
    /// least at the size of the data file.
    pub initial_map_size: usize,
    /// The commit policy.
    pub durability: Durability,
}

/// 64 MiB: about 300,000 headers before the first doubling.
pub const DEFAULT_INITIAL_MAP_SIZE: usize = 64 << 20;

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            initial_map_size: DEFAULT_INITIAL_MAP_SIZE,
            durability: Durability::default(),
        }
    }
}

/// The best chain's tip as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTip {
    /// Its height.
    pub height: u32,
    /// Its hash.
    pub hash: BlockHash,
    /// Its header.
    pub header: Header,
    /// The cumulative work of the best chain up to and including it.
    pub work: Work,
}

/// What [`crate::HeaderStore::load`] returns: the best chain from genesis in height order, and
/// the side headers with their heights, parents first.
pub type StoredHeaders = (Vec<Header>, Vec<(u32, Header)>);
