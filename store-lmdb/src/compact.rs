//! Compacting the data file after a migration.
//!
//! LMDB never shrinks its file: the pages a migration frees (schema 1's hash-keyed headers,
//! the key-a-header index of schemas 2 and 3) become free pages that later writes reuse, and
//! the file keeps its old size. A schema-1 mainnet store stays at 263 bytes a header on disk
//! after its upgrade, though it holds 87. So the open that migrates a store also compacts
//! it: LMDB's compacting copy (`mdb_env_copy2` with `MDB_CP_COMPACT`) writes only the live
//! pages, in order, to [`COMPACT_FILE`]; the copy is synced, the environment closed, and the
//! copy renamed over `data.mdb`.
//!
//! Crash safety: until the rename the store is the migrated `data.mdb`, already committed and
//! whole; the rename is atomic, and after it the store is the copy, whole too. A copy left
//! beside the data file by a kill is never read: the next read-write open removes it and
//! compacts again. The lock file goes with the old data file, because it holds that file's
//! transaction ids and the copy starts over at 1; LMDB rebuilds it at the next open (as
//! after any crash).
//!
//! A failed compaction (a full disk, say) only logs a warning: the store is upgraded and
//! whole, only larger than it needs to be.

use std::fs;
use std::io;
use std::path::Path;

use heed::{CompactionOption, Env, WithoutTls};

/// The compacted copy, beside `data.mdb` until it replaces it.
pub(crate) const COMPACT_FILE: &str = "data.mdb.compact";
/// LMDB's data file in the store directory.
const DATA_FILE: &str = "data.mdb";
/// LMDB's lock file in the store directory.
const LOCK_FILE: &str = "lock.mdb";

/// Whether a compaction of the store in `dir` was cut short (its copy is still there).
pub(crate) fn interrupted(dir: &Path) -> bool {
    dir.join(COMPACT_FILE).exists()
}

/// Writes a compacted copy of `env`'s data file to [`COMPACT_FILE`] and syncs it; gives its
/// size. On failure the partial copy is removed, and the store is untouched either way.
pub(crate) fn write_copy(env: &Env<WithoutTls>, dir: &Path) -> io::Result<u64> {
    let path = dir.join(COMPACT_FILE);
    let copied = env
        .copy_to_path(&path, CompactionOption::Enabled)
        .map_err(io::Error::other)
        .and_then(|file| {
            file.sync_all()?;
            Ok(file.metadata()?.len())
        });
    if copied.is_err() {
        let _ = fs::remove_file(&path);
    }
    copied
}

/// Puts the synced copy in place of the data file (the environment must be closed), removes
/// the old lock file and syncs the directory, so that the rename is durable.
pub(crate) fn install_copy(dir: &Path) -> io::Result<()> {
    fs::rename(dir.join(COMPACT_FILE), dir.join(DATA_FILE))?;
    match fs::remove_file(dir.join(LOCK_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    fs::File::open(dir)?.sync_all()
}

/// The size of the store's data file (0 if there is none).
pub(crate) fn data_len(dir: &Path) -> u64 {
    fs::metadata(dir.join(DATA_FILE))
        .map(|m| m.len())
        .unwrap_or(0)
}
