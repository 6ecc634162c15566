//! The serving node's store of the loopback benches (`v2_sync`, `sync_scale`): the synthetic
//! chain, mined once and written with the store library the node uses, cached under the target
//! directory by length and schema, and shared by both benches.

use super::*;

/// `target/bench-served-store`: beside the build, so `cargo clean` removes it, and shared by every
/// run of this bench.
pub(super) fn cache_root() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("bench-served-store")
}

/// A's store, ready to be copied into a data directory.
pub(super) struct ServedStore {
    /// The directory holding `data.mdb` (a network directory: `<datadir>/regtest`).
    pub(super) dir: PathBuf,
    /// The chain's tip.
    pub(super) height: u32,
    pub(super) tip: BlockHash,
    /// What the setup did, for the report.
    pub(super) how: String,
}

/// The cached serving store for a chain of `headers`, built first if it is missing or
/// incomplete. The key holds the length (a changed size builds anew) and the store's schema
/// version (a store of another schema would be refused by the node).
pub(super) fn serving_store(cache: &Path, headers: u32) -> Result<ServedStore> {
    let entry = cache.join(format!("store-{headers}-schema{SCHEMA_VERSION}"));
    let dir = entry.join(Network::Regtest.name());
    if let Some((height, tip)) = check_cached(&entry, &dir, headers) {
        return Ok(ServedStore {
            dir,
            height,
            tip,
            how: format!("reused the cached store of {headers} headers"),
        });
    }
    // Built under a scratch name and renamed when complete, so an interrupted build is never
    // taken for a finished one.
    let building = cache.join(format!("building-{headers}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let build_dir = building.join(Network::Regtest.name());
    std::fs::create_dir_all(&build_dir)
        .with_context(|| format!("cannot create {}", build_dir.display()))?;

    let mining = Instant::now();
    let chain = mine_chain(headers)?;
    let mined = mining.elapsed();
    let writing = Instant::now();
    let tip = write_store(&build_dir, &chain)?;
    let written = writing.elapsed();
    drop(chain);

    let mut marker = File::create(building.join(READY_MARKER))
        .with_context(|| format!("cannot write the marker in {}", building.display()))?;
    writeln!(marker, "{headers} {tip}").context("cannot write the ready marker")?;
    marker.sync_all().context("cannot sync the ready marker")?;
    let _ = std::fs::remove_dir_all(&entry);
    std::fs::rename(&building, &entry)
        .with_context(|| format!("cannot move {} to {}", building.display(), entry.display()))?;
    Ok(ServedStore {
        dir,
        height: headers,
        tip,
        how: format!(
            "mined {headers} regtest headers in {:.2} s and wrote them into a store in {:.2} s",
            mined.as_secs_f64(),
            written.as_secs_f64()
        ),
    })
}

/// The cached entry's tip if its marker is there and the store agrees with it.
pub(super) fn check_cached(entry: &Path, dir: &Path, headers: u32) -> Option<(u32, BlockHash)> {
    let marker = std::fs::read_to_string(entry.join(READY_MARKER)).ok()?;
    let (height, hash) = marker.trim().split_once(' ')?;
    let (height, hash) = (height.parse::<u32>().ok()?, hash.parse::<BlockHash>().ok()?);
    let store = HeaderStore::open_read_only(dir).ok()?;
    let tip = store.tip().ok()??;
    (height == headers && tip.height == height && tip.hash == hash).then_some((height, hash))
}

/// The served chain, genesis first. Headers 600 s apart unless that would run past the clock
/// (about 800,000 headers): a node refuses headers more than two hours ahead of it.
pub(super) fn mine_chain(headers: u32) -> Result<Vec<Header>> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the clock is before 1970")?
        .as_secs();
    let genesis = u64::from(headway_regtest::genesis().time);
    let spacing = if genesis + u64::from(headers) * u64::from(headway_regtest::SPACING_SECS) < now {
        headway_regtest::SPACING_SECS
    } else {
        1
    };
    let chain = headway_regtest::chain_spaced(headers as usize, 0x24, spacing);
    ensure!(
        chain.len() == headers as usize + 1,
        "the miner gave {} headers, not {}",
        chain.len(),
        headers + 1
    );
    Ok(chain)
}

/// Writes `chain` (genesis first) into a fresh store in `dir` the way the node's store thread
/// does (`PersistChain` changes of one `headers` message each, many to a transaction) and
/// returns the tip. No fsync while building: the cache is rebuilt if it is ever incomplete,
/// and the node opens it later with its own, full durability.
pub(super) fn write_store(dir: &Path, chain: &[Header]) -> Result<BlockHash> {
    let options = StoreOptions {
        initial_map_size: BUILD_MAP_SIZE,
        durability: Durability::NoSync,
    };
    let store = HeaderStore::open_with(dir, Network::Regtest, &options)
        .with_context(|| format!("cannot create a store in {}", dir.display()))?;
    let mut work = chain[0].work();
    let mut changes = Vec::with_capacity(chain.len() / PER_CHANGE + 1);
    let mut start = 1;
    while start < chain.len() {
        let end = (start + PER_CHANGE).min(chain.len());
        for header in &chain[start..end] {
            work = work + header.work();
        }
        changes.push(PersistChain {
            fork_height: u32::try_from(start - 1).context("height beyond u32")?,
            rejoined: vec![],
            connected: chain[start..end].to_vec(),
            side: Vec::new(),
            tip_work: work,
        });
        start = end;
    }
    for group in changes.chunks(CHANGES_PER_APPLY) {
        store
            .apply(group)
            .context("cannot write the serving store")?;
    }
    let stored = store
        .tip()
        .context("cannot read the new store's tip")?
        .ok_or_else(|| anyhow!("the new store has no tip"))?;
    let tip = chain[chain.len() - 1].block_hash();
    ensure!(
        stored.hash == tip && stored.height as usize == chain.len() - 1,
        "the new store's tip is {} at {}, not the chain's",
        stored.hash,
        stored.height
    );
    drop(store);
    // The data file reaches the disk before the marker that vouches for it.
    File::open(dir.join("data.mdb"))
        .and_then(|f| f.sync_all())
        .context("cannot sync the serving store")?;
    Ok(tip)
}
