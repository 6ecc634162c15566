//! The store's errors. Each message is one line that says what went wrong and what the operator
//! (or the calling code) can do about it.

use std::path::PathBuf;

use headway_core::chain::LoadError;
use headway_core::Network;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory belongs to another network.
    #[error(
        "data directory {dir} was created for {found}, not {wanted}: use --datadir with another \
         directory or --network {found}"
    )]
    WrongNetwork {
        /// The store directory.
        dir: PathBuf,
        /// The network recorded in the store (as written, it may be a name we do not know).
        found: String,
        /// The network asked for.
        wanted: Network,
    },
    /// The store was written with a layout this build does not understand.
    #[error(
        "header store in {dir} has schema version {found}, this headway reads version \
         {supported}: run the headway version that wrote it, or use --datadir with another \
         directory"
    )]
    UnknownSchema {
        /// The store directory.
        dir: PathBuf,
        /// The version found.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// A read-only open found a store of an older schema (1, 2 or 3), which only a read-write
    /// open migrates (the node does it when it starts); a read-only open never writes.
    #[error(
        "header store in {dir} has schema version {found}, which this headway upgrades to \
         version {} when it opens the store read-write: start the node on this data directory \
         once (or wait until the running node has finished upgrading it) and run this again",
        crate::SCHEMA_VERSION
    )]
    NeedsMigration {
        /// The store directory.
        dir: PathBuf,
        /// The store's schema version.
        found: u32,
    },
    /// A read-only open found no store.
    #[error(
        "no header store in {dir}: run a node with this data directory first, or point \
         --datadir at the one it uses"
    )]
    NoStore {
        /// The directory looked in.
        dir: PathBuf,
    },
    /// The directory holds an LMDB environment that headway did not write.
    #[error(
        "{dir} holds an LMDB database that is not a headway header store: use --datadir with \
         another directory"
    )]
    NotAStore {
        /// The directory.
        dir: PathBuf,
    },
    /// LMDB could not open the files (permissions, not an LMDB file, damaged).
    #[error(
        "cannot open the header store in {dir}: {source}: check the directory's permissions, or \
         move it aside and sync again if it is damaged"
    )]
    Open {
        /// The store directory.
        dir: PathBuf,
        /// What LMDB or the OS said.
        source: heed::Error,
    },
    /// The store's contents break its own format.
    #[error(
        "header store in {dir} is corrupt ({detail}): move the directory aside and sync again"
    )]
    Corrupt {
        /// The store directory.
        dir: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// A change does not fit the stored chain; nothing of the `apply` call was written.
    #[error(
        "persist change does not fit the stored chain ({0}); nothing was written: restart the \
         node so that it reloads its chain from the store"
    )]
    Mismatch(String),
    /// An address book change the store cannot hold (a record key that is empty, too long for
    /// LMDB or in the store's reserved range, a value over the store's bound); nothing of the
    /// call was written.
    #[error(
        "address book change cannot be stored ({0}); nothing was written: the change was built \
         wrongly, report it as a bug"
    )]
    BadAddrChange(String),
    /// The stored headers do not form a tree the core accepts.
    #[error("stored headers do not load ({0}): move the data directory aside and sync again")]
    Load(#[from] LoadError),
    /// A write on a store opened with [`crate::HeaderStore::open_read_only`].
    #[error("the header store was opened read-only: open it with HeaderStore::open to write")]
    ReadOnly,
    /// The map cannot grow any further.
    #[error(
        "header store in {dir} cannot grow beyond {map_size} bytes: free address space or use \
         another --datadir"
    )]
    MapExhausted {
        /// The store directory.
        dir: PathBuf,
        /// The size reached.
        map_size: usize,
    },
    /// A read or write failed in LMDB (disk full, I/O error).
    #[error("header store I/O failed: {0}: check free disk space and the disk's health")]
    Lmdb(#[from] heed::Error),
    /// Creating the data directory failed.
    #[error("cannot create the data directory {dir}: {source}: check the path and permissions")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// An error raised by a caller's callback (for example in `for_each_best`).
    #[error("{0}")]
    Callback(String),
}

impl StoreError {
    /// [`StoreError::Corrupt`] for the store in `dir`: the one constructor the store's modules
    /// share.
    pub(crate) fn corrupt(dir: &std::path::Path, detail: String) -> StoreError {
        StoreError::Corrupt {
            dir: dir.to_path_buf(),
            detail,
        }
    }

    /// Whether this is LMDB's "map full", which the store answers by growing the map.
    pub(crate) fn is_map_full(&self) -> bool {
        matches!(
            self,
            StoreError::Lmdb(heed::Error::Mdb(heed::MdbError::MapFull))
        )
    }
}
