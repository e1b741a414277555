//! Evidence reports and exports (crates/serve/src/evidence.rs), with values derived by hand
//! from the fixture data (crates/nem/src/coincheck.rs), the independent reference traces
//! (testdata/expected/) and the README's published figures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use ashiato_model::{Address, Asset, Chain, Incident, Label, LabelKind, Transfer, UtcTime};
use ashiato_nem::client::{ClientOptions, Nis1Client};
use ashiato_nem::coincheck::{self, Fixture};
use ashiato_nem::replay::ReplayServer;
use ashiato_nem::sync::{sync, SyncOptions};
use ashiato_nem::tx::{address_of, nem_time, Body};
use ashiato_nem::MAINNET;
use ashiato_serve::evidence::{
    self, check, check_document, exit_path, exit_report_html, export_csv, export_graphml,
    export_json, incident_report_html, seal_of, Evidence, ReportKind,
};
use ashiato_serve::index::{Index, IndexOptions};
use ashiato_store::{SourceKey, Store};
use ashiato_trace::{Outcome, PolicyName};
use quick_xml::events::Event;
use serde_json::Value;

const XEM: u128 = 1_000_000;
const INCIDENT: &str = "coincheck-2018";
/// The dust line of the case (crates/cli/src/coincheck.rs DEFAULT_DUST): 1,000 XEM.
const DUST: u128 = 1_000 * XEM;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The store `ashiato demo --case coincheck` makes: the fixture chain served by the NIS1
/// replay server, synced over REST, with the fixture's labels and incident.
fn coincheck_store(dir: &Path) -> Fixture {
    let f = coincheck::build(coincheck::SEED);
    let server = ReplayServer::start(f.blocks.clone()).unwrap();
    let client = Nis1Client::new(&server.url(), ClientOptions::default()).unwrap();
    let mut store = Store::open(dir).unwrap();
    sync(&mut store, &client, &SyncOptions::default()).unwrap();
    store.put_labels(&f.labels).unwrap();
    store.put_incident(&f.incident).unwrap();
    f
}

fn build(dir: &Path, incident: &str, policies: Vec<PolicyName>, dust: u128) -> Index {
    let store = Store::open(dir).unwrap();
    Index::build(
        &store,
        &IndexOptions {
            policies,
            dust,
            only: vec![incident.into()],
            ..IndexOptions::default()
        },
    )
    .unwrap()
}

fn g(n: u128) -> String {
    evidence::group(n)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// One movement of the fixture chain, found by the block height its place in
/// `coincheck::build` gives, and checked against what the code says it is.
struct Fact {
    height: u64,
    time: &'static str,
    xem: u128,
}

/// (tx id, sender, recipient) of the one transaction in fixture block `f.height`.
fn fixture_tx(fx: &Fixture, f: &Fact) -> (String, String, String) {
    let b = &fx.blocks[(f.height - 1) as usize];
    assert_eq!(b.height, f.height);
    assert_eq!(b.txs.len(), 1, "one transaction a block");
    let tx = &b.txs[0];
    assert_eq!(
        nem_time(tx.timestamp).to_rfc3339(),
        f.time,
        "block {}",
        f.height
    );
    let Body::Transfer {
        recipient, amount, ..
    } = &tx.body
    else {
        panic!("block {} holds no transfer", f.height)
    };
    assert_eq!(u128::from(*amount), f.xem * XEM, "block {}", f.height);
    (
        hex::encode(tx.hash.unwrap()),
        address_of(&tx.signer, MAINNET).to_string(),
        recipient.to_string(),
    )
}

// Block heights, by counting the blocks `coincheck::build` pushes, one transaction each:
// 1 funds the hot wallet; 2..19 the 9 spray recipients' funding and messages; 20..39 the
// 20 customer payments; 40..50 the 11 theft transfers; 51..60 NC4's 10 moves; 61..74 the
// 14 spray transactions; 75..92 the laundering (per hacker account 1..6: to its
// intermediary, then two deposits at Zaif); 93..95 Binance, Kuna, YoBit; 96 the spray
// recipient's own payment.
const ZAIF_PATH: [Fact; 4] = [
    // Theft transfer 1: hot wallet → NC4, 100 M XEM.
    Fact {
        height: 40,
        time: "2018-01-25T15:02:13Z",
        xem: 100_000_000,
    },
    // NC4's first move: to hacker account 2 (hackers[1]), 50 M XEM.
    Fact {
        height: 51,
        time: "2018-01-25T17:57:00Z",
        xem: 50_000_000,
    },
    // hackers[1] → its intermediary, 9 M XEM.
    Fact {
        height: 75,
        time: "2018-02-07T00:00:00Z",
        xem: 9_000_000,
    },
    // The intermediary's first deposit at Zaif: 60 % of 9 M.
    Fact {
        height: 76,
        time: "2018-02-07T01:00:00Z",
        xem: 5_400_000,
    },
];

#[test]
fn coincheck_exit_report_gives_the_path_to_zaif_hop_by_hop() {
    let dir = tempfile::tempdir().unwrap();
    let fx = coincheck_store(dir.path());
    let index = build(dir.path(), INCIDENT, vec![PolicyName::Poison], DUST);
    let e = Evidence::new(&index, INCIDENT, PolicyName::Poison).unwrap();
    let zaif = coincheck::EXCHANGES[0].0;
    let hot = fx.hot_wallet.to_string();
    let hackers: Vec<String> = fx.hackers.iter().map(|a| a.to_string()).collect();

    // The rows, from the fixture chain itself.
    let want: Vec<(String, String, String)> =
        ZAIF_PATH.iter().map(|f| fixture_tx(&fx, f)).collect();
    assert_eq!(
        (want[0].1.as_str(), want[0].2.as_str()),
        (hot.as_str(), hackers[0].as_str())
    );
    assert_eq!(
        (want[1].1.as_str(), want[1].2.as_str()),
        (hackers[0].as_str(), hackers[1].as_str())
    );
    assert_eq!(want[2].1, hackers[1]);
    assert_eq!(want[3].1, want[2].2, "the intermediary sends on");
    assert_eq!(want[3].2, zaif);

    // The exit: 12 deposits of (x − 1) M XEM over the six laundering amounts 9, 6, 5, 4.5,
    // 3 and 2 M XEM: 29,499,994 XEM, counted whole under poison.
    let x = &e.exits_at(zaif)[0];
    assert_eq!(
        (x.label.as_str(), x.amount, x.transfers),
        ("Zaif", 29_499_994 * XEM, 12)
    );
    let tx_ids: Vec<String> = want.iter().map(|w| w.0.clone()).collect();
    assert_eq!(x.path, tx_ids);

    let hops = exit_path(&e, x);
    assert_eq!(hops.len(), 4);
    for (k, (h, (f, w))) in hops.iter().zip(ZAIF_PATH.iter().zip(&want)).enumerate() {
        assert_eq!(h.unmatched, None, "step {}", k + 1);
        let m = h.movement.as_ref().unwrap();
        assert_eq!(
            (
                m.block,
                UtcTime(m.time).to_rfc3339(),
                m.tx.as_str(),
                m.from.as_str(),
                m.to.as_str(),
                m.asset.as_str(),
                m.value,
                m.taint,
                m.hop
            ),
            (
                f.height,
                f.time.to_owned(),
                w.0.as_str(),
                w.1.as_str(),
                w.2.as_str(),
                "nem:xem",
                f.xem * XEM,
                f.xem * XEM,
                k as u32 + 1
            ),
            "step {}",
            k + 1
        );
    }

    // (Amounts carry line-break hints after their separators.)
    let html = exit_report_html(&e, zaif).unwrap().replace("<wbr>", "");
    for (f, w) in ZAIF_PATH.iter().zip(&want) {
        assert!(html.contains(&w.0), "tx {}", w.0);
        assert!(html.contains(f.time));
        assert!(html.contains(&g(f.xem * XEM)));
    }
    assert_eq!(html.matches("<tr class=\"hop\">").count(), 4);
    assert!(!html.contains("not matched exactly"));
    assert!(html.contains("29,499,994,000,000"));
    assert!(html.contains("29,499,994 XEM"));
    // The label with its provenance and confidence.
    assert!(html.contains("<td>Zaif</td><td>exchange</td><td>symbol/product explorer known-accounts.json</td><td class=\"n\">80 / 100</td>"));
    // Every deposit: (60 %, 40 % − 1 XEM) of each laundering amount, in chain order.
    let deposits: Vec<u128> = evidence::deposits(&e, zaif)
        .iter()
        .map(|m| m.taint / XEM)
        .collect();
    assert_eq!(
        deposits,
        [
            5_400_000, 3_599_999, 3_600_000, 2_399_999, 3_000_000, 1_999_999, 2_700_000, 1_799_999,
            1_800_000, 1_199_999, 1_200_000, 799_999
        ]
    );
    assert_eq!(html.matches("<tr class=\"deposit\">").count(), 12);

    // No report for what is not an exit.
    assert!(exit_report_html(&e, &hackers[0]).is_none());
    assert!(exit_report_html(&e, "nonsense").is_none());
    assert!(Evidence::new(&index, "no-such-incident", PolicyName::Poison).is_none());
    assert!(Evidence::new(&index, INCIDENT, PolicyName::Haircut).is_none());
}

#[test]
fn coincheck_incident_report_and_exports_count_every_movement() {
    let dir = tempfile::tempdir().unwrap();
    let fx = coincheck_store(dir.path());
    let index = build(dir.path(), INCIDENT, vec![PolicyName::Poison], DUST);
    let e = Evidence::new(&index, INCIDENT, PolicyName::Poison).unwrap();

    // By hand from coincheck::build, poison with dust 1,000 XEM. Every transfer pays 0.05
    // XEM to the harvester (0.1 XEM with a message). Tainted deliveries:
    //  hot wallet: 11 theft transfers + 11 fees                        = 22
    //  NC4: 10 moves + 10 fees, 11 × 100 XEM spray + 14 spray fees     = 45
    //  hackers 1..6 → intermediaries + fees                            = 12
    //  hackers 7..9 → Binance, Kuna, YoBit + fees                      =  6
    //  intermediaries: 12 Zaif deposits + fees                         = 24
    // = 109: 26 held (theft 1..10, NC4's 10 moves, 6 to intermediaries), 15 exits, 68 dust
    // (theft 11 of 10 XEM, the 11 spray transfers, 56 fees).
    let r = &e.trace.result;
    assert_eq!(r.movements.len(), 109);
    let outcomes = |o: Outcome| r.movements.iter().filter(|m| m.outcome == o).count();
    assert_eq!(
        [
            outcomes(Outcome::Held),
            outcomes(Outcome::Exit),
            outcomes(Outcome::Dust)
        ],
        [26, 15, 68]
    );
    // Entered: 526,300,010 XEM stolen + 11 fees of 0.05 XEM. Exited: 29,499,994 (Zaif) +
    // 800,000 + 500,000 + 300,000. Dust: 10 + 1,100 XEM + fees (0.55 + 0.5 + 0.55 + 0.3 +
    // 0.3 + 0.15 + 0.6 = 2.95 XEM).
    let entered = 526_300_010 * XEM + 550_000;
    let exited = 31_099_994 * XEM;
    let dust = 1_110 * XEM + 2_950_000;
    assert_eq!(
        (r.summary.entered, r.summary.exited, r.summary.dust),
        (entered, exited, dust)
    );
    // 27 address rows: 17 holders (NC4, hackers 2..11, 6 intermediaries) and 10 with dust
    // only (the harvester and the 9 spray recipients).
    assert_eq!(r.addresses.len(), 27);
    assert_eq!(r.addresses.iter().filter(|a| a.taint > 0).count(), 17);

    let html = incident_report_html(&e).replace("<wbr>", "");
    for (k, v) in [("entered", entered), ("exited", exited), ("dust", dust)] {
        let row = html
            .lines()
            .find(|l| l.starts_with(&format!("<tr id=\"summary-{k}\">")))
            .unwrap();
        assert!(row.contains(&g(v)), "{row}");
    }
    assert!(html.contains("526,300,010.55 XEM"));
    assert!(html.contains("micro-XEM (nem:xem)"));
    assert_eq!(html.matches("<tr class=\"exit\">").count(), 4);
    for (name, xem) in [
        ("Zaif", 29_499_994),
        ("Binance", 800_000),
        ("Kuna", 500_000),
        ("YoBit", 300_000),
    ] {
        let row = html
            .lines()
            .find(|l| {
                l.starts_with("<tr class=\"exit\">") && l.contains(&format!("<td>{name}</td>"))
            })
            .unwrap();
        assert!(row.contains(&g(xem * XEM)), "{name}");
    }
    assert_eq!(html.matches("<tr class=\"holder\">").count(), 17);
    // Every exit's path is matched hop by hop: 4 steps to Zaif; 3 to the others (theft 1,
    // NC4's move to hacker 8/9/10, the deposit).
    assert_eq!(html.matches("<tr class=\"hop\">").count(), 4 + 3 * 3);
    assert!(!html.contains("not matched exactly"));
    assert!(html.contains(&index.chains[&Chain::Nem].data_sha256));
    assert!(html.contains(&e.trace.params.sha256()));
    assert!(html.contains(&fx.incident.description));

    // CSV: one row per movement, address and exit.
    let csv = export_csv(&e);
    let mut rd = csv::Reader::from_reader(csv.as_slice());
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>(),
        evidence::CSV_COLUMNS
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let kinds = |k: &str| rows.iter().filter(|r| &r[0] == k).count();
    assert_eq!(
        (
            rows.len(),
            kinds("movement"),
            kinds("address"),
            kinds("exit")
        ),
        (140, 109, 27, 4)
    );
    let zaif = coincheck::EXCHANGES[0].0;
    let z = rows
        .iter()
        .find(|r| &r[0] == "exit" && &r[5] == zaif)
        .unwrap();
    assert_eq!((&z[8], &z[11], &z[16]), ("29499994000000", "Zaif", "12"));
    let first = &rows[0];
    assert_eq!((&first[1], &first[2]), ("40", "2018-01-25T15:02:13Z"));

    // JSON: amounts as strings.
    let v: Value = serde_json::from_slice(&export_json(&e)).unwrap();
    let res = &v["result"];
    assert_eq!(
        (
            res["movements"].as_array().unwrap().len(),
            res["addresses"].as_array().unwrap().len(),
            res["exits"].as_array().unwrap().len()
        ),
        (109, 27, 4)
    );
    assert_eq!(res["summary"]["entered"], "526300010550000");
    assert_eq!(res["summary"]["exited"], "31099994000000");
    assert_eq!(v["params"]["dust"], "1000000000");
    assert_eq!(v["params"]["policy"], "poison");
    assert_eq!(
        v["chain_data"]["data_sha256"],
        index.chains[&Chain::Nem].data_sha256.as_str()
    );
    assert_eq!(v["chain_data"]["events"], 189);

    // GraphML: 32 nodes (hot wallet, NC4, 10 other hacker accounts, 6 intermediaries, 4
    // exchanges, the harvester, 9 spray recipients), 109 edges.
    let gm = parse_graphml(&export_graphml(&e));
    assert_eq!((gm.nodes.len(), gm.edges), (32, 109));
    let kind_count = |k: &str| gm.nodes.values().filter(|n| n["kind"] == k).count();
    assert_eq!(
        [
            kind_count("seed"),
            kind_count("holder"),
            kind_count("exit"),
            kind_count("dust"),
            kind_count("other")
        ],
        [1, 17, 4, 10, 0]
    );
    let zaif_node = gm.nodes.values().find(|n| n["address"] == zaif).unwrap();
    assert_eq!(
        (zaif_node["label"].as_str(), zaif_node["taint"].as_str()),
        ("Zaif", "29499994000000")
    );
}

struct Graphml {
    /// Node id → its data by attribute name.
    nodes: BTreeMap<String, BTreeMap<String, String>>,
    edges: usize,
}

/// Parses GraphML strictly: well-formed XML, every `data` key declared for its element,
/// every edge between declared nodes.
fn parse_graphml(bytes: &[u8]) -> Graphml {
    let text = std::str::from_utf8(bytes).unwrap();
    let mut r = quick_xml::Reader::from_str(text);
    r.config_mut().check_end_names = true;
    let mut keys: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut nodes: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut edge_ends: Vec<(String, String)> = Vec::new();
    // The node or edge being read (element, id), and the data key inside it.
    let mut current: Option<(String, String)> = None;
    let mut data: Option<(String, String)> = None;
    let mut roots = 0;
    let attr = |e: &quick_xml::events::BytesStart, k: &str| -> Option<String> {
        e.try_get_attribute(k)
            .unwrap()
            .map(|a| a.unescape_value().unwrap().into_owned())
    };
    let name_of = |n: quick_xml::name::QName| String::from_utf8(n.as_ref().to_vec()).unwrap();
    loop {
        match r.read_event().unwrap() {
            Event::Eof => break,
            Event::Start(e) | Event::Empty(e) => match name_of(e.name()).as_str() {
                "graphml" => roots += 1,
                "key" => {
                    keys.insert(
                        attr(&e, "id").unwrap(),
                        (attr(&e, "for").unwrap(), attr(&e, "attr.name").unwrap()),
                    );
                }
                "node" => {
                    let id = attr(&e, "id").unwrap();
                    assert!(
                        nodes.insert(id.clone(), BTreeMap::new()).is_none(),
                        "node {id} twice"
                    );
                    current = Some(("node".into(), id));
                }
                "edge" => {
                    edge_ends.push((attr(&e, "source").unwrap(), attr(&e, "target").unwrap()));
                    current = Some(("edge".into(), attr(&e, "id").unwrap()));
                }
                "data" => {
                    let k = attr(&e, "key").unwrap();
                    let (for_, _) = keys.get(&k).unwrap_or_else(|| panic!("undeclared key {k}"));
                    let owner = current.as_ref().map_or("graph", |c| c.0.as_str());
                    assert_eq!(for_, owner, "key {k}");
                    data = Some((k, String::new()));
                }
                _ => {}
            },
            Event::Text(t) => {
                if let Some((_, v)) = &mut data {
                    v.push_str(&t.decode().unwrap());
                }
            }
            Event::GeneralRef(x) => {
                let name = x.decode().unwrap();
                let raw = format!("&{name};");
                let c = quick_xml::escape::unescape(&raw).unwrap();
                data.as_mut()
                    .expect("a reference inside data")
                    .1
                    .push_str(&c);
            }
            Event::End(e) => match name_of(e.name()).as_str() {
                "data" => {
                    let (k, v) = data.take().unwrap();
                    if let Some(("node", id)) = current.as_ref().map(|(a, b)| (a.as_str(), b)) {
                        nodes.get_mut(id).unwrap().insert(keys[&k].1.clone(), v);
                    }
                }
                "node" | "edge" => current = None,
                _ => {}
            },
            _ => {}
        }
    }
    assert_eq!(roots, 1);
    for (s, t) in &edge_ends {
        assert!(
            nodes.contains_key(s) && nodes.contains_key(t),
            "edge {s} → {t}"
        );
    }
    Graphml {
        nodes,
        edges: edge_ends.len(),
    }
}

#[test]
fn a_seal_matches_its_store_and_names_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let fx = coincheck_store(dir.path());
    let zaif = coincheck::EXCHANGES[0].0;
    let index = build(dir.path(), INCIDENT, vec![PolicyName::Poison], DUST);
    let e = Evidence::new(&index, INCIDENT, PolicyName::Poison).unwrap();
    let report = incident_report_html(&e);
    let exit_report = exit_report_html(&e, zaif).unwrap();
    let seal = seal_of(&report).unwrap();
    let exit_seal = seal_of(&exit_report).unwrap();
    assert_eq!(seal.kind, ReportKind::Incident);
    assert_eq!(
        (exit_seal.kind, exit_seal.exit.as_deref()),
        (ReportKind::Exit, Some(zaif))
    );
    assert_eq!(seal.data_sha256, index.chains[&Chain::Nem].data_sha256);
    assert_eq!(seal.params, e.trace.params);
    assert_eq!(seal.params_sha256, e.trace.params.sha256());
    assert_eq!(seal.tool, evidence::TOOL);
    assert!(check(&seal, &e).is_empty());
    assert!(check(&exit_seal, &e).is_empty());
    assert!(check_document(&report).unwrap().is_empty());
    assert!(check_document(&exit_report).unwrap().is_empty());

    // Regenerated from the same store: the same data, parameters and result.
    let again = build(dir.path(), INCIDENT, vec![PolicyName::Poison], DUST);
    let e2 = Evidence::new(&again, INCIDENT, PolicyName::Poison).unwrap();
    assert!(check(&seal, &e2).is_empty(), "{:?}", check(&seal, &e2));
    assert!(check(&exit_seal, &e2).is_empty());
    let seal2 = seal_of(&incident_report_html(&e2)).unwrap();
    assert_eq!(
        (
            &seal2.data_sha256,
            &seal2.params_sha256,
            &seal2.result_sha256
        ),
        (&seal.data_sha256, &seal.params_sha256, &seal.result_sha256)
    );
    // Exports carry no time of writing: byte for byte the same.
    assert_eq!(export_json(&e), export_json(&e2));
    assert_eq!(export_csv(&e), export_csv(&e2));
    assert_eq!(export_graphml(&e), export_graphml(&e2));

    // Other limits: the parameters differ (dust), and so does the result.
    let dust0 = build(dir.path(), INCIDENT, vec![PolicyName::Poison], 0);
    let e0 = Evidence::new(&dust0, INCIDENT, PolicyName::Poison).unwrap();
    let m = check(&seal, &e0);
    assert!(
        m.iter().any(|l| l.starts_with("parameter dust differs")),
        "{m:?}"
    );
    assert!(!m.iter().any(|l| l.starts_with("chain data")));

    // An edited page no longer matches its document hash.
    let edited = report.replacen("<td>Zaif</td>", "<td>Zaif (edited)</td>", 1);
    assert_ne!(edited, report);
    let d = check_document(&edited).unwrap();
    assert_eq!(d.len(), 1);
    assert!(d[0].contains("changed after it was written"));

    // A new exit label: hacker account 11 (5 M XEM from NC4, never sent on) is named an
    // exchange. The stop set changes (5 → 6 exit labels) and with it the incident's
    // result: 5 exits, 36,099,994 XEM exited. The Zaif exit report asserts nothing that
    // changed: only its parameters differ.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    {
        let mut s = Store::open(dir.path()).unwrap();
        s.put_labels(&[Label {
            chain: Chain::Nem,
            address: fx.hackers[10].clone(),
            name: "Exchange X".into(),
            kind: LabelKind::Exchange,
            source: "test".into(),
            confidence: 50,
        }])
        .unwrap();
    }
    let labelled = build(dir.path(), INCIDENT, vec![PolicyName::Poison], DUST);
    let el = Evidence::new(&labelled, INCIDENT, PolicyName::Poison).unwrap();
    let m = check(&seal, &el);
    assert_eq!(m.len(), 3, "{m:#?}");
    assert!(m[0].starts_with("parameter stop_at differs: the report says 5, the store now gives 6"));
    assert!(m[1].starts_with("parameter stop_at_sha256 differs"));
    assert!(m[2].starts_with("result differs"));
    assert!(m[2].contains("exits 4 → 5"), "{}", m[2]);
    assert!(m[2].contains("exited 31,099,994,000,000 → 36,099,994,000,000"));
    let m = check(&exit_seal, &el);
    assert_eq!(m.len(), 2, "{m:#?}");
    assert!(m.iter().all(|l| l.starts_with("parameter stop_at")));

    // One more stored transfer (in a copy of the store): a spray recipient pays another
    // 1 XEM in a new block 97. The chain data differs (189 → 190 events), the incident
    // result too (its summary counts the events), the Zaif exit report's result not.
    {
        let mut s = Store::open(copy.path()).unwrap();
        let mut src = s
            .begin_source(
                Chain::Nem,
                SourceKey {
                    kind: "test".into(),
                    name: "one more transfer".into(),
                    fingerprint: [7; 16],
                },
            )
            .unwrap();
        src.push_transfer(
            0,
            &Transfer {
                time: UtcTime::parse("2018-03-01T00:00:00Z").unwrap(),
                block: 97,
                tx: "extra".into(),
                index: 0,
                from: fx.spray_recipients[0].clone(),
                to: fx.spray_recipients[1].clone(),
                asset: Asset::parse("nem:xem").unwrap(),
                amount: XEM,
            },
        )
        .unwrap();
        src.finish().unwrap();
    }
    let grown = build(copy.path(), INCIDENT, vec![PolicyName::Poison], DUST);
    let eg = Evidence::new(&grown, INCIDENT, PolicyName::Poison).unwrap();
    let m = check(&seal, &eg);
    assert_eq!(m.len(), 2, "{m:#?}");
    assert!(m[0].starts_with(
        "chain data differs: the report was computed from 189 nem events up to block 96"
    ));
    assert!(m[0].contains("the store now holds 190 nem events up to block 97"));
    assert!(m[1].starts_with("result differs") && m[1].contains("events 189 → 190"));
    let m = check(&exit_seal, &eg);
    assert_eq!(m.len(), 1, "{m:#?}");
    assert!(m[0].starts_with("chain data differs"));
}

/// The README's TxPhish row: 13 terminals; poison reaches 13, haircut 11. The exits and
/// amounts are the independent Python reference's (testdata/expected/).
#[test]
fn mftracer_txphish_report_lists_the_exits_the_reference_finds() {
    let dir = tempfile::tempdir().unwrap();
    let case_dir = root().join("data/eth-mftracer-cases/TxPhish");
    let case = ashiato_ingest::mftracer::read_case(&case_dir).unwrap();
    {
        let mut s = Store::open(dir.path()).unwrap();
        let mut src = s
            .begin_source(
                Chain::Ethereum,
                SourceKey {
                    kind: "mftracer".into(),
                    name: "TxPhish".into(),
                    fingerprint: [1; 16],
                },
            )
            .unwrap();
        for (row, t) in case.transfers.iter().enumerate() {
            src.push_transfer(row as u64, t).unwrap();
        }
        src.finish().unwrap();
        s.put_labels(&case.labels).unwrap();
        s.put_incident(&case.incident).unwrap();
    }
    let index = build(
        dir.path(),
        "TxPhish",
        vec![PolicyName::Haircut, PolicyName::Poison],
        0,
    );
    for (policy, readme) in [(PolicyName::Haircut, 11), (PolicyName::Poison, 13)] {
        let e = Evidence::new(&index, "TxPhish", policy).unwrap();
        let page = incident_report_html(&e);
        let html = page.replace("<wbr>", "");
        let file = root().join(format!("testdata/expected/mftracer-TxPhish-{policy}.json"));
        let v: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let want = v["expected"]["exits"].as_array().unwrap();
        assert_eq!(want.len(), readme, "{policy}");
        assert_eq!(
            html.matches("<tr class=\"exit\">").count(),
            readme,
            "{policy}"
        );
        assert!(html.contains("US cents (USD)"));
        let rows: Vec<&str> = html
            .lines()
            .filter(|l| l.starts_with("<tr class=\"exit\">"))
            .collect();
        for x in want {
            let addr = x["address"].as_str().unwrap();
            let amount: u128 = x["amount"].to_string().parse().unwrap();
            let row = rows
                .iter()
                .find(|r| r.contains(&format!(">{addr}<")))
                .unwrap_or_else(|| panic!("{policy}: exit {addr} not in the report"));
            assert!(row.contains(&g(amount)), "{policy} {addr}: {row}");
            assert!(
                row.contains(&format!("<td class=\"n\">{}</td>", x["transfers"])),
                "{policy} {addr}"
            );
        }
        let entered: u128 = v["expected"]["summary"]["entered"]
            .to_string()
            .parse()
            .unwrap();
        assert!(html.contains(&g(entered)));
        let seal = seal_of(&page).unwrap();
        assert!(check(&seal, &e).is_empty());
        assert!(check_document(&page).unwrap().is_empty());
    }
}

/// A tiny hand-made chain: the seed S pays H1 100 (t1); H1 pays `<b>H2</b>` twice in one
/// transaction (t2: 30 and 31); `<b>H2</b>` pays the exit X 50 (t3). The step through t2
/// has two equally fitting movements, so the report says so instead of choosing; every
/// outside string is escaped.
#[test]
fn outside_text_is_escaped_and_an_ambiguous_hop_is_said_so() {
    let dir = tempfile::tempdir().unwrap();
    let evil_label = "Evil <script>alert(\"x\")</script> & Co";
    let evil_incident = "evil</script><b>";
    let a = |s: &str| Address::parse(Chain::Generic, s).unwrap();
    let t = |block: u64, tx: &str, index: u32, from: &str, to: &str, amount: u128| Transfer {
        time: UtcTime(1_600_000_000 + block as i64 * 60),
        block,
        tx: tx.into(),
        index,
        from: a(from),
        to: a(to),
        asset: Asset::parse("UNIT").unwrap(),
        amount,
    };
    {
        let mut s = Store::open(dir.path()).unwrap();
        let mut src = s
            .begin_source(
                Chain::Generic,
                SourceKey {
                    kind: "test".into(),
                    name: "tiny".into(),
                    fingerprint: [2; 16],
                },
            )
            .unwrap();
        for (row, tr) in [
            t(1, "t1", 0, "S", "H1", 100),
            t(2, "t2", 0, "H1", "<b>H2</b>", 30),
            t(2, "t2", 1, "H1", "<b>H2</b>", 31),
            t(3, "t3", 0, "<b>H2</b>", "X", 50),
        ]
        .iter()
        .enumerate()
        {
            src.push_transfer(row as u64, tr).unwrap();
        }
        src.finish().unwrap();
        s.put_labels(&[Label {
            chain: Chain::Generic,
            address: a("X"),
            name: evil_label.into(),
            kind: LabelKind::Exchange,
            source: "<img src=x onerror=alert(1)>".into(),
            confidence: 70,
        }])
        .unwrap();
        s.put_incident(&Incident {
            name: evil_incident.into(),
            chain: Chain::Generic,
            seeds: vec![a("S")],
            seed_txs: Vec::new(),
            since: None,
            description: "<iframe src=\"http://example.com/\"></iframe>".into(),
            source: "a 'test' & more".into(),
        })
        .unwrap();
    }
    let index = build(dir.path(), evil_incident, vec![PolicyName::Haircut], 0);
    let e = Evidence::new(&index, evil_incident, PolicyName::Haircut).unwrap();
    let x = &e.trace.result.exits[0];
    assert_eq!(
        (x.amount, x.path.clone()),
        (50, vec!["t1".into(), "t2".into(), "t3".into()])
    );
    let hops = exit_path(&e, x);
    assert_eq!(hops.len(), 3);
    let m0 = hops[0].movement.as_ref().unwrap();
    assert_eq!(
        (m0.from.as_str(), m0.to.as_str(), m0.value),
        ("S", "H1", 100)
    );
    assert!(hops[1].movement.is_none());
    assert!(hops[1]
        .unmatched
        .as_deref()
        .unwrap()
        .starts_with("2 movements of this transaction fit equally"));
    let m2 = hops[2].movement.as_ref().unwrap();
    assert_eq!(
        (m2.from.as_str(), m2.to.as_str(), m2.taint),
        ("<b>H2</b>", "X", 50)
    );

    for html in [incident_report_html(&e), exit_report_html(&e, "X").unwrap()] {
        assert_eq!(html.matches("<script").count(), 1, "only the seal");
        assert_eq!(html.matches("</script>").count(), 1);
        for raw in ["<b>H2", "<iframe", "<img", "alert(\"x\")", "</script><b>"] {
            assert!(!html.contains(raw), "{raw} unescaped");
        }
        assert!(html.contains("Evil &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co"));
        assert!(html.contains("&lt;b&gt;H2&lt;/b&gt;"));
        assert!(html.contains("not matched exactly: 2 movements"));
        let seal = seal_of(&html).unwrap();
        assert_eq!(seal.params.incident, evil_incident);
        assert!(check(&seal, &e).is_empty());
        assert!(check_document(&html).unwrap().is_empty());
    }
    assert!(exit_report_html(&e, "H1").is_none());

    let gm = parse_graphml(&export_graphml(&e));
    assert_eq!((gm.nodes.len(), gm.edges), (4, 4));
    let xn = gm.nodes.values().find(|n| n["address"] == "X").unwrap();
    assert_eq!(
        (xn["label"].as_str(), xn["kind"].as_str()),
        (evil_label, "exit")
    );
    assert!(gm.nodes.values().any(|n| n["address"] == "<b>H2</b>"));
    let csv = export_csv(&e);
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.as_slice())
        .records()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(rows.len(), 4 + 2 + 1, "4 movements, 2 holders, 1 exit");
    assert!(rows.iter().any(|r| &r[0] == "exit" && &r[11] == evil_label));
    let kinds: BTreeSet<&str> = rows.iter().map(|r| r.get(0).unwrap()).collect();
    assert_eq!(kinds, BTreeSet::from(["address", "exit", "movement"]));
}
