//! Addresses as people write them, for the `peers` report and for the names a proxy is asked
//! to connect to: `ip:port`, `[ipv6]:port`, Tor v3 `.onion` names (BIP155; the checksum is SHA3-256, from the `sha3` crate), I2P `.b32.i2p`
//! names, and for anything else the BIP155 network id and the address bytes in hex.

use bitcoin::p2p::address::AddrV2;
use sha3::{Digest, Sha3_256};

/// `addr` with `port`, as Core's `CService::ToStringAddrPort` writes it.
pub fn describe(addr: &AddrV2, port: u16) -> String {
    match addr {
        AddrV2::Ipv4(ip) => format!("{ip}:{port}"),
        AddrV2::Ipv6(ip) | AddrV2::Cjdns(ip) => format!("[{ip}]:{port}"),
        AddrV2::TorV3(key) => format!("{}:{port}", onion_name(key)),
        AddrV2::I2p(hash) => format!("{}.b32.i2p:{port}", base32(hash)),
        AddrV2::TorV2(bytes) => format!("net3/{}:{port}", hex(bytes)),
        AddrV2::Unknown(id, bytes) => format!("net{id}/{}:{port}", hex(bytes)),
    }
}

/// A Tor v3 service's name from its ed25519 public key (rend-spec-v3, "Encoding onion
/// addresses"): base32(pubkey ‖ checksum ‖ version) + ".onion", where checksum is the first two
/// bytes of SHA3-256(".onion checksum" ‖ pubkey ‖ version) and version is 3.
pub fn onion_name(pubkey: &[u8; 32]) -> String {
    const VERSION: u8 = 3;
    let mut preimage = Vec::with_capacity(15 + 32 + 1);
    preimage.extend_from_slice(b".onion checksum");
    preimage.extend_from_slice(pubkey);
    preimage.push(VERSION);
    let checksum = sha3_256(&preimage);
    let mut raw = Vec::with_capacity(35);
    raw.extend_from_slice(pubkey);
    raw.extend_from_slice(&checksum[..2]);
    raw.push(VERSION);
    format!("{}.onion", base32(&raw))
}

/// RFC 4648 base32, lower case, without padding (as Tor and I2P names use it).
pub fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer = 0u32;
    let mut bits = 0u32;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA3-256 (FIPS 202), from RustCrypto's `sha3`.
fn sha3_256(message: &[u8]) -> [u8; 32] {
    Sha3_256::digest(message).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex<const N: usize>(s: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn sha3_matches_the_fips_202_examples() {
        assert_eq!(
            hex(&sha3_256(b"")),
            "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"
        );
        assert_eq!(
            hex(&sha3_256(b"abc")),
            "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"
        );
        // More than one block (200 bytes > the 136-byte rate).
        assert_eq!(
            hex(&sha3_256(&[0xa3; 200])),
            "79f38adec5c20307a98ef76e8324afbfd46cfd81b22e3973c65fa1bd9de31787"
        );
    }

    #[test]
    fn onion_names_match_cores_seed_list() {
        // From Core's testnet4 chainparamsseeds (see core/src/seeds/testnet4.rs).
        let key = unhex::<32>("d711b08444c0c633e14277bae0234365d1184eb6c399b562f6c82e158c0e370a");
        assert_eq!(
            onion_name(&key),
            "24i3bbceydddhykco65oai2dmxirqtvwyom3kyxwzaxbldaog4filyyd.onion"
        );
        assert_eq!(
            describe(&AddrV2::TorV3(key), 48333),
            "24i3bbceydddhykco65oai2dmxirqtvwyom3kyxwzaxbldaog4filyyd.onion:48333"
        );
    }

    #[test]
    fn other_networks_read_as_core_writes_them() {
        assert_eq!(
            describe(&AddrV2::Ipv4([1, 2, 3, 4].into()), 8333),
            "1.2.3.4:8333"
        );
        assert_eq!(
            describe(&AddrV2::Ipv6("::1".parse().unwrap()), 1),
            "[::1]:1"
        );
        let i2p = describe(&AddrV2::I2p([0; 32]), 0);
        assert_eq!(i2p, format!("{}.b32.i2p:0", "a".repeat(52)));
        assert_eq!(
            describe(&AddrV2::Unknown(9, vec![0xab, 1]), 5),
            "net9/ab01:5"
        );
        assert_eq!(base32(b"foobar"), "mzxw6ytboi");
    }
}
