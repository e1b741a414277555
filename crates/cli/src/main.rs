//! `ashiato`: the command line. It only wires the library crates together: readers from
//! `ashiato-ingest`, the store from `ashiato-store`, the walker from `ashiato-trace`.

use ashiato::{demo, load, node, report, serve, utxo, watch, InputFormat};

mod export;

use std::io::{self, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use ashiato_model::{Address, Chain, Incident, UtcTime};
use ashiato_store::Store;
use ashiato_trace::{Direction, PolicyName, TraceResult, TraceSpec};
use clap::{Args, Parser, Subcommand, ValueEnum};

// Ingest allocates per row on one thread and frees on the other; glibc's allocator
// serialises that, mimalloc does not.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "ashiato",
    version,
    about = "Follow stolen cryptocurrency hop by hop until it reaches a place where a person can be named"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Ingest the bundled real data into an embedded store, trace every incident, print the results.
    Demo(demo::DemoArgs),
    /// Ingest files into the store (incremental, idempotent, resumable after a crash).
    Ingest(IngestArgs),
    /// Trace taint forward or backward from seeds or a stored incident.
    Trace(TraceArgs),
    /// List, show or add incidents.
    Incident(IncidentArgs),
    /// List labels, or import a label CSV (address,name,kind[,source,confidence]).
    Labels(LabelsArgs),
    /// What the store holds, and an integrity check.
    Stats(StoreArg),
    /// Sync the store from a live node (Bitcoin Core RPC, Ethereum JSON-RPC or NEM
    /// NIS1), incrementally.
    Sync(node::SyncArgs),
    /// Cluster Bitcoin addresses (multi-input, change heuristics, CoinJoin-aware) and
    /// explain merges.
    Cluster(utxo::ClusterArgs),
    /// Detect peel chains, or follow one from a transaction.
    Peel(utxo::PeelArgs),
    /// Find exchange deposit addresses on an account chain (user → deposit address →
    /// exchange) and cluster their customers; optionally store them as labels.
    Deposits(node::DepositsArgs),
    /// Follow a node and alert within one block when tainted value moves: JSON lines on
    /// stdout, webhooks, server-sent events; keep the signed taint feed and the
    /// watchlist; detect custody-wallet drains. Survives kills and reorganisations.
    Watch(Box<watch::WatchArgs>),
    /// The signed taint feed: export it, print its key, verify a copy offline, revoke a
    /// listing.
    Feed(watch::FeedArgs),
    /// Serve the screening API, the tracking site and evidence reports from the store.
    Serve(serve::ServeArgs),
    /// API keys for the service's writes: add (prints the key once), list, revoke.
    Apikey(serve::ApikeyArgs),
    /// Evidence reports and exports of a stored incident (HTML, PDF, CSV, JSON, GraphML),
    /// and checking a report against the store it claims to come from.
    Report(report::ReportArgs),
    /// Export a stored chain as Parquet partitions for a distributed engine (Spark);
    /// see docs/scale-out.md.
    Export(export::ExportArgs),
}

#[derive(Args, Clone)]
struct StoreArg {
    /// Store directory (created if missing).
    #[arg(long, default_value = "ashiato.store")]
    store: PathBuf,
}

#[derive(Args)]
struct IngestArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Files or folders to ingest.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    format: InputFormat,
    /// Chain of CSV input (addresses are validated for it).
    #[arg(long, default_value = "generic")]
    chain: Chain,
    /// Rows per durable commit: a crash loses at most this many rows of work (never data).
    #[arg(long, default_value_t = 1_000_000)]
    commit_every: usize,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum OutFormat {
    Table,
    Json,
    Csv,
}

#[derive(Args)]
struct TraceArgs {
    /// Trace a file directly, without a store (format detected as for ingest).
    #[arg(long, conflicts_with = "incident")]
    input: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = InputFormat::Auto)]
    input_format: InputFormat,
    /// Store to trace against (with --incident, or --chain and --seed).
    #[arg(long)]
    store: Option<PathBuf>,
    /// A stored incident: its seeds, start time and chain.
    #[arg(long)]
    incident: Option<String>,
    /// Chain of the input or of the stored ledger to trace.
    #[arg(long)]
    chain: Option<Chain>,
    /// Seed addresses, comma-separated: everything they send is fully tainted.
    #[arg(long, value_delimiter = ',')]
    seed: Vec<String>,
    /// Seed transactions, comma-separated: their outputs are fully tainted.
    #[arg(long, value_delimiter = ',')]
    seed_tx: Vec<String>,
    /// Start of the window (RFC 3339 UTC or unix seconds); seeds emit taint from here.
    #[arg(long)]
    since: Option<String>,
    /// End of the window.
    #[arg(long)]
    until: Option<String>,
    /// Policy, or a comma-separated list, or `all` for a side-by-side comparison.
    #[arg(long, default_value = "haircut")]
    policy: String,
    #[arg(long, value_enum, default_value_t = Dir::Forward)]
    direction: Dir,
    #[arg(long)]
    max_hops: Option<u32>,
    /// Movements carrying less taint than this (base units) are dust and not followed.
    #[arg(long, default_value_t = 0)]
    dust: u128,
    /// Extra labels (CSV: address,name,kind[,source,confidence]).
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Follow taint through labelled exchanges and other exits instead of stopping there.
    #[arg(long)]
    no_stop: bool,
    #[arg(long, value_enum, default_value_t = OutFormat::Table)]
    format: OutFormat,
    /// Leave out the per-address paths (exits keep theirs); faster on huge traces.
    #[arg(long)]
    no_paths: bool,
    /// Rows of the address table (table format only).
    #[arg(long, default_value_t = 25)]
    limit: usize,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Dir {
    /// Where did it go.
    Forward,
    /// Where did it come from.
    Backward,
}

#[derive(Args)]
struct IncidentArgs {
    #[command(flatten)]
    store: StoreArg,
    #[command(subcommand)]
    cmd: Option<IncidentCmd>,
}

#[derive(Subcommand)]
enum IncidentCmd {
    /// List incidents (the default).
    List,
    /// Show one incident as JSON.
    Show { name: String },
    /// Add or replace an incident.
    Add {
        name: String,
        #[arg(long)]
        chain: Chain,
        #[arg(long, value_delimiter = ',')]
        seed: Vec<String>,
        #[arg(long, value_delimiter = ',')]
        seed_tx: Vec<String>,
        #[arg(long)]
        since: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
    },
}

#[derive(Args)]
struct LabelsArgs {
    #[command(flatten)]
    store: StoreArg,
    /// Import labels from this CSV for --chain.
    #[arg(long)]
    import: Option<PathBuf>,
    #[arg(long, default_value = "generic")]
    chain: Chain,
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Demo(a) => demo::run(a),
        Cmd::Ingest(a) => ingest(a),
        Cmd::Trace(a) => trace(a),
        Cmd::Incident(a) => incident(a),
        Cmd::Labels(a) => labels(a),
        Cmd::Stats(a) => stats(a),
        Cmd::Sync(a) => node::run(a),
        Cmd::Cluster(a) => utxo::cluster(a, &mut io::stdout().lock()),
        Cmd::Peel(a) => utxo::peel(a, &mut io::stdout().lock()),
        Cmd::Deposits(a) => node::deposits(a, &mut io::stdout().lock()),
        Cmd::Watch(a) => watch::watch(*a),
        Cmd::Feed(a) => watch::feed(a, &mut io::stdout().lock()),
        Cmd::Serve(a) => serve::serve(a),
        Cmd::Apikey(a) => serve::apikey(a, &mut io::stdout().lock()),
        Cmd::Report(a) => report::report(a, &mut io::stdout().lock()),
        Cmd::Export(a) => export::run(a, &mut io::stdout().lock()),
    }
}

fn ingest(a: IngestArgs) -> Result<()> {
    let mut store = Store::open(&a.store.store)
        .with_context(|| format!("opening store {}", a.store.store.display()))?;
    store.set_segment_rows(a.commit_every);
    for p in &a.paths {
        let report = load::ingest_path(&mut store, p, a.format, a.chain)?;
        println!("{report}");
    }
    Ok(())
}

fn parse_time(s: &Option<String>, what: &str) -> Result<Option<i64>> {
    s.as_deref()
        .map(|t| {
            UtcTime::parse(t)
                .map(|t| t.0)
                .with_context(|| format!("--{what}"))
        })
        .transpose()
}

fn parse_policies(s: &str) -> Result<Vec<PolicyName>> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(PolicyName::ALL.to_vec());
    }
    s.split(',')
        .map(|p| p.trim().parse::<PolicyName>().map_err(Into::into))
        .collect()
}

fn trace(a: TraceArgs) -> Result<()> {
    let policies = parse_policies(&a.policy)?;
    let mut incident: Option<Incident> = None;
    let loaded = match (&a.input, &a.store) {
        (Some(input), _) => {
            load::load_input(input, a.input_format, a.chain.unwrap_or(Chain::Generic))?
        }
        (None, Some(dir)) => {
            let store =
                Store::open(dir).with_context(|| format!("opening store {}", dir.display()))?;
            let chain = match &a.incident {
                Some(name) => {
                    let i = store.incident(name)?.with_context(|| {
                        format!(
                            "no incident named {name:?} in {} (see `ashiato incident --store {}`)",
                            dir.display(),
                            dir.display()
                        )
                    })?;
                    let chain = i.chain;
                    incident = Some(i);
                    chain
                }
                None => a
                    .chain
                    .context("--store needs --incident NAME or --chain CHAIN")?,
            };
            load::load_store(&store, chain)?
        }
        (None, None) => bail!("give --input FILE, or --store DIR with --incident NAME"),
    };
    let chain = loaded.graph.chain;
    let mut spec = TraceSpec {
        since: parse_time(&a.since, "since")?,
        until: parse_time(&a.until, "until")?,
        max_hops: a.max_hops,
        dust: a.dust,
        direction: match a.direction {
            Dir::Forward => Direction::Forward,
            Dir::Backward => Direction::Backward,
        },
        address_paths: !a.no_paths,
        ..TraceSpec::default()
    };
    if let Some(i) = &incident {
        spec.seeds = i.seeds.clone();
        spec.seed_txs = i.seed_txs.clone();
        spec.since = spec.since.or(i.since.map(|t| t.0));
    } else if let Some(i) = &loaded.incident {
        if a.seed.is_empty() && a.seed_tx.is_empty() {
            spec.seeds = i.seeds.clone();
        }
    }
    for s in &a.seed {
        spec.seeds
            .push(Address::parse(chain, s).with_context(|| format!("--seed {s}"))?);
    }
    spec.seed_txs.extend(a.seed_tx.iter().cloned());
    let mut labels = loaded.labels;
    if let Some(f) = &a.labels {
        labels.extend(load::read_labels(f, chain)?);
    }
    if !a.no_stop {
        spec.stop_at = labels
            .iter()
            .filter(|l| l.kind.is_exit())
            .map(|l| (l.address.clone(), l.name.clone()))
            .collect();
    }
    let results: Vec<TraceResult> = policies
        .iter()
        .map(|&p| ashiato_trace::trace(&loaded.graph, &spec, p))
        .collect::<Result<_, _>>()?;
    let out = io::stdout();
    let mut out = out.lock();
    match a.format {
        OutFormat::Json if results.len() == 1 => results[0].write_json(&mut out)?,
        OutFormat::Json => serde_json::to_writer_pretty(&mut out, &results)?,
        OutFormat::Csv => {
            for r in &results {
                r.write_csv(&mut out)?;
            }
        }
        OutFormat::Table if results.len() == 1 => results[0].write_table(&mut out, a.limit)?,
        OutFormat::Table => demo::write_comparison(&mut out, &results, a.limit)?,
    }
    writeln!(out)?;
    Ok(())
}

fn incident(a: IncidentArgs) -> Result<()> {
    let mut store = Store::open(&a.store.store)?;
    match a.cmd.unwrap_or(IncidentCmd::List) {
        IncidentCmd::List => {
            for i in store.incidents()? {
                println!(
                    "{}\t{}\t{} seed(s)\t{}",
                    i.name,
                    i.chain,
                    i.seeds.len() + i.seed_txs.len(),
                    i.description
                );
            }
        }
        IncidentCmd::Show { name } => {
            let i = store
                .incident(&name)?
                .with_context(|| format!("no incident named {name:?}"))?;
            println!("{}", serde_json::to_string_pretty(&i)?);
        }
        IncidentCmd::Add {
            name,
            chain,
            seed,
            seed_tx,
            since,
            description,
        } => {
            let seeds = seed
                .iter()
                .map(|s| Address::parse(chain, s).with_context(|| format!("--seed {s}")))
                .collect::<Result<Vec<_>>>()?;
            let since = since
                .map(|s| UtcTime::parse(&s))
                .transpose()
                .context("--since")?;
            store.put_incident(&Incident {
                name: name.clone(),
                chain,
                seeds,
                seed_txs: seed_tx,
                since,
                description,
                source: "ashiato incident add".into(),
            })?;
            println!("incident {name} saved");
        }
    }
    Ok(())
}

fn labels(a: LabelsArgs) -> Result<()> {
    let mut store = Store::open(&a.store.store)?;
    if let Some(f) = &a.import {
        let labels = load::read_labels(f, a.chain)?;
        let n = store.put_labels(&labels)?;
        println!("{} labels read, {n} new or changed", labels.len());
        return Ok(());
    }
    for l in store.labels(a.chain)? {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            l.address, l.kind, l.name, l.confidence, l.source
        );
    }
    Ok(())
}

fn stats(a: StoreArg) -> Result<()> {
    let store = Store::open(&a.store)?;
    println!("{:#?}", store.stats()?);
    let check = store.check()?;
    println!("integrity: {check:?}");
    Ok(())
}
