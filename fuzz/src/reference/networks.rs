//! The reference's own table of network rules, copied from Bitcoin Core's
//! `src/kernel/chainparams.cpp` (bitcoin/bitcoin 284c42a3, September 2025: `consensus.BIP34Height`,
//! `BIP66Height`, `BIP65Height`, `powLimit`, `nPowTargetTimespan`, `nPowTargetSpacing`,
//! `fPowAllowMinDifficultyBlocks`, `fPowNoRetargeting`, `enforce_BIP94`) and, for simnet, from
//! btcd's `chaincfg/params.go` (`SimNetParams`) and `chaincfg/genesis.go`. Genesis headers come
//! from `rust-bitcoin` (`bitcoin::constants::genesis_block`), simnet's from btcd. Nothing here is
//! taken from headway: `crate::crosscheck` compares this table with `headway_core::params` in a
//! test, so that a difference is a test failure rather than a silent agreement.
//!
//! The `easy_*` rules are not real networks: testnet3's and testnet4's rules with regtest's pow
//! limit and a genesis four bits harder than it, so that the min-difficulty rule, the walk-back
//! and retargets can be fuzzed with proof of work that costs a few hashes a header.

use bitcoin::block::{Header, Version};
use bitcoin::hashes::Hash;
use bitcoin::{BlockHash, CompactTarget, TxMerkleNode};

use super::bignum::{encode_compact, Big};

/// Core's `MAX_FUTURE_BLOCK_TIME` (src/chain.h): a header may be at most two hours ahead of the
/// clock.
pub const MAX_FUTURE_BLOCK_TIME: u64 = 2 * 60 * 60;

/// Core's `nMedianTimeSpan` (src/chain.h, `CBlockIndex::GetMedianTimePast`): the median time
/// past is taken over this many blocks, the parent included.
pub const MEDIAN_TIME_SPAN: usize = 11;

/// Core's `nPowTargetSpacing` on every network but regtest's changes: ten minutes.
pub const POW_TARGET_SPACING: u32 = 10 * 60;

/// Core's `nPowTargetTimespan` on mainnet, testnet3, testnet4 and signet ("two weeks").
pub const POW_TARGET_TIMESPAN: u32 = 14 * 24 * 60 * 60;

/// Core's `DifficultyAdjustmentInterval()` with those values: 1209600 / 600.
pub const RETARGET_INTERVAL: u32 = 2016;

/// The retarget clamp of `CalculateNextWorkRequired` (btcd's `RetargetAdjustmentFactor`): the
/// measured timespan is held within [timespan / 4, timespan * 4].
pub const RETARGET_FACTOR: i64 = 4;

/// The "20-minute rule" of `GetNextWorkRequired` on min-difficulty networks: a header more than
/// `2 * nPowTargetSpacing` after its parent may carry the pow limit.
pub const MIN_DIFFICULTY_GAP: u32 = 2 * POW_TARGET_SPACING;

/// Core's `MAX_TIMEWARP` (src/consensus/consensus.h, BIP94): the first block of a period may be
/// at most this much earlier than its parent.
pub const MAX_TIMEWARP: i64 = 600;

/// One network's header rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// A name for messages.
    pub name: &'static str,
    /// The genesis header.
    pub genesis: Header,
    /// `powLimit`, big-endian hex.
    pub pow_limit_hex: &'static str,
    /// `nPowTargetSpacing`.
    pub spacing: u32,
    /// `nPowTargetTimespan`.
    pub timespan: u32,
    /// `fPowAllowMinDifficultyBlocks`.
    pub allow_min_difficulty: bool,
    /// `fPowNoRetargeting`.
    pub no_retargeting: bool,
    /// `enforce_BIP94`.
    pub enforce_bip94: bool,
    /// `BIP34Height`: from here a version below 2 is refused.
    pub bip34_height: u32,
    /// `BIP66Height`: from here a version below 3 is refused.
    pub bip66_height: u32,
    /// `BIP65Height`: from here a version below 4 is refused.
    pub bip65_height: u32,
}

fn core_genesis(network: bitcoin::Network) -> Header {
    bitcoin::constants::genesis_block(network).header
}

/// btcd's `simNetGenesisBlock` (chaincfg/genesis.go): mainnet's coinbase, so mainnet's merkle
/// root, with its own time, bits and nonce; hash 683e86bd…d69d77af6 (`simNetGenesisHash`).
fn simnet_genesis() -> Header {
    Header {
        version: Version::ONE,
        prev_blockhash: BlockHash::all_zeros(),
        merkle_root: core_genesis(bitcoin::Network::Bitcoin).merkle_root,
        time: 1_401_292_357,
        bits: CompactTarget::from_consensus(0x207f_ffff),
        nonce: 2,
    }
}

/// `00000000ffff…ff`: mainnet's, testnet3's and testnet4's `powLimit`.
const MAIN_POW_LIMIT: &str = "00000000ffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
/// Regtest's `powLimit` in Core (and btcd's `regressionPowLimit`, 2^255 - 1).
const REGTEST_POW_LIMIT: &str = "7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

impl Rules {
    /// `CMainParams`: BIP34 227931, BIP66 363725, BIP65 388381; no min-difficulty blocks.
    pub fn mainnet() -> Rules {
        Rules {
            name: "mainnet",
            genesis: core_genesis(bitcoin::Network::Bitcoin),
            pow_limit_hex: MAIN_POW_LIMIT,
            spacing: POW_TARGET_SPACING,
            timespan: POW_TARGET_TIMESPAN,
            allow_min_difficulty: false,
            no_retargeting: false,
            enforce_bip94: false,
            bip34_height: 227_931,
            bip66_height: 363_725,
            bip65_height: 388_381,
        }
    }

    /// `CTestNetParams` (testnet3): BIP34 21111, BIP66 330776, BIP65 581885; min-difficulty
    /// blocks allowed.
    pub fn testnet3() -> Rules {
        Rules {
            name: "testnet3",
            genesis: core_genesis(bitcoin::Network::Testnet),
            allow_min_difficulty: true,
            bip34_height: 21_111,
            bip66_height: 330_776,
            bip65_height: 581_885,
            ..Rules::mainnet()
        }
    }

    /// `CTestNet4Params`: BIP34/66/65 at 1, min-difficulty blocks, BIP94.
    pub fn testnet4() -> Rules {
        Rules {
            name: "testnet4",
            genesis: core_genesis(bitcoin::Network::Testnet4),
            allow_min_difficulty: true,
            enforce_bip94: true,
            bip34_height: 1,
            bip66_height: 1,
            bip65_height: 1,
            ..Rules::mainnet()
        }
    }

    /// `SigNetParams` (the default signet): BIP34/66/65 at 1, its own pow limit, no
    /// min-difficulty blocks.
    pub fn signet() -> Rules {
        Rules {
            name: "signet",
            genesis: core_genesis(bitcoin::Network::Signet),
            pow_limit_hex: "00000377ae000000000000000000000000000000000000000000000000000000",
            bip34_height: 1,
            bip66_height: 1,
            bip65_height: 1,
            ..Rules::mainnet()
        }
    }

    /// `CRegTestParams`: BIP34/66/65 at 1 ("always active unless overridden"), pow limit
    /// 2^255 - 1, min-difficulty blocks allowed, no retargeting, BIP94 off unless
    /// `-test=bip94`. Core master uses a one-day timespan here (interval 144); with no
    /// retargeting and every block at the pow limit, the interval changes no required nBits.
    pub fn regtest() -> Rules {
        Rules {
            name: "regtest",
            genesis: core_genesis(bitcoin::Network::Regtest),
            pow_limit_hex: REGTEST_POW_LIMIT,
            timespan: 24 * 60 * 60,
            allow_min_difficulty: true,
            no_retargeting: true,
            bip34_height: 1,
            bip66_height: 1,
            bip65_height: 1,
            ..Rules::mainnet()
        }
    }

    /// btcd's `SimNetParams`: pow limit 2^255 - 1 (`simNetPowLimit`), BIP0034/65/66 heights 0,
    /// `ReduceMinDifficulty` with `MinDiffReductionTime` 20 minutes, two-week retargets with
    /// `RetargetAdjustmentFactor` 4, computed in unbounded integers.
    pub fn simnet() -> Rules {
        Rules {
            name: "simnet",
            genesis: simnet_genesis(),
            pow_limit_hex: REGTEST_POW_LIMIT,
            allow_min_difficulty: true,
            bip34_height: 0,
            bip66_height: 0,
            bip65_height: 0,
            ..Rules::mainnet()
        }
    }

    /// Testnet3's rules, cheap: regtest's pow limit, a genesis at a sixteenth of it (bits
    /// 0x200fffff, made by [`easy_genesis`]), and BIP34/66/65 at 100/200/300 so that each
    /// version floor is reachable in a fuzz input.
    pub fn easy_testnet3() -> Rules {
        Rules {
            name: "easy-testnet3",
            genesis: easy_genesis(0xe3),
            pow_limit_hex: REGTEST_POW_LIMIT,
            bip34_height: 100,
            bip66_height: 200,
            bip65_height: 300,
            ..Rules::testnet3()
        }
    }

    /// Testnet4's rules (BIP94), cheap in the same way as [`Rules::easy_testnet3`].
    pub fn easy_testnet4() -> Rules {
        Rules {
            name: "easy-testnet4",
            genesis: easy_genesis(0xe4),
            pow_limit_hex: REGTEST_POW_LIMIT,
            ..Rules::testnet4()
        }
    }

    /// `powLimit` as a number.
    pub fn pow_limit(&self) -> Big {
        Big::from_be_hex(self.pow_limit_hex)
    }

    /// `powLimit` in compact form: the nBits of a min-difficulty block.
    pub fn pow_limit_bits(&self) -> u32 {
        encode_compact(&self.pow_limit())
    }

    /// `DifficultyAdjustmentInterval()`: blocks per retarget period.
    pub fn interval(&self) -> u32 {
        self.timespan / self.spacing
    }

    /// The hash of the genesis header.
    pub fn genesis_hash(&self) -> BlockHash {
        self.genesis.block_hash()
    }

    /// The lowest version `ContextualCheckBlockHeader` lets through at `height`
    /// (`DeploymentActiveAfter(pindexPrev, HEIGHTINCB / DERSIG / CLTV)`, that is
    /// `height >= BIPxxHeight`).
    pub fn min_version(&self, height: u32) -> i32 {
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

/// The genesis of an easy network: version 1, bits 0x200fffff (a sixteenth of regtest's pow
/// limit, so that a min-difficulty block is visibly easier than a normal one), mined with a
/// salt in the merkle root. Not checked by any chain; mined anyway, to look like a real one.
pub fn easy_genesis(salt: u8) -> Header {
    let mut genesis = Header {
        version: Version::ONE,
        prev_blockhash: BlockHash::all_zeros(),
        merkle_root: TxMerkleNode::from_byte_array([salt; 32]),
        time: 1_600_000_000,
        bits: CompactTarget::from_consensus(0x200f_ffff),
        nonce: 0,
    };
    let target = bitcoin::Target::from_compact(genesis.bits);
    while genesis.validate_pow(target).is_err() {
        genesis.nonce += 1;
    }
    genesis
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn genesis_hashes_are_the_known_ones() {
        let expected = [
            (
                Rules::mainnet(),
                "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
            ),
            (
                Rules::testnet3(),
                "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
            ),
            (
                Rules::testnet4(),
                "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
            ),
            (
                Rules::signet(),
                "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
            ),
            (
                Rules::regtest(),
                "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
            ),
            (
                Rules::simnet(),
                "683e86bd5c6d110d91b94b97137ba6bfe02dbbdb8e3dff722a669b5d69d77af6",
            ),
        ];
        for (rules, hash) in expected {
            assert_eq!(rules.genesis_hash().to_string(), hash, "{}", rules.name);
        }
    }

    #[test]
    fn limits_and_versions() {
        assert_eq!(Rules::mainnet().pow_limit_bits(), 0x1d00ffff);
        assert_eq!(Rules::regtest().pow_limit_bits(), 0x207fffff);
        assert_eq!(Rules::simnet().pow_limit_bits(), 0x207fffff);
        assert_eq!(Rules::signet().pow_limit_bits(), 0x1e0377ae);
        assert_eq!(Rules::mainnet().interval(), RETARGET_INTERVAL);
        assert_eq!(Rules::regtest().interval(), 144);
        let main = Rules::mainnet();
        assert_eq!(main.min_version(227_930), 1);
        assert_eq!(main.min_version(227_931), 2);
        assert_eq!(main.min_version(363_725), 3);
        assert_eq!(main.min_version(388_381), 4);
        assert_eq!(Rules::simnet().min_version(0), 4);
        assert_eq!(Rules::regtest().min_version(1), 4);
        assert_eq!(Rules::easy_testnet3().min_version(99), 1);
        assert_eq!(Rules::easy_testnet3().min_version(300), 4);
    }
}
