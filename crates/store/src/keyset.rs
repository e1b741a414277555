//! The set of stored dedup keys: a flat open-addressing table of `u64`.
//!
//! Keys are xxh3 hashes, already uniform, so their low bits index the table directly and
//! an insert touches one cache line (hashbrown adds a control-byte group and rehashes).
//! Batches are inserted with the slots of later keys prefetched, so their misses overlap.
//! `0` marks an empty slot; key `0` is stored as `1` (a false duplicate with probability
//! 2^-64 per key).

pub struct KeySet {
    slots: Vec<u64>,
    len: usize,
}

impl Default for KeySet {
    fn default() -> Self {
        KeySet {
            slots: vec![0; 1024],
            len: 0,
        }
    }
}

const AHEAD: usize = 16;

impl KeySet {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Makes room for `more` keys without growing again.
    pub fn reserve(&mut self, more: usize) {
        let want = ((self.len + more) * 2).next_power_of_two();
        if want > self.slots.len() {
            self.resize(want);
        }
    }

    fn resize(&mut self, n: usize) {
        let old = std::mem::replace(&mut self.slots, vec![0; n]);
        self.len = 0;
        for k in old.into_iter().filter(|&k| k != 0) {
            self.put(k);
        }
    }

    fn put(&mut self, k: u64) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = k as usize & mask;
        loop {
            match self.slots[i] {
                0 => {
                    self.slots[i] = k;
                    self.len += 1;
                    return true;
                }
                s if s == k => return false,
                _ => i = (i + 1) & mask,
            }
        }
    }

    /// True when `key` is new (and now recorded).
    pub fn insert(&mut self, key: u64) -> bool {
        if (self.len + 1) * 2 > self.slots.len() {
            self.resize(self.slots.len() * 2);
        }
        self.put(key.max(1))
    }

    /// Inserts every key in order; `new[i]` says whether `keys[i]` was new.
    pub fn insert_batch(&mut self, keys: &[u64], new: &mut Vec<bool>) {
        self.reserve(keys.len());
        new.clear();
        let mask = self.slots.len() - 1;
        for (i, &k) in keys.iter().enumerate() {
            if let Some(&ahead) = keys.get(i + AHEAD) {
                prefetch(&self.slots, ahead.max(1) as usize & mask);
            }
            new.push(self.put(k.max(1)));
        }
    }
}

#[inline(always)]
fn prefetch(v: &[u64], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(x) = v.get(i) {
        // SAFETY: a prefetch is only a hint, and the address is a live element.
        unsafe {
            std::arch::x86_64::_mm_prefetch(
                x as *const u64 as *const i8,
                std::arch::x86_64::_MM_HINT_T0,
            )
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (v, i);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// The fast table against std's HashSet on the same keys, duplicates included.
    #[test]
    fn agrees_with_a_plain_hash_set() {
        let mut fast = KeySet::default();
        let mut slow = HashSet::new();
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut keys = Vec::new();
        for i in 0..200_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Every fifth key repeats an earlier one; a few are 0 and 1 (stored alike).
            keys.push(match i % 5 {
                0 if i > 0 => keys[(x % i) as usize],
                _ if i % 50_001 == 3 => i % 2,
                _ => x,
            });
        }
        let mut new = Vec::new();
        for chunk in keys.chunks(777) {
            fast.insert_batch(chunk, &mut new);
            for (&k, &n) in chunk.iter().zip(&new) {
                assert_eq!(n, slow.insert(k.max(1)), "key {k}");
            }
        }
        assert_eq!(fast.len(), slow.len());
        assert!(!fast.insert(keys[12_345]));
        assert!(fast.insert(0xDEAD_BEEF_0000_0001) == slow.insert(0xDEAD_BEEF_0000_0001));
    }
}
