//! Real Ethereum mainnet JSON-RPC answers recorded by ethereum-etl's test suite (MIT,
//! tests/data/etl/LICENSE.upstream), checked against the values ethereum-etl itself
//! exported from them (its expected_*.csv/json files) and against hand-computed fees.

use std::fs;
use std::path::{Path, PathBuf};

use ashiato_eth::convert::{EthBlock, Internal, Tally, Traces};
use ashiato_eth::header::check_hash;
use ashiato_eth::json::{Block, GethTxTrace, ParityTrace, Receipt, Tx, H256};
use serde::de::DeserializeOwned;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/etl")
}

/// The `result` of a recorded JSON-RPC answer.
fn result<T: DeserializeOwned>(name: &str) -> T {
    let text = fs::read_to_string(dir().join(name)).unwrap();
    let mut v: serde_json::Value = serde_json::Deserializer::from_str(&text)
        .into_iter()
        .next()
        .unwrap()
        .unwrap();
    serde_json::from_value(v["result"].take()).unwrap()
}

fn receipts_for(b: &Block) -> Vec<Receipt> {
    b.transactions
        .iter()
        .map(|t| result(&format!("receipt_{}.json", t.hash)))
        .collect()
}

#[test]
fn every_recorded_header_hashes_to_its_block_hash() {
    for f in [
        "block_0x0.json",
        "block_0xb872.json",
        "block_0xb873.json",
        "block_0x76250.json",
        "block_0x1ac9f2.json",
        "block_0x1ac9f3.json",
    ] {
        let b: Block = result(f);
        check_hash(&b).unwrap_or_else(|e| panic!("{f}: {e}"));
        // One changed field (a second later) and the hash no longer matches.
        let mut t = b.clone();
        t.timestamp.0 += 1;
        assert!(check_hash(&t).is_err(), "{f}");
        let mut t = b.clone();
        t.miner.0[19] ^= 1;
        assert!(check_hash(&t).is_err(), "{f}");
    }
    for f in ["header_0x203aea.json", "header_0x7c0ce.json"] {
        let b: Block<H256> = result(f);
        check_hash(&b).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}

fn row(t: &ashiato_model::Transfer) -> (String, u32, String, String, String, u128) {
    (
        t.tx[..10].to_owned(),
        t.index,
        t.from.to_string(),
        t.to.to_string(),
        t.asset.to_string(),
        t.amount,
    )
}

/// Block 483,920 (2015): two token transfers and two plain payments, 50 gwei each,
/// no base fee (before London): the whole fee goes to the miner.
#[test]
fn block_483920_becomes_exactly_these_transfers() {
    let b: Block = result("block_0x76250.json");
    let receipts = receipts_for(&b);
    let eb = EthBlock::new(b, receipts, None, true).unwrap();
    let mut tally = Tally::default();
    let got: Vec<_> = eb.transfers(&mut tally).unwrap();
    assert!(got
        .iter()
        .all(|t| t.block == 483_920 && t.time.0 == 1_446_561_880));
    let miner = "0x52bc44d5378309ee2abf1539bf71de1b7d7be3b5";
    let token = "erc20:0xf4eced2f682ce333f96f2d8966c613ded8fc95dd";
    let r = |tx: &str, i, f: &str, t: &str, a: &str, v| {
        (
            tx.to_owned(),
            i,
            f.to_owned(),
            t.to_owned(),
            a.to_owned(),
            v,
        )
    };
    let want = vec![
        r(
            "0x04cbcb23",
            0,
            "0x1b63142628311395ceafeea5667e7c9026c862ca",
            "0xac4df82fe37ea2187bc8c011a23d743b4f39019a",
            token,
            100_000,
        ),
        // fee: 50,853 gas × 50 gwei
        r(
            "0x04cbcb23",
            1,
            "0x1b63142628311395ceafeea5667e7c9026c862ca",
            miner,
            "ETH",
            2_542_650_000_000_000,
        ),
        r(
            "0xcea6f897",
            0,
            "0x9b22a80d5c7b3374a05b446081f97d0a34079e7f",
            "0x66f183060253cfbe45beff1e6e7ebbe318c81e56",
            token,
            200_000,
        ),
        r(
            "0xcea6f897",
            1,
            "0x9b22a80d5c7b3374a05b446081f97d0a34079e7f",
            miner,
            "ETH",
            2_542_650_000_000_000,
        ),
        r(
            "0x463d53f0",
            0,
            "0x9df428a91ff0f3635c8f0ce752933b9788926804",
            "0x9e669f970ec0f49bb735f20799a7e7c4a1c274e2",
            "ETH",
            11_000_440_000_000_000,
        ),
        // fee: 21,000 gas × 50 gwei
        r(
            "0x463d53f0",
            1,
            "0x9df428a91ff0f3635c8f0ce752933b9788926804",
            miner,
            "ETH",
            1_050_000_000_000_000,
        ),
        r(
            "0x05287a56",
            0,
            "0x2a65aca4d5fc5b5c859090a6c34d164135398226",
            "0x743b8aeedc163c0e3a0fe9f3910d146c48e70da8",
            "ETH",
            1_530_219_620_000_000_000,
        ),
        r(
            "0x05287a56",
            1,
            "0x2a65aca4d5fc5b5c859090a6c34d164135398226",
            miner,
            "ETH",
            1_050_000_000_000_000,
        ),
    ];
    assert_eq!(got.iter().map(row).collect::<Vec<_>>(), want);
    assert_eq!(
        (tally.txs, tally.native, tally.erc20, tally.fees),
        (4, 2, 2, 4)
    );

    // ethereum-etl's own export of the same block agrees on every token transfer and
    // every transaction's value.
    let mut rd =
        csv::Reader::from_path(dir().join("expected_token_transfers_0x76250.csv")).unwrap();
    for rec in rd.records() {
        let rec = rec.unwrap();
        let asset = format!("erc20:{}", &rec[0]);
        assert!(
            got.iter().any(|t| t.asset.as_str() == asset
                && t.from.as_str() == &rec[1]
                && t.to.as_str() == &rec[2]
                && t.amount.to_string() == rec[3]
                && t.tx == rec[4]),
            "{rec:?}"
        );
    }
    let mut rd = csv::Reader::from_path(dir().join("expected_transactions_0x76250.csv")).unwrap();
    for rec in rd.records() {
        let rec = rec.unwrap();
        let native: u128 = got
            .iter()
            .filter(|t| t.tx == rec[0] && t.index == 0 && t.asset.as_str() == "ETH")
            .map(|t| t.amount)
            .sum();
        assert_eq!(native.to_string(), &rec[7], "{}", &rec[0]);
    }
}

/// Block 1,755,635 (June 2016): a DAO-token transfer (the receipt has two logs, one of
/// them a Transfer) and a payment, at 20 gwei.
#[test]
fn block_1755635_matches_ethereum_etl_and_the_fees_by_hand() {
    let b: Block = result("block_0x1ac9f3.json");
    let receipts = receipts_for(&b);
    let eb = EthBlock::new(b, receipts, None, true).unwrap();
    let got = eb.transfers(&mut Tally::default()).unwrap();
    let text =
        fs::read_to_string(dir().join("expected_token_transfers_1755634_1755635.jsonl")).unwrap();
    let expected: Vec<serde_json::Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tokens: Vec<_> = got.iter().filter(|t| t.asset.as_str() != "ETH").collect();
    assert_eq!(tokens.len(), expected.len());
    for (t, e) in tokens.iter().zip(&expected) {
        assert_eq!(
            t.asset.as_str(),
            format!("erc20:{}", e["token_address"].as_str().unwrap())
        );
        assert_eq!(t.from.as_str(), e["from_address"].as_str().unwrap());
        assert_eq!(t.to.as_str(), e["to_address"].as_str().unwrap());
        assert_eq!(t.amount.to_string(), e["value"].to_string());
        assert_eq!(t.tx, e["transaction_hash"].as_str().unwrap());
    }
    let miner = "0xa027231f42c80ca4125b5cb962a21cd4f812e88f";
    let fees: Vec<u128> = got
        .iter()
        .filter(|t| t.to.as_str() == miner)
        .map(|t| t.amount)
        .collect();
    // 36,418 gas and 21,000 gas at 20 gwei.
    assert_eq!(fees, vec![728_360_000_000_000, 420_000_000_000_000]);
    let pay = got
        .iter()
        .find(|t| t.tx.starts_with("0x9a5437ec") && t.index == 0)
        .unwrap();
    assert_eq!(pay.amount, 405_738_107_000_000_000);
}

#[test]
fn a_node_that_mixes_up_receipts_or_logs_is_caught() {
    let b: Block = result("block_0x76250.json");
    let mut receipts = receipts_for(&b);
    receipts.swap(1, 2);
    let e = EthBlock::new(b.clone(), receipts, None, true).unwrap_err();
    assert!(e.contains("receipt 1 is for"), "{e}");
    let mut receipts = receipts_for(&b);
    receipts.pop();
    let e = EthBlock::new(b.clone(), receipts, None, true).unwrap_err();
    assert!(e.contains("4 transactions but 3 receipts"), "{e}");
    let mut receipts = receipts_for(&b);
    receipts[0].logs[0].block_hash = Some(ashiato_eth::json::Fixed([7; 32]));
    let e = EthBlock::new(b.clone(), receipts, None, true).unwrap_err();
    assert!(e.contains("a log of 0x04cbcb23"), "{e}");
    let mut tampered = b.clone();
    tampered.transactions[2].value.0 += 1; // not covered by the header hash...
    tampered.gas_used.0 += 1; // ...but this is
    let e = EthBlock::new(tampered, receipts_for(&b), None, true).unwrap_err();
    assert!(e.contains("hash to 0x"), "{e}");
}

/// The top-level transactions of a `trace_block` answer (what a block would list).
fn txs_of(parity: &[ParityTrace]) -> Vec<Tx> {
    let mut txs: Vec<Tx> = Vec::new();
    for t in parity.iter().filter(|t| t.trace_address.is_empty()) {
        let Some(pos) = t.transaction_position else {
            continue;
        };
        assert_eq!(pos as usize, txs.len());
        let to = t.action.to.or(t.result.as_ref().and_then(|r| r.address));
        txs.push(
            serde_json::from_value(serde_json::json!({
                "hash": t.transaction_hash.unwrap().to_string(),
                "from": t.action.from.unwrap().to_string(),
                "to": to.map(|a| a.to_string()),
                "value": format!("{:#x}", t.action.value.unwrap().0),
            }))
            .unwrap(),
        );
    }
    txs
}

/// geth's call tracer and Parity's `trace_block` give the same internal transfers for the
/// same four real blocks (sub-calls, a self-destruct, a contract creation, a failed
/// call), and both equal ethereum-etl's export filtered to value-moving, successful,
/// nested frames.
#[test]
fn geth_and_parity_traces_agree_with_ethereum_etl() {
    let mut seen = 0;
    for k in ["subtraces", "suicide", "create", "error"] {
        let parity: Vec<ParityTrace> = result(&format!("parity_block_with_{k}.json"));
        let geth: Vec<GethTxTrace> = result(&format!("geth_block_with_{k}.json"));
        let txs = txs_of(&parity);
        let (from_parity, _) = Traces::Parity(parity).internals(0, &txs).unwrap();
        let (from_geth, _) = Traces::Geth(geth).internals(0, &txs).unwrap();
        if k == "suicide" {
            // Recorded from geth before 1.11, whose SELFDESTRUCT frames name no heir or
            // value: only the Parity trace can give that movement.
            assert!(from_geth.iter().all(Vec::is_empty));
        } else {
            assert_eq!(from_parity, from_geth, "{k}");
        }
        let mut rd =
            csv::Reader::from_path(dir().join(format!("expected_traces_block_with_{k}.csv")))
                .unwrap();
        let mut want: Vec<Vec<Internal>> = vec![Vec::new(); txs.len()];
        for rec in rd.deserialize::<std::collections::HashMap<String, String>>() {
            let r = rec.unwrap();
            let value: u128 = r["value"].parse().unwrap_or(0);
            let moves = r["trace_type"] == "create"
                || r["trace_type"] == "suicide"
                || (r["trace_type"] == "call" && r["call_type"] == "call");
            if r["trace_address"].is_empty()
                || value == 0
                || r["status"] != "1"
                || !moves
                || r["from_address"] == r["to_address"]
            {
                continue;
            }
            let i: usize = r["transaction_index"].parse().unwrap();
            want[i].push(Internal {
                from: serde_json::from_value(serde_json::json!(r["from_address"])).unwrap(),
                to: serde_json::from_value(serde_json::json!(r["to_address"])).unwrap(),
                value,
            });
        }
        assert_eq!(from_parity, want, "{k}");
        seen += want.iter().map(Vec::len).sum::<usize>();
    }
    // Block 1,011,973's self-destruct sends 0.05 ETH to its heir; block 1,000,000's
    // sub-call is a CALLCODE (no movement between accounts).
    assert_eq!(seen, 1);
}
