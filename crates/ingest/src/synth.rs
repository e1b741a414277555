//! A seeded generator of SYNTHETIC account-model transfer graphs, written in the Ashiato
//! CSV format, for benchmarks. Everything it writes is synthetic and named so.
//!
//! Shape: `accounts` accounts named `a<id>`; senders and receivers drawn with a skew
//! (`id = ⌊N·u³⌋` for senders, `⌊N·u²⌋` for receivers, `u` uniform), so a few hubs carry
//! much of the traffic as exchanges do; amounts log-uniform in 1..10¹²; times rising by
//! 0–30 s per transfer; `block = time / 15`. Ten theft accounts `s0`..`s9` make the first
//! 1,000 transfers (the "split"), so a trace from them reaches most of the graph.
//! The same spec always gives byte-identical output (ChaCha8 seeded from `seed`).

use std::io::{self, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthSpec {
    pub accounts: u64,
    pub transfers: u64,
    pub seed: u64,
    pub start_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSummary {
    /// The theft accounts: seeds for a trace.
    pub seeds: Vec<String>,
    pub transfers: u64,
}

pub const THEFT_ACCOUNTS: u64 = 10;
const SPLIT_TRANSFERS: u64 = 1_000;

pub fn write_account_csv(w: impl Write, spec: &SynthSpec) -> io::Result<SynthSummary> {
    let mut w = io::BufWriter::with_capacity(1 << 20, w);
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let n = spec.accounts.max(1) as f64;
    let mut time = spec.start_time;
    writeln!(w, "{}", crate::csv::CSV_HEADER)?;
    let mut line = Vec::with_capacity(96);
    for i in 0..spec.transfers {
        time += rng.random_range(0..=30);
        let u: f64 = rng.random();
        let v: f64 = rng.random();
        // Log-uniform over twelve decades (a uniform decade, then uniform inside it):
        // integer arithmetic only, so the bytes do not depend on the platform's libm.
        let lo = 10u64.pow(rng.random_range(0..12));
        let amount = rng.random_range(lo..lo * 10);
        line.clear();
        let mut put = |s: &[u8]| line.extend_from_slice(s);
        put(time.to_string().as_bytes());
        put(b",");
        put((time / 15).to_string().as_bytes());
        put(b",t");
        put(i.to_string().as_bytes());
        if i < SPLIT_TRANSFERS {
            put(b",s");
            put((i % THEFT_ACCOUNTS).to_string().as_bytes());
        } else {
            put(b",a");
            put(((n * u * u * u) as u64).to_string().as_bytes());
        }
        put(b",a");
        put(((n * v * v) as u64).to_string().as_bytes());
        put(b",UNIT,");
        put(amount.to_string().as_bytes());
        put(b"\n");
        w.write_all(&line)?;
    }
    w.flush()?;
    Ok(SynthSummary {
        seeds: theft_accounts(),
        transfers: spec.transfers,
    })
}

/// The names of the theft accounts every generated graph starts from.
pub fn theft_accounts() -> Vec<String> {
    (0..THEFT_ACCOUNTS).map(|i| format!("s{i}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    fn run(seed: u64) -> Vec<u8> {
        let mut out = Vec::new();
        let spec = SynthSpec {
            accounts: 1_000,
            transfers: 10_000,
            seed,
            start_time: 1_500_000_000,
        };
        write_account_csv(&mut out, &spec).unwrap();
        out
    }

    #[test]
    fn deterministic_and_readable() {
        let a = run(42);
        assert_eq!(a, run(42));
        assert_ne!(a, run(43));
        let rows = crate::csv::CsvReader::from_reader(
            "synthetic",
            a.as_slice(),
            ashiato_model::Chain::Generic,
        )
        .unwrap()
        .for_each(0, |_, _| Ok(()))
        .unwrap();
        assert_eq!(rows, 10_000);
        // Pin the bytes so an accidental change of the generator shows up.
        let digest = format!("{:x}", Sha256::digest(&a));
        assert_eq!(
            digest,
            "f5084c5fd3be5a03ffb418ce2a96cdb6eeadaa5e9e54fac4d7dd261177380bfe"
        );
    }
}
