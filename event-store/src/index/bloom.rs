//! A Bloom filter per sorted run, so a lookup skips the runs that cannot
//! hold its key without reading any of their blocks.

/// Bits per key: about 1 % false positives with `HASHES` probes.
const BITS_PER_KEY: usize = 10;
const HASHES: u64 = 7;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Bloom {
    bits: Vec<u64>,
}

impl Bloom {
    /// A filter holding `hashes` (from [`key_hash`]).
    pub fn new(hashes: &[u64]) -> Self {
        let words = (hashes.len() * BITS_PER_KEY).div_ceil(64).max(1);
        let mut bloom = Self {
            bits: vec![0; words],
        };
        for &h in hashes {
            for bit in bloom.probes(h) {
                bloom.bits[bit / 64] |= 1 << (bit % 64);
            }
        }
        bloom
    }

    pub fn from_words(bits: Vec<u64>) -> Option<Self> {
        (!bits.is_empty()).then_some(Self { bits })
    }

    pub fn words(&self) -> &[u64] {
        &self.bits
    }

    /// False means the key is certainly absent.
    pub fn may_contain(&self, hash: u64) -> bool {
        self.probes(hash)
            .all(|bit| self.bits[bit / 64] & (1 << (bit % 64)) != 0)
    }

    /// Double hashing: probe i is h1 + i·h2 modulo the filter's bits.
    fn probes(&self, hash: u64) -> impl Iterator<Item = usize> {
        let m = self.bits.len() as u64 * 64;
        let h1 = hash;
        let h2 = hash.rotate_left(32) | 1;
        (0..HASHES).map(move |i| (h1.wrapping_add(i.wrapping_mul(h2)) % m) as usize)
    }
}

/// The filter's hash of a key in a section (streams and commands share a
/// filter). Fixed here, not `std`'s hasher: the filter is stored on disk.
pub(crate) fn key_hash(section: u8, key: &[u8]) -> u64 {
    // FNV-1a, then the splitmix64 finalizer to spread the bits.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in std::iter::once(&section).chain(key) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_every_key_and_rejects_most_others() {
        let keys: Vec<u64> = (0..10_000u32)
            .map(|i| key_hash(b's', format!("stream-{i}").as_bytes()))
            .collect();
        let bloom = Bloom::new(&keys);
        assert!(keys.iter().all(|&h| bloom.may_contain(h)));
        let false_positives = (0..10_000u32)
            .filter(|i| bloom.may_contain(key_hash(b's', format!("other-{i}").as_bytes())))
            .count();
        assert!(
            false_positives < 300,
            "{false_positives} false positives in 10,000"
        );
    }
}
