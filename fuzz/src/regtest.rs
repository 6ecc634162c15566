//! Cheap regtest proof of work: the pow limit lets about half of all hashes through, so a valid
//! header takes a couple of double-SHA256 on average.

use bitcoin::block::Header;
use bitcoin::Target;

/// Bumps the nonce until the header meets the target of its own `bits`; gives up after `tries`
/// attempts (returning `false`), so that a header with a hard target cannot stall the fuzzer.
pub fn mine(header: &mut Header, tries: u32) -> bool {
    let target = Target::from_compact(header.bits);
    for _ in 0..tries {
        if header.validate_pow(target).is_ok() {
            return true;
        }
        header.nonce = header.nonce.wrapping_add(1);
    }
    false
}
