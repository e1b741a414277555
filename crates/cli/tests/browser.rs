//! The tracking site in a real browser: Debian's chromium driven by npm `playwright-core`
//! (scripts in `tests/browser/`), against `ashiato serve` over a store holding the
//! Coincheck case and the MFTracer cases, against `ashiato watch nem --serve` while
//! the NIS1 replay node reveals the theft, and against a store holding a synthetic
//! incident whose flow graph has thousands of nodes. Every expected value comes from the
//! API; every click on the flow graph is a real mouse click at the node's place on screen.
//!
//! Installs what is missing: chromium with apt-get (CI runs as root), playwright-core
//! with npm into `target/tools/playwright-core` (never a browser download). Needs `node`.
//! `ASHIATO_CHROMIUM` and `ASHIATO_PLAYWRIGHT_CORE` point elsewhere. Screenshots land in
//! `target/tmp/browser/`.

use ashiato::splitmix::{mix, SplitMix64};
use common::{bin, run_ok, start_server, Proc};
mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use ashiato_model::UtcTime;
use ashiato_nem::coincheck;
use ashiato_nem::replay::ReplayServer;
use ashiato_nem::tx::NEM_EPOCH_UNIX;
use ashiato_store::Store;

const PLAYWRIGHT_VERSION: &str = "1.65.1";
/// 1,000 XEM: the Coincheck case's dust threshold (as in `ashiato demo --case coincheck`).
const COINCHECK_DUST: &str = "coincheck-2018=1000000000";
/// A whole browser script, chromium start to exit.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(240);

/// One browser at a time: two chromiums on a two-core machine only slow each other.
static BROWSER: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .to_path_buf()
}

fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Takes `lock` (created exclusively; a stale one from a killed run is taken over after
/// `stale`), runs `f`, releases it. Meanwhile `done()` ending the wait early.
fn with_lock<T>(
    lock: &Path,
    stale: Duration,
    done: impl Fn() -> Option<T>,
    f: impl FnOnce() -> T,
) -> T {
    let started = Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(lock)
        {
            Ok(_) => break,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                if let Some(v) = done() {
                    return v;
                }
                let age = std::fs::metadata(lock)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| SystemTime::now().duration_since(t).ok())
                    .unwrap_or_default();
                if age > stale {
                    let _ = std::fs::remove_file(lock);
                }
                assert!(
                    started.elapsed() < Duration::from_secs(1200),
                    "waited 20 minutes for {}",
                    lock.display()
                );
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(e) => panic!("{}: {e}", lock.display()),
        }
    }
    let v = f();
    let _ = std::fs::remove_file(lock);
    v
}

/// Debian's chromium, installed with apt-get when missing (serialised across test
/// processes by a lock file: two apt-gets at once fail on dpkg's lock).
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("ASHIATO_CHROMIUM") {
        return PathBuf::from(p);
    }
    let exe = PathBuf::from("/usr/bin/chromium");
    if exe.is_file() {
        return exe;
    }
    let lock = std::env::temp_dir().join("ashiato-apt-chromium.lock");
    let found = || exe.is_file().then(|| exe.clone());
    let exe = with_lock(&lock, Duration::from_secs(1800), found, || {
        if exe.is_file() {
            return exe.clone();
        }
        eprintln!("installing chromium with apt-get (once)");
        let apt = |args: &[&str]| {
            let s = Command::new("apt-get")
                .args(["-o", "DPkg::Lock::Timeout=600"])
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .status()
                .unwrap_or_else(|e| panic!("apt-get is needed to install chromium: {e}"));
            assert!(
                s.success(),
                "apt-get {args:?} failed ({s}); install chromium"
            );
        };
        apt(&["update", "-qq"]);
        apt(&["install", "-y", "-qq", "chromium"]);
        exe.clone()
    });
    assert!(exe.is_file(), "apt-get installed no {}", exe.display());
    exe
}

/// npm `playwright-core` (the library only: it never downloads a browser) under
/// `target/tools/playwright-core`, installed into a staging prefix and renamed into place
/// so that a concurrent reader never sees a half-written package.
fn playwright_core() -> PathBuf {
    if let Some(p) = std::env::var_os("ASHIATO_PLAYWRIGHT_CORE") {
        return PathBuf::from(p);
    }
    let prefix = target_dir().join("tools/playwright-core");
    let module = prefix.join("node_modules/playwright-core");
    let installed = || {
        std::fs::read_to_string(module.join("package.json"))
            .ok()
            .filter(|s| s.contains(&format!("\"version\": \"{PLAYWRIGHT_VERSION}\"")))
            .map(|_| module.clone())
    };
    if let Some(m) = installed() {
        return m;
    }
    std::fs::create_dir_all(&prefix).unwrap();
    let lock = prefix.join(".installing");
    with_lock(&lock, Duration::from_secs(600), installed, || {
        if let Some(m) = installed() {
            return m;
        }
        let staging = prefix.join(format!(".staging-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        let s = Command::new("npm")
            .args([
                "install",
                "--no-save",
                "--no-audit",
                "--no-fund",
                "--prefix",
            ])
            .arg(&staging)
            .arg(format!("playwright-core@{PLAYWRIGHT_VERSION}"))
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .stdout(Stdio::null())
            .status()
            .unwrap_or_else(|e| panic!("npm is needed to install playwright-core: {e}"));
        assert!(s.success(), "npm install playwright-core failed ({s})");
        let modules = prefix.join("node_modules");
        let _ = std::fs::remove_dir_all(&modules);
        std::fs::rename(staging.join("node_modules"), &modules).unwrap();
        let _ = std::fs::remove_dir_all(&staging);
        installed().expect("npm installed playwright-core")
    })
}

/// A browser script under `tests/browser/`, its stdout lines as they come.
struct Script {
    child: Proc,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    deadline: Instant,
}

impl Script {
    fn start(name: &str, url: &str, env: &[(&str, &str)]) -> Script {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/browser")
            .join(name);
        let mut cmd = Command::new("node");
        cmd.arg(&script)
            .env("ASHIATO_URL", url)
            .env("ASHIATO_OUT", out_dir())
            .env("ASHIATO_CHROMIUM", chromium())
            .env("PLAYWRIGHT_CORE", playwright_core())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = Proc(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("node is needed for the browser test: {e}")),
        );
        let out: ChildStdout = child.0.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        Script {
            child,
            lines,
            seen: Vec::new(),
            deadline: Instant::now() + SCRIPT_TIMEOUT,
        }
    }

    /// The next line, echoed; None at the end of the output.
    fn next(&mut self) -> Option<String> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        match self.lines.recv_timeout(left) {
            Ok(l) => {
                println!("  {l}");
                self.seen.push(l.clone());
                Some(l)
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => None,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!(
                    "the browser script ran over {SCRIPT_TIMEOUT:?}; so far:\n{}",
                    self.seen.join("\n")
                )
            }
        }
    }

    /// Reads up to a line equal to `marker`.
    fn until(&mut self, marker: &str) {
        while let Some(l) = self.next() {
            if l == marker {
                return;
            }
        }
        panic!(
            "the browser script ended before {marker}:\n{}",
            self.seen.join("\n")
        );
    }

    /// Reads to the end; asserts the exit status and that no check failed.
    fn finish(mut self) -> Vec<String> {
        while self.next().is_some() {}
        let status = self.child.0.wait().unwrap();
        let failed: Vec<&String> = self.seen.iter().filter(|l| l.starts_with("FAIL")).collect();
        assert!(
            status.success() && failed.is_empty(),
            "browser script failed ({status}): {failed:?}\n{}",
            self.seen.join("\n")
        );
        self.seen
    }
}

/// Asserts that some line starts with each of `wanted`.
fn assert_lines(seen: &[String], wanted: &[&str]) {
    for w in wanted {
        assert!(
            seen.iter().any(|l| l.starts_with(w)),
            "no line starting with {w:?} in:\n{}",
            seen.join("\n")
        );
    }
}

fn assert_png(name: &str) {
    let p = out_dir().join(name);
    let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "{} is no PNG",
        p.display()
    );
    assert!(
        bytes.len() > 20_000,
        "{} is suspiciously small",
        p.display()
    );
}

#[test]
fn the_site_shows_incidents_graphs_and_screening_in_a_real_browser() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store_s = store.to_str().unwrap();
    run_ok(&["demo", "--case", "coincheck", "--store", store_s]);
    let cases = repo().join("data/eth-mftracer-cases");
    run_ok(&["ingest", cases.to_str().unwrap(), "--store", store_s]);
    let listed = run_ok(&["incident", "--store", store_s]);
    for name in ["coincheck-2018", "Atomic", "LIFI", "TxPhish", "XSam"] {
        assert!(listed.contains(name), "{name} not stored:\n{listed}");
    }

    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--store", store_s, "--listen", "127.0.0.1:0"])
        .args(["--dust", COINCHECK_DUST]);
    let (_server, url) = start_server(cmd);

    let seen = Script::start("site.mjs", &url, &[("ASHIATO_MFTRACER", "Atomic")]).finish();
    assert_lines(
        &seen,
        &[
            "ok home lists 5 incidents",
            "ok coincheck-2018 poison: graph drawn",
            "ok coincheck-2018: clicked ",
            "ok coincheck-2018: holders table",
            "ok coincheck-2018: timeline",
            "ok Atomic poison: graph drawn",
            "ok Atomic: clicked ",
            "ok Atomic: holders table",
            "ok Atomic: holders page 2",
            "ok search nem ",
            "ok malformed address ",
            "ok unknown incident",
            "ok no uncaught page error",
            "ok console has no error",
            "all site checks passed",
        ],
    );
    assert!(
        seen.iter().any(|l| l.starts_with("ok ")
            && l.ends_with(&format!("requests, all to {}", &url["http://".len()..]))),
        "requests left 127.0.0.1:\n{}",
        seen.join("\n")
    );
    for png in [
        "home.png",
        "coincheck.png",
        "mftracer.png",
        "address.png",
        "bad-address.png",
    ] {
        assert_png(png);
    }
    println!(
        "browser test of the site: {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        out_dir().display()
    );
}

#[test]
fn the_live_panel_shows_a_new_alert_and_the_page_follows() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let f = coincheck::build(coincheck::SEED);
    let theft = UtcTime::parse(coincheck::THEFT_START).unwrap().unix();
    let theft_block = f
        .blocks
        .iter()
        .find(|b| b.timestamp as i64 + NEM_EPOCH_UNIX >= theft)
        .expect("the fixture has the theft")
        .height;
    let node = ReplayServer::start(f.blocks.clone()).unwrap();
    node.set_tip(theft_block - 1);
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = Store::open(dir.path()).unwrap();
        s.put_labels(&f.labels).unwrap();
        s.put_incident(&f.incident).unwrap();
    }
    let mut cmd = Command::new(bin());
    cmd.args(["watch", "--store"])
        .arg(dir.path())
        .args(["--poll-ms", "50", "--batch", "1", "--quiet"])
        .args(["--dust", "1000000000"])
        .args(["--custody", f.hot_wallet.as_str()])
        .args(["--serve", "127.0.0.1:0"])
        .args(["nem", "--node", &node.url()]);
    let (_watch, url) = start_server(cmd);
    // The page must open on the chain before the theft.
    let deadline = Instant::now() + Duration::from_secs(60);
    let health = format!("{url}/api/v1/health");
    let synced_to = || -> Option<u64> {
        let v: serde_json::Value = reqwest::blocking::get(&health).ok()?.json().ok()?;
        v["chains"][0]["last_block"].as_u64()
    };
    while synced_to() != Some(theft_block - 1) {
        assert!(
            Instant::now() < deadline,
            "the watch never synced to {}",
            theft_block - 1
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut script = Script::start("live.mjs", &url, &[("ASHIATO_INCIDENT", "coincheck-2018")]);
    script.until("READY");
    // The theft's first transfers reach the chain while the page is open.
    node.set_tip(theft_block + 2);
    let seen = script.finish();
    assert_lines(
        &seen,
        &[
            "ok coincheck-2018 open before the theft: 0 holders",
            "ok live panel shows an alert of coincheck-2018",
            "ok coincheck-2018 refreshed itself",
            "ok console has no error",
            "all live checks passed",
        ],
    );
    assert_png("live.png");
    println!(
        "browser test of the live panel: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// The synthetic incident of the large-graph test: its name, seed and asset.
const SYNTHETIC: &str = "synthetic-fanout";
const SYNTHETIC_SEED: &str = "synseed";
const SYNTHETIC_ASSET: &str = "SYN";
/// Addresses the seed pays, and addresses each of those pays: 60 × 60 = 3,600 at hop 2.
const SYNTHETIC_FANOUT: usize = 60;
/// Hop-2 addresses that pay an exchange, and the exchanges (labelled, so exits).
const SYNTHETIC_DEPOSITS: usize = 40;
const SYNTHETIC_EXCHANGES: usize = 3;
/// The generator's seed: the same synthetic incident every run.
const SYNTHETIC_RNG_SEED: u64 = 0x5eed_a5a1_a700_0001;

/// Uniform enough in `lo..hi` (a fixed-seed SplitMix64: the same incident every run).
fn range(rng: &mut SplitMix64, lo: u64, hi: u64) -> u64 {
    lo + rng.below(hi - lo)
}

/// A synthetic, seeded flow on the generic chain, written as an Ashiato CSV
/// (`time,block,tx,from,to,asset,amount`) with its label CSV: a clean funder first pays
/// each first-hop address (so that haircut taint is a fraction, not all or nothing), the
/// seed fans out to `SYNTHETIC_FANOUT` addresses, each of those to `SYNTHETIC_FANOUT`
/// more, and `SYNTHETIC_DEPOSITS` of the hop-2 addresses deposit into one of
/// `SYNTHETIC_EXCHANGES` labelled exchanges. Returns the number of movements.
fn write_synthetic_incident(csv: &Path, labels: &Path) -> usize {
    use std::fmt::Write as _;
    let mut rng = SplitMix64(SYNTHETIC_RNG_SEED);
    // Distinct, address-looking names: splitmix64 of an index is a bijection.
    let name = |prefix: &str, i: u64| format!("{prefix}{:016x}", mix(i));
    let hop1: Vec<String> = (0..SYNTHETIC_FANOUT as u64)
        .map(|i| name("syn1", i))
        .collect();
    let exchanges: Vec<String> = (0..SYNTHETIC_EXCHANGES as u64)
        .map(|i| name("synx", i))
        .collect();
    let start = UtcTime::parse("2024-03-01T00:00:00Z").unwrap().unix();
    let mut out = String::from("time,block,tx,from,to,asset,amount\n");
    let mut rows = 0usize;
    let mut block = 1u64;
    let mut row = |out: &mut String, block: u64, from: &str, to: &str, amount: u64| {
        rows += 1;
        let time = start + block as i64 * 60;
        writeln!(
            out,
            "{time},{block},syntx{rows:06},{from},{to},{SYNTHETIC_ASSET},{amount}"
        )
        .unwrap();
    };
    let mut balance = Vec::new();
    for a in &hop1 {
        let clean = range(&mut rng, 100_000_000, 500_000_000);
        row(&mut out, block, "synfunder", a, clean);
        balance.push(clean);
    }
    block += 1;
    for (i, a) in hop1.iter().enumerate() {
        let stolen = range(&mut rng, 500_000_000, 2_000_000_000);
        row(&mut out, block, SYNTHETIC_SEED, a, stolen);
        balance[i] += stolen;
    }
    let mut hop2 = Vec::new();
    for (i, a) in hop1.iter().enumerate() {
        block += 1;
        // Sixty payments that together never exceed the balance.
        let share = balance[i] / (2 * SYNTHETIC_FANOUT as u64);
        for j in 0..SYNTHETIC_FANOUT as u64 {
            let to = name("syn2", ((i as u64) << 16) | j);
            row(&mut out, block, a, &to, range(&mut rng, share, 2 * share));
            hop2.push(to);
        }
    }
    block += 1;
    for k in 0..SYNTHETIC_DEPOSITS {
        let from = &hop2[range(&mut rng, 0, hop2.len() as u64) as usize];
        let to = &exchanges[k % SYNTHETIC_EXCHANGES];
        row(
            &mut out,
            block + k as u64 / 8,
            from,
            to,
            range(&mut rng, 1_000_000, 5_000_000),
        );
    }
    std::fs::write(csv, out).unwrap();
    let mut l = String::from("address,name,kind\n");
    for (i, x) in exchanges.iter().enumerate() {
        writeln!(l, "{x},Synthetic Exchange {},exchange", i + 1).unwrap();
    }
    std::fs::write(labels, l).unwrap();
    rows
}

#[test]
fn the_flow_graph_stays_usable_with_thousands_of_nodes() {
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let store_s = store.to_str().unwrap();
    let csv = dir.path().join("synthetic.csv");
    let labels = dir.path().join("synthetic-labels.csv");
    let rows = write_synthetic_incident(&csv, &labels);
    run_ok(&[
        "labels",
        "--store",
        store_s,
        "--chain",
        "generic",
        "--import",
        labels.to_str().unwrap(),
    ]);
    let ingested = run_ok(&[
        "ingest",
        "--store",
        store_s,
        csv.to_str().unwrap(),
        "--chain",
        "generic",
    ]);
    assert!(ingested.contains(&format!("{rows} added")), "{ingested}");
    run_ok(&[
        "incident",
        "--store",
        store_s,
        "add",
        SYNTHETIC,
        "--chain",
        "generic",
        "--seed",
        SYNTHETIC_SEED,
        "--description",
        "synthetic fan-out for the large-graph browser test",
    ]);
    let built = started.elapsed();

    let mut cmd = Command::new(bin());
    cmd.args(["serve", "--store", store_s, "--listen", "127.0.0.1:0"])
        .args(["--policy", "haircut"]);
    let (_server, url) = start_server(cmd);
    let seen = Script::start(
        "large.mjs",
        &url,
        &[
            ("ASHIATO_INCIDENT", SYNTHETIC),
            ("ASHIATO_POLICY", "haircut"),
        ],
    )
    .finish();
    assert_lines(
        &seen,
        &[
            "ok API graph of synthetic-fanout",
            "ok graph drawn with ",
            "ok every node inside the canvas",
            "time navigation → graph ready: ",
            "ok graph ready ",
            "ok wheel zoomed",
            "ok drag panned",
            "ok clicked ",
            "ok console has no error",
            "all large checks passed",
        ],
    );
    // The script checks these too; the numbers are read back so that a script that
    // stopped checking them cannot pass.
    let number_after = |prefix: &str| -> u64 {
        let l = seen.iter().find(|l| l.starts_with(prefix)).unwrap();
        l[prefix.len()..]
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no number after {prefix:?} in {l:?}"))
    };
    let nodes = number_after("ok graph drawn with ");
    let ready_ms = number_after("time navigation → graph ready: ");
    assert!(nodes >= 3_000, "only {nodes} nodes drawn");
    assert!(
        ready_ms < 60_000,
        "the graph took {ready_ms} ms to be ready"
    );
    assert_png("large.png");
    assert_png("large-zoomed.png");
    println!(
        "browser test of a synthetic {rows}-movement incident: {nodes} nodes ready {ready_ms} ms \
         after navigation; store built in {:.1} s, {:.1} s in all",
        built.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
