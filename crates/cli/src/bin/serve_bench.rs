//! `ashiato-serve-bench`: screening throughput and latency of `ashiato serve` under load on
//! loopback (issue 7), against two baselines from the same run. Not a test: numbers
//! depend on the machine; rerun it to check a claim.
//!
//! 1. A store holding a SYNTHETIC, seeded account-chain incident on the `generic` chain
//!    (Ashiato CSV, ingested with the CLI's own `ingest_csv`): a victim pays a thief, the
//!    thief (the incident's seed) pays ⌈√N⌉ first-hop addresses, those pay the other
//!    N − ⌈√N⌉ addresses, about one in a thousand of which pays one of five labelled
//!    SYNTHETIC exchanges; untainted background transfers (N/4 of them, among N/10 clean
//!    addresses, a fifth of them paying clean value into tainted addresses) run in between.
//!    So N addresses receive taint, plus the 5 exchanges (exits). Every address and
//!    transaction id is derived from the seed (SplitMix64): the same flags, the same store.
//! 2. The service in-process, as `ashiato serve` runs it: `Service::new` (the screening
//!    index: every incident traced under every served policy) and `Serving::start` (axum on
//!    tokio, 2 worker threads), the per-IP rate limiter on but set far above the load (so
//!    it runs and never refuses).
//! 3. `wrk` (Debian's) drives it with a Lua script that reads a request list written here:
//!    90% tainted addresses, 10% valid untainted ones, drawn with a seeded RNG, each as
//!    `GET /api/v1/screen/generic/{address}`.
//! 4. Baselines, same wrk settings, same session: the same server's `GET /api/v1/health`
//!    (the floor: routing, middleware and JSON without a lookup), and
//!    `tools/serve_baseline.py` (Python stdlib `ThreadingHTTPServer` holding the same
//!    tainted addresses in a dict, answering the same JSON shape; a sample of answers is
//!    checked equal to the Rust service's first).
//! 5. The machine may be shared: each run waits for a quiet second first, the CPU of the
//!    server, wrk, softirqs and everything else is accounted per run from /proc, and a run
//!    during which other processes took more than 0.1 core is not counted (tried again).
//!
//! Target (issue 7): ≥ 20,000 requests/s with p99 < 5 ms on 2 cores, 1 M tainted addresses.
//! Method, results and findings: docs/bench-serve.md.

use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ashiato::splitmix::{mix, SplitMix64, GAMMA};

use anyhow::{anyhow, bail, Context, Result};
use ashiato_model::{Address, Amount, Chain, Incident, Label, LabelKind};
use ashiato_net::Serving;
use ashiato_serve::index::IndexOptions;
use ashiato_serve::{ServeOptions, Service};
use ashiato_store::Store;
use ashiato_trace::PolicyName;
use ashiato_watch::sink::Hub;
use clap::Parser;
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};
use serde_json::{json, Value};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The target of issue 7.
const TARGET_RPS: f64 = 20_000.0;
const TARGET_P99_MS: f64 = 5.0;
/// Labelled SYNTHETIC exchanges (the exits).
const EXCHANGES: u64 = 5;
const INCIDENT: &str = "serve-bench-synthetic";
/// Written into a `--store` folder once its data is complete (what it holds).
const MARKER: &str = "SERVE-BENCH";

#[derive(Parser)]
#[command(
    about = "Screening API load benchmark (wrk on loopback) with 1 M SYNTHETIC tainted addresses, against the health endpoint and a Python baseline"
)]
struct Args {
    /// Tainted addresses in the SYNTHETIC incident (besides the seed).
    #[arg(long, default_value_t = 1_000_000)]
    addresses: u64,
    /// Seconds per measured wrk run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Seconds of unmeasured wrk load before each measured run.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Open connections (wrk -c).
    #[arg(long, default_value_t = 32)]
    connections: u32,
    /// wrk threads (wrk -t); the 2 cores are shared with the server.
    #[arg(long, default_value_t = 1)]
    threads: u32,
    /// Measured runs per row; the row shows the run with the median requests/s.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Store folder, reused when it holds this benchmark's data for the same
    /// --addresses and --seed (default: a temporary folder, removed at the end).
    #[arg(long)]
    store: Option<PathBuf>,
    /// Seeds the SYNTHETIC chain and the request mix.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Policies the service serves (the first is the default of every request).
    #[arg(long, value_delimiter = ',', default_value = "haircut,poison")]
    policy: Vec<PolicyName>,
    /// Requests per second per client IP (0: limiter off). The default is far above the
    /// load, so the limiter runs on every request and never refuses.
    #[arg(long, default_value_t = 1_000_000_000)]
    rate: u32,
    /// Requests in the list wrk cycles through.
    #[arg(long, default_value_t = 200_000)]
    sample: usize,
    /// Before each measured run, wait up to this many seconds for a second in which other
    /// processes use less than a tenth of a core (the machine may be shared); 0: don't.
    #[arg(long, default_value_t = 120)]
    quiet_wait: u64,
    /// Skip the Python baseline.
    #[arg(long)]
    no_baseline: bool,
    /// Also load the server with screening requests for the exits only (the labelled
    /// SYNTHETIC exchanges): a diagnostic row, not part of the target.
    #[arg(long)]
    exits_row: bool,
    /// Machine-readable output (one JSON document on stdout; progress on stderr).
    #[arg(long)]
    json: bool,
}

/// The SplitMix64 stream this bench has always drawn from `seed`: one step ahead of the
/// stream seeded with `seed` itself (so the SYNTHETIC data stays the same as before).
fn stream(seed: u64) -> SplitMix64 {
    SplitMix64(seed.wrapping_add(GAMMA))
}

/// The SYNTHETIC chain's shape for N tainted addresses.
struct Shape {
    seed: u64,
    hop1: u64,
    hop2: u64,
    background: u64,
}

impl Shape {
    fn new(n: u64, seed: u64) -> Shape {
        let hop1 = ((n as f64).sqrt().ceil() as u64).clamp(1, n.max(1));
        Shape {
            seed,
            hop1,
            hop2: n.saturating_sub(hop1),
            background: (n / 10).max(1_000),
        }
    }

    /// Address `i`: 42 characters like an EVM address (on the generic chain), distinct per
    /// `i` (the last 8 hex digits are `i`).
    fn address(&self, i: u64) -> String {
        let s = self.seed.wrapping_mul(0x1000_0000_01b3);
        format!(
            "0x{:016x}{:016x}{:08x}",
            mix(s ^ (2 * i)),
            mix(s ^ (2 * i + 1)),
            i as u32
        )
    }
    fn victim(&self) -> String {
        self.address(0)
    }
    fn thief(&self) -> String {
        self.address(1)
    }
    fn exchange(&self, k: u64) -> String {
        self.address(2 + k)
    }
    fn hop1(&self, k: u64) -> String {
        self.address(16 + k)
    }
    fn hop2(&self, j: u64) -> String {
        self.address(16 + self.hop1 + j)
    }
    fn background_address(&self, b: u64) -> String {
        self.address(16 + self.hop1 + self.hop2 + b)
    }
    /// What hop-2 address `j` receives (base units, 18 decimals like wei).
    fn amount2(&self, j: u64) -> Amount {
        1_000_000_000_000_000
            + Amount::from(mix(self.seed ^ 0xa5a5 ^ (j << 8)) % 100_000_000_000_000_000)
    }
    fn labels(&self) -> Vec<Label> {
        let mut v: Vec<Label> = (0..EXCHANGES)
            .map(|k| Label {
                chain: Chain::Generic,
                address: Address::from_canonical(&self.exchange(k)),
                name: format!("SYNTHETIC Exchange {k}"),
                kind: LabelKind::Exchange,
                source: "SYNTHETIC (ashiato-serve-bench)".into(),
                confidence: 90,
            })
            .collect();
        v.push(Label {
            chain: Chain::Generic,
            address: Address::from_canonical(&self.victim()),
            name: "SYNTHETIC victim".into(),
            kind: LabelKind::Victim,
            source: "SYNTHETIC (ashiato-serve-bench)".into(),
            confidence: 100,
        });
        v
    }
    fn incident(&self) -> Incident {
        Incident {
            name: INCIDENT.into(),
            chain: Chain::Generic,
            seeds: vec![Address::from_canonical(&self.thief())],
            seed_txs: Vec::new(),
            since: None,
            description: "SYNTHETIC theft for the screening load benchmark".into(),
            source: format!("ashiato-serve-bench, seed {}", self.seed),
        }
    }

    /// Writes the chain as Ashiato CSV in chain order; returns the row count.
    fn write_csv(&self, path: &Path) -> Result<u64> {
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
        writeln!(w, "{}", ashiato_ingest::csv::CSV_HEADER)?;
        let mut row = 0u64;
        let tx_salt = mix(self.seed ^ 0x7478);
        let mut put = |w: &mut BufWriter<std::fs::File>, from: &str, to: &str, amount: Amount| {
            let block = 18_000_000 + row / 150;
            let time = 1_700_000_000 + (row / 150) * 12;
            let r = writeln!(
                w,
                "{time},{block},{:016x}{:016x}{:016x}{:016x},{from},{to},ETH,{amount}",
                mix(tx_salt ^ row),
                mix(tx_salt ^ row ^ (1 << 62)),
                mix(tx_salt.rotate_left(17) ^ row),
                mix(tx_salt.rotate_left(31) ^ row)
            );
            row += 1;
            r
        };
        let unit: Amount = 1_000_000_000_000_000;
        let mut per_hop1: Vec<Amount> = vec![unit; self.hop1 as usize];
        for j in 0..self.hop2 {
            per_hop1[(j % self.hop1) as usize] += self.amount2(j);
        }
        let total: Amount = per_hop1.iter().sum();
        put(&mut w, &self.victim(), &self.thief(), total + 1_000 * unit)?;
        for (k, a) in per_hop1.iter().enumerate() {
            put(&mut w, &self.thief(), &self.hop1(k as u64), *a)?;
        }
        let mut rng = stream(mix(self.seed ^ 0xb9));
        for j in 0..self.hop2 {
            put(
                &mut w,
                &self.hop1(j % self.hop1),
                &self.hop2(j),
                self.amount2(j),
            )?;
            if j % 4 == 0 {
                let (x, y) = (rng.below(self.background), rng.below(self.background));
                let amount = unit / 10 + Amount::from(rng.below(10_000)) * unit / 1000;
                if j % 20 == 0 {
                    // Clean value into a tainted address (haircut dilutes).
                    let to = self.hop2(rng.below(j + 1));
                    put(&mut w, &self.background_address(x), &to, amount)?;
                } else if x != y {
                    put(
                        &mut w,
                        &self.background_address(x),
                        &self.background_address(y),
                        amount,
                    )?;
                }
            }
        }
        let step = (self.hop2 / 1000).max(1);
        for j in (0..self.hop2).step_by(step as usize) {
            let ex = self.exchange((j / step) % EXCHANGES);
            put(&mut w, &self.hop2(j), &ex, self.amount2(j) / 2)?;
        }
        w.flush()?;
        Ok(row)
    }
}

/// What a prepared store holds and how long it took.
struct Prepared {
    store: Store,
    rows: u64,
    reused: bool,
    gen_s: f64,
    ingest_s: f64,
    open_s: f64,
}

fn marker_text(a: &Args, rows: Option<u64>) -> String {
    format!(
        "ashiato-serve-bench addresses={} seed={} rows={}\n",
        a.addresses,
        a.seed,
        rows.map_or("incomplete".into(), |r| r.to_string())
    )
}

fn prepare(a: &Args, shape: &Shape, dir: &Path) -> Result<Prepared> {
    let marker = dir.join(MARKER);
    if let Ok(text) = std::fs::read_to_string(&marker) {
        let want = marker_text(a, None);
        let prefix = want.rsplit_once("rows=").map_or("", |(p, _)| p);
        let rows = text
            .strip_prefix(prefix)
            .and_then(|r| r.strip_prefix("rows="))
            .and_then(|r| r.trim().parse::<u64>().ok());
        if let Some(rows) = rows {
            let t = Instant::now();
            let store = Store::open(dir)?;
            let stored = store
                .stats()?
                .chains
                .get(Chain::Generic.as_str())
                .map_or(0, |c| c.transfers);
            if stored == rows && store.incident(INCIDENT)?.is_some() {
                eprintln!("reusing the store in {} ({rows} transfers)", dir.display());
                return Ok(Prepared {
                    store,
                    rows,
                    reused: true,
                    gen_s: 0.0,
                    ingest_s: 0.0,
                    open_s: t.elapsed().as_secs_f64(),
                });
            }
        }
        eprintln!(
            "{} holds other or incomplete benchmark data: rebuilding it",
            dir.display()
        );
        std::fs::remove_dir_all(dir)?;
    } else if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} is not empty and is not a store this benchmark made; give an empty or new folder",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir)?;
    std::fs::write(&marker, marker_text(a, None))?;
    let tmp = tempfile::tempdir()?;
    let csv = tmp.path().join("serve-bench-synthetic.csv");
    let t = Instant::now();
    let rows = shape.write_csv(&csv)?;
    let gen_s = t.elapsed().as_secs_f64();
    eprintln!(
        "SYNTHETIC chain: {rows} transfers, {:.0} MB CSV, written in {gen_s:.1} s; ingesting",
        std::fs::metadata(&csv)?.len() as f64 / 1e6
    );
    let t = Instant::now();
    let mut store = Store::open(dir)?;
    let report = ashiato::load::ingest_csv(&mut store, &csv, Chain::Generic)?;
    if report.added != rows {
        bail!("ingest added {} of {rows} rows", report.added);
    }
    store.put_labels(&shape.labels())?;
    store.put_incident(&shape.incident())?;
    let ingest_s = t.elapsed().as_secs_f64();
    std::fs::write(&marker, marker_text(a, Some(rows)))?;
    Ok(Prepared {
        store,
        rows,
        reused: false,
        gen_s,
        ingest_s,
        open_s: 0.0,
    })
}

/// `VmRSS` and `VmHWM` of this process, in MiB.
fn rss_mib() -> (f64, f64) {
    let field = |k: &str| ashiato::procstat::status_kb(k).map_or(f64::NAN, |kb| kb as f64 / 1024.0);
    (field("VmRSS:"), field("VmHWM:"))
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into())
}

/// One GET with `Connection: close`: status and body.
fn get(addr: SocketAddr, path: &str) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    let text = String::from_utf8(buf)?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow!("{path}: no HTTP header in the answer"))?;
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        bail!("{path}: chunked answer (not expected here)");
    }
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("{path}: no status in {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// wrk on the PATH, installing Debian's package when it is missing.
fn ensure_wrk(notes: &mut Vec<String>) -> Result<()> {
    let present = || {
        Command::new("wrk")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if present() {
        return Ok(());
    }
    eprintln!("wrk is missing: running `apt-get install -y wrk`");
    let install = || {
        Command::new("apt-get")
            .args(["install", "-y", "wrk"])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    };
    if !install() {
        eprintln!("running `apt-get update` first");
        let _ = Command::new("apt-get")
            .arg("update")
            .stdout(Stdio::null())
            .status();
        if !install() {
            bail!("wrk is missing and `apt-get install -y wrk` failed: install wrk and rerun");
        }
    }
    notes.push("wrk was missing: installed with `apt-get install -y wrk`".into());
    if !present() {
        bail!("wrk still not runnable after installing it");
    }
    Ok(())
}

/// A wrk script that cycles through the request list in `paths` (each wrk thread starts
/// at its own offset).
fn wrk_script(path: &Path, paths: &Path, what: &str) -> Result<()> {
    let list = paths
        .display()
        .to_string()
        .replace('\\', "\\\\")
        .replace('"', "\\\"");
    std::fs::write(
        path,
        format!(
            r#"-- ashiato-serve-bench: {what}. The list was drawn with a seeded RNG (SYNTHETIC data).
local counter = 0
function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end
paths = {{}}
n = 0
i = 0
function init(args)
  for line in io.lines("{list}") do
    n = n + 1
    paths[n] = line
  end
  i = ((id or 0) * 100003) % n
end
function request()
  i = i + 1
  if i > n then i = 1 end
  return wrk.format("GET", paths[i])
end
"#
        ),
    )?;
    Ok(())
}

#[derive(Debug, Clone, Default)]
struct WrkRun {
    rps: f64,
    requests: u64,
    p50_ms: f64,
    p75_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    avg_ms: f64,
    max_ms: f64,
    non_2xx: u64,
    socket_errors: u64,
    /// CPU used during the run, in cores: the server, wrk, and every other process.
    server_cores: f64,
    wrk_cores: f64,
    /// Interrupts and softirqs (loopback TCP for both sides, mostly).
    softirq_cores: f64,
    other_cores: f64,
    /// Other processes' use in the quiet check just before the run, in cores.
    other_before: f64,
    /// Counted (the machine was quiet enough).
    kept: bool,
}

fn parse_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let (num, mul) = if let Some(v) = s.strip_suffix("us") {
        (v, 1e-3)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e3)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60e3)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().ok().map(|v| v * mul)
}

fn parse_wrk(out: &str) -> Result<WrkRun> {
    let mut r = WrkRun::default();
    let mut got_rps = false;
    for line in out.lines() {
        let l = line.trim();
        let words: Vec<&str> = l.split_whitespace().collect();
        match words.as_slice() {
            ["Latency", avg, _stdev, max, ..] => {
                r.avg_ms = parse_ms(avg).unwrap_or(f64::NAN);
                r.max_ms = parse_ms(max).unwrap_or(f64::NAN);
            }
            ["50%", v] => r.p50_ms = parse_ms(v).unwrap_or(f64::NAN),
            ["75%", v] => r.p75_ms = parse_ms(v).unwrap_or(f64::NAN),
            ["90%", v] => r.p90_ms = parse_ms(v).unwrap_or(f64::NAN),
            ["99%", v] => r.p99_ms = parse_ms(v).unwrap_or(f64::NAN),
            ["Requests/sec:", v] => {
                r.rps = v.parse()?;
                got_rps = true;
            }
            [n, "requests", "in", ..] => r.requests = n.parse()?,
            ["Non-2xx", "or", "3xx", "responses:", n] => r.non_2xx = n.parse()?,
            ["Socket", "errors:", rest @ ..] => {
                r.socket_errors = rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum();
            }
            _ => {}
        }
    }
    if !got_rps {
        bail!("could not read wrk's output:\n{out}");
    }
    Ok(r)
}

/// Jiffies of all CPUs: (busy in processes, in interrupts and softirqs, total). With
/// IRQ time accounting, loopback networking done in softirqs is charged to no process.
fn cpu_totals() -> (u64, u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    // user nice system idle iowait irq softirq steal (guest time is inside user).
    let busy = at(0) + at(1) + at(2) + at(7);
    let irq = at(5) + at(6);
    (busy, irq, busy + irq + at(3) + at(4))
}

/// User + system jiffies of process `pid` (all its threads).
fn proc_jiffies(pid: u32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some((_, rest)) = text.rsplit_once(')') else {
        return 0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat(5); `rest` starts at field 3.
    let get = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    get(11) + get(12)
}

fn cores() -> f64 {
    std::thread::available_parallelism().map_or(1, |n| n.get()) as f64
}

/// Cores other processes than `ours` used over `window`.
fn others_over(ours: &[u32], window: Duration) -> f64 {
    let (b0, _, t0) = cpu_totals();
    let o0: u64 = ours.iter().map(|&p| proc_jiffies(p)).sum();
    std::thread::sleep(window);
    let (b1, _, t1) = cpu_totals();
    let o1: u64 = ours.iter().map(|&p| proc_jiffies(p)).sum();
    let other = (b1 - b0).saturating_sub(o1 - o0);
    other as f64 / (t1 - t0).max(1) as f64 * cores()
}

/// Waits (up to `max`) for a second in which other processes use < 0.1 core; returns
/// what they used in the last second looked at.
fn wait_quiet(server: u32, max: Duration) -> f64 {
    let start = Instant::now();
    let mut said = false;
    loop {
        let other = others_over(&[std::process::id(), server], Duration::from_secs(1));
        if other < 0.1 || start.elapsed() >= max {
            return other;
        }
        if !said {
            eprintln!(
                "  waiting for a quiet machine (other processes use {other:.2} cores; up to {} s)",
                max.as_secs()
            );
            said = true;
        }
    }
}

/// One wrk run against the server in process `server`, with the CPU every side used.
fn wrk(a: &Args, url: &str, script: &Path, secs: u64, server: u32) -> Result<WrkRun> {
    let (b0, i0, t0) = cpu_totals();
    let s0 = proc_jiffies(server);
    let me0 = if server == std::process::id() {
        0
    } else {
        proc_jiffies(std::process::id())
    };
    let mut child = Command::new("wrk")
        .arg(format!("-t{}", a.threads))
        .arg(format!("-c{}", a.connections))
        .arg(format!("-d{secs}s"))
        .arg("--latency")
        .arg("-s")
        .arg(script)
        .arg(url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running wrk")?;
    let pid = child.id();
    let mut wrk_j = 0;
    // wrk's own CPU: its last reading before it exits.
    while child.try_wait()?.is_none() {
        wrk_j = wrk_j.max(proc_jiffies(pid));
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output()?;
    let (b1, i1, t1) = cpu_totals();
    let s1 = proc_jiffies(server);
    let me1 = if server == std::process::id() {
        0
    } else {
        proc_jiffies(std::process::id())
    };
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "wrk failed: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut r = parse_wrk(&text)?;
    let per_core = |j: u64| j as f64 / (t1 - t0).max(1) as f64 * cores();
    r.server_cores = per_core(s1 - s0);
    r.wrk_cores = per_core(wrk_j);
    r.softirq_cores = per_core(i1 - i0);
    r.other_cores = per_core((b1 - b0).saturating_sub((s1 - s0) + wrk_j + (me1 - me0)));
    Ok(r)
}

/// Other processes may use at most this many cores during a run that counts.
const QUIET: f64 = 0.1;

/// `--runs` measured runs, each after waiting for a quiet machine and a warm-up; a run
/// during which other processes took more than [`QUIET`] cores is not counted and is
/// tried again (up to four tries a run). Gives the run with the median requests/s among
/// those counted, and every run tried (`kept` says which counted).
fn measure(
    a: &Args,
    name: &str,
    url: &str,
    script: &Path,
    server: u32,
) -> Result<(WrkRun, Vec<WrkRun>)> {
    let want = a.runs.max(1) as usize;
    let mut all: Vec<WrkRun> = Vec::new();
    while all.iter().filter(|r| r.kept).count() < want && all.len() < 4 * want {
        let before = if a.quiet_wait > 0 {
            wait_quiet(server, Duration::from_secs(a.quiet_wait))
        } else {
            f64::NAN
        };
        if a.warmup > 0 {
            wrk(a, url, script, a.warmup, server)?;
        }
        let mut r = wrk(a, url, script, a.duration, server)?;
        r.other_before = before;
        r.kept = a.quiet_wait == 0 || r.other_cores <= QUIET;
        eprintln!(
            "  {name} run {}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, non-2xx {}, socket errors {}; cores: server {:.2}, wrk {:.2}, softirq {:.2}, others {:.2}{}",
            all.len() + 1,
            r.rps,
            r.p50_ms,
            r.p99_ms,
            r.non_2xx,
            r.socket_errors,
            r.server_cores,
            r.wrk_cores,
            r.softirq_cores,
            r.other_cores,
            if r.kept { "" } else { " — not quiet, not counted" }
        );
        all.push(r);
    }
    let mut sorted: Vec<WrkRun> = all.iter().filter(|r| r.kept).cloned().collect();
    if sorted.is_empty() {
        // Never quiet: report what there is (flagged in the notes).
        for r in &mut all {
            r.kept = true;
        }
        sorted = all.clone();
    }
    sorted.sort_by(|x, y| x.rps.total_cmp(&y.rps));
    Ok((sorted[sorted.len() / 2].clone(), all))
}

/// The Python baseline, loaded and listening.
struct Python {
    child: Child,
    addr: SocketAddr,
    load_s: f64,
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_python(data: &Path) -> Result<Python> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/serve_baseline.py");
    let t = Instant::now();
    let mut child = Command::new("python3")
        .arg(&script)
        .arg(data)
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("running {}", script.display()))?;
    let stdout = child.stdout.take().context("no stdout from python")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let port: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow!("the Python baseline printed {line:?}"))?;
    Ok(Python {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        load_s: t.elapsed().as_secs_f64(),
    })
}

fn ms(v: f64) -> String {
    format!("{v:.2}")
}

fn main() -> Result<()> {
    let a = Args::parse();
    if a.policy.is_empty() {
        bail!("--policy needs at least one policy");
    }
    let begun = Instant::now();
    let mut notes = Vec::new();
    ensure_wrk(&mut notes)?;
    let shape = Shape::new(a.addresses, a.seed);
    let tmp = tempfile::tempdir()?;
    let store_dir = a
        .store
        .clone()
        .unwrap_or_else(|| tmp.path().join("serve-bench.store"));
    let p = prepare(&a, &shape, &store_dir)?;
    eprintln!("building the screening index (policies {:?})", a.policy);
    let opts = ServeOptions {
        index: IndexOptions {
            policies: a.policy.clone(),
            ..IndexOptions::default()
        },
        rate: a.rate,
        burst: a.rate,
        ..ServeOptions::default()
    };
    let t = Instant::now();
    let (service, _backend) = Service::new(&p.store, opts, Hub::new(""))?;
    let index_s = t.elapsed().as_secs_f64();
    let (rss, hwm) = rss_mib();
    let index = service.index();
    let tainted_n = index.tainted_addresses();
    eprintln!(
        "index: {tainted_n} tainted addresses in {index_s:.1} s; RSS {rss:.0} MiB (peak {hwm:.0} MiB)"
    );
    if (tainted_n as u64) < a.addresses {
        bail!(
            "only {tainted_n} tainted addresses indexed; {} wanted",
            a.addresses
        );
    }

    // The request list: 90% tainted, 10% valid but untainted (background) addresses.
    // Tainted: every address a trace reached (holders, dust, exits), as the index keys them.
    let mut tainted: Vec<&str> = index
        .incidents
        .iter()
        .flat_map(|e| e.traces.iter())
        .flat_map(|t| {
            let held = t.result.addresses.iter();
            held.filter(|x| x.taint > 0 || x.dust > 0)
                .map(|x| x.address.as_str())
                .chain(t.result.exits.iter().map(|x| x.address.as_str()))
        })
        .collect();
    tainted.sort_unstable();
    tainted.dedup();
    if tainted.len() != tainted_n {
        notes.push(format!(
            "the traces reach {} addresses, the index holds {tainted_n}: requests are drawn from the traces' list",
            tainted.len()
        ));
    }
    for t in &tainted {
        if index
            .screen(Chain::Generic, &Address::from_canonical(t))
            .is_empty()
        {
            bail!("{t} is reached by a trace but not in the index");
        }
    }
    let clean: Vec<String> = (0..shape.background)
        .map(|b| shape.background_address(b))
        .collect();
    for c in &clean {
        if !index
            .screen(Chain::Generic, &Address::from_canonical(c))
            .is_empty()
        {
            bail!("background address {c} is tainted: the SYNTHETIC chain is wrong");
        }
    }
    let mut rng = stream(mix(a.seed ^ 0x5eed));
    let mut sample: Vec<(String, bool)> = Vec::with_capacity(a.sample);
    for _ in 0..a.sample.max(1) {
        if rng.below(10) < 9 {
            let t = tainted[rng.below(tainted.len() as u64) as usize];
            sample.push((t.to_owned(), true));
        } else {
            sample.push((clean[rng.below(clean.len() as u64) as usize].clone(), false));
        }
    }
    let work = tmp.path();
    let screen_list = work.join("screen-paths.txt");
    let mut w = BufWriter::new(std::fs::File::create(&screen_list)?);
    for (s, _) in &sample {
        writeln!(w, "/api/v1/screen/generic/{s}")?;
    }
    w.flush()?;
    drop(w);
    let health_list = work.join("health-paths.txt");
    std::fs::write(&health_list, "/api/v1/health\n")?;
    let screen_lua = work.join("screen.lua");
    let health_lua = work.join("health.lua");
    wrk_script(
        &screen_lua,
        &screen_list,
        "GET /api/v1/screen/generic/{address}, 90% tainted, 10% untainted",
    )?;
    wrk_script(&health_lua, &health_list, "GET /api/v1/health")?;
    let exits_list = work.join("exits-paths.txt");
    let exits_lua = work.join("exits.lua");
    let mut w = BufWriter::new(std::fs::File::create(&exits_list)?);
    for k in 0..EXCHANGES {
        writeln!(w, "/api/v1/screen/generic/{}", shape.exchange(k))?;
    }
    w.flush()?;
    drop(w);
    wrk_script(
        &exits_lua,
        &exits_list,
        "GET /api/v1/screen/generic/{address} of the exits only",
    )?;

    // The baseline's data: each tainted address's hits and each labelled address's labels,
    // as the service's own view shows them (so the two answer the same JSON shape whatever
    // fields a hit has); the baseline rebuilds and serialises the answer per request.
    let data = work.join("baseline-hits.tsv");
    if !a.no_baseline {
        let mut w = BufWriter::with_capacity(1 << 20, std::fs::File::create(&data)?);
        for t in &tainted {
            let v =
                ashiato_serve::views::screen(&index, Chain::Generic, &Address::from_canonical(t));
            writeln!(w, "H\t{t}\t{}", serde_json::to_string(&v.hits)?)?;
        }
        for l in shape.labels() {
            let v = ashiato_serve::views::screen(&index, Chain::Generic, &l.address);
            writeln!(w, "L\t{}\t{}", l.address, serde_json::to_string(&v.labels)?)?;
        }
        w.flush()?;
    }
    drop(index);

    let server = Serving::start(SocketAddr::from(([127, 0, 0, 1], 0)), service.router())?;
    let url = server.url();
    let addr: SocketAddr = url.trim_start_matches("http://").parse()?;

    // Every answer of a checked sample: 200, tainted as expected, and (with the baseline)
    // the same JSON as Python's.
    let python = if a.no_baseline {
        None
    } else {
        eprintln!("starting the Python baseline (loading {tainted_n} addresses)");
        let py = start_python(&data)?;
        eprintln!("Python baseline loaded in {:.1} s", py.load_s);
        Some(py)
    };
    let checked = sample.len().min(500);
    let mut bytes = (0usize, 0usize);
    for (s, want) in sample.iter().take(checked) {
        let path = format!("/api/v1/screen/generic/{s}");
        let (status, body) = get(addr, &path)?;
        if status != 200 {
            bail!("{path}: status {status}: {body}");
        }
        let v: Value = serde_json::from_str(&body)?;
        let hit = v["hits"].as_array().is_some_and(|h| !h.is_empty());
        if hit != *want || (!want && v["tainted"].as_bool() != Some(false)) {
            bail!(
                "{path}: expected {}: {body}",
                if *want { "hits" } else { "no hits, untainted" }
            );
        }
        bytes.0 += body.len();
        if let Some(py) = &python {
            let (pstatus, pbody) = get(py.addr, &path)?;
            let pv: Value = serde_json::from_str(&pbody)?;
            if pstatus != 200 || pv != v {
                bail!("{path}: the Python baseline answers differently:\n  ashiato {body}\n  python  {pbody}");
            }
            bytes.1 += pbody.len();
        }
    }
    let avg_body = bytes.0 as f64 / checked as f64;
    notes.push(format!(
        "checked {checked} sampled answers: status 200, hits for tainted addresses and none for clean ones{}; mean answer {avg_body:.0} bytes",
        if python.is_some() {
            ", identical JSON from ashiato and the Python baseline"
        } else {
            ""
        }
    ));
    // Single requests for the labelled addresses (exchanges, the victim): a lookup that is
    // rare in the load (5 of the indexed addresses) but common in practice.
    let mut exit_ms: Vec<f64> = Vec::new();
    for l in shape.labels() {
        let path = format!("/api/v1/screen/generic/{}", l.address);
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let t = Instant::now();
            let (status, body) = get(addr, &path)?;
            if status != 200 {
                bail!("{path}: status {status}: {body}");
            }
            best = best.min(t.elapsed().as_secs_f64() * 1e3);
        }
        exit_ms.push(best);
    }
    notes.push(format!(
        "single GET of each labelled address (5 SYNTHETIC exchanges = exits, then the victim), best of 3, ms: {}",
        exit_ms
            .iter()
            .map(|m| format!("{m:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));

    eprintln!(
        "load: wrk -t{} -c{} -d{}s --latency, {} s warm-up, {} runs a row",
        a.threads, a.connections, a.duration, a.warmup, a.runs
    );
    let mut rows: Vec<(String, &'static str, WrkRun, Vec<WrkRun>)> = Vec::new();
    let (r, all) = measure(&a, "health", &url, &health_lua, std::process::id())?;
    rows.push((
        "ashiato GET /api/v1/health (floor: routing + middleware + JSON, no lookup)".into(),
        "health",
        r,
        all,
    ));
    let (r, all) = measure(&a, "screen", &url, &screen_lua, std::process::id())?;
    rows.push((
        format!(
            "ashiato GET /api/v1/screen/generic/{{address}} ({})",
            a.policy
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join("+")
        ),
        "screen",
        r,
        all,
    ));
    if a.exits_row {
        let (r, all) = measure(&a, "exits", &url, &exits_lua, std::process::id())?;
        rows.push((
            "diagnostic: ashiato GET /api/v1/screen/generic/{exit address}, the 5 exits only"
                .into(),
            "exits",
            r,
            all,
        ));
    }
    // The Rust server stops before the baseline runs, so it does not compete for the cores.
    drop(server);
    if let Some(py) = &python {
        let purl = format!("http://{}", py.addr);
        let (r, all) = measure(&a, "python", &purl, &screen_lua, py.child.id())?;
        rows.push((
            "baseline: Python ThreadingHTTPServer, dict lookup, same JSON".into(),
            "python",
            r,
            all,
        ));
    }
    drop(python);

    let py_rps = rows.iter().find(|r| r.1 == "python").map(|r| r.2.rps);
    let screen = rows
        .iter()
        .find(|r| r.1 == "screen")
        .map(|r| r.2.clone())
        .unwrap_or_default();
    let errors = |r: &WrkRun| r.non_2xx + r.socket_errors;
    let busy: Vec<String> = rows
        .iter()
        .flat_map(|(_, key, _, all)| all.iter().map(move |r| (key, r)))
        .filter(|(_, r)| r.kept && r.other_cores > QUIET)
        .map(|(key, r)| format!("{key} ({:.2})", r.other_cores))
        .collect();
    if !busy.is_empty() {
        notes.push(format!(
            "NOT QUIET: other processes used > 0.1 core during runs of {}; rerun on an idle machine before trusting those numbers",
            busy.join(", ")
        ));
    }
    // Errors over every run tried, counted or not, of every row.
    let all_errors: u64 = rows
        .iter()
        .flat_map(|r| r.3.iter())
        .map(|r| r.non_2xx + r.socket_errors)
        .sum();
    notes.push(format!(
        "errors (non-2xx answers + socket errors) over every run tried: {all_errors}"
    ));
    let pass = screen.rps >= TARGET_RPS
        && screen.p99_ms < TARGET_P99_MS
        && errors(&screen) == 0
        && all_errors == 0;
    let screen_quiet = rows
        .iter()
        .filter(|r| r.1 == "screen")
        .flat_map(|r| r.3.iter())
        .all(|r| !r.kept || r.other_cores <= QUIET);
    let verdict = format!(
        "{}{}: screening {:.0} req/s (target ≥ {:.0}), p99 {:.2} ms (target < {:.0} ms), {} errors, {} tainted addresses indexed",
        if pass { "PASS" } else { "FAIL" },
        if screen_quiet {
            ""
        } else {
            " (UNRELIABLE: other processes were busy during the screening runs)"
        },
        screen.rps,
        TARGET_RPS,
        screen.p99_ms,
        TARGET_P99_MS,
        errors(&screen),
        tainted_n
    );
    let machine = format!(
        "{}, {} cores; server: tokio 2 worker threads, rate limiter {}; wrk 4 -t{} -c{} -d{}s --latency on loopback, sharing the cores",
        cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        if a.rate == 0 {
            "off".to_string()
        } else {
            format!("on ({} req/s per IP, never reached)", a.rate)
        },
        a.threads,
        a.connections,
        a.duration
    );
    let store_line = format!(
        "SYNTHETIC incident (seed {}): {} transfers; {} first-hop, {} second-hop, {} clean background addresses; {}",
        a.seed,
        p.rows,
        shape.hop1,
        shape.hop2,
        shape.background,
        if p.reused {
            format!("store reused ({:.1} s to open)", p.open_s)
        } else {
            format!(
                "CSV written in {:.1} s, ingested + labels + incident in {:.1} s",
                p.gen_s, p.ingest_s
            )
        }
    );
    let index_line = format!(
        "index: {tainted_n} tainted addresses under {} policies built in {index_s:.1} s; process RSS after it {rss:.0} MiB (peak {hwm:.0} MiB)",
        a.policy.len()
    );

    if a.json {
        let row_json = |(name, key, r, all): &(String, &str, WrkRun, Vec<WrkRun>)| {
            json!({
                "row": key,
                "name": name,
                "requests_per_s": r.rps,
                "requests": r.requests,
                "p50_ms": r.p50_ms,
                "p75_ms": r.p75_ms,
                "p90_ms": r.p90_ms,
                "p99_ms": r.p99_ms,
                "avg_ms": r.avg_ms,
                "max_ms": r.max_ms,
                "non_2xx": r.non_2xx,
                "socket_errors": r.socket_errors,
                "server_cores": r.server_cores,
                "wrk_cores": r.wrk_cores,
                "softirq_cores": r.softirq_cores,
                "other_cores": r.other_cores,
                "other_cores_before": r.other_before,
                "ratio_vs_python": py_rps.map(|p| r.rps / p),
                "runs": all.iter().map(|x| json!({
                    "requests_per_s": x.rps, "p50_ms": x.p50_ms, "p99_ms": x.p99_ms,
                    "non_2xx": x.non_2xx, "socket_errors": x.socket_errors,
                    "server_cores": x.server_cores, "wrk_cores": x.wrk_cores,
                    "softirq_cores": x.softirq_cores, "other_cores": x.other_cores,
                    "counted": x.kept,
                })).collect::<Vec<_>>(),
            })
        };
        let doc = json!({
            "benchmark": "ashiato-serve-bench",
            "synthetic": true,
            "machine": { "cpu": cpu_model(), "cores": std::thread::available_parallelism().map_or(0, |n| n.get()) },
            "params": {
                "addresses": a.addresses, "seed": a.seed, "duration_s": a.duration,
                "warmup_s": a.warmup, "connections": a.connections, "threads": a.threads,
                "runs": a.runs, "sample": a.sample, "rate": a.rate,
                "policies": a.policy.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            },
            "store": {
                "transfers": p.rows, "reused": p.reused, "csv_s": p.gen_s,
                "ingest_s": p.ingest_s, "open_s": p.open_s,
            },
            "index": { "tainted_addresses": tainted_n, "build_s": index_s, "rss_mib": rss, "peak_rss_mib": hwm },
            "mean_answer_bytes": avg_body,
            "labelled_single_get_ms": exit_ms,
            "screen_runs_quiet": screen_quiet,
            "rows": rows.iter().map(row_json).collect::<Vec<_>>(),
            "target": { "requests_per_s": TARGET_RPS, "p99_ms": TARGET_P99_MS },
            "pass": pass,
            "notes": notes,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{store_line}");
        println!("{index_line}");
        println!("{machine}");
        let mut t = Table::new();
        t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
            "row",
            "req/s",
            "p50 ms",
            "p90 ms",
            "p99 ms",
            "max ms",
            "errors (non-2xx + socket)",
            "CPU cores: server / wrk / softirq / other processes",
            "runs counted / tried",
            "× Python baseline (req/s)",
        ]);
        for (name, _, r, all) in &rows {
            t.add_row(vec![
                name.clone(),
                format!("{:.0}", r.rps),
                ms(r.p50_ms),
                ms(r.p90_ms),
                ms(r.p99_ms),
                ms(r.max_ms),
                format!("{} + {}", r.non_2xx, r.socket_errors),
                format!(
                    "{:.2} / {:.2} / {:.2} / {:.2}",
                    r.server_cores, r.wrk_cores, r.softirq_cores, r.other_cores
                ),
                format!("{} / {}", all.iter().filter(|x| x.kept).count(), all.len()),
                py_rps.map_or("-".into(), |p| format!("{:.1}", r.rps / p)),
            ]);
        }
        println!("{t}");
        for n in &notes {
            println!("{n}");
        }
        println!(
            "each row: the median (by req/s) of {} counted runs of {} s, each after a {} s warm-up (a run during which other processes used > {QUIET} core is not counted and is tried again); wrk latencies are from request sent to response read (wrk, not wrk2: no coordinated-omission correction). Total {:.0} s.",
            a.runs,
            a.duration,
            a.warmup,
            begun.elapsed().as_secs_f64()
        );
        println!("{verdict}");
    }
    if a.json {
        eprintln!("{verdict}");
    }
    Ok(())
}
