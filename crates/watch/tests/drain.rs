//! Hot-wallet drain detection: hand-built cases with every number worked out, and the
//! Coincheck 2018 fixture chain.

use ashiato_model::{Address, Asset, Chain, Transfer, UtcTime};
use ashiato_nem::{block_transfers, coincheck, MosaicBook, Tally, MAINNET};
use ashiato_watch::drain::{detect, DrainAlert, DrainRule, DrainRules};

const T0: i64 = 1_700_000_000;

fn addr(s: &str) -> Address {
    Address::parse(Chain::Generic, s).expect("test address")
}

fn tr(block: u64, at: i64, from: &str, to: &str, asset: &str, amount: u128) -> Transfer {
    Transfer {
        time: UtcTime(at),
        block,
        tx: format!("tx{block}"),
        index: 0,
        from: addr(from),
        to: addr(to),
        asset: Asset::parse(asset).expect("test asset"),
        amount,
    }
}

/// The wallet W's history up to the point where the two episode tests part.
fn small_prefix() -> Vec<Transfer> {
    vec![
        tr(1, T0, "F", "W", "COIN", 1_000_000),
        // New recipient, 1 % of the balance; window 1 %.
        tr(2, T0 + 100, "W", "A", "COIN", 10_000),
        // New recipient, 20,000 / 990,000 = 2.0 %; window 30,000 = 3 %.
        tr(3, T0 + 200, "W", "B", "COIN", 20_000),
        // New recipient, 150,000 / 970,000 = 15.4 % > 5 %; window 180,000 = 18 % of the
        // 1,000,000 held before the window's first outflow (T0+100) > 10 %: the alert.
        tr(4, T0 + 300, "W", "C", "COIN", 150_000),
        // Same episode: breaks both rules again (50,000 / 820,000 = 6.1 %; window 23 %).
        tr(5, T0 + 600, "W", "D", "COIN", 50_000),
        // An inflow: raises the balance, never a window's start balance.
        tr(6, T0 + 900, "F", "W", "COIN", 30_000),
        // Same episode: window 235,000 = 23.5 % of 1,000,000. The last breaking transfer.
        tr(7, T0 + 1_200, "W", "A", "COIN", 5_000),
        // Breaks nothing: window (T0+400, T0+4000] holds 50,000 + 5,000 + 1,000 = 56,000,
        // 6.8 % of the 820,000 held before T0+600. It must not extend the episode.
        tr(8, T0 + 4_000, "W", "A", "COIN", 1_000),
        // Someone else's big transfer: W is the only watched wallet.
        tr(9, T0 + 4_100, "F", "B", "COIN", 900_000_000),
    ]
}

fn assert_no_self_contradiction(a: &DrainAlert) {
    assert!(!a.rules.is_empty());
    let mut sorted = a.rules.clone();
    sorted.sort_by_key(|r| *r as u8);
    assert_eq!(sorted, a.rules, "rules in enum order");
}

#[test]
fn drain_small_example_one_alert_per_episode() {
    let mut ts = small_prefix();
    // A full hour after the last breaking transfer (T0+1200): a new episode. Window
    // (T0+1200, T0+4800] holds 1,000 + 100,000 = 101,000; the balance before its first
    // outflow (T0+4000) was 1,000,000 − 235,000 + 30,000 = 795,000; 101,000 × 100 >
    // 10 × 795,000. C was paid before: no new-recipient rule.
    ts.push(tr(10, T0 + 4_800, "W", "C", "COIN", 100_000));
    // Same (second) episode: window 106,000 of 795,000 = 13.3 %.
    ts.push(tr(11, T0 + 4_900, "W", "A", "COIN", 5_000));
    let alerts = detect(&ts, &[addr("W")], &DrainRules::default());
    assert_eq!(alerts.len(), 2, "{alerts:#?}");

    let a = &alerts[0];
    assert_eq!(a.rules, vec![DrainRule::Volume, DrainRule::NewRecipient]);
    assert_eq!(
        (a.wallet.as_str(), a.asset.as_str(), a.to.as_str()),
        ("W", "COIN", "C")
    );
    assert_eq!((a.tx.as_str(), a.index, a.block), ("tx4", 0, 4));
    assert_eq!(a.time, UtcTime(T0 + 300));
    assert_eq!(a.amount, 150_000);
    assert_eq!(a.window_outflow, 180_000);
    assert_eq!(a.balance_before, 1_000_000);
    assert!(a.detail.contains("18.0%"), "{}", a.detail);
    assert!(a.detail.contains("15.4% of the 970000"), "{}", a.detail);
    assert_no_self_contradiction(a);

    let b = &alerts[1];
    assert_eq!(b.rules, vec![DrainRule::Volume]);
    assert_eq!(b.time, UtcTime(T0 + 4_800));
    assert_eq!(b.to, "C");
    assert_eq!(b.amount, 100_000);
    assert_eq!(b.window_outflow, 101_000);
    assert_eq!(b.balance_before, 795_000);
    assert_no_self_contradiction(b);
}

#[test]
fn drain_episode_needs_a_full_quiet_window() {
    let mut ts = small_prefix();
    // 3,599 s after the last breaking transfer: window (T0+1199, T0+4799] holds 5,000 +
    // 1,000 + 100,000 = 106,000, 13.25 % of the 800,000 held before T0+1200: breaking,
    // but still the first episode, which it extends.
    ts.push(tr(10, T0 + 4_799, "W", "C", "COIN", 100_000));
    // A full hour after that: window (T0+4799, T0+8399] holds only this 90,000, 12.97 %
    // of 794,000 − 100,000 = 694,000: a new episode.
    ts.push(tr(11, T0 + 8_399, "W", "C", "COIN", 90_000));
    let alerts = detect(&ts, &[addr("W")], &DrainRules::default());
    let times: Vec<i64> = alerts.iter().map(|a| a.time.unix() - T0).collect();
    assert_eq!(times, vec![300, 8_399]);
    assert_eq!(alerts[1].rules, vec![DrainRule::Volume]);
    assert_eq!(alerts[1].window_outflow, 90_000);
    assert_eq!(alerts[1].balance_before, 694_000);
}

/// W holds 10,000,000 TOK (known) and sends XEM it was never seen receiving (unknown
/// history: XEM balance 0).
fn two_assets() -> Vec<Transfer> {
    vec![
        tr(1, T0, "X", "W", "TOK", 10_000_000),
        // XEM: no balance, so no percentage rule; 900,000 ≤ the absolute limit.
        tr(2, T0 + 10, "W", "R1", "XEM", 900_000),
        // XEM window 1,100,000 > 1,000,000: the absolute rule.
        tr(3, T0 + 20, "W", "R1", "XEM", 200_000),
        // TOK window 600,000 = 6 % (XEM outflows are not TOK's); R1 is no new recipient
        // although this is TOK's first payment to it (W paid it XEM), so 6 % > 5 % does
        // not count.
        tr(4, T0 + 30, "W", "R1", "TOK", 600_000),
        // TOK window 1,100,000: 11 % of 10,000,000 and above the absolute limit; R2 is
        // new and 500,000 / 9,400,000 = 5.3 %. Its own episode, XEM's is running.
        tr(5, T0 + 40, "W", "R2", "TOK", 500_000),
        // XEM, inside XEM's episode: no alert.
        tr(6, T0 + 50, "W", "R3", "XEM", 2_000_000),
        // A self-transfer moves nothing.
        tr(7, T0 + 60, "W", "W", "TOK", 9_000_000),
    ]
}

#[test]
fn drain_assets_kept_apart_and_absolute_rule_for_unknown_history() {
    let rules = DrainRules {
        volume_abs: Some(1_000_000),
        ..DrainRules::default()
    };
    let alerts = detect(&two_assets(), &[addr("W")], &rules);
    assert_eq!(alerts.len(), 2, "{alerts:#?}");

    let xem = &alerts[0];
    assert_eq!((xem.asset.as_str(), xem.tx.as_str()), ("XEM", "tx3"));
    assert_eq!(xem.rules, vec![DrainRule::VolumeAbsolute]);
    assert_eq!(xem.window_outflow, 1_100_000);
    assert_eq!(xem.balance_before, 0);
    assert!(
        xem.detail.contains("exceeds the absolute limit of 1000000"),
        "{}",
        xem.detail
    );

    let tok = &alerts[1];
    assert_eq!((tok.asset.as_str(), tok.tx.as_str()), ("TOK", "tx5"));
    assert_eq!(
        tok.rules,
        vec![
            DrainRule::Volume,
            DrainRule::VolumeAbsolute,
            DrainRule::NewRecipient
        ]
    );
    assert_eq!(tok.window_outflow, 1_100_000);
    assert_eq!(tok.balance_before, 10_000_000);

    // Without the absolute rule a wallet with unknown history raises nothing at all.
    let alerts = detect(&two_assets(), &[addr("W")], &DrainRules::default());
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].asset, "TOK");
    assert_eq!(
        alerts[0].rules,
        vec![DrainRule::Volume, DrainRule::NewRecipient]
    );

    // A watched wallet that only receives raises nothing; the funder X, with unknown
    // history, breaks the absolute rule by sending 10,000,000 TOK at once.
    assert!(detect(&two_assets(), &[addr("R1")], &rules).is_empty());
    let x = detect(&two_assets(), &[addr("X")], &rules);
    assert_eq!(x.len(), 1, "{x:#?}");
    assert_eq!(x[0].rules, vec![DrainRule::VolumeAbsolute]);
    assert_eq!((x[0].window_outflow, x[0].balance_before), (10_000_000, 0));
}

#[test]
fn drain_huge_amounts_stay_exact() {
    let half = 1u128 << 127;
    let ts = vec![
        tr(1, T0, "F", "W", "WEI", u128::MAX),
        // The balance saturates instead of overflowing.
        tr(2, T0 + 1, "F", "W", "WEI", u128::MAX),
        tr(3, T0 + 2, "W", "A", "WEI", half),
        // The window sum saturates.
        tr(4, T0 + 3, "W", "B", "WEI", half),
    ];
    let alerts = detect(&ts, &[addr("W")], &DrainRules::default());
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(
        alerts[0].rules,
        vec![DrainRule::Volume, DrainRule::NewRecipient]
    );
    assert_eq!(alerts[0].window_outflow, half);
    assert_eq!(alerts[0].balance_before, u128::MAX);
}

#[test]
fn drain_rules_defaults_and_wire_names() {
    let r = DrainRules::default();
    assert_eq!(
        (
            r.window_secs,
            r.volume_pct,
            r.new_recipient_pct,
            r.volume_abs
        ),
        (3_600, 10, 5, None)
    );
    assert_eq!(
        serde_json::to_string(&[
            DrainRule::Volume,
            DrainRule::VolumeAbsolute,
            DrainRule::NewRecipient
        ])
        .expect("serialises"),
        r#"["volume","volume-absolute","new-recipient"]"#
    );
    let alerts = detect(&small_prefix(), &[addr("W")], &r);
    let json = serde_json::to_string(&alerts).expect("serialises");
    let back: Vec<DrainAlert> = serde_json::from_str(&json).expect("parses");
    assert_eq!(back, alerts);
}

fn coincheck_transfers(f: &coincheck::Fixture) -> Vec<Transfer> {
    let mut book = MosaicBook::default();
    let mut tally = Tally::default();
    let mut out = Vec::new();
    for b in &f.blocks {
        out.extend(block_transfers(b, &mut book, MAINNET, &mut tally).expect("fixture converts"));
    }
    out
}

const XEM: u128 = coincheck::XEM as u128;

#[test]
fn drain_coincheck_alerts_on_the_first_theft_transfer() {
    let f = coincheck::build(coincheck::SEED);
    let ts = coincheck_transfers(&f);
    let theft_start = UtcTime::parse("2018-01-25T15:02:13Z").expect("time");

    // The hot wallet's history before the theft: funded 560 M XEM, then 20 customer
    // withdrawals of 1k–50k XEM, each to a new recipient, each followed by its 0.05 XEM
    // fee to the harvester.
    let before: Vec<&Transfer> = ts.iter().filter(|t| t.time < theft_start).collect();
    let withdrawals: Vec<&&Transfer> = before
        .iter()
        .filter(|t| t.from == f.hot_wallet && t.index == 0)
        .collect();
    assert_eq!(withdrawals.len(), 20);
    assert!(withdrawals
        .iter()
        .all(|t| (1_000 * XEM..50_000 * XEM).contains(&t.amount)));
    let received: u128 = before
        .iter()
        .filter(|t| t.to == f.hot_wallet)
        .map(|t| t.amount)
        .sum();
    let sent: u128 = before
        .iter()
        .filter(|t| t.from == f.hot_wallet)
        .map(|t| t.amount)
        .sum();
    assert_eq!(received, 560_000_000 * XEM);
    // 477,121 XEM withdrawn (seeded amounts) plus 20 fees of 0.05 XEM.
    assert_eq!(received - sent, 559_522_878 * XEM);

    let alerts = detect(
        &ts,
        std::slice::from_ref(&f.hot_wallet),
        &DrainRules::default(),
    );
    // Exactly one alert over the whole fixture, on the first theft transfer:
    // - the 20 withdrawals stay far below both limits (at most 0.2 % of the balance in
    //   any hour, each under 0.01 % of it);
    // - theft 1 (15:02:13, 100 M XEM to NC4, never paid before): 17.8 % of the
    //   559,522,878 XEM balance, above 5 % as a new recipient and 10 % as volume: the alert;
    // - thefts 2–7 (15:03:05..15:09:40, and the fee transfers beside them) keep breaking
    //   the volume rule (the window reaches 523 M XEM) inside the running episode: no
    //   alert, the episode lasts until 15:09:40;
    // - theft 8 (16:17:00, 1.5 M XEM) comes 67 min 20 s later, so it could start a new
    //   episode, but it alone is in its window and is 4.1 % of the 36,522,877.65 XEM then
    //   left, NC4 is no longer new: it breaks nothing; thefts 9–11 (1 M of 35.0 M = 2.9 %,
    //   0.8 M of 34.0 M = 2.4 %, 10 XEM) break nothing either;
    // - nothing else is sent from the hot wallet, and no other wallet is watched.
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let a = &alerts[0];
    assert_eq!(a.time, theft_start);
    assert_eq!(a.time.to_string(), "2018-01-25T15:02:13Z");
    assert_eq!(a.wallet, f.hot_wallet.to_string());
    assert_eq!(a.asset, "nem:xem");
    assert_eq!(a.to, f.hackers[0].to_string());
    assert_eq!(a.amount, 100_000_000 * XEM);
    assert_eq!(a.amount, 100_000_000_000_000);
    assert_eq!(a.index, 0);
    assert!(a.rules.contains(&DrainRule::NewRecipient));
    assert!(a.rules.contains(&DrainRule::Volume));
    assert_eq!(a.rules, vec![DrainRule::Volume, DrainRule::NewRecipient]);
    assert_eq!(a.window_outflow, 100_000_000 * XEM);
    assert_eq!(a.balance_before, 559_522_878 * XEM);
    assert!(a.detail.contains("17.8%"), "{}", a.detail);
}

#[test]
fn drain_coincheck_quiet_hour_starts_a_new_episode() {
    let f = coincheck::build(coincheck::SEED);
    let ts = coincheck_transfers(&f);
    let rules = DrainRules {
        volume_pct: 3,
        ..DrainRules::default()
    };
    let alerts = detect(&ts, std::slice::from_ref(&f.hot_wallet), &rules);
    // With a 3 % volume limit, theft 8 (16:17:00, 67 min 20 s after the episode's last
    // breaking transfer at 15:09:40) is 4.1 % of what was left: a second episode. Theft 9
    // (1 M of 35,022,877.6 XEM = 2.86 %) and the rest stay under 3 %.
    let times: Vec<String> = alerts.iter().map(|a| a.time.to_string()).collect();
    assert_eq!(times, vec!["2018-01-25T15:02:13Z", "2018-01-25T16:17:00Z"]);
    let b = &alerts[1];
    assert_eq!(b.rules, vec![DrainRule::Volume]);
    assert_eq!(b.amount, 1_500_000 * XEM);
    assert_eq!(b.window_outflow, 1_500_000 * XEM);
    // 559,522,878 − 523,000,000 stolen − 7 fees of 0.05 XEM.
    assert_eq!(b.balance_before, 36_522_877_650_000);
}

#[test]
fn drain_zero_amount_does_not_make_a_recipient_known() {
    // A thief could send 0 first to make their address look familiar; only a payment
    // of a positive amount makes a recipient known.
    let ts = vec![
        tr(1, T0, "F", "W", "COIN", 1_000_000),
        tr(2, T0 + 10, "W", "C", "COIN", 0),
        // 60,000 / 1,000,000 = 6 % > 5 % to a recipient never paid; window 6 % < 10 %.
        tr(3, T0 + 20, "W", "C", "COIN", 60_000),
    ];
    let alerts = detect(&ts, &[addr("W")], &DrainRules::default());
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    assert_eq!(alerts[0].rules, vec![DrainRule::NewRecipient]);
    assert_eq!(alerts[0].tx, "tx3");
    assert_eq!(
        (alerts[0].window_outflow, alerts[0].balance_before),
        (60_000, 1_000_000)
    );
}
