//! The Rust walker against the independent Python reference (tools/reference_trace.py),
//! on the bundled real data: 77 traces (4 MFTracer cases and Bitcoin 2009, all seven
//! policies, with hop, dust and time limits) must agree to the unit on every address's
//! taint, holding and dust, every exit, and every summary total.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use ashiato::{load, InputFormat};
use ashiato_model::{Address, Chain};
use ashiato_trace::{PolicyName, TraceResult, TraceSpec};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

type Rows = BTreeMap<(String, String), (u128, Option<u128>, u128)>;
type Exits = BTreeMap<(String, String), (u128, u64)>;

fn int(v: &Value) -> u128 {
    v.to_string().parse().expect("integer")
}

fn expected(v: &Value) -> (Rows, Exits, BTreeMap<String, u128>) {
    let rows = v["addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let key = (
                a["address"].as_str().unwrap().to_owned(),
                a["asset"].as_str().unwrap().to_owned(),
            );
            (
                key,
                (int(&a["taint"]), a.get("holding").map(int), int(&a["dust"])),
            )
        })
        .collect();
    let exits = v["exits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let key = (
                e["address"].as_str().unwrap().to_owned(),
                e["asset"].as_str().unwrap().to_owned(),
            );
            (key, (int(&e["amount"]), e["transfers"].as_u64().unwrap()))
        })
        .collect();
    let summary = v["summary"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, x)| (k.clone(), int(x)))
        .collect();
    (rows, exits, summary)
}

fn actual(r: &TraceResult) -> (Rows, Exits, BTreeMap<String, u128>) {
    let rows = r
        .addresses
        .iter()
        .map(|a| {
            (
                (a.address.clone(), a.asset.clone()),
                (a.taint, a.holding, a.dust),
            )
        })
        .collect();
    let exits = r
        .exits
        .iter()
        .map(|e| {
            (
                (e.address.clone(), e.asset.clone()),
                (e.amount, e.transfers as u64),
            )
        })
        .collect();
    (
        rows,
        exits,
        summary(&serde_json::to_value(&r.summary).unwrap()),
    )
}

fn summary(s: &Value) -> BTreeMap<String, u128> {
    s.as_object()
        .unwrap()
        .iter()
        .map(|(k, x)| (k.clone(), int(x)))
        .collect()
}

#[test]
fn rust_walker_agrees_with_the_independent_reference() {
    let dir = root().join("testdata/expected");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 77, "fixtures in {}", dir.display());
    let mut inputs: HashMap<String, load::Loaded> = HashMap::new();
    for f in &files {
        let v: Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
        let input = v["input"].as_str().unwrap().to_owned();
        let loaded = inputs.entry(input.clone()).or_insert_with(|| {
            load::load_input(&root().join(&input), InputFormat::Auto, Chain::Generic).unwrap()
        });
        let chain = loaded.graph.chain;
        let list = |k: &str| -> Vec<String> {
            v.get(k)
                .and_then(|x| x.as_array())
                .map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect())
                .unwrap_or_default()
        };
        let spec = TraceSpec {
            seeds: list("seeds")
                .iter()
                .map(|s| Address::parse(chain, s).unwrap())
                .collect(),
            seed_txs: list("seed_txs"),
            since: v.get("since").and_then(|x| x.as_i64()),
            until: v.get("until").and_then(|x| x.as_i64()),
            max_hops: v.get("max_hops").and_then(|x| x.as_u64()).map(|x| x as u32),
            dust: v.get("dust").map_or(0, int),
            stop_at: loaded
                .labels
                .iter()
                .filter(|l| l.kind.is_exit())
                .map(|l| (l.address.clone(), l.name.clone()))
                .collect(),
            ..TraceSpec::default()
        };
        let policy: PolicyName = v["policy"].as_str().unwrap().parse().unwrap();
        let got = actual(&ashiato_trace::trace(&loaded.graph, &spec, policy).unwrap());
        let want = expected(&v["expected"]);
        let name = f.file_name().unwrap().to_string_lossy();
        assert_eq!(got.2, want.2, "{name}: summary");
        assert_eq!(got.1, want.1, "{name}: exits");
        assert_eq!(got.0, want.0, "{name}: addresses");
    }
}
