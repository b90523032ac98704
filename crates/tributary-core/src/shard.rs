//! Sharded runs (README, *Beyond one machine*): `tributary run --shard K/N` takes a stable hash
//! share of the work (for the Graph source, of the pages), so N copies of the same pipeline — a
//! Kubernetes Indexed Job, an Airflow mapped task — cover every page exactly once between them.
//!
//! The hash is SHA-256 of the key, first 8 bytes big-endian, modulo N: stable across releases,
//! platforms and processes (never `std`'s randomized hasher), and uniform enough that 10k page
//! ids spread evenly.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// Shard `index` of `count` (0-based index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Shard {
    /// This worker's share, `0 <= index < count`.
    pub index: u32,
    /// How many workers share the work.
    pub count: u32,
}

impl Shard {
    /// A shard, checked.
    pub fn new(index: u32, count: u32) -> Result<Self, String> {
        if count == 0 {
            return Err("the number of shards must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "shard index {index} is out of range for {count} shards (use 0..{})",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }

    /// The shard `key` belongs to, out of `count`.
    pub fn of(key: &str, count: u32) -> u32 {
        let digest = Sha256::digest(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        (u64::from_be_bytes(first) % u64::from(count.max(1))) as u32
    }

    /// Whether this shard owns `key`.
    pub fn owns(&self, key: &str) -> bool {
        Self::of(key, self.count) == self.index
    }

    /// A suffix for run ids, file names and state keys: `s2of4`.
    pub fn tag(&self) -> String {
        format!("s{}of{}", self.index, self.count)
    }

    /// This shard's own state location: `state/daily.json` → `state/daily.s2of4.json`. Each
    /// worker keeps its own watermarks and lock, so shards never contend for one state file.
    pub fn state_location(&self, location: &str) -> String {
        let name_start = location.rfind('/').map_or(0, |i| i + 1);
        match location[name_start..].rfind('.') {
            Some(dot) if dot > 0 => {
                let dot = name_start + dot;
                format!("{}.{}{}", &location[..dot], self.tag(), &location[dot..])
            }
            _ => format!("{location}.{}", self.tag()),
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = String;

    /// `K/N`, e.g. `0/4` (0-based, as Kubernetes' `JOB_COMPLETION_INDEX`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not a shard: write K/N, e.g. 0/4"))?;
        let parse = |v: &str, what: &str| {
            v.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{s}`: {what} `{v}` is not a number"))
        };
        Self::new(parse(k, "index")?, parse(n, "count")?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks_k_of_n() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        assert!("4/4".parse::<Shard>().unwrap_err().contains("out of range"));
        assert!("1-4".parse::<Shard>().unwrap_err().contains("K/N"));
        assert!("x/4".parse::<Shard>().is_err());
        assert!("0/0".parse::<Shard>().is_err());
    }

    #[test]
    fn each_shard_has_its_own_state_file() {
        let s = Shard::new(2, 4).unwrap();
        assert_eq!(
            s.state_location("state/daily.json"),
            "state/daily.s2of4.json"
        );
        assert_eq!(
            s.state_location("s3://b/x.y/state"),
            "s3://b/x.y/state.s2of4"
        );
        assert_eq!(s.state_location(".state"), ".state.s2of4");
    }

    #[test]
    fn assignment_is_stable() {
        // Pinned values: changing the hash would move pages between workers of running jobs.
        assert_eq!(
            Shard::of("104857600000001", 4),
            Shard::of("104857600000001", 4)
        );
        let pinned: Vec<u32> = (1..=8)
            .map(|i| Shard::of(&format!("1048576{i:08}"), 4))
            .collect();
        assert_eq!(pinned, PINNED.to_vec());
    }

    // Computed independently with Python: `int.from_bytes(hashlib.sha256(id).digest()[:8], "big") % 4`.
    const PINNED: [u32; 8] = [3, 3, 3, 3, 2, 0, 3, 0];

    #[test]
    fn every_key_has_exactly_one_owner_and_the_spread_is_even() {
        let n = 16;
        let shards: Vec<Shard> = (0..n).map(|k| Shard::new(k, n).unwrap()).collect();
        let mut counts = vec![0usize; n as usize];
        for i in 0..10_000u64 {
            let page = format!("1{:014}", 4_857_600_000_000u64 + i * 7919);
            let owners: Vec<_> = shards.iter().filter(|s| s.owns(&page)).collect();
            assert_eq!(owners.len(), 1, "{page} must have exactly one owner");
            counts[owners[0].index as usize] += 1;
        }
        let expected = 10_000 / n as usize;
        for (k, c) in counts.iter().enumerate() {
            // Binomial sd ~ 24 for 625 expected; 20% slack is > 5 sd.
            assert!(
                c.abs_diff(expected) < expected / 5,
                "shard {k} got {c} of 10k (expected ~{expected})"
            );
        }
    }
}
