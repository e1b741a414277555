//! The Coincheck 2018 case end to end: fixture chain → replay server → NIS1 REST sync →
//! store → trace from the hot wallet.

use ashiato::coincheck::{comparison, run_case, DEFAULT_DUST};
use ashiato_nem::coincheck::THEFT_TOTAL_XEM;
use ashiato_store::Store;
use ashiato_trace::PolicyName;

const XEM: u128 = 1_000_000;

#[test]
fn coincheck_trace_totals_accounts_dust_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let run = run_case(&mut store, DEFAULT_DUST).unwrap();
    let hackers: Vec<String> = run.fixture.hackers.iter().map(|a| a.to_string()).collect();
    let spray: Vec<String> = run
        .fixture
        .spray_recipients
        .iter()
        .map(|a| a.to_string())
        .collect();
    for t in &run.traces {
        let p = t.policy;
        let row = |a: &str| {
            t.addresses
                .iter()
                .find(|r| r.address == a && r.asset == "nem:xem")
        };
        // 526,300,010 XEM leave the hot wallet for NC4 in 11 transfers: 526,300,000 of it
        // followed; the last theft transfer (10 XEM) is below the 1,000 XEM dust line.
        let nc4 = row(&hackers[0]).unwrap();
        assert_eq!(
            nc4.taint + nc4.dust,
            u128::from(THEFT_TOTAL_XEM) * XEM,
            "{p}"
        );
        assert_eq!((nc4.taint, nc4.dust), (526_300_000 * XEM, 10 * XEM), "{p}");
        // Plus the hot wallet's 11 fees of 0.05 XEM to the harvester.
        assert_eq!(t.summary.entered, 526_300_010 * XEM + 11 * 50_000, "{p}");
        // All 11 hacker accounts are reached with followed taint.
        for h in &hackers {
            assert!(row(h).is_some_and(|r| r.taint > 0), "{p}: {h} not reached");
        }
        // The spray recipients are dust, never holders, and their own later payment
        // (2,000 XEM to a customer) carries no taint.
        for s in &spray {
            let r = row(s).unwrap();
            assert_eq!(r.taint, 0, "{p}: spray recipient {s} treated as a holder");
            assert!(r.dust > 0 && r.dust <= 200 * XEM, "{p}");
        }
        assert_eq!(
            t.addresses
                .iter()
                .filter(|r| spray.contains(&r.address))
                .map(|r| r.dust_transfers)
                .sum::<u32>(),
            11,
            "{p}: the 11 × 100 XEM spray transfers (the 3 × 0 XEM move nothing)"
        );
        // Exits: Zaif got 29,499,994 XEM in 12 deposits (poison counts them whole).
        let zaif = t.exits.iter().find(|e| e.label == "Zaif").unwrap();
        assert_eq!(zaif.transfers, 12, "{p}");
        assert!(
            zaif.path.len() >= 3,
            "{p}: victim → hacker → intermediary → Zaif"
        );
        assert_eq!(t.exits.len(), 4, "{p}");
        if p == PolicyName::Poison || p == PolicyName::Fifo {
            let want = if p == PolicyName::Poison {
                29_499_994
            } else {
                29_499_985
            };
            assert_eq!(zaif.amount, want * XEM, "{p}");
        }
        // Haircut and FIFO conserve what entered.
        if p != PolicyName::Poison {
            assert_eq!(t.summary.accounted(), t.summary.entered, "{p}");
        }
    }
    let table = comparison(&run).to_string();
    assert!(table.contains("tagged in 2018; here dust (100 XEM)"));
    assert!(table.contains("stand-in for NC4C6PSUW5CLTDT5SXAGJDQJGZNESKFK5MCN77OG"));

    // Syncing again adds nothing.
    let again = run_case(&mut store, DEFAULT_DUST).unwrap();
    assert_eq!((again.sync.blocks, again.sync.transfers_added), (0, 0));
}
