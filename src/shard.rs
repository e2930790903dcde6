//! Stable hashing of portal names: the same name gives the same number on every
//! machine and release, so per-portal jitter does not move between restarts.

use std::hash::Hasher;

/// FNV-1a over the name's bytes.
pub fn stable_hash(name: &str) -> u64 {
    let mut h = fnv::FnvHasher::default();
    h.write(name.as_bytes());
    h.finish()
}

/// A portal's stable offset in `[0, jitter_secs)` seconds.
pub fn jitter_secs(name: &str, jitter_secs: u64) -> u64 {
    if jitter_secs == 0 {
        0
    } else {
        stable_hash(name) % jitter_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_jitter_are_stable() {
        // FNV-1a 64 of "acme", fixed forever: changing it would move every portal.
        assert_eq!(stable_hash("acme"), 0x0724_d383_f4f6_de0f);
        assert_eq!(jitter_secs("acme", 0), 0);
        for n in ["acme", "beta", "x"] {
            assert!(jitter_secs(n, 60) < 60);
            assert_eq!(jitter_secs(n, 60), jitter_secs(n, 60));
        }
    }
}
