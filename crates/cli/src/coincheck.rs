//! `ashiato demo --case coincheck`: the Coincheck 2018 fixture chain, served by the NIS1
//! replay server, synced into the store over REST, traced from the hot wallet, and the
//! 2018 mosaic-tagging rule compared with haircut and FIFO account by account.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use ashiato_model::{Amount, Chain, Label};
use ashiato_nem::client::{ClientOptions, Nis1Client};
use ashiato_nem::coincheck::{self, Fixture};
use ashiato_nem::replay::ReplayServer;
use ashiato_nem::sync::{sync, SyncOptions, SyncReport};
use ashiato_store::Store;
use ashiato_trace::{PolicyName, TraceResult, TraceSpec};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Table};

/// Tainted movements below this many micro-XEM are dust: reported, not followed. The
/// 30 Jan 2018 spray sent 100 XEM; no laundering hop of the case moved less than
/// 300,000 XEM. Override with `--dust`.
pub const DEFAULT_DUST: Amount = 1_000 * 1_000_000;

pub struct CaseRun {
    pub fixture: Fixture,
    pub sync: SyncReport,
    /// Poison (the 2018 tagging rule), haircut, FIFO.
    pub traces: Vec<TraceResult>,
}

/// Serves the fixture, syncs it into `store`, records labels and the incident, traces.
pub fn run_case(store: &mut Store, dust: Amount) -> Result<CaseRun> {
    let fixture = coincheck::build(coincheck::SEED);
    let server =
        ReplayServer::start(fixture.blocks.clone()).context("starting the replay server")?;
    let client = Nis1Client::new(&server.url(), ClientOptions::default())?;
    let sync = sync(store, &client, &SyncOptions::default())?;
    drop(server);
    store.put_labels(&fixture.labels)?;
    store.put_incident(&fixture.incident)?;
    let graph = store.graph(Chain::Nem)?;
    let spec = TraceSpec {
        dust,
        address_paths: true,
        ..TraceSpec::for_incident(&fixture.incident, &fixture.labels, &graph)
    };
    let traces = [PolicyName::Poison, PolicyName::Haircut, PolicyName::Fifo]
        .into_iter()
        .map(|p| ashiato_trace::trace(&graph, &spec, p))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CaseRun {
        fixture,
        sync,
        traces,
    })
}

fn xem(micro: Amount) -> String {
    let whole = micro / 1_000_000;
    let frac = micro % 1_000_000;
    let mut s = whole.to_string();
    let mut out = String::new();
    while s.len() > 3 {
        let tail = s.split_off(s.len() - 3);
        out = format!(",{tail}{out}");
    }
    out = format!("{s}{out}");
    if frac > 0 {
        out.push_str(format!(".{frac:06}").trim_end_matches('0'));
    }
    out
}

/// One row per account that any policy taints (or flags as dust): the 2018 tag, the
/// taint each policy gives, and what the account is.
pub fn comparison(run: &CaseRun) -> Table {
    let labels: BTreeMap<&str, &Label> = run
        .fixture
        .labels
        .iter()
        .map(|l| (l.address.as_str(), l))
        .collect();
    let spray: Vec<String> = run
        .fixture
        .spray_recipients
        .iter()
        .map(|a| a.to_string())
        .collect();
    let mut rows: BTreeMap<String, [Option<(Amount, Amount)>; 3]> = BTreeMap::new();
    for (i, t) in run.traces.iter().enumerate() {
        for a in &t.addresses {
            if a.asset != ashiato_nem::XEM {
                continue;
            }
            rows.entry(a.address.clone()).or_default()[i] = Some((a.taint, a.dust));
        }
        for e in &t.exits {
            let r = rows.entry(e.address.clone()).or_default();
            let cur = r[i].unwrap_or((0, 0));
            r[i] = Some((cur.0.max(e.amount), cur.1));
        }
    }
    let mut ordered: Vec<_> = rows.into_iter().collect();
    ordered.sort_by_key(|(_, r)| std::cmp::Reverse(r[1].map_or(0, |x| x.0)));
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED);
    t.set_header([
        "account",
        "what it is",
        "2018 tag rule (poison)",
        "haircut XEM",
        "FIFO XEM",
    ]);
    for (addr, r) in ordered {
        let what = match labels.get(addr.as_str()) {
            Some(l) => l.name.clone(),
            None if spray.contains(&addr) => "30 Jan spray recipient (SYNTHETIC stand-in)".into(),
            None => "unlabelled (SYNTHETIC)".into(),
        };
        let cell = |x: Option<(Amount, Amount)>| match x {
            None => "—".to_string(),
            Some((0, d)) if d > 0 => format!("dust {}", xem(d)),
            Some((v, _)) => xem(v),
        };
        let tag = match r[0] {
            None => "not tagged".to_string(),
            Some((0, d)) if d > 0 => format!("tagged in 2018; here dust ({} XEM)", xem(d)),
            Some((v, _)) => format!("tagged ({} XEM)", xem(v)),
        };
        t.add_row(vec![addr, what, tag, cell(r[1]), cell(r[2])]);
    }
    t
}

pub fn print(out: &mut impl Write, run: &CaseRun, store_dir: &Path) -> Result<()> {
    let s = &run.sync;
    writeln!(
        out,
        "Coincheck 2018 (NEM), fixture chain of published facts plus SYNTHETIC filler (data/nem-coincheck/README.md)\n\
         synced over NIS1 REST from the replay server into {}: blocks {}..{} ({} blocks), {} transfers added, {} already stored",
        store_dir.display(),
        s.from_height + 1,
        s.to_height,
        s.blocks,
        s.transfers_added,
        s.duplicates
    )?;
    let hot = run.fixture.hot_wallet.to_string();
    for t in &run.traces {
        writeln!(
            out,
            "\n{} from the hot wallet {hot} since 2018-01-26 00:02 JST: {} XEM left it (its fees included); {} accounts tainted; {} XEM reached exchanges; {} XEM flagged as dust",
            t.policy,
            xem(t.summary.entered),
            t.addresses.iter().filter(|a| a.taint > 0).count(),
            xem(t.summary.exited),
            xem(t.summary.dust),
        )?;
        for e in &t.exits {
            writeln!(
                out,
                "  exit {} ({}): {} XEM in {} transfers; first path {}",
                e.label,
                e.address,
                xem(e.amount),
                e.transfers,
                e.path.join(" → ")
            )?;
        }
    }
    writeln!(
        out,
        "\nThe 2018 tagging rule against haircut and FIFO, account by account:\n{}",
        comparison(run)
    )?;
    Ok(())
}
