#!/usr/bin/env python3
"""Generate core/src/seeds/{mainnet,signet,testnet4}.rs from Bitcoin Core's seed lists.

Usage (from the repository root):

    python3 core/src/seeds/generate.py

Input: core/src/seeds/nodes_{main,signet,testnet4}.txt, copies of Bitcoin Core's
contrib/seeds/nodes_*.txt (see the header of each file for the commit and what was kept).

Output: one Rust file per network holding a `static` byte array in exactly the form of
Core's src/chainparamsseeds.h: for each entry, the BIP155 network id, a compact-size address
length, the address bytes, then the port as 2 big-endian bytes. The serialisation follows
Core's contrib/seeds/generate-seeds.py (`name_to_bip155`, `parse_spec`, `bip155_serialize`):
fc00::/8 IPv6 addresses are CJDNS, `.onion` names are TorV3 (their checksum and version are
checked here), `.b32.i2p` names are I2P, a missing port is 0.
"""

import hashlib
import os
import re
import sys
from base64 import b32decode

IPV4, IPV6, TORV2, TORV3, I2P, CJDNS = 1, 2, 3, 4, 5, 6
NAMES = {IPV4: "IPv4", IPV6: "IPv6", TORV3: "TorV3", I2P: "I2P", CJDNS: "CJDNS"}

HERE = os.path.dirname(os.path.abspath(__file__))

# (input file, output file, Rust static name, network doc name)
JOBS = [
    ("nodes_main.txt", "mainnet.rs", "MAINNET", "mainnet"),
    ("nodes_signet.txt", "signet.rs", "SIGNET", "signet"),
    ("nodes_testnet4.txt", "testnet4.rs", "TESTNET4", "testnet4"),
]


def parse_ipv6(addr):
    sub = [[], []]  # prefix, suffix
    x = 0
    parts = addr.split(":")
    for i, comp in enumerate(parts):
        if comp == "":
            if i == 0 or i == len(parts) - 1:  # empty component at beginning or end
                continue
            x += 1  # :: skips to suffix
            if x >= 2:
                raise ValueError(f"two '::' in {addr}")
        else:
            val = int(comp, 16)
            if val > 0xFFFF:
                raise ValueError(f"bad IPv6 group in {addr}")
            sub[x].append(val >> 8)
            sub[x].append(val & 0xFF)
    nullbytes = 16 - len(sub[0]) - len(sub[1])
    if not ((x == 0 and nullbytes == 0) or (x == 1 and nullbytes > 0)):
        raise ValueError(f"bad IPv6 address {addr}")
    return bytes(sub[0] + [0] * nullbytes + sub[1])


def name_to_bip155(addr):
    """Core's generate-seeds.py name_to_bip155: address text to (network id, address bytes)."""
    if addr.endswith(".onion"):
        raw = b32decode(addr[:-6], True)
        if len(raw) != 35:
            raise ValueError(f"not a TorV3 name: {addr}")
        pubkey, checksum, version = raw[:32], raw[32:34], raw[34]
        if version != 3:
            raise ValueError(f"TorV3 version is not 3: {addr}")
        expect = hashlib.sha3_256(b".onion checksum" + pubkey + bytes([version])).digest()[:2]
        if checksum != expect:
            raise ValueError(f"TorV3 checksum mismatch: {addr}")
        return TORV3, pubkey
    if addr.endswith(".b32.i2p"):
        raw = b32decode(addr[:-8] + "====", True)
        if len(raw) != 32:
            raise ValueError(f"not an I2P name: {addr}")
        return I2P, raw
    if "." in addr:
        octets = [int(x) for x in addr.split(".")]
        if len(octets) != 4 or any(o > 255 for o in octets):
            raise ValueError(f"bad IPv4 address {addr}")
        return IPV4, bytes(octets)
    if ":" in addr:
        raw = parse_ipv6(addr)
        # Core: fc00::/8 seeds are CJDNS, not RFC4193 unique-local addresses.
        return (CJDNS if raw[0] == 0xFC else IPV6), raw
    raise ValueError(f"could not parse address {addr}")


def parse_spec(s):
    """Core's generate-seeds.py parse_spec: one line to (network id, address bytes, port)."""
    match = re.match(r"\[([0-9a-fA-F:]+)\](?::([0-9]+))?$", s)
    if match:
        host, port = match.group(1), match.group(2)
    elif s.count(":") > 1:
        host, port = s, ""
    else:
        host, _, port = s.partition(":")
    port = int(port) if port else 0
    if port > 0xFFFF:
        raise ValueError(f"bad port in {s}")
    net, raw = name_to_bip155(host)
    return net, raw, port


def compact_size(n):
    if n < 253:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + n.to_bytes(2, "little")
    raise ValueError("address too long")


def bip155_serialize(net, raw, port):
    return bytes([net]) + compact_size(len(raw)) + raw + port.to_bytes(2, "big")


def generate(src, dst, name, doc_name):
    header = []
    entries = []
    with open(os.path.join(HERE, src), encoding="utf8") as f:
        for line in f:
            if line.startswith("#") and not entries:
                header.append(line[1:].strip())
            text = line.split("#", 1)[0].strip()
            if not text:
                continue
            entries.append((text, parse_spec(text)))

    counts = {}
    for _, (net, _, _) in entries:
        counts[net] = counts.get(net, 0) + 1
    total = sum(len(bip155_serialize(*spec)) for _, spec in entries)
    summary = ", ".join(f"{NAMES[k]} {counts[k]}" for k in sorted(counts))

    out = []
    out.append(f"//! {doc_name} fixed seeds, generated by `python3 core/src/seeds/generate.py` from")
    out.append(f"//! `core/src/seeds/{src}`. Do not edit: change the input and run the script again.")
    out.append("//!")
    for h in header:
        out.append(f"//! Source: {h}" if h is header[0] else f"//! {h}")
    out.append("//!")
    out.append(f"//! {len(entries)} entries: {summary}.")
    out.append("")
    out.append(f"/// The {doc_name} fixed seeds, BIP155-serialised as in Bitcoin Core's `chainparamsseeds.h`:")
    out.append("/// network id, compact-size length, address bytes, 2-byte big-endian port.")
    out.append("#[rustfmt::skip]")
    out.append(f"pub(super) static {name}: [u8; {total}] = [")
    for text, spec in entries:
        blob = bip155_serialize(*spec)
        out.append("    " + ",".join(f"0x{b:02x}" for b in blob) + f", // {text}")
    out.append("];")
    out.append("")
    with open(os.path.join(HERE, dst), "w", encoding="utf8") as f:
        f.write("\n".join(out))
    print(f"{dst}: {len(entries)} entries ({summary}), {total} bytes", file=sys.stderr)


def main():
    for job in JOBS:
        generate(*job)


if __name__ == "__main__":
    main()
