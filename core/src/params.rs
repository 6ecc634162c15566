//! Network parameters: magic, default port, genesis header and proof-of-work rules of every
//! network headway speaks. Values follow Bitcoin Core's `chainparams.cpp` and btcd's `chaincfg`
//! (see `reference/protocol.md` §1.3 and §3.9).

use std::fmt;
use std::str::FromStr;

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::p2p::Magic;
use bitcoin::{BlockHash, CompactTarget, Target, TxMerkleNode, Work};

/// The networks headway can join.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    /// Bitcoin mainnet.
    Mainnet,
    /// The third public test network.
    Testnet3,
    /// The fourth public test network (BIP94 difficulty rules).
    Testnet4,
    /// The default signet.
    Signet,
    /// Bitcoin Core's local regression-test network.
    Regtest,
    /// btcd's local simulation network.
    Simnet,
}

/// Error for a network name that headway does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown network `{0}` (expected one of mainnet, testnet3, testnet4, signet, regtest, simnet)"
)]
pub struct UnknownNetwork(pub String);

impl Network {
    /// Whether this is a local test network (regtest, simnet), whose peers live on loopback
    /// and private addresses: the address book accepts those there, as Core's `-regtest`
    /// nodes connect to whatever they are given.
    pub fn is_local(self) -> bool {
        matches!(self, Network::Regtest | Network::Simnet)
    }

    /// Every network, in a stable order.
    pub const ALL: [Network; 6] = [
        Network::Mainnet,
        Network::Testnet3,
        Network::Testnet4,
        Network::Signet,
        Network::Regtest,
        Network::Simnet,
    ];

    /// The canonical lower-case name, as accepted by [`FromStr`] and written to data directories.
    pub fn name(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet3 => "testnet3",
            Network::Testnet4 => "testnet4",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
            Network::Simnet => "simnet",
        }
    }

    /// The full parameter set of this network.
    pub fn params(self) -> Params {
        Params::new(self)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Network {
    type Err = UnknownNetwork;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mainnet" | "main" | "bitcoin" => Ok(Network::Mainnet),
            "testnet3" | "testnet" => Ok(Network::Testnet3),
            "testnet4" => Ok(Network::Testnet4),
            "signet" => Ok(Network::Signet),
            "regtest" => Ok(Network::Regtest),
            "simnet" => Ok(Network::Simnet),
            other => Err(UnknownNetwork(other.to_string())),
        }
    }
}

/// Everything the core needs to know about one network. Plain data: cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Params {
    /// Which network these are.
    pub network: Network,
    /// The four message-start bytes that open every frame.
    pub magic: Magic,
    /// The P2P port nodes of this network listen on by default.
    pub default_port: u16,
    /// The genesis header; every chain starts here.
    pub genesis: Header,
    /// The easiest target a header may have.
    pub pow_limit: Target,
    /// Target seconds between blocks (600).
    pub pow_target_spacing: u32,
    /// Seconds a retarget period should last (14 days).
    pub pow_target_timespan: u32,
    /// testnet3/testnet4/regtest/simnet: a block more than 2 spacings after its parent may use
    /// the pow limit.
    pub allow_min_difficulty_blocks: bool,
    /// regtest: the difficulty never changes.
    pub no_retargeting: bool,
    /// testnet4: BIP94 (retarget from the first block of the period; timewarp rule).
    pub enforce_bip94: bool,
    /// Height from which header version must be at least 2.
    pub bip34_height: u32,
    /// Height from which header version must be at least 3.
    pub bip66_height: u32,
    /// Height from which header version must be at least 4.
    pub bip65_height: u32,
    /// Core's `nMinimumChainWork`: a headers chain with less work is never stored until it
    /// has been downloaded twice (headers presync, reference/protocol.md §3.8). Mainnet,
    /// testnet3, testnet4 and the default signet carry Bitcoin Core v31's values (the
    /// `*_MINIMUM_CHAIN_WORK` constants below cite the source of each); regtest is
    /// zero as in Core, and simnet is zero because btcd has no such parameter. Where it is
    /// zero only the "tip minus 144 blocks" part of the anti-DoS threshold protects us.
    /// `Config::minimum_chain_work` (Core's `-minimumchainwork`) replaces it for one node.
    pub minimum_chain_work: Work,
    /// Headers presync stores one commitment bit every this many headers (Core's
    /// `HeadersSyncParams::commitment_period`; its current mainnet value, used everywhere).
    pub headers_commitment_period: u32,
    /// Headers redownloaded after a presync are held back until this many more headers with
    /// verified commitments follow them (Core's `redownload_buffer_size`; its current mainnet
    /// value, used everywhere).
    pub headers_redownload_buffer: u32,
}

/// Blocks in one retarget period.
pub const DIFFICULTY_ADJUSTMENT_INTERVAL: u32 = 2016;

fn merkle(hex_be: &str) -> TxMerkleNode {
    TxMerkleNode::from_str(hex_be).expect("static merkle root is valid hex")
}

fn target_from_be_hex(hex: &str) -> Target {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("static pow limit is hex");
    }
    Target::from_be_bytes(bytes)
}

// The minimum chain work of each network as Bitcoin Core v31 ships it. Source of the four
// non-zero values: bitcoin/bitcoin `src/kernel/chainparams.cpp` at commit
// 00afc8eca963d4c25d0d34c12dc61cb7fc179fec, which is master after the 31.x branch-off (its
// CMakeLists.txt says CLIENT_VERSION 31.99, and it already holds
// doc/release-notes/release-notes-31.0.md and -31.1.md). They were set by bitcoin/bitcoin
// PR #34677, "kernel: Chainparams and headerssync updates pre-31.0", the release process's
// update before branch-off, so they are the values of the 31.x branch; that branch itself was
// not read. Each height is the one Core's comment gives on the `defaultAssumeValid` line next to
// the value. Update them together when moving to a newer Core release.

/// Core v31 `CMainParams` `consensus.nMinimumChainWork`: the chain work at block 938343
/// (`defaultAssumeValid` 00000000000000000000ccebd6d74d9194d8dcdc1d177c478e094bfad51ba5ac,
/// "// 938343"), from `src/kernel/chainparams.cpp` at bitcoin/bitcoin 00afc8eca963 (PR #34677).
const MAINNET_MINIMUM_CHAIN_WORK: &str =
    "0000000000000000000000000000000000000001128750f82f4c366153a3a030";
/// Core v31 `CTestNetParams` (testnet3) `consensus.nMinimumChainWork`: block 4842348
/// (`defaultAssumeValid` 000000007a61e4230b28ac5cb6b5e5a0130de37ac1faf2f8987d2fa6505b67f4,
/// "// 4842348"), from `src/kernel/chainparams.cpp` at bitcoin/bitcoin 00afc8eca963 (PR #34677).
const TESTNET3_MINIMUM_CHAIN_WORK: &str =
    "0000000000000000000000000000000000000000000017dde1c649f3708d14b6";
/// Core v31 `CTestNet4Params` `consensus.nMinimumChainWork`: block 123613
/// (`defaultAssumeValid` 0000000002368b1e4ee27e2e85676ae6f9f9e69579b29093e9a82c170bf7cf8a,
/// "// 123613"), from `src/kernel/chainparams.cpp` at bitcoin/bitcoin 00afc8eca963 (PR #34677).
const TESTNET4_MINIMUM_CHAIN_WORK: &str =
    "0000000000000000000000000000000000000000000009a0fe15d0177d086304";
/// Core v31 `SigNetParams` `consensus.nMinimumChainWork` for the default signet (no
/// `-signetchallenge`; Core uses zero for a custom signet): block 293175 (`defaultAssumeValid`
/// 00000008414aab61092ef93f1aacc54cf9e9f16af29ddad493b908a01ff5c329, "// 293175"), from
/// `src/kernel/chainparams.cpp` at bitcoin/bitcoin 00afc8eca963 (PR #34677).
const SIGNET_MINIMUM_CHAIN_WORK: &str =
    "00000000000000000000000000000000000000000000000000000b463ea0a4b8";
/// Core v31 `CRegTestParams` `consensus.nMinimumChainWork = uint256{}`: zero, so that a fresh
/// regtest chain is accepted from its first block.
const REGTEST_MINIMUM_CHAIN_WORK: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";
/// Simnet is btcd's network and btcd has no minimum chain work (its `chaincfg.Params` carries
/// no such field), so zero.
const SIMNET_MINIMUM_CHAIN_WORK: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

fn work_from_be_hex(hex: &str) -> Work {
    Work::from_be_bytes(target_from_be_hex(hex).to_be_bytes())
}

const MAINNET_MERKLE: &str = "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b";

fn genesis(merkle_root: &str, time: u32, bits: u32, nonce: u32) -> Header {
    Header {
        version: Version::ONE,
        prev_blockhash: BlockHash::all_zeros(),
        merkle_root: merkle(merkle_root),
        time,
        bits: CompactTarget::from_consensus(bits),
        nonce,
    }
}

impl Params {
    /// The parameters of `network`.
    pub fn new(network: Network) -> Params {
        let main_limit = "00000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
        let base = Params {
            network,
            magic: Magic::BITCOIN,
            default_port: 8333,
            genesis: genesis(MAINNET_MERKLE, 1231006505, 0x1d00ffff, 2083236893),
            pow_limit: target_from_be_hex(main_limit),
            pow_target_spacing: 600,
            pow_target_timespan: 14 * 24 * 60 * 60,
            allow_min_difficulty_blocks: false,
            no_retargeting: false,
            enforce_bip94: false,
            bip34_height: 227931,
            bip66_height: 363725,
            bip65_height: 388381,
            minimum_chain_work: work_from_be_hex(MAINNET_MINIMUM_CHAIN_WORK),
            headers_commitment_period: 641,
            headers_redownload_buffer: 15218,
        };
        match network {
            Network::Mainnet => base,
            Network::Testnet3 => Params {
                magic: Magic::from_bytes([0x0b, 0x11, 0x09, 0x07]),
                default_port: 18333,
                genesis: genesis(MAINNET_MERKLE, 1296688602, 0x1d00ffff, 414098458),
                allow_min_difficulty_blocks: true,
                bip34_height: 21111,
                bip66_height: 330776,
                bip65_height: 581885,
                minimum_chain_work: work_from_be_hex(TESTNET3_MINIMUM_CHAIN_WORK),
                ..base
            },
            Network::Testnet4 => Params {
                magic: Magic::from_bytes([0x1c, 0x16, 0x3f, 0x28]),
                default_port: 48333,
                genesis: genesis(
                    "7aa0a7ae1e223414cb807e40cd57e667b718e42aaf9306db9102fe28912b7b4e",
                    1714777860,
                    0x1d00ffff,
                    393743547,
                ),
                allow_min_difficulty_blocks: true,
                enforce_bip94: true,
                bip34_height: 1,
                bip66_height: 1,
                bip65_height: 1,
                minimum_chain_work: work_from_be_hex(TESTNET4_MINIMUM_CHAIN_WORK),
                ..base
            },
            Network::Signet => Params {
                magic: Magic::from_bytes([0x0a, 0x03, 0xcf, 0x40]),
                default_port: 38333,
                genesis: genesis(MAINNET_MERKLE, 1598918400, 0x1e0377ae, 52613770),
                pow_limit: target_from_be_hex(
                    "00000377ae000000000000000000000000000000000000000000000000000000",
                ),
                bip34_height: 1,
                bip66_height: 1,
                bip65_height: 1,
                minimum_chain_work: work_from_be_hex(SIGNET_MINIMUM_CHAIN_WORK),
                ..base
            },
            Network::Regtest => Params {
                magic: Magic::from_bytes([0xfa, 0xbf, 0xb5, 0xda]),
                default_port: 18444,
                genesis: genesis(MAINNET_MERKLE, 1296688602, 0x207fffff, 2),
                pow_limit: target_from_be_hex(
                    "7fffff0000000000000000000000000000000000000000000000000000000000",
                ),
                allow_min_difficulty_blocks: true,
                no_retargeting: true,
                bip34_height: 1,
                bip66_height: 1,
                bip65_height: 1,
                minimum_chain_work: work_from_be_hex(REGTEST_MINIMUM_CHAIN_WORK),
                ..base
            },
            Network::Simnet => Params {
                magic: Magic::from_bytes([0x16, 0x1c, 0x14, 0x12]),
                default_port: 18555,
                genesis: genesis(MAINNET_MERKLE, 1401292357, 0x207fffff, 2),
                pow_limit: target_from_be_hex(
                    "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
                ),
                allow_min_difficulty_blocks: true,
                bip34_height: 0,
                bip66_height: 0,
                bip65_height: 0,
                minimum_chain_work: work_from_be_hex(SIMNET_MINIMUM_CHAIN_WORK),
                ..base
            },
        }
    }

    /// The hash of the genesis header.
    pub fn genesis_hash(&self) -> BlockHash {
        self.genesis.block_hash()
    }

    /// Blocks per retarget period.
    pub fn difficulty_adjustment_interval(&self) -> u32 {
        self.pow_target_timespan / self.pow_target_spacing
    }

    /// The lowest header version allowed at `height` (BIP34, BIP66, BIP65).
    pub fn min_version_at(&self, height: u32) -> i32 {
        if height >= self.bip65_height {
            4
        } else if height >= self.bip66_height {
            3
        } else if height >= self.bip34_height {
            2
        } else {
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_hashes_match_the_known_ones() {
        let expected = [
            (
                Network::Mainnet,
                "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
            ),
            (
                Network::Testnet3,
                "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
            ),
            (
                Network::Testnet4,
                "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
            ),
            (
                Network::Signet,
                "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
            ),
            (
                Network::Regtest,
                "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
            ),
            (
                Network::Simnet,
                "683e86bd5c6d110d91b94b97137ba6bfe02dbbdb8e3dff722a669b5d69d77af6",
            ),
        ];
        for (net, hash) in expected {
            assert_eq!(net.params().genesis_hash().to_string(), hash, "{net}");
        }
    }

    #[test]
    fn genesis_satisfies_its_own_proof_of_work_and_pow_limit() {
        for net in Network::ALL {
            let p = net.params();
            let target = Target::from_compact(p.genesis.bits);
            assert!(target <= p.pow_limit, "{net}");
            assert!(p.genesis.validate_pow(target).is_ok(), "{net}");
        }
    }

    #[test]
    fn minimum_chain_work_is_cores_where_known_and_zero_elsewhere() {
        // Written out here as numbers, independently of the hex constants above: Core v31's
        // `nMinimumChainWork` of each network (bitcoin/bitcoin 00afc8eca963,
        // src/kernel/chainparams.cpp), zero for regtest (as Core) and simnet (btcd has none).
        fn work(low: u128) -> [u8; 32] {
            let mut bytes = [0u8; 32];
            bytes[16..].copy_from_slice(&low.to_be_bytes());
            bytes
        }
        let expected = [
            (Network::Mainnet, work(0x1_1287_50f8_2f4c_3661_53a3_a030)),
            (Network::Testnet3, work(0x17dd_e1c6_49f3_708d_14b6)),
            (Network::Testnet4, work(0x9a0_fe15_d017_7d08_6304)),
            (Network::Signet, work(0xb46_3ea0_a4b8)),
            (Network::Regtest, [0; 32]),
            (Network::Simnet, [0; 32]),
        ];
        for (net, bytes) in expected {
            assert_eq!(
                net.params().minimum_chain_work.to_be_bytes(),
                bytes,
                "{net}"
            );
        }
        for net in [
            Network::Mainnet,
            Network::Testnet3,
            Network::Testnet4,
            Network::Signet,
        ] {
            assert!(
                net.params().minimum_chain_work > Work::from_be_bytes([0; 32]),
                "{net} must have a floor"
            );
        }
        for net in Network::ALL {
            assert_eq!(net.params().headers_commitment_period, 641);
            assert_eq!(net.params().headers_redownload_buffer, 15218);
        }
    }

    #[test]
    fn simnet_magic_is_btcds() {
        assert_eq!(
            Network::Simnet.params().magic.to_bytes(),
            [0x16, 0x1c, 0x14, 0x12]
        );
        assert_eq!(Network::Simnet.params().default_port, 18555);
    }

    #[test]
    fn names_round_trip() {
        for net in Network::ALL {
            assert_eq!(net.name().parse::<Network>(), Ok(net));
        }
        assert!("bogus".parse::<Network>().is_err());
    }
}
