//! The double SHA-256 of two 80-byte inputs (block headers) at once, on the x86-64 SHA
//! extensions (SHA-NI), the two computations interleaved instruction by instruction.
//!
//! Why: hashing every header is the largest single piece of work of a header sync (a third of
//! the core thread in a 1M-header sync, `perf` of `cargo bench -p headway --bench sync_scale`),
//! and one SHA-256 compression on SHA-NI is a chain of 32 dependent `sha256rnds2`
//! instructions: its time is their latency, and the units idle between them. A header's three
//! compressions depend on each other, but two headers' do not, so running two side by side
//! fills some of the gaps. On the 2-core Xeon of issue 13, a million headers: 84-89 ms in
//! pairs, against 105 ms for one at a time with `sha2::compress256` and 125 ms with
//! `sha2::Sha256::digest` (a throwaway timing loop in release; the sync's own figures are in
//! the commit that added this crate).
//!
//! What it promises: [`double_sha256_pair`] gives exactly what two double SHA-256s give
//! (checked against `sha2` over edge and random inputs below), or `None` where the CPU lacks
//! the extensions (detected at run time, once), so that the caller uses its portable path.
//! Pure computation: no allocation, no state between calls. The `unsafe` is the intrinsics,
//! each behind the feature check; the loads read exactly the 80-byte (and 64-byte) arrays.

#![deny(unsafe_op_in_unsafe_fn)]

/// The double SHA-256 of `a` and of `b` (each the SHA-256 of the SHA-256 of 80 bytes), or
/// `None` on a CPU without the SHA extensions.
pub fn double_sha256_pair(a: &[u8; 80], b: &[u8; 80]) -> Option<[[u8; 32]; 2]> {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("sha")
            && std::is_x86_feature_detected!("sse2")
            && std::is_x86_feature_detected!("ssse3")
            && std::is_x86_feature_detected!("sse4.1")
        {
            // SAFETY: the features the function is compiled for were just detected.
            return Some(unsafe { shani::double_sha256_pair(a, b) });
        }
    }
    let _ = (a, b);
    None
}

#[cfg(target_arch = "x86_64")]
mod shani {
    use core::arch::x86_64::*;

    /// SHA-256's round constants (FIPS 180-4, §4.2.2).
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];

    /// SHA-256's initial hash value (FIPS 180-4, §5.3.3).
    const IV: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];

    /// One running hash in the register order `sha256rnds2` works on: `(ABEF, CDGH)`.
    #[derive(Clone, Copy)]
    struct Lanes {
        abef: __m128i,
        cdgh: __m128i,
    }

    /// The state words `a..h` into [`Lanes`].
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn lanes_of(state: &[u32; 8]) -> Lanes {
        // SAFETY: two unaligned 16-byte loads inside the 32-byte array.
        let (dcba, hgfe) = unsafe {
            let p = state.as_ptr().cast::<__m128i>();
            (_mm_loadu_si128(p), _mm_loadu_si128(p.add(1)))
        };
        let cdab = _mm_shuffle_epi32(dcba, 0xB1);
        let efgh = _mm_shuffle_epi32(hgfe, 0x1B);
        Lanes {
            abef: _mm_alignr_epi8(cdab, efgh, 8),
            cdgh: _mm_blend_epi16(efgh, cdab, 0xF0),
        }
    }

    /// [`Lanes`] back into the words `a..d` and `e..h` (lane 0 first).
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn words_of(l: Lanes) -> (__m128i, __m128i) {
        let feba = _mm_shuffle_epi32(l.abef, 0x1B);
        let dchg = _mm_shuffle_epi32(l.cdgh, 0xB1);
        (
            _mm_blend_epi16(feba, dchg, 0xF0),
            _mm_alignr_epi8(dchg, feba, 8),
        )
    }

    /// The message words of a 64-byte block, big-endian, four to a register.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn message_of(block: &[u8; 64]) -> [__m128i; 4] {
        let be = _mm_set_epi64x(0x0C0D_0E0F_0809_0A0B, 0x0405_0607_0001_0203);
        let p = block.as_ptr().cast::<__m128i>();
        // SAFETY: four unaligned 16-byte loads inside the 64-byte array.
        unsafe {
            [
                _mm_shuffle_epi8(_mm_loadu_si128(p), be),
                _mm_shuffle_epi8(_mm_loadu_si128(p.add(1)), be),
                _mm_shuffle_epi8(_mm_loadu_si128(p.add(2)), be),
                _mm_shuffle_epi8(_mm_loadu_si128(p.add(3)), be),
            ]
        }
    }

    /// Four rounds of both states: `$w` the message words of each (already scheduled), `$g`
    /// the group of four round constants.
    macro_rules! rounds4 {
        ($s:ident, $wa:expr, $wb:expr, $g:expr) => {{
            // SAFETY: `$g * 4 + 3 < 64`: a 16-byte load inside `K`.
            let k = unsafe { _mm_loadu_si128(K.as_ptr().add($g * 4).cast::<__m128i>()) };
            let ka = _mm_add_epi32($wa, k);
            let kb = _mm_add_epi32($wb, k);
            $s[0].cdgh = _mm_sha256rnds2_epu32($s[0].cdgh, $s[0].abef, ka);
            $s[1].cdgh = _mm_sha256rnds2_epu32($s[1].cdgh, $s[1].abef, kb);
            $s[0].abef = _mm_sha256rnds2_epu32($s[0].abef, $s[0].cdgh, _mm_shuffle_epi32(ka, 0x0E));
            $s[1].abef = _mm_sha256rnds2_epu32($s[1].abef, $s[1].cdgh, _mm_shuffle_epi32(kb, 0x0E));
        }};
    }

    /// The next four message words from the four before them (FIPS 180-4, §6.2.2 step 1). A
    /// macro, not a function: an intrinsic outside a function compiled for its feature is a
    /// call.
    macro_rules! schedule {
        ($w0:expr, $w1:expr, $w2:expr, $w3:expr) => {{
            let t = _mm_add_epi32(_mm_sha256msg1_epu32($w0, $w1), _mm_alignr_epi8($w3, $w2, 4));
            _mm_sha256msg2_epu32(t, $w3)
        }};
    }

    /// The compression function on two states at once, each with its own block of message
    /// words: every step is taken for the first, then for the second, so that the two chains
    /// of `sha256rnds2` overlap.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    fn compress_pair(s: &mut [Lanes; 2], w: [[__m128i; 4]; 2]) {
        let saved = *s;
        let [[mut a0, mut a1, mut a2, mut a3], [mut b0, mut b1, mut b2, mut b3]] = w;
        rounds4!(s, a0, b0, 0);
        rounds4!(s, a1, b1, 1);
        rounds4!(s, a2, b2, 2);
        rounds4!(s, a3, b3, 3);
        for g in 1..4 {
            a0 = schedule!(a0, a1, a2, a3);
            b0 = schedule!(b0, b1, b2, b3);
            rounds4!(s, a0, b0, 4 * g);
            a1 = schedule!(a1, a2, a3, a0);
            b1 = schedule!(b1, b2, b3, b0);
            rounds4!(s, a1, b1, 4 * g + 1);
            a2 = schedule!(a2, a3, a0, a1);
            b2 = schedule!(b2, b3, b0, b1);
            rounds4!(s, a2, b2, 4 * g + 2);
            a3 = schedule!(a3, a0, a1, a2);
            b3 = schedule!(b3, b0, b1, b2);
            rounds4!(s, a3, b3, 4 * g + 3);
        }
        for (lane, before) in s.iter_mut().zip(saved) {
            lane.abef = _mm_add_epi32(lane.abef, before.abef);
            lane.cdgh = _mm_add_epi32(lane.cdgh, before.cdgh);
        }
    }

    /// The second block of an 80-byte message: its last 16 bytes, the padding and the length
    /// (640 bits).
    fn tail_block(input: &[u8; 80]) -> [u8; 64] {
        let mut block = [0u8; 64];
        block[..16].copy_from_slice(&input[64..]);
        block[16] = 0x80;
        block[56..].copy_from_slice(&(80u64 * 8).to_be_bytes());
        block
    }

    /// [`super::double_sha256_pair`] on a CPU with the SHA extensions.
    ///
    /// # Safety
    /// The CPU must have `sha`, `sse2`, `ssse3` and `sse4.1`.
    #[target_feature(enable = "sha,sse2,ssse3,sse4.1")]
    pub(super) unsafe fn double_sha256_pair(a: &[u8; 80], b: &[u8; 80]) -> [[u8; 32]; 2] {
        let iv = lanes_of(&IV);
        let mut s = [iv, iv];
        let head = |x: &[u8; 80]| -> [u8; 64] {
            let mut block = [0u8; 64];
            block.copy_from_slice(&x[..64]);
            block
        };
        compress_pair(&mut s, [message_of(&head(a)), message_of(&head(b))]);
        compress_pair(
            &mut s,
            [message_of(&tail_block(a)), message_of(&tail_block(b))],
        );
        // The second hash's block is the first digest (its words, as the message words they
        // become), the padding word and the length (256 bits).
        let pad = _mm_set_epi32(0, 0, 0, 0x8000_0000_u32 as i32);
        let len = _mm_set_epi32(256, 0, 0, 0);
        let second = |l: Lanes| {
            let (abcd, efgh) = words_of(l);
            [abcd, efgh, pad, len]
        };
        let w = [second(s[0]), second(s[1])];
        let mut t = [iv, iv];
        compress_pair(&mut t, w);
        let digest = |l: Lanes| -> [u8; 32] {
            let (abcd, efgh) = words_of(l);
            let mut words = [0u32; 8];
            let p = words.as_mut_ptr().cast::<__m128i>();
            // SAFETY: two unaligned 16-byte stores inside the 32-byte array.
            unsafe {
                _mm_storeu_si128(p, abcd);
                _mm_storeu_si128(p.add(1), efgh);
            }
            let mut out = [0u8; 32];
            for (word, bytes) in words.iter().zip(out.chunks_exact_mut(4)) {
                bytes.copy_from_slice(&word.to_be_bytes());
            }
            out
        };
        [digest(t[0]), digest(t[1])]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn reference(x: &[u8; 80]) -> [u8; 32] {
        Sha256::digest(Sha256::digest(x)).into()
    }

    /// Inputs from a small generator (xorshift), and edge values.
    fn inputs() -> Vec<[u8; 80]> {
        let mut out = vec![[0u8; 80], [0xff; 80]];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2000 {
            let mut input = [0u8; 80];
            for byte in input.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *byte = x as u8;
            }
            out.push(input);
        }
        for i in 0..80 {
            let mut one = [0u8; 80];
            one[i] = 0x80;
            out.push(one);
        }
        out
    }

    #[test]
    fn pairs_match_two_double_sha256s() {
        let inputs = inputs();
        let mut checked = 0;
        for pair in inputs.windows(2) {
            let Some([x, y]) = double_sha256_pair(&pair[0], &pair[1]) else {
                eprintln!("no SHA extensions on this CPU: only the fallback answer is checked");
                return;
            };
            assert_eq!(x, reference(&pair[0]));
            assert_eq!(y, reference(&pair[1]));
            checked += 1;
        }
        // The same input in both places, and the genesis header's known hash.
        let genesis: [u8; 80] = [
            0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0x3b, 0xa3, 0xed, 0xfd, 0x7a, 0x7b, 0x12, 0xb2, 0x7a, 0xc7,
            0x2c, 0x3e, 0x67, 0x76, 0x8f, 0x61, 0x7f, 0xc8, 0x1b, 0xc3, 0x88, 0x8a, 0x51, 0x32,
            0x3a, 0x9f, 0xb8, 0xaa, 0x4b, 0x1e, 0x5e, 0x4a, 0x29, 0xab, 0x5f, 0x49, 0xff, 0xff,
            0x00, 0x1d, 0x1d, 0xac, 0x2b, 0x7c,
        ];
        let [g, h] = double_sha256_pair(&genesis, &genesis).expect("detected above");
        let mut shown = g;
        shown.reverse();
        let hex: String = shown.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        );
        assert_eq!(g, h);
        assert!(checked > 2000);
    }
}
