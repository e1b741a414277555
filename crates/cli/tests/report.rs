//! `ashiato report` and `ashiato report verify` as a process: evidence reports and exports
//! of the Coincheck fixture and an MFTracer case, and the check of a report against a store
//! that changed. Expected values are derived by hand (crates/nem/src/coincheck.rs) or taken
//! from the independent reference traces (testdata/expected/).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ashiato::coincheck::{run_case, DEFAULT_DUST};
use ashiato_nem::coincheck::{self, Fixture};
use ashiato_store::Store;
use serde_json::Value;

const INCIDENT: &str = "coincheck-2018";
/// 1,000 XEM in micro-XEM: the case's dust line.
const DUST: &str = "1000000000";

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ashiato"))
}

fn repo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

fn out_text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

fn ok(args: &[&str]) -> Output {
    let o = bin().args(args).output().expect("binary runs");
    let (so, se) = out_text(&o);
    assert!(o.status.success(), "ashiato {args:?} failed:\n{so}\n{se}");
    o
}

fn fails(args: &[&str]) -> (String, String) {
    let o = bin().args(args).output().expect("binary runs");
    let (so, se) = out_text(&o);
    assert!(
        !o.status.success(),
        "ashiato {args:?} should fail:\n{so}\n{se}"
    );
    (so, se)
}

/// The store of `ashiato demo --case coincheck`.
fn coincheck_store(dir: &Path) -> Fixture {
    let mut store = Store::open(dir).unwrap();
    run_case(&mut store, DEFAULT_DUST).unwrap().fixture
}

fn chromium_here() -> bool {
    Path::new("/usr/bin/chromium").is_file()
        || std::env::var_os("PATH").is_some_and(|p| {
            std::env::split_paths(&p)
                .any(|d| d.join("chromium").is_file() || d.join("chromium-browser").is_file())
        })
}

#[test]
fn coincheck_reports_verify_and_fail_once_the_store_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let fx = coincheck_store(&store);
    let s = store.to_str().unwrap();
    let zaif = coincheck::EXCHANGES[0].0;
    let file = |n: &str| dir.path().join(n).to_str().unwrap().to_owned();
    let base = [
        "report",
        "--store",
        s,
        "--incident",
        INCIDENT,
        "--policy",
        "poison",
        "--dust",
        DUST,
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        base.iter()
            .chain(extra)
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
    };
    let run = |extra: &[&str]| {
        let args = with(extra);
        ok(&args.iter().map(String::as_str).collect::<Vec<_>>())
    };

    let inc = file("incident.html");
    let ex = file("zaif.html");
    let o = run(&["--format", "html", "--out", &inc]);
    assert!(out_text(&o).0.starts_with(&format!("wrote {inc}")));
    run(&["--exit", zaif, "--out", &ex]);
    let html = std::fs::read_to_string(&ex).unwrap();
    assert!(html.contains("id=\"ashiato-seal\""));
    assert!(html.replace("<wbr>", "").contains("29,499,994,000,000"));
    for f in [&inc, &ex] {
        let o = ok(&["report", "verify", f, "--store", s]);
        assert!(
            out_text(&o).0.starts_with("report matches the store"),
            "{}",
            out_text(&o).0
        );
    }

    // Exports, counted by hand from the fixture (poison, dust 1,000 XEM): 109 tainted
    // movements (22 from the hot wallet, 45 from NC4, 12 + 6 from the hacker accounts, 24
    // from the intermediaries, fees included), 27 addresses (17 holders, the harvester
    // and 9 spray recipients with dust only), 4 exits; 32 addresses in the graph.
    let csv = run(&["--format", "csv"]).stdout;
    let mut rd = csv::Reader::from_reader(csv.as_slice());
    let rows: Vec<csv::StringRecord> = rd.records().map(|r| r.unwrap()).collect();
    let kind = |k: &str| rows.iter().filter(|r| &r[0] == k).count();
    assert_eq!(
        (rows.len(), kind("movement"), kind("address"), kind("exit")),
        (140, 109, 27, 4)
    );
    let v: Value = serde_json::from_slice(&run(&["--format", "json"]).stdout).unwrap();
    let len = |k: &str| v["result"][k].as_array().unwrap().len();
    assert_eq!(
        (len("movements"), len("addresses"), len("exits")),
        (109, 27, 4)
    );
    assert_eq!(v["result"]["summary"]["exited"], "31099994000000");
    let gpath = file("trace.graphml");
    run(&["--format", "graphml", "--out", &gpath]);
    let gm = std::fs::read_to_string(&gpath).unwrap();
    assert!(gm.starts_with("<?xml") && gm.trim_end().ends_with("</graphml>"));
    assert_eq!(
        (
            gm.matches("<node id=").count(),
            gm.matches("<edge id=").count()
        ),
        (32, 109)
    );

    // PDF through headless Chromium, its seal beside it.
    let pdf = file("zaif.pdf");
    if chromium_here() {
        let o = run(&["--exit", zaif, "--format", "pdf", "--out", &pdf]);
        assert!(out_text(&o).0.contains("zaif.pdf.seal.json"));
        let bytes = std::fs::read(&pdf).unwrap();
        assert!(bytes.starts_with(b"%PDF-"));
        let o = ok(&[
            "report",
            "verify",
            &format!("{pdf}.seal.json"),
            "--store",
            s,
        ]);
        assert!(out_text(&o).0.starts_with("report matches the store"));
        let copy = file("copy.pdf");
        std::fs::copy(&pdf, &copy).unwrap();
        std::fs::copy(format!("{pdf}.seal.json"), format!("{copy}.seal.json")).unwrap();
        std::fs::write(&copy, [bytes.as_slice(), b"%"].concat()).unwrap();
        let (so, _) = fails(&[
            "report",
            "verify",
            &format!("{copy}.seal.json"),
            "--store",
            s,
        ]);
        assert!(
            so.contains("copy.pdf was changed after it was written"),
            "{so}"
        );
    } else {
        let args = with(&["--exit", zaif, "--format", "pdf", "--out", &pdf]);
        let (_, err) = fails(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(err.contains("needs Chromium"), "{err}");
    }

    // Hacker account 11 (5 M XEM from NC4, never sent on) becomes a labelled exchange: the
    // stop set grows from 5 to 6 labels, the incident's result changes (a fifth exit);
    // the Zaif report's assertions do not, only its parameters.
    let labels = file("labels.csv");
    std::fs::write(
        &labels,
        format!(
            "address,name,kind,source,confidence\n{},Exchange X,exchange,test,50\n",
            fx.hackers[10]
        ),
    )
    .unwrap();
    ok(&[
        "labels", "--store", s, "--import", &labels, "--chain", "nem",
    ]);
    let (so, se) = fails(&["report", "verify", &inc, "--store", s]);
    assert!(so.contains("report does NOT match the store"), "{so}");
    assert!(so.contains("- parameter stop_at differs: the report says 5, the store now gives 6"));
    assert!(
        so.contains("- result differs") && so.contains("exits 4 → 5"),
        "{so}"
    );
    assert!(se.contains("does not match the store"), "{se}");
    let (so, _) = fails(&["report", "verify", &ex, "--store", s]);
    assert!(
        so.contains("parameter stop_at differs") && !so.contains("result differs"),
        "{so}"
    );

    // One more stored transfer (block 97): the chain data differs.
    let extra = file("extra.csv");
    std::fs::write(
        &extra,
        format!(
            "time,block,tx,from,to,asset,amount\n2018-03-01T00:00:00Z,97,extra-1,{},{},nem:xem,1000000\n",
            fx.spray_recipients[0], fx.spray_recipients[1]
        ),
    )
    .unwrap();
    ok(&["ingest", "--store", s, "--chain", "nem", &extra]);
    let (so, _) = fails(&["report", "verify", &ex, "--store", s]);
    assert!(
        so.contains(
            "- chain data differs: the report was computed from 189 nem events up to block 96"
        ),
        "{so}"
    );
    assert!(so.contains("190 nem events up to block 97"));

    // An edited report fails even against an unchanged store's data.
    let edited = file("edited.html");
    std::fs::write(
        &edited,
        html.replacen("<td>Zaif</td>", "<td>Someone else</td>", 1),
    )
    .unwrap();
    let (so, _) = fails(&["report", "verify", &edited, "--store", s]);
    assert!(
        so.contains("the document was changed after it was written"),
        "{so}"
    );
}

#[test]
fn report_arguments_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let fx = coincheck_store(&store);
    let s = store.to_str().unwrap();
    let nc4 = fx.hackers[0].to_string();
    let (_, err) = fails(&[
        "report",
        "--store",
        s,
        "--incident",
        INCIDENT,
        "--exit",
        &nc4,
    ]);
    assert!(
        err.contains("is not an exit of incident coincheck-2018 under haircut"),
        "{err}"
    );
    assert!(err.contains("(Zaif)"), "the exits are listed: {err}");
    let (_, err) = fails(&["report", "--store", s, "--incident", "nope"]);
    assert!(err.contains("no incident named \"nope\""), "{err}");
    let (_, err) = fails(&["report", "--incident", INCIDENT]);
    assert!(err.contains("--store"), "{err}");
    let (_, err) = fails(&[
        "report",
        "--store",
        s,
        "--incident",
        INCIDENT,
        "--exit",
        &nc4,
        "--format",
        "csv",
    ]);
    assert!(err.contains("--exit"), "{err}");
    let (_, err) = fails(&["report", "verify", "/nonexistent/report.html", "--store", s]);
    assert!(err.contains("/nonexistent/report.html"), "{err}");
    let not_a_report = dir.path().join("plain.html");
    std::fs::write(&not_a_report, "<html><body>hello</body></html>").unwrap();
    let (_, err) = fails(&[
        "report",
        "verify",
        not_a_report.to_str().unwrap(),
        "--store",
        s,
    ]);
    assert!(err.contains("not an Ashiato evidence report"), "{err}");
}

/// TxPhish under haircut: the README's 11 exits; the other counts from the independent
/// reference (testdata/expected/mftracer-TxPhish-haircut.json): on an account chain every
/// tainted event is one tainted movement, so the CSV has `tainted_events` movement rows,
/// one row per reference address and per exit; the graph has the 2 seeds, those addresses
/// and the exits as nodes (no dust, nothing returned to a seed in this trace).
#[test]
fn mftracer_txphish_exports_have_the_reference_counts() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let s = store.to_str().unwrap();
    let case = repo("data/eth-mftracer-cases/TxPhish");
    ok(&["ingest", "--store", s, case.to_str().unwrap()]);
    let reference: Value = serde_json::from_slice(
        &std::fs::read(repo("testdata/expected/mftracer-TxPhish-haircut.json")).unwrap(),
    )
    .unwrap();
    let want = &reference["expected"];
    let tainted_events = want["summary"]["tainted_events"].as_u64().unwrap() as usize;
    let addresses = want["addresses"].as_array().unwrap().len();
    let exits = want["exits"].as_array().unwrap().len();
    assert_eq!(exits, 11, "the README's TxPhish haircut count");
    assert_eq!(
        (
            want["summary"]["dust"].as_u64(),
            want["summary"]["returned_to_seeds"].as_u64()
        ),
        (Some(0), Some(0))
    );
    let seeds = reference["seeds"].as_array().unwrap().len();
    assert_eq!(seeds, 2);

    let base = ["report", "--store", s, "--incident", "TxPhish"];
    let get = |format: &str| {
        let mut a = base.to_vec();
        a.extend(["--format", format]);
        ok(&a).stdout
    };
    let csv = get("csv");
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(csv.as_slice())
        .records()
        .map(|r| r.unwrap())
        .collect();
    let kind = |k: &str| rows.iter().filter(|r| &r[0] == k).count();
    assert_eq!(
        (kind("movement"), kind("address"), kind("exit")),
        (tainted_events, addresses, exits)
    );
    let v: Value = serde_json::from_slice(&get("json")).unwrap();
    assert_eq!(
        v["result"]["movements"].as_array().unwrap().len(),
        tainted_events
    );
    assert_eq!(
        v["result"]["summary"]["entered"],
        want["summary"]["entered"].to_string()
    );
    let gm = String::from_utf8(get("graphml")).unwrap();
    assert_eq!(
        (
            gm.matches("<node id=").count(),
            gm.matches("<edge id=").count()
        ),
        (seeds + addresses + exits, tainted_events)
    );
    let html = String::from_utf8(get("html")).unwrap();
    assert_eq!(html.matches("<tr class=\"exit\">").count(), exits);
    let f = dir.path().join("txphish.html");
    std::fs::write(&f, &html).unwrap();
    let o = ok(&["report", "verify", f.to_str().unwrap(), "--store", s]);
    assert!(out_text(&o).0.starts_with("report matches the store"));
}
