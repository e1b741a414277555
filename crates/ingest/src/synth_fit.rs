//! A seeded generator of SYNTHETIC chains whose shape is fitted to real data
//! (`tools/fit_synthetic.py` → `testdata/synth-fit/fit.json`, embedded at build time), for
//! benchmarks at full-chain scale (up to a billion transfers, streamed to part files).
//! Everything it writes is synthetic and named so; `docs/synthetic.md` documents the fit,
//! the model and where it departs from the real data.
//!
//! Account model (Ashiato CSV, chain `generic`, asset `SYNUSD` in cents): a Simon/Yule
//! process. A transfer either repeats an earlier (from, to) pair (fitted share) or draws
//! its ends: a first-time sender (fitted share; most of them are earlier recipients
//! forwarding what they got, as laundering hops do) or an earlier sender picked in
//! proportion to its out-degree; a brand-new recipient (fitted share) or an earlier one in
//! proportion to its in-degree. Degree-proportional picks come from fixed-size uniform
//! reservoirs of past endpoints, so memory does not grow with the transfers.
//!
//! UTXO model (a TaintedTX/BlockSci export, which `ashiato ingest` reads): blocks of one
//! coinbase and the fitted number of ordinary transactions, fitted inputs/outputs per
//! transaction, output values and spent-coin ages; every input spends an existing unspent
//! output exactly once and no transaction creates more than it spends.
//!
//! Same spec and options → byte-identical files (ChaCha8 seeded from `seed`). The value
//! tables are built from fit.json with `+` and `*` on `f64` only (IEEE-exact, no
//! platform maths library); every draw after that is integer arithmetic.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

/// The fit the generator is driven by (see `tools/fit_synthetic.py`).
pub const FIT_JSON: &str = include_str!("../../../testdata/synth-fit/fit.json");

/// Theft accounts (`s0`..`s9`), exits (`x0`..`x9`) and the victim (`v0`).
pub const THEFT_ACCOUNTS: u64 = 10;
pub const EXITS: u64 = 10;
/// The asset of every generated account-model transfer: US cents, as MFTracer's values.
pub const ASSET: &str = "SYNUSD";

#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the embedded fit.json is unusable: {0}")]
    Fit(String),
    #[error("bad generator spec: {0}")]
    Spec(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SynthError + '_ {
    move |source| SynthError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FitSpec {
    /// Transfers (account model) or transactions, coinbases included (UTXO model).
    pub transfers: u64,
    pub seed: u64,
    /// Unix time of the first transfer / block.
    pub start_time: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitSummary {
    /// Trace seeds: the theft accounts (account model) or the theft txids (UTXO model).
    pub seeds: Vec<String>,
    /// Exit accounts/addresses, also written to `labels.csv`.
    pub exits: Vec<String>,
    pub transfers: u64,
    pub accounts: u64,
    /// Every file written, in order (part files, then `labels.csv`).
    pub files: Vec<PathBuf>,
    /// Bytes of all files written.
    pub bytes: u64,
}

/// How the part files are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartOptions {
    /// Rows (transfers, or transactions for UTXO) per part.
    pub part_rows: u64,
    /// zstd level for `part-NNNNN.csv.zst`; `None` writes plain `.csv`.
    pub zstd: Option<i32>,
}

// ---- the fit ----------------------------------------------------------------------

#[derive(Deserialize)]
struct Fit {
    account: AccountFit,
    utxo: UtxoFit,
}

#[derive(Deserialize)]
struct PowerLaw {
    alpha: f64,
}

#[derive(Deserialize)]
struct Amounts {
    log10_quantiles: Vec<f64>,
}

#[derive(Deserialize)]
struct Density {
    block_interval_s: f64,
    mean_gap_s: f64,
}

#[derive(Deserialize)]
struct AccountFit {
    repeat_edge_share: f64,
    new_sender_share: f64,
    new_recipient_share: f64,
    new_sender_had_received_share: f64,
    out_degree: PowerLaw,
    in_degree: PowerLaw,
    amount: Amounts,
    chain_density: Density,
}

#[derive(Deserialize)]
struct PmfFit {
    pmf: Vec<f64>,
}

#[derive(Deserialize)]
struct Modern {
    coinbase_share: f64,
    inputs_per_tx: PmfFit,
    outputs_per_tx: PmfFit,
    output_value: Amounts,
}

#[derive(Deserialize)]
struct Y2009 {
    new_address_share_of_outputs: f64,
}

#[derive(Deserialize)]
struct CoinAge {
    quantiles: Vec<f64>,
}

#[derive(Deserialize)]
struct UtxoFit {
    modern: Modern,
    y2009: Y2009,
    coin_age_blocks: CoinAge,
}

/// SHA-256 (hex) of the embedded fit.json: names the fit a generated set came from.
pub fn fit_sha256() -> String {
    use sha2::{Digest, Sha256};
    format!("{:x}", Sha256::digest(FIT_JSON.as_bytes()))
}

fn load_fit() -> Result<Fit, SynthError> {
    serde_json::from_str(FIT_JSON).map_err(|e| SynthError::Fit(e.to_string()))
}

/// The degree exponents the fit found (out, in): what the generated graph aims at.
pub fn fitted_degree_exponents() -> Result<(f64, f64), SynthError> {
    let f = load_fit()?;
    Ok((f.account.out_degree.alpha, f.account.in_degree.alpha))
}

/// A probability as a threshold on a uniform `u64` (`draw < t` has probability `p`).
fn threshold(p: f64, what: &str) -> Result<u64, SynthError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(SynthError::Fit(format!(
            "{what} = {p} is not a probability"
        )));
    }
    // 2^64·p, saturating: exact for every p the fit can hold.
    Ok((p * 18_446_744_073_709_551_616.0).min(u64::MAX as f64) as u64)
}

/// `e^y` for `0 ≤ y < 2.31` by its Taylor series: only `+`, `*`, `/` on f64, which IEEE
/// rounds exactly, so every platform gets the same bits (unlike `f64::powf`).
fn exp_series(y: f64) -> f64 {
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..40 {
        term = term * y / k as f64;
        sum += term;
    }
    sum
}

/// `round(10^x)` for `0 ≤ x < 38`, platform-independent (see [`exp_series`]).
fn pow10_round(x: f64) -> u128 {
    let k = x as i32; // floor for x ≥ 0
    let mant = exp_series((x - k as f64) * std::f64::consts::LN_10);
    let mut v = mant;
    for _ in 0..k {
        v *= 10.0;
    }
    (v + 0.5) as u128
}

/// Inverse-CDF table of an amount distribution: `TABLE` points between the fitted log10
/// quantiles, interpolated linearly in log space, stored as integers.
const TABLE_BITS: u32 = 12;

struct AmountTable(Vec<u128>);

impl AmountTable {
    fn new(log10_quantiles: &[f64]) -> Result<Self, SynthError> {
        let q = log10_quantiles;
        if q.len() < 2 || q.windows(2).any(|w| w[1] < w[0]) || q[0] < 0.0 || q[q.len() - 1] > 30.0 {
            return Err(SynthError::Fit(
                "amount quantiles must rise within 10^0..10^30".into(),
            ));
        }
        let n = 1usize << TABLE_BITS;
        let segs = (q.len() - 1) as f64;
        let t = (0..=n)
            .map(|j| {
                let pos = j as f64 / n as f64 * segs;
                let i = (pos as usize).min(q.len() - 2);
                let x = q[i] + (pos - i as f64) * (q[i + 1] - q[i]);
                pow10_round(x).max(1)
            })
            .collect();
        Ok(AmountTable(t))
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> u128 {
        let u = rng.next_u64();
        let i = (u >> (64 - TABLE_BITS)) as usize;
        let frac = u128::from((u >> (64 - TABLE_BITS - 16)) & 0xffff);
        let (a, b) = (self.0[i], self.0[i + 1]);
        a + (((b - a) * frac) >> 16)
    }
}

// ---- part files ---------------------------------------------------------------------

enum Sink {
    Plain(BufWriter<File>),
    Zstd(zstd::Encoder<'static, BufWriter<File>>),
}

impl Sink {
    fn create(path: &Path, zstd_level: Option<i32>) -> Result<Sink, SynthError> {
        let f = BufWriter::with_capacity(1 << 20, File::create(path).map_err(io_err(path))?);
        Ok(match zstd_level {
            None => Sink::Plain(f),
            Some(l) => Sink::Zstd(zstd::Encoder::new(f, l).map_err(io_err(path))?),
        })
    }

    fn write_all(&mut self, b: &[u8]) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.write_all(b),
            Sink::Zstd(w) => w.write_all(b),
        }
    }

    fn finish(self) -> io::Result<()> {
        let mut w = match self {
            Sink::Plain(w) => w,
            Sink::Zstd(e) => e.finish()?,
        };
        w.flush()?;
        w.get_ref().sync_all()
    }
}

/// A rotating set of part files `part-NNNNN.csv[.zst]`, each starting with `header`.
struct Parts<'a> {
    dir: &'a Path,
    opts: PartOptions,
    header: &'static str,
    sink: Option<(PathBuf, Sink)>,
    rows_in_part: u64,
    files: Vec<PathBuf>,
    bytes: u64,
}

impl<'a> Parts<'a> {
    fn new(dir: &'a Path, opts: PartOptions, header: &'static str) -> Self {
        Parts {
            dir,
            opts,
            header,
            sink: None,
            rows_in_part: 0,
            files: Vec::new(),
            bytes: 0,
        }
    }

    fn row(&mut self, line: &[u8]) -> Result<(), SynthError> {
        if self.sink.is_none() || self.rows_in_part >= self.opts.part_rows {
            self.close()?;
            let ext = if self.opts.zstd.is_some() {
                "csv.zst"
            } else {
                "csv"
            };
            let path = self.dir.join(format!("part-{:05}.{ext}", self.files.len()));
            let mut s = Sink::create(&path, self.opts.zstd)?;
            s.write_all(self.header.as_bytes())
                .and_then(|_| s.write_all(b"\n"))
                .map_err(io_err(&path))?;
            self.files.push(path.clone());
            self.sink = Some((path, s));
            self.rows_in_part = 0;
        }
        self.rows_in_part += 1;
        match &mut self.sink {
            Some((path, s)) => s.write_all(line).map_err(io_err(path)),
            None => Ok(()),
        }
    }

    fn close(&mut self) -> Result<(), SynthError> {
        if let Some((path, s)) = self.sink.take() {
            s.finish().map_err(io_err(&path))?;
            self.bytes += std::fs::metadata(&path).map_err(io_err(&path))?.len();
        }
        Ok(())
    }
}

fn check_opts(spec: &FitSpec, opts: &PartOptions) -> Result<(), SynthError> {
    if opts.part_rows == 0 {
        return Err(SynthError::Spec("part rows must be at least 1".into()));
    }
    if spec.start_time < 0 {
        return Err(SynthError::Spec(
            "start time must not be before 1970".into(),
        ));
    }
    Ok(())
}

/// Appends the decimal digits of `v`.
fn put_u(buf: &mut Vec<u8>, mut v: u128) {
    let mut tmp = [0u8; 40];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
}

fn write_labels(
    dir: &Path,
    exits: &[String],
    files: &mut Vec<PathBuf>,
    bytes: &mut u64,
) -> Result<(), SynthError> {
    let path = dir.join("labels.csv");
    let mut s = String::from("address,name,kind,source,confidence\n");
    for (k, x) in exits.iter().enumerate() {
        s += &format!("{x},SYNTHETIC exchange {k},exchange,SYNTHETIC ashiato-synth,100\n");
    }
    std::fs::write(&path, &s).map_err(io_err(&path))?;
    *bytes += s.len() as u64;
    files.push(path);
    Ok(())
}

// ---- account model ------------------------------------------------------------------

/// Endpoints kept for degree-proportional picks: a uniform sample of all past ones
/// (Vitter's algorithm R), so memory stays fixed however many transfers are written.
const RESERVOIR: usize = 1 << 22;
/// Recipients that have not sent yet, for first-time senders to come from.
const FRESH: usize = 1 << 20;
/// Initial weight of each exit in the degree reservoirs: it makes them the hubs.
const EXIT_WEIGHT: usize = 200;
/// Transfers of the theft: the victim pays each theft account, which splits its share
/// into `SPLIT` transfers to new accounts.
const SPLIT: u64 = 100;
const STOLEN_CENTS: u128 = 1_000_000_000;

const ID_THEFT: u64 = 0;
const ID_EXIT: u64 = THEFT_ACCOUNTS;
const ID_VICTIM: u64 = THEFT_ACCOUNTS + EXITS;
const ID_FIRST: u64 = ID_VICTIM + 1;

fn put_account(buf: &mut Vec<u8>, id: u64) {
    let (c, n) = if id < ID_EXIT {
        (b's', id - ID_THEFT)
    } else if id < ID_VICTIM {
        (b'x', id - ID_EXIT)
    } else if id == ID_VICTIM {
        (b'v', 0)
    } else {
        (b'a', id - ID_FIRST)
    };
    buf.push(c);
    put_u(buf, u128::from(n));
}

struct Reservoir<T> {
    items: Vec<T>,
    seen: u64,
}

impl<T: Copy> Reservoir<T> {
    fn new() -> Self {
        Reservoir {
            items: Vec::new(),
            seen: 0,
        }
    }

    fn push(&mut self, v: T, rng: &mut ChaCha8Rng) {
        self.seen += 1;
        if self.items.len() < RESERVOIR {
            self.items.push(v);
        } else {
            let j = rng.random_range(0..self.seen);
            if let Some(slot) = self.items.get_mut(j as usize) {
                *slot = v;
            }
        }
    }

    fn pick(&self, rng: &mut ChaCha8Rng) -> Option<T> {
        if self.items.is_empty() {
            return None;
        }
        Some(self.items[rng.random_range(0..self.items.len())])
    }
}

struct AccountParams {
    repeat: u64,
    new_sender: u64,
    new_recipient: u64,
    sender_received: u64,
    gap_continue: u64,
    block_interval: i64,
    amounts: AmountTable,
}

impl AccountParams {
    fn new(f: &AccountFit) -> Result<Self, SynthError> {
        let g = f.chain_density.mean_gap_s;
        if !(0.0..1e6).contains(&g) {
            return Err(SynthError::Fit(format!("mean gap {g} s")));
        }
        let bi = f.chain_density.block_interval_s;
        if !(1.0..=86_400.0).contains(&bi) {
            return Err(SynthError::Fit(format!("block interval {bi} s")));
        }
        Ok(AccountParams {
            repeat: threshold(f.repeat_edge_share, "repeat_edge_share")?,
            new_sender: threshold(f.new_sender_share, "new_sender_share")?,
            new_recipient: threshold(f.new_recipient_share, "new_recipient_share")?,
            sender_received: threshold(
                f.new_sender_had_received_share,
                "new_sender_had_received_share",
            )?,
            // Whole seconds between transfers: geometric with mean g, so that transfers
            // in one second cluster as in a block.
            gap_continue: threshold(g / (1.0 + g), "gap")?,
            block_interval: bi as i64,
            amounts: AmountTable::new(&f.amount.log10_quantiles)?,
        })
    }
}

struct AccountGen {
    p: AccountParams,
    rng: ChaCha8Rng,
    next_id: u64,
    senders: Reservoir<u64>,
    recipients: Reservoir<u64>,
    edges: Reservoir<(u64, u64)>,
    fresh: Vec<u64>,
    time: i64,
}

impl AccountGen {
    fn new(f: &AccountFit, spec: &FitSpec) -> Result<Self, SynthError> {
        let mut g = AccountGen {
            p: AccountParams::new(f)?,
            rng: ChaCha8Rng::seed_from_u64(spec.seed),
            next_id: ID_FIRST,
            senders: Reservoir::new(),
            recipients: Reservoir::new(),
            edges: Reservoir::new(),
            fresh: Vec::new(),
            time: spec.start_time,
        };
        for _ in 0..EXIT_WEIGHT {
            for x in ID_EXIT..ID_VICTIM {
                g.senders.items.push(x);
                g.recipients.items.push(x);
            }
        }
        Ok(g)
    }

    fn new_account(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn chance(&mut self, t: u64) -> bool {
        self.rng.next_u64() < t
    }

    /// The next transfer `(from, to, amount)`, `i` counting from 0.
    fn next(&mut self, i: u64) -> (u64, u64, u128) {
        while self.chance(self.p.gap_continue) {
            self.time += 1;
        }
        let theft_rows = THEFT_ACCOUNTS * (SPLIT + 1);
        if i < THEFT_ACCOUNTS {
            return (ID_VICTIM, ID_THEFT + i, STOLEN_CENTS);
        }
        if i < theft_rows {
            let k = (i - THEFT_ACCOUNTS) % THEFT_ACCOUNTS;
            let to = self.new_account();
            self.fresh.push(to);
            self.recipients.push(to, &mut self.rng);
            self.senders.push(ID_THEFT + k, &mut self.rng);
            return (ID_THEFT + k, to, STOLEN_CENTS / u128::from(SPLIT));
        }
        let amount = self.p.amounts.draw(&mut self.rng);
        let repeat = self.chance(self.p.repeat);
        let (from, to) = match self.edges.pick(&mut self.rng) {
            Some(e) if repeat => e,
            _ => {
                let from = if self.chance(self.p.new_sender) {
                    if !self.fresh.is_empty() && self.chance(self.p.sender_received) {
                        let j = self.rng.random_range(0..self.fresh.len());
                        self.fresh.swap_remove(j)
                    } else {
                        self.new_account()
                    }
                } else {
                    match self.senders.pick(&mut self.rng) {
                        Some(a) => a,
                        None => self.new_account(),
                    }
                };
                let mut to = if self.chance(self.p.new_recipient) {
                    self.new_account()
                } else {
                    self.recipients.pick(&mut self.rng).unwrap_or(ID_EXIT)
                };
                if to == from {
                    to = self.new_account();
                }
                if to >= ID_FIRST && to + 1 == self.next_id {
                    if self.fresh.len() < FRESH {
                        self.fresh.push(to);
                    } else {
                        let j = self.rng.random_range(0..FRESH);
                        self.fresh[j] = to;
                    }
                }
                (from, to)
            }
        };
        self.senders.push(from, &mut self.rng);
        self.recipients.push(to, &mut self.rng);
        self.edges.push((from, to), &mut self.rng);
        (from, to, amount)
    }
}

/// Writes `spec.transfers` SYNTHETIC account-model transfers as plain CSV parts of
/// `part_rows` rows, plus `labels.csv` for the exits.
pub fn write_fitted_accounts(
    dir: &Path,
    spec: &FitSpec,
    part_rows: u64,
) -> Result<FitSummary, SynthError> {
    write_fitted_accounts_with(
        dir,
        spec,
        &PartOptions {
            part_rows,
            zstd: None,
        },
    )
}

/// [`write_fitted_accounts`] with the part format chosen (plain or zstd).
pub fn write_fitted_accounts_with(
    dir: &Path,
    spec: &FitSpec,
    opts: &PartOptions,
) -> Result<FitSummary, SynthError> {
    check_opts(spec, opts)?;
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let fit = load_fit()?;
    let mut g = AccountGen::new(&fit.account, spec)?;
    let mut parts = Parts::new(dir, *opts, crate::csv::CSV_HEADER);
    let mut line = Vec::with_capacity(128);
    for i in 0..spec.transfers {
        let (from, to, amount) = g.next(i);
        line.clear();
        put_u(&mut line, g.time as u128);
        line.push(b',');
        put_u(&mut line, (g.time / g.p.block_interval) as u128);
        line.extend_from_slice(b",t");
        put_u(&mut line, u128::from(i));
        line.push(b',');
        put_account(&mut line, from);
        line.push(b',');
        put_account(&mut line, to);
        line.push(b',');
        line.extend_from_slice(ASSET.as_bytes());
        line.push(b',');
        put_u(&mut line, amount);
        line.push(b'\n');
        parts.row(&line)?;
    }
    parts.close()?;
    let mut files = std::mem::take(&mut parts.files);
    let mut bytes = parts.bytes;
    let exits: Vec<String> = (0..EXITS).map(|k| format!("x{k}")).collect();
    write_labels(dir, &exits, &mut files, &mut bytes)?;
    Ok(FitSummary {
        seeds: (0..THEFT_ACCOUNTS).map(|k| format!("s{k}")).collect(),
        exits,
        transfers: spec.transfers,
        accounts: g.next_id,
        files,
        bytes,
    })
}

// ---- UTXO model ---------------------------------------------------------------------

/// Satoshi created by each coinbase (the 2009 subsidy, as the 2009 data holds).
pub const SUBSIDY: u64 = 5_000_000_000;
pub const MATURITY: u64 = 100;
/// The block whose first ordinary transactions are the theft.
pub const THEFT_HEIGHT: u64 = MATURITY + 10;
pub const THEFT_TXS: u64 = 10;
const MINERS: u64 = 20;
/// Share of payments to the exits (each `EXIT_SHARE / EXITS`): not fitted, chosen so
/// that the exits are the busiest addresses, as exchanges are.
const EXIT_SHARE: f64 = 0.05;
/// Live coins below which a transaction takes a single input, so the pool never drains.
const MIN_POOL: usize = 64;
/// TaintedTX numbers outputs `tx_index·10 + vout`.
const MAX_OUTPUTS: usize = 10;
/// Coin selection stops here even if the payments are not covered.
const MAX_INPUTS: usize = 50;

const ADDR_MINER: u64 = 0;
const ADDR_EXIT: u64 = MINERS;
const ADDR_THIEF: u64 = ADDR_EXIT + EXITS;
const ADDR_FIRST: u64 = ADDR_THIEF + THEFT_TXS;

fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The SYNTHETIC address `id`: a valid bech32 P2WPKH address whose program spells
/// `synth` first (`bc1qsynth…`), so it reads as synthetic wherever it ends up; the rest
/// of the program is a bijection of `id`, so ids give distinct addresses.
pub fn utxo_address(seed: u64, id: u64) -> String {
    const SYNTH: [u8; 5] = [16, 4, 19, 11, 23]; // s y n t h in the bech32 alphabet
    let s = fmix64(seed ^ 0x5717_ad0e_0000_0003);
    let (h1, h2) = (fmix64(id ^ s), fmix64(id.wrapping_add(s) ^ 0x6666_6666));
    let mut groups = SYNTH.to_vec();
    let bits = (u128::from(h1) << 64) | u128::from(h2);
    for g in 0..27u32 {
        // 27 groups of 5 bits: the 128 hash bits, then zeros.
        let shift = 128i32 - 5 * (g as i32 + 1);
        let v = if shift >= 0 {
            (bits >> shift) & 31
        } else {
            (bits << (-shift)) & 31
        };
        groups.push(v as u8);
    }
    let mut program = [0u8; 20];
    let (mut acc, mut n, mut k) = (0u32, 0u32, 0usize);
    for g in groups {
        acc = (acc << 5) | u32::from(g);
        n += 5;
        if n >= 8 {
            n -= 8;
            program[k] = (acc >> n) as u8;
            k += 1;
        }
    }
    bech32::segwit::encode_v0(bech32::hrp::BC, &program)
        .unwrap_or_else(|_| unreachable!("a 20-byte v0 program always encodes"))
}

/// The SYNTHETIC id of transaction `ix`.
fn utxo_txid(seed: u64, ix: u64) -> String {
    crate::synth_utxo::txid(seed ^ 0xf17e_d000_0000_0004, ix)
}

#[derive(Debug, Clone, Copy)]
struct Coin {
    height: u64,
    tx: u64,
    vout: u32,
    addr: u64,
    value: u64,
}

const DEAD: u32 = u32::MAX;

/// Draws from a pmf over 0..len (index = count), as cumulative thresholds.
struct Pmf(Vec<u64>);

impl Pmf {
    fn new(p: &[f64], what: &str) -> Result<Self, SynthError> {
        let total: f64 = p.iter().sum();
        if p.is_empty() || !(0.99..=1.01).contains(&total) || p.iter().any(|x| *x < 0.0) {
            return Err(SynthError::Fit(format!("{what} is not a distribution")));
        }
        let mut acc = 0.0;
        let mut cum = Vec::with_capacity(p.len());
        for x in p {
            acc += x / total;
            cum.push(threshold(acc.min(1.0), what)?);
        }
        if let Some(last) = cum.last_mut() {
            *last = u64::MAX;
        }
        Ok(Pmf(cum))
    }

    fn draw(&self, rng: &mut ChaCha8Rng) -> usize {
        let u = rng.next_u64();
        self.0.partition_point(|&c| c < u).min(self.0.len() - 1)
    }
}

struct UtxoGen {
    rng: ChaCha8Rng,
    txs_per_block: u64,
    inputs: Pmf,
    outputs: Pmf,
    values: AmountTable,
    ages: AmountTable,
    new_addr: u64,
    exit_share: u64,
    pool: Vec<Coin>,
    live: usize,
    maturing: std::collections::VecDeque<Coin>,
    next_addr: u64,
}

/// One generated transaction: inputs spent and outputs `(address id, value)`.
struct GenTx {
    ix: u64,
    height: u64,
    inputs: Vec<Coin>,
    outputs: Vec<(u64, u64)>,
}

impl UtxoGen {
    fn new(f: &UtxoFit, spec: &FitSpec) -> Result<Self, SynthError> {
        let c = f.modern.coinbase_share;
        if !(c > 0.0 && c <= 1.0) {
            return Err(SynthError::Fit(format!("coinbase share {c}")));
        }
        // Age quantiles are whole blocks, so log10(age + 1) turns them into an amount
        // table (the `+ 1` keeps age 0).
        let mut ages = Vec::new();
        let mut last = 0.0f64;
        for a in &f.coin_age_blocks.quantiles {
            // log10(a+1) by bisection on the same exact pow10, to stay platform-free.
            let (mut lo, mut hi) = (0.0f64, 12.0f64);
            for _ in 0..60 {
                let mid = (lo + hi) / 2.0;
                if pow10_round(mid) as f64 <= a + 1.0 {
                    lo = mid
                } else {
                    hi = mid
                }
            }
            last = last.max(lo);
            ages.push(last);
        }
        let outs = &f.modern.outputs_per_tx.pmf;
        Ok(UtxoGen {
            rng: ChaCha8Rng::seed_from_u64(spec.seed),
            txs_per_block: ((1.0 / c) + 0.5) as u64,
            inputs: Pmf::new(&f.modern.inputs_per_tx.pmf, "inputs_per_tx")?,
            outputs: Pmf::new(&outs[..outs.len().min(MAX_OUTPUTS + 1)], "outputs_per_tx")?,
            values: AmountTable::new(&f.modern.output_value.log10_quantiles)?,
            ages: AmountTable::new(&ages)?,
            new_addr: threshold(
                f.y2009.new_address_share_of_outputs,
                "new_address_share_of_outputs",
            )?,
            exit_share: threshold(EXIT_SHARE, "exit share")?,
            pool: Vec::new(),
            live: 0,
            maturing: std::collections::VecDeque::new(),
            next_addr: ADDR_FIRST,
        })
    }

    /// Takes the live coin created nearest after a drawn age back (or the newest).
    fn spend(&mut self, height: u64) -> Option<Coin> {
        if self.live == 0 {
            return None;
        }
        if self.pool.len() > 2 * self.live + 64 {
            self.pool.retain(|c| c.vout != DEAD);
        }
        let age = (self.ages.draw(&mut self.rng) as u64).saturating_sub(1);
        let target = height.saturating_sub(age);
        let start = self.pool.partition_point(|c| c.height < target);
        let found = (start..self.pool.len())
            .find(|&i| self.pool[i].vout != DEAD)
            .or_else(|| (0..start).rev().find(|&i| self.pool[i].vout != DEAD))?;
        let c = self.pool[found];
        self.pool[found].vout = DEAD;
        self.live -= 1;
        Some(c)
    }

    /// The largest of 64 live coins drawn at random: what a theft sweeps.
    fn spend_large(&mut self) -> Option<Coin> {
        let mut best: Option<usize> = None;
        for _ in 0..64 {
            let i = self.rng.random_range(0..self.pool.len().max(1));
            if self.pool.get(i).is_some_and(|c| c.vout != DEAD)
                && best.is_none_or(|b| self.pool[i].value > self.pool[b].value)
            {
                best = Some(i);
            }
        }
        let i = best?;
        let c = self.pool[i];
        self.pool[i].vout = DEAD;
        self.live -= 1;
        Some(c)
    }

    fn recipient(&mut self) -> u64 {
        if self.rng.next_u64() < self.exit_share {
            return ADDR_EXIT + self.rng.random_range(0..EXITS);
        }
        if self.pool.is_empty() || self.rng.next_u64() < self.new_addr {
            let a = self.next_addr;
            self.next_addr += 1;
            return a;
        }
        // Reuse in proportion to coins received: the owner of a random coin.
        self.pool[self.rng.random_range(0..self.pool.len())].addr
    }

    fn add(&mut self, c: Coin) {
        self.pool.push(c);
        self.live += 1;
    }

    /// Generates block `h` (transactions from index `ix` on) into `out`.
    fn block(&mut self, h: u64, ix: &mut u64, out: &mut Vec<GenTx>) {
        while self
            .maturing
            .front()
            .is_some_and(|c| c.height + MATURITY <= h)
        {
            if let Some(c) = self.maturing.pop_front() {
                self.add(c);
            }
        }
        let coinbase_ix = *ix;
        *ix += 1;
        out.push(GenTx {
            ix: coinbase_ix,
            height: h,
            inputs: Vec::new(),
            outputs: Vec::new(),
        });
        let mut fees = 0u64;
        for k in 1..self.txs_per_block {
            let theft = h == THEFT_HEIGHT && k <= THEFT_TXS;
            // Payments first, then coin selection: inputs (at least the fitted count)
            // until they cover the payments, as a wallet does. Drawing inputs blind
            // would split the fixed coin supply into ever smaller outputs.
            let n_out = if theft {
                1
            } else {
                self.outputs.draw(&mut self.rng).clamp(1, MAX_OUTPUTS)
            };
            let mut payments: Vec<u64> = (1..n_out)
                .map(|_| (self.values.draw(&mut self.rng) as u64).max(1))
                .collect();
            let target: u64 = payments.iter().sum::<u64>() + 1;
            let mut inputs = Vec::new();
            if theft {
                inputs.extend(self.spend_large());
            } else {
                let want = self.inputs.draw(&mut self.rng).max(1);
                let mut sum = 0u64;
                while inputs.len() < MAX_INPUTS
                    && (inputs.len() < want || sum < target)
                    && (inputs.is_empty() || self.live > MIN_POOL)
                {
                    match self.spend(h) {
                        Some(c) => {
                            sum += c.value;
                            inputs.push(c)
                        }
                        None => break,
                    }
                }
            }
            if inputs.is_empty() {
                break; // nothing spendable yet (the first MATURITY blocks)
            }
            let in_sum: u64 = inputs.iter().map(|c| c.value).sum();
            let vsize = 11 + 68 * inputs.len() as u64 + 31 * n_out as u64;
            let fee = (vsize * self.rng.random_range(1..=20u64)).min(in_sum / 4);
            let avail = in_sum - fee;
            let paid: u64 = payments.iter().sum();
            if paid >= avail {
                // Selection could not cover the payments: the transaction only moves
                // the coins on (a consolidation). Scaling the payments down instead
                // would mint dust that, never spent as fee, fills the pool.
                payments.clear();
            }
            let mut outputs = Vec::with_capacity(n_out);
            let mut left = avail;
            for v in payments {
                outputs.push((self.recipient(), v));
                left -= v;
            }
            let change_to = if theft {
                ADDR_THIEF + (k - 1)
            } else if self.rng.random_range(0..2u32) == 0 {
                inputs[0].addr // change back to the spender, as wallets often do
            } else {
                self.recipient()
            };
            outputs.push((change_to, left));
            fees += fee;
            let tx_ix = *ix;
            *ix += 1;
            for (vout, &(addr, value)) in outputs.iter().enumerate() {
                self.add(Coin {
                    height: h,
                    tx: tx_ix,
                    vout: vout as u32,
                    addr,
                    value,
                });
            }
            out.push(GenTx {
                ix: tx_ix,
                height: h,
                inputs,
                outputs,
            });
        }
        let miner = ADDR_MINER + self.rng.random_range(0..MINERS);
        let reward = SUBSIDY + fees;
        out[0].outputs.push((miner, reward));
        self.maturing.push_back(Coin {
            height: h,
            tx: coinbase_ix,
            vout: 0,
            addr: miner,
            value: reward,
        });
    }
}

/// The five TaintedTX tables of one part folder.
struct TaintedParts {
    hash: Sink,
    height: Sink,
    input: Sink,
    output: Sink,
    adr: Sink,
    paths: Vec<PathBuf>,
}

const TAINTED: [(&str, &str); 5] = [
    ("tx_hash.csv", "tx_index,tx_hash"),
    ("tx_height.csv", "tx_index,block_index"),
    (
        "tx_input.csv",
        "output_index,tx_index,adr_index,input_value,spent_index",
    ),
    (
        "tx_output.csv",
        "output_index,tx_index,adr_index,output_value,spent_index",
    ),
    ("adr_hash.csv", "adr_index,adr_hash"),
];

impl TaintedParts {
    fn create(dir: &Path, zstd_level: Option<i32>) -> Result<Self, SynthError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        let mut sinks = Vec::new();
        let mut paths = Vec::new();
        for (name, header) in TAINTED {
            let name = match zstd_level {
                Some(_) => format!("{name}.zst"),
                None => name.to_owned(),
            };
            let path = dir.join(name);
            let mut s = Sink::create(&path, zstd_level)?;
            s.write_all(header.as_bytes())
                .and_then(|_| s.write_all(b"\n"))
                .map_err(io_err(&path))?;
            sinks.push(s);
            paths.push(path);
        }
        let mut it = sinks.into_iter();
        let mut next = || {
            it.next()
                .ok_or_else(|| SynthError::Spec("five tables".into()))
        };
        Ok(TaintedParts {
            hash: next()?,
            height: next()?,
            input: next()?,
            output: next()?,
            adr: next()?,
            paths,
        })
    }

    fn finish(self) -> Result<(Vec<PathBuf>, u64), SynthError> {
        let sinks = [self.hash, self.height, self.input, self.output, self.adr];
        let mut bytes = 0;
        for (s, p) in sinks.into_iter().zip(&self.paths) {
            s.finish().map_err(io_err(p))?;
            bytes += std::fs::metadata(p).map_err(io_err(p))?.len();
        }
        Ok((self.paths, bytes))
    }
}

/// Writes `spec.transfers` SYNTHETIC UTXO transactions (coinbases included) as a
/// TaintedTX export: in `dir` itself when one part holds them all (then `ashiato ingest
/// DIR` reads it), otherwise in `dir/part-NNNNN/` folders of `part_rows` transactions
/// whose inputs may spend outputs of earlier parts (concatenating each table over the
/// parts, headers dropped, gives one export).
pub fn write_fitted_utxo(
    dir: &Path,
    spec: &FitSpec,
    part_rows: u64,
) -> Result<FitSummary, SynthError> {
    write_fitted_utxo_with(
        dir,
        spec,
        &PartOptions {
            part_rows,
            zstd: None,
        },
    )
}

/// [`write_fitted_utxo`] with the part format chosen (plain or zstd tables).
pub fn write_fitted_utxo_with(
    dir: &Path,
    spec: &FitSpec,
    opts: &PartOptions,
) -> Result<FitSummary, SynthError> {
    check_opts(spec, opts)?;
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let fit = load_fit()?;
    let mut g = UtxoGen::new(&fit.utxo, spec)?;
    let single = spec.transfers <= opts.part_rows;
    let part_dir = |k: u64| {
        if single {
            dir.to_path_buf()
        } else {
            dir.join(format!("part-{k:05}"))
        }
    };
    let mut files = Vec::new();
    let mut bytes = 0u64;
    let mut part = TaintedParts::create(&part_dir(0), opts.zstd)?;
    let mut parts_done = 0u64;
    let mut written = 0u64;
    let mut addr_written = 0u64;
    let mut ix = 0u64;
    let mut h = 0u64;
    let mut block = Vec::new();
    let mut seeds = Vec::new();
    let mut line = Vec::with_capacity(256);
    let seed = spec.seed;
    'outer: while written < spec.transfers {
        block.clear();
        g.block(h, &mut ix, &mut block);
        h += 1;
        for tx in &block {
            if written >= spec.transfers {
                break 'outer;
            }
            if written > 0 && written.is_multiple_of(opts.part_rows) {
                let (p, b) = part.finish()?;
                files.extend(p);
                bytes += b;
                parts_done += 1;
                part = TaintedParts::create(&part_dir(parts_done), opts.zstd)?;
            }
            written += 1;
            let txid = utxo_txid(seed, tx.ix);
            if tx.height == THEFT_HEIGHT
                && !tx.inputs.is_empty()
                && seeds.len() < THEFT_TXS as usize
            {
                seeds.push(txid.clone());
            }
            let path = &part.paths[0];
            line.clear();
            put_u(&mut line, u128::from(tx.ix));
            line.push(b',');
            line.extend_from_slice(txid.as_bytes());
            line.push(b'\n');
            part.hash.write_all(&line).map_err(io_err(path))?;
            line.clear();
            put_u(&mut line, u128::from(tx.ix));
            line.push(b',');
            put_u(&mut line, u128::from(tx.height));
            line.push(b'\n');
            part.height
                .write_all(&line)
                .map_err(io_err(&part.paths[1]))?;
            line.clear();
            for c in &tx.inputs {
                put_u(&mut line, u128::from(c.tx * 10 + u64::from(c.vout)));
                line.push(b',');
                put_u(&mut line, u128::from(tx.ix));
                line.push(b',');
                put_u(&mut line, u128::from(c.addr));
                line.push(b',');
                put_u(&mut line, u128::from(c.value));
                line.push(b',');
                put_u(&mut line, u128::from(c.tx));
                line.push(b'\n');
            }
            part.input
                .write_all(&line)
                .map_err(io_err(&part.paths[2]))?;
            line.clear();
            let mut adr_line = Vec::new();
            for (vout, &(addr, value)) in tx.outputs.iter().enumerate() {
                put_u(&mut line, u128::from(tx.ix * 10 + vout as u64));
                line.push(b',');
                put_u(&mut line, u128::from(tx.ix));
                line.push(b',');
                put_u(&mut line, u128::from(addr));
                line.push(b',');
                put_u(&mut line, u128::from(value));
                line.extend_from_slice(b",\n");
                // Address ids are handed out in order, so "not written yet" is one compare;
                // the fixed ones (miners, exits, thieves) go out with the first part.
                while addr_written < ADDR_FIRST.max(addr + 1) {
                    put_u(&mut adr_line, u128::from(addr_written));
                    adr_line.push(b',');
                    adr_line.extend_from_slice(utxo_address(seed, addr_written).as_bytes());
                    adr_line.push(b'\n');
                    addr_written += 1;
                }
            }
            part.output
                .write_all(&line)
                .map_err(io_err(&part.paths[3]))?;
            part.adr
                .write_all(&adr_line)
                .map_err(io_err(&part.paths[4]))?;
        }
    }
    let (p, b) = part.finish()?;
    files.extend(p);
    bytes += b;
    let exits: Vec<String> = (0..EXITS)
        .map(|k| utxo_address(seed, ADDR_EXIT + k))
        .collect();
    write_labels(dir, &exits, &mut files, &mut bytes)?;
    Ok(FitSummary {
        seeds,
        exits,
        transfers: written,
        accounts: addr_written,
        files,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_powers_and_addresses() {
        assert_eq!(pow10_round(0.0), 1);
        assert_eq!(pow10_round(3.0), 1000);
        assert_eq!(pow10_round(12.0), 1_000_000_000_000);
        assert_eq!(pow10_round(0.5), 3);
        let a = utxo_address(1, 5);
        assert!(a.starts_with("bc1qsynth"), "{a}");
        assert_ne!(a, utxo_address(1, 6));
        ashiato_model::Address::parse(ashiato_model::Chain::Bitcoin, &a).unwrap();
    }
}
