//! Taint on real 2009 Bitcoin transactions, computed by hand (GitHub issue 4).
//!
//! Every amount below is read from the real data, `data/btc-2009-full-year-taintedtx`: the
//! BlockSci export of all 2009 transactions used by TaintedTX (github.com/tintiron/taintedtx
//! commit 50b0052f, `sampledata/2009/`; MIT licence, Tin Tironsakkul 2021; see that folder's
//! `SOURCE.txt` and `LICENSE.upstream`). The whole year is loaded once (about 1.3 s in a debug
//! build) and each test traces a *restricted subgraph*: only the transactions worked here. Any
//! other coin a worked transaction spends is a coin created outside the subgraph and is clean,
//! which is also its state in the full graph (none of them descends from the seed).
//!
//! Each test first asserts the on-chain facts its hand computation starts from (txid, block,
//! inputs in serialised order with owner and value, outputs in order, fee), so a change in the
//! reader cannot silently change the question. The export's input order is the serialised
//! order: all 29 multi-input transactions of blocks 0..4312 were checked against the raw
//! blocks of `crates/btc/tests/data/blk00000_first1MB.dat` (same order, no exception).
//!
//! The arithmetic follows `shared/docs/taint-policies.md`, "UTXO model", exactly: inputs laid
//! end to end in serialised order; outputs cut in order with the fee slice last; haircut
//! `floor(w_j · T / V)` with the remainder `T − Σ` to the fee; TIHO pours `T` into outputs from
//! the highest value down; poison taints every output and the fee whole when `T > 0`. All
//! amounts are satoshi. A seed transaction's outputs are fully tainted and are hop 1; a seed
//! address's sends are fully tainted and what they reach is hop 1.

use std::path::Path;
use std::sync::OnceLock;

use ashiato_model::{Address, Amount, Chain, UtxoTx};
use ashiato_trace::{trace, AddressTaint, Graph, GraphBuilder, PolicyName, TraceResult, TraceSpec};

const BTC: &str = "BTC";
const COIN: Amount = 100_000_000;

fn year_2009() -> &'static [UtxoTx] {
    static TXS: OnceLock<Vec<UtxoTx>> = OnceLock::new();
    TXS.get_or_init(|| {
        let dir =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/btc-2009-full-year-taintedtx");
        ashiato_ingest::taintedtx::read_dir(&dir).expect("the 2009 export loads")
    })
}

/// The transaction and its place in chain order (the export's `tx_index`).
fn find(txid: &str) -> (usize, &'static UtxoTx) {
    year_2009()
        .iter()
        .enumerate()
        .find(|(_, t)| t.txid == txid)
        .unwrap_or_else(|| panic!("{txid} is not in the 2009 data"))
}

/// A graph of only these transactions, in their real chain order.
fn subgraph(txids: &[&str]) -> Graph {
    let mut b = GraphBuilder::new(Chain::Bitcoin);
    for id in txids {
        let (index, tx) = find(id);
        b.add_utxo_tx(tx.clone(), index as u64);
    }
    b.finish().unwrap()
}

fn owner(a: &Option<Address>) -> &str {
    a.as_ref().map_or("", |a| a.as_str())
}

/// An input as the hand computation uses it: (spent txid, vout, owner, value).
type In<'a> = (&'a str, u32, &'a str, Amount);

fn inputs_of(tx: &UtxoTx) -> Vec<In<'_>> {
    tx.inputs
        .iter()
        .map(|i| {
            (
                i.prev.txid.as_str(),
                i.prev.vout,
                owner(&i.address),
                i.value,
            )
        })
        .collect()
}

/// Asserts the facts a hand computation starts from: place in chain order, block, Σ inputs,
/// outputs in order, fee. Callers check the inputs themselves (`inputs_of`).
fn assert_tx(
    txid: &str,
    tx_index: usize,
    block: u64,
    in_sum: Amount,
    outputs: &[(&str, Amount)],
    fee: Amount,
) -> &'static UtxoTx {
    let (index, tx) = find(txid);
    assert_eq!(index, tx_index, "{txid}: tx_index");
    assert_eq!(tx.block, block, "{txid}: block");
    assert_eq!(
        tx.inputs.iter().map(|i| i.value).sum::<Amount>(),
        in_sum,
        "{txid}: Σ inputs"
    );
    let got: Vec<(&str, Amount)> = tx
        .outputs
        .iter()
        .map(|o| (owner(&o.address), o.value))
        .collect();
    assert_eq!(got, outputs, "{txid}: outputs in order");
    assert_eq!(tx.fee(), Some(fee), "{txid}: fee");
    tx
}

/// A coinbase: no inputs, one output.
fn assert_coinbase(txid: &str, tx_index: usize, block: u64, miner: &str) {
    let tx = assert_tx(txid, tx_index, block, 0, &[(miner, 50 * COIN)], 0);
    assert!(tx.coinbase && tx.inputs.is_empty(), "{txid}: a coinbase");
}

fn seed_tx(txid: &str) -> TraceSpec {
    TraceSpec {
        seed_txs: vec![txid.into()],
        address_paths: true,
        ..TraceSpec::default()
    }
}

fn seed_address(a: &str) -> TraceSpec {
    TraceSpec {
        seeds: vec![Address::parse(Chain::Bitcoin, a).unwrap()],
        address_paths: true,
        ..TraceSpec::default()
    }
}

fn row<'a>(r: &'a TraceResult, a: &str) -> Option<&'a AddressTaint> {
    r.addresses
        .iter()
        .find(|x| x.address == a && x.asset == BTC)
}

/// Tainted value still held by `a` at the end (policies that keep state).
fn holding(r: &TraceResult, a: &str) -> Amount {
    row(r, a).and_then(|x| x.holding).unwrap_or(0)
}

fn hop(r: &TraceResult, a: &str) -> Option<u32> {
    row(r, a).and_then(|x| x.hop)
}

fn path(r: &TraceResult, a: &str) -> Vec<String> {
    row(r, a).map(|x| x.path.clone()).unwrap_or_default()
}

fn assert_conserved(r: &TraceResult, policy: PolicyName) {
    if policy.conserves() {
        assert_eq!(
            r.summary.accounted(),
            r.summary.entered,
            "{policy}: taint conserved"
        );
    }
}

// ---------------------------------------------------------------------------------------
// Case 1: the first person-to-person payment, Satoshi → Hal Finney, block 170.
// ---------------------------------------------------------------------------------------

/// Coinbase of block 9 (tx_index 9): one output, 5,000,000,000 to 12cbQ… (Satoshi).
const BLOCK9_COINBASE: &str = "0437cd7f8525ceed2324359c2d0ba26006d92d856a9c20fa0241106ee5a597c9";
/// Block 170, tx_index 171.
const HAL_TX: &str = "f4184fc596403b9d638783cf57adfe4c75c605f6356fbc91338530e9831e9e16";
const SATOSHI: &str = "12cbQLTFMXRnSzktFkuoG3eHoMeFtpTu3S";
const HAL: &str = "1Q2TWHE3GMdB6BZKafqwxXtWAWgFt5Jvm3";

/// Incident: the coinbase of block 9 (seed transaction), so its one coin is fully tainted.
///
/// ```text
/// f4184fc5…9e16 (block 170)
///   inputs   i0  0437cd7f…:0  12cbQ… (Satoshi)  5,000,000,000  tainted 5,000,000,000
///   outputs  o0  1Q2TW… (Hal)                   1,000,000,000
///            o1  12cbQ… (change)                4,000,000,000
///   fee      5,000,000,000 − 5,000,000,000 = 0
///   V = 5,000,000,000, T = 5,000,000,000: the line is one tainted run [0, 5e9).
///
///   poison       T > 0: o0 1,000,000,000, o1 4,000,000,000, fee 0 (value 0)
///   haircut      o0 floor(1,000,000,000 · 5e9 / 5e9) = 1,000,000,000
///                o1 floor(4,000,000,000 · 5e9 / 5e9) = 4,000,000,000
///                fee 5,000,000,000 − 1,000,000,000 − 4,000,000,000 = 0
///   FIFO         o0 [0, 1e9) all tainted = 1,000,000,000; o1 [1e9, 5e9) = 4,000,000,000; fee ∅ 0
///   LIFO         one input: the same line → 1,000,000,000 / 4,000,000,000 / 0
///   TIHO         o1 (4e9) first: min(5e9, 4e9) = 4,000,000,000, left 1e9;
///                o0: min(1e9, 1e9) = 1,000,000,000; fee 0
///   dirty-first  tainted run first (it is the whole line): 1,000,000,000 / 4,000,000,000 / 0
///   clean-first  no clean run: 1,000,000,000 / 4,000,000,000 / 0
/// ```
/// Per address: Hal received 1,000,000,000 (hop 2, path block 9 → block 170). 12cbQ received
/// 5,000,000,000 (the seeded coin itself, hop 1) + 4,000,000,000 (change) = 9,000,000,000 and
/// still holds the change coin, 4,000,000,000. Nothing is lost to fees.
#[test]
fn block_170_satoshi_to_hal_seeded_at_the_block_9_coinbase() {
    assert_coinbase(BLOCK9_COINBASE, 9, 9, SATOSHI);
    let tx = assert_tx(
        HAL_TX,
        171,
        170,
        5_000_000_000,
        &[(HAL, 1_000_000_000), (SATOSHI, 4_000_000_000)],
        0,
    );
    assert_eq!(
        inputs_of(tx),
        [(BLOCK9_COINBASE, 0, SATOSHI, 5_000_000_000)]
    );
    let g = subgraph(&[BLOCK9_COINBASE, HAL_TX]);
    for policy in PolicyName::ALL {
        let r = trace(&g, &seed_tx(BLOCK9_COINBASE), policy).unwrap();
        assert_eq!(r.summary.entered, 5_000_000_000, "{policy}");
        assert_eq!(r.taint_of(HAL, BTC), 1_000_000_000, "{policy} Hal");
        assert_eq!(r.taint_of(SATOSHI, BTC), 9_000_000_000, "{policy} 12cbQ");
        assert_eq!(r.summary.lost_to_fees, 0, "{policy} fee");
        assert_eq!(hop(&r, SATOSHI), Some(1), "{policy}");
        assert_eq!(hop(&r, HAL), Some(2), "{policy}");
        assert_eq!(path(&r, HAL), [BLOCK9_COINBASE, HAL_TX], "{policy}");
        if policy != PolicyName::Poison {
            assert_eq!(holding(&r, HAL), 1_000_000_000, "{policy}");
            assert_eq!(holding(&r, SATOSHI), 4_000_000_000, "{policy}");
            assert_eq!(r.summary.held, 5_000_000_000, "{policy}");
        }
        assert_conserved(&r, policy);
    }
}

/// The same transaction with Satoshi's address as the incident (seed address): every amount
/// 12cbQ… sends is fully tainted, so i0 carries T = 5,000,000,000 and the outputs split as
/// above under every policy: o0 1,000,000,000 to Hal (hop 1), o1 4,000,000,000 back to the seed
/// address, which is reported as returned to seeds, not as taint received.
#[test]
fn block_170_seeded_at_satoshis_address() {
    let g = subgraph(&[BLOCK9_COINBASE, HAL_TX]);
    for policy in PolicyName::ALL {
        let r = trace(&g, &seed_address(SATOSHI), policy).unwrap();
        assert_eq!(r.summary.entered, 5_000_000_000, "{policy}");
        assert_eq!(r.taint_of(HAL, BTC), 1_000_000_000, "{policy} Hal");
        assert_eq!(hop(&r, HAL), Some(1), "{policy}");
        assert_eq!(path(&r, HAL), [HAL_TX], "{policy}");
        assert_eq!(r.summary.returned_to_seeds, 4_000_000_000, "{policy}");
        assert!(
            row(&r, SATOSHI).is_none(),
            "{policy}: a seed is not a receiver"
        );
        assert_eq!(r.summary.lost_to_fees, 0, "{policy}");
        if policy != PolicyName::Poison {
            assert_eq!(r.summary.held, 1_000_000_000, "{policy}");
        }
        assert_conserved(&r, policy);
    }
}

// ---------------------------------------------------------------------------------------
// Case 2: two miners' coinbase coins spent together, with a fee (block 14047).
// ---------------------------------------------------------------------------------------

/// Coinbase of block 13885 (tx_index 13999): 5,000,000,000 to 13RQn… (clean miner).
const CB_13885: &str = "eb56b6fb8e3ef08ff10b47925cb3b6735d9a67551406ea28fcdce065ceb3cf5c";
/// Coinbase of block 13879 (tx_index 13993): 5,000,000,000 to 1Patj… (the seeded miner).
const CB_13879: &str = "053dbb54e5e4d5cd1bc35ec8860843d557adfb7821339fa2dcdcee8d58316f7d";
/// Block 14047, tx_index 14162.
const MIX_TX: &str = "72776c25f0b994d2c05c26f48f503bb730dafa57f3d8b7cda2254c70025229aa";
const MINER_CLEAN: &str = "13RQnha5EJeGEpViDm2HsYeTxuE3TpS1Ek";
const MINER_STOLEN: &str = "1Patjwkpi829xZBrwooWM7whUHG4ZeWaab";
const PAYEE: &str = "1GicJdJjH8QSurn7XxGDkBGg5DooSbcTF3";

/// Incident: the address 1Patj… (as if its coins were stolen).
///
/// ```text
/// 72776c25…29aa (block 14047)
///   inputs   i0  eb56b6fb…:0 (coinbase 13885)  13RQn… 5,000,000,000  clean
///            i1  053dbb54…:0 (coinbase 13879)  1Patj… 5,000,000,000  tainted 5,000,000,000
///   outputs  o0  1GicJ…                       5,000,000,000
///            o1  13RQn… (back to i0's owner)  4,990,000,000
///   fee      10,000,000,000 − 9,990,000,000 = 10,000,000
///   V = 10,000,000,000, T = 5,000,000,000
///   line (FIFO order): clean [0, 5e9), tainted [5e9, 10e9)
///   slices: o0 [0, 5e9), o1 [5e9, 9.99e9), fee [9.99e9, 10e9)
///
///   poison       T > 0: o0 5,000,000,000, o1 4,990,000,000, fee 10,000,000
///   haircut      o0 floor(5,000,000,000 · 5e9 / 1e10) = 2,500,000,000   (exact)
///                o1 floor(4,990,000,000 · 5e9 / 1e10) = 2,495,000,000   (exact)
///                fee 5,000,000,000 − 2,500,000,000 − 2,495,000,000 = 5,000,000
///   FIFO         o0 ∩ [5e9, 10e9) = 0; o1 = 4,990,000,000; fee = 10,000,000
///   LIFO         reversed line: tainted [0, 5e9), clean [5e9, 10e9)
///                o0 5,000,000,000; o1 0; fee 0
///   TIHO         o0 (5e9) is the highest: min(5e9, 5e9) = 5,000,000,000, left 0; o1 0; fee 0
///   dirty-first  tainted [0, 5e9) first: o0 5,000,000,000; o1 0; fee 0
///   clean-first  clean [0, 5e9) first, tainted [5e9, 10e9): as FIFO, 0 / 4,990,000,000 / 10,000,000
/// ```
/// The address seed's send is hop 0, so both outputs are hop 1. Seeding the coinbase of block
/// 13879 instead (seed transaction) gives the same split; the coin is then hop 1 and 1Patj…
/// received its 5,000,000,000, and the outputs are hop 2.
#[test]
fn block_14047_two_miners_coins_one_stolen() {
    let tx = assert_tx(
        MIX_TX,
        14_162,
        14_047,
        10_000_000_000,
        &[(PAYEE, 5_000_000_000), (MINER_CLEAN, 4_990_000_000)],
        10_000_000,
    );
    assert_eq!(
        inputs_of(tx),
        [
            (CB_13885, 0, MINER_CLEAN, 5_000_000_000),
            (CB_13879, 0, MINER_STOLEN, 5_000_000_000),
        ]
    );
    assert_coinbase(CB_13879, 13_993, 13_879, MINER_STOLEN);
    assert_coinbase(CB_13885, 13_999, 13_885, MINER_CLEAN);
    // (policy, o0 → 1GicJ…, o1 → 13RQn…, fee)
    let expected: [(PolicyName, Amount, Amount, Amount); 7] = [
        (PolicyName::Poison, 5_000_000_000, 4_990_000_000, 10_000_000),
        (PolicyName::Haircut, 2_500_000_000, 2_495_000_000, 5_000_000),
        (PolicyName::Fifo, 0, 4_990_000_000, 10_000_000),
        (PolicyName::Lifo, 5_000_000_000, 0, 0),
        (PolicyName::Tiho, 5_000_000_000, 0, 0),
        (PolicyName::DirtyFirst, 5_000_000_000, 0, 0),
        (PolicyName::CleanFirst, 0, 4_990_000_000, 10_000_000),
    ];
    let g = subgraph(&[CB_13879, CB_13885, MIX_TX]);
    for (spec, hop_out) in [(seed_address(MINER_STOLEN), 1), (seed_tx(CB_13879), 2)] {
        for (policy, o0, o1, fee) in expected {
            let r = trace(&g, &spec, policy).unwrap();
            assert_eq!(r.summary.entered, 5_000_000_000, "{policy}");
            assert_eq!(r.taint_of(PAYEE, BTC), o0, "{policy} o0 (hop {hop_out})");
            assert_eq!(
                r.taint_of(MINER_CLEAN, BTC),
                o1,
                "{policy} o1 (hop {hop_out})"
            );
            assert_eq!(r.summary.lost_to_fees, fee, "{policy} fee (hop {hop_out})");
            for (a, t) in [(PAYEE, o0), (MINER_CLEAN, o1)] {
                if t > 0 {
                    assert_eq!(hop(&r, a), Some(hop_out), "{policy} {a}");
                }
                if policy != PolicyName::Poison {
                    assert_eq!(holding(&r, a), t, "{policy} {a} holds its unspent coin");
                }
            }
            if hop_out == 2 {
                assert_eq!(r.taint_of(MINER_STOLEN, BTC), 5_000_000_000, "{policy}");
                if o0 > 0 {
                    assert_eq!(path(&r, PAYEE), [CB_13879, MIX_TX], "{policy}");
                }
            } else {
                assert!(row(&r, MINER_STOLEN).is_none(), "{policy}");
            }
            assert_conserved(&r, policy);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Case 3: a three-hop chain with fees and rounding (blocks 19863 → 20770 → 21563).
// ---------------------------------------------------------------------------------------

/// Coinbase of block 19701 (tx_index 19836): 5,000,000,000 to 1CkFi… — the incident.
const CB_19701: &str = "40e2ef661b3c37d9f8b99af50d7bc5a6eb5b520502fccd93fc1ed33c6cf647c9";
/// Block 19863, tx_index 19999: 121 inputs, the seeded coin last.
const HOP1: &str = "123a3968cd91b42cc1ecfb3d0d11e5b09d21e923344847a1e4b2577d3bbc69a2";
/// Block 20770, tx_index 20909: 111 inputs, HOP1's change at position 70.
const HOP2: &str = "cdfd2e9b4ba6d086f4281699bb34f4398697c2fab699a2be0a591ede351b3947";
/// Block 21563, tx_index 21704: HOP2's change split in two.
const HOP3: &str = "6106c76b1c0cdb6123ddf93b2782b1cd17a9bff3434688661cebc6c159d0a24d";
/// The one non-coinbase input of HOP1 (position 44): coin 1 of tx_index 6416.
const TX_6416: &str = "fac995ec5fdbb948c10aba4762c78663c38c312f43fcb91551b5770b6794bf67";
const MINER_19701: &str = "1CkFichNh6TPYLrsswxCD3e9CtQEK8PJy8";
const BIG: &str = "12higDjoCCNXSA95xZMWUdPvXNmkAduhWv";
const CHANGE1: &str = "1PwTyRyX3xBA1NLPuii9qBkeYv7uAouRHa";
const CHANGE2: &str = "18dBAAdfR23pioGd9VN1Ji1pgGoHBr8RBm";
const SMALL: &str = "12yrUmFBpsoh9CrV38LyxsAtJ4Y7ymNJ7y";

/// Incident: the coinbase of block 19701 (seed transaction): one coin of 5,000,000,000 to
/// 1CkFi…, hop 1. The chain then is:
///
/// ```text
/// HOP1 = 123a3968…69a2 (block 19863)
///   inputs (121, serialised order)
///     i0..i43    44 coinbase coins × 5,000,000,000 = 220,000,000,000  clean   [0, 220e9)
///     i44        fac995ec…:1 (124wR…)  4,967,000,000                 clean   [220e9, 224.967e9)
///     i45..i119  75 coinbase coins × 5,000,000,000 = 375,000,000,000  clean   [224.967e9, 599.967e9)
///     i120       40e2ef66…:0 (1CkFi…)  5,000,000,000                 TAINTED [599.967e9, 604.967e9)
///   V = 604,967,000,000, T = 5,000,000,000
///   outputs  o0 12hig…  600,000,000,000   slice [0, 600e9)
///            o1 1PwTy…    4,953,000,000   slice [600e9, 604.953e9)
///   fee      604,967,000,000 − 604,953,000,000 = 14,000,000, slice [604.953e9, 604.967e9)
///
///   poison       o0 600,000,000,000, o1 4,953,000,000, fee 14,000,000
///   haircut      o0 600,000,000,000 · 5,000,000,000 = 3,000,000,000,000,000,000,000
///                   = 4,958,948,174 · 604,967,000,000 + 19,742,000,000        → 4,958,948,174
///                o1 4,953,000,000 · 5,000,000,000 = 24,765,000,000,000,000,000
///                   = 40,936,117 · 604,967,000,000 + 106,861,000,000          → 40,936,117
///                fee 5,000,000,000 − 4,958,948,174 − 40,936,117 = 115,709
///   FIFO         tainted run [599.967e9, 604.967e9):
///                o0 ∩ = [599.967e9, 600e9) = 33,000,000; o1 whole = 4,953,000,000;
///                fee whole = 14,000,000   (33,000,000 + 4,953,000,000 + 14,000,000 = 5e9)
///   LIFO         reversed line: i120 first, tainted [0, 5e9) ⊂ o0 → 5,000,000,000 / 0 / 0
///   TIHO         o0 (600e9) highest: min(5e9, 600e9) = 5,000,000,000 → 5,000,000,000 / 0 / 0
///   dirty-first  tainted [0, 5e9) ⊂ o0 → 5,000,000,000 / 0 / 0
///   clean-first  clean [0, 599.967e9) then tainted: the same cut as FIFO
///                → 33,000,000 / 4,953,000,000 / 14,000,000
///
/// HOP2 = cdfd2e9b…3947 (block 20770)
///   inputs (111)
///     i0..i69    70 coinbase coins × 5,000,000,000 = 350,000,000,000  clean  [0, 350e9)
///     i70        123a3968…:1 (1PwTy…, HOP1's o1)  4,953,000,000, taint τ   [350e9, 354.953e9)
///     i71..i110  40 coinbase coins × 5,000,000,000 = 200,000,000,000  clean  [354.953e9, 554.953e9)
///   V = 554,953,000,000, T = τ = HOP1's o1 taint; the coin is spent whole
///   outputs  o0 12hig…  550,000,000,000   slice [0, 550e9)
///            o1 18dBA…    4,940,000,000   slice [550e9, 554.94e9)
///   fee      554,953,000,000 − 554,940,000,000 = 13,000,000, slice [554.94e9, 554.953e9)
///
///   poison       τ > 0: o0 550,000,000,000, o1 4,940,000,000, fee 13,000,000
///   haircut      τ = 40,936,117
///                o0 550,000,000,000 · 40,936,117 = 22,514,864,350,000,000,000
///                   = 40,570,758 · 554,953,000,000 + 485,626,000,000           → 40,570,758
///                o1 4,940,000,000 · 40,936,117 = 202,224,417,980,000,000
///                   = 364,399 · 554,953,000,000 + 99,733,000,000                → 364,399
///                fee 40,936,117 − 40,570,758 − 364,399 = 960
///   FIFO         τ = 4,953,000,000, the coin is one tainted run [350e9, 354.953e9) ⊂ o0
///                → 4,953,000,000 / 0 / 0
///   LIFO         τ = 0 → 0 / 0 / 0
///   TIHO         τ = 0 → 0 / 0 / 0
///   dirty-first  τ = 0 → 0 / 0 / 0
///   clean-first  τ = 4,953,000,000: clean first, V − τ = 550,000,000,000 clean = exactly o0;
///                tainted [550e9, 554.953e9) = o1 4,940,000,000 + fee 13,000,000
///                → 0 / 4,940,000,000 / 13,000,000
///
/// HOP3 = 6106c76b…a24d (block 21563)
///   input    i0 cdfd2e9b…:1 (18dBA…, HOP2's o1)  4,940,000,000, taint σ (the only input)
///   V = 4,940,000,000, T = σ
///   outputs  o0 12yrU…  100,000,000     slice [0, 0.1e9)
///            o1 18dBA…  4,840,000,000   slice [0.1e9, 4.94e9)
///   fee      4,940,000,000 − 4,940,000,000 = 0
///
///   poison       σ > 0: o0 100,000,000, o1 4,840,000,000, fee 0 (value 0)
///   haircut      σ = 364,399
///                o0 100,000,000 · 364,399 = 36,439,900,000,000
///                   = 7,376 · 4,940,000,000 + 2,460,000,000                    → 7,376
///                o1 4,840,000,000 · 364,399 = 1,763,691,160,000,000
///                   = 357,022 · 4,940,000,000 + 2,480,000,000                  → 357,022
///                fee 364,399 − 7,376 − 357,022 = 1   (the remainder goes to the fee
///                even though the fee is 0 satoshi, so taint is conserved)
///   FIFO, LIFO, TIHO, dirty-first   σ = 0 → 0 / 0 / 0
///   clean-first  σ = 4,940,000,000 = V: the whole line is tainted → 100,000,000 / 4,840,000,000 / 0
/// ```
///
/// Per address (12hig… receives o0 of HOP1 and HOP2; 18dBA… receives o1 of HOP2 and HOP3;
/// in the subgraph only HOP1's o1 and HOP2's o1 are spent):
///
/// ```text
///              12hig…            1PwTy…         18dBA… (holds)               12yrU…       fees
/// poison       1,150,000,000,000 4,953,000,000  9,780,000,000                100,000,000  27,000,000
/// haircut      4,999,518,932     40,936,117     721,421 (357,022)            7,376        116,670
/// FIFO         4,986,000,000     4,953,000,000  0                            0            14,000,000
/// LIFO         5,000,000,000     0              0                            0            0
/// TIHO         5,000,000,000     0              0                            0            0
/// dirty-first  5,000,000,000     0              0                            0            0
/// clean-first  33,000,000        4,953,000,000  9,780,000,000 (4,840,000,000) 100,000,000 27,000,000
/// ```
/// Conservation check by hand (held = 12hig + 18dBA's holding + 12yrU; entered 5,000,000,000):
/// haircut 4,999,518,932 + 357,022 + 7,376 + 116,670 = 5,000,000,000; FIFO 4,986,000,000 +
/// 14,000,000; clean-first 33,000,000 + 4,840,000,000 + 100,000,000 + 27,000,000.
///
/// The test traces the chain one hop at a time (subgraphs ending at HOP1, HOP2, HOP3), so the
/// increments pin every single output's taint, not only the per-address sums.
#[test]
fn three_hop_chain_blocks_19863_20770_21563() {
    // On-chain facts.
    assert_coinbase(CB_19701, 19_836, 19_701, MINER_19701);
    let hop1 = assert_tx(
        HOP1,
        19_999,
        19_863,
        604_967_000_000,
        &[(BIG, 600_000_000_000), (CHANGE1, 4_953_000_000)],
        14_000_000,
    );
    let ins = inputs_of(hop1);
    assert_eq!(ins.len(), 121);
    for (k, &(prev, vout, _, value)) in ins.iter().enumerate() {
        match k {
            44 => assert_eq!(
                ins[k],
                (
                    TX_6416,
                    1,
                    "124wRWVmAkRejjv6aPuF3B4qi5ww4uYKLy",
                    4_967_000_000
                )
            ),
            120 => assert_eq!(ins[k], (CB_19701, 0, MINER_19701, 5_000_000_000)),
            _ => {
                assert_eq!((vout, value), (0, 5_000_000_000), "HOP1 input {k}");
                assert!(find(prev).1.coinbase, "HOP1 input {k} spends a coinbase");
            }
        }
    }
    let hop2 = assert_tx(
        HOP2,
        20_909,
        20_770,
        554_953_000_000,
        &[(BIG, 550_000_000_000), (CHANGE2, 4_940_000_000)],
        13_000_000,
    );
    let ins = inputs_of(hop2);
    assert_eq!(ins.len(), 111);
    for (k, &(prev, vout, _, value)) in ins.iter().enumerate() {
        if k == 70 {
            assert_eq!(ins[k], (HOP1, 1, CHANGE1, 4_953_000_000));
        } else {
            assert_eq!((vout, value), (0, 5_000_000_000), "HOP2 input {k}");
            assert!(find(prev).1.coinbase, "HOP2 input {k} spends a coinbase");
        }
    }
    let hop3 = assert_tx(
        HOP3,
        21_704,
        21_563,
        4_940_000_000,
        &[(SMALL, 100_000_000), (CHANGE2, 4_840_000_000)],
        0,
    );
    assert_eq!(inputs_of(hop3), [(HOP2, 1, CHANGE2, 4_940_000_000)]);

    // (policy, HOP1 [o0, o1, fee], HOP2 [o0, o1, fee], HOP3 [o0, o1, fee]), from the comment.
    type Hop = [Amount; 3];
    let expected: [(PolicyName, Hop, Hop, Hop); 7] = [
        (
            PolicyName::Poison,
            [600_000_000_000, 4_953_000_000, 14_000_000],
            [550_000_000_000, 4_940_000_000, 13_000_000],
            [100_000_000, 4_840_000_000, 0],
        ),
        (
            PolicyName::Haircut,
            [4_958_948_174, 40_936_117, 115_709],
            [40_570_758, 364_399, 960],
            [7_376, 357_022, 1],
        ),
        (
            PolicyName::Fifo,
            [33_000_000, 4_953_000_000, 14_000_000],
            [4_953_000_000, 0, 0],
            [0, 0, 0],
        ),
        (
            PolicyName::Lifo,
            [5_000_000_000, 0, 0],
            [0, 0, 0],
            [0, 0, 0],
        ),
        (
            PolicyName::Tiho,
            [5_000_000_000, 0, 0],
            [0, 0, 0],
            [0, 0, 0],
        ),
        (
            PolicyName::DirtyFirst,
            [5_000_000_000, 0, 0],
            [0, 0, 0],
            [0, 0, 0],
        ),
        (
            PolicyName::CleanFirst,
            [33_000_000, 4_953_000_000, 14_000_000],
            [0, 4_940_000_000, 13_000_000],
            [100_000_000, 4_840_000_000, 0],
        ),
    ];
    // Each non-poison row conserves the seed's 5,000,000,000 at every hop.
    for (policy, h1, h2, h3) in expected {
        if policy.conserves() {
            assert_eq!(h1.iter().sum::<Amount>(), 5_000_000_000, "{policy} HOP1");
            assert_eq!(h2.iter().sum::<Amount>(), h1[1], "{policy} HOP2");
            assert_eq!(h3.iter().sum::<Amount>(), h2[1], "{policy} HOP3");
        }
    }

    let spec = seed_tx(CB_19701);
    let chain = [HOP1, HOP2, HOP3];
    for hops in 1..=3 {
        let mut txids = vec![CB_19701];
        txids.extend_from_slice(&chain[..hops]);
        let g = subgraph(&txids);
        for (policy, h1, h2, h3) in expected {
            let h2 = if hops >= 2 { h2 } else { [0; 3] };
            let h3 = if hops >= 3 { h3 } else { [0; 3] };
            let r = trace(&g, &spec, policy).unwrap();
            let at = format!("{policy}, chain up to HOP{hops}");
            assert_eq!(r.summary.entered, 5_000_000_000, "{at}");
            assert_eq!(r.taint_of(MINER_19701, BTC), 5_000_000_000, "{at}");
            assert_eq!(r.taint_of(BIG, BTC), h1[0] + h2[0], "{at}: 12hig");
            assert_eq!(r.taint_of(CHANGE1, BTC), h1[1], "{at}: 1PwTy");
            assert_eq!(r.taint_of(CHANGE2, BTC), h2[1] + h3[1], "{at}: 18dBA");
            assert_eq!(r.taint_of(SMALL, BTC), h3[0], "{at}: 12yrU");
            assert_eq!(r.summary.lost_to_fees, h1[2] + h2[2] + h3[2], "{at}: fees");
            assert_conserved(&r, policy);
            if hops < 3 {
                continue;
            }
            // The whole chain: holdings, hops and paths.
            assert_eq!(hop(&r, MINER_19701), Some(1), "{at}");
            assert_eq!(hop(&r, BIG), Some(2), "{at}");
            assert_eq!(path(&r, BIG), [CB_19701, HOP1], "{at}");
            if h1[1] > 0 {
                assert_eq!(hop(&r, CHANGE1), Some(2), "{at}");
            }
            if h2[1] > 0 {
                assert_eq!(hop(&r, CHANGE2), Some(3), "{at}");
                assert_eq!(path(&r, CHANGE2), [CB_19701, HOP1, HOP2], "{at}");
            }
            if h3[0] > 0 {
                assert_eq!(hop(&r, SMALL), Some(4), "{at}");
                assert_eq!(path(&r, SMALL), [CB_19701, HOP1, HOP2, HOP3], "{at}");
            }
            if policy != PolicyName::Poison {
                assert_eq!(holding(&r, MINER_19701), 0, "{at}: spent in HOP1");
                assert_eq!(holding(&r, BIG), h1[0] + h2[0], "{at}: both coins unspent");
                assert_eq!(holding(&r, CHANGE1), 0, "{at}: spent in HOP2");
                assert_eq!(
                    holding(&r, CHANGE2),
                    h3[1],
                    "{at}: HOP2's coin spent in HOP3"
                );
                assert_eq!(holding(&r, SMALL), h3[0], "{at}");
                assert_eq!(r.summary.held, h1[0] + h2[0] + h3[0] + h3[1], "{at}: held");
            }
        }
    }
}
