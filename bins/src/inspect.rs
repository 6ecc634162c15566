//! The read-only inspection commands `tip`, `header`, `export` and `peers` (the last in
//! [`crate::peers`]). They open the store read-only, so they are safe while a node writes to it
//! (LMDB readers never block the writer).

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{anyhow, bail, Context};
use bitcoin::block::Header;
use bitcoin::consensus::encode::serialize;
use bitcoin::hex::DisplayHex;
use bitcoin::BlockHash;
use headway_api::chain_json::header_json;
use headway_api::chain_view::ChainView;
use headway_core::Network;
use headway_store_lmdb::HeaderStore;
use std::sync::Arc;

use crate::cli::{Command, RunArgs};
use crate::config::{parse_network, FileConfig, DEFAULT_DATADIR};

/// Heights read per store transaction by `export`: bounds memory (80 bytes a header) and keeps
/// read transactions short so a running node's writer is never held back for long.
const EXPORT_CHUNK: u32 = 10_000;

/// Runs one inspection command, writing its report to `out` and warnings (records it could
/// not read) to `warnings`.
pub fn run_command(
    command: &Command,
    args: &RunArgs,
    file: &FileConfig,
    out: &mut dyn Write,
    warnings: &mut dyn Write,
) -> anyhow::Result<()> {
    let (network, dir) = locate_store(args, file)?;
    let store = open_store(network, &dir)?;
    match command {
        Command::Tip { json: false } => print_tip(&store, network, out),
        Command::Header { which, json: false } => print_header(&store, which, out),
        Command::Tip { json: true } => print_header_json(store, network, None, out),
        Command::Header { which, json: true } => {
            print_header_json(store, network, Some(which.parse()?), out)
        }
        Command::Export { from, to, output } => export(&store, *from, *to, output.as_deref(), out),
        Command::Peers { json } => crate::peers::print_peers(&store, *json, out, warnings),
    }
}

/// The network and store directory to inspect: `--network` or the file's `network`, else the one
/// network directory present in the data directory.
fn locate_store(args: &RunArgs, file: &FileConfig) -> anyhow::Result<(Network, PathBuf)> {
    let datadir = args
        .datadir
        .clone()
        .or_else(|| file.datadir.clone())
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATADIR));
    let network = match (&args.network, &file.network) {
        (Some(name), _) => parse_network(name).context("--network")?,
        (None, Some(name)) => parse_network(name).context("key `network`")?,
        (None, None) => detect_network(&datadir)?,
    };
    let dir = datadir.join(network.name());
    if !dir.is_dir() {
        bail!(
            "no {network} store in {} (run a node with this datadir first)",
            datadir.display()
        );
    }
    Ok((network, dir))
}

/// The only network that has a store directory under `datadir`.
fn detect_network(datadir: &Path) -> anyhow::Result<Network> {
    let entries = std::fs::read_dir(datadir)
        .with_context(|| format!("cannot read data directory {}", datadir.display()))?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("cannot read {}", datadir.display()))?;
        let name = entry.file_name();
        let network = Network::ALL
            .into_iter()
            .find(|n| name.to_str() == Some(n.name()));
        if let Some(network) = network {
            if entry.path().is_dir() {
                found.push(network);
            }
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => bail!(
            "no store in {} (run a node with this datadir first)",
            datadir.display()
        ),
        many => {
            let names: Vec<&str> = many.iter().map(|n| n.name()).collect();
            bail!(
                "{} holds stores of several networks ({}): pass --network",
                datadir.display(),
                names.join(", ")
            )
        }
    }
}

fn open_store(network: Network, dir: &Path) -> anyhow::Result<HeaderStore> {
    let store = HeaderStore::open_read_only(dir)
        .with_context(|| format!("cannot open the store in {}", dir.display()))?;
    if store.network() != network {
        bail!(
            "the store in {} belongs to {}, not {network}",
            dir.display(),
            store.network()
        );
    }
    Ok(store)
}

fn print_tip(store: &HeaderStore, network: Network, out: &mut dyn Write) -> anyhow::Result<()> {
    let tip = store
        .tip()?
        .ok_or_else(|| anyhow!("the store holds no headers"))?;
    let time = tip.header.time;
    let text = format!(
        "network:   {network}\nheight:    {}\nhash:      {}\nchainwork: {:x}\ntime:      {} ({})\n",
        tip.height,
        tip.hash,
        tip.work,
        time,
        utc_time(u64::from(time)),
    );
    out.write_all(text.as_bytes())
        .context("cannot write the report")
}

/// A height, or a block hash when given as 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderQuery {
    /// A height on the best chain.
    Height(u32),
    /// A block hash, on any chain.
    Hash(BlockHash),
}

impl FromStr for HeaderQuery {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> anyhow::Result<HeaderQuery> {
        let s = s.trim();
        if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) {
            let hash = BlockHash::from_str(s).map_err(|e| anyhow!("bad block hash `{s}`: {e}"))?;
            return Ok(HeaderQuery::Hash(hash));
        }
        s.parse::<u32>()
            .map(HeaderQuery::Height)
            .map_err(|_| anyhow!("`{s}` is neither a height nor a 64-digit block hash"))
    }
}

fn print_header(store: &HeaderStore, which: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let (height, header, on_best) = match which.parse::<HeaderQuery>()? {
        HeaderQuery::Height(height) => match store.header_at(height)? {
            Some(header) => (height, header, true),
            None => {
                let tip = store.tip()?.map(|t| t.height).unwrap_or(0);
                bail!("no header at height {height} (the best tip is at {tip})");
            }
        },
        HeaderQuery::Hash(hash) => store
            .header_by_hash(&hash)?
            .ok_or_else(|| anyhow!("unknown block hash {hash}"))?,
    };
    out.write_all(describe_header(height, &header, on_best).as_bytes())
        .context("cannot write the report")
}

/// `tip --json` and `header --json`: the header as Core's `getblockheader` describes it
/// (confirmations, median time, chain work and the next hash included), pretty-printed as
/// `bitcoin-cli` prints it.
fn print_header_json(
    store: HeaderStore,
    network: Network,
    which: Option<HeaderQuery>,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let view = ChainView::new(Arc::new(store));
    let info = view.read(|r| match which {
        None => {
            let tip = r.tip()?;
            r.header_info(&tip.hash)
        }
        Some(HeaderQuery::Height(height)) => r.header_info_at(height),
        Some(HeaderQuery::Hash(hash)) => r.header_info(&hash),
    })?;
    let info = match (info, which) {
        (Some(info), _) => info,
        (None, Some(HeaderQuery::Height(height))) => {
            let tip = view.read(|r| r.tip())?.height;
            bail!("no header at height {height} (the best tip is at {tip})");
        }
        (None, Some(HeaderQuery::Hash(hash))) => bail!("unknown block hash {hash}"),
        (None, None) => bail!("the store holds no header at its tip"),
    };
    let json = header_json(&info, &network.params());
    let mut text = serde_json::to_string_pretty(&json).context("cannot format the header")?;
    text.push('\n');
    out.write_all(text.as_bytes())
        .context("cannot write the report")
}

/// The `header` report: every field and the 80-byte serialization in hex.
pub fn describe_header(height: u32, header: &Header, on_best: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "height:      {height}");
    let _ = writeln!(s, "hash:        {}", header.block_hash());
    let _ = writeln!(s, "best chain:  {}", if on_best { "yes" } else { "no" });
    let _ = writeln!(s, "version:     {:#010x}", header.version.to_consensus());
    let _ = writeln!(s, "prev:        {}", header.prev_blockhash);
    let _ = writeln!(s, "merkle root: {}", header.merkle_root);
    let _ = writeln!(
        s,
        "time:        {} ({})",
        header.time,
        utc_time(u64::from(header.time))
    );
    let _ = writeln!(s, "bits:        {:#010x}", header.bits.to_consensus());
    let _ = writeln!(s, "nonce:       {}", header.nonce);
    let _ = writeln!(
        s,
        "hex:         {}",
        serialize(header).to_lower_hex_string()
    );
    s
}

fn export(
    store: &HeaderStore,
    from: Option<u32>,
    to: Option<u32>,
    output: Option<&Path>,
    stdout: &mut dyn Write,
) -> anyhow::Result<()> {
    let tip = store
        .tip()?
        .ok_or_else(|| anyhow!("the store holds no headers"))?
        .height;
    let from = from.unwrap_or(0);
    let to = to.unwrap_or(tip);
    if to > tip {
        bail!("--to {to} is above the best tip at {tip}");
    }
    if from > to {
        bail!("--from {from} is above --to {to}");
    }
    let mut file;
    let sink: &mut dyn Write = match output {
        Some(path) => {
            file = BufWriter::new(
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?,
            );
            &mut file
        }
        None => stdout,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(EXPORT_CHUNK as usize * 80);
    let mut start = from;
    // Chunks are read in separate snapshots; a node reorganising between two of them would
    // splice two chains. Each chunk must link to the header written before it.
    let mut last: Option<BlockHash> = None;
    loop {
        let end = start.saturating_add(EXPORT_CHUNK - 1).min(to);
        buf.clear();
        let mut linked = true;
        store.for_each_best(start, end, |_, header| {
            if last.is_some_and(|prev| header.prev_blockhash != prev) {
                linked = false;
            }
            last = Some(header.block_hash());
            buf.extend_from_slice(&serialize(header));
            Ok(())
        })?;
        if !linked {
            bail!("the best chain changed during the export (a reorg at height {start} or below): run it again");
        }
        let expected = (end - start + 1) as usize * 80;
        if buf.len() != expected {
            bail!(
                "the store returned {} headers for heights {start}..={end}",
                buf.len() / 80
            );
        }
        sink.write_all(&buf).map_err(write_error(output))?;
        if end == to {
            break;
        }
        start = end + 1;
    }
    sink.flush().map_err(write_error(output))?;
    Ok(())
}

fn write_error(output: Option<&Path>) -> impl Fn(io::Error) -> anyhow::Error + '_ {
    move |e| match output {
        Some(path) => anyhow!("cannot write {}: {e}", path.display()),
        None => anyhow!("cannot write to standard output: {e}"),
    }
}

/// `secs` since the Unix epoch as an ISO-8601 UTC time (proleptic Gregorian calendar).
pub fn utc_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_time_matches_known_instants() {
        assert_eq!(utc_time(0), "1970-01-01T00:00:00Z");
        // Mainnet genesis.
        assert_eq!(utc_time(1_231_006_505), "2009-01-03T18:15:05Z");
        // A leap day.
        assert_eq!(utc_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_time(u64::from(u32::MAX)), "2106-02-07T06:28:15Z");
    }

    #[test]
    fn header_queries_parse_heights_and_hashes() {
        assert_eq!(
            "12".parse::<HeaderQuery>().unwrap(),
            HeaderQuery::Height(12)
        );
        let genesis = Network::Regtest.params().genesis_hash();
        assert_eq!(
            genesis.to_string().parse::<HeaderQuery>().unwrap(),
            HeaderQuery::Hash(genesis)
        );
        assert!("-1".parse::<HeaderQuery>().is_err());
        assert!("zz".parse::<HeaderQuery>().is_err());
    }

    #[test]
    fn header_report_has_every_field_and_the_80_bytes() {
        let genesis = Network::Mainnet.params().genesis;
        let text = describe_header(0, &genesis, true);
        assert!(text.contains("000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"));
        assert!(text.contains("bits:        0x1d00ffff"));
        assert!(text.contains("nonce:       2083236893"));
        assert!(text.contains("2009-01-03T18:15:05Z"));
        let hex = text
            .lines()
            .find_map(|l| l.strip_prefix("hex:"))
            .unwrap()
            .trim();
        assert_eq!(hex.len(), 160);
        assert!(hex.starts_with("01000000"));
    }
}
