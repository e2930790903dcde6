//! Stable hashing of portal names, and sharding a fleet over several replicas.
//!
//! The same name gives the same number on every machine and release, so a portal's
//! jitter does not move between restarts and it belongs to the same replica for as
//! long as the replica count stays the same (changing the count reshuffles portals).

use std::fmt;
use std::hash::Hasher;

/// Replica `index` of `count` (0-based, like StatefulSet ordinals).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Does this replica handle `portal`?
    pub fn owns(&self, portal: &str) -> bool {
        stable_hash(portal) % u64::from(self.count) == u64::from(self.index)
    }

    /// `"i/n"`, or `"auto"`: the ordinal from the pod name (`…-2` → 2) and `n` from
    /// `daemon.shard_count`.
    pub fn parse(text: &str, count: Option<i64>, pod_name: Option<&str>) -> Result<Shard, String> {
        let (index, count) = if text == "auto" {
            let count = count.ok_or("\"auto\" needs daemon.shard_count (the number of replicas)")?;
            let pod = pod_name.ok_or("\"auto\" needs the pod name in POD_NAME or HOSTNAME")?;
            let ordinal = pod
                .rsplit_once('-')
                .and_then(|(_, n)| n.parse::<i64>().ok())
                .ok_or_else(|| {
                    format!("\"auto\" needs a pod name ending in -N (a StatefulSet ordinal), found {pod:?}")
                })?;
            (ordinal, count)
        } else {
            let bad = || format!("expected \"auto\", \"off\" or \"INDEX/COUNT\" such as \"2/5\", found {text:?}");
            let (i, n) = text.split_once('/').ok_or_else(bad)?;
            let i = i.trim().parse::<i64>().map_err(|_| bad())?;
            let n = n.trim().parse::<i64>().map_err(|_| bad())?;
            (i, n)
        };
        if !(1..=100_000).contains(&count) {
            return Err(format!("the replica count must be from 1 to 100000, found {count}"));
        }
        if index < 0 || index >= count {
            return Err(format!(
                "the shard index must be from 0 to {}, found {index}",
                count - 1
            ));
        }
        Ok(Shard {
            index: index as u32,
            count: count as u32,
        })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

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
    fn shards_parse_and_partition() {
        assert_eq!(Shard::parse("2/5", None, None), Ok(Shard { index: 2, count: 5 }));
        assert_eq!(
            Shard::parse("auto", Some(3), Some("docspace-retention-1")),
            Ok(Shard { index: 1, count: 3 })
        );
        assert!(Shard::parse("5/5", None, None).unwrap_err().contains("from 0 to 4"));
        assert!(
            Shard::parse("auto", None, Some("x-1"))
                .unwrap_err()
                .contains("shard_count")
        );
        assert!(
            Shard::parse("auto", Some(3), Some("web"))
                .unwrap_err()
                .contains("ending in -N")
        );
        assert!(Shard::parse("two", None, None).is_err());
        let shards: Vec<Shard> = (0..3).map(|index| Shard { index, count: 3 }).collect();
        for n in 0..300 {
            let name = format!("portal-{n}");
            assert_eq!(shards.iter().filter(|s| s.owns(&name)).count(), 1, "{name}");
        }
    }

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
